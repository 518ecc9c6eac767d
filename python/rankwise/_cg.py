"""rankwise.cg (SciPy's ``cg`` signature) and rankwise.solve_cg (a result object).

Both validate here and run the native batched PCG loop (cpp/include/rankwise/algo/cg.hpp).
"""

from __future__ import annotations

import contextlib
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, SupportsIndex, overload

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from . import _core, _gpu
from ._dispatch import refuse_device_or_dask, require_cpu_input
from ._errors import InvalidParameterError
from ._typing import HostMatrix
from ._validate import (
    Matrix,
    _has_own_block_product,
    as_matrix,
    asymmetry,
    columnwise,
    scalar_of,
    with_values_as,
)
from .precond import Preconditioner, chebyshev, ic0, jacobi, ssor

__all__ = ["CGBreakdownError", "CGResult", "cg", "solve_cg"]

_PRECONDITIONERS: dict[str, Callable[[Any], Preconditioner]] = {
    "jacobi": jacobi,
    "ssor": ssor,
    "ic0": ic0,
    "chebyshev": chebyshev,
}

_BREAKDOWN_TEXT = {
    "A_not_spd": "A is not positive definite (p.Ap <= 0 for a search direction p)",
    "M_not_spd": "the preconditioner M is not positive definite (r.Mr <= 0 for r != 0)",
    "nonfinite": "NaN or Inf appeared in the iteration (overflow, or A / M produced them)",
}


