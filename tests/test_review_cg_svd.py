"""Regression tests for what an adversarial review of the CG and SVD families found
(2026-11-27): one test per finding, each failing on the code before its fix."""

from __future__ import annotations

import contextlib
import threading
import warnings
from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from rankwise import AccuracyWarning
from scipy.sparse.linalg import LinearOperator


def laplacian_2d(side: int) -> sp.csr_array:
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(side, side))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


HERMITIAN = np.array([[4.0, 1j], [-1j, 3.0]])  # Hermitian positive definite


@pytest.mark.parametrize(
    "call",
    [
        lambda: rankwise.solve_cg(sp.csr_array(HERMITIAN), np.array([1.0, 2.0])),
        lambda: rankwise.solve_cg(HERMITIAN, np.array([1.0, 2.0])),
        lambda: rankwise.CGSolver(sp.csr_array(HERMITIAN)),
        lambda: rankwise.solve_cg(
            np.diag([4.0, 3.0]), np.ones(2), M=sp.csr_array(np.diag([0.25 + 0.1j, 1 / 3]))
        ),
    ],
)
def test_native_cg_refuses_complex_systems(call: Any) -> None:
    """The imaginary part was cast away: Re(A) x = b solved and reported converged."""
    with pytest.raises(TypeError, match="complex"):
        call()


def test_cg_passes_complex_systems_to_scipy_and_refuses_named_preconditioners() -> None:
    A, b = sp.csr_array(HERMITIAN), np.array([1.0, 2.0])
    x, info = rankwise.cg(A, b, rtol=1e-12)
    assert info == 0
    np.testing.assert_allclose(HERMITIAN @ x, b, atol=1e-12)
    with pytest.raises(TypeError, match="M='jacobi'"):  # was SciPy's "type not understood"
        rankwise.cg(A, b, M="jacobi")


@pytest.mark.parametrize("M", ["chebyshev", "jacobi"])
def test_named_preconditioner_of_float32_operator_with_float64_b(M: str) -> None:
    """The system is solved in float64 (SciPy's rule); M was rebuilt in float32 and refused
    with "build it from A in the same dtype", which a user passing a name cannot do."""
    A32 = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(40, 40), format="csr").astype(np.float32)

    class Op(LinearOperator):
        def __init__(self) -> None:
            super().__init__(np.float32, A32.shape)

        def _matvec(self, x: np.ndarray) -> np.ndarray:
            return A32 @ x

        def diagonal(self) -> np.ndarray:
            return A32.diagonal()

    b = np.ones(40)
    x, info = rankwise.cg(Op(), b, M=M, rtol=1e-10)
    assert info == 0
    assert x.dtype == np.float64
    np.testing.assert_allclose(A32.toarray().astype(np.float64) @ x, b, atol=1e-8)


@pytest.mark.parametrize("shift", [1e-3, 1e-13, 1e-300])
def test_ic0_shift_grows_until_the_factorization_exists(shift: float) -> None:
    """Kershaw's SPD matrix needs an O(0.1) shift; 40 doublings from 1e-13 stopped at 0.055."""
    K = np.array([[3.0, -2, 0, 2], [-2, 3, -2, 0], [0, -2, 3, -2], [2, 0, -2, 3]])
    M = rankwise.precond.ic0(K, shift=shift)
    assert 0 < M.info["shift"] < 1
    x, info = rankwise.cg(K, np.ones(4), M=M, rtol=1e-12)
    assert info == 0
    np.testing.assert_allclose(K @ x, np.ones(4), atol=1e-10)


@pytest.mark.parametrize("M", [None, "jacobi"])
def test_recycling_never_costs_iterations_on_a_laplacian(M: Any) -> None:
    """With r = 4 from 8 directions, W deflated poor Ritz vectors: 93 -> 103-105 iterations
    per solve, and W was never refreshed again.  Now W keeps being refreshed until it pays."""
    A = laplacian_2d(30)
    rng = np.random.default_rng(0)
    rhs = [rng.standard_normal(900) for _ in range(10)]
    plain = [rankwise.solve_cg(A, b, M=M, rtol=1e-8).iterations for b in rhs]
    solver = rankwise.CGSolver(A, M=M, rtol=1e-8, recycle=4)
    recycled = [solver.solve(b).iterations for b in rhs]
    assert max(recycled) <= max(plain) * 1.07  # rounding-level differences only
    assert np.mean(recycled[-4:]) < 0.95 * np.mean(plain[-4:])


