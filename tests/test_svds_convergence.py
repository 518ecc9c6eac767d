"""rankwise.svds reaches working precision (tol=0) and honours tol, on flat spectra (random
Gaussian and random sparse matrices, whose leading singular values are close together)
and on decaying ones, in float32 and float64, dense and sparse, tall and wide.

The residuals are computed in float64 against the input, on both sides:
max_i max(||A v_i - s_i u_i||, ||A^T u_i - s_i v_i||) / s_1, in units of
eps (1 + ||A||_F / s_1), the rounding level of a product with A.  The solver ends at 0.2-4.4
units on these matrices (OpenBLAS; 0.4-9.1 before the refined Rayleigh-Ritz step of session
39); the previous one (plain restart, a stagnation rule that
fired on slow convergence) at up to 87, and 10-60 on most flat float32 cases.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def _residual(A: object, u: np.ndarray, s: np.ndarray, vh: np.ndarray) -> float:
    A64 = A.astype(np.float64)
    u = u.astype(np.float64)
    v = vh.T.astype(np.float64)
    right = np.linalg.norm(A64 @ v - u * s, axis=0).max()
    left = np.linalg.norm(A64.T @ u - v * s, axis=0).max()
    return max(right, left) / s.max()


def _rounding(A: object, s1: float) -> float:
    fro = sp.linalg.norm(A) if sp.issparse(A) else np.linalg.norm(A)
    return np.finfo(A.dtype).eps * (1 + float(fro) / s1)


def _gaussian(m: int, n: int, dtype: type, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((m, n)).astype(dtype)


def _sparse(m: int, n: int, density: float, dtype: type, seed: int) -> sp.csr_matrix:
    return sp.random(m, n, density=density, random_state=seed, format="csr", dtype=dtype)


def _decaying(m: int, n: int, dtype: type, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return ((U / np.arange(1, n + 1)) @ V.T).astype(dtype)


def _sparse_decaying(m: int, n: int, dtype: type, seed: int) -> sp.csr_matrix:
    S = sp.random(m, n, density=0.01, random_state=seed, format="csr")
    rows = sp.diags(0.995 ** np.arange(m))
    cols = sp.diags(0.99 ** np.arange(n))
    return (rows @ S @ cols).tocsr().astype(dtype)


BOUND = 12  # units of _rounding

CASES = {
    "gauss-tall": lambda dt: _gaussian(1200, 300, dt, 0),
    "gauss-wide": lambda dt: _gaussian(300, 1200, dt, 1),
    "sparse-tall": lambda dt: _sparse(3000, 1000, 0.01, dt, 2),
    "sparse-wide": lambda dt: _sparse(1000, 3000, 0.01, dt, 3),
    "decay-dense": lambda dt: _decaying(800, 400, dt, 4),
    "decay-sparse": lambda dt: _sparse_decaying(2000, 800, dt, 5),
}


def _clustered(m: int, n: int, seed: int) -> np.ndarray:
    """12 leading singular values within 1e-3 of 1, the rest uniform in [0, 0.5)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.sort(np.r_[1 + 1e-3 * rng.random(12), 0.5 * rng.random(n - 12)])[::-1]
    return (U * s) @ V.T


FLOOR_CASES = {
    **{f"gauss-340x413-s{seed}-k1": (lambda seed=seed: _gaussian(340, 413, np.float64, seed), 1)
       for seed in (0, 1, 2, 5)},
    "gauss-1200x300-k3": (lambda: _gaussian(1200, 300, np.float64, 3), 3),
    "gauss-300x1200-k10": (lambda: _gaussian(300, 1200, np.float64, 4), 10),
    "gauss-500x500-k10": (lambda: _gaussian(500, 500, np.float64, 6), 10),
    "decay-800x400-k10": (lambda: _decaying(800, 400, np.float64, 8), 10),
    "clustered-600x400-k10": (lambda: _clustered(600, 400, 9), 10),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(FLOOR_CASES))
