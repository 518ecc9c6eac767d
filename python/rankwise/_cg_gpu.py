"""rankwise.cg and rankwise.solve_cg on CuPy input: the same batched PCG loop
(cpp/include/rankwise/algo/cg.hpp) on the CUDA backend, with the same stopping rule, result
and breakdown reporting as on the CPU (python/rankwise/_cg.py).  A and M may be CuPy or
cupyx sparse matrices or cupyx LinearOperators (matrix-free: called back on the caller's
stream), M also "jacobi" or a function of a CuPy vector.  A sparse A on a few diagonals is
multiplied in DIA storage (python/rankwise/_dia_gpu.py), as the CPU's CG does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _gpu
from ._cg import (
    DIA_MIN_ITERATIONS,
    CGResult,
    _result,
    _rhs_scale,
    _stopping_rule,
    nonfinite_columns,
    scaled_tolerances,
)
from ._cg import _column_norms as _host_column_norms
from ._dia_gpu import DIA_MAX_CODES, value_codes, with_dia_product

# The right-hand-side scaling of columns of extreme magnitude (_cg._rhs_scale) runs on the
# host: CuPy compiles its kernels with -ftz=true, so its float32 arithmetic and conversions
# flush subnormal values (|b| < 1.2e-38) to zero, while NumPy's scale them exactly.  Rare
# inputs only: the usual solve moves no vector to the host.


def _column_abs_max(B: Any) -> np.ndarray:
    """max |b_ij| of each column (Fortran-ordered CuPy B) on the host, in B's dtype, by the
    CUDA module's reduction, which keeps subnormal entries (CuPy's would flush them); Inf
    for a column holding NaN or Inf."""
    n, s = B.shape
    maxima = _gpu.cuda_module().column_abs_max(
        B.dtype.name, int(B.data.ptr), n, s, max(n, 1), _gpu.current_stream()
    )
    return np.asarray(maxima).astype(B.dtype)


def _times(H: np.ndarray, factor: np.ndarray | float, dtype: np.dtype) -> np.ndarray:
    """H * factor in float64 on the host, rounded to dtype (exact for powers of two)."""
    with np.errstate(over="ignore"):
        return (H.astype(np.float64) * factor).astype(dtype)


def _over(H: np.ndarray, scale: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """H / scale as _times (a divide: 1 / scale overflows for scales below 2^-1024)."""
    return (H.astype(np.float64) / scale).astype(dtype)


def _column_norms(B: Any) -> np.ndarray:
    """2-norms of the columns of a Fortran-ordered CuPy array without overflow, on the host."""
    n, s = B.shape
    norms = _gpu.cuda_module().column_norms(
        B.dtype.name, int(B.data.ptr), n, s, max(n, 1), _gpu.current_stream()
    )
    return np.asarray(norms, dtype=np.float64)


def _jacobi_diagonal(A: Any, dtype: np.dtype) -> Any:
    """diag(A) as a contiguous CuPy vector of dtype; the CUDA module inverts it and checks
    that it is positive, on the device."""
    import cupy as cp

    d = A.diagonal() if not isinstance(A, cp.ndarray) else cp.diagonal(A)
    return cp.ascontiguousarray(d, dtype=dtype)


def _jacobi_arguments(diag: Any | None) -> tuple[dict[str, int], tuple[Any, ...]]:
    """cuda.cg's Jacobi arguments for diag(A) (None: no Jacobi), and the arrays they point
    into: the diagonal coded by value (rankwise/diagonal_view.hpp) where it has at most
    DIA_MAX_CODES distinct values (a stencil with constant coefficients has one), so that
    CG's two vector updates read a byte per row of it instead of a value."""
    if diag is None:
        return {"jacobi_diag": 0}, ()
    import cupy as cp

    coded = value_codes(cp, diag, DIA_MAX_CODES)
    if coded is None:
        return {"jacobi_diag": int(diag.data.ptr)}, (diag,)
    table, codes = coded
    arguments = {
        "jacobi_diag": 0,
        "jacobi_codes": int(codes.data.ptr),
        "jacobi_table": int(table.data.ptr),
        "jacobi_table_size": int(table.size),
    }
    return arguments, (table, codes)


_M_KINDS = (
    "None, 'jacobi' (fused into the vector updates), a CuPy matrix, a cupyx.scipy.sparse "
    "matrix or LinearOperator, or a function of a CuPy vector"
)


