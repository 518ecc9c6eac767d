"""The core matrices of rankwise.cur and the stable products they are evaluated through.

Each core is returned twice: as the explicit ``U`` of ``A ~ C U R`` (what users read), and as a
:class:`CoreProduct` ``left @ middle @ right`` equal to ``C U R`` in exact arithmetic, in which
``left`` or ``right`` has orthonormal columns (rows) instead of being C (R).  Evaluating
``C @ U @ R`` as written loses accuracy when C or R is ill-conditioned, which is the normal case
for a matrix with decaying singular values: U then has entries of size ``1 / sigma_min(C)`` and
the products cancel.  Park & Nakatsukasa ("Accuracy and stability of CUR decompositions with
oversampling", 2024) show that the cross approximation is computed stably as
``Q (Q[I, :])^+ A[I, :]`` with ``C = Q T`` a thin QR, since ``A[I, J] = Q[I, :] T`` and so
``C A[I, J]^+ R = Q T T^{-1} Q[I, :]^+ R``.  The same idea gives the pinv core as the
projection ``Qc (Qc^T A Qr) Qr^T``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ._validate import Matrix


@dataclass(frozen=True)
class CoreProduct:
    """``C U R`` as ``left @ middle @ right``, with left (m x a) and right (b x n) dense or
    sparse and middle (a x b) small and dense."""

    left: Any
    middle: np.ndarray
    right: Any


def _dense(X: Any) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def _rank_revealing_qr(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``M = Q T`` with Q (m x r) orthonormal and T (r x n), r the numerical rank of M: the
    pivoted QR's diagonal above ``eps sqrt(max(m, n)) |t_11|``, the size of the rounding
    that Householder QR leaves in place of an exactly dependent column.  A larger cut
    (``eps max(m, n)``) dropped weak but genuine directions of C: the stabilized core of
    float32 matrices whose singular values fall below eps within the rank lost 10x
    (tests/test_cur_stability.py)."""
    return _pivoted_cut(M, max(M.shape))


