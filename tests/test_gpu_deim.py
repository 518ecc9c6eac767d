"""DEIM, Q-DEIM, ODEIM and maxvol on CuPy bases (the CUDA backend's selection primitives):
the same points as the CPU backend on the same basis, the interpolant on the device, the
same errors.  Skipped without a GPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
from gpu_support import needs_gpu

pytestmark = needs_gpu


def _basis(n: int, m: int, dtype: Any, seed: int, order: str = "F") -> np.ndarray:
    """Leading left singular vectors of smooth snapshots plus noise (POD modes)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, n)
    S = np.stack([np.sin((k + 1) * np.pi * x + rng.uniform(0, 1)) for k in range(3 * m)], 1)
    S += 1e-3 * rng.standard_normal(S.shape)
    U = np.linalg.svd(S, full_matrices=False)[0][:, :m]
    return np.asarray(U.astype(dtype), order=order)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("method", ["deim", "qdeim"])
def test_gpu_points_equal_the_cpu_points(method: str, order: str, dtype: Any) -> None:
    import cupy as cp

    U = _basis(600, 12, dtype, 1, order)
    U_gpu = cp.asarray(U, order=order)
    before = U_gpu.copy()
    sel = getattr(rankwise, method)(U_gpu)
    ref = getattr(rankwise, method)(U)
    assert sel.method == method
    assert isinstance(sel.points, cp.ndarray)
    assert sel.points.dtype == cp.int64
    assert sel.dtype == dtype
    assert bool((U_gpu == before).all())  # the basis is not modified
    np.testing.assert_array_equal(cp.asnumpy(sel.points), ref.points)
    np.testing.assert_array_equal(cp.asnumpy(sel.interpolation_matrix), ref.interpolation_matrix)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert sel.lebesgue_constant == pytest.approx(ref.lebesgue_constant, rel=rtol)
    # a field in span(U) is reconstructed from its values at the points, as on the CPU
    f = U.astype(np.float64) @ np.arange(1.0, 13.0)
    values = cp.asarray(f[ref.points].astype(dtype))
    rec = sel(values)
    assert isinstance(rec, cp.ndarray)
    assert rec.dtype == dtype
    np.testing.assert_allclose(cp.asnumpy(rec), ref(f[ref.points].astype(dtype)), atol=rtol * 10)
    np.testing.assert_allclose(cp.asnumpy(rec), f, atol=rtol * 100)


def test_gpu_odeim_points_equal_the_cpu_points() -> None:
    import cupy as cp

    U = _basis(500, 8, np.float64, 2)
    sel = rankwise.odeim(cp.asarray(U), 20)
    ref = rankwise.odeim(U, 20)
    np.testing.assert_array_equal(cp.asnumpy(sel.points), ref.points)
    f = U @ np.linspace(-1, 1, 8)
    noisy = f[ref.points] + 1e-3 * np.random.default_rng(0).standard_normal(20)
    c = sel.coefficients(cp.asarray(noisy))
    np.testing.assert_allclose(cp.asnumpy(c), ref.coefficients(noisy), atol=1e-10)
    assert sel.lebesgue_constant == pytest.approx(ref.lebesgue_constant, rel=1e-10)
    assert sel.lebesgue_constant <= rankwise.qdeim(cp.asarray(U)).lebesgue_constant * (1 + 1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["deim", "qdeim", "odeim"])
@pytest.mark.parametrize("scale", ["column", "tiny", "huge"])
def test_gpu_points_of_scaled_bases_equal_the_cpu_points(
    scale: str, method: str, dtype: Any
) -> None:
    """The CPU selects on a basis scaled by powers of two (DEIM: columns of scales far
    apart; every method: extreme entries); the GPU selected on the basis as given, so a
    column of 1e-18 was refused as rank-deficient or other points came out."""
    import cupy as cp

    U = _basis(400, 10, np.float64, 4)
    tiny = 1e-9 if dtype == np.float32 else 1e-18
    if scale == "column":
        U[:, 5] *= tiny
    else:
        U *= {"tiny": 1e-30 if dtype == np.float32 else 1e-250, "huge": 1e30}[scale]
    U = U.astype(dtype)
    args = (20,) if method == "odeim" else ()
    sel = getattr(rankwise, method)(cp.asarray(U), *args)
    ref = getattr(rankwise, method)(U, *args)
    if scale == "column" and method != "deim":
        # Q-DEIM's pivoted QR of U^T takes the small column's row last, on residuals of
        # 1e-18 against the rounding (1e-16) of the others: that pivot is rounding, on the
        # CPU (LAPACK's geqp3) as on the GPU (the H200 took 240 where the CPU took 378), and
        # O-DEIM's later points follow from it.  The others are the basis's.
        np.testing.assert_array_equal(cp.asnumpy(sel.points)[:9], ref.points[:9])
        assert len(set(cp.asnumpy(sel.points).tolist())) == len(ref.points)
        return
    np.testing.assert_array_equal(cp.asnumpy(sel.points), ref.points)


