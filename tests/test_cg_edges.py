"""Edges of the CG family's contracts that an acceptance review (session 44) found open:
a CGSolver.update that would leave the solver unusable, the arguments of a 0 x 0 system,
preconditioners applied to a block of no columns, and the messages that name a function."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator


def _poisson(m: int) -> sp.csr_array:
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


@pytest.mark.parametrize("name", ["ic0", "ssor", "jacobi"])
def test_update_refuses_an_operator_its_named_preconditioner_cannot_use(name: str) -> None:
    """The constructor refuses M='ic0' with a LinearOperator A; update must too, and leave
    the solver with its matrix (it kept the operator, and every later solve failed)."""
    A = _poisson(6)
    b = np.ones(36)
    solver = rankwise.CGSolver(A, M=name, rtol=1e-10)
    with pytest.raises(TypeError, match=f"M='{name}' needs A as a matrix"):
        rankwise.CGSolver(aslinearoperator(A), M=name)
    with pytest.raises(TypeError, match=f"M='{name}' needs A as a matrix"):
        solver.update(aslinearoperator(A))
    res = solver.solve(b)
    assert res.converged
    assert np.linalg.norm(A @ res.x - b) <= 1e-9 * np.linalg.norm(b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x0": np.zeros(5)}, ValueError, "x0"),
        ({"x0": "start"}, ValueError, "x0"),
        ({"M": np.eye(3)}, ValueError, "preconditioner"),
        ({"M": "amg"}, ValueError, "M must be one of"),
    ],
)
@pytest.mark.parametrize("solver", [rankwise.cg, rankwise.solve_cg])
def test_an_empty_system_checks_x0_and_m(
    solver: object, kwargs: dict[str, object], error: type, match: str
) -> None:
    """SciPy's cg refuses these for n = 0 as for any n; rankwise returned an empty x."""
    with pytest.raises(error, match=match):
        solver(np.zeros((0, 0)), np.zeros(0), **kwargs)  # type: ignore[operator]


def test_an_empty_system_with_fitting_arguments_is_solved() -> None:
    x, info = rankwise.cg(np.zeros((0, 0)), np.zeros(0), x0=np.zeros(0), M=np.zeros((0, 0)))
    assert x.shape == (0,)
    assert info == 0
    x, info = rankwise.cg(np.zeros((0, 0)), np.zeros(0), x0="Mb", M="jacobi")
    assert x.shape == (0,)
    assert info == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_preconditioners_apply_to_a_block_of_no_columns(dtype: type, order: str) -> None:
    """A Preconditioner is a LinearOperator: M @ (n, 0) is (n, 0), as SciPy's operators
    give it (it raised 'r must be column-major', then Chebyshev's workspace mismatched)."""
    A = _poisson(4).astype(dtype)
    n = A.shape[0]
    built = [
        rankwise.precond.jacobi(A),
        rankwise.precond.ssor(A),
        rankwise.precond.ic0(A),
        rankwise.precond.block_jacobi(A, 4),
        rankwise.precond.chebyshev(A),
        rankwise.precond.nystrom(A.toarray(), 4, random_state=0),
    ]
    for M in built:
        Z = M @ np.zeros((n, 0), dtype, order=order)
        assert Z.shape == (n, 0), M.kind
        # and the workspace sized for no columns serves a real block afterwards
        R = np.random.default_rng(0).standard_normal((n, 2)).astype(dtype)
        np.testing.assert_allclose(M @ R, np.column_stack([M @ R[:, 0], M @ R[:, 1]]),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12)  # fmt: skip


def test_a_bad_atol_is_named_without_naming_another_function() -> None:
    for call in (
        lambda: rankwise.solve_cg(np.eye(3), np.ones(3), atol=-1),
        lambda: rankwise.CGSolver(np.eye(3), atol=-1),
        lambda: rankwise.cg(np.eye(3), np.ones(3), atol=float("nan")),
    ):
        with pytest.raises(ValueError, match="atol must be a real, non-negative number") as e:
            call()
        assert "rankwise.cg" not in str(e.value)


def test_huge_integer_options_are_refused_by_name() -> None:
    """pybind11's raw 'incompatible function arguments' (with the matrix printed) came
    back for values beyond a C int (acceptance review, session 44)."""
    A = _poisson(4)
    for call, name in [
        (lambda: rankwise.precond.chebyshev(A, 2**31), "degree"),
        (lambda: rankwise.precond.chebyshev(A, 3, lanczos_steps=2**40), "lanczos_steps"),
        (lambda: rankwise.CGSolver(A, M="chebyshev", degree=2**40), "degree"),
        (lambda: rankwise.CGSolver(A, M="chebyshev", degree="learn", grid=[2**31]), "degrees"),
    ]:
        with pytest.raises(ValueError, match=name):
            call()


@pytest.mark.parametrize("dtype", [">f8", ">f4", np.float16])
@pytest.mark.parametrize("name", ["ssor", "ic0"])
def test_triangular_preconditioners_take_any_real_dense_dtype(dtype: object, name: str) -> None:
    """SciPy's sparse arrays take neither byte-swapped nor float16 data, and ssor / ic0
    of such a dense A raised SciPy's message, where jacobi and cg itself work."""
    A = _poisson(4).toarray()
    M = getattr(rankwise.precond, name)(A.astype(dtype))
    ref = getattr(rankwise.precond, name)(A.astype(np.float32 if dtype == ">f4" else np.float64))
    assert M.dtype == ref.dtype
    x = np.random.default_rng(0).standard_normal(A.shape[0])
    np.testing.assert_allclose(M @ x, ref @ x, rtol=1e-3 if dtype == np.float16 else 1e-6)