def test_tol0_dense_float64_ends_within_three_rounding_units(case: str) -> None:
    """The triplets ended at 3.1-6.0 units here: LAPACK's SVD is backward stable in norm
    only (about 40 eps ||W||), and its errors in the Rayleigh-Ritz vectors along the
    directions a thick restart discards stay in the kept vectors, cycle after cycle (and the
    final SVD of A V_k adds its own).  Refined by one one-sided Jacobi step (refined_ritz.hpp)
    they end at 0.2-2.4 (SciPy's arpack: 0.2-1.7)."""
    make, k = FLOOR_CASES[case]
    A = make()
    u, s, vh = rankwise.svds(A, k, tol=0, rng=0)
    assert _residual(A, u, s, vh) <= 3 * _rounding(A, float(s.max()))


@pytest.mark.parametrize("gap", [1e-4, 1e-5, 1e-6, 1e-7])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tol0_keeps_the_vectors_of_close_values_orthonormal(gap: float, seed: int) -> None:
    """Five values `gap` apart, k = 5: the refined Rayleigh-Ritz step corrected x_j along x_i
    and x_i along x_j from two products that differ by rounding, which over the gap cost
    U and V their orthogonality (|U^T U - I| up to 1e-10; found by review)."""
    rng = np.random.default_rng(seed)
    Q1 = np.linalg.qr(rng.standard_normal((300, 200)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((200, 200)))[0]
    s = np.r_[1 - gap * np.arange(5), np.linspace(0.5, 0.1, 195)]
    A = (Q1 * s) @ Q2.T
    u, sv, vh = rankwise.svds(A, 5, tol=0, rng=seed)
    for X in (u, vh.T):
        assert np.abs(X.T @ X - np.eye(5)).max() <= 1e-14
    assert _residual(A, u, sv, vh) <= BOUND * _rounding(A, float(sv.max()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_tol0_reaches_the_rounding_level(case: str, dtype: type) -> None:
    A = CASES[case](dtype)
    u, s, vh = rankwise.svds(A, 10, tol=0, rng=0)
    assert u.dtype == dtype
    assert s.dtype == dtype
    assert _residual(A, u, s, vh) <= BOUND * _rounding(A, float(s.max()))
    s_ref = np.linalg.svd(A.toarray() if sp.issparse(A) else A, compute_uv=False)[:10]
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(s[::-1], s_ref.astype(np.float64), rtol=64 * eps, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["gauss-tall", "sparse-wide", "decay-dense"])
@pytest.mark.parametrize("k", [1, 25])
def test_tol0_other_block_sizes(case: str, dtype: type, k: int) -> None:
    A = CASES[case](dtype)
    u, s, vh = rankwise.svds(A, k, tol=0, rng=3)
    assert _residual(A, u, s, vh) <= BOUND * _rounding(A, float(s.max()))


@pytest.mark.parametrize("tol", [1e-4, 1e-8, 1e-12])
@pytest.mark.parametrize("case", ["gauss-tall", "sparse-tall", "decay-sparse"])
def test_tol_is_honoured(case: str, tol: float) -> None:
    A = CASES[case](np.float64)
    u, s, vh = rankwise.svds(A, 10, tol=tol, rng=0)
    # the solver's residual is the right one; the left one is smaller (u = A v / s)
    assert _residual(A, u, s, vh) <= max(tol, BOUND * _rounding(A, float(s.max())))


def test_tol_below_the_rounding_level_ends_there() -> None:
    """A tol no residual can reach is working precision (and converged), not an error."""
    A = CASES["gauss-tall"](np.float32)
    u, s, vh = rankwise.svds(A, 5, tol=1e-12, rng=0)
    assert _residual(A, u, s, vh) <= BOUND * _rounding(A, float(s.max()))


def test_ncv_is_the_search_space() -> None:
    """Any ncv in SciPy's range works, down to k.  A space of k + 2 vectors (blocks of
    one) gains little per cycle, and its stagnation test (a cycle that does not halve the
    residual within 32 units of the rounding level) ends it at 22 units here."""
    A = CASES["gauss-tall"](np.float64)
    for ncv, bound in ((10, 32), (11, 32), (24, BOUND), (120, BOUND), (300, BOUND)):
        u, s, vh = rankwise.svds(A, 10, ncv=ncv, tol=0, rng=0, maxiter=5000)
        assert _residual(A, u, s, vh) <= bound * _rounding(A, float(s.max())), ncv


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape_and_seed", [((1200, 300), 1), ((1200, 300), 2), ((500, 300), 40)])
def test_slow_steady_convergence_is_not_stagnation(
    shape_and_seed: tuple[tuple[int, int], int], dtype: type
) -> None:
    """ncv = k on a flat spectrum (a space of k + 2 vectors in blocks of one) gains about 3%
    a cycle for hundreds of cycles.  The stagnation test (no 25% gain in 3 cycles below
    sqrt(eps)) took that for a floor and reported tol = 0 as met at a residual of 1e-8
    (3.6e6 units; float32: 150-160 units, where the rounding level is near sqrt(eps)).  The
    iteration now goes on while the gain holds, to 12-24 units here."""
    (m, n), seed = shape_and_seed
    A = np.random.default_rng(seed).standard_normal((m, n)).astype(dtype)
    u, s, vh = rankwise.svds(A, 10, ncv=10, tol=0, rng=0)
    assert _residual(A, u, s, vh) <= 32 * _rounding(A, float(s.max()))


def test_near_full_rank_k() -> None:
    """k close to min(A.shape): the plain restart, still to working precision."""
    A = _gaussian(60, 30, np.float64, 9)
    u, s, vh = rankwise.svds(A, 28, tol=0, rng=0)
    assert _residual(A, u, s, vh) <= BOUND * _rounding(A, float(s.max()))


def test_deterministic_for_a_seed() -> None:
    A = CASES["sparse-tall"](np.float32)
    first = rankwise.svds(A, 8, rng=7)
    second = rankwise.svds(A, 8, rng=7)
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("seed", range(8))
def test_repeated_singular_values_of_small_matrices(seed: int) -> None:
    """A review found blocks of one or two vectors on small matrices missing a repeated
    value (diag(1, 1, 0.5, 0.25), k = 2: 1 and 0.5, reported converged) and a 15 x 15
    diagonal with a fourfold top value never converging; a space covering the short side is
    now one block, exact in one cycle."""
    rng = np.random.default_rng(seed)
    cases = [
        (np.diag([1.0, 1.0, 0.5, 0.25]), 2),
        (np.kron(np.eye(3), np.diag([2.0, 1.0])), 3),
        (np.diag(np.concatenate([np.ones(4), rng.uniform(0, 0.9, 11)])), 5),
        (np.diag(np.concatenate([np.ones(3), rng.uniform(0, 0.9, 6)]))[:, :8], 4),
    ]
    for A, k in cases:
        s = rankwise.svds(A, k=k, rng=seed, return_singular_vectors=False)
        exact = np.linalg.svd(A, compute_uv=False)[:k]
        np.testing.assert_allclose(np.sort(s)[::-1], exact, atol=1e-13)


def test_flat_spectrum_of_a_small_square_matrix_at_half_its_rank() -> None:
    """100 x 100 with a flat spectrum, k = 50: tol = 0 stopped at a residual of 1.4e-8."""
    rng = np.random.default_rng(3)
    Q1 = np.linalg.qr(rng.standard_normal((100, 100)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((100, 100)))[0]
    A = (Q1 * np.linspace(1.0, 0.5, 100)) @ Q2.T
    u, s, vh = rankwise.svds(A, k=50, rng=0)
    assert np.abs(A.T @ u - vh.T * s).max() < 1e-13
    np.testing.assert_allclose(np.sort(s)[::-1], np.linspace(1.0, 0.5, 100)[:50], atol=1e-13)


def test_a_tol_above_the_rounding_level_is_met_or_refused() -> None:
    """Tightly clustered float32 spectrum (top values within 1e-3 of each other): convergence
    stagnated at 7.6e-5 and svds reported tol = 1e-5, above the rounding level, as met; a
    tol it cannot reach now raises ArpackNoConvergence, and tol = 0 means working precision."""
    import scipy.sparse.linalg as spla

    rng = np.random.default_rng(0)
    Q1 = np.linalg.qr(rng.standard_normal((220, 200)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((200, 200)))[0]
    A = ((Q1 * (1 - 1e-3 * np.arange(200) / 200)) @ Q2.T).astype(np.float32)
    A64 = A.astype(np.float64)
    for tol in (1e-5, 3e-5):
        try:
            u, s, vh = rankwise.svds(A, k=5, rng=0, tol=tol)
        except spla.ArpackNoConvergence:
            continue
        right = np.linalg.norm(A64 @ vh.T.astype(np.float64) - u * s, axis=0).max()
        left = np.linalg.norm(A64.T @ u.astype(np.float64) - vh.T * s, axis=0).max()
        assert max(right, left) <= 2 * tol * float(s.max())
    # tol = 0: working precision, reported converged (test_tol0_float32_on_a_flat_spectrum)
    u, s, vh = rankwise.svds(A, k=5, rng=0)
    right = np.linalg.norm(A64 @ vh.T.astype(np.float64) - u * s, axis=0).max()
    left = np.linalg.norm(A64.T @ u.astype(np.float64) - vh.T * s, axis=0).max()
    s1 = float(np.linalg.norm(A64, 2))
    level = float(np.finfo(np.float32).eps) * (1 + float(np.linalg.norm(A64)) / s1)
    assert max(right, left) <= 8 * level * s1


@pytest.mark.parametrize("rows", [220, 3000])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("seed", range(3))
def test_tol0_float32_on_a_flat_spectrum(rows: int, sparse: bool, seed: int) -> None:
    """All 200 singular values within 1e-3 of each other, float32, k = 5: the Krylov blocks
    of such a near-isometry keep only about 3e-4 of their norm after the projection onto the
    space, and orthonormalize_against took them for rounding (its level was 256 eps
    sqrt(rows): 4.5e-4 on 220 rows) and put random directions in their place.  svds then
    stalled at 25-45 rounding units eps (1 + ||A||_F / s_1) on 220 rows and 130-140 on 3000
    and called it working precision; SciPy's arpack reaches 0.3-0.5.  Now 0.5-3.7."""
    rng = np.random.default_rng(0)
    Q1 = np.linalg.qr(rng.standard_normal((rows, 200)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((200, 200)))[0]
    A = ((Q1 * (1 - 1e-3 * np.arange(200) / 200)) @ Q2.T).astype(np.float32)
    A64 = A.astype(np.float64)
    u, s, vh = rankwise.svds(sp.csr_matrix(A) if sparse else A, k=5, rng=seed)
    right = np.linalg.norm(A64 @ vh.T.astype(np.float64) - u * s, axis=0).max()
    left = np.linalg.norm(A64.T @ u.astype(np.float64) - vh.T * s, axis=0).max()
    s1 = 1.0  # the largest singular value, to float32 rounding
    level = float(np.finfo(np.float32).eps) * (1 + float(np.linalg.norm(A64)) / s1)
    assert max(right, left) <= 8 * level * s1
    np.testing.assert_allclose(np.sort(s)[::-1], 1 - 1e-3 * np.arange(5) / 200, atol=1e-6)


def _low_rank_sparse(m: int, n: int, rank: int, seed: int) -> sp.csr_matrix:
    """A sparse matrix of rank `rank`: `rank` random sparse rows, each repeated with a random
    weight across the m rows (every row a multiple of one of them)."""
    rng = np.random.default_rng(seed)
    basis = sp.random(rank, n, density=0.05, random_state=seed, format="csr")
    rows = (rng.standard_normal(m), (np.arange(m), rng.integers(0, rank, m)))
    return (sp.csr_matrix(rows, shape=(m, rank)) @ basis).tocsr()


def _flat_low_rank(m: int, n: int, rank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((m, rank)))[0]
    V = np.linalg.qr(rng.standard_normal((n, rank)))[0]
    return (U * np.linspace(2, 1, rank)) @ V.T


def _power_law(m: int, n: int, seed: int) -> sp.csr_matrix:
    """0/1 entries, column degrees from a Pareto law (a bipartite graph's incidence)."""
    rng = np.random.default_rng(seed)
    degrees = np.minimum((rng.pareto(1.2, n) + 1).astype(int), m)
    rows = np.concatenate([rng.choice(m, d, replace=False) for d in degrees])
    cols = np.repeat(np.arange(n), degrees)
    return sp.csr_matrix((np.ones(degrees.sum()), (rows, cols)), shape=(m, n))


LOW_RANK = {  # name: (matrix in float64, k)
    "rank5-dense-tall": (
        lambda: _gaussian(500, 5, np.float64, 6) @ _gaussian(5, 300, np.float64, 7),
        10,
    ),
    "rank5-dense-wide": (
        lambda: _gaussian(300, 5, np.float64, 8) @ _gaussian(5, 500, np.float64, 9),
        10,
    ),
    "rank7-sparse-tall": (lambda: _low_rank_sparse(4000, 900, 7, 10), 10),
    "exp-decay-dense": (
        lambda: (
            (np.linalg.qr(_gaussian(900, 120, np.float64, 11))[0] * np.exp(-np.arange(120) / 3))
            @ np.linalg.qr(_gaussian(400, 120, np.float64, 12))[0].T
        ),
        10,
    ),
    # rank between k and the search space, flat spectrum: where a long-side basis
    # orthogonalized against its neighbour block only (one-sided reorthogonalization) lost
    # orthogonality unnoticed, and the thick restart kept the error (a review's cases,
    # session 30: no convergence in float32, 1e4-1e6 rounding units reported converged in
    # float64)
    "flat-rank120-k40": (lambda: _flat_low_rank(500, 300, 120, 0), 40),
    "flat-rank140-k40": (lambda: _flat_low_rank(500, 300, 140, 1), 40),
    "rank150-sparse-k60": (lambda: _low_rank_sparse(4000, 900, 150, 1), 60),
    "power-law-k46": (lambda: _power_law(1500, 200, 2), 46),
    "rank60-sparse-k20": (
        lambda: sp.csr_matrix(
            _gaussian(1000, 60, np.float64, 3) @ _gaussian(60, 200, np.float64, 4)
        ),
        20,
    ),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(LOW_RANK))
def test_low_numerical_rank(case: str, dtype: type) -> None:
    """Rank (or numerical rank) below the search space, where the Krylov space exhausts A's
    range within a cycle and the blocks' new parts are rounding errors."""
    make, k = LOW_RANK[case]
    A = make().astype(dtype)
    u, s, vh = rankwise.svds(A, k, tol=0, rng=0)
    # exp-decay-dense, float64: 14 units for rng seeds 0 and 1, 3 for 2 and 3 (arpack: 3-4):
    # the exit near the rounding level stops after a cycle that gains less than 2x there
    bound = 16 if case == "exp-decay-dense" else BOUND
    assert _residual(A, u, s, vh) <= bound * _rounding(A, float(s.max()))
    s_ref = np.linalg.svd(A.toarray() if sp.issparse(A) else A, compute_uv=False)[:k]
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(s[::-1], s_ref, rtol=0, atol=64 * eps * s_ref[0])
    np.testing.assert_allclose(u.T.astype(np.float64) @ u, np.eye(k), atol=64 * eps)
    np.testing.assert_allclose(vh.astype(np.float64) @ vh.T, np.eye(k), atol=64 * eps)


@pytest.mark.parametrize("seed", range(4))
def test_a_repeated_value_of_a_sparse_matrix_is_found_in_full(seed: int) -> None:
    """Sparse input gets narrower blocks than dense (check_svds_options); a block Krylov
    space holds only l vectors of an exactly repeated singular value with a small gap below
    it, and beyond that depends on rounding to seed the other copies: with blocks of 2 in a
    space of 64 an eightfold value came back as 4-6 copies and 4.99, 4.98, ... (SciPy's
    arpack: one copy of a fourfold value)."""
    A = sp.diags(np.r_[np.full(8, 5.0), np.arange(499.0, 0, -1) / 100]).tocsr()
    s = rankwise.svds(A, 10, rng=seed, return_singular_vectors=False)
    np.testing.assert_allclose(np.sort(s)[::-1], [5.0] * 8 + [4.99, 4.98], rtol=1e-12)


def _with_spectrum(m: int, s: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, s.size)))
    V, _ = np.linalg.qr(rng.standard_normal((s.size, s.size)))
    return (U * s) @ V.T


@pytest.mark.parametrize(
    ("mult", "k", "seed"),
    [(12, 20, 12), (16, 6, 16), (8, 3, 8), (16, 6, 21), (16, 6, 22), (32, 6, 17), (32, 6, 19)],
)
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_a_value_repeated_more_often_than_the_block_converges_to_working_precision(
    mult: int, k: int, seed: int, fmt: str
) -> None:
    """The iteration pauses on such a value (the block holds only some of its copies) at
    1e3-1e6 rounding units, and the stall rule took that for the floor and reported it
    converged (a review's sweep, session 33); stalls that high now go on, and converge.
    Later another copy enters the space and the residual jumps 1e3-1e10-fold from a few
    units, then falls 100x per cycle; the stall tests measured those cycles against the best
    before the jump and stopped at 14-270 units (session 41, seeds 21-22 and 32 copies; the
    H200 machine's NumPy 2.5 drew such a matrix for seed 16): a jump now restarts them."""
    sigma = np.r_[np.ones(mult), np.linspace(0.99, 0.01, 400 - mult)]
    A = _with_spectrum(600, sigma, seed)
    M = A if fmt == "dense" else sp.csr_array(A)
    u, s, vh = rankwise.svds(M, k=k, rng=0)
    assert _residual(A, u, s, vh) <= 2 * BOUND * _rounding(A, float(s.max()))
    np.testing.assert_allclose(np.sort(s)[::-1], sigma[:k], rtol=0, atol=1e-14)


def test_singular_values_clustered_closer_than_it_separates_are_not_reported_converged() -> None:
    """60 values within 1e-10 of 1: the Ritz vectors mix the cluster and the residual stalls
    at about 1e-9, 1e5-1e6 rounding units, which was reported as converged; SciPy's arpack
    runs to maxiter and raises there, and so does this now."""
    rng = np.random.default_rng(60)
    s = np.sort(np.r_[1 + 1e-10 * rng.standard_normal(60), np.linspace(0.9, 0.01, 340)])[::-1]
    A = _with_spectrum(800, s, 1)
    with pytest.raises(spla.ArpackNoConvergence, match="did not converge in 40 iterations"):
        rankwise.svds(A, k=6, rng=0, maxiter=40)


def test_an_implicitly_centred_operator_stalls_at_its_own_floor_and_converges() -> None:
    """Centring inside the products (scikit-learn's PCA on sparse data does so) leaves them
    with the rounding of the uncentred data, far above what the Ritz values suggest: a
    stall more than 1024 estimated units up is that operator's floor, not a cluster (the
    first version of that ceiling ran such operators to maxiter; a review, session 33)."""
    rng = np.random.default_rng(0)
    X = 3000 + rng.standard_normal((2000, 400)) * np.logspace(0, -2, 400)
    mu = X.mean(0)
    op = spla.LinearOperator(
        X.shape,
        dtype=np.float64,
        matvec=lambda v: X @ v - mu @ v,
        rmatvec=lambda u: X.T @ u - mu * u.sum(),
        matmat=lambda V: X @ V - np.outer(np.ones(len(X)), mu @ V),
        rmatmat=lambda U: X.T @ U - np.outer(mu, U.sum(0)),
    )
    _u, s, _vh = rankwise.svds(op, k=5, rng=1, maxiter=60)
    s_ref = np.linalg.svd(X - mu, compute_uv=False)[:5]
    np.testing.assert_allclose(s[::-1], s_ref, rtol=0, atol=1e-12 * s_ref[0])


def _counted(matvec: Any, rmatvec: Any, shape: tuple[int, int]) -> tuple[Any, list[int]]:
    """A LinearOperator from vector products, and a list counting the vectors multiplied."""
    count = [0]

    def both(f: Any) -> Any:
        def apply(x: np.ndarray) -> np.ndarray:
            X = x.reshape(x.shape[0], -1)
            count[0] += X.shape[1]
            return np.column_stack([f(X[:, j]) for j in range(X.shape[1])]).reshape(
                (-1, *x.shape[1:])
            )

        return apply

    op = spla.LinearOperator(
        shape,
        matvec=both(matvec),
        rmatvec=both(rmatvec),
        matmat=both(matvec),
        rmatmat=both(rmatvec),
        dtype=np.float64,
    )
    return op, count


def test_an_operator_whose_products_carry_noise_stops_at_its_floor() -> None:
    """Products far less accurate than rounding (float32 results declared float64; an
    inverse applied by CG to rtol = 1e-7) stall the residual above sqrt(eps), where the
    stall tests let slow convergence run: svds ran all 1000 cycles and raised (100796
    products), or took 52056 products where SciPy's arpack takes 724 (an acceptance review,
    session 44).  A long stall of an operator is now its floor."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 200))
    op, count = _counted(
        lambda x: (A @ x).astype(np.float32), lambda y: (A.T @ y).astype(np.float32), A.shape
    )
    s = rankwise.svds(op, 3, return_singular_vectors=False, rng=0)
    s_ref = np.linalg.svd(A, compute_uv=False)[:3]
    np.testing.assert_allclose(s[::-1], s_ref, rtol=1e-6)  # (float32 products: 2.7e-9)
    assert count[0] <= 5000  # (2092)

    n = 400
    T = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n), format="csr")

    def solve(b: np.ndarray) -> np.ndarray:
        return spla.cg(T, b, rtol=1e-7)[0]

    inverse, count = _counted(solve, solve, (n, n))
    s = rankwise.svds(inverse, 4, ncv=40, return_singular_vectors=False, rng=0)
    s_ref = np.linalg.svd(np.linalg.inv(T.toarray()), compute_uv=False)[:4]
    np.testing.assert_allclose(s[::-1], s_ref, rtol=1e-10)
    assert count[0] <= 3000  # (728; arpack 724)


# Sparse input runs the Lanczos iteration on A^T A first (normal_lanczos.hpp); a review's
# cases (session 32), each of which failed on its first version.


def _sparse_rotation(n: int, rng: np.random.Generator) -> sp.csr_matrix:
    """A sparse orthogonal matrix: two layers of permuted 4 x 4 block rotations."""
    Q = sp.identity(n, format="csr")
    for _ in range(2):
        blocks = [np.linalg.qr(rng.standard_normal((4, 4)))[0] for _ in range(n // 4)]
        Q = (
            sp.block_diag([sp.coo_matrix(b) for b in blocks], format="csr")[rng.permutation(n)] @ Q
        ).tocsr()
    return Q


def _sparse_with_spectrum(s: np.ndarray, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    n = len(s)
    return (_sparse_rotation(n, rng) @ sp.diags(s) @ _sparse_rotation(n, rng).T).tocsr()


def _creeping(dtype: type, tail: float) -> tuple[np.ndarray, sp.csr_matrix]:
    """A permuted diagonal: 12 values 1, 0.24 .. 0.2, then a tail at `tail`."""
    n = 1000
    rng = np.random.default_rng(0)
    s = np.r_[1.0, np.linspace(0.24, 0.2, 11), tail * np.linspace(1, 0.5, n - 12)]
    return s, sp.diags(s).tocsr()[rng.permutation(n)][:, rng.permutation(n)].astype(dtype)


def _plateau(dtype: type) -> tuple[np.ndarray, sp.csr_matrix]:
    """Rotated: 15 values 1 .. 0.86, then a tail from 1e-5 to 1e-6."""
    i = np.arange(1000)
    s = np.where(i < 15, 1.0 - 0.01 * i, 1e-5 * np.linspace(1, 0.1, 1000))
    return s, _sparse_with_spectrum(s, 3).astype(dtype)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _creeping(np.float64, 1e-8),
        lambda: _plateau(np.float32),
    ],
    ids=["creep-float64", "plateau-float32"],
)
def test_numerically_low_rank_normal_matrix_converges_in_few_cycles(make: Any) -> None:
    """A^T A of numerically low rank (a tail below sqrt(eps) s_1): Krylov blocks fall into the
    space and random columns take their place, which broke the thick restart's hold on the
    residuals; the Lanczos iteration crept for hundreds of cycles (float64) or never
    converged (float32) where the bidiagonalization needs 1-2."""
    s, A = make()
    u, sv, vh = rankwise.svds(A, 10, rng=0, maxiter=10)
    assert _residual(A, u, sv, vh) <= BOUND * _rounding(A, float(sv.max()))
    np.testing.assert_allclose(sv[::-1], s[:10], rtol=0, atol=64 * np.finfo(A.dtype).eps)


def test_right_vectors_stay_orthonormal_over_many_restarts() -> None:
    """The kept Ritz vectors V C drift from orthonormality at each restart (30-120 eps after
    8-26 cycles, the singular values 18-62 eps off with them) unless V_k is orthonormalized
    before the triplets are formed."""
    n = 1500
    s = np.r_[1 - 1e-5 * np.arange(300), 0.5 * np.linspace(1, 0.01, n - 300)]
    rng = np.random.default_rng(0)
    D = sp.vstack([sp.diags(s), sp.csr_matrix((1500, n))]).tocsr()
    A = D[rng.permutation(3000)][:, rng.permutation(n)]
    u, sv, vh = rankwise.svds(A, 10, rng=0)
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(vh @ vh.T, np.eye(10), rtol=0, atol=16 * eps)
    # U = A V S^-1 carries the rounding of products over 1500 terms: 38 eps with OpenBLAS's
    # SkylakeX kernels (about sqrt(n) eps)
    np.testing.assert_allclose(u.T @ u, np.eye(10), rtol=0, atol=64 * eps)
    np.testing.assert_allclose(sv[::-1], s[:10], rtol=0, atol=16 * eps)


def test_maxiter_bounds_the_cycles_reported_after_a_hand_over() -> None:
    """A hand-over to the bidiagonalization counts its cycles alone (it runs within maxiter);
    the message counted the Lanczos cycles as well, 2 iterations for maxiter = 1."""
    n = 1000
    s = np.r_[1.0, 0.02 * (1 - 1e-3 * np.arange(n - 1))]  # s_k < 64 sqrt(eps) s_1: handed over
    A = sp.diags(s).tocsr()[np.random.default_rng(0).permutation(n)].astype(np.float32)
    with pytest.raises(spla.ArpackNoConvergence, match="did not converge in 1 iterations"):
        rankwise.svds(A, 10, rng=0, maxiter=1)


@pytest.mark.parametrize("seed", range(6))
def test_a_tol_the_rounding_floor_keeps_out_of_reach_is_working_precision(seed: int) -> None:
    """340 x 413 Gaussian, k = 1: the iteration stops at its floor, 3-5 rounding units; a tol
    of 2-4 units raised ArpackNoConvergence on 3 of these seeds while tol = 0 converged.  A
    tol below 32 units is now working precision where the floor keeps it out of reach."""
    A = np.random.default_rng(seed).standard_normal((340, 413))
    level = float(np.finfo(np.float64).eps) * (1 + np.linalg.norm(A) / np.linalg.norm(A, 2))
    for units in (2, 4):
        u, s, vh = rankwise.svds(A, k=1, tol=units * level, rng=0)
        assert _residual(A, u, s, vh) <= 32 * level


@pytest.mark.parametrize("flag", [np.False_, 0, False])
def test_any_false_return_singular_vectors_returns_the_values_alone(flag: Any) -> None:
    """SciPy tests ``not return_singular_vectors``: np.False_ and 0 returned (u, s, vh)."""
    A = np.random.default_rng(0).standard_normal((50, 30))
    s = rankwise.svds(A, k=3, return_singular_vectors=flag, rng=0)
    assert isinstance(s, np.ndarray)
    assert s.shape == (3,)
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[2::-1], rtol=1e-12)


def test_a_rank_below_k_stays_with_the_lanczos_iteration() -> None:
    """A sparse matrix of rank 4, k = 6 (found by review: 8-34x SciPy's time): the values out
    of the squared problem's reach handed over to the bidiagonalization at once, whose
    long-side basis cost 2.2 s of 2.3 on 400000 x 2000; where their Ritz vectors are null
    vectors of A the Lanczos iteration now finishes (410 -> 218 vector products here), and
    the triplets are exact: zeros, orthonormal vectors, residuals at rounding."""
    from scipy.sparse.linalg import LinearOperator

    m = 20000
    S = sp.random(m, 4, density=0.01, random_state=3, format="csr")
    X = sp.hstack([S, sp.csr_matrix((m, 996))]).tocsr()
    products = [0]

    def counted(product: Any) -> Any:
        def call(V: np.ndarray) -> np.ndarray:
            products[0] += V.shape[1]
            return product(V)

        return call

    op = LinearOperator(
        X.shape,
        matvec=lambda v: X @ v,
        rmatvec=lambda v: X.T @ v,
        matmat=counted(lambda V: X @ V),
        rmatmat=counted(lambda V: X.T @ V),
        dtype=float,
    )
    for A in (X, op):
        u, s, vh = rankwise.svds(A, 6, rng=0)
        expected = np.linalg.svd(X.toarray(), compute_uv=False)[:6][::-1]
        np.testing.assert_allclose(s, expected, atol=1e-13 * expected.max())
        np.testing.assert_allclose(u.T @ u, np.eye(6), atol=1e-13)
        np.testing.assert_allclose(vh @ vh.T, np.eye(6), atol=1e-13)
        assert _residual(X, u, s, vh) <= 1e-13
    assert products[0] <= 300
