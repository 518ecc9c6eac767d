"""rankwise.svd of dask arrays with CuPy chunks: the tall blocks stay on the device, the
large factor comes back as a CuPy-backed dask array and the small ones as CuPy arrays, and
the result equals the in-memory NumPy one for the same seed (the same sketch and passes) up
to rounding.  Run on dask's synchronous scheduler (the distributed behaviour is tested with
NumPy chunks in test_dask.py).  Skipped without a GPU and dask."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
from gpu_support import needs_gpu

pytestmark = needs_gpu
da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


def _decaying(m: int, n: int, seed: int, dtype: type = np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, n)) * np.exp(-np.arange(n) / 15.0)).astype(dtype)


def _on_device(A: np.ndarray, chunks: tuple[int, int]):
    import cupy

    return da.from_array(cupy.asarray(A), chunks=chunks, asarray=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("wide", [False, True])
def test_cupy_chunks_match_the_in_memory_result(dtype, wide) -> None:
    import cupy

    A = _decaying(1200, 50, seed=1, dtype=dtype)
    chunks = (300, 50)
    if wide:
        A, chunks = np.ascontiguousarray(A.T), (50, 300)
    with dask.config.set(scheduler="sync"):
        U, s, Vt = rankwise.svd(_on_device(A, chunks), 6, n_iter=2, random_state=3)
        large = Vt if wide else U
        assert isinstance(large, da.Array)
        assert isinstance(large._meta, cupy.ndarray)
        large = large.compute()
    assert isinstance(large, cupy.ndarray)
    assert large.dtype == dtype
    small = U if wide else Vt
    assert isinstance(small, cupy.ndarray)
    assert isinstance(s, cupy.ndarray)
    U, Vt = (large, small) if not wide else (small, large)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    if wide:  # worked on through A^T (whose sketch has A's row count), as in memory
        U0, s0, Vt0 = rankwise.svd(A.T, 6, n_iter=2, random_state=3)
        np.testing.assert_allclose(cupy.asnumpy(s), s0, rtol=tol)
        np.testing.assert_allclose(cupy.asnumpy((U * s) @ Vt), ((U0 * s0) @ Vt0).T, atol=tol)
        return
    U0, s0, Vt0 = rankwise.svd(A, 6, n_iter=2, random_state=3)
    np.testing.assert_allclose(cupy.asnumpy(s), s0, rtol=tol)
    np.testing.assert_allclose(cupy.asnumpy(U), U0, atol=tol)
    np.testing.assert_allclose(cupy.asnumpy(Vt), Vt0, atol=tol)


def test_cupy_chunks_single_pass_and_randomized_svd() -> None:
    import cupy

    A = _decaying(1500, 40, seed=2)
    sigma = np.linalg.svd(A, compute_uv=False)
    with dask.config.set(scheduler="sync"):
        U, s, Vt = rankwise.svd(_on_device(A, (500, 40)), 5, method="single_pass", random_state=0)
        U = U.compute()
        assert np.linalg.norm(A - cupy.asnumpy((U * s) @ Vt)) <= 2.0 * np.sqrt(
            np.sum(sigma[5:] ** 2)
        )
        U, s, Vt = rankwise.randomized_svd(_on_device(A, (500, 40)), 5, random_state=4)
        U0, s0, Vt0 = rankwise.randomized_svd(
            da.from_array(A, chunks=(500, 40)), 5, random_state=4
        )
        np.testing.assert_allclose(cupy.asnumpy(s), s0, rtol=1e-10)
        np.testing.assert_allclose(cupy.asnumpy(U.compute()), U0.compute(), atol=1e-10)
        np.testing.assert_allclose(cupy.asnumpy(Vt), Vt0, atol=1e-10)


def test_cupy_chunks_bad_input() -> None:
    A = _decaying(600, 30, seed=3)
    A[450, 4] = np.nan
    with dask.config.set(scheduler="sync"), pytest.raises(ValueError, match="NaN"):
        rankwise.svd(_on_device(A, (200, 30)), 3, random_state=0)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize(
    ("method", "core", "options"),
    [
        ("deim", "stabilized", {}),
        ("qdeim", "pinv", {}),
        ("leverage", "pinv", {"oversample": 2}),
        ("rrqr", "stabilized", {"weights": "rows"}),
        ("deim", "pinv", {"refine": True}),
    ],
)
def test_cur_of_cupy_chunks_selects_as_with_numpy_chunks(wide, method, core, options) -> None:
    """The same rows and columns as the NumPy-chunked dask array for the same seed; the
    large factor (C, or R when A is wide) a CuPy-backed dask array, the small ones CuPy;
    the products evaluated on the device."""
    import cupy

    A = _decaying(1200, 60, seed=5)
    chunks = (300, 60)
    if wide:
        A, chunks = np.ascontiguousarray(A.T), (60, 300)
    if options.get("weights") == "rows":
        options = {"weights": (np.linspace(1.0, 2.0, A.shape[0]), None)}
    with dask.config.set(scheduler="sync"):
        d = rankwise.cur(
            _on_device(A, chunks), 8, method=method, core=core, random_state=3, **options
        )
        ref = rankwise.cur(
            da.from_array(A, chunks=chunks), 8, method=method, core=core, random_state=3, **options
        )
        np.testing.assert_array_equal(cupy.asnumpy(d.rows), ref.rows)
        np.testing.assert_array_equal(cupy.asnumpy(d.cols), ref.cols)
        large, small = (d.R, d.C) if wide else (d.C, d.R)
        assert isinstance(large, da.Array)
        assert isinstance(large._meta, cupy.ndarray)
        assert isinstance(small, cupy.ndarray)
        assert isinstance(d.U, cupy.ndarray)
        np.testing.assert_array_equal(cupy.asnumpy(small), ref.C if wide else ref.R)
        dense = d.to_dense()
        assert isinstance(dense, cupy.ndarray)
        scale = np.linalg.norm(A)
        assert np.linalg.norm(cupy.asnumpy(dense) - ref.to_dense()) <= 1e-10 * scale
        x = np.random.default_rng(0).standard_normal(A.shape[1])
        y = np.random.default_rng(1).standard_normal(A.shape[0])
        np.testing.assert_allclose(cupy.asnumpy(d @ cupy.asarray(x)), ref @ x, atol=1e-10 * scale)
        np.testing.assert_allclose(cupy.asnumpy(cupy.asarray(y) @ d), y @ ref, atol=1e-10 * scale)
