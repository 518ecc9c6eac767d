"""rankwise.precond.nystrom: the randomized Nystrom preconditioner of Frangella, Tropp &
Udell (2023) is the operator of their eq. (5.3) built from the Nystrom approximation of
their Algorithm 2.1 (against a dense float64 reference on the same sketch), is SPD, meets
the condition-number bound of their Theorem 5.1, cuts CG iterations on kernel ridge
systems, and rejects bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rankwise
import scipy.linalg as sla
import scipy.sparse as sp
from rankwise import _core
from rankwise._random import philox_key
from scipy.sparse.linalg import aslinearoperator


def gaussian_kernel(n: int, seed: int, width: float = 0.5, dim: int = 2) -> np.ndarray:
    """Gaussian kernel matrix on uniform points: PSD with fast spectral decay."""
    X = np.random.default_rng(seed).uniform(size=(n, dim))
    D2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return np.exp(-D2 / width)


def psd_with_spectrum(ev: np.ndarray, seed: int) -> np.ndarray:
    Q = np.linalg.qr(np.random.default_rng(seed).standard_normal((ev.size, ev.size)))[0]
    A = (Q * ev) @ Q.T
    return (A + A.T) / 2


def dense_of(M: rankwise.precond.Preconditioner) -> np.ndarray:
    return M @ np.eye(M.shape[0], dtype=M.dtype)


def reference_nystrom(A: np.ndarray, rank: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(U, lam) of the Nystrom approximation Y (Omega^T Y)^+ Y^T computed directly in
    float64 (no shift) on the same orthonormalized Philox sketch."""
    n = A.shape[0]
    key = philox_key(seed)
    gaussian = np.asarray(_core.standard_normal(n, rank, key[0], key[1], 0, "float64"))
    omega = np.linalg.qr(gaussian)[0]
    Y = A @ omega
    core = omega.T @ Y
    A_nys = Y @ np.linalg.pinv((core + core.T) / 2, hermitian=True) @ Y.T
    lam, V = np.linalg.eigh((A_nys + A_nys.T) / 2)
    return V[:, ::-1][:, :rank], lam[::-1][:rank]


def reference_pinv(A: np.ndarray, rank: int, mu: float, seed: int) -> np.ndarray:
    """P^-1 of eq. (5.3) from reference_nystrom."""
    U, lam = reference_nystrom(A, rank, seed)
    c = (lam[-1] + mu) / (lam + mu)
    return (U * c) @ U.T + np.eye(A.shape[0]) - U @ U.T


def test_matches_dense_reference_of_the_formula() -> None:
    n, rank, mu = 300, 20, 1e-3
    A = psd_with_spectrum(1.0 / np.arange(1, n + 1) ** 2, seed=1)
    M = rankwise.precond.nystrom(A, rank, mu=mu, random_state=7)
    P_ref = reference_pinv(A, rank, mu, seed=7)
    np.testing.assert_allclose(dense_of(M), P_ref, atol=1e-9)
    lam = M.info["eigenvalues"]
    assert lam.shape == (rank,)
    assert np.all(np.diff(lam) <= 0)
    assert lam[-1] > 0
    # the leading eigenvalues of a good Nystrom approximation are those of A, from below
    ev = np.sort(np.linalg.eigvalsh(A))[::-1][:rank]
    assert np.all(lam <= ev * (1 + 1e-10))
    assert lam[0] > 0.99 * ev[0]
    # the same solve with the dense reference takes the same iterations, to rounding
    Amu = A + mu * np.eye(n)
    b = np.random.default_rng(2).standard_normal(n)
    r_nat = rankwise.solve_cg(Amu, b, rtol=1e-10, M=M)
    r_ref = rankwise.solve_cg(Amu, b, rtol=1e-10, M=P_ref)
    assert r_nat.converged
    assert r_ref.converged
    assert abs(int(r_nat.iterations) - int(r_ref.iterations)) <= 1
    np.testing.assert_allclose(r_nat.x, r_ref.x, rtol=1e-7)
    np.testing.assert_allclose(Amu @ r_nat.x, b, atol=1e-8 * np.linalg.norm(b))


