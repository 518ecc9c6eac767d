"""Row selection on a basis (DEIM, Q-DEIM, maxvol in the core) and leverage-score sampling.

Shared by the CUR / interpolative decompositions and by empirical interpolation: each
function takes a basis ``V`` (n x r, float32 or float64, e.g. leading singular vectors) and
returns distinct row indices (int64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


def pivotal_sample(pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ordered pivotal sampling (Deville & Tille 1998) with inclusion probabilities ``pi``
    (summing to an integer): items are visited in order, two candidates at a time, and the
    one that loses a duel passes its probability to the other, so that neighbouring items
    are rarely selected together (Shimizu, Cheng, Musco & Weare 2024 use this dependence
    for leverage-score sampling).  Returns the selected indices, sorted."""
    pi = np.asarray(pi, dtype=np.float64).copy()
    chosen: list[int] = []
    current = -1  # index holding the undecided probability mass
    for i in range(pi.shape[0]):
        if pi[i] >= 1.0 - 1e-12:
            chosen.append(i)
            continue
        if pi[i] <= 1e-12:
            continue
        if current < 0:
            current = i
            continue
        a, b = pi[current], pi[i]
        u = rng.random()
        if a + b < 1.0:  # one of the two drops out, the other carries a + b
            if u < b / (a + b):
                current, pi[i] = i, a + b
            else:
                pi[current] = a + b
        else:  # one of the two is selected, the other carries a + b - 1
            if u < (1.0 - b) / (2.0 - a - b):
                chosen.append(current)
                current, pi[i] = i, a + b - 1.0
            else:
                chosen.append(i)
                pi[current] = a + b - 1.0
        if current >= 0 and pi[current] >= 1.0 - 1e-12:
            chosen.append(current)
            current = -1
        elif current >= 0 and pi[current] <= 1e-12:
            current = -1
    if current >= 0 and rng.random() < pi[current]:
        chosen.append(current)
    return np.sort(np.asarray(chosen, dtype=np.int64))


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
        return _pivotal_exact_count(s, count, rng)
    raise ValueError(f"unknown selection method {method!r}")


def _pivotal_exact_count(scores: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Pivotal sampling selects exactly sum(pi) items up to rounding of the last duel;
    repair the rare off-by-one by dropping or adding proportionally."""
    pi = inclusion_probabilities(scores, count)
    idx = pivotal_sample(pi, rng)
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

    Returns ``(rows, swaps)``: the refined rows (the positions of ``start`` that were not
    exchanged keep their place) and the number of exchanges made.  A start with
    ``B[:, start]`` numerically rank deficient is returned as it is.
    """
    V = np.asarray(V)
    k = len(start)
    rtol = max(SWAP_RTOL, 100 * float(np.finfo(V.dtype).eps))
    rows, swaps, _ = _core.swap_refine(
        V,
        np.asarray(s, dtype=np.float64).tolist(),
        np.asarray(start, dtype=np.int64).tolist(),
        4 * k if shortlist is None else shortlist,
        2 * k if max_swaps is None else max_swaps,
        rtol,
    )
    return np.asarray(rows), int(swaps)