def test_cg_info_is_scipys_when_the_last_allowed_iteration_converges() -> None:
    A = laplacian_2d(30)
    b = np.random.default_rng(0).standard_normal(900)
    for maxiter in (0, 1, 50, 72, 73, 74, 200):
        assert rankwise.cg(A, b, maxiter=maxiter)[1] == spla.cg(A, b, maxiter=maxiter)[1]
    needed = rankwise.solve_cg(A, b).iterations
    assert rankwise.solve_cg(A, b, maxiter=needed).converged  # the result object tells


@pytest.mark.parametrize("A", [np.zeros((0, 0)), sp.csr_array((0, 0))])
def test_cg_of_an_empty_system_is_empty_as_in_scipy(A: Any) -> None:
    x, info = rankwise.cg(A, np.zeros(0))
    x_ref, info_ref = spla.cg(A, np.zeros(0))
    assert x.shape == x_ref.shape == (0,)
    assert info == info_ref == 0
    res = rankwise.solve_cg(A, np.zeros((0, 3)))
    assert res.converged
    assert res.x.shape == (0, 3)


def test_cg_takes_any_maxiter() -> None:
    """2**63 leaked pybind11's signature dump."""
    x, info = rankwise.cg(np.eye(3), np.ones(3), maxiter=2**63)
    assert info == 0
    np.testing.assert_allclose(x, np.ones(3))


def test_cg_solver_refuses_an_empty_grid() -> None:
    with pytest.raises(ValueError, match="grid must not be empty"):
        rankwise.CGSolver(laplacian_2d(5), M="ssor", omega="learn", grid=[])


