"""Randomized SVD of dask arrays: a dask graph whose tasks run rankwise's native kernels on
each chunk.

The matrix is split into row blocks A_i (a tall-and-skinny layout: every chunk spans all
columns; a matrix chunked by columns too is rechunked, a wide one is handled through its
transpose).  The algorithm is the in-memory one (Halko, Martinsson & Tropp 2011,
Algorithm 4.4 + 5.1; ``rankwise.svd(method="subspace")``) with the same Philox sketch, so
that the same seed gives the same factors up to rounding:

* ``Y = A Omega``: one task per block, ``Y_i = A_i Omega`` (Omega is n x l, in every task);
* orthonormalization of the tall Y by CholeskyQR2 over a reduction tree: the l x l Gram
  matrices ``Y_i^T Y_i`` are summed pairwise (fan-in 8), the Cholesky factor R is computed
  on the client and ``Y_i R^-1`` is again one task per block; no tall block is ever gathered
  on one worker (Fukaya et al. 2014; shifted CholeskyQR3 when Y is ill-conditioned);
* ``Z = A^T Y = sum_i A_i^T Y_i``: partial products summed over the same tree;
* the final Rayleigh-Ritz step on the client: ``W = A^T Q`` (n x l) has the SVD
  ``Uw S Vw^T``, then ``U = Q Vw`` (one task per block) and ``V = Uw``.

Passes over A: 2q + 2 for q power iterations (each reads every block once); the tall blocks
Y and Q are persisted between passes (m x l in the cluster's memory), small ones (n x l,
l x l) come to the client.  Communication per pass: each worker sends one n x l partial sum
(or l x l Gram matrix) up the tree and receives Omega or Z (n x l): O(n l log_8 P) words for
P blocks, independent of m.

dask does the scheduling, transport and fault handling: a worker lost mid-run has its tasks
recomputed from the graph.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg

from . import _core
from ._validate import as_matrix

FAN_IN = 8
"""Partial sums combined per task in the reduction trees."""


def is_dask_array(A: Any) -> bool:
    return type(A).__module__.split(".", 1)[0] == "dask" and hasattr(A, "chunks")


# --------------------------------------------------------------------------- #
# Per-block tasks (run on the workers)
# --------------------------------------------------------------------------- #


def _times(block: Any, X: np.ndarray) -> np.ndarray:
    """A_i @ X with rankwise's native dense or sparse kernel."""
    mat = as_matrix(block, "a chunk of A")
    return np.asarray(_core.apply(mat.op, X.astype(mat.dtype, copy=False), False))


def _rtimes(block: Any, Y: np.ndarray) -> np.ndarray:
    """A_i^T @ Y_i."""
    mat = as_matrix(block, "a chunk of A")
    return np.asarray(_core.apply(mat.op, Y.astype(mat.dtype, copy=False), True))


def _gram(Y: np.ndarray) -> np.ndarray:
    return Y.T @ Y


