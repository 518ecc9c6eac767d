"""rankwise.cur and rankwise.leverage_scores: exact recovery, the DEIM-CUR error bound,
sparse and operator inputs, weights, dtypes and bad input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import eps, make_problem, random_orthonormal
from scipy.sparse.linalg import aslinearoperator

DETERMINISTIC = ("deim", "qdeim", "rrqr", "maxvol")
SAMPLED = ("leverage", "pivotal", "uniform")
ALL_METHODS = DETERMINISTIC + SAMPLED
CORES = ("pinv", "cross", "stabilized")


def low_rank(m: int, n: int, r: int, dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = np.geomspace(1.0, 1e-2, r)
    A = (random_orthonormal(rng, m, r) * s) @ random_orthonormal(rng, n, r).T
    return A.astype(dtype)


def check_factors(d: rankwise.CURDecomposition, A: np.ndarray, count_rows: int, count_cols: int):
    m, n = A.shape
    for idx, length, count in ((d.rows, m, count_rows), (d.cols, n, count_cols)):
        assert idx.dtype == np.int64
        assert idx.shape == (count,)
        assert np.unique(idx).size == count
        assert idx.min() >= 0
        assert idx.max() < length
    C = d.C.toarray() if sp.issparse(d.C) else d.C
    R = d.R.toarray() if sp.issparse(d.R) else d.R
    np.testing.assert_array_equal(C, A[:, d.cols])
    np.testing.assert_array_equal(R, A[d.rows, :])
    assert d.U.shape == (count_cols, count_rows)


@pytest.mark.parametrize("method", DETERMINISTIC)
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_recovery_of_exact_rank(method: str, core: str, dtype: type) -> None:
    k = 8
    A = low_rank(120, 90, k, dtype)
    d = rankwise.cur(A, k, method=method, core=core, random_state=0)
    check_factors(d, A, k, k)
    assert d.U.dtype == dtype
    assert d.C.dtype == dtype
    err = np.linalg.norm(A - d.to_dense()) / np.linalg.norm(A)
    # sigma_k / sigma_1 = 1e-2: the core amplifies rounding by at most cond(A[I, J]) (about
    # 1e2; measured at most 19 eps over the methods and cores)
    assert err < 1e3 * eps(dtype)


@pytest.mark.parametrize("method", SAMPLED)
def test_sampled_with_oversampling_recovers_exact_rank(method: str) -> None:
    # sampling k + p indices from a rank-k matrix whose factors are incoherent captures the
    # row and column spaces with overwhelming probability; the pinv core then is exact
    k = 5
    A = low_rank(200, 150, k)
    d = rankwise.cur(A, k, method=method, core="pinv", oversample=10, random_state=1)
    check_factors(d, A, k + 10, k + 10)
    assert np.linalg.norm(A - d.to_dense()) < 1e3 * eps(np.float64) * np.linalg.norm(A)


@pytest.mark.parametrize("spectrum", ["exp", "poly"])
@pytest.mark.parametrize("method", DETERMINISTIC)
def test_deim_error_bound(spectrum: str, method: str) -> None:
    """Sorensen & Embree 2016, Theorem 4.1: with the core C^+ A R^+ and any indices p, q,
    ||A - C U R||_2 <= (eta_p + eta_q) sigma_{k+1}, eta_p = ||W_k[p]^{-1}||_2 for the exact
    leading singular vectors W_k (and likewise for q and V_k)."""
    prob = make_problem(spectrum, 300, 200)
    k = 15
    d = rankwise.cur(prob.A, k, method=method, core="pinv", random_state=0)
    eta_p = 1.0 / np.linalg.svd(prob.U[d.rows, :k], compute_uv=False)[-1]
    eta_q = 1.0 / np.linalg.svd(prob.Vt[:k, d.cols], compute_uv=False)[-1]
    err = np.linalg.norm(prob.A64 - d.to_dense(), 2)
    assert err <= (eta_p + eta_q) * prob.sigma(k) * (1 + 1e-8)


@pytest.mark.parametrize("method", ["deim", "qdeim", "maxvol"])
def test_pinv_core_is_optimal_for_its_indices(method: str) -> None:
    prob = make_problem("exp", 200, 150)
    d = rankwise.cur(prob.A, 10, method=method, core="pinv", random_state=0)
    C, R = d.C, d.R
    best = np.linalg.pinv(C) @ prob.A64 @ np.linalg.pinv(R)
    np.testing.assert_allclose(d.U, best, rtol=1e-6, atol=1e-8 * np.abs(best).max())


def test_oversampled_stabilized_close_to_pinv() -> None:
    prob = make_problem("exp", 300, 200)
    k = 12
    opt = prob.tail_fro(k)
    errs = {}
    for core in ("pinv", "stabilized"):
        d = rankwise.cur(prob.A, k, core=core, oversample=(8, 0), random_state=0)
        check_factors(d, prob.A, k + 8, k)
        errs[core] = np.linalg.norm(prob.A64 - d.to_dense()) / opt
    assert errs["pinv"] < 3
    assert errs["stabilized"] < 2 * errs["pinv"]


def test_coherent_matrix_deim_succeeds() -> None:
    # rank-k matrix supported on k rows and k columns: a uniform sample of k rows almost
    # surely misses them, DEIM and leverage scores find them
    m, n, k = 400, 300, 6
    rng = np.random.default_rng(0)
    A = np.zeros((m, n))
    rows, cols = rng.choice(m, k, replace=False), rng.choice(n, k, replace=False)
    A[np.ix_(rows, cols)] = rng.standard_normal((k, k))
    for method in ("deim", "qdeim", "maxvol", "leverage"):
        d = rankwise.cur(A, k, method=method, core="pinv", random_state=0)
        assert set(d.rows.tolist()) == set(rows.tolist())
        assert np.linalg.norm(A - d.to_dense()) < 1e-10 * np.linalg.norm(A)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("container", ["matrix", "array"])
def test_sparse_in_sparse_out(fmt: str, container: str) -> None:
    rng = np.random.default_rng(0)
    S = sp.random_array((400, 250), density=0.05, format=fmt, rng=rng)
    if container == "matrix":
        S = sp.coo_matrix(S).asformat(fmt)
    dense = S.toarray()
    d = rankwise.cur(S, 10, core="pinv", random_state=0)
    assert sp.issparse(d.C)
    assert sp.issparse(d.R)
    assert isinstance(d.C, sp.sparray) == (container == "array")
    check_factors(d, dense, 10, 10)
    dd = rankwise.cur(dense, 10, core="pinv", random_state=0)
    rel = np.linalg.norm(dense - d.to_dense()) / np.linalg.norm(dense - dd.to_dense())
    assert 0.5 < rel < 2


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("density", [0.002, 0.05])
def test_sparse_pinv_core_equals_dense_formula(fmt: str, dtype: type, density: float) -> None:
    # the sparse path works on the nonzero rows of C and columns of R only; it must equal
    # C^+ A R^+ of the dense matrices (at density 0.002 C has fewer nonzero rows than
    # columns and some selected columns are empty)
    rng = np.random.default_rng(1)
    S = sp.random_array((500, 300), density=density, format=fmt, rng=rng, dtype=dtype)
    rows, cols = rng.choice(500, 12, replace=False), rng.choice(300, 15, replace=False)
    d = rankwise.cur(S, 12, rows=rows, cols=cols, core="pinv")
    A = S.toarray().astype(np.float64)
    best = np.linalg.pinv(A[:, cols]) @ A @ np.linalg.pinv(A[rows, :])
    assert d.U.dtype == dtype
    np.testing.assert_allclose(d.U, best, rtol=0, atol=100 * eps(dtype) * np.abs(best).max())


def test_sparse_pinv_core_of_zero_selection() -> None:
    S = sp.csr_array((np.ones(3), ([0, 1, 2], [0, 1, 2])), shape=(50, 40))
    d = rankwise.cur(S, 2, rows=[10, 11], cols=[20, 21], core="pinv")
    np.testing.assert_array_equal(d.U, np.zeros((2, 2)))


def test_linear_operator_input() -> None:
    prob = make_problem("exp", 150, 100)
    op = aslinearoperator(prob.A)
    d = rankwise.cur(op, 10, core="pinv", random_state=0)
    dd = rankwise.cur(prob.A, 10, core="pinv", random_state=0)
    np.testing.assert_array_equal(d.rows, dd.rows)
    np.testing.assert_array_equal(d.cols, dd.cols)
    np.testing.assert_allclose(d.C, dd.C, atol=1e-14)
    np.testing.assert_allclose(d.R, dd.R, atol=1e-14)
    np.testing.assert_allclose(d.to_dense(), dd.to_dense(), atol=1e-10)


def test_weights_select_on_scaled_matrix_factor_a() -> None:
    prob = make_problem("poly", 200, 120)
    rng = np.random.default_rng(3)
    rw, cw = rng.random(200) + 0.1, rng.random(120) ** 3
    d = rankwise.cur(prob.A, 10, weights=(rw, cw), core="pinv", random_state=0)
    scaled = prob.A * rw[:, None] * cw[None, :]
    ref = rankwise.cur(scaled, 10, core="pinv", random_state=0)
    np.testing.assert_array_equal(d.rows, ref.rows)
    np.testing.assert_array_equal(d.cols, ref.cols)
    check_factors(d, prob.A, 10, 10)  # factors of A itself
    only_cols = rankwise.cur(prob.A, 10, weights=(None, cw), random_state=0)
    ref_cols = rankwise.cur(prob.A * cw[None, :], 10, random_state=0)
    np.testing.assert_array_equal(only_cols.cols, ref_cols.cols)
    # sparse and operator inputs take the same weights
    sd = rankwise.cur(sp.csr_array(prob.A), 10, weights=(rw, cw), core="pinv", random_state=0)
    od = rankwise.cur(aslinearoperator(prob.A), 10, weights=(rw, cw), random_state=0)
    np.testing.assert_array_equal(sd.cols, d.cols)
    np.testing.assert_array_equal(od.cols, d.cols)


def test_user_rows_and_cols() -> None:
    prob = make_problem("exp", 100, 80)
    rows, cols = np.array([5, 1, 70, 33]), np.array([0, 79, 40, 2])
    d = rankwise.cur(prob.A, 4, rows=rows, cols=cols, core="pinv")
    np.testing.assert_array_equal(d.rows, rows)
    np.testing.assert_array_equal(d.cols, cols)
    half = rankwise.cur(prob.A, 4, cols=cols, random_state=0)
    np.testing.assert_array_equal(half.cols, cols)
    assert half.rows.size == 4


def test_matmul_and_rmatmul() -> None:
    prob = make_problem("exp", 90, 70)
    d = rankwise.cur(prob.A, 10, random_state=0)
    full = d.to_dense()
    rng = np.random.default_rng(0)
    x, X = rng.standard_normal(70), rng.standard_normal((70, 3))
    y, Y = rng.standard_normal(90), rng.standard_normal((2, 90))
    np.testing.assert_allclose(d @ x, full @ x, atol=1e-12)
    np.testing.assert_allclose(d @ X, full @ X, atol=1e-12)
    np.testing.assert_allclose(y @ d, y @ full, atol=1e-12)
    np.testing.assert_allclose(Y @ d, Y @ full, atol=1e-12)
    assert d.shape == (90, 70)
    with pytest.raises(ValueError, match="rows"):
        d @ np.ones(69)
    with pytest.raises(ValueError, match="columns"):
        np.ones(69) @ d


def test_error_estimate() -> None:
    prob = make_problem("exp", 200, 150)
    d = rankwise.cur(prob.A, 10, random_state=0)
    truth = np.linalg.norm(prob.A64 - d.to_dense())
    est = d.estimate_error(prob.A, n_probes=40, random_state=1)
    assert 0.5 < est / truth < 2
    # a matrix of another shape is named as such (the message spoke of U, s and Vt)
    with pytest.raises(ValueError, match=r"shape of the decomposition, \(200, 150\)"):
        d.estimate_error(prob.A[:-1])


def test_same_seed_same_result() -> None:
    prob = make_problem("poly", 120, 100)
    for method in ALL_METHODS:
        a = rankwise.cur(prob.A, 8, method=method, oversample=2, random_state=11)
        b = rankwise.cur(prob.A, 8, method=method, oversample=2, random_state=11)
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.cols, b.cols)


def test_inputs_not_modified() -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 40))
    S = sp.random_array((60, 40), density=0.2, format="csr", rng=rng)
    rw, cw = rng.random(60), rng.random(40)
    saved = (A.copy(), S.data.copy(), S.indices.copy(), rw.copy(), cw.copy())
    for X in (A, S):
        for method in ALL_METHODS:
            rankwise.cur(X, 5, method=method, weights=(rw, cw), oversample=1, random_state=0)
    np.testing.assert_array_equal(A, saved[0])
    np.testing.assert_array_equal(S.data, saved[1])
    np.testing.assert_array_equal(S.indices, saved[2])
    np.testing.assert_array_equal(rw, saved[3])
    np.testing.assert_array_equal(cw, saved[4])


@pytest.mark.parametrize("method", ALL_METHODS)
def test_float32_stays_float32(method: str) -> None:
    A = make_problem("exp", 100, 80, "float32").A
    d = rankwise.cur(A, 6, method=method, oversample=1, random_state=0)
    assert d.C.dtype == d.U.dtype == d.R.dtype == np.float32
    assert (d @ np.ones(80, np.float32)).dtype == np.float32


def test_integer_input_works_in_float64() -> None:
    A = np.arange(48).reshape(8, 6) % 7
    d = rankwise.cur(A, 2, core="pinv", random_state=0)
    assert d.U.dtype == np.float64


def test_bad_inputs() -> None:
    A = make_problem("exp", 40, 30).A
    with pytest.raises(ValueError, match="k"):
        rankwise.cur(A, 31)
    with pytest.raises(ValueError, match="k"):
        rankwise.cur(A, 0)
    with pytest.raises(ValueError, match="oversample"):
        rankwise.cur(A, 25, oversample=6)
    with pytest.raises(ValueError, match="oversample"):
        rankwise.cur(A, 5, oversample=(1, 2, 3))
    with pytest.raises(ValueError, match="method"):
        rankwise.cur(A, 5, method="svd")
    with pytest.raises(ValueError, match="core"):
        rankwise.cur(A, 5, core="inverse")
    with pytest.raises(ValueError, match="row weights"):
        rankwise.cur(A, 5, weights=(np.ones(39), None))
    with pytest.raises(ValueError, match="column weights"):
        rankwise.cur(A, 5, weights=(None, -np.ones(30)))
    with pytest.raises(ValueError, match="NaN"):
        rankwise.cur(A, 5, weights=(np.full(40, np.nan), None))
    with pytest.raises(ValueError, match="pair"):
        rankwise.cur(A, 5, weights=np.ones(40))
    with pytest.raises(ValueError, match="rows"):
        rankwise.cur(A, 3, rows=[1, 1, 2])
    with pytest.raises(ValueError, match="cols"):
        rankwise.cur(A, 3, cols=[0, 30, 2])
    with pytest.raises(ValueError, match="as many rows as columns"):
        rankwise.cur(A, 5, core="cross", oversample=(2, 0))
    for bad in (np.nan, np.inf):
        B = A.copy()
        B[3, 4] = bad
        with pytest.raises(ValueError, match="NaN or Inf"):
            rankwise.cur(B, 5)
    with pytest.raises(TypeError, match="complex"):
        rankwise.cur(A.astype(complex), 5)


def test_cross_core_refuses_singular_intersection() -> None:
    A = low_rank(60, 50, 3)
    with pytest.raises(ValueError, match="singular"):
        rankwise.cur(A, 6, core="cross", random_state=0)
    # the stabilized core drops the null directions instead, and stays exact
    d = rankwise.cur(A, 6, core="stabilized", random_state=0)
    assert np.linalg.norm(A - d.to_dense()) < 1e-10 * np.linalg.norm(A)


@pytest.mark.parametrize("method", ["exact", "sketch"])
def test_leverage_scores(method: str) -> None:
    prob = make_problem("exp", 200, 150)
    k = 6
    r, c = rankwise.leverage_scores(prob.A, k, method=method, random_state=0)
    assert r.shape == (200,)
    assert c.shape == (150,)
    assert math.isclose(r.sum(), k, rel_tol=1e-10)
    assert math.isclose(c.sum(), k, rel_tol=1e-10)
    assert r.min() >= 0
    assert r.max() <= 1 + 1e-12
    exact_r = np.sum(prob.U[:, :k] ** 2, axis=1)
    exact_c = np.sum(prob.Vt[:k] ** 2, axis=0)
    # sigma_{k+1} / sigma_k = exp(-1/5): the sketch is rougher than the power-iterated SVD
    tol = 1e-6 if method == "exact" else 0.1
    assert np.abs(r - exact_r).max() < tol
    assert np.abs(c - exact_c).max() < tol


def test_leverage_scores_of_float32_full_column_rank_stay_within_one() -> None:
    """Every column score of a rank-8 matrix at k = 8 is 1; float32 factors gave up to
    1 + 9e-7 (acceptance review); the scores are probabilities to callers."""
    A = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    _, cols = rankwise.leverage_scores(A, 8, random_state=0)
    assert cols.max() <= 1.0
    np.testing.assert_allclose(cols, 1.0, rtol=1e-5)


def test_leverage_scores_bad_input() -> None:
    with pytest.raises(ValueError, match="method"):
        rankwise.leverage_scores(np.eye(4), 2, method="approx")
    with pytest.raises(ValueError, match="k"):
        rankwise.leverage_scores(np.eye(4), 5)


def test_tree_pivotal_sampling_keeps_inclusion_probabilities_and_spreads() -> None:
    """Binary-tree pivotal sampling: each item's empirical inclusion frequency matches its
    probability (within 5 standard errors over 2000 draws), exactly sum(pi) items are
    chosen, and two items at the same point of the row space are (almost) never chosen
    together, as independent sampling would do with probability p_i p_j."""
    from rankwise import _selection

    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 3))
    X[1] = X[0]  # a pair of coincident points
    pi = rng.uniform(0.05, 0.5, 150)
    pi[:2] = 0.5
    pi *= 20 / pi.sum()
    pi = np.minimum(pi, 1.0)
    draws = 2000
    counts = np.zeros(150)
    both = 0
    for _ in range(draws):
        idx = _selection.tree_pivotal_sample(pi, X, rng)
        assert len(np.unique(idx)) == len(idx)
        assert abs(len(idx) - pi.sum()) <= 1
        counts[idx] += 1
        both += bool(np.isin([0, 1], idx).all())
    freq = counts / draws
    se = np.sqrt(pi * (1 - pi) / draws) + 1e-12
    assert np.all(np.abs(freq - pi) <= 5 * se + 1e-9)
    # independent draws would pick both coincident points with probability p0 p1 (118 of
    # 2000 draws here, standard deviation 10): the pivotal duels make it clearly rarer
    assert both / draws < 0.75 * pi[0] * pi[1]
