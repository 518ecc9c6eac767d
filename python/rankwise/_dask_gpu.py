"""The per-chunk kernels of python/rankwise/_dask.py for CuPy-backed dask arrays: the chunk
and the tall blocks made from it (Y_i, Q_i, U_i) stay on the GPU of the worker that holds the
chunk; the small l x l and n x l matrices (Gram matrices, partial sums of A^T Q, the sketch)
travel as NumPy arrays, so the graph's reductions and small factorizations are the same as
for NumPy chunks.  Products are CuPy's (cuBLAS and cuSPARSE): one call per chunk, as the CPU
path makes one native call per chunk.  Each kernel runs on the device that holds its block
(a worker may see several GPUs; CuPy runs an operation on the current device)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._gpu import _work_dtype, is_device_array


def _cupy() -> Any:
    import cupy

    return cupy


def _device_of(x: Any) -> Any:
    """The cupy.cuda.Device holding x (a CuPy array or a cupyx sparse matrix), usable as a
    context manager that makes it current."""
    device = getattr(x, "device", None)
    return device if device is not None else x.data.device


def all_finite(x: Any) -> bool:
    """No NaN or Inf in x (a CuPy array, or a cupyx sparse matrix's stored values)."""
    cupy = _cupy()
    values = x if isinstance(x, cupy.ndarray) else x.data
    with _device_of(values):
        return bool(cupy.isfinite(values).all())


def check_finite(block: Any, name: str) -> None:
    if not all_finite(block):
        raise ValueError(f"{name} contains NaN or Inf")


def apply(block: Any, X: np.ndarray, transpose: bool, check: bool, name: str) -> Any:
    """op(A_i) @ X on the device (X a host or device array), in the chunk's working dtype."""
    cupy = _cupy()
    if check:
        check_finite(block, name)
    dtype = _work_dtype(block.dtype, name)  # float32 or float64, as on the CPU
    with _device_of(block):
        if block.dtype != dtype:
            block = block.astype(dtype)
        op = block.T if transpose else block
        return op @ cupy.asarray(X, dtype=dtype)


def gram(Y: Any) -> np.ndarray:
    """Y^T Y, on the host."""
    with _device_of(Y):
        return to_host(Y.T @ Y)


def times_small(Y: Any, M: np.ndarray) -> Any:
    with _device_of(Y):
        return Y @ _cupy().asarray(M, dtype=Y.dtype)


def to_host(x: Any) -> np.ndarray:
    return x.get() if is_device_array(x) else np.asarray(x)


def largest_entries(U: Any) -> np.ndarray:
    """Per column, the entry of largest magnitude (first on ties), as a 1 x k host row."""
    cupy = _cupy()
    with _device_of(U):
        rows = cupy.argmax(cupy.abs(U), axis=0)
        return to_host(U[rows, cupy.arange(U.shape[1])])[np.newaxis, :]