def _pivoted_cut(M: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """_rank_revealing_qr's factors of M, with the cut of a matrix whose larger dimension is
    ``size``."""
    Q, T, perm = scipy.linalg.qr(M, mode="economic", pivoting=True, check_finite=False)
    d = np.abs(np.diag(T))
    eps = float(np.finfo(M.dtype).eps)
    r = int(np.count_nonzero(d > eps * math.sqrt(size) * d[0])) if d.size else 0
    T_unpivoted = np.empty((r, M.shape[1]), dtype=T.dtype)
    T_unpivoted[:, perm] = T[:r]
    return Q[:, :r], T_unpivoted


def rank_cut(T: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """For the T of a plain thin QR ``M = Q T`` of an M with ``rows`` rows (on any device, or
    a dask array): ``T = Qt T'`` with Qt (k x r) orthonormal and T' (r x n) of full row rank
    r, M's numerical rank by :func:`_rank_revealing_qr`'s rule, so that ``M = (Q Qt) T'``
    and ``Q Qt`` spans M's range only (Q Qt is the caller's product, where Q lives).  Q
    being orthonormal, the pivoted QR of T is that of M."""
    T = np.asarray(T)
    return _pivoted_cut(T, max(rows, T.shape[1]))


def _plain_qr(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return scipy.linalg.qr(M, mode="economic", check_finite=False)


def thin_qr(M: Any, *, truncate: bool = False) -> tuple[Any, np.ndarray]:
    """``M = Q T`` with orthonormal columns Q and T upper triangular (or trapezoidal).

    ``truncate``: Q has as many columns as M's numerical rank (:func:`_rank_revealing_qr`)
    and spans M's range only, T has full row rank.  The cores need it: for a
    rank-deficient C the plain QR gives Q a column outside the range of C, and
    ``Q (Q[I, :])^+ R`` is then not ``C U R`` (found by fuzzing: A with one nonzero row,
    k = 2, Q-DEIM, core="stabilized": relative error 0.36 instead of rounding); nor is the
    pinv core's projection ``Qc Qc^T A Qr Qr^T`` (a zero column of C, picked by a sampling
    method on a sparse A: ``d @ x`` 10-28% away from ``C @ (U @ (R @ x))``).

    A sparse M gives a sparse Q that is nonzero on M's nonzero rows only (the range of M lies
    in the span of those coordinates), so the QR is of the small dense block of those rows.
    """
    qr = _rank_revealing_qr if truncate else _plain_qr
    if not sp.issparse(M):
        return qr(np.asarray(M))
    Ms = sp.csr_array(M)
    nonzero_rows = np.flatnonzero(np.diff(Ms.indptr))
    if nonzero_rows.size == 0:  # M = 0: an empty basis
        return sp.csr_array((M.shape[0], 0), dtype=M.dtype), np.zeros((0, M.shape[1]), M.dtype)
    Qs, T = qr(Ms[nonzero_rows].toarray())
    embed = sp.csr_array(
        (np.ones(nonzero_rows.size, dtype=M.dtype), (nonzero_rows, np.arange(nonzero_rows.size))),
        shape=(M.shape[0], nonzero_rows.size),
    )
    return sp.csr_array(embed @ Qs), T


def _apply(A: Any, mat: Matrix, X: np.ndarray) -> np.ndarray:
    """A @ X for dense X, whatever A is."""
    if mat.kind == "operator":
        from scipy.sparse.linalg import aslinearoperator

        return np.asarray(aslinearoperator(A).matmat(X), dtype=mat.dtype)
    if mat.kind == "dense":
        return np.asarray(A, dtype=mat.dtype) @ X
    return np.asarray(A @ X, dtype=mat.dtype)


def pinv_core(A: Any, mat: Matrix, C: Any, R: Any) -> tuple[np.ndarray, CoreProduct]:
    """U = C^+ A R^+, the core that minimizes ||A - C U R||_F for the given C and R.

    With thin QRs C = Qc Tc and R^T = Qr Tr truncated at the numerical ranks of C and R
    (:func:`thin_qr`), Tc and Tr have full row rank: U = Tc^+ (Qc^T A Qr) Tr^{+T}, and
    C U R = Qc Tc Tc^+ (Qc^T A Qr) (Tr Tr^+)^T Qr^T is the projection Qc (Qc^T A Qr) Qr^T.
    A column of C (row of R) dependent on the others to working precision counts as
    dependent in both.  One product of A with |rows| vectors.  For sparse A the Q
    factors are nonzero only on the nonzero rows S of C and columns T of R, so the product is
    with the submatrix A[S, T], never with A itself (200000 x 30000 with 2M nonzeros, k = 50:
    |S| ~ 3300 and |T| ~ 550 instead of 200000 and 30000).
    """
    Qc, Tc = thin_qr(C, truncate=True)
    Qr, Tr = thin_qr(R.T, truncate=True)
    product = _sparse_middle(A, mat, Qc, Qr) if mat.kind == "sparse" else Qc.T @ _apply(A, mat, Qr)
    middle = product.astype(mat.dtype, copy=False)
    U = row_rank_pinv(Tc) @ middle @ row_rank_pinv(Tr).T
    return U, CoreProduct(Qc, middle, Qr.T)


def row_rank_pinv(T: np.ndarray) -> np.ndarray:
    """T^+ of a T with full row rank (r x n, r <= n), every singular value kept, so that
    T T^+ = I: a cutoff here would drop directions the truncated Q keeps."""
    return np.linalg.pinv(T, rcond=0.0).astype(T.dtype, copy=False)


def _sparse_middle(A: Any, mat: Matrix, Qc: Any, Qr: Any) -> np.ndarray:
    """Qc^T A Qr for sparse A and sparse Qc, Qr from :func:`thin_qr`: with S and T their
    nonzero rows, Qc[S]^T A[S, T] Qr[T]."""
    S = np.flatnonzero(np.diff(sp.csr_array(Qc).indptr))
    T = np.flatnonzero(np.diff(sp.csr_array(Qr).indptr))
    if S.size == 0 or T.size == 0:  # C = 0 or R = 0: C^+ = 0 or R^+ = 0
        return np.zeros((Qc.shape[1], Qr.shape[1]), dtype=mat.dtype)
    As = A if A.format in ("csr", "csc") else A.tocsr()
    A_st = As[:, T][S] if As.format == "csc" else As[S][:, T]
    Qc_s = sp.csr_array(Qc)[S].toarray()
    Qr_t = sp.csr_array(Qr)[T].toarray()
    return Qc_s.T @ np.asarray(A_st.astype(mat.dtype, copy=False) @ Qr_t)


def _truncated_pinv(W: np.ndarray) -> np.ndarray:
    """W^+_eps: the pseudoinverse with the singular values below eps max(W.shape) sigma_1
    dropped; it never amplifies rounding errors by more than 1 / (eps sigma_1)."""
    u, s, vt = np.linalg.svd(W, full_matrices=False)
    eps = np.finfo(W.dtype).eps
    keep = s > s[0] * eps * max(W.shape) if s.size and s[0] > 0 else np.zeros(s.size, bool)
    return (vt[keep].T / s[keep]) @ u[:, keep].T


def _check_cross(W: np.ndarray) -> None:
    if W.shape[0] != W.shape[1]:
        raise ValueError(
            f"core='cross' needs as many rows as columns; got {W.shape[0]} rows and "
            f"{W.shape[1]} columns (use core='stabilized' or 'pinv' with oversampling)"
        )
    s = np.linalg.svd(W, compute_uv=False)
    eps = np.finfo(W.dtype).eps
    if not s[-1] > s[0] * eps * max(W.shape):
        raise ValueError(
            "A[rows, cols] is singular to working precision, so core='cross' is undefined; "
            "use core='stabilized' or core='pinv', or a smaller k"
        )


def cross_core(
    C: Any,
    R: Any,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    truncate: bool,
    side: Literal["C", "R"] | None = None,
) -> tuple[np.ndarray, CoreProduct]:
    """U = A[I, J]^{-1} (``truncate=False``: square and nonsingular only) or A[I, J]^+_eps
    (``truncate=True``, the stabilized cross of Park & Nakatsukasa 2024).

    The product is Park & Nakatsukasa's stable form: with more rows than columns (or as many),
    ``C = Q T`` and ``C U R = Q (Q[I, :])^+ R``; with more columns, the same on the other side,
    ``R^T = Q T`` and ``C U R = C (Q[J, :]^T)^+ Q^T``; with as many, the side with fewer rows
    (the cheaper QR), or the one ``side`` names.  The truncation is applied to the
    submatrix of Q, whose singular values lie in [1 / eta, 1] (eta the selection's
    interpolation constant), so it drops only directions the selection cannot resolve.
    """
    W = _dense(R[:, cols])
    if not truncate:
        _check_cross(W)
    invert = _truncated_pinv if truncate else np.linalg.inv
    if side is None and rows.size != cols.size:
        side = "C" if rows.size > cols.size else "R"
    elif side is None:  # the QR of the shorter of C (m x k) and R^T (n x k)
        side = "C" if C.shape[0] <= R.shape[1] else "R"
    if side == "C":
        Q, T = thin_qr(C, truncate=True)
        X = invert(_dense(Q[rows]))  # (Q[I, :])^+: |J'| x |I|
        U = np.linalg.pinv(T) @ X  # C U R = Q T T^+ X R = Q X R: T has full row rank
        return U, CoreProduct(Q, X, R)
    Q, T = thin_qr(R.T, truncate=True)
    X = invert(_dense(Q[cols]).T)  # (Q[J, :]^T)^+: |J| x |I'|
    U = X @ np.linalg.pinv(T).T
    return U, CoreProduct(C, X, Q.T)
