"""rankwise.svd of a dense CuPy array judges A's NaN/Inf and range from the first product
instead of a scan before the call (cuda/bindings/range_checked_op.hpp): the same factors, to
the bit, as the scanned call where A is unremarkable; the native scan, and the computation
going on, where the product alone cannot tell (entries near the ends of the range);
OutOfRange, then the scan and the scaling of rankwise._scale, where A is not finite or out of
range (rankwise._cuda.last_range_check says which).  Skipped without a GPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
from gpu_support import needs_gpu

pytestmark = needs_gpu


def _decaying(m: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = min(m, n)
    Q1 = np.linalg.qr(rng.standard_normal((m, r)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((n, r)))[0]
    return (Q1 * np.exp(-0.2 * np.arange(r))) @ Q2.T


def _rsvd(A: Any, method: str, judged: bool) -> Any:
    """rankwise._cuda.rsvd of the dense CuPy A (k = 6, l = 12, q = 2), with the first-product
    check (judged) or without."""
    from rankwise import _gpu, _scale

    cuda = _gpu.cuda_module()
    mat = _gpu.as_device_matrix(A, scan=False)
    power = "lu" if method == "subspace" else "cholqr2"
    args = (6, 12, 2, method, power, 5, 6, _gpu.current_stream(), 0)
    if not judged:
        return cuda.rsvd(mat.operand, *args)
    low, high = _scale.bounds(mat.dtype)
    return cuda.rsvd(mat.operand, *args, range_low=low, range_high=high)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["subspace", "block_krylov"])
def test_the_judged_call_gives_the_scanned_calls_factors_to_the_bit(
    dtype: Any, method: str
) -> None:
    import cupy as cp
    import rankwise._cuda as cuda
    from rankwise import _gpu

    A = cp.asarray(_decaying(300, 200, 1).astype(dtype))
    U1, s1, V1, _, (u_shape, v_shape) = _rsvd(A, method, judged=True)
    assert cuda.last_range_check() == "product"
    U2, s2, V2, _, _ = _rsvd(A, method, judged=False)
    np.testing.assert_array_equal(s1, s2)
    dt = np.dtype(dtype)
    for a, b, shape, order in ((U1, U2, u_shape, "F"), (V1, V2, v_shape, "C")):
        assert bool((_gpu.wrap(a, shape, dt, order) == _gpu.wrap(b, shape, dt, order)).all())


@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        (np.float32, np.nan),
        (np.float32, np.inf),
        (np.float64, -np.inf),
        (np.float32, 1e30),  # beyond float32's range (1.8e13)
        (np.float32, 1e-20),  # below it (1.1e-13): every entry that small
        (np.float64, 1e200),
    ],
)
@pytest.mark.parametrize("method", ["subspace", "block_krylov"])
def test_a_matrix_out_of_range_stops_the_judged_call(
    dtype: Any, value: float, method: str
) -> None:
    import cupy as cp
    from rankwise import _gpu

    A = _decaying(120, 80, 2)
    if abs(value) < 1:
        A = A / np.abs(A).max() * value
    else:
        A[7, 5] = value
    with pytest.raises(_gpu.cuda_module().OutOfRange):
        _rsvd(cp.asarray(A.astype(dtype)), method, judged=True)
    assert _gpu.cuda_module().last_range_check() == "out of range"


@pytest.mark.parametrize(
    ("dtype", "amax", "check"),
    [
        (np.float32, 1e6, "product"),
        (np.float32, 1e-9, "product"),
        (np.float32, 1e13, "scan"),  # in range (<= 1.8e13), but the product cannot tell
        (np.float32, 2e-13, "scan"),  # in range (>= 1.1e-13), likewise
        (np.float64, 5e147, "scan"),
        (np.float64, 1e-147, "scan"),
    ],
)
@pytest.mark.parametrize("layout", ["C", "F", "F rows"])
def test_entries_in_range_go_on_unscaled(dtype: Any, amax: float, check: str, layout: str) -> None:
    """Where the product's bounds settle it, nothing else is read; near the ends of the
    range A is scanned on the device (a contiguous A as one column, a view with a leading
    dimension beyond its rows column by column: "F rows"), found in range, and the
    computation goes on unscaled, as the scanned call would; the values are the CPU's."""
    import cupy as cp
    import rankwise._cuda as cuda

    B = _decaying(300, 200, 3)
    A = (B / np.abs(B).max() * amax).astype(dtype)
    if layout == "F rows":  # the first 300 rows of a taller Fortran-ordered array
        taller = np.vstack([A, np.full((40, 200), np.nan, dtype)])
        device = cp.asfortranarray(cp.asarray(taller))[:300]
    else:
        device = cp.asarray(A, order=layout[0])
    _, s, _ = rankwise.svd(device, 6, random_state=4)
    assert cuda.last_range_check() == check
    _, s_cpu, _ = rankwise.svd(A, 6, random_state=4)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(cp.asnumpy(s), s_cpu, rtol=rtol)


def test_nan_inside_a_view_is_refused_and_outside_it_is_not() -> None:
    import cupy as cp

    A = cp.asarray(_decaying(120, 80, 5))
    inside = A.copy()
    inside[7, 4] = cp.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.svd(inside[:, ::2], 3)
    outside = A.copy()
    outside[7, 5] = cp.nan  # an odd column: not in the view
    _, s, _ = rankwise.svd(outside[:, ::2], 3, random_state=0)
    _, s_cpu, _ = rankwise.svd(cp.asnumpy(A)[:, ::2], 3, random_state=0)
    np.testing.assert_allclose(cp.asnumpy(s), s_cpu, rtol=1e-10)


def test_a_zero_matrix_is_in_range() -> None:
    """max |y| = 0 says nothing of the range: the scan finds A zero, which needs no scaling,
    and the judged call gives the scanned call's values."""
    import cupy as cp

    A = cp.zeros((60, 40))
    _, s, _, _, _ = _rsvd(A, "subspace", judged=True)
    np.testing.assert_array_equal(s, _rsvd(A, "subspace", judged=False)[1])