class CGBreakdownError(np.linalg.LinAlgError):
    """CG cannot continue: A or M is not SPD, or the iteration produced NaN/Inf.

    Raised by :func:`rankwise.cg` (SciPy's ``cg`` goes on: with NaNs, a wrong answer, or on
    a symmetric indefinite A sometimes to a solution, which CG does not guarantee there);
    :func:`rankwise.solve_cg` reports the same in ``result.reason`` instead.  The attribute
    ``result`` holds the :class:`CGResult` with the last finite iterate, scaled back to
    A's units (Inf where that is beyond the float range: A ~ 1e-200 with b ~ 1e200 has a
    solution of ~1e400, which the iteration reached on b scaled by a power of two).
    """

    def __init__(self, message: str, result: CGResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class CGResult:
    """What :func:`rankwise.solve_cg` returns.

    Attributes
    ----------
    x : ndarray
        The solution, shaped like ``b``.
    converged : bool
        Every column reached ``||r|| < max(rtol ||b||, atol)``.
    reason : str
        "converged", "maxiter", "A_not_spd", "M_not_spd" or "nonfinite" (for a block: the
        first column's that did not converge, else "converged").
    iterations : int
        CG iterations (for a block: of the column that took most).
    residual_norms : ndarray
        ``||r_k||`` (recursively updated residual) at the start of each iteration and at
        exit: shape (iterations + 1,), or (iterations + 1, s) for a block, NaN after a column
        stopped.
    column_iterations, column_reasons :
        Per column of a block (one entry for a single vector).
    info : int
        SciPy's convention: 0 converged, maxiter if not, -1 breakdown (so 0 also for a
        start that did not converge with ``maxiter=0``: ``converged`` tells them apart).
    """

    x: np.ndarray
    converged: bool
    reason: str
    iterations: int
    residual_norms: np.ndarray
    column_iterations: np.ndarray
    column_reasons: tuple[str, ...]
    info: int


@dataclass
class _System:
    A: Matrix
    M: Any  # _core.Preconditioner or None
    B: np.ndarray  # (n, s), Fortran order, work dtype
    X: np.ndarray  # (n, s), Fortran order, work dtype: the start and then the iterates
    atol: list[float]
    maxiter: int
    x0_nonzero: bool
    vector: bool  # b was 1-D
    # Per-column powers of two the system was divided by (None: not scaled), see _rhs_scale
    scale: np.ndarray | None = None


def _dtype_char(dtype: Any) -> str:
    return np.dtype(dtype).char if dtype is not None else "d"


def _is_complex(obj: Any) -> bool:
    dt = getattr(obj, "dtype", None)
    if dt is None and isinstance(obj, list | tuple):  # a right-hand side as a list
        return bool(np.iscomplexobj(obj))
    return dt is not None and np.dtype(dt).kind == "c"


def _work_dtype(a_dtype: Any, b_dtype: np.dtype) -> np.dtype:
    """SciPy's make_system coercion for real types: float32 only if A and b both are."""
    a = _dtype_char(a_dtype)
    both_single = a == "f" and b_dtype.char == "f"
    return np.dtype(np.float32 if both_single else np.float64)


class _UserOperator(LinearOperator):
    """A user's LinearOperator in the work dtype (its products are cast by the core), called
    with 1-D vectors for one right-hand side, as SciPy's cg calls it."""

    def __init__(self, op: LinearOperator, dtype: np.dtype) -> None:
        super().__init__(dtype=dtype, shape=op.shape)
        self._op = op

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._op.matvec(x)

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        if X.shape[1] == 1 or not _has_own_block_product(self._op):
            return columnwise(self._op.matvec, X, self.shape[0])
        return self._op.matmat(X)

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._op.rmatvec(x)


DIA_MAX_DIAGONALS = 32
"""A CSR matrix whose entries lie on at most this many diagonals ..."""
DIA_MAX_FILL = 1.5
"""... that hold at most this many positions per stored entry ..."""
DIA_MAX_BYTES = 1 << 25
"""... and whose values take at most this many bytes (32 MiB), or beyond that ..."""
DIA_MAX_CODES = 256
"""... have at most this many distinct values counting the fill's 0 (then stored coded, a
byte per position indexing a table of them), is multiplied in DIA form in CG (_banded).
The GPU codes every matrix that allows it (python/rankwise/_dia_gpu.py)."""
DIA_MIN_ITERATIONS = 20
"""Fewer iterations than this do not repay the conversion (about 6 products) or, for a
dense A, the symmetry check (one product)."""


def _as_work(
    A: Any,
    dtype: np.dtype,
    name: str,
    *,
    system_matrix: bool = False,
    iterations: int | None = None,
) -> Matrix:
    """as_matrix of A in the work dtype (one conversion where A's dtype differs).

    ``system_matrix``: A is the matrix of a CG solve, multiplied at most ``iterations``
    times (None: many); a CSR A on few diagonals then gets the DIA product
    (:func:`_banded`), a dense symmetric A the product from its upper triangle
    (:func:`_symmetric`)."""
    if _is_complex(A):  # rankwise.cg hands complex systems to SciPy before getting here
        raise TypeError(
            f"{name} is complex ({np.dtype(A.dtype)}); the native solver takes real systems: "
            "use rankwise.cg, which passes complex ones to scipy.sparse.linalg.cg"
        )
    if sp.issparse(A):
        if A.dtype != dtype:
            A = with_values_as(A, dtype)
    elif isinstance(A, LinearOperator):
        A = _UserOperator(A, dtype)
    else:
        A = np.asarray(A)
        if A.dtype != dtype:
            A = A.astype(dtype)
    # NaN or Inf from a user's operator mid-solve: CG's own "nonfinite" stop (solve_cg's
    # reason, cg's CGBreakdownError with the last finite iterate), not a ValueError
    mat = as_matrix(A, name, finite_products=False)
    if mat.shape[0] != mat.shape[1]:
        raise ValueError(f"{name} must be square; got shape {mat.shape}")
    if system_matrix and (iterations is None or iterations >= DIA_MIN_ITERATIONS):
        return _symmetric(A, mat) if mat.kind == "dense" else _banded(A, mat)
    return mat


def _symmetric(A: Any, mat: Matrix) -> Matrix:
    """mat with products that read the upper triangle of A only, where A (dense, as CG
    needs it) equals its transpose exactly (rankwise/symmetric.hpp): a dense CG iteration
    streams A once, and the triangle is half of it (n = 4000, float64: about 1.9x less time
    per iteration than the whole-matrix product).  Checking costs one pass over A, repaid
    by the first two iterations; a matrix symmetric only up to rounding keeps the full
    product, as SciPy's cg would use it, and so does an array without unit stride along
    one axis (as_matrix copied it whole for the full product)."""
    op = _core.Operator.symmetric_dense(np.asarray(A))
    return mat if op is None else replace(mat, op=op)


def _banded(A: Any, mat: Matrix) -> Matrix:
    """mat with the product of the DIA form of the CSR A (rankwise/dia.hpp) where that pays.

    Stencils on structured grids (pyamg's Poisson, anisotropic diffusion, elasticity) have
    their entries on a few diagonals; there the DIA product reads no indices and streams
    with unit stride, which makes a Jacobi-PCG iteration about a third faster while the
    matrix sits in the cache (5-point Laplacian, one core: 33 against 51 us at n = 1e4,
    360 against 557 us at 1e5; two cores, 100 iterations at n = 1e6 in float32: 0.35
    against 0.64 s).  Out of the cache plain DIA reads about what CSR reads (n = 1e6 in
    float64, 60 MB of values: 0.75 against 0.73 s), hence DIA_MAX_BYTES; beyond it a matrix
    with at most DIA_MAX_CODES distinct values (constant coefficients) is stored coded, a
    byte per position (rankwise/dia.hpp), whose stretches of one value multiply as scaled
    copies of x (two cores, 100 Jacobi-PCG iterations on the 5-point Laplacian in float64:
    0.44-0.46 against 0.54-0.60 s with CSR at n = 1e6, 2.0-2.5 against 2.9 s at 4e6).  In
    the cache plain storage stays: its products are the faster.  The iterates do not change
    for one right-hand side: the DIA product rounds as the CSR one does (dia.hpp); for a
    block, the CSR block product sums in another order and the two may differ in rounding.
    A CSR matrix that is not in canonical form (sorted, no duplicates), or with more
    diagonals or fill, keeps CSR."""
    if not (sp.issparse(A) and A.format == "csr" and mat.kind == "sparse"):
        return mat
    indptr, indices = A.indptr, A.indices
    if indptr.dtype != indices.dtype or indptr.dtype not in (np.int32, np.int64):
        return mat
    op = _core.Operator.dia(
        np.ascontiguousarray(A.data),
        np.ascontiguousarray(indices),
        np.ascontiguousarray(indptr),
        mat.shape[0],
        DIA_MAX_DIAGONALS,
        DIA_MAX_FILL,
        DIA_MAX_CODES,
        DIA_MAX_BYTES,
    )
    return mat if op is None else replace(mat, op=op)


def _preconditioner(M: Any, A_in: Any, A: Matrix, dtype: np.dtype) -> Any:
    """M as a native handle (None: no preconditioner)."""
    n = A.shape[0]
    if M is None:
        psolve = getattr(A_in, "psolve", None)
        if psolve is None:
            return None
        M = LinearOperator((n, n), matvec=psolve, dtype=dtype)  # SciPy's A.psolve convention
    if isinstance(M, str):
        factory = _named_preconditioner(M)
        if A.kind == "operator" and M != "chebyshev" and not hasattr(A_in, "diagonal"):
            raise TypeError(f"M={M!r} needs A as a matrix, not a LinearOperator")
        M = factory(A_in)
        if M.dtype != dtype:
            M = factory(_in_dtype(A_in, dtype))
    if isinstance(M, Preconditioner):
        if M.shape != (n, n):
            raise ValueError("matrix and preconditioner have different shapes")
        if M.dtype == dtype:
            return M.handle
        # built for the other precision (ic0(A32) with a float64 b, which makes the solve
        # float64 as in SciPy): applied in its own dtype as a LinearOperator, as SciPy's cg
        # would apply it
    require_cpu_input(M, "M")
    if callable(M) and not isinstance(M, LinearOperator) and not hasattr(M, "shape"):
        M = LinearOperator((n, n), matvec=M, dtype=dtype)
    elif not (sp.issparse(M) or isinstance(M, LinearOperator | np.ndarray)):
        M = aslinearoperator(M)
    mat = _as_work(M, dtype, "M")
    if mat.shape != A.shape:
        raise ValueError("matrix and preconditioner have different shapes")
    return _core.precond_operator(mat.op)


def _named_preconditioner(name: str) -> Callable[[Any], Preconditioner]:
    """The rankwise.precond factory M names."""
    factory = _PRECONDITIONERS.get(name)
    if factory is None:
        raise InvalidParameterError(  # (SciPy: TypeError, "type not understood")
            f"M must be one of {sorted(_PRECONDITIONERS)} as a string; got {name!r}"
        )
    return factory


def _in_dtype(A: Any, dtype: np.dtype) -> Any:
    """A converted to dtype: matrices by astype, an operator wrapped (its products are
    cast by the core; its diagonal, where it has one, cast here)."""
    if hasattr(A, "astype"):
        return A.astype(dtype)
    op = _UserOperator(aslinearoperator(A), dtype)
    if hasattr(A, "diagonal"):
        op.diagonal = lambda: np.asarray(A.diagonal(), dtype=dtype)  # type: ignore[attr-defined]
    return op


def _apply_M(M: Any, B: np.ndarray) -> np.ndarray:
    if M is None:
        return B.copy(order="F")
    return _core.precond_apply(M, B)


def _check_atol(atol: Any) -> float:
    atol = scalar_of(atol)
    if not isinstance(atol, numbers.Real) or not atol >= 0:  # NaN fails too
        raise ValueError(f"atol must be a real, non-negative number; got {atol!r}")
    return float(atol)


def _stopping_rule(
    bnorm: np.ndarray, rtol: Any, atol: Any, maxiter: Any, n: int
) -> tuple[list[float], int]:
    """SciPy's rule, checked: column j stops when ||r_j|| < max(atol, rtol ||b_j||);
    maxiter defaults to 10 n.  Returns (per-column tolerances, maxiter)."""
    atol_f = _check_atol(atol)
    rtol, maxiter = scalar_of(rtol), scalar_of(maxiter)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not rtol >= 0:
        raise ValueError(f"rtol must be a real, non-negative number; got {rtol!r}")
    tol = [max(atol_f, float(rtol) * float(bn)) for bn in bnorm]
    if maxiter is None:
        maxiter = 10 * n
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral):
        # (SciPy: TypeError, "'float' object cannot be interpreted as an integer")
        raise InvalidParameterError(f"maxiter must be a non-negative integer; got {maxiter!r}")
    if maxiter < 0:
        raise ValueError(f"maxiter must be a non-negative integer; got {maxiter!r}")
    return tol, min(int(maxiter), 2**62)  # a bound no solve reaches, within int64


