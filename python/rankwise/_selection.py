"""Row selection on a basis (DEIM, Q-DEIM, maxvol in the core) and leverage-score sampling.

Shared by the CUR / interpolative decompositions and by empirical interpolation: each
function takes a basis ``V`` (n x r, float32 or float64, e.g. leading singular vectors) and
returns distinct row indices (int64).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import scipy.linalg

from . import _core

DETERMINISTIC = ("deim", "qdeim", "maxvol", "rrqr")
SAMPLED = ("leverage", "pivotal", "uniform")

MAXVOL_TOL = 0.05
"""maxvol stops once every |B_ij| <= 1 + tol (Goreinov et al. 2010 use 0.01 to 0.05)."""
RRQR_F = 2.0
"""Gu & Eisenstat's f: strong RRQR swaps while some |(R11^{-1} R12)_ij| > f."""


def deim(V: np.ndarray) -> np.ndarray:
    """DEIM indices of the n x r basis V (Sorensen & Embree 2016): r rows, in greedy order."""
    return np.asarray(_core.deim_select(V))


def qdeim(V: np.ndarray) -> np.ndarray:
    """Q-DEIM indices (Drmac & Gugercin 2016): the first r column pivots of QR(V^T)."""
    return np.asarray(_core.qdeim_select(V))


def maxvol(V: np.ndarray, tol: float = MAXVOL_TOL) -> np.ndarray:
    """maxvol indices (Goreinov et al. 2010) from the DEIM start: |V V[p]^{-1}| <= 1 + tol."""
    rows, _, _ = _core.maxvol_select(V, float(tol), 100 * V.shape[1])
    return np.asarray(rows)


def rrqr(V: np.ndarray, f: float = RRQR_F) -> np.ndarray:
    """Strong rank-revealing QR of V^T (Gu & Eisenstat 1996) with parameter f: Q-DEIM's
    pivots, then exchanges until |V V[p]^{-1}| <= f (for a k x n matrix of full row rank
    this is maxvol with tol = f - 1); eta <= sqrt(1 + f^2 k (n - k))."""
    rows, _, _ = _core.maxvol_from(V, qdeim(V).tolist(), float(f) - 1.0, 100 * V.shape[1])
    return np.asarray(rows)


def leverage_from_basis(V: np.ndarray) -> np.ndarray:
    """Leverage scores of an orthonormal basis: squared row norms (they sum to r)."""
    v = np.asarray(V, dtype=np.float64)
    return np.einsum("ij,ij->i", v, v)


def inclusion_probabilities(scores: np.ndarray, count: int) -> np.ndarray:
    """pi_i = min(1, c s_i) with c such that sum(pi) = count (items with large scores are
    taken for certain, the rest in proportion to their scores); uniform where scores are 0."""
    s = np.maximum(np.asarray(scores, dtype=np.float64), 0.0)
    n = s.shape[0]
    pi = np.zeros(n)
    free = np.ones(n, dtype=bool)
    remaining = float(count)
    while remaining > 0 and free.any():
        total = s[free].sum()
        if total <= 0:  # only zero scores left: spread the rest uniformly
            pi[free] = remaining / free.sum()
            break
        trial = remaining * s / total
        over = free & (trial >= 1.0)
        if not over.any():
            pi[free] = trial[free]
            break
        pi[over] = 1.0
        free &= ~over
        remaining = count - pi[~free].sum()
    return np.minimum(pi, 1.0)


