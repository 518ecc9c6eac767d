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
is stored coded: a byte per position indexing a table of its values (rankwise/dia_view.hpp;
the CPU codes only matrices beyond its cache-sized limit).  The DIA product of the 5-point
Laplacian then reads 5 bytes of matrix per row instead of 40 (float64), beside the 16 of x
and y.

The conversion is written over the array module (``xp``: CuPy on the GPU), so that the CPU's
tests run it with NumPy."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from . import _gpu
from ._cg import DIA_MAX_CODES, DIA_MAX_DIAGONALS, DIA_MAX_FILL

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


def _sampled_table(xp: Any, bits: Any, max_codes: int) -> Any | None:
    """The distinct bit patterns (ascending) of a sample of ``bits`` with 0.0's (the fill's
    value); None where they are more than ``max_codes``."""
    if max_codes < 1:
        return None
    step = max(1, bits.size // _VALUE_SAMPLE)
    sample = xp.concatenate([xp.zeros(1, dtype=bits.dtype), bits[:_VALUE_SAMPLE], bits[::step]])
    table = xp.unique(sample)
    return table if int(table.size) <= max_codes else None


def _table_codes(xp: Any, table: Any, bits: Any) -> tuple[Any, Any]:
    """(codes, found): the position of each pattern of ``bits`` in the ascending ``table``
    (the last position where it is absent) and whether it is there."""
    codes = xp.minimum(xp.searchsorted(table, bits), table.size - 1)
    return codes, table[codes] == bits


def _completed_table(xp: Any, bits: Any, table: Any, max_codes: int) -> Any | None:
    """``table`` with the patterns of ``bits`` it misses; None where they are more than an
    eighth of all entries (the matrix is taken to have too many values: a variable-coefficient
    stencil) or the table would exceed ``max_codes``."""
    missed = bits[~_table_codes(xp, table, bits)[1]]
    if int(missed.size) > bits.size // 8:
        return None
    table = xp.unique(xp.concatenate([table, missed]))
    return table if int(table.size) <= max_codes else None


def value_codes(xp: Any, data: Any, max_codes: int = DIA_MAX_CODES) -> tuple[Any, Any] | None:
    """``(table, codes)`` with ``table[codes]`` equal to ``data`` bit for bit, where data
    (float32 or float64) has at most ``max_codes`` distinct values counting 0.0 (the fill's
    value, always in the table); None otherwise.  Values are told apart by their bits, so
    that -0.0 and 0.0 stay two, and a NaN is one value.

    The table starts from a sample of the entries; the entries it misses are added in one
    more pass, unless they are more than an eighth of all."""
    if data.size == 0:
        return None
    bits = _bits(xp, data)
    table = _sampled_table(xp, bits, max_codes)
    if table is None:
        return None
    codes, found = _table_codes(xp, table, bits)
    if not bool(found.all()):
        table = _completed_table(xp, bits, table, max_codes)
        if table is None:
            return None
        codes = _table_codes(xp, table, bits)[0]  # (all found now)
    return table.view(data.dtype), codes.astype(xp.uint8)


class _ArrayKernels:
    """dia_from_csr's two passes over the entries as array operations of ``xp`` (NumPy in
    the tests; CuPy would do, slower than the CUDA module's _CudaKernels)."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self._rows: Any = None

    def _entry_rows(self, indptr: Any, nnz: int) -> Any:
        if self._rows is None:
            xp = self.xp
            at = xp.arange(nnz, dtype=indptr.dtype)
            self._rows = xp.searchsorted(indptr, at, side="right") - 1
        return self._rows

    def mark_offsets(self, indices: Any, indptr: Any, n: int) -> Any:
        """present[j - i + n - 1] true for every stored entry (i, j)."""
        rows = self._entry_rows(indptr, int(indices.size))
        present = self.xp.zeros(2 * n - 1, dtype=bool)
        present[indices.astype(self.xp.int64) - rows + n - 1] = True
        return present

    def fill(
        self,
        bits: Any,
        indices: Any,
        indptr: Any,
        n: int,
        offsets: list[int],
        values: Any | None,
        codes: Any | None,
        table: Any | None,
    ) -> int:
        """Each entry at its place on the diagonals ``offsets``: its bits into ``values``, or
        its position in ``table`` into ``codes``; returns how many could not be placed (off
        the diagonals, or not in the table), as rankwise/dia_fill.hpp."""
        xp = self.xp
        rows = self._entry_rows(indptr, int(indices.size))
        off = indices.astype(xp.int64) - rows
        diagonals = xp.asarray(offsets, dtype=xp.int64)
        d = xp.minimum(xp.searchsorted(diagonals, off), len(offsets) - 1)
        placed = diagonals[d] == off
        if codes is None:
            values[d[placed], rows[placed]] = bits[placed]
        else:
            code, found = _table_codes(xp, table, bits)
            placed &= found
            codes[d[placed], rows[placed]] = code[placed].astype(xp.uint8)
        return int(placed.size - xp.count_nonzero(placed))


class _CudaKernels:
    """dia_from_csr's two passes over the entries by the CUDA module, a thread per row
    (cuda/src/dia_convert.cu), on the caller's stream."""

    def __init__(self) -> None:
        self.cuda = _gpu.cuda_module()
        self.stream = _gpu.current_stream()

    def mark_offsets(self, indices: Any, indptr: Any, n: int) -> Any:
        import cupy as cp

        present = cp.zeros(2 * n - 1, dtype=cp.uint8)
        self.cuda.dia_mark_offsets(
            int(indices.data.ptr),
            int(indptr.data.ptr),
            indices.dtype.itemsize,
            n,
            int(present.data.ptr),
            self.stream,
        )
        return present

    def fill(
        self,
        bits: Any,
        indices: Any,
        indptr: Any,
        n: int,
        offsets: list[int],
        values: Any | None,
        codes: Any | None,
        table: Any | None,
    ) -> int:
        def address(a: Any | None) -> int:
            return 0 if a is None else int(a.data.ptr)

        return int(
            self.cuda.dia_fill(
                bits.dtype.itemsize,
                address(bits),
                address(indices),
                address(indptr),
                indices.dtype.itemsize,
                n,
                offsets,
                address(values),
                address(codes),
                address(table),
                0 if table is None else int(table.size),
                self.stream,
            )
        )


def dia_from_csr(
    xp: Any,
    data: Any,
    indices: Any,
    indptr: Any,
    n: int,
    max_diagonals: int = DIA_MAX_DIAGONALS,
    max_fill: float = DIA_MAX_FILL,
    max_codes: int = DIA_MAX_CODES,
    kernels: Any = None,
) -> DiaForm | None:
    """The DIA form of the n x n CSR matrix (data, indices, indptr) in canonical form
    (sorted, no duplicates: what _gpu.as_device_matrix hands over), arrays of ``xp``
    (indices and indptr of one integer type).

    ``offsets``: the diagonals holding entries, ascending (host ints); the values of data's
    dtype, coded where data has at most ``max_codes`` distinct values (0: never).  None
    where the entries lie on more than ``max_diagonals`` diagonals, or the diagonals hold
    more than ``max_fill`` positions per stored entry (as the CPU's rankwise/dia.hpp counts
    them), or nothing is stored.  ``kernels`` makes the passes over the entries
    (_ArrayKernels of xp by default; with_dia_product passes the CUDA module's)."""
    nnz = int(data.size)
    if n == 0 or nnz == 0:
        return None
    kernels = _ArrayKernels(xp) if kernels is None else kernels
    diagonals = xp.flatnonzero(kernels.mark_offsets(indices, indptr, n)) - (n - 1)
    count = int(diagonals.size)
    if count > max_diagonals or count * n > max_fill * nnz:
        return None
    host = diagonals.get() if hasattr(diagonals, "get") else diagonals
    offsets = [int(o) for o in host]
    bits = _bits(xp, data)
    table = _sampled_table(xp, bits, max_codes)
    for complete in (False, True):  # the sampled table, then the completed one
        if table is None:
            break
        zero = xp.zeros(1, dtype=bits.dtype)
        codes = xp.full((count, n), int(xp.searchsorted(table, zero)[0]), dtype=xp.uint8)
        if kernels.fill(bits, indices, indptr, n, offsets, None, codes, table) == 0:
            return DiaForm(offsets, None, codes, table.view(data.dtype))
        table = None if complete else _completed_table(xp, bits, table, max_codes)
    values = xp.zeros((count, n), dtype=bits.dtype)
    if kernels.fill(bits, indices, indptr, n, offsets, values, None, None) != 0:
        return None  # an entry off the diagonals: not canonical after all
    return DiaForm(offsets, values.view(data.dtype))


def with_dia_product(mat: _gpu.DeviceMatrix) -> _gpu.DeviceMatrix:
    """mat with the DIA product where it is a square CSR matrix on at most
    DIA_MAX_DIAGONALS diagonals with at most DIA_MAX_FILL positions per stored entry; mat
    itself otherwise, and where the device has no memory for the conversion.  The
    DeviceMatrix keeps the DiaForm alive."""
    if mat.kind != "sparse" or mat.shape[0] != mat.shape[1]:
        return mat
    A = mat.keepalive[0]
    if A.format != "csr" or A.indices.dtype != A.indptr.dtype:
        return mat
    import cupy as cp

    if A.indices.dtype not in (cp.int32, cp.int64):
        return mat
    try:
        dia = dia_from_csr(
            cp,
            A.data,
            A.indices,
            A.indptr,
            mat.shape[0],
            max_codes=DIA_MAX_CODES,
            kernels=_CudaKernels(),
        )
    except (cp.cuda.memory.OutOfMemoryError, MemoryError):  # (CuPy's pool, or rankwise's)
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