def _column_norms(B: np.ndarray) -> np.ndarray:
    """2-norms of the columns without overflow or underflow (entries up to the float max)."""
    B64 = B.astype(np.float64, copy=False)
    scale = np.abs(B64).max(axis=0, initial=0.0)
    safe = np.where(scale > 0, scale, 1.0)
    with np.errstate(over="ignore"):  # Inf where the norm exceeds the range (scaled_tolerances)
        return scale * np.linalg.norm(B64 / safe, axis=0)


def _rhs_scale(B: np.ndarray) -> np.ndarray | None:
    """Per-column powers of two c_j bringing max |b_j| near 1, for columns whose squared
    norms would underflow or overflow in the recurrence (max |b_j| beyond 2^(+-e), e a
    quarter of the exponent range: 2^256 in float64, 2^32 in float32).  Without it r.r
    underflows to 0 for |b| ~ 1e-160 and CG reported x = 0 as converged, and overflows for
    |b| ~ 1e160 (a breakdown).  None when no column needs it: the usual case, in which the
    iteration is SciPy's bit for bit.  Powers of two scale without rounding."""
    big = np.abs(B).max(axis=0, initial=0.0).astype(np.float64)
    e = np.finfo(B.dtype).maxexp // 4
    need = (big > 0) & ((big > 2.0**e) | (big < 2.0**-e))
    if not need.any():
        return None
    scale = np.ones(B.shape[1])
    scale[need] = np.ldexp(1.0, np.frexp(big[need])[1] - 1)  # max |b_j| / c_j in [1, 2)
    return scale