def sample_proportional(scores: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct indices drawn with probability proportional to ``scores``
    (sequential sampling without replacement, as ``Generator.choice``); once the indices of
    positive score are used up, the rest are drawn uniformly from the others."""
    s = np.maximum(np.asarray(scores, dtype=np.float64), 0.0)
    positive = np.flatnonzero(s > 0)
    if positive.size >= count:
        p = s[positive] / s[positive].sum()
        return np.sort(rng.choice(positive, size=count, replace=False, p=p))
    rest = np.flatnonzero(s <= 0)
    extra = rng.choice(rest, size=count - positive.size, replace=False)
    return np.sort(np.concatenate([positive, extra]))


Item = tuple[int, float]  # an undecided item and the probability mass it carries
_DECIDED = 1e-12


def _duel(a: Item, b: Item, rng: np.random.Generator, chosen: list[int]) -> Item | None:
    """One step of the pivotal method (Deville & Tille 1998): of two undecided items, one
    drops out or is selected, the other carries the remaining mass; the inclusion
    probabilities of both are kept.  Returns the item still undecided, if any."""
    (i, pa), (j, pb) = a, b
    u = rng.random()
    if pa + pb < 1.0:  # one of the two drops out, the other carries pa + pb
        carry = (j, pa + pb) if u < pb / (pa + pb) else (i, pa + pb)
    elif u < (1.0 - pb) / (2.0 - pa - pb):  # one is selected, the other carries pa + pb - 1
        chosen.append(i)
        carry = (j, pa + pb - 1.0)
    else:
        chosen.append(j)
        carry = (i, pa + pb - 1.0)
    if carry[1] >= 1.0 - _DECIDED:
        chosen.append(carry[0])
        return None
    return None if carry[1] <= _DECIDED else carry


def _sequential(
    items: np.ndarray, pi: np.ndarray, rng: np.random.Generator, chosen: list[int]
) -> Item | None:
    """Ordered pivotal method over ``items`` in the given order; the item left undecided."""
    current: Item | None = None
    for i in items:
        p = float(pi[i])
        if p >= 1.0 - _DECIDED:
            chosen.append(int(i))
        elif p > _DECIDED:
            current = (int(i), p) if current is None else _duel(current, (int(i), p), rng, chosen)
    return current


def _finish_pivotal(last: Item | None, rng: np.random.Generator, chosen: list[int]) -> np.ndarray:
    if last is not None and rng.random() < last[1]:
        chosen.append(last[0])
    return np.sort(np.asarray(chosen, dtype=np.int64))


def pivotal_sample(pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ordered pivotal sampling (Deville & Tille 1998) with inclusion probabilities ``pi``
    (summing to an integer): items are visited in order, two candidates at a time, and the
    one that loses a duel passes its probability to the other, so that neighbouring items
    are rarely selected together.  Returns the selected indices, sorted."""
    pi = np.asarray(pi, dtype=np.float64)
    chosen: list[int] = []
    last = _sequential(np.arange(pi.shape[0]), pi, rng, chosen)
    return _finish_pivotal(last, rng, chosen)


TREE_LEAF = 64
"""Items per leaf of the binary tree of tree_pivotal_sample (visited in order there)."""


def _principal_halves(X: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``idx`` split at the median of its rows' projections on their principal direction
    (a few power iterations from the row farthest from the mean), each half in the order
    of the projection."""
    Y = X[idx] - X[idx].mean(axis=0)
    v = Y[int(np.argmax(np.einsum("ij,ij->i", Y, Y)))].astype(np.float64)
    for _ in range(4):
        v = Y.T @ (Y @ v)
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            break
        v /= norm
    order = idx[np.argsort(Y @ v, kind="stable")]
    half = idx.shape[0] // 2
    return order[:half], order[half:]


def tree_pivotal_sample(pi: np.ndarray, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binary-tree pivotal sampling (Shimizu, Cheng, Musco & Weare, "Improved active
    learning via dependent leverage score sampling", ICLR 2024): the items (rows of X,
    here the rows of the leading singular vectors, where leverage lives) are split
    recursively at the median along their principal direction, and the pivotal duels run
    bottom-up over that tree: first within leaves (in projection order), then between the
    undecided items of sibling subtrees.  Items close in X therefore compete, and are rarely
    selected together: the sample is spread over the row space, which is what lowers the
    error of leverage-score sampling in that paper.  Inclusion probabilities are ``pi``
    exactly.  Returns the selected indices, sorted."""
    pi = np.asarray(pi, dtype=np.float64)
    X = np.asarray(X)
    chosen: list[int] = []

    def run(idx: np.ndarray) -> Item | None:
        if idx.shape[0] <= TREE_LEAF:
            return _sequential(idx, pi, rng, chosen)
        left, right = _principal_halves(X, idx)
        a, b = run(left), run(right)
        if a is None or b is None:
            return a if b is None else b
        return _duel(a, b, rng, chosen)

    return _finish_pivotal(run(np.arange(pi.shape[0])), rng, chosen)


def select(
    method: str,
    V: Any,
    count: int,
    rng: np.random.Generator,
    scores: np.ndarray | None = None,
) -> np.ndarray:
    """``count`` distinct rows of the basis ``V`` (n x r) by ``method``.

    Deterministic methods need ``count == r`` (they pick one row per basis vector);
    ``leverage`` and ``pivotal`` sample with probabilities from ``scores`` (default: the
    squared row norms of V); ``uniform`` ignores V and scores.
    """
    n = V.shape[0] if V is not None else scores.shape[0]  # type: ignore[union-attr]
    if method == "deim":
        return deim(V)
    if method == "qdeim":
        return qdeim(V)
    if method == "maxvol":
        return maxvol(V)
    if method == "rrqr":
        return rrqr(V)
    if method == "uniform":
        return np.sort(rng.choice(n, size=count, replace=False))
    s = leverage_from_basis(V) if scores is None else scores
    if method == "leverage":
        return sample_proportional(s, count, rng)
    if method == "pivotal":
        return _pivotal_exact_count(s, count, rng, V)
    raise ValueError(f"unknown selection method {method!r}")


def _pivotal_exact_count(
    scores: np.ndarray, count: int, rng: np.random.Generator, V: Any = None
) -> np.ndarray:
    """Pivotal sampling (over the binary tree of the rows of V when V is given, else in
    index order) selects exactly sum(pi) items up to rounding of the last duel; repair the
    rare off-by-one by dropping or adding proportionally."""
    pi = inclusion_probabilities(scores, count)
    idx = pivotal_sample(pi, rng) if V is None else tree_pivotal_sample(pi, V, rng)
    if idx.size > count:
        idx = np.sort(rng.choice(idx, size=count, replace=False))
    elif idx.size < count:
        rest = np.setdiff1d(np.arange(scores.shape[0]), idx)
        w = pi[rest] + 1e-300
        extra = rng.choice(rest, size=count - idx.size, replace=False, p=w / w.sum())
        idx = np.sort(np.concatenate([idx, extra]))
    return idx


SWAP_RTOL = 1e-10
"""swap_refine accepts a swap only if it lowers the objective by more than this fraction
(in float32: ``max(SWAP_RTOL, 100 eps)``), so rounding cannot make it cycle."""


def swap_refine(
    V: np.ndarray,
    s: np.ndarray,
    start: np.ndarray,
    *,
    shortlist: int | None = None,
    max_swaps: int | None = None,
) -> tuple[np.ndarray, int]:
    """Improve the rows ``start`` of V (n x r, orthonormal columns) by single exchanges
    (core: cpp/include/rankwise/algo/swap_refine.hpp).

    Objective: ``f(J) = ||B - B_J B_J^+ B||_F^2`` with ``B = diag(s) V^T`` (r x n), the
    error of a column subset of the rank-r surrogate ``U diag(s) V^T`` of A (with r = 2k
    singular triplets, a stand-in for ``||A - C C^+ A||_F``; V = U_r and rows of A
    likewise).  Local search (the exchange / "swapping" heuristic for column subset
    selection: Gu & Eisenstat 1996 swap to raise a determinant, here, as in the local
    search of Anari, Gharan & Rezaei 2016 and Deshpande & Rademacher 2010, to lower the
    projection error directly): repeatedly make the exchange (selected j, unselected i)
    that lowers f most, its gain in closed form, until none lowers it by more than
    ``SWAP_RTOL f`` (and than the rounding level ``r eps ||B||_F^2``, below which f is
    rounding noise) or ``max_swaps`` (default ``2 len(start)``) were made.  f never
    increases.

    Gain of replacing selected column j by column i: with B_J = Q T (thin QR),
    W = T^{-1} Q^T = B_J^+ and w_j = ||W_j||, dropping column j adds
    g_j = ||W_j diag(s)||^2 / w_j^2 (the part of B along q_j = W_j^T / w_j, the unit
    vector of span(B_J) orthogonal to the other selected columns) and leaves the residual
    E + q_j a_j^T (E = B - Q Q^T B, a_j = B^T W_j^T / w_j); adding column i then removes
    ||E'^T e'_i||^2 / ||e'_i||^2 with e'_i = E_i + q_j a_ji, i.e.
    (s_i + 2 a_ji p_ji + a_ji^2 g_j) / (d_i + a_ji^2) with d_i = ||E_i||^2,
    s_i = ||diag(s) E_i||^2 and p_ji = W_j diag(s^2) E_i / w_j (because B B^T = diag(s^2)).
    Only B_J and the candidate columns enter: O(r k L) flops for L candidates.

    To keep each step cheap, exchanges are searched among a shortlist of the
    ``shortlist`` (default ``4 len(start)``) candidates with the best exchange found in
    a full search over all n rows; the full search is repeated when the shortlist has no
    improving exchange left, and the search stops only when the full one has none.
    Cost: O(r k n) per full search, O(r k shortlist) per step, on the r x n surrogate
    only (A is not touched).

    The exchanges need ``B[:, start]`` of full column rank: a start without it (uniform
    samples that hit empty columns) first has its dependent entries replaced by
    :func:`_independent_start`, each replacement counted as an exchange (within
    ``max_swaps``).  Where B itself has rank below ``len(start)`` that cannot be had, and
    the start, so completed, is returned without exchanges.

    Returns ``(rows, swaps)``: the refined rows (the positions of ``start`` that were not
    exchanged keep their place) and the number of exchanges made.
    """
    V = np.asarray(V)
    k = len(start)
    cap = 2 * k if max_swaps is None else max_swaps
    start, replaced = _independent_start(V * np.asarray(s, dtype=V.dtype), np.asarray(start), cap)
    rtol = max(SWAP_RTOL, 100 * float(np.finfo(V.dtype).eps))
    rows, swaps, _ = _core.swap_refine(
        V,
        np.asarray(s, dtype=np.float64).tolist(),
        start.astype(np.int64).tolist(),
        4 * k if shortlist is None else shortlist,
        cap - replaced,
        rtol,
    )
    return np.asarray(rows), int(swaps) + replaced


class RowSource(Protocol):
    """The rows of ``Bt = V diag(s)`` (n x r, float64) as :func:`independent_start` reads
    them: held in memory (:class:`InMemoryRows`) or in a dask array's row blocks
    (python/rankwise/_dask.py)."""

    shape: tuple[int, int]

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """``Bt[idx]``."""
        ...

    def max_row_norm(self) -> float:
        """The norm of Bt's largest row."""
        ...

    def gram(self) -> np.ndarray:
        """``Bt^T Bt`` (r x r)."""
        ...

    def best_row(self, P: np.ndarray, M: np.ndarray, floor: float, chosen: np.ndarray) -> int:
        """The row i outside ``chosen`` with ``||P b_i|| > floor`` (b_i = Bt's row i) of
        largest gain ``b_i^T P M P b_i / ||P b_i||^2``; -1 where there is none."""
        ...


class InMemoryRows:
    """:class:`RowSource` of an ndarray Bt."""

    def __init__(self, Bt: np.ndarray) -> None:
        self.Bt = Bt.astype(np.float64)
        self.shape = self.Bt.shape

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return self.Bt[idx]

    def max_row_norm(self) -> float:
        return float(np.sqrt(np.einsum("ij,ij->i", self.Bt, self.Bt).max(initial=0.0)))

    def gram(self) -> np.ndarray:
        return self.Bt.T @ self.Bt

    def best_row(self, P: np.ndarray, M: np.ndarray, floor: float, chosen: np.ndarray) -> int:
        gains = exchange_gains(self.Bt @ P, M, floor)
        gains[chosen] = 0.0  # no row twice
        best = int(np.argmax(gains))
        return best if gains[best] > 0 else -1


def exchange_gains(E: np.ndarray, M: np.ndarray, floor: float) -> np.ndarray:
    """``e_i^T M e_i / ||e_i||^2`` for the rows e_i of E with ``||e_i|| > floor``, 0 for
    the others."""
    norms2 = np.einsum("ij,ij->i", E, E)
    live = norms2 > floor**2
    gains = np.zeros(len(E))
    gains[live] = np.einsum("ij,jk,ik->i", E[live], M, E[live]) / norms2[live]
    return gains


def _independent_start(Bt: np.ndarray, start: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
    """:func:`independent_start` of an ndarray Bt."""
    return independent_start(InMemoryRows(Bt), start, limit, Bt.dtype)


def independent_start(
    source: RowSource, start: np.ndarray, limit: int, dtype: Any
) -> tuple[np.ndarray, int]:
    """(start, replaced): the rows ``start`` of Bt (n x r, B^T; in ``dtype``) with the
    numerically dependent ones (after a pivoted QR of ``Bt[start]^T``, its pivots below r eps
    times the norm of Bt's largest row) replaced, in their positions, one at a time, by the
    row that lowers ``||B - B_J B_J^+ B||_F^2`` most: with ``E^T = Bt P`` (P the projector
    onto the complement of the kept rows' span), adding row i removes
    ``e_i^T E^T E e_i / ||e_i||^2`` (e_i = E^T's row i; ``E^T E = P Bt^T Bt P``), the gain
    formula of swap_refine without the removal.  Stops, keeping the rest of ``start``, after
    ``limit`` replacements or where no row has a residual above rounding (B of rank below
    len(start)).  A start that is not a valid selection (indices out of range or repeated,
    more than r) is returned as it is, for the core to refuse."""
    eps = float(np.finfo(dtype).eps)
    n, r = source.shape
    valid = start.ndim == 1 and 0 < len(start) <= r and len(np.unique(start)) == len(start)
    if not (valid and start.min() >= 0 and start.max() < n):
        return start, 0
    R, perm = scipy.linalg.qr(source.rows(start).T, mode="r", pivoting=True)
    d = np.abs(np.diagonal(R))
    # rounding level: of B's largest column (not the start's: rows of rounding noise, as
    # a randomized SVD gives A's empty columns, would pass for independent among themselves)
    floor = r * eps * source.max_row_norm()
    if d[-1] > floor:
        return start, 0
    keep = list(perm[: int(np.count_nonzero(d > floor))])
    rows = start.copy()
    Q = np.linalg.qr(source.rows(rows[keep]).T)[0] if len(keep) else np.zeros((r, 0))
    G = source.gram()
    replaced = 0
    for position in sorted(set(range(len(rows))) - {int(p) for p in keep}):
        if replaced == limit or Q.shape[1] >= r:
            break
        P = np.eye(r) - Q @ Q.T
        best = source.best_row(P, P @ G @ P, floor, rows)
        if best < 0:
            break
        rows[position] = best
        keep = [*keep, position]
        q = P @ source.rows(np.array([best]))[0]
        q = q - Q @ (Q.T @ q)
        Q = np.column_stack([Q, q / np.linalg.norm(q)])
        replaced += 1
    return rows, replaced