@pytest.mark.parametrize("scales", [(1e300, 1, 1, 1e-300), (1e200, 1e-200, 1, 1)])
def test_gpu_deim_interpolant_of_columns_scales_beyond_the_range_apart(scales: tuple) -> None:
    """As on the CPU (test_fuzz_findings): the solve scales U[points]'s columns each by its
    own power of two; unscaled, the small column underflowed and the interpolant gave NaN."""
    import cupy as cp

    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((50, 4)))[0]
    U = Q * np.array(scales)
    sel = rankwise.deim(cp.asarray(U))
    ref = rankwise.deim(U)
    np.testing.assert_array_equal(cp.asnumpy(sel.points), ref.points)
    f = Q @ np.array([1.0, 2, 3, 4])
    values = cp.asarray(f[ref.points])
    np.testing.assert_allclose(cp.asnumpy(sel(values)), f, atol=1e-14)
    c = cp.asnumpy(sel.coefficients(values))
    np.testing.assert_allclose(c * np.array(scales), [1, 2, 3, 4], rtol=1e-13)
    assert sel.lebesgue_constant == pytest.approx(rankwise.deim(Q).lebesgue_constant, rel=1e-12)


def test_gpu_deim_on_a_tall_basis() -> None:
    """n = 300 000: the argmax and the pivoted QR run over many blocks of rows."""
    import cupy as cp

    rng = np.random.default_rng(3)
    U = np.linalg.qr(rng.standard_normal((300_000, 6)))[0]
    U_gpu = cp.asarray(U, order="F")
    for method in ("deim", "qdeim"):
        sel = getattr(rankwise, method)(U_gpu)
        ref = getattr(rankwise, method)(U)
        np.testing.assert_array_equal(cp.asnumpy(sel.points), ref.points)


def test_gpu_maxvol_rows_equal_the_cpu_rows() -> None:
    """maxvol (LU start, argmax_abs, unit-lower solve, rank-one exchanges) on the device."""
    import cupy as cp
    from rankwise import _core, _cuda, _gpu

    U = _basis(400, 10, np.float64, 4)
    U_gpu = cp.asfortranarray(cp.asarray(U))
    rows, swaps, coef = _cuda.maxvol_select(
        "float64", int(U_gpu.data.ptr), 400, 10, 400, 0.05, 1000, _gpu.current_stream()
    )
    ref_rows, ref_swaps, ref_coef = _core.maxvol_select(U, 0.05, 1000)
    np.testing.assert_array_equal(rows, ref_rows)
    assert swaps == ref_swaps
    assert coef == pytest.approx(ref_coef, rel=1e-10)
    assert coef <= 1.05


def test_gpu_selection_bad_input() -> None:
    import cupy as cp

    U = cp.asarray(_basis(100, 5, np.float64, 5))
    with pytest.raises(ValueError, match="more basis vectors"):
        rankwise.deim(U.T)
    with pytest.raises(ValueError, match="2-D"):
        rankwise.qdeim(U[:, 0])
    bad = U.copy()
    bad[7, 2] = cp.nan
    with pytest.raises(ValueError, match="NaN"):
        rankwise.deim(bad)
    with pytest.raises(TypeError, match="complex"):
        rankwise.deim(U.astype(cp.complex128))
    dependent = cp.concatenate([U, U[:, :1]], axis=1)
    with pytest.raises(ValueError, match="rank-deficient"):
        rankwise.deim(dependent)
    with pytest.raises(ValueError, match="rank-deficient"):
        rankwise.qdeim(dependent)
    with pytest.raises(ValueError, match="n_points"):
        rankwise.odeim(U, 101)
    with pytest.raises(ValueError, match="values"):
        rankwise.deim(U)(cp.ones(4))
