"""Randomized SVD of dask arrays: a dask graph whose tasks run rankwise's native kernels on
each chunk.

The matrix is used in its own chunks A_ij (a wide one through its transpose): products with
A sum the blocks' products over j for every row block i, products with A^T over i for every
column block j, so A is never rechunked or moved; the tall factors live in row blocks.
The algorithm is the in-memory one (Halko, Martinsson & Tropp 2011, Algorithm 4.4 + 5.1;
``rankwise.svd(method="subspace")``) with the same Philox sketch, so that the same seed
gives the same factors up to rounding as the in-memory call on the matrix the graph works
on: A itself when it is tall, A^T when it is wide (the sketch is then drawn for A^T, and the
result is the in-memory one of A^T, transposed back, not that of A):

* ``Y = A Omega``: one task per block, ``Y_i = sum_j A_ij Omega_j`` (a tree over j when A
  has several column blocks);
* orthonormalization of the tall Y by shifted CholeskyQR3 over a reduction tree: the
  l x l Gram matrices ``Y_i^T Y_i`` are summed FAN_IN at a time, the Cholesky factor R is a
  task and ``Y_i R^-1`` is again one task per block; no tall block is ever gathered on one
  worker (Fukaya, Kannan, Nakatsukasa, Yamamoto, Yanagisawa, SISC 2020).  Between power
  iterations the shifted step alone (a well-conditioned basis is enough there).  Where Y
  is numerically rank deficient (a plain step's Cholesky fails: A of rank below l, or a
  fast-decaying spectrum with few power iterations), dask's Householder TSQR of Y instead,
  as the in-memory method falls back to Householder QR; the single-pass method persists its
  sketches from its one read of A for that, the power method makes Y again;
* ``Z = A^T Y``: ``Z_j = sum_i A_ij^T Y_i``, partial products summed over a tree;
* the final Rayleigh-Ritz step: ``W = A^T Q`` (n x l) has the SVD ``Uw S Vw^T``, then
  ``U = Q Vw`` (one task per block) and ``V = Uw``.  The third CholeskyQR step's R^-1 is
  applied on the small side (``W = (A^T Q2) R3^-1``, ``U = Q2 (R3^-1 Vw)``), and each
  power step's ``Y_i R^-1`` is made by the task that multiplies it by ``A_i^T``: one task
  per block and pass, no pass over a tall block on its own.

Passes over A: 2q + 2 for q power iterations (each reads every block once; 2q + 1 more
where the TSQR fallback makes Y again, none more for the single-pass method).  The whole
computation is one graph, persisted once: small steps (Cholesky factors, the QR of the
n x l block Z, the final SVD) are tasks, so nothing comes back to the client in between.
Communication per pass: each block sends one n x l partial sum (or three l x l Gram
matrices) up the tree and receives Omega or Z (n x l): O(n l log_8 P) words for P blocks,
independent of m.

dask does the scheduling, transport and fault handling: a worker lost mid-run has its tasks
recomputed from the graph.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse

from . import _core, _dask_gpu
from ._cur_core import rank_cut, row_rank_pinv, thin_qr
from ._gpu import is_device_array
from ._validate import as_matrix

FAN_IN = 8
"""Partial sums combined per task in the reduction trees, at least (large blocks)."""
SMALL_FAN_IN = 64
"""The same for l x l Gram matrices and 1 x k rows: one level up to 64 blocks (each level
of a tree is a round of messages, which is what a small problem pays)."""
TREE_TASK_BYTES = 64 * 2**20
"""What the partial sums that one task of a tree adds may take together (_fan_in)."""


def _fan_in(block_bytes: int) -> int:
    """Partial sums per task for blocks of ``block_bytes``: as many as fit in
    TREE_TASK_BYTES, between FAN_IN and SMALL_FAN_IN.  Each level of a tree is a round of
    messages through the scheduler, which small problems pay for: with FAN_IN alone, the
    10 or 20 n x l partial sums of the benchmark's matrices took two levels (bench/RESULTS.md,
    dask, session 24)."""
    return max(FAN_IN, min(SMALL_FAN_IN, TREE_TASK_BYTES // max(block_bytes, 1)))


def is_dask_array(A: Any) -> bool:
    return type(A).__module__.split(".", 1)[0] == "dask" and hasattr(A, "chunks")


def without_empty_chunks(A: Any) -> Any:
    """A with its empty chunks (zero rows or columns, as boolean indexing leaves them) merged
    away: dask's own reductions fail on them (``da.abs(A).max()`` raises "all the input
    array dimensions ... must match exactly", dask 2026.8), and so did every task here that
    takes an argmax.  Each remaining chunk is an original one, so nothing moves; the large
    factors are then chunked like A without its empty chunks."""
    if not any(0 in c for c in A.chunks):
        return A
    return A.rechunk(tuple(tuple(c for c in axis if c) or (0,) for axis in A.chunks))


# --------------------------------------------------------------------------- #
# Per-block tasks (run on the workers)
# --------------------------------------------------------------------------- #


# A tall block is made together with its Gram matrix, (Y_i, Y_i^T Y_i): the task that makes
# a block also makes what the next reduction needs (the graph's size, not the arithmetic, is
# what a small problem pays).  In the graph such a pair is used twice (_split): the reduction
# trees take the l x l Gram matrix alone (one getitem task), so the tall blocks never leave
# the worker that holds their rows of A, and the next task on the block takes the pair
# itself (it runs where the pair is; _tall unpacks it), which saves a second getitem task.
Pair = tuple[np.ndarray, np.ndarray]


def _tall(Y: Any) -> Any:
    """The tall block of a (Y_i, Y_i^T Y_i) pair, or Y itself."""
    return Y[0] if isinstance(Y, tuple) else Y


def _split(pair: Any) -> tuple[Any, Any]:
    """(the delayed pair, its Gram matrix) for a delayed (Y_i, Y_i^T Y_i)."""
    return pair, pair[1]


CHUNK = "a chunk of A"


def _apply(block: Any, X: np.ndarray, transpose: bool, check: bool = True) -> np.ndarray:
    """A_i @ X (or A_i^T @ X) by rankwise's native dense or sparse kernel (a CuPy chunk: on
    its device, python/rankwise/_dask_gpu.py).  ``check``: scan the block for NaN/Inf."""
    if is_device_array(block):
        return _dask_gpu.apply(block, X, transpose, check, CHUNK)
    mat = as_matrix(block, CHUNK, check_finite=check)
    return np.asarray(_core.apply(mat.op, X.astype(mat.dtype, copy=False), transpose))


def _times(block: Any, X: np.ndarray, check: bool = True) -> np.ndarray:
    return _apply(block, X, False, check)


def _times_gram(block: Any, X: np.ndarray, check: bool = True) -> Pair:
    """(A_i @ X, its Gram matrix).  Every product of a task goes through the core, none
    through numpy: numpy's multithreaded BLAS on skinny products stalls whenever a core is
    busy elsewhere (measured: 0.35 s to 12 s for the same graph), and alternating it with the
    core's OpenMP loops wakes two spinning thread pools in turn.

    ``check``: NaN/Inf in the block.  A non-finite entry of A_i makes a whole row of A_i X
    non-finite (X Gaussian or dense), hence a diagonal entry of the Gram matrix: the block is
    scanned only then, to tell bad input (which raises) from an overflow (which the Cholesky
    factorization reports).  A scan of every block would cost a third of its product."""
    Y = _times(block, X, False)
    G = _gram(Y)
    if check and not np.isfinite(np.diagonal(G)).all():
        _check_chunk(block)
    return Y, G


def _check_chunk(block: Any) -> None:
    """ValueError if the chunk holds NaN or Inf (a full scan of it)."""
    if is_device_array(block):
        _dask_gpu.check_finite(block, CHUNK)
    else:
        as_matrix(block, CHUNK, check_finite=True)


def _gram(Y: np.ndarray) -> np.ndarray:
    """Y^T Y, a host array (Y may be a CuPy block)."""
    return _dask_gpu.gram(Y) if is_device_array(Y) else np.asarray(_core.gram(Y))


def _rtimes(block: Any, Y: np.ndarray, R_inv: np.ndarray | None = None) -> np.ndarray:
    """A_i^T @ Y_i, or A_i^T @ (Y_i R^-1) with the block Y_i R^-1 made here and dropped (the
    task that makes a basis block also uses it: one task per block and pass, and no tall
    block stored between them).  Y_i comes from a product with A_i, which scanned it.  A
    host array (n x l: the partial sums are reduced on the host)."""
    Y = _tall(Y)
    Q = Y if R_inv is None else _times_small(Y, R_inv)
    return _dask_gpu.to_host(_apply(block, Q, True, False))


def _solve_gram(Y: np.ndarray, R_inv: np.ndarray) -> Pair:
    """(Y_i R^-1, its Gram matrix), with R^-1 formed once on the small side (the CholeskyQR
    step after it restores the orthogonality that an explicit inverse may cost)."""
    Y = _tall(Y)
    if is_device_array(Y):
        Z = _dask_gpu.times_small(Y, R_inv)
        return Z, _dask_gpu.gram(Z)
    Z, G = _core.times_and_gram(Y, R_inv)
    return np.asarray(Z), np.asarray(G)


def _times_small(Y: np.ndarray, M: np.ndarray) -> np.ndarray:
    Y = _tall(Y)
    if is_device_array(Y):
        return _dask_gpu.times_small(Y, M)
    return np.asarray(_core.times(Y, M))


def _add(*parts: np.ndarray) -> np.ndarray:
    total = parts[0].copy()
    # (in the task's thread) an overflow of a Gram matrix of entries near the float maximum
    # is left to the Cholesky factorization's finiteness check, which run_dask_scaled
    # retries on A scaled by a power of two: no RuntimeWarning from the failed first try
    with np.errstate(over="ignore", invalid="ignore"):
        for p in parts[1:]:
            total += p
    return total


def _largest_entries(U: np.ndarray) -> np.ndarray:
    """Per column, the entry of largest magnitude (first on ties), as a 1 x k host row."""
    if is_device_array(U):
        return _dask_gpu.largest_entries(U)
    rows = np.argmax(np.abs(U), axis=0)
    return U[rows, np.arange(U.shape[1])][np.newaxis, :]


def _largest_entries_of_product(Q: np.ndarray, M: np.ndarray) -> np.ndarray:
    """_largest_entries(Q_i M), the product made and dropped (it is made again, with the
    signs applied, once all blocks' entries are known: cheaper than storing and rescaling
    it, and one task per block)."""
    return _largest_entries(_times_small(Q, M))


def _pick_largest(*rows: np.ndarray) -> np.ndarray:
    stacked = np.vstack(rows)
    which = np.argmax(np.abs(stacked), axis=0)
    return stacked[which, np.arange(stacked.shape[1])][np.newaxis, :]


def _co_range_sketch(rows: int, l2: int, key: tuple[int, int], block: int, dtype: Any) -> Any:
    """Psi_i^T (rows x l2): block i's columns of the co-range test matrix Psi (l2 x m), from
    its own Philox stream (stream 1 + i; stream 0 is Omega's), so it can be made again."""
    return np.asarray(_core.standard_normal(rows, l2, key[0], key[1], 1 + block, dtype.name))


def _one_pass_block(
    block: Any, Omega: np.ndarray, key: tuple[int, int], index: int, l2: int
) -> Pair:
    """Everything the single-pass method needs from block (i, j), from one read of it:
    (A_ij Omega_j, (Psi_i A_ij)^T = A_ij^T Psi_i^T).  The block is scanned for NaN/Inf only
    where A_ij Omega_j is not finite (as in :func:`_times_gram`)."""
    Y = _times(block, Omega, False)
    if not (_dask_gpu.all_finite(Y) if is_device_array(Y) else np.isfinite(Y).all()):
        _check_chunk(block)
    Psi_t = _co_range_sketch(Y.shape[0], l2, key, index, Y.dtype)
    return Y, _dask_gpu.to_host(_apply(block, Psi_t, True, False))


def _psi_times(Q: np.ndarray, key: tuple[int, int], index: int, l2: int) -> np.ndarray:
    """Psi_i Q_i (l2 x l), Psi_i made again from its stream (a host array)."""
    Psi_t = _co_range_sketch(Q.shape[0], l2, key, index, Q.dtype)
    if is_device_array(Q):
        return _dask_gpu.to_host(_dask_gpu.times_small(Q.T, Psi_t)).T
    return _apply(Psi_t, Q, True)


def _one_pass_core(PsiQ: np.ndarray, Wt: np.ndarray, k: int):
    """(s, Ux, V) from X = (Psi Q)^+ W, the least-squares core of the single-pass method
    (Tropp, Yurtsever, Udell & Cevher 2017, Algorithm 7 with truncation): X = Ux S Vx^T."""
    Qp, Rp = np.linalg.qr(PsiQ.astype(np.float64))
    X = scipy.linalg.solve_triangular(Rp, Qp.T @ Wt.T.astype(np.float64))
    Ux, s, Vxt = scipy.linalg.svd(X, full_matrices=False, lapack_driver="gesdd")
    dtype = Wt.dtype
    return (
        s[:k].astype(dtype),
        np.ascontiguousarray(Ux[:, :k]).astype(dtype),
        np.ascontiguousarray(Vxt[:k].T).astype(dtype),
    )


# --------------------------------------------------------------------------- #
# Graph helpers (run on the client)
# --------------------------------------------------------------------------- #


def _tree(
    parts: list[Any],
    combine: Any,
    finish: Any = None,
    *args: Any,
    fan_in: int = FAN_IN,
    nout: int | None = None,
) -> Any:
    """Combine delayed values ``fan_in`` at a time into one (a reduction tree in the graph;
    at least one level, so that a single part is combined too).  ``finish``: the root task
    also returns ``finish(total, *args)`` (``nout`` outputs) instead of the total, which
    saves the graph a round of messages per reduction."""
    from dask import delayed

    while len(parts) > fan_in:
        parts = [delayed(combine)(*parts[i : i + fan_in]) for i in range(0, len(parts), fan_in)]
    if finish is None:
        return _one_layer(delayed(combine)(*parts))
    return _one_layer(delayed(_combine_then_finish, nout=nout)(combine, finish, args, *parts))


def _one_layer(value: Any) -> Any:
    """A delayed value that every block's next task reads (a reduction's result), with its
    graph as one layer.  Each delayed call copies the layer tables of its arguments, and a
    reduction's graph has a layer per task below it: P block tasks reading it copied P
    layers each, and building the graph took time growing as P^2 (1000 blocks of 10 rows:
    14.6 s for svd, where dask's svd_compressed takes 3.5)."""
    from dask.delayed import Delayed

    return Delayed(value.key, dict(value.__dask_graph__()), length=value._length)


def _combine_then_finish(combine: Any, finish: Any, args: tuple, *parts: Any) -> Any:
    return finish(combine(*parts), *args)


class SketchRankDeficient(np.linalg.LinAlgError):
    """A plain CholeskyQR step failed: the tall block is numerically rank deficient
    (cond > ~u^-1/2 after the shifted step; a low-rank A or a fast-decaying spectrum sketched
    without enough power iterations).  The graphs here then orthonormalize it by Householder
    TSQR instead (:func:`_tsqr`, as the in-memory method falls back to Householder QR)."""


class SketchUnderflow(np.linalg.LinAlgError):
    """The shifted CholeskyQR step failed, which its shift rules out for any Y whose squares
    stay in the float range (Fukaya et al. 2020, section 3): the sketch is zero or its Gram
    matrix underflows, the case that :func:`rankwise._scale.run_dask_scaled` retries on
    A 2^-e."""


def _cholesky_factor(G: np.ndarray, rows: int, shifted: bool) -> np.ndarray:
    """R^-1 for the upper R with R^T R = G + shift I.  The shift of shifted CholeskyQR3
    (Fukaya, Kannan, Nakatsukasa, Yamamoto, Yanagisawa, SISC 2020, eq. 3.4), s = 11 (m l +
    l (l + 1)) u
    ||Y||_F^2 with ||Y||_F^2 = trace(G), makes the first step succeed for any Y with
    cond(Y) < u^-1; the two plain steps after it restore orthogonality to O(u).
    :class:`SketchUnderflow` where the shifted step fails, :class:`SketchRankDeficient`
    where a plain one does."""
    l = G.shape[0]
    eps = float(np.finfo(G.dtype).eps)
    with np.errstate(over="ignore", invalid="ignore"):  # an Inf G: as in _add
        trace = float(np.trace(G))
        shift = 11.0 * (rows * l + l * (l + 1)) * (eps / 2) * trace if shifted else 0.0
        shifted_G = G + shift * np.eye(l, dtype=G.dtype)
    try:
        R = scipy.linalg.cholesky(shifted_G, lower=False)
        return scipy.linalg.solve_triangular(R, np.eye(l, dtype=G.dtype))  # R^-1
    except np.linalg.LinAlgError:
        if shifted:
            raise SketchUnderflow(
                "the shifted Cholesky factorization of the sketch's Gram matrix failed: the "
                "sketch of A is zero or its squares underflow (entries of A near the "
                f"{G.dtype.name} subnormal range)"
            ) from None
        raise SketchRankDeficient(
            "the sketch of A is numerically rank deficient (Cholesky of its Gram matrix "
            "failed after the shifted step)"
        ) from None


def _inverse_cholesky_factor(pairs: list[Any], m: int, shifted: bool) -> Any:
    """The delayed R^-1 of one CholeskyQR step on the blocks of `pairs` ((Y_i, Y_i^T Y_i) as
    two delayed values each): the Gram matrices summed over the tree, then the factor."""
    return _tree([g for _, g in pairs], _add, _cholesky_factor, m, shifted, fan_in=SMALL_FAN_IN)


def _orthonormalize_to_last_factor(pairs: list[Any], m: int) -> tuple[list[Any], Any]:
    """Shifted CholeskyQR3 of the tall matrix stacked from the blocks of `pairs`, but for the
    third step's solve: returns the blocks of Q2 (after two steps, with their Gram matrices)
    and R3^-1, with Q = Q2 R3^-1.  Callers apply R3^-1 on the small side of what they make
    from Q (A^T Q = (A^T Q2) R3^-1, U = Q2 (R3^-1 Vw)), without a pass over the tall blocks.
    R3 is not I + O(u) (|R3 - I| reaches 1e-2 in float64 for cond(Y) = 1e12), but it is well
    conditioned whenever its Cholesky factorization succeeds (cond(R3) = cond(Q2) = O(1)),
    so fl(fl(B^T Q2) R3^-1) and fl(B^T fl(Q2 R3^-1)) have the same backward error
    (gamma ||B|| ||Q2|| ||R3^-1||): measured, the same orthogonality and accuracy as
    forming Q, float32 and float64, ill-conditioned Y included.  All of it
    inside the graph: three Gram reductions over the tree, two triangular solves per
    block (Fukaya, Kannan, Nakatsukasa, Yamamoto, Yanagisawa, SISC 2020)."""
    pairs = _cholesky_qr_steps(pairs, m, (True, False))
    return pairs, _inverse_cholesky_factor(pairs, m, False)


def _cholesky_qr_steps(pairs: list[Any], m: int, shifts: tuple[bool, ...]) -> list[Any]:
    """The blocks of Y R1^-1 R2^-1 ... (with their Gram matrices), one CholeskyQR step per
    entry of ``shifts`` (True: the shifted step)."""
    from dask import delayed

    for shifted in shifts:
        R_inv = _inverse_cholesky_factor(pairs, m, shifted)
        pairs = [_split(delayed(_solve_gram)(y, R_inv)) for y, _ in pairs]
    return pairs


def _orthonormalize(pairs: list[Any], m: int) -> list[Any]:
    """The blocks of Q, shifted CholeskyQR3 of the tall matrix stacked from the blocks of
    `pairs` (_orthonormalize_to_last_factor, with the third solve applied per block)."""
    from dask import delayed

    pairs, R_inv = _orthonormalize_to_last_factor(pairs, m)
    return [delayed(_times_small)(y, R_inv) for y, _ in pairs]


def _rtimes_gram(block: Any, Y: np.ndarray, R_inv: np.ndarray) -> tuple[Pair, Any]:
    """((A_i^T Q_i, Q_i^T Q_i), Q_i) for Q_i = Y_i R^-1: a CholeskyQR step and the product
    with its result in one task (a tall A: one column block); Q_i stays for U."""
    Q, G = _solve_gram(Y, R_inv)
    return (_dask_gpu.to_host(_apply(block, Q, True, False)), G), Q


def _add_pairs(*pairs: Pair) -> Pair:
    return _add(*(w for w, _ in pairs)), _add(*(g for _, g in pairs))


def _rayleigh_ritz_of_pair(
    pair: Pair, k: int, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_rayleigh_ritz of W = B^T Q2 with Q = Q2 R^-1, R from the Gram matrix of Q2."""
    W, G = pair
    return _rayleigh_ritz(W, k, _cholesky_factor(G, m, False))


def _orthonormal_columns(Z: np.ndarray) -> np.ndarray:
    return np.linalg.qr(Z)[0].astype(Z.dtype, copy=False)


def _rayleigh_ritz(
    W: np.ndarray, k: int, R_inv: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s, Vw, V) from W = B^T Q = Uw S Vw^T: B ~ (Q Vw) S Uw^T (HMT 2011, Algorithm 5.1).
    With ``R_inv`` (Q = Q2 R^-1, Q2 the basis formed): W = (B^T Q2) R^-1, and the returned
    Vw is R^-1 Vw, so that U = Q2 Vw."""
    if R_inv is not None:
        W = W @ R_inv
    Uw, s, Vwt = scipy.linalg.svd(W, full_matrices=False, lapack_driver="gesdd")
    dtype = W.dtype
    Vw = Vwt[:k].T if R_inv is None else R_inv @ Vwt[:k].T
    return (
        s[:k].astype(dtype),
        np.ascontiguousarray(Vw).astype(dtype),
        np.ascontiguousarray(Uw[:, :k]).astype(dtype),
    )


def _signs(top: np.ndarray) -> np.ndarray:
    signs = np.sign(top[0])
    signs[signs == 0] = 1
    return signs


def _scaled_columns(U: np.ndarray, signs: np.ndarray) -> np.ndarray:
    return U * signs.astype(U.dtype)


def _signed_product(Q: np.ndarray, M: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Q_i (M diag(signs)): a block of U with the sign convention (a sign flip is exact)."""
    return _times_small(Q, _scaled_columns(M, signs))


class _Grid:
    """The blocks A_ij of B = A (or A^T when A is wide) as delayed values, P row blocks by
    R column blocks, used where they are: products with B and B^T are sums over the grid
    (over j for B X, over i for B^T Y), never a rechunk that would move A between workers."""

    def __init__(self, A: Any) -> None:
        self.transposed = A.shape[1] > A.shape[0]
        B = A.T if self.transposed else A
        self.shape = (int(B.shape[0]), int(B.shape[1]))
        self.dtype = np.dtype(np.float32) if B.dtype == np.float32 else np.dtype(np.float64)
        # CuPy chunks: the tall factors are CuPy blocks too (python/rankwise/_dask_gpu.py)
        self.on_device = is_device_array(B._meta)
        self.blocks = B.to_delayed()  # P x R object array
        self.rows = [int(c) for c in B.chunks[0]]
        bounds = np.cumsum([0, *(int(c) for c in B.chunks[1])])
        self.col_slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]

    def fan_in(self, columns: int) -> int:
        """_fan_in for the partial sums of B^T Q with ``columns`` columns: one row range of
        the widest column block (8 bytes per entry, the float64 bound)."""
        return _fan_in(max(sl.stop - sl.start for sl in self.col_slices) * columns * 8)

    def split(self, X: Any) -> list[Any]:
        """X (n x c, numpy or delayed) as the row slices matching the column blocks."""
        from dask import delayed

        if len(self.col_slices) == 1:
            return [X]
        if isinstance(X, np.ndarray):
            return [np.ascontiguousarray(X[sl]) for sl in self.col_slices]
        return [delayed(_row_slice)(X, sl.start, sl.stop) for sl in self.col_slices]

    def times_gram(self, X: Any, first: bool) -> list[Any]:
        """[(Y_i, Y_i^T Y_i)] for Y = B X: one task per block, summed over j per row block.
        ``first``: the first pass over B, whose tasks scan the blocks for NaN/Inf."""
        from dask import delayed

        parts = self.split(X)
        if len(parts) == 1:
            return [_split(delayed(_times_gram)(row[0], parts[0], first)) for row in self.blocks]
        return [
            _split(
                _tree(
                    [delayed(_times)(a, x, first) for a, x in zip(row, parts, strict=True)],
                    _add,
                    _with_gram,
                )
            )
            for row in self.blocks
        ]

    def rtimes(
        self,
        Q: list[Any],
        R_inv: Any = None,
        finish: Any = None,
        *args: Any,
        columns: int,
        nout: int | None = None,
    ) -> Any:
        """B^T Q (n x c, c = ``columns``) for Q given by row blocks, or B^T (Q R^-1) for a
        small R^-1: per column block a tree over i, stacked.  With one column block, each
        task makes its block Q_i R^-1 itself; with several, Q_i R^-1 is made once per row
        block.  ``finish``: returns finish(B^T Q, *args) (``nout`` outputs), made by the
        root task of the tree where there is one column block."""
        from dask import delayed

        fan_in = self.fan_in(columns)

        if R_inv is not None and len(self.col_slices) > 1:
            Q, R_inv = [delayed(_times_small)(q, R_inv) for q in Q], None
        products = [
            [delayed(_rtimes)(row[j], q, R_inv) for row, q in zip(self.blocks, Q, strict=True)]
            for j in range(len(self.col_slices))
        ]
        if len(products) == 1:
            return _tree(products[0], _add, finish, *args, fan_in=fan_in, nout=nout)
        total = _stacked([_tree(parts, _add, fan_in=fan_in) for parts in products])
        return total if finish is None else delayed(finish, nout=nout)(total, *args)


def _row_slice(X: np.ndarray, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(X[start:stop])


def _stack(*parts: np.ndarray) -> np.ndarray:
    return np.vstack(parts)


def _stacked(column_blocks: list[Any]) -> Any:
    """The delayed n x c matrix stacked from the row ranges of its column blocks."""
    from dask import delayed

    return column_blocks[0] if len(column_blocks) == 1 else delayed(_stack)(*column_blocks)


def _with_gram(Y: np.ndarray) -> Pair:
    return Y, _gram(Y)


def svd(A: Any, k: int, l: int, n_iter: int, key: tuple[int, int]) -> tuple[Any, Any, Any]:
    """Rank-k randomized SVD of the dask array A (checked by the caller: 2-D, k <= l <=
    min(m, n)).  Returns (U, s, Vt): the large factor (U for a tall A, Vt for a wide one) as
    a dask array chunked like A, the others as numpy arrays.

    The whole computation is one graph (the small steps - Cholesky factors, the QR of Z, the
    final SVD - are tasks too), persisted once: the client waits for one round trip, not one
    per step.  Where the final sketch is numerically rank deficient (A of rank below l, or a
    fast-decaying spectrum with few power iterations: a plain CholeskyQR step fails), it is
    made again (2q + 1 more passes over A) and orthonormalized by Householder TSQR, as the
    in-memory method falls back to Householder QR.
    """
    grid = _Grid(A)
    try:
        return _svd_cholesky_qr(grid, _power_sketch(grid, l, n_iter, key), k, l)
    except SketchRankDeficient:
        Q = _tsqr(_power_sketch(grid, l, n_iter, key), grid, l)
        s, Vw, V = grid.rtimes(Q, None, _rayleigh_ritz, k, columns=l, nout=3)
        return _finish(Q, s, Vw, V, grid, k)


def _power_sketch(grid: _Grid, l: int, n_iter: int, key: tuple[int, int]) -> list[Any]:
    """The blocks of Y = (B B^T)^q B Omega as delayed (Y_i, Y_i^T Y_i) pairs (_split), with
    the in-memory algorithm's sketch Omega (n x l) from the key, stream 0."""
    m, n = grid.shape
    Omega = np.asarray(_core.standard_normal(n, l, key[0], key[1], 0, grid.dtype.name))
    Y = grid.times_gram(Omega, first=True)
    for _ in range(n_iter):
        # Between power iterations the basis only has to be well conditioned, not
        # orthonormal (the in-memory method uses an LU factor there): the shifted CholeskyQR
        # step alone, after which cond(Y R^-1) is O(1) for any cond(Y) < u^-1 (Fukaya et al.
        # 2020, Theorem 3.3), which keeps the small directions of the next product.
        R_inv = _inverse_cholesky_factor(Y, m, shifted=True)
        Z = grid.rtimes([y for y, _ in Y], R_inv, _orthonormal_columns, columns=l)
        Y = grid.times_gram(Z, first=False)
    return Y


def _svd_cholesky_qr(grid: _Grid, Y: list[Any], k: int, l: int) -> tuple[Any, Any, Any]:
    """The Rayleigh-Ritz step of :func:`svd` on the sketch Y (delayed pairs), its basis by
    shifted CholeskyQR3; SketchRankDeficient where Y is numerically rank deficient."""
    from dask import delayed

    m, n = grid.shape
    if len(grid.col_slices) > 1:
        Y, R_inv = _orthonormalize_to_last_factor(Y, m)  # Q = Q2 R3^-1, Q2 the blocks of Y
        # B^T Q = (B^T Q2) R3^-1, and its SVD, by the root task of the tree
        s, Vw, V = grid.rtimes(
            [y for y, _ in Y], None, _rayleigh_ritz, k, R_inv, columns=l, nout=3
        )
        return _finish([y for y, _ in Y], s, Vw, V, grid, k)
    # One column block (tall and skinny): the same arithmetic, with the second CholeskyQR
    # step made by the tasks of the product B^T Q2, which saves a round of messages (with
    # the one-level trees of _fan_in: 0.336 -> 0.309 s on the quick benchmark)
    Y = _cholesky_qr_steps(Y, m, (True,))
    R_inv = _inverse_cholesky_factor(Y, m, False)
    parts = [
        delayed(_rtimes_gram, nout=2)(row[0], y, R_inv)
        for row, (y, _) in zip(grid.blocks, Y, strict=True)
    ]
    s, Vw, V = _tree(
        [p[0] for p in parts],
        _add_pairs,
        _rayleigh_ritz_of_pair,
        k,
        m,
        fan_in=_fan_in(n * l * 8),
        nout=3,
    )
    return _finish([p[1] for p in parts], s, Vw, V, grid, k)


def _tsqr(Y: list[Any], grid: _Grid, l: int) -> list[Any]:
    """The blocks of Q from dask's Householder TSQR of the tall matrix stacked from the
    (Y_i, Y_i^T Y_i) pairs of Y (Benson, Gleich & Demmel 2013): orthonormal to working
    precision, and its l columns span range(Y) to rounding, whatever Y's rank (the trailing
    columns of a rank-deficient Y are directions of its rounding errors, as with the in-memory
    Householder QR).  TSQR itself reads no block of A, only the blocks of Y."""
    import dask.array as da

    meta = _meta(grid)
    tall = da.concatenate(
        [
            da.from_delayed(y[0], shape=(rows, l), dtype=grid.dtype, meta=meta)
            for (y, _), rows in zip(Y, grid.rows, strict=True)
        ]
    )
    return list(da.linalg.tsqr(tall)[0].to_delayed().ravel())


def zero_svd(A: Any, k: int, dtype: np.dtype) -> tuple[Any, Any, Any]:
    """The rank-k SVD of an all-zero A as the in-memory methods give it: s = 0, U and V the
    first k columns of the identity; the large factor (U for a tall A, Vt for a wide one) a
    dask array chunked like A, the other a numpy array, as :func:`svd` returns them.  (The
    sketch of a zero A is zero, which CholeskyQR cannot orthonormalize.)"""
    import dask.array as da

    m, n = (int(d) for d in A.shape)
    s = np.zeros(k, dtype=dtype)
    wide = n > m  # as _Grid decides
    chunks = A.chunks[1] if wide else A.chunks[0]
    large = da.eye(max(m, n), chunks=max(chunks), M=k, dtype=dtype).rechunk((chunks, (k,)))
    if is_device_array(A._meta):  # CuPy chunks in, CuPy chunks out
        import cupy

        large = large.map_blocks(cupy.asarray, dtype=dtype)
    if wide:
        return np.eye(m, k, dtype=dtype), s, large.T
    return large, s, np.eye(k, n, dtype=dtype)


def svd_single_pass(A: Any, k: int, l: int, key: tuple[int, int]) -> tuple[Any, Any, Any]:
    """Rank-k SVD of the dask array A from ONE read of every block (for data that can be
    read only once): the range sketch Y = A Omega (n x l) and the co-range sketch
    W = Psi A (l2 x n, l2 = 2 l + 1) come from the same task per block; then
    A ~ Q X with Q = orth(Y) and X = (Psi Q)^+ W (Tropp, Yurtsever, Udell & Cevher, SIAM J.
    Matrix Anal. Appl. 2017, Algorithm 7 with the truncation of section 6), and the SVD of
    the small X.  Less accurate than ``svd`` with power iterations, which reads A 2q + 2
    times; Psi depends on the row chunking (each block has its own stream).

    Y (m x l) and W are persisted from that read before Q is formed: Q by shifted
    CholeskyQR3, or where Y is numerically rank deficient (A of rank below l, or a
    fast-decaying spectrum: a plain CholeskyQR step fails) by Householder TSQR of the same
    blocks, without reading A again."""
    import dask
    from dask import delayed

    grid = _Grid(A)
    m, n = grid.shape
    l2 = min(2 * l + 1, m)
    Omega = grid.split(np.asarray(_core.standard_normal(n, l, key[0], key[1], 0, grid.dtype.name)))
    # one task per block: (A_ij Omega_j, (Psi_i A_ij)^T)
    one_pass = delayed(_one_pass_block, nout=2)
    parts = [
        [one_pass(a, x, key, i, l2) for a, x in zip(row, Omega, strict=True)]
        for i, row in enumerate(grid.blocks)
    ]
    pairs = [_tree([y for y, _ in row], _add, _with_gram) for row in parts]
    # (Psi A)^T, n x l2
    fan_in = grid.fan_in(l2)
    Wt = _stacked(
        [_tree([row[j][1] for row in parts], _add, fan_in=fan_in) for j in range(len(Omega))]
    )
    *pairs, Wt = dask.persist(*pairs, Wt)
    Y = [_split(pair) for pair in pairs]
    try:
        return _one_pass_finish(_orthonormalize(Y, m), Wt, grid, k, l, l2, key)
    except SketchRankDeficient:
        return _one_pass_finish(_tsqr(Y, grid, l), Wt, grid, k, l, l2, key)


def _one_pass_finish(
    Q: list[Any], Wt: Any, grid: _Grid, k: int, l: int, l2: int, key: tuple[int, int]
) -> tuple[Any, Any, Any]:
    """The single-pass factors from the blocks of Q = orth(Y) (m x l) and (Psi A)^T."""
    from dask import delayed

    psi_q = [delayed(_psi_times)(q, key, i, l2) for i, q in enumerate(Q)]
    s, Ux, V = _tree(psi_q, _add, _one_pass_core, Wt, k, fan_in=_fan_in(l2 * l * 8), nout=3)
    return _finish(Q, s, Ux, V, grid, k)


def _signed_blocks(Q: list[Any], Vw: Any, signs: Any, grid: _Grid, k: int) -> Any:
    """U = Q Vw diag(signs) as a dask array whose chunk tasks are the block products
    themselves (da.from_delayed + da.concatenate would add two alias tasks per chunk)."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = "rankwise-u-" + tokenize(*(q.key for q in Q), Vw.key, signs.key)
    layer = {(name, i, 0): (_signed_product, q.key, Vw.key, signs.key) for i, q in enumerate(Q)}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[*Q, Vw, signs])
    return da.Array(
        graph, name, chunks=(tuple(grid.rows), (k,)), dtype=grid.dtype, meta=_meta(grid)
    )


def _meta(grid: _Grid) -> Any:
    """An empty array of the type of the tall factors' blocks (CuPy for CuPy chunks)."""
    if grid.on_device:
        import cupy

        return cupy.empty((0, 0), dtype=grid.dtype)
    return np.empty((0, 0), dtype=grid.dtype)


def _finish(Q: list[Any], s: Any, Vw: Any, V: Any, grid: _Grid, k: int) -> tuple[Any, Any, Any]:
    """U = Q Vw per block with the sign convention, one persist; (U, s, Vt) as svd returns
    (s and the small factor as host arrays; the caller makes them CuPy for CuPy chunks)."""
    import dask
    from dask import delayed

    # Sign convention of the in-memory result: the largest entry of each column of the left
    # factor of A is positive (for a wide A that factor is V, which is small).
    transposed = grid.transposed
    if transposed:
        signs = delayed(_signs)(delayed(_largest_entries)(V))
    else:
        signs = _tree(
            [delayed(_largest_entries_of_product)(q, Vw) for q in Q],
            _pick_largest,
            _signs,
            fan_in=SMALL_FAN_IN,
        )
    V = delayed(_scaled_columns)(V, signs)
    U = _signed_blocks(Q, Vw, signs, grid, k)
    U, s, V = dask.persist(U, s, V)
    s, V = dask.compute(s, V)
    if transposed:  # B = A^T = U S V^T, so A = V S U^T: the left factor is small here
        return V, s, U.T
    return U, s, V.T


# --------------------------------------------------------------------------- #
# CUR of a tall dask array (rankwise.cur with method="deim")
# --------------------------------------------------------------------------- #


def _deim_candidate(W: np.ndarray, j: int, offset: int) -> tuple[float, int, np.ndarray]:
    """This block's candidate for DEIM point j: (|w_ij|, global row, residual row i)."""
    i = int(np.argmax(np.abs(W[:, j])))
    return float(abs(W[i, j])), offset + i, W[i].copy()


def _pick_pivot(*candidates: tuple[float, int, np.ndarray]) -> tuple[float, int, np.ndarray]:
    """The largest candidate; on ties the first row, as LU's partial pivoting takes it."""
    return max(candidates, key=lambda c: (c[0], -c[1]))


def _eliminate(
    W: np.ndarray, j: int, pivot: tuple[float, int, np.ndarray], offset: int
) -> tuple[np.ndarray, tuple[float, int, np.ndarray] | None]:
    """One step of Gaussian elimination on the block's rows: W -= W[:, j] row / row[j] (the
    pivot row itself becomes exactly zero, so it is never chosen again); with the block's
    candidate for the next point from the same task (None after the last)."""
    row = pivot[2]
    W = W.copy()
    W[:, j:] -= np.outer(W[:, j] / row[j], row[j:])
    return W, _deim_candidate(W, j + 1, offset) if j + 1 < W.shape[1] else None


def deim_rows(U: Any) -> np.ndarray:
    """DEIM points of the tall dask array U (m x k): the greedy of Chaturantabut & Sorensen
    (2010), i.e. the pivots of LU with partial pivoting, as k steps of distributed Gaussian
    elimination: each step takes the largest entry of column j over all blocks (a reduction
    tree of (value, row, residual row) candidates) and eliminates with it in every block.
    Reads and writes each block k - 1 times (m k^2 flops in all), one task per block and
    step; one graph, computed once."""
    import dask
    from dask import delayed

    blocks, offsets = _row_blocks(U)
    k = int(U.shape[1])
    candidates = [
        delayed(_deim_candidate)(b, 0, off) for b, off in zip(blocks, offsets, strict=True)
    ]
    pivots = []
    for j in range(k):
        pivot = _tree(candidates, _pick_pivot)
        pivots.append(pivot)
        if j + 1 < k:  # one task per block and step: the elimination and the next candidate
            stepped = [
                delayed(_eliminate, nout=2)(b, j, pivot, off)
                for b, off in zip(blocks, offsets, strict=True)
            ]
            blocks, candidates = [b for b, _ in stepped], [c for _, c in stepped]
    chosen = dask.compute(*pivots)
    return np.array([p[1] for p in chosen], dtype=np.int64)


def _row_blocks(U: Any) -> tuple[list[Any], list[int]]:
    """The row blocks of the tall dask array U (one column chunk) as delayed values, and the
    global index of each block's first row."""
    if len(U.chunks[1]) > 1:
        U = U.rechunk({1: -1})  # k columns: a block row is small
    offsets = np.concatenate([[0], np.cumsum(U.chunks[0])[:-1]]).astype(int).tolist()
    return list(U.to_delayed().ravel()), offsets


# Q-DEIM: the column pivots of the QR of U^T, i.e. rows of U chosen greedily by the norm of
# their component orthogonal to the rows already chosen (Businger & Golub 1965).  LAPACK's
# geqp3 (the in-memory kernel) picks the same pivots from norms downdated after each
# Householder step (recomputed where the downdate cancels, LAWN 176); here every step
# recomputes the residual norms exactly, so the two agree except on near-ties (relative gaps
# below ~sqrt(eps), where geqp3's downdated norms are not accurate enough to decide).


def _qdeim_candidate(W: np.ndarray, alive: np.ndarray, offset: int) -> tuple[float, int, Any]:
    """This block's candidate for the next pivot: (residual norm^2, global row, its residual
    row); rows already chosen are out (-1)."""
    norms = np.einsum("ij,ij->i", W, W, dtype=np.float64)
    norms[~alive] = -1.0
    if norms.size == 0:
        return -1.0, -1, None
    i = int(np.argmax(norms))
    return float(norms[i]), offset + i, W[i].copy()


def _start_qdeim(U: np.ndarray, offset: int) -> tuple[Any, tuple[float, int, Any]]:
    W = np.array(U, copy=True)
    alive = np.ones(W.shape[0], dtype=bool)
    return (W, alive), _qdeim_candidate(W, alive, offset)


def _project_out(
    state: tuple[np.ndarray, np.ndarray], offset: int, pivot: tuple[float, int, Any]
) -> tuple[Any, tuple[float, int, Any]]:
    """Remove the pivot row's direction q from every row of the block (W <- W - (W q) q^T,
    one Gram-Schmidt step, as a Householder reflection acts on the trailing part), mark the
    pivot row chosen, and return the block's candidate for the next pivot."""
    W, alive = state
    q = pivot[2] / np.sqrt(pivot[0]).astype(pivot[2].dtype)
    W = W - np.outer(W @ q, q)
    alive = alive.copy()
    if offset <= pivot[1] < offset + W.shape[0]:
        alive[pivot[1] - offset] = False
    return (W, alive), _qdeim_candidate(W, alive, offset)


def _pick_largest_norm(*candidates: tuple[float, int, Any]) -> tuple[float, int, Any]:
    """The largest residual norm; on ties the first row."""
    return max(candidates, key=lambda c: (c[0], -c[1]))


def qdeim_rows(U: Any) -> np.ndarray:
    """Q-DEIM points of the tall dask array U (m x k): the first k column pivots of the
    pivoted QR of U^T (Drmac & Gugercin 2016), as k distributed steps: each takes the row of
    largest residual norm over all blocks (a reduction tree of (norm, row, residual row)
    candidates) and projects its direction out of every block.  m k^2 flops in all; one
    graph, computed once; U never in one place."""
    import dask
    from dask import delayed

    blocks, offsets = _row_blocks(U)
    k = int(U.shape[1])
    started = [
        delayed(_start_qdeim, nout=2)(b, off) for b, off in zip(blocks, offsets, strict=True)
    ]
    states, candidates = [s for s, _ in started], [c for _, c in started]
    pivots = []
    for _ in range(k):
        pivot = _tree(candidates, _pick_largest_norm)
        pivots.append(pivot)
        stepped = [
            delayed(_project_out, nout=2)(s, off, pivot)
            for s, off in zip(states, offsets, strict=True)
        ]
        states, candidates = [s for s, _ in stepped], [c for _, c in stepped]
    chosen = dask.compute(*pivots)
    if min(c[0] for c in chosen) <= 0.0:
        raise ValueError("U is rank deficient: Q-DEIM found no row with a nonzero residual")
    return np.array([c[1] for c in chosen], dtype=np.int64)


# maxvol (Goreinov et al. 2010) on B = U U[p]^{-1}: while some |B_ij| > 1 + tol, row i
# replaces the j-th selected row, and B is updated by a rank-one correction.  Each exchange
# needs the largest |B_ij| over all rows: per-block maxima reduced by a tree, one round trip
# to the client per exchange (the in-memory kernel: cpp/include/rankwise/algo/selection.hpp,
# maxvol_swaps, with the same update and the same stopping rule).


def _maxvol_candidate(B: np.ndarray, offset: int) -> tuple[float, int, int, Any]:
    """This block's largest |B_ij|: (|b|, column j, global row i, row B_i); on ties the
    first column, then the first row (the in-memory argmax's order, up to its rows being in
    LU-pivot order)."""
    if B.shape[0] == 0:
        return -1.0, 0, -1, None
    col_max = np.abs(B).max(axis=0)
    j = int(np.argmax(col_max))
    i = int(np.argmax(np.abs(B[:, j])))
    return float(col_max[j]), j, offset + i, B[i].copy()


def _maxvol_start(U: np.ndarray, inverse: np.ndarray, offset: int) -> tuple[Any, Any]:
    B = _times_small(np.ascontiguousarray(U), inverse)
    return B, _maxvol_candidate(B, offset)


def _maxvol_swap(
    B: np.ndarray, offset: int, pivot: tuple[float, int, int, Any]
) -> tuple[Any, Any]:
    """B <- B - B(:, j) (B(i, :) - e_j^T) / b, after which row i of B is e_j^T."""
    _, j, _, row = pivot
    b = row[j]
    r = row.copy()
    r[j] -= 1
    c = B[:, j].copy()
    B = B - np.outer(c, r / b)
    return B, _maxvol_candidate(B, offset)


def _pick_largest_coefficient(*candidates: tuple[float, int, int, Any]) -> Any:
    return max(candidates, key=lambda c: (c[0], -c[1], -c[2]))


def maxvol_rows(U: Any, start: np.ndarray, tol: float, max_swaps: int) -> np.ndarray:
    """maxvol rows of the tall dask array U (m x k) from the k distinct rows ``start``
    (Goreinov et al. 2010; with tol = f - 1 from the Q-DEIM start, Gu & Eisenstat's strong
    RRQR of U^T): exchanges while some |(U U[p]^{-1})_ij| > 1 + tol, at most ``max_swaps``.
    B = U U[start]^{-1} stays in row blocks on the workers (persisted); each exchange
    reduces the blocks' largest entries to one (|b|, j, i, row i) on the client and sends
    it back for the rank-one update.  The same rows as the in-memory maxvol where the
    largest entries have no ties."""
    import dask
    from dask import delayed

    blocks, offsets = _row_blocks(U)
    k = int(U.shape[1])
    rows = np.array(start, dtype=np.int64)
    # (arrays that come back from distributed workers may be unaligned, which SciPy's solve
    # refuses: "Expected a real or complex array")
    Up = np.require(U[rows].compute(), requirements=["C", "A"])
    try:
        inverse = scipy.linalg.solve(Up, np.eye(k, dtype=Up.dtype)).astype(Up.dtype)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError("maxvol: U[start, :] is singular") from None
    steps = [
        delayed(_maxvol_start, nout=2)(b, inverse, off)
        for b, off in zip(blocks, offsets, strict=True)
    ]
    for swaps in range(max_swaps + 1):
        B = [s for s, _ in steps]
        pivot = _tree([c for _, c in steps], _pick_largest_coefficient)
        *B, pivot = dask.persist(*B, pivot)
        pivot = dask.compute(pivot)[0]
        if pivot[0] <= 1 + tol or swaps == max_swaps:
            break
        rows[pivot[1]] = pivot[2]
        steps = [
            delayed(_maxvol_swap, nout=2)(b, off, pivot) for b, off in zip(B, offsets, strict=True)
        ]
    return rows


# Exchange refinement (refine=True; the in-memory kernel: cpp/include/rankwise/algo/
# swap_refine.hpp): its full searches over all m rows are block reductions here - each row
# block scores its own unselected rows against the selected ones (the core's
# swap_candidates, the same search as one step of swap_refine) and sends up its best swap
# and its `shortlist` best candidates; the searches over the shortlist that follow each
# full search run on the client (the same swap_candidates), on the rows of the selection and
# the shortlist only.


def _swap_block(
    V: np.ndarray, VJ: np.ndarray, s: list[float], offset: int, chosen: np.ndarray, keep: int
) -> tuple[bool, tuple[float, int, int], np.ndarray, np.ndarray, float]:
    """This block's part of a full search: (ok, best (delta, position, global row), the
    ``keep`` best candidates' deltas and global rows, f)."""
    rows = np.arange(offset, offset + V.shape[0])
    free = ~np.isin(rows, chosen)
    if not free.any():
        return True, (np.inf, 0, -1), np.empty(0), np.empty(0, dtype=np.int64), 0.0
    stacked = np.vstack([VJ, np.asarray(V)[free]]).astype(VJ.dtype, copy=False)
    ok, position, candidate, delta, per, f = _core.swap_candidates(stacked, s, VJ.shape[0])
    if not ok:  # the selected rows are dependent (B of rank below k): no exchange
        return False, (np.inf, 0, -1), np.empty(0), np.empty(0, dtype=np.int64), 0.0
    cand_rows = rows[free]
    top = np.lexsort((cand_rows, per))[:keep]
    return (
        bool(ok),
        (float(delta), int(position), int(cand_rows[candidate])),
        per[top],
        cand_rows[top],
        float(f),
    )


def _merge_swaps(keep: int, *parts: Any) -> Any:
    """The best swap (smallest delta, then position, then row: swap_refine's order) and the
    ``keep`` best candidates (smallest delta, then row) of several blocks.  ``keep`` is the
    shortlist's size, given: a block sends at most its free rows, fewer than the shortlist
    where row chunks are small."""
    deltas = np.concatenate([p[2] for p in parts])
    rows = np.concatenate([p[3] for p in parts])
    top = np.lexsort((rows, deltas))[:keep]
    best = min((p[1] for p in parts), key=lambda b: (b[0], b[1], b[2]))
    f = max(p[4] for p in parts)
    return all(p[0] for p in parts), best, deltas[top], rows[top], f


def swap_refine_rows(
    U: Any,
    s: np.ndarray,
    start: np.ndarray,
    *,
    shortlist: int | None = None,
    max_swaps: int | None = None,
) -> np.ndarray:
    """:func:`rankwise._selection.swap_refine` of the rows ``start`` of the tall dask array
    U (m x r): the same exchanges in the same order (up to
    rounding of near-equal gains), with U never in one place, for any row chunks.  One graph
    per full search (its reduction tree brings the ``shortlist`` best candidates, 4
    len(start) by default, and the best swap to the client), one gather of the selected and
    shortlisted rows after it."""
    import dask
    from dask import delayed

    from ._selection import SWAP_RTOL, independent_start, swap_refine

    m, r = (int(d) for d in U.shape)
    k = len(start)
    shortlist = 4 * k if shortlist is None else shortlist
    max_swaps = 2 * k if max_swaps is None else max_swaps
    if m - k <= shortlist:  # every row would be shortlisted: U is a few k rows, take it
        U = np.require(U.compute(), requirements=["A"])
        return swap_refine(U, s, start, shortlist=shortlist, max_swaps=max_swaps)[0]
    dtype = np.dtype(U.dtype)
    rtol = max(SWAP_RTOL, 100 * float(np.finfo(dtype).eps))
    s_list = np.asarray(s, dtype=np.float64).tolist()
    s2 = np.asarray(s, dtype=dtype) * np.asarray(s, dtype=dtype)
    floor_abs = r * float(np.finfo(dtype).eps) * float(np.sum(s2, dtype=np.float64))
    blocks, offsets = _row_blocks(U)
    blocks = list(dask.persist(*blocks))  # read by every full search

    def rows_of(idx: np.ndarray) -> np.ndarray:
        return np.require(U[idx].compute(), requirements=["C", "A"])

    merge = functools.partial(_merge_swaps, shortlist)
    # a start with dependent rows (uniform samples of empty rows) has them replaced first,
    # as in memory: the exchanges need U[start] diag(s) of full rank
    source = _ScaledRows(blocks, offsets, rows_of, s, (m, r))
    rows, swaps = independent_start(source, np.array(start, dtype=np.int64), max_swaps, dtype)
    while swaps < max_swaps:
        VJ = rows_of(rows)
        parts = [
            delayed(_swap_block)(b, VJ, s_list, off, rows, shortlist)
            for b, off in zip(blocks, offsets, strict=True)
        ]
        ok, (delta, position, incoming), _, short, f = dask.compute(_tree(parts, merge))[0]
        if not ok or not delta < -(rtol * f + floor_abs):
            break
        rows[position] = incoming
        swaps += 1
        if swaps == max_swaps:
            break
        # the searches over the shortlist (its rows not selected; a row swapped out is not
        # a candidate again until the next full search), on the client, until none improves
        short = np.sort(short)
        idx = np.union1d(rows, short)
        V_idx = rows_of(idx)
        while swaps < max_swaps:
            cand = short[~np.isin(short, rows)]
            if cand.size == 0:
                break
            V = V_idx[np.searchsorted(idx, np.concatenate([rows, cand]))]
            ok, position, candidate, delta, _, f = _core.swap_candidates(V, s_list, k)
            if not ok or not delta < -(rtol * f + floor_abs):
                break
            rows[position] = cand[candidate]
            swaps += 1
    return rows


class _ScaledRows:
    """The rows of ``Bt = U diag(s)`` (U tall, in persisted row blocks) as
    rankwise._selection.independent_start reads them (its RowSource): each whole-matrix
    quantity is one graph over the blocks, reduced on the client (r numbers per block)."""

    def __init__(
        self,
        blocks: list[Any],
        offsets: list[int],
        rows_of: Callable[[np.ndarray], np.ndarray],
        s: np.ndarray,
        shape: tuple[int, int],
    ) -> None:
        self.blocks, self.offsets, self.rows_of = blocks, offsets, rows_of
        self.s = np.asarray(s, dtype=np.float64)
        self.shape = shape

    def _each_block(self, task: Callable[..., Any], *args: Any) -> list[Any]:
        import dask
        from dask import delayed

        parts = [
            delayed(task)(b, self.s, off, *args)
            for b, off in zip(self.blocks, self.offsets, strict=True)
        ]
        return list(dask.compute(*parts))

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return self.rows_of(np.asarray(idx)).astype(np.float64) * self.s

    def max_row_norm(self) -> float:
        return max(self._each_block(_block_max_row_norm), default=0.0)

    def gram(self) -> np.ndarray:
        return sum(self._each_block(_block_gram), np.zeros((self.shape[1],) * 2))

    def best_row(self, P: np.ndarray, M: np.ndarray, floor: float, chosen: np.ndarray) -> int:
        # the largest gain, the first row among equal ones (np.argmax's choice in memory)
        gain, row = max(
            self._each_block(_block_best_row, P, M, floor, chosen), key=lambda c: (c[0], -c[1])
        )
        return row if gain > 0 else -1


def _block_max_row_norm(V: np.ndarray, s: np.ndarray, offset: int) -> float:
    B = np.asarray(V, dtype=np.float64) * s
    return float(np.sqrt(np.einsum("ij,ij->i", B, B).max(initial=0.0)))


def _block_gram(V: np.ndarray, s: np.ndarray, offset: int) -> np.ndarray:
    B = np.asarray(V, dtype=np.float64) * s
    return B.T @ B


def _block_best_row(
    V: np.ndarray,
    s: np.ndarray,
    offset: int,
    P: np.ndarray,
    M: np.ndarray,
    floor: float,
    chosen: np.ndarray,
) -> tuple[float, int]:
    from ._selection import exchange_gains

    gains = exchange_gains((np.asarray(V, dtype=np.float64) * s) @ P, M, floor)
    local = chosen[(chosen >= offset) & (chosen < offset + len(gains))] - offset
    gains[local] = 0.0
    if gains.size == 0:
        return 0.0, -1
    i = int(np.argmax(gains))
    return float(gains[i]), offset + i


def host_blocks(U: Any) -> Any:
    """The dask array U with its blocks copied to the host where they are CuPy (each block
    on the worker that holds it; m k numbers, not A); U itself otherwise."""
    if not is_device_array(U._meta):
        return U
    dtype = np.dtype(U.dtype)
    return U.map_blocks(_dask_gpu.to_host, dtype=dtype, meta=np.empty((0, 0), dtype=dtype))


def row_leverage(U: Any) -> np.ndarray:
    """Squared row norms of the tall dask array U (its rows' leverage scores when U is
    orthonormal), reduced block by block: m numbers reach the client."""
    from ._selection import leverage_from_basis

    return np.asarray(U.map_blocks(leverage_from_basis, drop_axis=1, dtype=np.float64).compute())


def check_dense_chunks(A: Any) -> None:
    """TypeError where the dask array A has scipy.sparse chunks, which the dask path of
    rankwise.cur does not take (its rows R, C's blocks and the cores are dense or CuPy
    arrays; rankwise.svd and randomized_svd do take such chunks)."""
    if scipy.sparse.issparse(A._meta):
        raise TypeError(
            "rankwise.cur does not take dask arrays with scipy.sparse chunks; pass the matrix "
            "as one scipy.sparse matrix (A.compute(), which gives sparse C and R) or with "
            "dense chunks (A.map_blocks(lambda b: b.toarray()))"
        )


def scaled_rows_columns(A: Any, row_scale: Any, col_scale: Any) -> Any:
    """diag(row_scale) A diag(col_scale) (either None: ones), the matrix rankwise.cur selects
    from, as a lazy dask expression, each block multiplied by its own slices of the two
    vectors; in the order and dtype of the in-memory ``A * r[:, None] * c[None, :]``, so the
    entries are the same to the bit (dense or CuPy chunks: rankwise.cur refuses scipy.sparse
    ones first, :func:`check_dense_chunks`)."""
    import dask.array as da

    def like_a(w: np.ndarray, chunks: tuple) -> Any:  # on the device for CuPy chunks
        if is_device_array(A._meta):
            return da.from_array(_dask_gpu._cupy().asarray(w), chunks=chunks, asarray=False)
        return da.from_array(w, chunks=chunks)

    if row_scale is not None:
        A = A * like_a(row_scale, (A.chunks[0],))[:, None]
    if col_scale is not None:
        A = A * like_a(col_scale, (A.chunks[1],))[None, :]
    return A


def _pair(C: np.ndarray) -> Pair:
    if not is_device_array(C):
        C = np.ascontiguousarray(C)
    return C, _gram(C)


def _qt_times(Q: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Q_i^T X_i for blocks of the same rows, on the host (CuPy blocks: made on the device)."""
    if is_device_array(Q):
        return _dask_gpu.to_host(Q.T @ X)
    return Q.T @ np.asarray(X)


def _qt_a_qr(Q: np.ndarray, block: Any, Qr: np.ndarray) -> np.ndarray:
    """Q_i^T (A_i Qr) with the native product (CuPy blocks: on the device), on the host."""
    return _dask_gpu.to_host(Q.T @ _times(block, Qr))


def cur_pinv_core(
    A: Any, cols: np.ndarray, R: np.ndarray
) -> tuple[np.ndarray, Any, np.ndarray, np.ndarray]:
    """(U, Qc, middle, Qr) for C = A[:, cols] (tall, dask) and R (small, numpy): with C = Qc Tc
    (Qc a dask array, CuPy-backed for CuPy chunks) and R^T = Qr Tr, middle = Qc^T A Qr and
    U = C^+ A R^+ = Tc^+ middle Tr^{+T}; C U R = Qc middle Qr^T is its stable evaluation
    (U, middle and Qr on the host).

    Qc from shifted CholeskyQR3 over the blocks (Gram reductions only); where C is
    numerically rank deficient (its Cholesky fails: singular values of A below working
    precision within the rank) from dask's Householder TSQR instead; either cut to C's
    numerical rank (:func:`rank_cut`: one small product per block), as in memory."""
    import dask
    import dask.array as da
    from dask import delayed

    B = A.rechunk({1: -1}) if len(A.chunks[1]) > 1 else A  # tall: row blocks
    C = B[:, cols]
    Qr, Tr = thin_qr(R.T, truncate=True)
    try:
        Qc, Tc = _cholesky_qr_blocks(C)
    except np.linalg.LinAlgError:
        Qc, Tc = dask.persist(*da.linalg.tsqr(C))
        Tc = _dask_gpu.to_host(Tc.compute())  # (CuPy where dask's TSQR ran on CuPy chunks)
    # C = (Qc Qt) Tc' with Tc' of full row rank: Qc spans C's range only, so that C U R
    # equals the product Qc middle Qr^T (thin_qr(truncate=True) in memory)
    Qt, Tc = rank_cut(np.asarray(Tc), int(C.shape[0]))
    Qc = Qc.map_blocks(_times_small, Qt, chunks=(Qc.chunks[0], (Qt.shape[1],)), dtype=Qc.dtype)
    Qc = dask.persist(Qc)[0]
    q_blocks, a_blocks = Qc.to_delayed().ravel(), B.to_delayed().ravel()
    middle = _tree(
        [delayed(_qt_a_qr)(q, a, Qr) for q, a in zip(q_blocks, a_blocks, strict=True)], _add
    )
    middle = dask.compute(middle)[0]
    U = row_rank_pinv(Tc) @ middle @ row_rank_pinv(Tr).T  # Tc Tc^+ = I: U fits the product
    return U, Qc, middle, Qr


def _cholesky_qr_blocks(C: Any) -> tuple[Any, np.ndarray]:
    """(Q, T) of the tall dask array C = Q T by shifted CholeskyQR3; Q persisted, T computed.
    LinAlgError if C is numerically rank deficient."""
    import dask
    import dask.array as da
    from dask import delayed

    c_blocks = list(C.to_delayed().ravel())
    Q_blocks = _orthonormalize([_split(delayed(_pair)(c)) for c in c_blocks], int(C.shape[0]))
    T = _tree([delayed(_qt_times)(q, c) for q, c in zip(Q_blocks, c_blocks, strict=True)], _add)
    *Q_blocks, T = dask.persist(*Q_blocks, T)
    T = dask.compute(T)[0]
    Q = da.concatenate(
        [
            da.from_delayed(q, shape=(rows, C.shape[1]), dtype=C.dtype, meta=C._meta)
            for q, rows in zip(Q_blocks, C.chunks[0], strict=True)
        ]
    )
    return Q, T
