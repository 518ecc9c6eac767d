"""rankwise.cur on dense CuPy arrays: the same rows and columns as the CPU backend for the
same seed (the same sketch, the same selection kernels), the same core and product, the
same errors, and NotImplementedError for what is not on the GPU yet.  Skipped without a
GPU."""

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


def test_gpu_cur_refuses_what_is_not_on_the_gpu_yet() -> None:
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = cp.asarray(_low_rank(60, 50, np.float64, 3))
    for kwargs in ({"method": "leverage"}, {"weights": (None, np.ones(50))}, {"refine": True}):
        with pytest.raises(NotImplementedError, match="not available on the GPU yet"):
            rankwise.cur(A, 3, **kwargs)
    with pytest.raises(NotImplementedError, match="sparse CuPy"):
        rankwise.cur(csp.csr_matrix(A), 3)
    with pytest.raises(ValueError, match="k"):
        rankwise.cur(A, 51)
    with pytest.raises(ValueError, match="rows"):
        rankwise.cur(A, 3, rows=[1, 1, 2])
    with pytest.raises(ValueError, match="method"):
        rankwise.cur(A, 3, method="nope")
    B = A.copy()
    B[0, 0] = cp.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.cur(B, 3)
