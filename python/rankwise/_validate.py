"""Input validation shared by every entry point: one place that turns what a user passes
into an operator the native core can use, or raises an exception naming the argument."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from . import _core
from ._dispatch import native_index_arrays, require_cpu_input
from ._errors import InvalidParameterError, MissingAdjointError

_FINITE_CHECK_BLOCK = 1 << 17  # entries per step of the NaN/Inf + max scan: its min and max
# reductions read a block twice, the second time from cache (1 MB of float64; 4000 x 2000:
# 1.25x the time of the np.isfinite(...).all() scan before, 1.9x with blocks of 2^22)


@dataclass(frozen=True)
class Matrix:
    """A validated matrix: the core operator plus what Python code needs to know of it."""

    op: Any  # rankwise._core.Operator
    shape: tuple[int, int]
    dtype: np.dtype
    kind: str  # "dense", "sparse" or "operator"
    amax: float = math.nan  # max |a_ij| of the stored entries (NaN: not scanned, or an operator)

    @property
    def min_dim(self) -> int:
        return min(self.shape)


def work_dtype(dtype: np.dtype, name: str) -> np.dtype:
    """float32/float64 stay as they are (in native byte order); bools, integers and float16
    compute in float64 (as SciPy's svds and scikit-learn's randomized_svd do)."""
    dtype = np.dtype(dtype)
    if not dtype.isnative:  # byte-swapped (e.g. '>f8' read from a file): work natively
        dtype = dtype.newbyteorder("=")
    if dtype in (np.float32, np.float64):
        return dtype
    if dtype.kind in "biu" or dtype == np.float16:
        return np.dtype(np.float64)
    if dtype.kind == "c":
        raise TypeError(
            f"{name} is complex ({dtype}); this rankwise function supports real float32 "
            "and float64 input only"
        )
    if dtype.kind == "f":  # long double (SciPy's svds: ValueError; rankwise said TypeError)
        raise InvalidParameterError(f"{name} has dtype {dtype}; convert it to float32 or float64")
    raise TypeError(f"{name} must have a numeric dtype; got {dtype}")


def _finite_max(x: np.ndarray, name: str) -> float:
    """max |x| of a non-empty array, or ValueError if x has NaN or Inf: the max and min
    propagate NaN and Inf, so the two reductions are the finiteness check too, without the
    temporary mask of np.isfinite."""
    hi, lo = x.max(), x.min()
    if not (np.isfinite(hi) and np.isfinite(lo)):
        raise ValueError(f"{name} contains NaN or Inf")
    return max(float(hi), -float(lo))


def _check_finite_dense(a: np.ndarray, name: str) -> float:
    """ValueError if a has NaN or Inf; else max |a_ij| (scanned in blocks along memory)."""
    if a.flags.f_contiguous and not a.flags.c_contiguous:
        a = a.T  # walk a Fortran array by its columns: contiguous blocks
    rows_per_step = max(1, _FINITE_CHECK_BLOCK // max(a.shape[1], 1))
    return max(
        _finite_max(a[i : i + rows_per_step], name) for i in range(0, a.shape[0], rows_per_step)
    )


BLAS_INT_MAX = 2**31 - 1
"""SciPy's BLAS takes 32-bit leading dimensions: a view whose stride exceeds that is copied."""


def _blas_viewable(a: np.ndarray) -> bool:
    """True when one BLAS leading dimension describes the array (no copy needed)."""
    item = a.itemsize
    m, n = a.shape
    s0, s1 = a.strides
    if s0 <= 0 or s1 <= 0:
        return False
    col_major = s0 == item and s1 % item == 0 and max(m, 1) <= s1 // item <= BLAS_INT_MAX
    row_major = s1 == item and s0 % item == 0 and max(n, 1) <= s0 // item <= BLAS_INT_MAX
    return col_major or row_major


def _check_shape(shape: tuple[int, ...], name: str) -> tuple[int, int]:
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D; got an array of shape {tuple(shape)}")
    m, n = int(shape[0]), int(shape[1])
    if m == 0 or n == 0:
        raise ValueError(f"{name} must not be empty; got shape {(m, n)}")
    return m, n


def _dense(A: Any, name: str, check_finite: bool = True) -> Matrix:
    a = np.asarray(A)
    shape = _check_shape(a.shape, name)
    dtype = work_dtype(a.dtype, name)
    if a.dtype != dtype:
        a = a.astype(dtype)
    elif not _blas_viewable(a):
        # No unit stride, or a stride beyond 32 bits: one copy so that BLAS can read it
        # (np.asfortranarray would keep the strides of arrays numpy calls contiguous, such as
        # 1 x 1 views).
        a = np.array(a, order="F", copy=True)
    amax = _check_finite_dense(a, name) if check_finite else math.nan
    return Matrix(_core.Operator.dense(a), shape, dtype, "dense", amax)