@pytest.mark.parametrize("mu", [1e-2, 1e-4])
def test_spd_with_the_eigenvalues_of_eq_5_3(mu: float) -> None:
    A = gaussian_kernel(250, seed=3)
    M = rankwise.precond.nystrom(A, 30, mu=mu, random_state=0)
    P = dense_of(M)
    np.testing.assert_allclose(P, P.T, atol=1e-12)
    lam = M.info["eigenvalues"]
    ev = np.linalg.eigvalsh(P)
    # eigenvalues (lam_l + mu) / (lam_i + mu) on range(U) and 1 on its complement
    assert ev[0] == pytest.approx((lam[-1] + mu) / (lam[0] + mu), rel=1e-6)
    assert ev[-1] == pytest.approx(1.0, rel=1e-10)
    assert ev[0] > 0


def exponential_kernel(n: int, seed: int, width: float = 1.0) -> np.ndarray:
    """exp(-|x - y| / width) on uniform points in [0, 1]: eigenvalues decay like 1/k^2, slowly
    enough that the rank matters."""
    x = np.random.default_rng(seed).uniform(size=n)
    return np.exp(-np.abs(x[:, None] - x[None, :]) / width)


def preconditioned_kappa(Amu: np.ndarray, M: rankwise.precond.Preconditioner) -> float:
    """kappa(P^-1/2 (A + mu I) P^-1/2): generalized eigenvalues of (A + mu I, P)."""
    P = np.linalg.inv(dense_of(M).astype(np.float64))
    ev = sla.eigh(Amu, (P + P.T) / 2, eigvals_only=True)
    return float(ev[-1] / ev[0])