def _prepare(
    A: Any, b: Any, x0: Any, rtol: Any, atol: Any, maxiter: Any, M: Any, deflation: Any = None
) -> _System:
    refuse_device_or_dask(A, "A")  # A's structure: checked by as_matrix in _as_work
    require_cpu_input(b, "b")
    A_in = A
    if not (sp.issparse(A) or isinstance(A, LinearOperator | np.ndarray)):
        A = aslinearoperator(A) if hasattr(A, "matvec") else np.asarray(A)
    if isinstance(A, np.ndarray) and A.dtype.kind not in "biufc":
        A = _matrix_of_numbers(A, A_in)
    shape = A.shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"expected square matrix, but got shape={(shape,)}")
    b = _check_rhs(b, shape)
    dtype = _work_dtype(getattr(A, "dtype", None), b.dtype)
    B, vector = _rhs_block(b, dtype)
    iterations = maxiter if isinstance(maxiter, numbers.Integral) else None
    mat = _as_work(A, dtype, "A", system_matrix=True, iterations=iterations)
    handle = _preconditioner(M, A_in, mat, dtype)
    return _start(mat, handle, B, vector, x0, rtol, atol, maxiter, deflation, dtype)


def _matrix_of_numbers(A: np.ndarray, A_in: Any) -> np.ndarray:
    """A 2-D object array of numbers as float64 (rankwise.cg takes it; SciPy does not);
    InvalidParameterError for None, a string or objects that are not numbers (SciPy:
    TypeError, "type not understood")."""
    if A.dtype.kind == "O" and A.ndim == 2:
        with contextlib.suppress(TypeError, ValueError):
            return A.astype(np.float64)
    raise InvalidParameterError(
        f"A must be a matrix, sparse matrix or LinearOperator of numbers; got {A_in!r:.60}"
    )


def _check_rhs(b: Any, shape: tuple[int, ...]) -> np.ndarray:
    """b as a real float array of shape (n,) or (n, s) (NaN/Inf checked in _rhs_block)."""
    n = int(shape[0])
    b = np.asanyarray(b)
    if b.dtype.kind == "O":  # boxed numbers (a mixed DataFrame's values): SciPy casts them
        try:
            b = b.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError("b must be a real numeric array; got dtype object") from None
    if b.dtype.kind not in "biuf":
        raise TypeError(f"b must be a real numeric array; got dtype {b.dtype}")
    if b.ndim not in (1, 2) or b.shape[0] != n or (b.ndim == 2 and b.shape[1] < 1):
        raise ValueError(f"shapes of A {tuple(shape)} and b {b.shape} are incompatible")
    if b.dtype.char not in "fd":
        b = b.astype(np.float64)
    return b


def _rhs_block(b: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, bool]:
    """(B, vector): b as an (n, s) Fortran block of the work dtype (a copy), and whether it
    is one vector."""
    n = b.shape[0]
    vector = b.ndim == 1 or b.shape[1] == 1  # SciPy: (n, 1) is a vector
    B = np.asfortranarray(b.reshape(n, 1 if b.ndim == 1 else b.shape[1]), dtype=dtype)
    if not np.isfinite(B).all():
        raise ValueError("b contains NaN or Inf")
    return B, vector


def checked_start(
    x0: Any, shape: tuple[int, int], s: int, dtype: np.dtype
) -> np.ndarray | str | None:
    """x0 for A of ``shape`` and s right-hand sides: None, "Mb", or a new (n, s) array in
    Fortran order; ValueError for anything else, a wrong shape, NaN or Inf."""
    if x0 is None:
        return None
    if isinstance(x0, str):
        if x0 != "Mb":
            raise ValueError(f"x0 must be an array, None or 'Mb'; got {x0!r}")
        return x0
    n = shape[0]
    x = np.array(x0, dtype=dtype)
    if x.size != n * s or x.shape[0] != n or x.ndim > 2:
        raise ValueError(f"shapes of A {shape} and x0 {x.shape} are incompatible")
    X = np.array(x.reshape(n, s), dtype=dtype, order="F")
    if not np.isfinite(X).all():
        raise ValueError("x0 contains NaN or Inf")
    return X


def _start(
    mat: Matrix,
    handle: Any,
    B: np.ndarray,
    vector: bool,
    x0: Any,
    rtol: Any,
    atol: Any,
    maxiter: Any,
    deflation: Any,
    dtype: np.dtype,
) -> _System:
    """The tolerances, maxiter and start of a system whose A, M and B are prepared."""
    n, s = B.shape
    shape = mat.shape
    bnorm = _column_norms(B)
    tol, maxiter = _stopping_rule(bnorm, rtol, atol, maxiter, n)

    x = checked_start(x0, shape, s, dtype)
    if x is None:
        X = np.zeros((n, s), dtype=dtype, order="F")
    elif isinstance(x, str):
        X = np.asfortranarray(_apply_M(handle, B))
        if not np.isfinite(X).all():
            raise ValueError("x0 contains NaN or Inf")
    else:
        X = x
    X[:, bnorm == 0] = 0  # as SciPy: b = 0 has the solution 0, whatever x0 is
    scale = _rhs_scale(B)
    if scale is not None and X.any():
        # the recurrence works at the size of r0 = b - A x0, which a given x0 sets: b of
        # 1e-160 with x0 ~ 1 was scaled up with x0, and r.r overflowed (a breakdown)
        with np.errstate(over="ignore", invalid="ignore"):
            R0 = B - np.asarray(_core.apply(mat.op, X, False))
        if np.isfinite(R0).all():
            scale = _rhs_scale(R0)
    if scale is not None:  # solve A (X / c) = B / c column by column (in float64: exact)
        B = np.asfortranarray(B.astype(np.float64) / scale, dtype=dtype)
        X = np.asfortranarray(X.astype(np.float64) / scale, dtype=dtype)
        tol = scaled_tolerances(_column_norms(B), scale, rtol, atol)
    if deflation is not None:
        handle, X = _deflate(mat, handle, B, X, deflation, dtype)
    return _System(mat, handle, B, X, tol, maxiter, bool(X.any()), vector, scale)


