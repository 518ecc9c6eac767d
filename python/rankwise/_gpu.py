"""CuPy arrays in, CuPy arrays out: the seam between the Python API and rankwise._cuda.

Device arrays are handed to the CUDA backend as raw pointers read from
``__cuda_array_interface__`` (no copy where the layout allows one BLAS view, as on the CPU);
the backend queues its work on the caller's current CuPy stream, and its results come back
as device buffers that CuPy wraps without a copy.  Nothing here moves a matrix to the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _scale
from ._validate import largest_exponent

_ROOTS = ("cupy", "cupyx")


def is_device_array(obj: Any) -> bool:
    """True for CuPy arrays and cupyx.scipy.sparse matrices and LinearOperators, also for
    instances of a user's subclass of one (a cupyx LinearOperator defined by its _matmat,
    the usual matrix-free pattern, is a class of the user's module)."""
    return any(cls.__module__.split(".", 1)[0] in _ROOTS for cls in type(obj).__mro__)


def cuda_module() -> Any:
    """rankwise._cuda, or a clear error saying why the GPU cannot be used."""
    try:
        from . import _cuda  # type: ignore[attr-defined]
    except ImportError as exc:
        raise TypeError(
            "a CuPy array was passed, but this rankwise build has no CUDA backend (it was "
            "built where no CUDA toolkit was found, or with RANKWISE_CUDA=OFF); rebuild with "
            "the CUDA toolkit installed, or pass the array's .get() to compute on the CPU"
            f" ({exc})"
        ) from None
    if _cuda.device_count() == 0:
        raise RuntimeError(
            "a CuPy array was passed, but no CUDA device is visible to this process"
        )
    return _cuda


def _cupy() -> Any:
    import cupy

    return cupy


def current_stream() -> int:
    """The caller's current CuPy stream, on which all native work is queued."""
    return int(_cupy().cuda.get_current_stream().ptr)