def test_theorem_5_1_and_proposition_5_3_bounds() -> None:
    """Theorem 5.1: l >= 2 ceil(1.5 d_eff(mu)) + 1 gives E[kappa] < 28.  Proposition 5.3
    (deterministic, any l): kappa <= (lam_l + mu + ||A - A_nys||_2) / mu."""
    n, mu = 300, 0.1
    A = exponential_kernel(n, seed=4)
    ev_A = np.linalg.eigvalsh(A)
    d_eff = float(np.sum(ev_A / (ev_A + mu)))
    rank = 2 * math.ceil(1.5 * d_eff) + 1
    assert rank < n / 2  # the bound is a statement about a low rank
    Amu = A + mu * np.eye(n)
    kappa_plain = (ev_A[-1] + mu) / (ev_A[0] + mu)
    assert kappa_plain > 1e3
    for l in (rank, rank // 6):
        kappas = []
        for seed in range(3):
            M = rankwise.precond.nystrom(A, l, mu=mu, random_state=seed)
            kappa = preconditioned_kappa(Amu, M)
            U, lam = reference_nystrom(A, l, seed)
            E_norm = np.abs(np.linalg.eigvalsh(A - (U * lam) @ U.T)).max()  # E is PSD
            assert kappa <= (lam[-1] + mu + E_norm) / mu * (1 + 1e-6)
            kappas.append(kappa)
        if l == rank:
            assert np.mean(kappas) < 28


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_iterations_drop_sharply_on_kernel_ridge(dtype: type) -> None:
    n, mu = 800, 1e-3
    A = gaussian_kernel(n, seed=5).astype(dtype)
    Amu = A + dtype(mu) * np.eye(n, dtype=dtype)
    b = np.random.default_rng(6).standard_normal(n).astype(dtype)
    rtol = 1e-8 if dtype == np.float64 else 1e-4
    plain = rankwise.solve_cg(Amu, b, rtol=rtol, maxiter=5 * n)
    jac = rankwise.solve_cg(Amu, b, rtol=rtol, maxiter=5 * n, M=rankwise.precond.jacobi(Amu))
    M = rankwise.precond.nystrom(A, 60, mu=mu, random_state=0)
    assert M.dtype == dtype
    nys = rankwise.solve_cg(Amu, b, rtol=rtol, M=M)
    assert nys.converged
    assert nys.x.dtype == dtype
    assert nys.iterations * 10 < plain.iterations
    assert nys.iterations * 10 < jac.iterations
    res = np.linalg.norm(Amu.astype(np.float64) @ nys.x - b) / np.linalg.norm(b)
    # float32: the true residual stalls near eps * kappa(A + mu I) for every M (~1e-2 here)
    assert res < (10 * rtol if dtype == np.float64 else 5e-2)


def test_float32_close_to_float64_preconditioner() -> None:
    A = gaussian_kernel(300, seed=8)
    mu = 1e-2
    M64 = rankwise.precond.nystrom(A, 25, mu=mu, random_state=3)
    M32 = rankwise.precond.nystrom(A.astype(np.float32), 25, mu=mu, random_state=3)
    assert dense_of(M32).dtype == np.float32
    assert M32.info["eigenvalues"].dtype == np.float32
    # leading eigenvalues agree to float32 accuracy; the trailing ones are below the shift
    lam64 = M64.info["eigenvalues"]
    np.testing.assert_allclose(M32.info["eigenvalues"][:5], lam64[:5], atol=1e-4 * lam64[0])
    Amu = A + mu * np.eye(300)
    kappa64 = preconditioned_kappa(Amu, M64)
    assert preconditioned_kappa(Amu, M32) < 2 * kappa64 < 4


def test_block_rhs_sparse_and_operator_inputs() -> None:
    n, mu = 300, 1e-2
    A = gaussian_kernel(n, seed=9)
    P = dense_of(rankwise.precond.nystrom(A, 30, mu=mu, random_state=1))
    for other in (sp.csr_array(A), aslinearoperator(A)):
        M = rankwise.precond.nystrom(other, 30, mu=mu, random_state=1)
        np.testing.assert_allclose(dense_of(M), P, atol=1e-10)
    M = rankwise.precond.nystrom(A, 30, mu=mu, random_state=1)
    B = np.random.default_rng(1).standard_normal((n, 3))
    res = rankwise.solve_cg(A + mu * np.eye(n), B, rtol=1e-10, M=M)
    np.testing.assert_allclose((A + mu * np.eye(n)) @ res.x, B, atol=1e-8 * np.abs(B).max() * n)


def test_oversampling_truncates_to_rank() -> None:
    A = gaussian_kernel(300, seed=10)
    M = rankwise.precond.nystrom(A, 20, mu=1e-3, oversample=10, random_state=0)
    assert M.info["rank"] == 20
    assert M.info["sketch_size"] == 30
    assert M.info["eigenvalues"].shape == (20,)
    M_all = rankwise.precond.nystrom(A, 300, mu=1e-3, oversample=10, random_state=0)
    assert M_all.info["sketch_size"] == 300  # clipped to n


def test_deterministic_per_seed_and_input_untouched() -> None:
    A = gaussian_kernel(200, seed=11)
    A_copy = A.copy()
    P1 = dense_of(rankwise.precond.nystrom(A, 15, mu=1e-3, random_state=5))
    P2 = dense_of(rankwise.precond.nystrom(A, 15, mu=1e-3, random_state=5))
    P3 = dense_of(rankwise.precond.nystrom(A, 15, mu=1e-3, random_state=6))
    np.testing.assert_array_equal(P1, P2)
    assert np.abs(P1 - P3).max() > 1e-6
    np.testing.assert_array_equal(A, A_copy)


def test_bad_input() -> None:
    A = gaussian_kernel(50, seed=12)
    nys = rankwise.precond.nystrom
    with pytest.raises(ValueError, match="rank"):
        nys(A, 0)
    with pytest.raises(ValueError, match="rank"):
        nys(A, 51)
    with pytest.raises(TypeError, match="rank"):
        nys(A, 2.5)
    with pytest.raises(ValueError, match="square"):
        nys(A[:, :40], 5)
    bad = A.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nys(bad, 5)
    for mu in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="mu"):
            nys(A, 5, mu=mu)
    with pytest.raises(ValueError, match="oversample"):
        nys(A, 5, oversample=-1)
    with pytest.raises(ValueError, match="positive semidefinite"):
        nys(-A - np.eye(50), 5, mu=1.0)
    # mu = 0 needs a nonsingular rank-l approximation: A of rank 3, l = 5
    low = psd_with_spectrum(np.r_[np.ones(3), np.zeros(47)], seed=0)
    with pytest.raises(ValueError, match="mu > 0"):
        nys(low, 5)
    M = nys(low, 5, mu=0.1)  # fine with a ridge term
    assert np.all(np.linalg.eigvalsh(dense_of(M)) > 0)
    # a preconditioner built for float32 serves a float64 solve as SciPy's cg would use it
    # (applied in float32)
    M32 = nys(A.astype(np.float32), 5, mu=0.1)
    res = rankwise.solve_cg(A + 0.1 * np.eye(50), np.ones(50), M=M32, rtol=1e-6)
    assert res.converged
    assert res.x.dtype == np.float64
    assert np.linalg.norm((A + 0.1 * np.eye(50)) @ res.x - 1) <= 1.01e-6 * np.sqrt(50)
