"""CG's DIA product on the GPU: a cupyx CSR matrix whose entries lie on a few diagonals
(stencils on structured grids) converted on the device to diagonal storage, which the CUDA
backend multiplies with unit-stride reads and no index loads (cuda/src/dia.cu), fusing the
dot p.Ap that CG needs.  A CSR product loads a value, an index and a gathered x per stored
entry (cuSPARSE's SpMV on the 2-D Poisson matrix of 1e7 unknowns: 0.50 ms, 1.5 TB/s
effective on an H100, issue 8).  The CPU backend's conversion is native (rankwise/dia.hpp,
python/rankwise/_cg.py _banded) and takes the same limits on diagonals, fill and iterations
(DIA_MAX_DIAGONALS, DIA_MAX_FILL, DIA_MIN_ITERATIONS), not the CPU's cache-sized
DIA_MAX_BYTES: the GPU's products are bound by memory bandwidth at any size.

The conversion is written over the array module (``xp``: CuPy on the GPU), so that the CPU's
tests run it with NumPy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import _gpu
from ._cg import DIA_MAX_DIAGONALS, DIA_MAX_FILL


def dia_from_csr(
    xp: Any,
    data: Any,
    indices: Any,
    indptr: Any,
    n: int,
    max_diagonals: int = DIA_MAX_DIAGONALS,
    max_fill: float = DIA_MAX_FILL,
) -> tuple[list[int], Any] | None:
    """The DIA form ``(offsets, values)`` of the n x n CSR matrix (data, indices, indptr) in
    canonical form (sorted, no duplicates: what _gpu.as_device_matrix hands over).

    ``offsets``: the diagonals holding entries, ascending (host ints); ``values``: a C-ordered
    (len(offsets), n) array of data's dtype with entry (i, i + offsets[d]) at values[d, i]
    and zeros at the other positions.  None where the entries lie on more than
    ``max_diagonals`` diagonals, or the diagonals hold more than ``max_fill`` positions per
    stored entry (as the CPU's rankwise/dia.hpp counts them), or nothing is stored."""
    nnz = int(data.size)
    if n == 0 or nnz == 0:
        return None
    rows = xp.searchsorted(indptr, xp.arange(nnz, dtype=indptr.dtype), side="right") - 1
    offsets = indices.astype(xp.int64) - rows
    lo, hi = int(offsets.min()), int(offsets.max())
    # which offsets occur: a mark per offset in [lo, hi] (at most 2n - 1 of them), without
    # a sort or atomics
    present = xp.zeros(hi - lo + 1, dtype=bool)
    present[offsets - lo] = True
    diagonals = xp.flatnonzero(present) + lo
    if int(diagonals.size) > max_diagonals or int(diagonals.size) * n > max_fill * nnz:
        return None
    values = xp.zeros((int(diagonals.size), n), dtype=data.dtype)
    values[xp.searchsorted(diagonals, offsets), rows] = data
    host = diagonals.get() if hasattr(diagonals, "get") else diagonals
    return [int(o) for o in host], values


def with_dia_product(mat: _gpu.DeviceMatrix) -> _gpu.DeviceMatrix:
    """mat with the DIA product where it is a square CSR matrix on at most
    DIA_MAX_DIAGONALS diagonals with at most DIA_MAX_FILL positions per stored entry; mat
    itself otherwise, and where the device has no memory for the conversion (its
    temporaries take about 24 bytes per stored entry)."""
    if mat.kind != "sparse" or mat.shape[0] != mat.shape[1]:
        return mat
    A = mat.keepalive[0]
    if A.format != "csr":
        return mat
    import cupy as cp

    try:
        dia = dia_from_csr(cp, A.data, A.indices, A.indptr, mat.shape[0])
    except cp.cuda.memory.OutOfMemoryError:
        return mat
    if dia is None:
        return mat
    offsets, values = dia
    op = _gpu.cuda_module().DeviceOperand.dia(
        mat.dtype.name, int(values.data.ptr), mat.shape[0], offsets
    )
    return replace(mat, operand=op, keepalive=(values,))