def with_values_as(A: Any, dtype: np.dtype) -> Any:
    """The sparse A with its values in `dtype`: for CSR/CSC, its index arrays shared rather
    than copied (SciPy's astype copies them as well: 88 of 175 MB for a float32 system with
    a float64 right-hand side)."""
    if A.format in ("csr", "csc") and hasattr(A, "_with_data"):
        return A._with_data(A.data.astype(dtype), copy=False)
    return A.astype(dtype)


# A CSR whose columns outnumber its rows this many times (or a CSC whose rows outnumber its
# columns) is re-stored the other way round before its products: see _short_side_indexed.
_RESTORE_ASPECT = 4
# ... where the copy (values and indices) takes at most the memory of this many vectors of
# the long side.
_RESTORE_MAX_VALUES = 32


def _short_side_indexed(A: Any, dtype: np.dtype) -> Any:
    """A (canonical CSR or CSC) stored so that its column indices (CSR) or row indices (CSC)
    run over its shorter side: copied to the other format where they run over a side at least
    _RESTORE_ASPECT times the other, with at least one nonzero per line of the long side, and
    the copy costs no more than _RESTORE_MAX_VALUES long vectors.

    Both products of a block of l vectors, A X and A^T Y, read or add l-vectors at those
    indices, out of order: over the short side these rows stay in cache, over the long side
    nearly every nonzero misses it.  rankwise.svd on a 20000 x 400000 CSR with 4e6 nonzeros
    took 3.55 s as CSR and 1.29 s as CSC, the conversion 0.05 s; svds 7.2 s and 4.0 s
    (2026-11-28, bench/RESULTS.md "Session 36").
    """
    rows, cols = A.shape if A.format == "csr" else A.shape[::-1]
    long_side = max(rows, cols)
    copy_bytes = A.nnz * (dtype.itemsize + A.indices.dtype.itemsize)
    if (
        cols < _RESTORE_ASPECT * rows
        or A.nnz < long_side  # (the products' time goes to the dense blocks)
        or copy_bytes > _RESTORE_MAX_VALUES * long_side * dtype.itemsize
    ):
        return A
    return A.tocsc() if A.format == "csr" else A.tocsr()


def _has_duplicates(A: Any) -> bool:
    """Whether the CSR or CSC A (not canonical) stores an entry twice; True where its index
    arrays are not ones the native scan reads, or where the scan's stamps (8 bytes per
    column of a CSR) would take more memory than the canonical copy the caller then makes."""
    indptr, indices = A.indptr, A.indices
    minor = A.shape[1] if A.format == "csr" else A.shape[0]
    readable = (
        native_index_arrays(indptr, indices)
        and indices.size == A.nnz
        and 8 * minor <= A.nnz * (A.data.itemsize + indices.itemsize)
    )
    if not readable:
        return True
    return bool(_core.csr_has_duplicates(indptr, indices, minor))


def _sparse(A: Any, name: str, check_finite: bool = True) -> Matrix:
    shape = _check_shape(A.shape, name)
    dtype = work_dtype(A.dtype, name)
    if A.format not in ("csr", "csc"):
        A = A.tocsr()
    if not A.has_canonical_format and _has_duplicates(A):
        # Products sum duplicate entries, but ||A||_F and max |a_ij| from the stored values
        # do not (+1e8 and -1e8 at one position made svds' rounding level 1e7 times too
        # loose): a canonical copy, duplicates summed, indices sorted (NaN or Inf stored
        # named as such first).  Unsorted indices alone need no copy: the products take the
        # entries of a row in any order (SciPy's own products do, in the order stored).
        if check_finite and A.data.size:
            _finite_max(A.data, name)
        A = A.astype(dtype)  # a copy, summed in the work dtype (int8 100 + 100 wrapped to 56)
        with np.errstate(over="ignore"):
            A.sum_duplicates()
        if not np.isfinite(A.data).all():
            raise ValueError(
                f"{name} has duplicate entries whose sum exceeds the {A.dtype.name} maximum: "
                "the matrix they define is not representable"
            )
    A = _short_side_indexed(A, dtype)
    data = A.data if A.data.dtype == dtype else A.data.astype(dtype)
    amax = math.nan
    if check_finite:
        amax = _finite_max(data, name) if data.size else 0.0
    index_dtype = np.promote_types(A.indices.dtype, A.indptr.dtype)
    if index_dtype not in (np.int32, np.int64):
        index_dtype = np.dtype(np.int64)
    indices = np.ascontiguousarray(A.indices, dtype=index_dtype)
    indptr = np.ascontiguousarray(A.indptr, dtype=index_dtype)
    data = np.ascontiguousarray(data)
    if A.format == "csr":
        op = _core.Operator.sparse(data, indices, indptr, shape[0], shape[1], transposed=False)
    else:  # CSC of A is CSR of A^T
        op = _core.Operator.sparse(data, indices, indptr, shape[1], shape[0], transposed=True)
    return Matrix(op, shape, dtype, "sparse", amax)


