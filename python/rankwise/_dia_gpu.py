"""CG's DIA product on the GPU: a cupyx CSR matrix whose entries lie on a few diagonals
(stencils on structured grids) converted on the device to diagonal storage, which the CUDA
backend multiplies with unit-stride reads and no index loads (cuda/src/dia.cu), fusing the
dot p.Ap that CG needs.  A CSR product loads a value, an index and a gathered x per stored
entry (cuSPARSE's SpMV on the 2-D Poisson matrix of 1e7 unknowns: 0.50 ms, 1.5 TB/s
effective on an H100, issue 8).  The CPU backend's conversion is native (rankwise/dia.hpp,
python/rankwise/_cg.py _banded) and takes the same limits on diagonals, fill and iterations
(DIA_MAX_DIAGONALS, DIA_MAX_FILL, DIA_MIN_ITERATIONS), not the CPU's cache-sized
DIA_MAX_BYTES: the GPU's products are bound by memory bandwidth at any size.

A matrix with at most DIA_MAX_CODES distinct values (a stencil with constant coefficients)
is stored coded: a byte per position indexing a table of its values (rankwise/dia_view.hpp).
The DIA product of the 5-point Laplacian then reads 5 bytes of matrix per row instead of 40
(float64), beside the 16 of x and y.

The conversion is written over the array module (``xp``: CuPy on the GPU), so that the CPU's
tests run it with NumPy."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from . import _gpu
from ._cg import DIA_MAX_DIAGONALS, DIA_MAX_FILL

DIA_MAX_CODES = 256
"""At most this many distinct values (with the fill's 0) are stored coded, a byte each."""

_VALUE_SAMPLE = 4096
"""Entries of the matrix (a contiguous run, and as many spread over it) whose values make
the first table; the other entries are then looked up in it."""


@dataclass(frozen=True)
class DiaForm:
    """A square n x n matrix in DIA storage: diagonal ``offsets[d]`` holds entry
    (i, i + offsets[d]) at position [d, i] of ``values`` (plain storage), or of ``codes``
    (coded: ``values`` is None), which index ``table``; positions the matrix does not hold
    are 0."""

    offsets: list[int]
    values: Any | None
    codes: Any | None = None
    table: Any | None = None

    @property
    def nbytes(self) -> int:
        """The bytes a product reads of the matrix."""
        if self.values is not None:
            return int(self.values.nbytes)
        return int(self.codes.nbytes) + int(self.table.nbytes)  # type: ignore[union-attr]

    def dense_values(self) -> Any:
        """The (len(offsets), n) values, decoded where coded."""
        if self.values is not None:
            return self.values
        return self.table[self.codes]  # type: ignore[index]


def _bits(xp: Any, a: Any) -> Any:
    """The float32 / float64 array a viewed as integers of its width."""
    return a.view(xp.int32 if a.dtype.itemsize == 4 else xp.int64)


def value_codes(xp: Any, data: Any, max_codes: int = DIA_MAX_CODES) -> tuple[Any, Any] | None:
    """``(table, codes)`` with ``table[codes]`` equal to ``data`` bit for bit, where data
    (float32 or float64) has at most ``max_codes`` distinct values counting 0.0 (the fill's
    value, always in the table); None otherwise.  Values are told apart by their bits, so
    that -0.0 and 0.0 stay two, and a NaN is one value.

    The table starts from a sample of the entries; the entries it misses are added in one
    more pass, unless they are more than an eighth of all (then the matrix is taken to have
    too many values: a variable-coefficient stencil)."""
    if max_codes < 1 or data.size == 0:
        return None
    bits = _bits(xp, data)
    step = max(1, bits.size // _VALUE_SAMPLE)
    sample = xp.concatenate([xp.zeros(1, dtype=bits.dtype), bits[:_VALUE_SAMPLE], bits[::step]])
    table = xp.unique(sample)
    for last_pass in (False, True):
        if int(table.size) > max_codes:
            return None
        codes = xp.minimum(xp.searchsorted(table, bits), table.size - 1)
        missed = bits[table[codes] != bits]
        if int(missed.size) == 0:
            return table.view(data.dtype), codes.astype(xp.uint8)
        if last_pass or int(missed.size) > bits.size // 8:
            return None
        table = xp.unique(xp.concatenate([table, missed]))
    return None


def dia_from_csr(
    xp: Any,
    data: Any,
    indices: Any,
    indptr: Any,
    n: int,
    max_diagonals: int = DIA_MAX_DIAGONALS,
    max_fill: float = DIA_MAX_FILL,
    max_codes: int = DIA_MAX_CODES,
) -> DiaForm | None:
    """The DIA form of the n x n CSR matrix (data, indices, indptr) in canonical form
    (sorted, no duplicates: what _gpu.as_device_matrix hands over), arrays of ``xp``.

    ``offsets``: the diagonals holding entries, ascending (host ints); the values of data's
    dtype, coded where data has at most ``max_codes`` distinct values (0: never).  None
    where the entries lie on more than ``max_diagonals`` diagonals, or the diagonals hold
    more than ``max_fill`` positions per stored entry (as the CPU's rankwise/dia.hpp counts
    them), or nothing is stored."""
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
    host = diagonals.get() if hasattr(diagonals, "get") else diagonals
    offset_list = [int(o) for o in host]
    position = (xp.searchsorted(diagonals, offsets), rows)
    shape = (int(diagonals.size), n)
    coded = value_codes(xp, data, max_codes)
    if coded is None:
        values = xp.zeros(shape, dtype=data.dtype)
        values[position] = data
        return DiaForm(offset_list, values)
    table, data_codes = coded
    fill_code = int(xp.searchsorted(_bits(xp, table), _bits(xp, xp.zeros(1, data.dtype)))[0])
    codes = xp.full(shape, fill_code, dtype=xp.uint8)
    codes[position] = data_codes
    return DiaForm(offset_list, None, codes, table)


def with_dia_product(mat: _gpu.DeviceMatrix) -> _gpu.DeviceMatrix:
    """mat with the DIA product where it is a square CSR matrix on at most
    DIA_MAX_DIAGONALS diagonals with at most DIA_MAX_FILL positions per stored entry; mat
    itself otherwise, and where the device has no memory for the conversion (its
    temporaries take about 32 bytes per stored entry).  The DeviceMatrix keeps the DiaForm
    alive."""
    if mat.kind != "sparse" or mat.shape[0] != mat.shape[1]:
        return mat
    A = mat.keepalive[0]
    if A.format != "csr":
        return mat
    import cupy as cp

    try:
        dia = dia_from_csr(cp, A.data, A.indices, A.indptr, mat.shape[0], max_codes=DIA_MAX_CODES)
    except cp.cuda.memory.OutOfMemoryError:
        return mat
    if dia is None:
        return mat
    make = _gpu.cuda_module().DeviceOperand.dia
    if dia.values is not None:
        op = make(mat.dtype.name, int(dia.values.data.ptr), mat.shape[0], dia.offsets)
    else:
        op = make(
            mat.dtype.name,
            0,
            mat.shape[0],
            dia.offsets,
            codes=int(dia.codes.data.ptr),
            table=int(dia.table.data.ptr),
            table_size=int(dia.table.size),
        )
    return replace(mat, operand=op, keepalive=(dia,))