def scaled_tolerances(
    scaled_norms: np.ndarray, scale: np.ndarray, rtol: Any, atol: Any
) -> list[float]:
    """The stopping rule's max(atol, rtol ||b_j||) of the system scaled by c_j, from the
    norms of the scaled columns b_j / c_j: ||b_j|| itself can overflow (entries of
    1.5e308: its tolerance was Inf, and CG reported x = 0 converged at once)."""
    atol_f = _check_atol(atol)
    rtol_f = float(scalar_of(rtol))
    return [max(atol_f / c, rtol_f * bn) for bn, c in zip(scaled_norms, scale, strict=True)]


def nonfinite_columns(out: dict[str, Any], finite: np.ndarray) -> dict[str, Any]:
    """``out`` with the columns whose iterate is not finite (``finite``: per column) stopped
    as "nonfinite": a solution beyond the float range (A ~ 1e-300 with b ~ 1e10, or A ~
    1e-300 with b ~ 1e300 once unscaled) is reported, not returned as Inf with info = 0."""
    if finite.all():
        return out
    stops = ["nonfinite" if not f else r for r, f in zip(out["stop"], finite, strict=True)]
    return dict(out, stop=stops)


def _unscale(sys_: _System, out: dict[str, Any]) -> dict[str, Any]:
    """Undo _rhs_scale on the iterates (in place: x_out is a view of X) and the history;
    columns whose iterate is not finite are reported (nonfinite_columns)."""
    if sys_.scale is not None:
        with np.errstate(over="ignore"):
            sys_.X[...] = sys_.X.astype(np.float64) * sys_.scale
            out = dict(out, history=np.asarray(out["history"]) * sys_.scale)
    return nonfinite_columns(out, np.isfinite(sys_.X).all(axis=0))


def _scaled_callback(
    sys_: _System, callback: Callable[[np.ndarray], Any] | None
) -> Callable[[np.ndarray], Any] | None:
    """The user's callback, shown the unscaled iterate."""
    if callback is None or sys_.scale is None:
        return callback
    factor = sys_.scale[0] if sys_.vector else sys_.scale
    return lambda xk: callback((xk * factor).astype(xk.dtype))


def _deflate(
    A: Matrix, handle: Any, B: np.ndarray, X: np.ndarray, deflation: Any, dtype: np.dtype
) -> tuple[Any, np.ndarray]:
    """Deflated CG (Saad, Yeung, Erhel & Guyomarc'h 2000): the native preconditioner
    z = (I - W E^-1 (AW)^T) M (I - AW E^-1 W^T) r with E = W^T A W factored once, and the
    start corrected to x0 + W E^-1 W^T (b - A x0) so that the residuals stay orthogonal to
    W (cpp/include/rankwise/algo/deflation.hpp)."""
    n = A.shape[0]
    require_cpu_input(deflation, "deflation")
    W = np.asarray(deflation)
    if W.ndim == 1:
        W = W.reshape(-1, 1)
    if W.ndim != 2 or W.shape[0] != n or not 1 <= W.shape[1] <= n:
        raise ValueError(
            f"deflation must be an (n, d) array with n = {n}, 1 <= d <= n; got {W.shape}"
        )
    if W.dtype.kind not in "biuf":
        raise TypeError(f"deflation must be a real array; got dtype {W.dtype}")
    W = np.asfortranarray(W, dtype=dtype)
    if not np.isfinite(W).all():
        raise ValueError("deflation contains NaN or Inf")
    AW = np.asarray(_core.apply(A.op, W, False))
    G, F = _deflation_factors(W, AW, dtype)
    R0 = B - np.asarray(_core.apply(A.op, X, False))
    X = np.asfortranarray(X + _product(G, _product(G, R0, True)), dtype=dtype)
    return _core.precond_deflated(handle, G, F), X


def _product(X: np.ndarray, Y: np.ndarray, transpose: bool = False) -> np.ndarray:
    """X @ Y (or X^T @ Y) for a tall X by the core's products (in X's dtype): numpy's
    multithreaded BLAS on tall-skinny products stalls when a core is busy elsewhere, and
    between native solves (rankwise/blas_threads.hpp)."""
    return np.asarray(_core.apply(_core.Operator.dense(np.asfortranarray(X)), Y, transpose))