def _solve_right(Y: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Y R^-1 for upper triangular R."""
    return scipy.linalg.solve_triangular(R, Y.T, trans="T", lower=False).T


def _times_small(Y: np.ndarray, M: np.ndarray) -> np.ndarray:
    return Y @ M


def _sum_squares(Y: np.ndarray) -> float:
    return float(np.sum(Y.astype(np.float64) ** 2))


def _add_floats(*parts: float) -> float:
    return float(sum(parts))


def _add(*parts: np.ndarray) -> np.ndarray:
    total = parts[0].copy()
    for p in parts[1:]:
        total += p
    return total


def _largest_entries(U: np.ndarray) -> np.ndarray:
    """Per column, the entry of largest magnitude (first on ties), as a 1 x k row."""
    rows = np.argmax(np.abs(U), axis=0)
    return U[rows, np.arange(U.shape[1])][np.newaxis, :]


def _pick_largest(*rows: np.ndarray) -> np.ndarray:
    stacked = np.vstack(rows)
    which = np.argmax(np.abs(stacked), axis=0)
    return stacked[which, np.arange(stacked.shape[1])][np.newaxis, :]


# --------------------------------------------------------------------------- #
# Graph helpers (run on the client)
# --------------------------------------------------------------------------- #


def _tree(parts: list[Any], combine: Any) -> Any:
    """Combine delayed values pairwise-ish (FAN_IN at a time) into one."""
    from dask import delayed

    while len(parts) > 1:
        parts = [delayed(combine)(*parts[i : i + FAN_IN]) for i in range(0, len(parts), FAN_IN)]
    return parts[0]


def _persist(blocks: list[Any]) -> list[Any]:
    import dask

    return list(dask.persist(*blocks))


def _compute(value: Any) -> Any:
    import dask

    return dask.compute(value)[0]


def _cholqr_step(blocks: list[Any], shift: float = 0.0) -> list[Any] | None:
    """One CholeskyQR step over the blocks; None when the Gram matrix is too ill-conditioned
    for the step to keep orthogonality."""
    from dask import delayed

    G = _compute(_tree([delayed(_gram)(b) for b in blocks], _add))
    l = G.shape[0]
    G = G + shift * np.eye(l, dtype=G.dtype)
    try:
        R = scipy.linalg.cholesky(G, lower=False)
    except np.linalg.LinAlgError:
        return None
    d = np.abs(np.diagonal(R))
    eps = float(np.finfo(G.dtype).eps)
    if not np.all(np.isfinite(d)) or d.min() <= 1e2 * math.sqrt(eps) * d.max():
        return None
    return _persist([delayed(_solve_right)(b, R) for b in blocks])


def _orthonormalize(blocks: list[Any], m: int, l: int, dtype: np.dtype) -> list[Any]:
    """CholeskyQR2 of the tall matrix stacked from `blocks`; shifted CholeskyQR3 (Fukaya,
    Kannan, Nakatsukasa, Yamamoto, Yanagisawa 2020) when it is too ill-conditioned."""
    from dask import delayed

    first = _cholqr_step(blocks)
    if first is None:
        fro2 = float(_compute(_tree([delayed(_sum_squares)(b) for b in blocks], _add_floats)))
        eps = float(np.finfo(dtype).eps)
        shift = 11.0 * (m * l + l * (l + 1)) * (eps / 2) * fro2
        first = _cholqr_step(blocks, shift) if fro2 > 0 else None
        if first is not None:
            first = _cholqr_step(first)
        if first is None:
            raise np.linalg.LinAlgError(
                "the sketch of A is numerically rank deficient; use a smaller k"
            )
    second = _cholqr_step(first)
    if second is None:
        raise np.linalg.LinAlgError("CholeskyQR2 lost orthogonality on the sketch of A")
    return second


def _row_blocks(A: Any) -> tuple[Any, bool]:
    """A (or A^T when A is wide) as a dask array whose chunks span all columns."""
    transposed = A.shape[1] > A.shape[0]
    B = A.T if transposed else A
    if len(B.chunks[1]) > 1:
        B = B.rechunk({1: -1})
    return B, transposed


def svd(A: Any, k: int, l: int, n_iter: int, key: tuple[int, int]) -> tuple[Any, Any, Any]:
    """Rank-k randomized SVD of the dask array A (checked by the caller: 2-D, k <= l <=
    min(m, n)).  Returns (U, s, Vt): the large factor (U for a tall A, Vt for a wide one) as
    a dask array chunked like A, the others as numpy arrays."""
    import dask.array as da
    from dask import delayed

    B, transposed = _row_blocks(A)
    m, n = (int(d) for d in B.shape)
    dtype = np.dtype(np.float32) if B.dtype == np.float32 else np.dtype(np.float64)
    blocks = list(B.to_delayed().ravel())
    rows = [int(c) for c in B.chunks[0]]

    # The in-memory algorithm's sketch: Omega (n x l) from the key, stream 0.
    Omega = np.asarray(_core.standard_normal(n, l, key[0], key[1], 0, dtype.name))
    Y = _persist([delayed(_times)(b, Omega) for b in blocks])
    for _ in range(n_iter):
        Q = _orthonormalize(Y, m, l, dtype)
        Z = _compute(_tree([delayed(_rtimes)(b, q) for b, q in zip(blocks, Q, strict=True)], _add))
        Z = np.linalg.qr(Z)[0].astype(dtype, copy=False)
        Y = _persist([delayed(_times)(b, Z) for b in blocks])
    Q = _orthonormalize(Y, m, l, dtype)

    # Rayleigh-Ritz: W = B^T Q = Uw S Vw^T, then U = Q Vw, V = Uw (HMT 2011, Algorithm 5.1).
    W = _compute(_tree([delayed(_rtimes)(b, q) for b, q in zip(blocks, Q, strict=True)], _add))
    Uw, s, Vwt = scipy.linalg.svd(W, full_matrices=False, lapack_driver="gesdd")
    Vk = np.ascontiguousarray(Vwt[:k].T).astype(dtype, copy=False)
    V = Uw[:, :k].astype(dtype, copy=False)
    s = s[:k].astype(dtype, copy=False)
    U_blocks = _persist([delayed(_times_small)(q, Vk) for q in Q])
    U = da.concatenate(
        [
            da.from_delayed(u, shape=(r, k), dtype=dtype)
            for u, r in zip(U_blocks, rows, strict=True)
        ]
    )

    # Sign convention of the in-memory result: the largest entry of each column of the left
    # factor of A is positive (for a wide A that factor is V, on the client).
    if transposed:
        top = _largest_entries(V)
    else:
        top = _compute(_tree([delayed(_largest_entries)(u) for u in U_blocks], _pick_largest))
    signs = np.sign(top[0]).astype(dtype)
    signs[signs == 0] = 1
    U = U * signs
    V = V * signs
    if transposed:  # B = A^T = U S V^T, so A = V S U^T: the left factor is small here
        return V, s, U.T
    return U, s, V.T
