"""Accuracy of rankwise.svd (fixed-rank mode) against randomized-SVD theory.

Every matrix has a known spectrum; the reference is the float64 LAPACK SVD of
the exact values rankwise sees.  Bounds are the HMT deviation bounds of
conftest.hmt_bounds / check_against_theory (failure probability < 1e-7 each,
seeds fixed), plus rounding slack derived from the work dtype's eps.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import (
    DENSE_LAYOUTS,
    FLOAT_DTYPES,
    METHODS,
    MatmatOnlyOperator,
    assert_svd_output,
    check_against_theory,
    check_exact,
    effective_l_q,
    make_problem,
    make_sparse_problem,
    problem_from_matrix,
    rounding_slack,
    sketch_size,
    to_sparse,
    with_layout,
)
from scipy.sparse.linalg import aslinearoperator

M, N, K, P = 300, 200, 10, 10
SEED = 20250101


def _run(A, prob, method, dtype, n_iter, k=K, oversample=P, seed=SEED):
    m, n = prob.shape
    U, s, Vt = rankwise.svd(
        A, k, oversample=oversample, n_iter=n_iter, method=method, random_state=seed
    )
    assert_svd_output(U, s, Vt, (m, n), k, dtype)
    l, q = effective_l_q(method, n_iter, sketch_size(k, oversample, m, n), m, n)
    check_against_theory(prob, U, s, Vt, k=k, l=l, q=q, dtype=dtype)
    return U, s, Vt


@pytest.mark.parametrize("n_iter", [0, 1, 4, 7])
@pytest.mark.parametrize("spec", ["gap", "exp", "poly", "lowrank"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", METHODS)
def test_dense_spectra(method, dtype, spec, n_iter) -> None:
    prob = make_problem(spec, M, N, np.dtype(dtype).name)
    _run(with_layout(prob.A, "C"), prob, method, dtype, n_iter)


@pytest.mark.parametrize("layout", DENSE_LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", METHODS)
def test_dense_layouts(method, dtype, layout) -> None:
    prob = make_problem("gap", M, N, np.dtype(dtype).name)
    _run(with_layout(prob.A, layout), prob, method, dtype, 2)


@pytest.mark.parametrize("shape", [(N, M), (M, N), (150, 150)], ids=["wide", "tall", "square"])
@pytest.mark.parametrize("method", METHODS)
def test_wide_tall_square(method, shape) -> None:
    prob = make_problem("exp", *shape)
    _run(with_layout(prob.A, "C"), prob, method, np.float64, 2)


@pytest.mark.parametrize("layout", DENSE_LAYOUTS)
@pytest.mark.parametrize("method", METHODS)
def test_layouts_agree(method, layout) -> None:
    """Same values, same seed, different memory layout: same decomposition up to rounding."""
    prob = make_problem("gap", M, N)
    ref = rankwise.svd(with_layout(prob.A, "C"), K, n_iter=2, method=method, random_state=SEED)
    got = rankwise.svd(with_layout(prob.A, layout), K, n_iter=2, method=method, random_state=SEED)
    slack = rounding_slack(np.float64, M, N, prob.sigma1)
    np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=slack)
    np.testing.assert_allclose(
        (got[0] * got[1]) @ got[2], (ref[0] * ref[1]) @ ref[2], rtol=0, atol=math.sqrt(K) * slack
    )


@pytest.mark.parametrize("n_iter", [0, 3])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64], ids=["i32", "i64"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", METHODS)
def test_sparse_native(method, dtype, fmt, index_dtype, n_iter) -> None:
    base = make_sparse_problem(M, N)
    prob = problem_from_matrix(base.A.astype(dtype))
    S = to_sparse(np.array(prob.A), fmt, index_dtype)
    _run(S, prob, method, dtype, n_iter)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("method", METHODS)
def test_sparse_dense_pattern_known_spectrum(method, fmt) -> None:
    prob = make_problem("gap", M, N)
    _run(to_sparse(np.array(prob.A), fmt, np.int64, array=False), prob, method, np.float64, 2)


@pytest.mark.parametrize("fmt", ["coo", "lil", "dok", "bsr", "dia"])
@pytest.mark.parametrize("array", [True, False], ids=["array", "matrix"])
def test_sparse_other_formats(fmt, array) -> None:
    base = make_sparse_problem(60, 40, density=0.2, seed=3)
    S = to_sparse(np.array(base.A), fmt, array=array)
    U, s, Vt = rankwise.svd(S, 5, n_iter=2, random_state=SEED)
    assert_svd_output(U, s, Vt, base.shape, 5, np.float64)
    check_against_theory(base, U, s, Vt, k=5, l=15, q=2, dtype=np.float64)
    # converted to CSR: same result as the CSR input, up to rounding
    _U2, s2, _Vt2 = rankwise.svd(sp.csr_array(base.A), 5, n_iter=2, random_state=SEED)
    np.testing.assert_allclose(s, s2, rtol=0, atol=rounding_slack(np.float64, 60, 40, base.sigma1))


def test_sparse_noncanonical_csr() -> None:
    """CSR with duplicate entries (summed, scipy semantics) and unsorted column indices."""
    base = make_sparse_problem(80, 60, density=0.2, seed=5)
    m, n = base.shape
    coo = sp.coo_array(base.A)
    rows = np.concatenate([coo.row, coo.row])
    cols = np.concatenate([coo.col, coo.col])
    vals = np.concatenate([0.25 * coo.data, 0.75 * coo.data])
    idx = np.lexsort((-cols, rows))  # row-major, columns descending inside each row
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m))])
    T = sp.csr_array(
        (vals[idx], cols[idx].astype(np.int32), indptr.astype(np.int32)), shape=(m, n)
    )
    assert not T.has_canonical_format
    prob = problem_from_matrix(T.toarray())
    U, s, Vt = rankwise.svd(T, 5, n_iter=3, random_state=SEED)
    assert_svd_output(U, s, Vt, (m, n), 5, np.float64)
    check_against_theory(prob, U, s, Vt, k=5, l=15, q=3, dtype=np.float64)


@pytest.mark.parametrize("kind", ["aslinearoperator", "matmat_only"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", METHODS)
def test_linear_operator(method, dtype, kind) -> None:
    prob = make_problem("gap", M, N, np.dtype(dtype).name)
    A = np.array(prob.A)
    op = aslinearoperator(A) if kind == "aslinearoperator" else MatmatOnlyOperator(A)
    _run(op, prob, method, dtype, 2)
    if kind == "matmat_only":
        assert op.n_matmat >= 1
        assert op.n_rmatmat >= 1
        # block products: O(q) calls (q = 2 here), not one per sketch column (l = 20)
        assert op.n_matmat + op.n_rmatmat <= 4 * (2 + 2)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rank", [1, 3, 10])
def test_exact_low_rank_recovered(rank, method, dtype) -> None:
    rng = np.random.default_rng(rank)
    X = rng.standard_normal((M, rank)) @ rng.standard_normal((rank, N))
    prob = problem_from_matrix(X.astype(dtype))
    U, s, Vt = rankwise.svd(np.array(prob.A), 10, n_iter=1, method=method, random_state=SEED)
    assert_svd_output(U, s, Vt, prob.shape, 10, dtype)
    check_exact(prob, U, s, Vt, 10, dtype)
    # reconstruction to ~eps relative
    R = prob.A64 - (U.astype(np.float64) * s) @ Vt.astype(np.float64)
    assert np.linalg.norm(R) <= rounding_slack(dtype, M, N, np.linalg.norm(prob.A64))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("k", "oversample"), [(40, 0), (30, 10), (35, 100), (20, 25)])
def test_full_sketch_is_exact(k, oversample, method, dtype) -> None:
    """k + oversample >= min(m, n): the sketch spans range(A), result exact to rounding."""
    prob = make_problem("poly", 60, 40, np.dtype(dtype).name)
    U, s, Vt = rankwise.svd(
        np.array(prob.A), k, oversample=oversample, n_iter=0, method=method, random_state=SEED
    )
    assert_svd_output(U, s, Vt, prob.shape, k, dtype)
    check_exact(prob, U, s, Vt, k, dtype)


def _lowrank(m: int, n: int, r: int, seed: int, dtype) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, r)) @ rng.standard_normal((r, n))).astype(dtype)


@pytest.mark.parametrize(
    ("m", "n", "r", "k", "oversample", "n_iter", "dtype"),
    [
        (4, 3, 1, 1, 0, 2, np.float32),
        (17, 31, 3, 4, 0, 3, np.float32),
        (60, 40, 2, 3, 2, 7, np.float64),
        (300, 200, 2, 10, 10, 7, np.float64),
        (300, 200, 6, 10, 10, 9, np.float32),
    ],
    ids=["4x3-r1-f32", "17x31-r3-f32", "60x40-r2-f64", "300x200-r2-f64", "300x200-r6-f32"],
)
@pytest.mark.parametrize("method", METHODS)
def test_rank_deficient_many_iterations(method, m, n, r, k, oversample, n_iter, dtype) -> None:
    """Numerically rank-deficient sketch spaces (rank(A) < Krylov/sketch size): still exact.

    Every sketch contains range(A) here, so the result must be the exact SVD to rounding,
    whatever the number of iterations; a basis that loses orthogonality fails this.
    """
    prob = problem_from_matrix(_lowrank(m, n, r, 7 + m, dtype))
    U, s, Vt = rankwise.svd(
        np.array(prob.A), k, oversample=oversample, n_iter=n_iter, method=method, random_state=0
    )
    assert_svd_output(U, s, Vt, (m, n), k, dtype)
    check_exact(prob, U, s, Vt, k, dtype)


@pytest.mark.parametrize("shape", [(1, 30), (30, 1), (1, 1), (2, 2)])
def test_tiny_shapes(shape) -> None:
    A = np.random.default_rng(1).standard_normal(shape)
    prob = problem_from_matrix(A)
    U, s, Vt = rankwise.svd(A, 1, random_state=0)
    assert_svd_output(U, s, Vt, shape, 1, np.float64)
    check_exact(prob, U, s, Vt, 1, np.float64)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("method", METHODS)
def test_zero_matrix(method, fmt) -> None:
    A = np.zeros((50, 30))
    inp = sp.csr_array((50, 30)) if fmt == "csr" else A
    U, s, Vt = rankwise.svd(inp, 4, method=method, random_state=0)
    assert_svd_output(U, s, Vt, A.shape, 4, np.float64, sign=False)
    assert np.all(s == 0)


@pytest.mark.parametrize(("k", "q"), [(5, 7), (19, 7), (20, 4), (40, 4)])
def test_auto_n_iter_rule(k, q) -> None:
    """n_iter='auto' is 7 if k < 0.1 min(m, n) else 4 (same seed: bitwise the same result)."""
    prob = make_problem("poly", 300, 200)
    a = rankwise.svd(np.array(prob.A), k, n_iter="auto", random_state=1)
    b = rankwise.svd(np.array(prob.A), k, n_iter=q, random_state=1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=f"k={k}: auto is not n_iter={q}")


@pytest.mark.parametrize("method", METHODS)
def test_power_iterations_have_an_effect(method) -> None:
    """On a slowly decaying spectrum q=4 beats q=0 (HMT Sec. 4.5); n_iter is not ignored."""
    prob = make_problem("poly", M, N)
    A = np.array(prob.A)
    errs = []
    for q in (0, 4):
        U, s, Vt = rankwise.svd(A, K, n_iter=q, method=method, random_state=SEED)
        errs.append(float(np.linalg.norm(A - (U * s) @ Vt, 2)))
    assert errs[1] < errs[0], (
        f"spectral error with q=4 ({errs[1]:.4e}) not below q=0 ({errs[0]:.4e})"
    )


# --------------------------------------------------------------------------- #
# estimate_error
# --------------------------------------------------------------------------- #


def _approximations():
    prob = make_problem("exp", 150, 100)
    A = np.array(prob.A)
    cases = {}
    # truncation error of the exact SVD: many singular values
    k = 5
    cases["truncation"] = (
        A,
        prob.U[:, :k],
        prob.s[:k],
        prob.Vt[:k],
        prob.tail_fro(k),
        prob.sigma(k),
    )
    # rank-1 error, a worst case for the probes
    rng = np.random.default_rng(11)
    x = rng.standard_normal(150)
    y = rng.standard_normal(100)
    A1 = (prob.U[:, :k] * prob.s[:k]) @ prob.Vt[:k] + 0.37 * np.outer(x, y) / (
        np.linalg.norm(x) * np.linalg.norm(y)
    )
    cases["rank1"] = (A1, prob.U[:, :k], prob.s[:k], prob.Vt[:k], 0.37, 0.37)
    # a rankwise result
    U, s, Vt = rankwise.svd(A, 8, n_iter=1, random_state=0)
    E = A - (U * s) @ Vt
    cases["rankwise"] = (A, U, s, Vt, float(np.linalg.norm(E)), float(np.linalg.norm(E, 2)))
    return cases


_CASES = functools.lru_cache(maxsize=None)(_approximations)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("case", ["truncation", "rank1", "rankwise"])
def test_estimate_error_fro(case, seed, fmt) -> None:
    A, U, s, Vt, fro, _ = _CASES()[case]
    A_in = sp.csr_array(A) if fmt == "csr" else A
    est = rankwise.estimate_error(A_in, U, s, Vt, norm="fro", n_probes=20, random_state=seed)
    assert isinstance(est, float)
    assert 0.3 * fro <= est <= 3.0 * fro, f"fro estimate {est:.4e} vs truth {fro:.4e}"


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("case", ["truncation", "rank1", "rankwise"])
def test_estimate_error_spectral_upper_bound(case, seed) -> None:
    A, U, s, Vt, fro, two = _CASES()[case]
    est = rankwise.estimate_error(A, U, s, Vt, norm="2", n_probes=10, random_state=seed)
    assert isinstance(est, float)
    assert est >= two, f"'2' bound {est:.4e} below the true spectral error {two:.4e}"
    # 10 sqrt(2/pi) max_i ||E w_i|| with ||E w|| <~ 5 ||E||_F (prob. > 1 - 1e-5)
    assert est <= 10 * math.sqrt(2 / math.pi) * 5 * fro


@pytest.mark.parametrize("norm", ["fro", "2"])
def test_estimate_error_exact_factorization(norm) -> None:
    prob = make_problem("exp", 60, 40)
    est = rankwise.estimate_error(
        np.array(prob.A), prob.U, prob.s, prob.Vt, norm=norm, n_probes=10, random_state=0
    )
    assert (
        0.0
        <= est
        <= 10 * math.sqrt(2 / math.pi) * 5 * rounding_slack(np.float64, 60, 40, prob.sigma1)
    )


def test_estimate_error_float32() -> None:
    prob = make_problem("exp", 150, 100, "float32")
    A = np.array(prob.A)
    U, s, Vt = rankwise.svd(A, 5, random_state=0)
    E = prob.A64 - (U.astype(np.float64) * s) @ Vt.astype(np.float64)
    fro, two = float(np.linalg.norm(E)), float(np.linalg.norm(E, 2))
    est_f = rankwise.estimate_error(A, U, s, Vt, norm="fro", n_probes=20, random_state=0)
    est_2 = rankwise.estimate_error(A, U, s, Vt, norm="2", n_probes=10, random_state=0)
    assert 0.3 * fro <= est_f <= 3.0 * fro
    assert est_2 >= two


# Blocks of >= 4096 rows and <= 256 columns run in row chunks on the core's threads, each a
# single-threaded BLAS call, with partial Gram matrices and inner products summed in chunk
# order (cpp/cpu/tall_skinny.hpp); these shapes take that path on every product.
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(9000, 300), (300, 9000)], ids=["tall", "wide"])
def test_chunked_tall_skinny_products(dtype, shape) -> None:
    prob = make_problem("exp", *shape, np.dtype(dtype).name)
    U, s, Vt = _run(with_layout(prob.A, "C"), prob, "subspace", dtype, 3, k=20, oversample=10)
    again = rankwise.svd(prob.A, 20, oversample=10, n_iter=3, random_state=SEED)
    for a, b in zip((U, s, Vt), again, strict=True):
        np.testing.assert_array_equal(a, b)  # chunk-ordered sums: bitwise reproducible


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_chunked_sparse_tall(fmt) -> None:
    prob = make_sparse_problem(12000, 400, density=0.01)
    A = to_sparse(prob.A, fmt)
    U, s, Vt = rankwise.svd(A, 10, n_iter=4, random_state=SEED)
    check_against_theory(prob, U, s, Vt, k=10, l=20, q=4, dtype=np.float64)