def _deflation_factors(
    W: np.ndarray, AW: np.ndarray, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """G = W C^-1, F = A W C^-1 with C^T C = W^T A W (Cholesky), or ValueError.

    Only span(W) matters to the deflated method, so W's columns are scaled first: by a
    power of two to a largest entry near 1 (W^T A W of columns of 1e+-200 overflowed or
    underflowed), then by their A-norms, so that the rank test sees a Gram matrix with a
    unit diagonal (its pivots depended on the columns' lengths: [e_0, e_199] of
    diag(1e-14, ...) was refused, the same span rescaled accepted)."""
    big = np.abs(W).max(axis=0)
    power = np.ldexp(1.0, -np.frexp(np.where(big > 0, big, 1.0))[1]).astype(dtype)
    W, AW = W * power, AW * power
    E = _product(W, AW, True).astype(np.float64)
    diagonal = np.diag(E)
    if not (diagonal > 0).all():
        L = None
    else:
        unit = 1 / np.sqrt(diagonal)
        W, AW = W * unit.astype(dtype), AW * unit.astype(dtype)
        E = E * unit[:, None] * unit[None, :]
        try:
            L = np.linalg.cholesky((E + E.T) / 2)  # E = L L^T, C = L^T
        except np.linalg.LinAlgError:
            L = None
    d = np.diag(L) if L is not None else np.zeros(1)
    # An exactly dependent W leaves a last pivot of rounding size, about sqrt(c eps) d_max
    # with c a small constant (1.2e-8 to 1.6e-8 in float64 for two equal columns, depending
    # on the BLAS): 8 sqrt(eps) keeps it out with a margin, and accepts cond(E) < 1/(64 eps).
    if L is None or not d.min() > 8 * np.sqrt(np.finfo(dtype).eps) * d.max():
        raise ValueError(
            "deflation: W^T A W is not (numerically) positive definite; W must have full "
            "column rank and A be SPD"
        )
    # G = W L^-T, F = A W L^-T (L is d x d: its inverse is cheap and accurate enough)
    Linv_T = sla.solve_triangular(L, np.eye(L.shape[0]), lower=True).T
    return _product(W, Linv_T), _product(AW, Linv_T)


def _run(sys_: _System, callback: Callable[[np.ndarray], Any] | None) -> CGResult:
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable; got {type(callback).__name__}")
    X = sys_.X
    x_out = X[:, 0] if sys_.vector else X
    callback = _scaled_callback(sys_, callback)
    out = _core.cg(
        sys_.A.op,
        sys_.M,
        sys_.B,
        X,
        sys_.atol,
        sys_.maxiter,
        sys_.x0_nonzero,
        callback,
        x_out if callback is not None else None,
    )
    return _result(_unscale(sys_, out), x_out, sys_.vector, sys_.maxiter)


def _asymmetry(A: Any) -> float:
    """||A - A^T||_F / ||A||_F of a dense or sparse square A, NumPy / SciPy or CuPy, or
    nested sequences as cg reads them (0 for an operator, whose symmetry would cost
    products to probe)."""
    if _gpu.is_device_array(A):
        return _gpu.asymmetry(A)
    if isinstance(A, list | tuple):
        A = np.asarray(A)
    return asymmetry(A)


def warn_if_not_symmetric(A: Any, res: CGResult, stacklevel: int = 3) -> None:
    """After CG ran out of iterations: a warning naming the likely cause when A is
    explicitly non-symmetric (CG's short recurrences assume A = A^T; its recursive residual
    stays b - A x, so a reported convergence is still right)."""
    if res.info <= 0:
        return
    asym = _asymmetry(A)
    if asym > np.sqrt(np.finfo(res.x.dtype).eps):
        warnings.warn(
            f"CG did not converge in {res.info} iterations and A is not symmetric "
            f"(||A - A^T||_F / ||A||_F = {asym:.2g}): CG needs a symmetric positive definite "
            "A; for a non-symmetric one use e.g. scipy.sparse.linalg.gmres or bicgstab",
            RuntimeWarning,
            stacklevel=stacklevel,
        )


def _result(out: dict[str, Any], x_out: Any, vector: bool, maxiter: int) -> CGResult:
    """CGResult from what the native solver returned (either backend)."""
    reasons = tuple(out["stop"])
    bad = [r for r in reasons if r != "converged"]
    # A breakdown in any column outranks a column that merely ran out of iterations.
    broken = [r for r in bad if r in _BREAKDOWN_TEXT]
    reason = (broken or bad or ["converged"])[0]
    history = out["history"]
    if vector:
        history = history[:, 0]
    if not bad:
        info = 0
    elif broken:
        info = -1
    else:
        info = maxiter
    col_iters = np.asarray(out["iterations"])
    return CGResult(
        x=x_out,
        converged=not bad,
        reason=reason,
        iterations=int(col_iters.max(initial=0)),
        residual_norms=history,
        column_iterations=col_iters,
        column_reasons=reasons,
        info=info,
    )


def solve_cg(
    A: Any,
    b: Any,
    x0: Any = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: SupportsIndex | None = None,
    M: Any = None,
    callback: Callable[[np.ndarray], Any] | None = None,
    deflation: Any = None,
) -> CGResult:
    """Preconditioned conjugate gradient with a result object (history, reason, counts).

    The same solver as :func:`rankwise.cg` (see there for the arguments), but breakdowns
    are reported in the result rather than raised, and ``b`` may be a block.

    Parameters
    ----------
    A : ndarray, sparse matrix (CSR/CSC native), or LinearOperator, shape (n, n)
        Symmetric positive definite.  CuPy input solves on the GPU (see :func:`cg`).
    b : ndarray, shape (n,) or (n, s)
        One right-hand side, or s of them solved together (batched CG: every column runs
        its own recurrence, as a separate solve would up to rounding (the block product
        may round differently from the one-vector one), and they share each product with
        A).
    x0 : ndarray shaped like b, "Mb" or None
    rtol, atol : float
        Column j stops when ``||r_j|| < max(rtol ||b_j||, atol)``, or when its residual is
        exactly 0 or so small that ``r.r`` underflows (below about 1.5e-154 in float64;
        converged; with ``rtol = atol = 0`` the only way to converge).
    maxiter : int, optional
        Default 10 n.
    M : Preconditioner, "jacobi", ndarray, sparse matrix, LinearOperator or callable
        ``rankwise.precond`` objects run natively; matrices are multiplied natively;
        LinearOperators and callables are called from the native loop (with the GIL).
    callback : callable, optional
        ``callback(xk)`` after each iteration: xk of shape (n,) for one right-hand side
        (also for b of shape (n, 1), as SciPy), (n, s) for a block.
    deflation : ndarray, shape (n, d), optional
        A subspace W to deflate (deflated CG of Saad, Yeung, Erhel & Guyomarc'h 2000):
        W^T A W is factored once, x0 is corrected so that W^T r0 = 0, and each
        preconditioned residual is A-orthogonalized against W (two products with n x d
        matrices per iteration).  Columns spanning eigenvectors of the smallest eigenvalues
        of (M) A remove them from the convergence rate.

    Returns
    -------
    CGResult
        Not converged after ``maxiter`` iterations with an explicit non-symmetric A: also a
        RuntimeWarning naming the cause (as :func:`cg`).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import rankwise
    >>> n = 100
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    >>> res = rankwise.solve_cg(A, np.ones(n), rtol=1e-10, M="jacobi")
    >>> res.converged, res.reason, res.iterations
    (True, 'converged', 50)
    >>> bool(np.linalg.norm(A @ res.x - 1) <= 1e-10 * np.sqrt(n))
    True
    """
    if _gpu.is_device_array(A) or _gpu.is_device_array(b):
        from ._cg_gpu import solve_cg_gpu

        res = solve_cg_gpu(A, b, x0, rtol, atol, maxiter, M, callback, deflation)
    else:
        res = _empty_system(A, b, x0, rtol, atol, maxiter, M) or _run(
            _prepare(A, b, x0, rtol, atol, maxiter, M, deflation), callback
        )
    warn_if_not_symmetric(A, res)
    b_shape = np.shape(b)
    if len(b_shape) == 2 and b_shape[1] == 1:
        res = _replace_x(res, res.x.reshape(-1, 1))
    return res


def _empty_system(
    A: Any, b: Any, x0: Any, rtol: Any, atol: Any, maxiter: Any, M: Any
) -> CGResult | None:
    """The solution of a 0 x 0 system (empty, converged, as SciPy's cg returns it; the
    arguments checked as for any other), or None when A is not empty."""
    if tuple(getattr(A, "shape", np.shape(A))) != (0, 0):
        return None
    b = _check_rhs(b, (0, 0))
    s = 1 if b.ndim == 1 else b.shape[1]
    _stopping_rule(np.zeros(s), rtol, atol, maxiter, 0)
    dtype = _work_dtype(getattr(A, "dtype", None), b.dtype)
    checked_start(x0, (0, 0), s, dtype)
    if isinstance(M, str):
        _named_preconditioner(M)
    elif M is not None and tuple(getattr(M, "shape", (0, 0))) != (0, 0):
        raise ValueError("matrix and preconditioner have different shapes")
    x = np.zeros((0,) if s == 1 else (0, s), dtype)
    history = np.zeros(1) if b.ndim == 1 else np.zeros((1, s))
    return CGResult(x, True, "converged", 0, history, np.zeros(s, int), ("converged",) * s, 0)


def _replace_x(res: CGResult, x: np.ndarray) -> CGResult:
    return CGResult(
        x,
        res.converged,
        res.reason,
        res.iterations,
        res.residual_norms,
        res.column_iterations,
        res.column_reasons,
        res.info,
    )


@overload
def cg(
    A: HostMatrix,
    b: Any,
    x0: Any = ...,
    *,
    rtol: float = ...,
    atol: float = ...,
    maxiter: SupportsIndex | None = ...,
    M: Any = ...,
    callback: Callable[[np.ndarray], Any] | None = ...,
) -> tuple[np.ndarray, int]: ...


@overload
def cg(
    A: Any,
    b: Any,
    x0: Any = ...,
    *,
    rtol: float = ...,
    atol: float = ...,
    maxiter: SupportsIndex | None = ...,
    M: Any = ...,
    callback: Callable[[np.ndarray], Any] | None = ...,
) -> tuple[Any, int]: ...


def cg(
    A: Any,
    b: Any,
    x0: Any = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: SupportsIndex | None = None,
    M: Any = None,
    callback: Callable[[np.ndarray], Any] | None = None,
) -> tuple[Any, int]:
    """Solve ``A x = b`` by conjugate gradient, with SciPy's ``cg`` signature and returns.

    The iteration is SciPy's, step for step (same iterates and counts up to rounding), run
    by the native core: fused, multithreaded vector updates, native CSR/CSC and dense
    products, native preconditioners (:mod:`rankwise.precond`).  A user's LinearOperator or
    callable ``M`` is called from the native loop (the slower Python path).  A CSR matrix
    whose entries lie on a few diagonals (a stencil on a structured grid) and that fits in
    the cache is multiplied from a diagonal-storage copy made at the start, which rounds as
    the CSR product does (the same iterates for one right-hand side; a block's may differ
    in rounding) and takes about a third less time per
    iteration; a dense A equal to its transpose, from its upper triangle (half the bytes
    an iteration streams).

    Parameters
    ----------
    A : ndarray, sparse matrix, or LinearOperator, shape (n, n)
        Symmetric positive definite.  float32 A and b compute in float32, anything else
        real in float64; complex input is passed to ``scipy.sparse.linalg.cg``.  CSR/CSC
        without duplicate indices, sorted or not, is read in place (only its values are
        converted where the dtype changes); other formats (COO, ...) and CSR/CSC with
        duplicate indices are multiplied through one canonical CSR copy (SciPy's cg
        multiplies them as given).
        CuPy A and
        b (dense, ``cupyx.scipy.sparse`` CSR/CSC, or a cupyx LinearOperator, matrix-free)
        solve on the GPU, with ``M`` None, "jacobi", a CuPy or cupyx sparse matrix, a cupyx
        LinearOperator or a function of a CuPy vector, and x comes back as a CuPy array.
    b : ndarray, shape (n,), (n, 1) or (n, s)
        Right-hand side(s); a block of s columns is solved by batched CG (see
        :func:`solve_cg`) and returns x of shape (n, s).
    x0 : ndarray, "Mb" or None
        Starting guess (not modified); "Mb" starts from ``M @ b``; None from 0.
    rtol, atol : float
        Stop when ``norm(b - A @ x) < max(rtol * norm(b), atol)`` (the recursively updated
        residual, as SciPy), or when that residual is exactly 0 or so small that its
        squared norm underflows (below about 1.5e-154 in float64, 1e-38 in float32;
        converged, ``info = 0``; with ``rtol = atol = 0`` the only way to converge, where
        SciPy runs to maxiter).
    maxiter : int, optional
        Maximum iterations, default ``10 * n``.
    M : Preconditioner, "jacobi", ndarray, sparse matrix, LinearOperator or callable
        Approximate inverse of A, SPD.  If None and ``A`` has a ``psolve`` method, that is
        used (SciPy's convention).
    callback : callable, optional
        ``callback(xk)`` after each iteration, with the current iterate.

    Returns
    -------
    x : ndarray
        The solution (float32 for float32 A and b).
    info : int
        0: converged; > 0: not converged after ``info = maxiter`` iterations (as SciPy: also
        when the tolerance was met by the last allowed iteration, whose residual SciPy does
        not test; :func:`solve_cg` reports that solve as converged).

    Warns
    -----
    RuntimeWarning
        When CG runs out of iterations and an explicit (dense or sparse, CPU or GPU) A is not
        symmetric (``||A - A^T||_F > sqrt(eps) ||A||_F``): the likely cause, named.

    Raises
    ------
    CGBreakdownError
        If A or M is found not to be positive definite (a direction p with p^T A p <= 0),
        or NaN/Inf appear mid-iteration (SciPy's cg goes on: NaNs, a wrong answer, or on a
        symmetric indefinite A sometimes a solution, which CG does not guarantee there;
        MINRES is the method for those).  ``exc.result`` has the details.
    ValueError
        On shape mismatches, NaN/Inf in A, b or x0, an invalid ``atol``, and a negative
        ``rtol`` or ``maxiter`` (SciPy runs those to no purpose: to maxiter without a
        test that can pass, or not at all).  Where SciPy raises TypeError (A not a matrix,
        an unknown M string, a non-integer maxiter) the error is both a ValueError and a
        TypeError.
    KeyboardInterrupt
        Ctrl-C is honoured during long solves.

    See Also
    --------
    scipy.sparse.linalg.cg : the original.
    solve_cg : the same solver with a result object (history, reason, counts).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csc_array
    >>> import rankwise
    >>> P = np.array([[4, 0, 1, 0],
    ...               [0, 5, 0, 0],
    ...               [1, 0, 3, 2],
    ...               [0, 0, 2, 4]])
    >>> A = csc_array(P)
    >>> b = np.array([-1, -0.5, -1, 2])
    >>> x, exit_code = rankwise.cg(A, b, atol=1e-5)
    >>> print(exit_code)
    0
    >>> bool(np.allclose(A.dot(x), b))
    True
    """
    if _is_complex(A) or _is_complex(b) or _is_complex(M):
        if isinstance(M, str):
            raise TypeError(
                f"M={M!r} is a rankwise preconditioner for real systems; complex ones go to "
                "scipy.sparse.linalg.cg: pass M as a matrix or LinearOperator"
            )
        return spla.cg(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M, callback=callback)
    if _gpu.is_device_array(A) or _gpu.is_device_array(b):
        from ._cg_gpu import solve_cg_gpu

        res = solve_cg_gpu(A, b, x0, rtol, atol, maxiter, M, callback, None)
    else:
        res = _empty_system(A, b, x0, rtol, atol, maxiter, M) or _run(
            _prepare(A, b, x0, rtol, atol, maxiter, M), callback
        )
    warn_if_not_symmetric(A, res)
    if res.info < 0:
        raise CGBreakdownError(
            f"CG broke down after {res.iterations} iterations: {_BREAKDOWN_TEXT[res.reason]}",
            res,
        )
    limit = 10 * np.shape(b)[0] if maxiter is None else int(maxiter)
    if res.info == 0 and limit > 0 and int(res.column_iterations.max(initial=0)) == limit:
        # SciPy tests the residual at the top of an iteration only: a solve that met the
        # tolerance in its last allowed iteration reports info = maxiter there
        return res.x, limit
    return res.x, res.info
