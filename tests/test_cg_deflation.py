"""solve_cg(deflation=W): deflated CG (Saad, Yeung, Erhel & Guyomarc'h 2000) converges to
the same solution as the plain solve, in fewer iterations when W spans the eigenvectors of
the smallest eigenvalues, and rejects bad subspaces."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp


def spd_with_small_eigenvalues(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SPD matrix with d tiny eigenvalues (1e-4 ...) and the rest in [1, 10]; returns A and
    the eigenvectors of the d smallest."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    ev = np.r_[np.geomspace(1e-4, 1e-2, d), np.linspace(1, 10, n - d)]
    A = (Q * ev) @ Q.T
    return (A + A.T) / 2, Q[:, :d]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_deflation_cuts_iterations_and_keeps_the_solution(dtype: type) -> None:
    n, d = 300, 6
    A, V = spd_with_small_eigenvalues(n, d, seed=0)
    b = np.random.default_rng(1).standard_normal(n)
    A, V, b = A.astype(dtype), V.astype(dtype), b.astype(dtype)
    rtol = 1e-8 if dtype == np.float64 else 1e-4
    plain = rankwise.solve_cg(A, b, rtol=rtol, maxiter=10 * n)
    defl = rankwise.solve_cg(A, b, rtol=rtol, deflation=V)
    assert plain.converged
    assert defl.converged
    assert defl.x.dtype == dtype
    assert defl.iterations < plain.iterations / 2
    x_ref = np.linalg.solve(A.astype(np.float64), b.astype(np.float64))
    err = np.linalg.norm(defl.x - x_ref) / np.linalg.norm(x_ref)
    err_plain = np.linalg.norm(plain.x - x_ref) / np.linalg.norm(x_ref)
    assert err <= 10 * err_plain + (1e-9 if dtype == np.float64 else 1e-3)


def test_deflation_with_a_preconditioner_sparse_and_block() -> None:
    m = 30
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    A = sp.csr_array(sp.kronsum(T, T, format="csr"))
    # eigenvectors of the 9 smallest eigenvalues: sin(pi k i / (m + 1)) (x) sin(pi l j / (m + 1))
    s = np.sin(np.pi * np.outer(np.arange(1, m + 1), np.arange(1, 4)) / (m + 1))
    W = np.stack([np.kron(s[:, k], s[:, j]) for k in range(3) for j in range(3)], axis=1)
    B = np.random.default_rng(2).standard_normal((m * m, 2))
    M = rankwise.precond.ic0(A)
    plain = rankwise.solve_cg(A, B, rtol=1e-10, M=M)
    defl = rankwise.solve_cg(A, B, rtol=1e-10, M=M, deflation=W)
    assert defl.converged
    assert defl.iterations < plain.iterations
    np.testing.assert_allclose(A @ defl.x, B, atol=1e-8 * np.abs(B).max() * m)
    # a subspace without the small eigenvectors changes little, but is still correct
    rand = rankwise.solve_cg(
        A, B, rtol=1e-10, deflation=np.random.default_rng(3).standard_normal((m * m, 8))
    )
    np.testing.assert_allclose(A @ rand.x, B, atol=1e-8 * np.abs(B).max() * m)


def test_deflation_bad_input_and_untouched() -> None:
    A, V = spd_with_small_eigenvalues(50, 3, seed=4)
    b = np.ones(50)
    V_copy = V.copy()
    rankwise.solve_cg(A, b, deflation=V)
    np.testing.assert_array_equal(V, V_copy)
    with pytest.raises(ValueError, match="deflation"):
        rankwise.solve_cg(A, b, deflation=np.ones((40, 2)))
    with pytest.raises(ValueError, match="deflation"):
        rankwise.solve_cg(A, b, deflation=np.c_[V[:, :1], V[:, :1]])  # rank deficient
    bad = V.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rankwise.solve_cg(A, b, deflation=bad)


@pytest.mark.parametrize(
    "columns",
    [
        lambda E: E[:, [0, 199]],
        lambda E: np.c_[1e4 * E[:, 0], 1e-3 * E[:, 199]],
        lambda E: 1e-200 * E[:, :1],
        lambda E: 1e200 * E[:, :1],
    ],
)
def test_the_deflation_space_counts_not_its_columns_scales(columns: Any) -> None:
    """Orthonormal eigenvectors [e_0, e_199] of diag(1e-14, logspace(-2, 0)) were refused
    as "not positive definite" (the rank test read the pivots of the unscaled W^T A W),
    the same span rescaled accepted, and columns of 1e+-200 over/underflowed W^T A W
    (found by review); every basis of the span now gives the same deflated solve."""
    n = 200
    A = sp.diags(np.r_[1e-14, np.logspace(-2, 0, n - 1)]).tocsr()
    b = np.ones(n)
    result = rankwise.solve_cg(A, b, rtol=1e-8, deflation=columns(np.eye(n)))
    assert result.converged
    assert np.linalg.norm(b - A @ result.x) <= 1e-8 * np.linalg.norm(b)
    with pytest.raises(ValueError, match="full column rank"):
        rankwise.solve_cg(A, b, deflation=np.c_[np.eye(n)[:, 0], 2 * np.eye(n)[:, 0]])


def test_a_solver_whose_matrix_became_indefinite_says_so() -> None:
    """CGSolver(recycle=4) after update(-A) (found by review): its own deflation space
    failed the rank test and the user got a ValueError about W; now CGBreakdownError, as
    without recycling."""
    n = 50
    A = (sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) + 0.01 * sp.eye(n)).tocsr()
    rng = np.random.default_rng(0)
    solver = rankwise.CGSolver(A, rtol=1e-8, recycle=4)
    for _ in range(3):
        solver.solve(rng.standard_normal(n))
    solver.update((-A).tocsr())
    with pytest.raises(rankwise.CGBreakdownError, match="not positive definite"):
        solver.solve(rng.standard_normal(n))
