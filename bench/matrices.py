"""Generated test matrices (no downloads), cached for consecutive cases.

The caches hold one matrix each: cases that share a matrix are listed next to
each other, and a cached matrix is released as soon as another is needed.
"""

from functools import lru_cache

import numpy as np
import scipy.sparse as sp


def spectrum(n: int) -> np.ndarray:
    """Prescribed singular values sigma_j = 1/j, j = 1..n: a slow, heavy-tailed
    decay, as in text and recommender data, on which power iterations matter."""
    return 1.0 / np.arange(1, n + 1, dtype=np.float64)


@lru_cache(maxsize=1)
def dense_known_spectrum(m: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A = U diag(sigma) V^T (float64, C order, m >= n) and sigma.

    U (m x n) and V (n x n) are the Q factors of Gaussian matrices, so the
    singular values of A are exactly :func:`spectrum` (up to rounding), with
    no SVD needed. Randomized SVDs with Gaussian test matrices, and Krylov
    methods from a random start, behave the same for any U and V.
    """
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    sigma = spectrum(n)
    u *= sigma
    return u @ v.T, sigma


@lru_cache(maxsize=1)
def sparse_power_law(m: int, n: int, nnz: int, seed: int = 0) -> sp.csr_matrix:
    """Random ``csr_matrix`` with ``nnz`` uniform(0, 1) entries at uniform random
    positions, rows scaled by (i+1)^-1/2 and columns by (j+1)^-1/2.

    The power-law scaling (popular items, active users) makes the spectrum
    decay, unlike an unscaled random sparse matrix whose spectrum is flat.
    """
    rng = np.random.default_rng(seed)
    a = sp.random(m, n, density=nnz / (m * n), format="csr", rng=rng)
    rows = np.repeat(np.arange(m), np.diff(a.indptr))
    a.data *= (rows + 1.0) ** -0.5 * (a.indices + 1.0) ** -0.5
    return a