def _products(op: Any) -> Callable[[Any], Any]:
    """A cupyx LinearOperator's products as SciPy's and cupyx's cg make them: ``matvec`` of
    a 1-D vector for one right-hand side (a matvec written for 1-D input, such as
    ``d * x``, broadcast an (n, 1) block to n x n), ``matmat`` for a block (as the CPU's
    _cg._UserOperator)."""

    def products(X: Any) -> Any:
        if X.shape[1] == 1:
            return op.matvec(X[:, 0]).reshape(-1, 1)
        return op.matmat(X)

    return products


def _preconditioner(M: Any, n: int, dtype: np.dtype) -> tuple[Any, Callable[[Any], Any]]:
    """M (other than None and 'jacobi') as (a DeviceMatrix the native loop applies by
    products, M applied to a CuPy block): a CuPy or cupyx sparse matrix is multiplied on the
    device; a cupyx LinearOperator (its matmat) and a function of a vector (applied column by
    column, SciPy's convention for a callable M) are called back at every iteration."""
    import cupy as cp
    import cupyx.scipy.sparse as csp

    if isinstance(M, str):
        raise TypeError(f"M={M!r}: on the GPU, M may be {_M_KINDS}")
    if _gpu.is_device_operator(M):
        apply: Callable[[Any], Any] = _products(M)
        mat = _gpu.callback_operand(apply, None, M.shape, dtype, "M")
    elif isinstance(M, cp.ndarray) or csp.issparse(M):
        mat = _gpu.as_device_matrix(
            M if M.dtype == dtype else M.astype(dtype), "M", both_ways=False
        )
        apply = M.__matmul__
    elif callable(M) and not hasattr(M, "shape"):

        def apply(X: Any) -> Any:
            return cp.stack([cp.asarray(M(X[:, j])).ravel() for j in range(X.shape[1])], axis=1)

        mat = _gpu.callback_operand(apply, None, (n, n), dtype, "M")
    else:
        raise TypeError(
            f"M of type {type(M).__module__}.{type(M).__name__}: on the GPU, M may be {_M_KINDS}"
        )
    if mat.shape != (n, n):
        raise ValueError("matrix and preconditioner have different shapes")
    return mat, apply