def _work_dtype(dtype: Any, name: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind == "c":
        raise TypeError(f"{name} is complex; rankwise's GPU routines take real matrices")
    if dt.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array; got dtype {dt}")
    return dt if dt.char in "fd" else np.dtype(np.float64)


@dataclass
class DeviceMatrix:
    """A matrix described to rankwise._cuda, with the arrays its pointers point into."""

    operand: Any  # rankwise._cuda.DeviceOperand
    shape: tuple[int, int]
    dtype: np.dtype
    kind: str  # "dense", "sparse" or "operator" (callback_operand)
    keepalive: tuple[Any, ...]
    amax: float = math.nan  # max |a_ij| from the NaN/Inf scan; NaN: not scanned (operators)

    @property
    def min_dim(self) -> int:
        return min(self.shape)


def _check_finite(values: Any, name: str) -> float:
    """max |value|, or ValueError when values hold NaN or Inf.  Contiguous float arrays by
    the CUDA module's multi-block reduction, the check and the maximum in one read (CuPy's
    isfinite().all() writes a bool array and reduces it: 3.2 ms of a 38 ms rsvd of 32768 x
    16384 float32 on an H200, by ncu); others by CuPy."""
    if not values.size:
        return 0.0
    contiguous = values.flags.c_contiguous or values.flags.f_contiguous
    if contiguous and values.dtype.name in ("float32", "float64"):
        top = cuda_module().finite_abs_max(
            values.dtype.name, int(values.data.ptr), int(values.size), current_stream()
        )
    elif values.dtype.name in ("float32", "float64"):  # a strided view: a contiguous copy
        return _check_finite(values.copy(), name)
    else:
        cp = _cupy()
        top = float(cp.abs(values).max()) if bool(cp.isfinite(values).all()) else math.inf
    if not math.isfinite(top):
        raise ValueError(f"{name} contains NaN or Inf")
    return float(top)


def _dense(A: Any, name: str, scan: bool = True) -> DeviceMatrix:
    cp = _cupy()
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D; got {A.ndim} dimensions")
    dtype = _work_dtype(A.dtype, name)
    if A.dtype != dtype:
        A = A.astype(dtype)
    amax = _check_finite(A, name) if scan else math.nan
    m, n = (int(d) for d in A.shape)
    item = A.itemsize
    s0, s1 = A.strides
    if (m <= 1 or s0 == item) and s1 % item == 0 and (n <= 1 or s1 // item >= max(m, 1)):
        ld = s1 // item if n > 1 else max(m, 1)
        stored, transposed = (m, n), False
    elif (n <= 1 or s1 == item) and s0 % item == 0 and (m <= 1 or s0 // item >= max(n, 1)):
        ld = s0 // item if m > 1 else max(n, 1)
        stored, transposed = (n, m), True
    else:  # no single BLAS view describes it: one copy in Fortran order
        A = cp.asfortranarray(A)
        ld, stored, transposed = max(m, 1), (m, n), False
    op = cuda_module().DeviceOperand.dense(
        dtype.name, int(A.data.ptr), stored[0], stored[1], int(ld), transposed
    )
    return DeviceMatrix(op, (m, n), dtype, "dense", (A,), amax)


def _sparse(A: Any, name: str, both_ways: bool) -> DeviceMatrix:
    if A.format not in ("csr", "csc") or (A.format == "csc" and not both_ways):
        A = A.tocsr()
    dtype = _work_dtype(A.dtype, name)
    if A.dtype != dtype:
        A = A.astype(dtype)
    if not A.has_canonical_format:  # sorted, no duplicates: what cuSPARSE and the norm need
        A = A.copy()
        A.sum_duplicates()
    amax = _check_finite(A.data, name)
    if A.indices.dtype != A.indptr.dtype:
        A = A.copy()
        A.indices = A.indices.astype(A.indptr.dtype)
    m, n = (int(d) for d in A.shape)
    csc = A.format == "csc"
    rows, cols = (n, m) if csc else (m, n)
    # The CSR of the other orientation too (one conversion, nnz more memory): every product is
    # then a non-transposed SpMM, several times faster than cuSPARSE's transposed one.
    other = (A.tocsr() if csc else A.T.tocsr()) if both_ways else None
    if other is not None and other.indptr.dtype != A.indptr.dtype:
        other.indices = other.indices.astype(A.indptr.dtype)
        other.indptr = other.indptr.astype(A.indptr.dtype)
    op = cuda_module().DeviceOperand.csr(
        dtype.name,
        int(A.data.data.ptr),
        int(A.indices.data.ptr),
        int(A.indptr.data.ptr),
        rows,
        cols,
        int(A.nnz),
        int(A.indptr.dtype.itemsize),
        csc,
        *(
            (int(other.data.data.ptr), int(other.indices.data.ptr), int(other.indptr.data.ptr))
            if other is not None
            else (0, 0, 0)
        ),
    )
    return DeviceMatrix(op, (m, n), dtype, "sparse", (A, other), amax)


def as_device_matrix(
    A: Any, name: str = "A", *, both_ways: bool = True, scan: bool = True
) -> DeviceMatrix:
    """A CuPy ndarray or cupyx.scipy.sparse matrix as a DeviceMatrix (float32 stays float32,
    other real types compute in float64; NaN/Inf refused; A is never modified).  A sparse
    matrix is kept as CSR, with (``both_ways``, for products with A^T too) its transpose.
    ``scan=False`` leaves a dense A unscanned (amax NaN): for a caller whose native call
    judges A from its first product (rankwise._cuda.rsvd's range_high)."""
    import cupyx.scipy.sparse as csp

    if csp.issparse(A):
        return _sparse(A, name, both_ways)
    if isinstance(A, _cupy().ndarray):
        return _dense(A, name, scan)
    raise TypeError(
        f"{name}: this rankwise function takes CuPy ndarrays and cupyx.scipy.sparse matrices "
        f"on the GPU; got {type(A).__module__}.{type(A).__name__}"
    )


def asymmetry(A: Any) -> float:
    """||A - A^T||_F / ||A||_F of a square CuPy array or cupyx.scipy.sparse matrix, in
    float64 (0 for a zero A, and for an operator, whose symmetry would cost products)."""
    import cupyx.scipy.sparse as csp
    import cupyx.scipy.sparse.linalg as cspla

    cp = _cupy()
    if csp.issparse(A):
        S = A.tocsr().astype(cp.float64)  # (a copy: astype copies)
        S.sum_duplicates()
        S.data = cp.ldexp(S.data, -largest_exponent(S.data))  # as _validate.asymmetry
        T = S.T.tocsr()
        T.sum_duplicates()
        den = float(cp.linalg.norm(S.data))
        if cp.array_equal(S.indptr, T.indptr) and cp.array_equal(S.indices, T.indices):
            # the same pattern (both canonical): entry k of T.data is S_ji where S.data[k]
            # is S_ij, so no sparse subtraction (cuSPARSE's csrgeam: 10 of the 13 ms this
            # check took on a 2-D Poisson matrix of 1e7 unknowns, H200)
            num = float(cp.linalg.norm(S.data - T.data))
        else:
            num = float(cspla.norm(S - T))
    elif isinstance(A, cp.ndarray):
        a = A.astype(cp.float64)
        a = cp.ldexp(a, -largest_exponent(a))
        num, den = float(cp.linalg.norm(a - a.T)), float(cp.linalg.norm(a))
    else:
        return 0.0
    return num / den if den > 0 else 0.0


def _device_view(ptr: int, rows: int, cols: int, ld: int, dtype: np.dtype) -> Any:
    """The column-major device block at ``ptr`` (rows x cols, leading dimension ld) as a CuPy
    array, without a copy (valid while the native call that owns it runs)."""
    cp = _cupy()
    if rows == 0 or cols == 0:
        return cp.empty((rows, cols), dtype=dtype, order="F")
    item = dtype.itemsize
    nbytes = ((cols - 1) * ld + rows) * item
    # (the native call's work memory is on the current device, which the call runs on)
    memory = cp.cuda.UnownedMemory(ptr, nbytes, None, cp.cuda.runtime.getDevice())
    return cp.ndarray(
        (rows, cols),
        dtype=dtype,
        memptr=cp.cuda.MemoryPointer(memory, 0),
        strides=(item, ld * item),
    )


def callback_operand(
    matmat: Any, rmatmat: Any, shape: tuple[int, int], dtype: np.dtype, name: str
) -> DeviceMatrix:
    """A user's operator (``matmat(X)`` / ``rmatmat(X)`` on CuPy blocks, rmatmat None where
    the caller never needs A^T) as a DeviceMatrix: the native code calls back for every
    product (cuda/bindings/device_operand.hpp, DeviceCallbackOp) on the caller's stream.
    Each product gets its own copy of the block and must return a CuPy array of the right
    shape, finite (else TypeError / ValueError naming ``name``, as on the CPU)."""
    cp = _cupy()
    rows, cols = (int(d) for d in shape)

    def apply(
        transpose: bool,
        x: int,
        x_rows: int,
        x_cols: int,
        x_ld: int,
        y: int,
        y_rows: int,
        y_ld: int,
    ) -> None:
        what = "rmatmat" if transpose else "matmat"
        f = rmatmat if transpose else matmat
        if f is None:
            raise TypeError(f"{name} has no {what}, and this function needs it")
        X = _device_view(x, x_rows, x_cols, x_ld, dtype).copy(order="F")
        Y = f(X)
        if not isinstance(Y, cp.ndarray):
            raise TypeError(
                f"{name}.{what} returned {type(Y).__module__}.{type(Y).__name__}; on the GPU "
                "it must return a CuPy array"
            )
        if Y.ndim == 1 and x_cols == 1:
            Y = Y[:, None]
        if Y.shape != (y_rows, x_cols):
            raise ValueError(
                f"{name}.{what} returned shape {Y.shape}; expected {(y_rows, x_cols)}"
            )
        _check_finite(Y, f"the result of {name}.{what}")
        _device_view(y, y_rows, x_cols, y_ld, dtype)[...] = Y.astype(dtype, copy=False)

    op = cuda_module().DeviceOperand.callback(dtype.name, rows, cols, apply)
    return DeviceMatrix(op, (rows, cols), dtype, "operator", (apply,))


def is_device_operator(A: Any) -> bool:
    """Whether A is a cupyx.scipy.sparse.linalg.LinearOperator (matrix-free on the GPU)."""
    import cupyx.scipy.sparse.linalg as cspla

    return isinstance(A, cspla.LinearOperator)


def within_range(mat: DeviceMatrix) -> tuple[DeviceMatrix, int]:
    """(mat, 0), or (the matrix times 2^-e, e) where its entries lie near the float maximum
    or the subnormal range (rankwise._scale: the CPU's checked_core does the same): a scaled
    copy on the device, exact (a power of two); the singular values come back 2^-e times."""
    e = _scale.exponent_for(mat.amax, mat.dtype)
    if e == 0:
        return mat, 0
    A = mat.keepalive[0]  # the work-dtype array or CSR/CSC matrix the operand points into
    scaled = A.copy()  # dense: contiguous; sparse: its own contiguous .data
    values = scaled if mat.kind == "dense" else scaled.data
    # natively: CuPy's ldexp flushes float32 subnormals to zero, the very entries scaled here
    cuda_module().scale_by_power_of_two(
        values.dtype.name, int(values.data.ptr), int(values.size), -e, current_stream()
    )
    return as_device_matrix(scaled), e


def as_device_operator(A: Any, name: str = "A") -> DeviceMatrix:
    """:func:`as_device_matrix`, or for a cupyx.scipy.sparse.linalg.LinearOperator a callback
    operand (its matmat and rmatmat called for every product: matrix-free on the GPU)."""
    if is_device_operator(A):
        if len(A.shape) != 2 or 0 in A.shape:
            raise ValueError(f"{name} must be a non-empty 2-D operator; got shape {A.shape}")
        dtype = _work_dtype(A.dtype if A.dtype is not None else np.float64, name)
        return callback_operand(A.matmat, A.rmatmat, A.shape, dtype, name)
    return as_device_matrix(A, name)


def wrap(buffer: Any, shape: tuple[int, int], dtype: np.dtype, order: str) -> Any:
    """A rankwise._cuda.DeviceBuffer as a CuPy array (no copy; the array owns the buffer)."""
    cp = _cupy()
    memory = cp.cuda.UnownedMemory(buffer.ptr, buffer.nbytes, buffer)
    return cp.ndarray(shape, dtype=dtype, memptr=cp.cuda.MemoryPointer(memory, 0), order=order)
