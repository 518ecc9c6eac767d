"""Fixed-precision mode: rankwise.svd(A, tol=...) (Yu-Gu-Li randQB_EI).

The contract checked exactly, with dense float64 numpy on the values rankwise
sees: ||A - U diag(s) Vt||_F <= tol * ||A||_F, with an adaptive rank
r <= max_rank (default min(m, n)).  Only tolerances the algorithm can reach
are used (accuracy floor ~sqrt(eps): tol >= 1e-6 in float64, >= 1e-2 in
float32), and only problems where the optimal rank for tol is well below
min(m, n), so the (unspecified) max_rank-reached case never occurs.
"""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import (
    Problem,
    assert_svd_output,
    make_problem,
    make_sparse_problem,
    problem_from_matrix,
    with_layout,
)

SEED = 777

TOLS = [
    (np.float64, 1e-1),
    (np.float64, 1e-3),
    (np.float64, 1e-6),
    (np.float32, 1e-1),
    (np.float32, 1e-2),
]


def optimal_rank(prob: Problem, tol: float) -> int:
    """Smallest r with ||A - A_r||_F <= tol ||A||_F."""
    s2 = prob.s**2
    tails = np.sqrt(np.concatenate([np.cumsum(s2[::-1])[::-1], [0.0]]))
    return int(np.flatnonzero(tails <= tol * tails[0])[0])


def check_fixed_precision(
    prob: Problem, out, tol: float, dtype, max_rank: int | None = None
) -> int:
    U, s, Vt = out
    m, n = prob.shape
    r = s.shape[0]
    assert 1 <= r <= (max_rank if max_rank is not None else min(m, n))
    assert_svd_output(U, s, Vt, (m, n), r, dtype)
    err = np.linalg.norm(
        prob.A64 - (U.astype(np.float64) * s.astype(np.float64)) @ Vt.astype(np.float64)
    )
    normA = np.linalg.norm(prob.A64)
    assert err <= tol * normA, (
        f"||A - U S Vt||_F / ||A||_F = {err / normA:.3e} > tol = {tol:g} (rank {r})"
    )
    # a consequence of the error check, stated for a clearer failure message
    assert r >= optimal_rank(prob, tol)
    # randQB_EI truncates its last block to the smallest rank meeting tol: the rank found is
    # the optimal one up to the indicator's rounding (measured: at most +2)
    assert r <= optimal_rank(prob, tol) + 4, f"rank {r} vs optimal {optimal_rank(prob, tol)}"
    return r


def _problem(spec: str, dtype, m: int = 300, n: int = 200) -> Problem:
    return make_problem(spec, m, n, np.dtype(dtype).name)


def _reachable_cases() -> list:
    """(dtype, tol, spec) whose optimal rank is at most min(m, n) / 2."""
    cases = []
    for dtype, tol in TOLS:
        for spec in ("exp", "gap", "lowrank"):
            prob = _problem(spec, dtype)
            if optimal_rank(prob, tol) <= min(prob.shape) // 2:
                cases.append(
                    pytest.param(dtype, tol, spec, id=f"{np.dtype(dtype).name}-{tol:g}-{spec}")
                )
    return cases


@pytest.mark.parametrize("block", [None, 4, 16], ids=["k=None", "k=4", "k=16"])
@pytest.mark.parametrize(("dtype", "tol", "spec"), _reachable_cases())
def test_dense_tolerance_met(dtype, tol, spec, block) -> None:
    prob = _problem(spec, dtype)
    out = rankwise.svd(with_layout(prob.A, "C"), block, tol=tol, random_state=SEED)
    check_fixed_precision(prob, out, tol, dtype)


@pytest.mark.parametrize("layout", ["F", "strided"])
@pytest.mark.parametrize(
    ("dtype", "tol"), [(np.float64, 1e-4), (np.float32, 1e-2)], ids=["f64", "f32"]
)
def test_dense_layouts_tolerance_met(dtype, tol, layout) -> None:
    prob = _problem("exp", dtype)
    out = rankwise.svd(with_layout(prob.A, layout), tol=tol, random_state=SEED)
    check_fixed_precision(prob, out, tol, dtype)


@pytest.mark.parametrize("shape", [(200, 300), (150, 150)], ids=["wide", "square"])
def test_wide_and_square(shape) -> None:
    prob = _problem("exp", np.float64, *shape)
    out = rankwise.svd(np.array(prob.A), tol=1e-5, random_state=SEED)
    check_fixed_precision(prob, out, 1e-5, np.float64)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize(
    ("dtype", "tol"),
    [(np.float64, 1e-6), (np.float64, 1e-2), (np.float32, 1e-2)],
    ids=["f64-1e-6", "f64-1e-2", "f32-1e-2"],
)
def test_sparse_tolerance_met(dtype, tol, fmt) -> None:
    base = make_sparse_problem(300, 200)
    prob = problem_from_matrix(base.A.astype(dtype))
    assert optimal_rank(prob, tol) <= 100
    S = sp.csr_array(np.array(prob.A)) if fmt == "csr" else sp.csc_array(np.array(prob.A))
    out = rankwise.svd(S, tol=tol, random_state=SEED)
    check_fixed_precision(prob, out, tol, dtype)


@pytest.mark.parametrize("block", [3, 5, 8])
def test_rank_is_adaptive_on_exact_low_rank(block) -> None:
    """Exact rank 20: the rank grows in blocks of k and stops soon after 20."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 20)) @ rng.standard_normal((20, 200))
    prob = problem_from_matrix(X)
    out = rankwise.svd(X.copy(), block, tol=1e-6, random_state=SEED)
    r = check_fixed_precision(prob, out, 1e-6, np.float64)
    assert r >= 20
    # grows by blocks of `block` (plus at most the default oversampling of 10)
    assert r <= 20 + block + 10, f"rank {r} not adaptive (exact rank 20, block {block})"


def test_smaller_tol_needs_no_smaller_rank() -> None:
    prob = _problem("exp", np.float64)
    ranks = []
    for tol in (1e-1, 1e-3, 1e-6):
        out = rankwise.svd(np.array(prob.A), tol=tol, random_state=SEED)
        ranks.append(check_fixed_precision(prob, out, tol, np.float64))
    assert ranks[0] <= ranks[1] <= ranks[2]
    assert ranks[0] < ranks[2]


@pytest.mark.parametrize("max_rank", [60, 120])
def test_max_rank_respected_when_tol_reachable(max_rank) -> None:
    prob = _problem("exp", np.float64)
    tol = 1e-4
    assert optimal_rank(prob, tol) < 60
    out = rankwise.svd(np.array(prob.A), tol=tol, max_rank=max_rank, random_state=SEED)
    check_fixed_precision(prob, out, tol, np.float64, max_rank=max_rank)


def test_zero_padding_rows_columns() -> None:
    """Rank structure plus exact zero rows/columns (sparse-like dense data)."""
    prob0 = _problem("exp", np.float64, 100, 80)
    A = np.zeros((130, 95))
    A[:100, :80] = prob0.A
    prob = problem_from_matrix(A)
    out = rankwise.svd(A.copy(), tol=1e-3, random_state=SEED)
    check_fixed_precision(prob, out, 1e-3, np.float64)


@pytest.mark.parametrize("bad", [0.0, -1e-3, 1.0, 1.5])
def test_invalid_tol(bad) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(np.eye(20), tol=bad)


def test_neither_k_nor_tol() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(np.eye(20))