def _has_own_block_product(op: LinearOperator, product: str = "matmat") -> bool:
    """Whether op forms its `product` ("matmat" or "rmatmat") of a block itself (given, or
    _matmat / _rmatmat overridden) rather than by LinearOperator's default, its matvec
    (rmatvec) on each column."""
    impl = getattr(op, f"_CustomLinearOperator__{product}_impl", False)
    if impl is not False:  # aslinearoperator / LinearOperator(matvec=..., matmat=...)
        return impl is not None
    args = getattr(op, "args", None)
    if type(op).__module__.startswith("scipy.sparse.linalg") and isinstance(args, tuple):
        # SciPy's sums, products, scalings and powers of operators pass a block on to their
        # operands' products
        return all(
            _has_own_block_product(a, product) for a in args if isinstance(a, LinearOperator)
        )
    return getattr(type(op), f"_{product}") is not getattr(LinearOperator, f"_{product}")


def columnwise(product: Any, X: np.ndarray, rows: int) -> np.ndarray:
    """``product`` (a matvec or rmatvec) of each column of X, called with 1-D vectors as
    SciPy's solvers call it (LinearOperator's default matmat hands it (n, 1) columns, which
    a function written for 1-D vectors, np.convolve say, does not take); ``rows``: the
    length of a product, for an X without columns."""
    columns = [np.asarray(product(X[:, j])).reshape(-1) for j in range(X.shape[1])]
    return np.column_stack(columns) if columns else np.empty((rows, 0), dtype=X.dtype)


def _has_adjoint(lo: Any) -> bool:
    """False for a LinearOperator built from a matvec alone (SciPy's _CustomLinearOperator
    keeps None for the missing products and fails with "'NoneType' object is not callable")."""
    if type(lo).__name__ != "_CustomLinearOperator":
        return True  # a subclass: its own error, if any, is the clearest
    impls = ("_CustomLinearOperator__rmatvec_impl", "_CustomLinearOperator__rmatmat_impl")
    return any(getattr(lo, attr, True) is not None for attr in impls)


def _lacks_product(lo: Any, what: str) -> bool:
    """Whether lo's `what` ("matmat" or "rmatmat") fails for want of the adjoint of a
    matvec-only operator: its own rmatmat, or the matmat of its transpose (A.T, which
    randomized_svd and svds take of a wide A; also of a transpose, (B.T).T)."""
    if type(lo).__name__ in ("_TransposedLinearOperator", "_AdjointLinearOperator"):
        return _lacks_product(lo.A, "rmatmat" if what == "matmat" else "matmat")
    return what == "rmatmat" and not _has_adjoint(lo)


def checked_product(
    lo: LinearOperator, what: str, name: str, finite_products: bool = True
) -> Callable[[np.ndarray], np.ndarray]:
    """The operator's ``what`` ("matmat" or "rmatmat") as a function whose result is checked:
    MissingAdjointError where the operator has no transpose products, TypeError for complex
    values, ValueError for NaN or Inf in what it is given or returns (where
    ``finite_products``), each naming ``name``; a sparse result is taken as its array."""
    product = getattr(lo, what)

    def call(x: np.ndarray) -> np.ndarray:
        if finite_products and not np.isfinite(x).all():
            # (the iteration's own vectors: not the operator's fault)
            raise ValueError(
                f"the vectors multiplied by {name} became NaN or Inf: its products are "
                "probably too close to the ends of the float range for the iteration "
                f"(entries of {name} x below 1e-300 or above 1e150 in float64); scale {name}"
            )
        try:
            y = product(x)
            y = y.toarray() if sp.issparse(y) else np.asarray(y)
        except (NotImplementedError, TypeError) as exc:
            if _lacks_product(lo, what):
                raise MissingAdjointError(
                    f"{name} is a LinearOperator without rmatvec or rmatmat (or the "
                    "transpose of one without matvec), and this function needs products "
                    "with both it and its transpose: define rmatvec (or rmatmat)"
                ) from exc
            raise
        if y.dtype.kind == "c":
            raise TypeError(f"{name}.{what} returned complex values")
        if finite_products and not np.isfinite(y).all():
            raise ValueError(f"{name}.{what} returned NaN or Inf")
        return y

    return call