def test_cg_solver_shared_by_threads() -> None:
    """Solves from several threads swapped W under each other: broadcasting ValueErrors."""
    A = laplacian_2d(20)
    solver = rankwise.CGSolver(A, M="ic0", recycle=4, rtol=1e-8)
    errors: list[BaseException] = []
    residuals: list[float] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(8):
                b = rng.standard_normal(400)
                x = solver.solve(b).x
                residuals.append(float(np.linalg.norm(A @ x - b) / np.linalg.norm(b)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert solver.solves == 32
    assert max(residuals) < 1e-7


def test_cg_does_not_sort_the_users_csr_matrix() -> None:
    """The symmetry check after a non-converged solve shared A's arrays and summed their
    duplicates in place (found by the hypothesis fuzzer)."""
    data = np.array([0.5, -1.0, 0.25, 2.0, 0.25, 1.0, 3.0])
    indices = np.array([2, 0, 2, 1, 0, 1, 2], dtype=np.int32)  # unsorted, a duplicate
    indptr = np.array([0, 3, 5, 7], dtype=np.int32)
    A = sp.csr_array((data.copy(), indices.copy(), indptr), shape=(3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with contextlib.suppress(rankwise.CGBreakdownError):
            rankwise.cg(A, np.ones(3), maxiter=1)
    np.testing.assert_array_equal(A.data, data)
    np.testing.assert_array_equal(A.indices, indices)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_estimate_error_refuses_nan_factors(which: int) -> None:
    """All-NaN factors gave 0.0, a perfect fit (column_norms passed over NaN)."""
    A = np.random.default_rng(0).standard_normal((60, 40))
    factors = list(rankwise.svd(A, 5, random_state=0))
    factors[which] = factors[which] * np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.estimate_error(A, *factors)


def test_estimate_error_refuses_complex_factors() -> None:
    A = np.random.default_rng(0).standard_normal((30, 20))
    U, s, Vt = rankwise.svd(A, 3, random_state=0)
    with pytest.raises(TypeError, match="U must be a real array"):
        rankwise.estimate_error(A, U + 1j, s, Vt)


def _matrix(m: int, n: int, s: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q1 = np.linalg.qr(rng.standard_normal((m, len(s))))[0]
    Q2 = np.linalg.qr(rng.standard_normal((n, len(s))))[0]
    return (Q1 * s) @ Q2.T


def _relative_error(A: np.ndarray, U: np.ndarray, s: np.ndarray, Vt: np.ndarray) -> float:
    A64 = A.astype(np.float64)
    R = A64 - (U.astype(np.float64) * s) @ Vt.astype(np.float64)
    return float(np.linalg.norm(R) / np.linalg.norm(A64))


@pytest.mark.parametrize(
    ("shape", "decay", "dtype", "tol"),
    [((300, 200), 0.8, np.float64, 1e-12), ((400, 100), 0.9, np.float32, 1e-6)],
)
def test_fixed_precision_warns_when_tol_is_below_what_it_can_certify(
    shape: tuple[int, int], decay: float, dtype: Any, tol: float
) -> None:
    """The error was 512x (float64) / 36x (float32) above tol without a warning: the
    indicator is rounding noise there, and was clamped at 0."""
    A = _matrix(*shape, decay ** np.arange(min(shape)), 0).astype(dtype)
    with pytest.warns(AccuracyWarning, match="below what the error indicator certifies"):
        U, s, Vt = rankwise.svd(A, tol=tol, random_state=0)
    assert len(s) < min(shape)
    assert _relative_error(A, U, s, Vt) > tol  # the warning was due


def test_fixed_precision_at_full_rank_is_exact_and_does_not_warn() -> None:
    """A basis spanning the whole range was reported 'relative error 1.55e-08, not reached'."""
    A = _matrix(100, 400, 0.9 ** np.arange(100), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AccuracyWarning)
        U, s, Vt = rankwise.svd(A, tol=1e-12, random_state=0)
    assert len(s) == 100
    assert _relative_error(A, U, s, Vt) < 1e-13


def test_fixed_precision_above_the_floor_still_meets_tol_silently() -> None:
    A = _matrix(300, 200, 0.8 ** np.arange(200), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AccuracyWarning)
        U, s, Vt = rankwise.svd(A, tol=1e-6, random_state=0)
    assert _relative_error(A, U, s, Vt) <= 1e-6


@pytest.mark.parametrize("call", [rankwise.randomized_svd, rankwise.svds])
def test_wide_operator_without_rmatvec_gets_the_clear_error(call: Any) -> None:
    """Both work on A.T, whose matmat is A's missing rmatmat: "'NoneType' object is not
    callable"."""
    A = np.random.default_rng(0).standard_normal((25, 60))
    op = LinearOperator(A.shape, matvec=lambda x: A @ x, dtype=float)
    with pytest.raises(TypeError, match="without rmatvec or rmatmat"):
        call(op, 3)


def test_huge_n_iter_is_refused_by_name() -> None:
    A = np.random.default_rng(0).standard_normal((20, 10))
    for call in (rankwise.svd, rankwise.randomized_svd):
        with pytest.raises(ValueError, match="n_iter"):
            call(A, 2, n_iter=2**31)


def test_svds_refuses_a_non_finite_v0() -> None:
    with pytest.raises(ValueError, match="v0"):
        rankwise.svds(np.eye(20), 3, v0=np.full(20, np.nan))


def test_randomized_svd_errors_describe_the_matrix_as_given() -> None:
    with pytest.raises(ValueError, match=r"shape \(0, 5\)"):
        rankwise.randomized_svd(np.zeros((0, 5)), 1)
    broken = sp.csr_array(
        (np.ones(2), np.array([0, 7], dtype=np.int32), np.array([0, 1, 2], dtype=np.int32)),
        shape=(2, 5),
    )
    with pytest.raises(ValueError, match="csr"):
        rankwise.randomized_svd(broken, 1)


def test_options_of_the_other_mode_are_refused() -> None:
    A = np.random.default_rng(0).standard_normal((30, 20))
    with pytest.raises(ValueError, match="max_rank is for fixed-precision mode"):
        rankwise.svd(A, 3, max_rank=2)
    with pytest.raises(ValueError, match="is for fixed-rank mode"):
        rankwise.svd(A, tol=0.5, method="block_krylov")


@pytest.mark.parametrize(
    ("dtype", "power", "tols"),
    [(np.float64, 4, [8e-8, 1.2e-7, 1e-6]), (np.float32, 2, [2e-3, 1e-2])],
)
def test_fixed_precision_just_above_the_floor_meets_tol(
    dtype: Any, power: int, tols: list[float]
) -> None:
    """The indicator ||A||^2 - sum ||B_i||^2 is known only to within a few eps ||A||^2, and
    tolerances just above the floor were missed silently, at ranks below the optimum
    (800 x 500, sigma_j = 1/j^4, tol = 8e-8: error 1.10 tol; float32, 1/j^2, 2e-3: 1.002;
    an acceptance review, session 44).  A truncation is now certified with that to spare."""
    A = _matrix(800, 500, 1.0 / np.arange(1, 501) ** power, 0).astype(dtype)
    for tol in tols:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AccuracyWarning)
            U, s, Vt = rankwise.svd(A, tol=tol, random_state=1)
        assert _relative_error(A, U, s, Vt) <= tol


def test_fixed_precision_options_of_the_other_mode_and_the_cause_named() -> None:
    A = _matrix(300, 200, 0.8 ** np.arange(200), 2)
    with pytest.raises(ValueError, match="oversample is for fixed-rank mode"):
        rankwise.svd(A, tol=0.5, oversample=-5)
    # a binding max_rank is the cause, also where tol is below the floor as well
    with pytest.warns(AccuracyWarning, match="max_rank=5"):
        rankwise.svd(A, tol=1e-12, max_rank=5, random_state=0)
