"""rankwise.cur on CuPy arrays, dense and sparse: the same rows and columns as the CPU
backend for the same seed (the same sketch, the same selection code and kernels), with every
method, weights and refine=True, the same core and product, the same errors.  Skipped
without a GPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
from gpu_support import needs_gpu

pytestmark = needs_gpu


def _low_rank(m: int, n: int, dtype: Any, seed: int) -> np.ndarray:
    """A matrix with singular values exp(-j/3) (rank 40) plus nothing else."""
    rng = np.random.default_rng(seed)
    Q1 = np.linalg.qr(rng.standard_normal((m, 40)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((n, 40)))[0]
    return ((Q1 * np.exp(-np.arange(40) / 3)) @ Q2.T).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["deim", "qdeim", "maxvol"])
@pytest.mark.parametrize(
    ("core", "oversample"), [("stabilized", 0), ("stabilized", (4, 0)), ("pinv", 2), ("cross", 0)]
)
def test_gpu_cur_matches_the_cpu(dtype: Any, method: str, core: str, oversample: Any) -> None:
    import cupy as cp

    A = _low_rank(400, 300, dtype, 1)
    A_gpu = cp.asarray(A)
    before = A_gpu.copy()
    d = rankwise.cur(A_gpu, 12, method=method, core=core, oversample=oversample, random_state=3)
    ref = rankwise.cur(A, 12, method=method, core=core, oversample=oversample, random_state=3)
    assert bool((A_gpu == before).all())
    for name in ("C", "U", "R", "rows", "cols"):
        assert isinstance(getattr(d, name), cp.ndarray), name
    assert d.U.dtype == dtype
    assert d.C.dtype == dtype
    np.testing.assert_array_equal(cp.asnumpy(d.rows), ref.rows)
    np.testing.assert_array_equal(cp.asnumpy(d.cols), ref.cols)
    np.testing.assert_array_equal(cp.asnumpy(d.C), ref.C)
    np.testing.assert_array_equal(cp.asnumpy(d.R), ref.R)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    scale = np.linalg.norm(A.astype(np.float64))
    dense = cp.asnumpy(d.to_dense()).astype(np.float64)
    assert np.linalg.norm(dense - ref.to_dense()) <= tol * scale
    # the error is the CPU's (exp(-12/3) = 0.018 of sigma_1 is the optimal rank-12 error)
    err = np.linalg.norm(A - dense) / scale
    ref_err = np.linalg.norm(A - ref.to_dense()) / scale
    assert err == pytest.approx(ref_err, rel=1e-3, abs=tol)
    x = np.random.default_rng(0).standard_normal(300).astype(dtype)
    np.testing.assert_allclose(
        cp.asnumpy(d @ cp.asarray(x)), ref @ x, atol=tol * scale * np.linalg.norm(x)
    )


def test_gpu_cur_with_given_rows_and_columns() -> None:
    import cupy as cp

    A = _low_rank(200, 150, np.float64, 2)
    rows, cols = np.arange(0, 200, 10), np.arange(0, 150, 10)[:20]
    d = rankwise.cur(cp.asarray(A), 15, rows=cp.asarray(rows), cols=cols, core="pinv")
    ref = rankwise.cur(A, 15, rows=rows, cols=cols, core="pinv")
    np.testing.assert_array_equal(cp.asnumpy(d.rows), rows)
    np.testing.assert_allclose(cp.asnumpy(d.U), ref.U, rtol=1e-8, atol=1e-8 * np.abs(ref.U).max())


@pytest.mark.parametrize("method", ["rrqr", "leverage", "pivotal", "uniform"])
def test_gpu_cur_other_methods_match_the_cpu(method: str) -> None:
    """Strong RRQR by the device maxvol from the Q-DEIM start; the sampling methods draw
    from the same generator after the same SVD (leverage scores equal to rounding)."""
    import cupy as cp

    A = _low_rank(400, 300, np.float64, 4)
    d = rankwise.cur(cp.asarray(A), 12, method=method, oversample=3, random_state=5)
    ref = rankwise.cur(A, 12, method=method, oversample=3, random_state=5)
    np.testing.assert_array_equal(cp.asnumpy(d.rows), ref.rows)
    np.testing.assert_array_equal(cp.asnumpy(d.cols), ref.cols)
    scale = np.linalg.norm(A)
    assert np.linalg.norm(cp.asnumpy(d.to_dense()) - ref.to_dense()) <= 1e-10 * scale


def test_gpu_cur_weights_and_refine_match_the_cpu() -> None:
    import cupy as cp

    A = _low_rank(300, 250, np.float64, 5)
    rng = np.random.default_rng(6)
    rw, cw = rng.uniform(0.5, 2.0, 300), rng.uniform(0.5, 2.0, 250)
    ref = rankwise.cur(A, 10, weights=(rw, cw), random_state=7)
    for weights in ((rw, cw), (cp.asarray(rw), cp.asarray(cw))):
        d = rankwise.cur(cp.asarray(A), 10, weights=weights, random_state=7)
        np.testing.assert_array_equal(cp.asnumpy(d.rows), ref.rows)
        np.testing.assert_array_equal(cp.asnumpy(d.cols), ref.cols)
    for method in ("deim", "qdeim"):
        d = rankwise.cur(cp.asarray(A), 10, method=method, refine=True, random_state=8)
        ref = rankwise.cur(A, 10, method=method, refine=True, random_state=8)
        np.testing.assert_array_equal(cp.asnumpy(d.rows), ref.rows)
        np.testing.assert_array_equal(cp.asnumpy(d.cols), ref.cols)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("method", "core"), [("deim", "stabilized"), ("leverage", "pinv"), ("qdeim", "cross")]
)
def test_gpu_cur_of_a_sparse_matrix(fmt: str, dtype: Any, method: str, core: str) -> None:
    """C and R stay sparse, in A's format; the selection is the CPU's on the same matrix."""
    import cupy as cp
    import cupyx.scipy.sparse as csp
    import scipy.sparse as sp

    rng = np.random.default_rng(9)
    L = sp.random_array((500, 12), density=0.3, rng=rng) @ sp.random_array(
        (12, 400), density=0.3, rng=rng
    )
    A = (L + 1e-3 * sp.random_array((500, 400), density=0.01, rng=rng)).asformat(fmt)
    A = A.astype(dtype)
    A_gpu = csp.csr_matrix(A.tocsr()) if fmt == "csr" else csp.csc_matrix(A.tocsc())
    d = rankwise.cur(A_gpu, 12, method=method, core=core, random_state=10)
    ref = rankwise.cur(
        sp.csr_matrix(A) if fmt == "csr" else sp.csc_matrix(A),
        12,
        method=method,
        core=core,
        random_state=10,
    )
    np.testing.assert_array_equal(cp.asnumpy(d.rows), ref.rows)
    np.testing.assert_array_equal(cp.asnumpy(d.cols), ref.cols)
    assert csp.issparse(d.C)
    assert csp.issparse(d.R)
    assert (d.C.format, d.R.format) == (fmt, fmt)
    np.testing.assert_array_equal(cp.asnumpy(d.C.toarray()), ref.C.toarray())
    np.testing.assert_array_equal(cp.asnumpy(d.R.toarray()), ref.R.toarray())
    tol = 1e-4 if dtype == np.float32 else 1e-10
    dense = A.toarray().astype(np.float64)
    scale = np.linalg.norm(dense)
    got = cp.asnumpy(d.to_dense()).astype(np.float64)
    assert np.linalg.norm(got - ref.to_dense()) <= tol * scale
    x = rng.standard_normal(400).astype(dtype)
    y = rng.standard_normal(500).astype(dtype)
    np.testing.assert_allclose(
        cp.asnumpy(d @ cp.asarray(x)), ref @ x, atol=tol * scale * np.linalg.norm(x)
    )
    np.testing.assert_allclose(
        cp.asnumpy(cp.asarray(y) @ d), y @ ref, atol=tol * scale * np.linalg.norm(y)
    )


def test_gpu_cur_bad_input() -> None:
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = cp.asarray(_low_rank(60, 50, np.float64, 3))
    with pytest.raises(ValueError, match="k"):
        rankwise.cur(A, 51)
    with pytest.raises(ValueError, match="rows"):
        rankwise.cur(A, 3, rows=[1, 1, 2])
    with pytest.raises(ValueError, match="method"):
        rankwise.cur(A, 3, method="nope")
    with pytest.raises(ValueError, match="non-negative"):
        rankwise.cur(A, 3, weights=(None, -cp.ones(50)))
    with pytest.raises(TypeError, match="refine"):
        rankwise.cur(A, 3, refine="yes")
    B = A.copy()
    B[0, 0] = cp.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.cur(B, 3)
    S = csp.csr_matrix(A)
    S.data[0] = cp.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.cur(S, 3)
