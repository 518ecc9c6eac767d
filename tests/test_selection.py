"""Selection kernels (DEIM, Q-DEIM, maxvol in the core; leverage and pivotal sampling):
equality with plain numpy/SciPy references and the bounds of the papers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from conftest import eps, random_orthonormal
from rankwise import _core, _selection

SHAPES = [(50, 1), (200, 7), (500, 30), (1000, 64)]


def deim_reference(V: np.ndarray) -> np.ndarray:
    """Sorensen & Embree 2016, Algorithm 1, as written: greedy on interpolation residuals."""
    p = [int(np.argmax(np.abs(V[:, 0])))]
    for j in range(1, V.shape[1]):
        c = np.linalg.solve(V[p, :j], V[p, j])
        r = V[:, j] - V[:, :j] @ c
        p.append(int(np.argmax(np.abs(r))))
    return np.array(p)


def eta(V: np.ndarray, p: np.ndarray) -> float:
    """||V[p]^{-1}||_2 (||V[p]^+||_2 for oversampled p), the error amplification."""
    s = np.linalg.svd(V[p].astype(np.float64), compute_uv=False)
    return float(1.0 / s[-1])


def assert_distinct_in_range(idx: np.ndarray, n: int, count: int) -> None:
    assert idx.dtype == np.int64
    assert idx.shape == (count,)
    assert np.unique(idx).size == count
    assert idx.min() >= 0
    assert idx.max() < n


@pytest.mark.parametrize(("n", "k"), SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deim_equals_numpy_reference(n: int, k: int, seed: int) -> None:
    V = random_orthonormal(np.random.default_rng(seed), n, k)
    got = _selection.deim(V)
    np.testing.assert_array_equal(got, deim_reference(V))
    # Sorensen & Embree 2016, Lemma 4.2: eta < sqrt(n k / 3) 2^k
    assert eta(V, got) < math.sqrt(n * k / 3) * 2.0**k


@pytest.mark.parametrize(("n", "k"), SHAPES)
def test_deim_float32_matches_float32_reference_set(n: int, k: int) -> None:
    V = random_orthonormal(np.random.default_rng(5), n, k).astype(np.float32)
    got = _selection.deim(V)
    assert_distinct_in_range(got, n, k)
    # same picks as the greedy algorithm in float64 on the same numbers, up to ties that
    # float32 rounding can flip; on random bases there are none
    np.testing.assert_array_equal(got, deim_reference(V.astype(np.float64)))


@pytest.mark.parametrize(("n", "k"), SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_qdeim_equals_scipy_pivoted_qr(n: int, k: int, dtype: type) -> None:
    V = random_orthonormal(np.random.default_rng(3), n, k).astype(dtype)
    got = _selection.qdeim(V)
    _, _, piv = scipy.linalg.qr(V.T, pivoting=True, mode="economic")
    np.testing.assert_array_equal(got, piv[:k])
    # Drmac & Gugercin 2016, Theorem 2.1: eta <= sqrt(n - k + 1) sqrt(4^k + 6k - 1) / 3
    assert eta(V, got) <= math.sqrt(n - k + 1) * math.sqrt(4.0**k + 6 * k - 1) / 3 * 1.001


@pytest.mark.parametrize(("n", "k"), SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxvol_dominance_and_volume(n: int, k: int, dtype: type) -> None:
    V = random_orthonormal(np.random.default_rng(4), n, k).astype(dtype)
    tol = 0.05
    rows, swaps, coef = _core.maxvol_select(V, tol, 100 * k)
    rows = np.asarray(rows)
    assert_distinct_in_range(rows, n, k)
    V64 = V.astype(np.float64)
    B = V64 @ np.linalg.inv(V64[rows])
    slack = 1000 * eps(dtype) * k
    assert np.abs(B).max() <= 1 + tol + slack
    assert coef <= 1 + tol + slack
    # the exchanges only ever increase |det V[p]| from the DEIM start
    start = _selection.deim(V)
    logdet = np.linalg.slogdet(V64[rows])[1]
    assert logdet >= np.linalg.slogdet(V64[start])[1] - 1e-6
    assert swaps >= 0
    # Goreinov et al. 2010: eta <= sqrt(1 + (1 + tol)^2 k (n - k))
    assert eta(V, rows) <= math.sqrt(1 + (1 + tol + slack) ** 2 * k * (n - k))


@pytest.mark.parametrize(("n", "k"), SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rrqr_coefficients_bounded_by_f(n: int, k: int, dtype: type) -> None:
    V = random_orthonormal(np.random.default_rng(6), n, k).astype(dtype)
    rows = _selection.rrqr(V, f=2.0)
    assert_distinct_in_range(rows, n, k)
    V64 = V.astype(np.float64)
    slack = 1000 * eps(dtype) * k
    # Gu & Eisenstat 1996: |R11^{-1} R12| <= f, i.e. |V V[p]^{-1}| <= f
    assert np.abs(V64 @ np.linalg.inv(V64[rows])).max() <= 2.0 + slack
    assert eta(V, rows) <= math.sqrt(1 + (2.0 + slack) ** 2 * k * (n - k))
    # the exchanges start from Q-DEIM and only increase |det V[p]|
    start = _selection.qdeim(V)
    assert np.linalg.slogdet(V64[rows])[1] >= np.linalg.slogdet(V64[start])[1] - 1e-6


def test_maxvol_from_start_rows_checked() -> None:
    V = random_orthonormal(np.random.default_rng(0), 30, 3)
    with pytest.raises(ValueError, match="singular"):
        _core.maxvol_from(V, [1, 1, 2], 0.05, 10)
    with pytest.raises(ValueError, match="out of range"):
        _core.maxvol_from(V, [1, 2, 30], 0.05, 10)
    with pytest.raises(ValueError, match="start rows"):
        _core.maxvol_from(V, [1, 2], 0.05, 10)
    rows, swaps, coef = _core.maxvol_from(V, [0, 1, 2], 0.0, 1000)
    assert coef <= 1 + 1e-12
    assert swaps >= 0
    V64 = V[np.asarray(rows)]
    assert np.abs(V @ np.linalg.inv(V64)).max() <= 1 + 1e-12


def test_maxvol_converged_start_makes_no_swap() -> None:
    V = np.zeros((6, 2))
    V[0, 0] = V[1, 1] = 1.0  # identity block: every |B_ij| <= 1 already
    V[2:, :] = 0.5
    rows, swaps, _ = _core.maxvol_select(V, 0.0, 10)
    assert sorted(np.asarray(rows).tolist()) == [0, 1]
    assert swaps == 0


@pytest.mark.parametrize("V", [np.ones(5), np.ones((3, 4)), np.ones((4, 0))])
def test_bad_basis_shapes(V: np.ndarray) -> None:
    for fn in (_core.deim_select, _core.qdeim_select):
        with pytest.raises(ValueError, match=r"2-D|basis"):
            fn(V)


def test_bad_basis_dtype() -> None:
    with pytest.raises(ValueError, match="float32 or float64"):
        _core.deim_select(np.ones((4, 2), dtype=np.int64))


def test_basis_not_modified() -> None:
    V = random_orthonormal(np.random.default_rng(0), 100, 8)
    before = V.copy()
    _selection.deim(V)
    _selection.qdeim(V)
    _selection.maxvol(V)
    np.testing.assert_array_equal(V, before)


def test_c_order_basis_same_as_fortran() -> None:
    V = random_orthonormal(np.random.default_rng(2), 120, 9)
    np.testing.assert_array_equal(
        _selection.deim(np.ascontiguousarray(V)), _selection.deim(np.asfortranarray(V))
    )


@pytest.mark.parametrize("count", [1, 5, 40])
def test_inclusion_probabilities(count: int) -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(60) ** 4
    scores[:3] = 0.0
    pi = _selection.inclusion_probabilities(scores, count)
    assert pi.min() >= 0
    assert pi.max() <= 1
    assert math.isclose(pi.sum(), count, rel_tol=1e-12)
    # proportional to the scores below the cap
    free = (pi < 1) & (scores > 0)
    ratio = pi[free] / scores[free]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)


@pytest.mark.parametrize("method", ["leverage", "pivotal", "uniform"])
@pytest.mark.parametrize("count", [1, 7, 30])
def test_sampled_indices_distinct(method: str, count: int) -> None:
    rng = np.random.default_rng(1)
    V = random_orthonormal(rng, 80, 5)
    for _ in range(20):
        idx = _selection.select(method, V, count, rng)
        assert_distinct_in_range(idx, 80, count)


def test_pivotal_inclusion_frequencies_match_probabilities() -> None:
    rng = np.random.default_rng(7)
    scores = np.linspace(0.1, 1.0, 12)
    pi = _selection.inclusion_probabilities(scores, 4)
    draws = 4000
    counts = np.zeros(12)
    for _ in range(draws):
        idx = _selection.pivotal_sample(pi, rng)
        assert idx.size == 4
        counts[idx] += 1
    # binomial standard error <= 0.5 / sqrt(4000) ~ 0.008; 6 sigma
    np.testing.assert_allclose(counts / draws, pi, atol=0.05)


def test_leverage_sampling_takes_certain_items() -> None:
    rng = np.random.default_rng(0)
    scores = np.zeros(50)
    scores[[3, 17]] = 1.0
    for _ in range(10):
        idx = _selection.select("leverage", None, 2, rng, scores=scores)
        np.testing.assert_array_equal(idx, [3, 17])
        more = _selection.select("leverage", None, 5, rng, scores=scores)
        assert {3, 17} <= set(more.tolist())
