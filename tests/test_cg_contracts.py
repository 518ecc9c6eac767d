"""CG's contracts at its edges, each a finding of a review (session 33) that failed before:
NaN from a user's operator mid-solve, complex vectors through a rankwise Preconditioner,
SciPy's scalar forms of the options, CGSolver's maxiter budget with recycling, its update
with a bad M, Jacobi for a LinearOperator with a diagonal."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def poisson(m: int) -> sp.csr_array:
    T = sp.diags_array([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], offsets=[-1, 0, 1])
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def overflowing_after(calls: int, product: Any) -> Any:
    """A product that returns Inf from its (calls + 1)-th call on."""
    count = [0]

    def apply(v: np.ndarray) -> np.ndarray:
        count[0] += 1
        y = product(v)
        return y * np.inf if count[0] > calls else y

    return apply


@pytest.mark.parametrize("where", ["M", "A"])
def test_nonfinite_products_of_a_user_operator_are_cg_breakdowns(where: str) -> None:
    # a ValueError from the product wrapper used to pre-empt CG's own "nonfinite" stop
    A = poisson(12)
    n = A.shape[0]
    b = np.ones(n)
    if where == "M":
        kwargs = {"A": A, "M": overflowing_after(3, lambda r: 0.25 * r)}
    else:
        kwargs = {
            "A": spla.LinearOperator((n, n), overflowing_after(3, A.__matmul__), dtype=float)
        }
    with np.errstate(invalid="ignore", over="ignore"):
        res = rankwise.solve_cg(kwargs["A"], b, M=kwargs.get("M"))
        assert res.reason == "nonfinite"
        assert res.info < 0
        assert np.isfinite(res.x).all()
        if where == "M":
            kwargs["M"] = overflowing_after(3, lambda r: 0.25 * r)
        else:
            kwargs["A"] = spla.LinearOperator(
                (n, n), overflowing_after(3, A.__matmul__), dtype=float
            )
        with pytest.raises(rankwise.CGBreakdownError) as err:
            rankwise.cg(kwargs["A"], b, M=kwargs.get("M"))
    assert err.value.result.reason == "nonfinite"


def test_preconditioner_applies_to_complex_vectors() -> None:
    # the real M applied to the real and imaginary parts (the imaginary part was dropped:
    # a complex solve with M ran to maxiter at relative residual 7)
    A = poisson(12)
    n = A.shape[0]
    M = rankwise.precond.jacobi(A)
    v = np.random.default_rng(0).standard_normal(n) + 1j * np.random.default_rng(
        1
    ).standard_normal(n)
    np.testing.assert_allclose(M @ v, v / A.diagonal(), rtol=1e-15)
    b = (1 + 2j) * np.ones(n)
    x, info = rankwise.cg(A.astype(complex), b, M=M, rtol=1e-10)
    assert info == 0
    assert np.linalg.norm(b - A @ x) <= 1.01e-10 * np.linalg.norm(b)


def test_scalar_options_as_zero_dimensional_arrays() -> None:
    # SciPy takes them (float() / range()); they were refused
    A = poisson(8)
    b = np.ones(A.shape[0])
    x_ref, info_ref = spla.cg(A, b, rtol=1e-3, atol=1e-12, maxiter=5)
    x, info = rankwise.cg(A, b, rtol=np.array(1e-3), atol=np.array(1e-12), maxiter=np.array(5))
    assert info == info_ref == 5
    np.testing.assert_allclose(x, x_ref, rtol=1e-12)


def test_callback_that_is_not_callable() -> None:
    with pytest.raises(TypeError, match="callback must be callable"):
        rankwise.cg(poisson(4), np.ones(16), callback=1)


def test_solver_within_a_maxiter_budget_keeps_its_deflated_iterate() -> None:
    # a deflated solve cut short by maxiter while converging was redone without W, the
    # (50-100x) better deflated iterate discarded, and recycling switched off after two
    A = poisson(60)
    n = A.shape[0]
    rng = np.random.default_rng(0)
    solver = rankwise.CGSolver(A, M="ic0", rtol=1e-14, recycle=8, maxiter=40)
    residuals = []
    for _ in range(4):
        b = rng.standard_normal(n)
        res = solver.solve(b)
        assert res.reason == "maxiter"
        residuals.append(np.linalg.norm(b - A @ res.x) / np.linalg.norm(b))
    assert solver.recycling_resets == 0
    assert solver.recycle == 8
    plain = rankwise.solve_cg(A, b, M="ic0", rtol=1e-14, maxiter=40)
    assert residuals[-1] <= 0.1 * np.linalg.norm(b - A @ plain.x) / np.linalg.norm(b)


def test_solver_update_with_a_bad_preconditioner_changes_nothing() -> None:
    A = poisson(10)
    n = A.shape[0]
    solver = rankwise.CGSolver(A, M=rankwise.precond.jacobi(A), rtol=1e-10)
    b = np.ones(n)
    before = solver.solve(b).x
    with pytest.raises(ValueError, match="float32"):
        solver.update(2 * A, M=rankwise.precond.jacobi(A.astype(np.float32)))
    np.testing.assert_array_equal(solver.solve(b).x, before)  # still A, not 2 A


def test_solver_jacobi_for_an_operator_with_a_diagonal() -> None:
    # solve_cg and cg took M="jacobi" here; CGSolver refused it
    A = poisson(10)
    n = A.shape[0]

    class Op(spla.LinearOperator):
        def __init__(self) -> None:
            super().__init__(np.float64, (n, n))

        def _matvec(self, v: np.ndarray) -> np.ndarray:
            return A @ v

        def diagonal(self) -> np.ndarray:
            return A.diagonal()

    b = np.ones(n)
    res = rankwise.CGSolver(Op(), M="jacobi", rtol=1e-10).solve(b)
    ref = rankwise.solve_cg(A, b, M="jacobi", rtol=1e-10)
    assert res.converged
    assert abs(res.iterations - ref.iterations) <= 1
    with pytest.raises(TypeError, match="LinearOperator"):
        rankwise.CGSolver(Op(), M="ssor")


def test_block_right_hand_side_calls_a_vector_matvec_with_vectors() -> None:
    # SciPy's default matmat hands matvec (n, 1) columns; a matvec written for SciPy's cg
    # (1-D vectors) failed on a block b
    A = poisson(10)
    n = A.shape[0]

    def matvec(v: np.ndarray) -> np.ndarray:
        assert v.ndim == 1
        return A @ v

    B = np.random.default_rng(0).standard_normal((n, 3))
    op = spla.LinearOperator((n, n), matvec=matvec, dtype=float)
    res = rankwise.solve_cg(op, B, rtol=1e-10)
    assert res.converged
    np.testing.assert_allclose(res.x, rankwise.solve_cg(A, B, rtol=1e-10).x, rtol=1e-8, atol=1e-12)
    # and inside SciPy's compositions of operators
    shifted = 2.0 * op + spla.aslinearoperator(sp.identity(n))
    res = rankwise.solve_cg(shifted, B, rtol=1e-10)
    assert res.converged
    ref = rankwise.solve_cg(2.0 * A + sp.identity(n), B, rtol=1e-10).x
    np.testing.assert_allclose(res.x, ref, rtol=1e-8, atol=1e-12)


def test_solver_drops_a_subspace_that_costs_accuracy_within_a_maxiter_budget() -> None:
    # W harvested from cut-short solves slowed CG down (1.9x the residual of plain CG within
    # 60 iterations on a shifted 1-D Laplacian), and nothing reset it (a review of the fix
    # above): W is dropped when a deflated solve gets less far than the last plain one
    n = 2000
    L = sp.diags_array(
        [-np.ones(n - 1), 2.001 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1], format="csr"
    )
    rng = np.random.default_rng(0)
    rhs = [
        np.sin(np.arange(n) * (i + 1) / n * 3) + 0.01 * rng.standard_normal(n) for i in range(8)
    ]
    plain = rankwise.CGSolver(L, M="jacobi", rtol=1e-10, maxiter=60)
    recycling = rankwise.CGSolver(L, M="jacobi", rtol=1e-10, maxiter=60, recycle=10)
    ref = [plain.solve(b).x for b in rhs]
    got = [recycling.solve(b).x for b in rhs]
    assert recycling.recycling_resets == 2
    assert recycling.recycle == 0
    for x, x_ref in zip(got[-3:], ref[-3:], strict=True):  # plain CG again, at its cost
        np.testing.assert_allclose(x, x_ref, rtol=1e-12, atol=1e-12)


# -- session 34's review (pyamg and SciPy usage patterns) ------------------------------------


def test_a_nan_atol_is_refused_as_a_nan_rtol_is() -> None:
    A, b = poisson(8), np.ones(64)
    for bad in ({"atol": float("nan")}, {"rtol": float("nan")}):
        with pytest.raises(ValueError, match="tol"):
            rankwise.cg(A, b, **bad)


def test_an_object_array_b_of_numbers_is_cast_as_scipy_casts_it() -> None:
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    b = np.array([1.0, 2.0], dtype=object)
    x, info = rankwise.cg(A, b)
    x_ref, info_ref = spla.cg(A, b)
    np.testing.assert_allclose(x, x_ref, rtol=1e-5)
    assert info == info_ref == 0
    np.testing.assert_allclose(x, np.linalg.solve(A, b.astype(float)), rtol=1e-10)
    with pytest.raises(TypeError, match="b must be a real numeric array"):
        rankwise.cg(A, np.array(["a", "b"], dtype=object))


@pytest.mark.parametrize("triangle", [sp.tril, sp.triu])
def test_ssor_of_one_stored_triangle_warns(triangle: Any) -> None:
    # M built from a non-symmetric matrix is not symmetric: CG then ran to maxiter (2000
    # iterations against 23) without a word
    A = poisson(12)
    with pytest.warns(RuntimeWarning, match="ssor: A is not symmetric"):
        rankwise.precond.ssor(triangle(A, format="csr"))


def test_ic0_reads_the_lower_triangle_and_warns_where_the_upper_differs() -> None:
    A, b = poisson(12), np.ones(144)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = rankwise.precond.ic0(A)
        lower = rankwise.precond.ic0(sp.tril(A, format="csr"))  # MATLAB ichol's convention
        rankwise.precond.ssor(A)
    assert (
        rankwise.solve_cg(A, b, M=full).iterations == rankwise.solve_cg(A, b, M=lower).iterations
    )
    with pytest.warns(RuntimeWarning, match="ic0: A is not symmetric"):
        rankwise.precond.ic0(sp.triu(A, format="csr"))


def test_zero_tolerances_end_at_the_underflow_of_the_residual() -> None:
    """rtol = atol = 0 on a 2 x 2 SPD matrix (found by review): once ||r|| ~ 1e-160, p.Ap
    underflowed to 0 and CG raised "A is not positive definite"; a residual whose square
    underflows is now as converged as an exactly zero one."""
    A = np.array([[2.0, 0.5], [0.5, 1.5]])
    b = np.array([1.27231174703939, -0.025300329264120056])
    for B in (b, np.column_stack([b, b[::-1]])):
        result = rankwise.solve_cg(A, B, rtol=0.0, atol=0.0, maxiter=60)
        assert result.converged
        np.testing.assert_allclose(A @ result.x, B, rtol=1e-14, atol=1e-15)
    x, info = rankwise.cg(A, b, rtol=0.0, atol=0.0, maxiter=60)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-14)


@pytest.mark.parametrize("scale", [1e-160, 1e160])
def test_a_right_hand_side_of_extreme_size_with_an_ordinary_start(scale: float) -> None:
    """b ~ 1e-160 with x0 ~ 1 (found by review): the power-of-two scaling chosen from b alone
    also divided x0, r.r overflowed and CG reported a NaN/Inf breakdown; the scaling now
    follows r0 = b - A x0."""
    n = 50
    A = (sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) + sp.eye(n)).tocsr()
    rng = np.random.default_rng(0)
    b = scale * rng.standard_normal(n)
    x0 = rng.standard_normal(n)
    atol = 1e-8 * max(1.0, scale)
    x, info = rankwise.cg(A, b, x0=x0, atol=atol, rtol=0)
    assert info == 0
    assert np.linalg.norm(b - A @ x) < atol
    result = rankwise.CGSolver(A, atol=atol, rtol=0).solve(b, x0=x0)
    assert result.converged


@pytest.mark.parametrize("role", ["A", "M"])
def test_an_operator_returning_strings_is_named(role: str) -> None:
    """A LinearOperator whose product is not numeric (found by review): pybind11's "Internal
    error: error_already_set called while Python error indicator not set" (the array
    conversion had cleared its own error); now a TypeError naming the product."""
    n = 10
    A = sp.eye(n, format="csr") * 2.0
    bad = spla.LinearOperator((n, n), matvec=lambda v: np.array(["x"] * n), dtype=float)
    kwargs = {"A": bad} if role == "A" else {"A": A, "M": bad}
    with pytest.raises(TypeError, match="matmat returned a value of type ndarray"):
        rankwise.cg(kwargs.pop("A"), np.ones(n), **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ("A", {"maxiter": 5.0}),
        ("A", {"maxiter": "5"}),
        ("A", {"M": "foo"}),
        (None, {}),
        ("abc", {}),
    ],
)
def test_errors_scipy_raises_as_type_errors_are_type_errors_too(args: Any, kwargs: dict) -> None:
    """SciPy's cg raises TypeError for these (found by review: rankwise raised ValueError,
    which ``except TypeError:`` written for SciPy missed); rankwise's is both."""
    A = np.diag(np.arange(1.0, 11.0))
    b = np.ones(10)
    A_arg = A if args == "A" else args
    for fn in (spla.cg, rankwise.cg):
        with pytest.raises(TypeError, match=r"\w"):
            fn(A_arg, b, **kwargs)
    with pytest.raises(ValueError, match=r"\w"):
        rankwise.cg(A_arg, b, **kwargs)


def test_complex_right_hand_side_as_a_list_goes_to_scipy() -> None:
    """(found by review: TypeError "b must be a real numeric array"; SciPy solves it)"""
    A = np.diag(np.arange(1.0, 11.0))
    b = list(np.ones(10) + 1j)
    x, info = rankwise.cg(A, b)
    x_ref, info_ref = spla.cg(A, b)
    assert info == info_ref == 0
    np.testing.assert_allclose(x, x_ref)


def test_an_object_array_of_numbers_is_still_taken() -> None:
    """(the check for non-matrices above must not refuse what rankwise.cg took before)"""
    A = np.array([[2.0, 0], [0, 3.0]], dtype=object)
    x, info = rankwise.cg(A, np.ones(2))
    assert info == 0
    np.testing.assert_allclose(x, [0.5, 1 / 3])