def solve_cg_gpu(
    A: Any,
    b: Any,
    x0: Any,
    rtol: Any,
    atol: Any,
    maxiter: Any,
    M: Any,
    callback: Callable[[Any], Any] | None,
    deflation: Any,
) -> CGResult:
    """The body of rankwise.solve_cg for CuPy A and b (result.x is a CuPy array)."""
    if not (_gpu.is_device_array(A) and _gpu.is_device_array(b)):
        raise TypeError(
            "A and b must both be CuPy (GPU) arrays or both host arrays; got "
            f"{type(A).__name__} and {type(b).__name__}"
        )
    if deflation is not None:
        raise TypeError("deflation= is not available on the GPU yet; pass host arrays for it")
    cuda = _gpu.cuda_module()
    import cupy as cp

    if len(A.shape) != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"expected square matrix, but got shape={(A.shape,)}")
    n = int(A.shape[0])
    if np.dtype(b.dtype).kind not in "biuf":
        raise TypeError(f"b must be a real numeric array; got dtype {b.dtype}")
    if b.ndim not in (1, 2) or b.shape[0] != n or (b.ndim == 2 and b.shape[1] < 1):
        raise ValueError(f"shapes of A {A.shape} and b {b.shape} are incompatible")
    a_single = np.dtype(A.dtype if A.dtype is not None else np.float64).char == "f"
    dtype = np.dtype(np.float32 if a_single and b.dtype.char == "f" else np.float64)
    if _gpu.is_device_operator(A):  # matrix-free: A's products on the caller's stream
        mat = _gpu.callback_operand(_products(A), None, (n, n), dtype, "A")
    else:
        mat = _gpu.as_device_matrix(
            A if A.dtype == dtype else A.astype(dtype), "A", both_ways=False
        )
    vector = b.ndim == 1 or b.shape[1] == 1
    s = 1 if b.ndim == 1 else int(b.shape[1])
    B = cp.asfortranarray(b.reshape(n, s), dtype=dtype)
    _gpu._check_finite(B, "b")

    scale = _rhs_scale(_column_abs_max(B)[np.newaxis, :]) if n > 0 else None
    if scale is None:
        bnorm = _column_norms(B) if n > 0 else np.zeros(s)
    else:
        B_host = B.get()
        bnorm = _host_column_norms(B_host)
        B_scaled = _over(B_host, scale, dtype)  # B / c, solved for (below)
    tol, maxiter = _stopping_rule(bnorm, rtol, atol, maxiter, n)
    if scale is not None:
        tol = scaled_tolerances(_host_column_norms(B_scaled), scale, rtol, atol)

    diag, M_mat, apply_M = None, None, None
    if isinstance(M, str) and M == "jacobi":
        if _gpu.is_device_operator(A):
            raise TypeError("M='jacobi' needs A as a matrix, not a LinearOperator")
        diag = _jacobi_diagonal(A, dtype)
    elif M is not None:
        M_mat, apply_M = _preconditioner(M, n, dtype)

    if x0 is None:
        X = cp.zeros((n, s), dtype=dtype, order="F")
    elif isinstance(x0, str):
        if x0 != "Mb":
            raise ValueError(f"x0 must be an array, None or 'Mb'; got {x0!r}")
        X = B.copy(order="F")
        if diag is not None:
            X /= diag[:, None]
        elif apply_M is not None:
            X = cp.asfortranarray(apply_M(X), dtype=dtype)
    else:
        x = cp.asarray(x0, dtype=dtype)
        if x.size != n * s or x.shape[0] != n or x.ndim > 2:
            raise ValueError(f"shapes of A {A.shape} and x0 {x.shape} are incompatible")
        X = cp.array(x.reshape(n, s), dtype=dtype, order="F")
    _gpu._check_finite(X, "x0")
    zero_columns = np.flatnonzero(bnorm == 0)
    if zero_columns.size:  # as SciPy: b = 0 has the solution 0, whatever x0 is
        X[:, zero_columns] = 0
    if scale is not None:  # solve A (X / c) = B / c column by column, scaled on the host
        B = cp.asarray(B_scaled, order="F")
        X = cp.asarray(_over(X.get(), scale, dtype), order="F")
    x_out = X[:, 0] if vector else X

    each_iteration = None if callback is None else _iteration_callback(callback, x_out, scale)
    if maxiter >= DIA_MIN_ITERATIONS:  # as on the CPU: fewer do not repay the conversion
        mat = with_dia_product(mat)
    jacobi, _jacobi_arrays = _jacobi_arguments(diag)  # (alive until cuda.cg returns)
    out = cuda.cg(
        mat.operand,
        M=None if M_mat is None else M_mat.operand,
        b=int(B.data.ptr),
        x=int(X.data.ptr),
        n=n,
        s=s,
        atol=tol,
        maxiter=maxiter,
        x0_nonzero=x0 is not None and bool(X.any()),
        callback=each_iteration,
        stream=_gpu.current_stream(),
        **jacobi,
    )
    if scale is not None:
        out = _unscale(out, X, scale)
    else:
        # (one multi-block reduction: CuPy's isfinite(X).all(axis=0) reduced a column of 1e7
        # on one thread block, 3.5 ms of a 20-iteration solve on an H200, by ncu)
        out = nonfinite_columns(out, np.isfinite(_column_abs_max(X)))
    return _result(out, x_out, vector, maxiter)


def _iteration_callback(
    callback: Callable[[Any], Any], x_out: Any, scale: np.ndarray | None
) -> Callable[[], Any]:
    """The native loop's per-iteration hook: the user's callback, shown the unscaled
    iterate (as _cg._scaled_callback on the CPU)."""
    if scale is None:
        return lambda: callback(x_out)
    import cupy as cp

    factor = scale if x_out.ndim == 2 else float(scale[0])
    return lambda: callback(cp.asarray(_times(x_out.get(), factor, x_out.dtype)))


def _unscale(out: dict[str, Any], X: Any, scale: np.ndarray) -> dict[str, Any]:
    """Undo the right-hand-side scaling on X (in place: x_out is a view of it) and on the
    residual history; a column whose solution is beyond the float range is reported as
    "nonfinite" instead of returned as Inf (as _cg._unscale on the CPU)."""
    import cupy as cp

    X_host = _times(X.get(), scale, X.dtype)
    X[...] = cp.asarray(X_host)
    with np.errstate(over="ignore"):  # (a residual norm beyond the range: Inf in the history)
        out = dict(out, history=np.asarray(out["history"]) * scale)
    return nonfinite_columns(out, np.isfinite(X_host).all(axis=0))