def _linear_operator(A: Any, name: str, finite_products: bool = True) -> Matrix:
    lo = aslinearoperator(A)
    shape = _check_shape(lo.shape, name)
    dtype = work_dtype(lo.dtype if lo.dtype is not None else np.float64, name)
    matmat = checked_product(lo, "matmat", name, finite_products)
    rmatmat = checked_product(lo, "rmatmat", name, finite_products)
    op = _core.Operator.callback(shape[0], shape[1], dtype.name, matmat, rmatmat)
    return Matrix(op, shape, dtype, "operator")


def as_matrix_of(A: Any, transpose: bool, name: str = "A") -> Matrix:
    """as_matrix of A.T (no copy) where `transpose`, else of A; a bad A's error describes A
    as the caller passed it (not its transpose's shape, or a CSR as a "csc" matrix)."""
    if not transpose:
        return as_matrix(A, name)
    try:
        return as_matrix(A.T, name)
    except (ValueError, TypeError):
        as_matrix(A, name)  # raises the same complaint about A itself
        raise


def as_matrix(
    A: Any, name: str = "A", *, check_finite: bool = True, finite_products: bool = True
) -> Matrix:
    """Validate `A` (dense array, scipy.sparse matrix/array, or LinearOperator).
    ``check_finite=False`` skips the O(size) NaN/Inf scan, for data already scanned (a dask
    block read again in a later pass).  ``finite_products=False`` lets a LinearOperator's
    products through with NaN or Inf in them (else a ValueError), for an algorithm that
    reports them itself (CG's "nonfinite" stop)."""
    require_cpu_input(A, name)
    if sp.issparse(A):
        return _sparse(A, name, check_finite)
    if isinstance(A, LinearOperator):
        return _linear_operator(A, name, finite_products)
    if isinstance(A, np.ndarray) or not (hasattr(A, "shape") and hasattr(A, "matvec")):
        return _dense(A, name, check_finite)
    return _linear_operator(A, name, finite_products)


def asymmetry(A: Any) -> float:
    """||A - A^T||_F / ||A||_F of a dense or sparse square A in memory (0 for anything else,
    an operator, whose symmetry would cost products to probe).  Measured on a float64 copy
    scaled by a power of two to a largest entry near 1, so that the squares neither overflow
    nor underflow (A * 1e200 read as symmetric, with NumPy's overflow warnings; A * 1e-200
    as zero).  SciPy's norms sum duplicates in place, and A is the caller's."""
    if sp.issparse(A):
        S = sp.csr_array(A, dtype=np.float64, copy=True)
        S.data = np.ldexp(S.data, -largest_exponent(S.data))
        num, den = spla.norm(S - S.T), spla.norm(S)
    elif isinstance(A, np.ndarray):
        a = np.asarray(A, dtype=np.float64)
        a = np.ldexp(a, -largest_exponent(a))
        num, den = np.linalg.norm(a - a.T), np.linalg.norm(a)
    else:
        return 0.0
    return float(num / den) if den > 0 else 0.0


def largest_exponent(values: Any) -> int:
    """The binary exponent of max |value| of a NumPy or CuPy array (0 for none, zeros, NaN
    or Inf)."""
    big = float(abs(values).max()) if values.size else 0.0
    return math.frexp(big)[1] if 0.0 < big < math.inf else 0


def scalar_of(value: Any) -> Any:
    """A 0-d array as its Python scalar, anything else as it is (SciPy takes np.array(1e-5)
    for rtol, np.array(1e-6) for eps, and scikit-learn np.array(5) for n_components)."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def check_int(value: Any, name: str, *, low: int, high: int | None = None) -> int:
    """An integer in [low, high] (high inclusive), or TypeError / ValueError naming it; a
    0-d integer array is its number (it has __index__, and scikit-learn takes it)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        value = scalar_of(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        bound = f"{low} <= {name}" + (f" <= {high}" if high is not None else "")
        raise ValueError(f"{name} must satisfy {bound}; got {v}")
    return v


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_n_iter(n_iter: Any, name: str = "n_iter") -> int | None:
    """None for "auto", else a non-negative int (below 2^30: the core counts passes in C ints)."""
    if isinstance(n_iter, str) and n_iter == "auto":
        return None
    if (
        isinstance(n_iter, bool)
        or not isinstance(n_iter, numbers.Integral)
        or not 0 <= n_iter < 2**30
    ):
        raise ValueError(f"{name} must be 'auto' or an integer in [0, 2**30); got {n_iter!r}")
    return int(n_iter)
