"""Interpolative decompositions with the signatures of :mod:`scipy.linalg.interpolative`.

An interpolative decomposition (ID; Cheng, Gimbutas, Martinsson & Rokhlin 2005) of an
m x n matrix A keeps k of its columns, ``B = A[:, idx[:k]]``, and expresses the others
through them: ``A[:, idx[k:]] ~ B @ proj``.  The columns are the pivots of a column-pivoted
QR (LAPACK geqp3) either of A itself (``rand=False``) or of a small matrix with the same
column dependencies up to a randomized approximation (``rand=True``, and always for a
LinearOperator; Martinsson, Rokhlin & Tygert 2011; Halko, Martinsson & Tropp 2011,
Section 5.2): at fixed precision a Gaussian sketch ``Omega @ A`` with a few more rows than
the rank, at fixed rank k the projection ``Q^H A`` of A on an orthonormal basis Q of
``A @ Omega`` with 2k columns.  These are GEMMs at BLAS speed, which is where the speed over
SciPy's (single-threaded) implementation comes from.

Functions, arguments and return conventions are SciPy's (1.15+, with ``rng=``): float64
and complex128 input (other dtypes raise ValueError, as in SciPy), numpy arrays or
LinearOperators, ``eps_or_k < 1`` a relative precision and ``>= 1`` a rank; ``idx`` is
0-based.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Any, SupportsIndex

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from . import _core
from ._dispatch import check_compressed, refuse_device_or_dask
from ._errors import MissingAdjointError
from ._validate import (
    _has_adjoint,
    _has_own_block_product,
    as_matrix,
    check_int,
    columnwise,
    scalar_of,
)

__all__ = [
    "estimate_rank",
    "estimate_spectral_norm",
    "estimate_spectral_norm_diff",
    "id_to_svd",
    "interp_decomp",
    "reconstruct_interp_matrix",
    "reconstruct_matrix_from_id",
    "reconstruct_skel_matrix",
    "svd",
]

_OVERSAMPLE = 10
"""Spare sketch rows beyond the rank found (fixed precision); at fixed rank k the range basis
has k + max(10, k) columns (on slow decay, sigma_j = 1/j, k = 80: 2.09x the optimal error
with k + 10, 1.55x with 2k; on fast decay both equal pivoted QR of A)."""
_FIRST_BLOCK = 32
"""Sketch rows of the first step in fixed-precision mode (see :func:`_next_rows`)."""
_MARGIN = 16
"""Rows added to the predicted rank + _OVERSAMPLE when the sketch grows (fixed precision).
The rank needs only _OVERSAMPLE spare rows, but the coefficients are more accurate with
more (4000 x 4000, sigma_j = exp(-j/5), eps = 1e-8, rank 91-94: ||A - B P||_F is ~1.9e-7
with 9-13 spare rows, ~1.1e-7 with 16-20, ~8e-8 with 23-27; SciPy's is ~1.4e-7)."""


def _dtype_of(A: Any) -> np.dtype:
    """float64 or complex128, else the errors SciPy raises."""
    try:
        dtype = np.dtype(A.dtype)
    except AttributeError as exc:
        raise TypeError("invalid input type (must be array or LinearOperator)") from exc
    if dtype not in (np.float64, np.complex128):
        raise ValueError("invalid input dtype (input must be float64 or complex128)")
    return dtype


def _as_input(A: Any) -> tuple[Any, np.dtype, bool]:
    """(A, dtype, is_operator); never copied or modified.  NaN/Inf are detected on what the
    algorithm reads: the sketch (see :func:`_sketch`) or A itself (:func:`_checked`)."""
    refuse_device_or_dask(A)  # CuPy and dask: the clear error (neither is taken here yet)
    dtype = _dtype_of(A)
    if isinstance(A, np.ndarray):
        if A.ndim != 2:
            raise ValueError(f"A must be 2-D; got shape {A.shape}")
        # (np.matrix: its reductions keep two dimensions, which the scaling code does not
        # expect; found by review)
        return np.asarray(A), dtype, False
    if isinstance(A, LinearOperator):
        return _VectorwiseOperator(A, dtype), dtype, True
    raise TypeError("invalid input type (must be array or LinearOperator)")


class _VectorwiseOperator(LinearOperator):
    """A user's LinearOperator whose blocks are formed as SciPy's interpolative forms them:
    by its own matmat / rmatmat where it has them, else one 1-D vector at a time (SciPy's
    default matmat hands matvec (n, 1) columns, which a matvec written for 1-D vectors,
    np.convolve say, does not take; found by review)."""

    def __init__(self, op: LinearOperator, dtype: np.dtype) -> None:
        super().__init__(dtype=dtype, shape=op.shape)  # (a dtype: no probing product)
        self.op = op

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.op.matvec(x))

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        _require_adjoint(self.op)
        return np.asarray(self.op.rmatvec(x))

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        if _has_own_block_product(self.op):
            return np.asarray(self.op.matmat(X))
        return columnwise(self.op.matvec, X, self.shape[0])

    def _rmatmat(self, X: np.ndarray) -> np.ndarray:
        _require_adjoint(self.op)
        if _has_own_block_product(self.op, "rmatmat"):
            return np.asarray(self.op.rmatmat(X))
        return columnwise(self.op.rmatvec, X, self.shape[1])


def _require_adjoint(op: LinearOperator) -> None:
    """A clear error for an operator built from a matvec alone (MissingAdjointError, a
    NotImplementedError as SciPy's, where the call itself raised "'NoneType' object is not
    callable")."""
    if not _has_adjoint(op):
        raise MissingAdjointError(
            "A is a LinearOperator without rmatvec or rmatmat, and this function needs "
            "products with its adjoint: define rmatvec (or rmatmat)"
        )


def _adjoint_product(op: LinearOperator, X: np.ndarray) -> np.ndarray:
    """op^H X (X 2-D, or 1-D); a _VectorwiseOperator checks its operator itself."""
    _require_adjoint(op)
    return np.asarray(op.rmatmat(X) if X.ndim == 2 else op.rmatvec(X))


def _checked(X: np.ndarray) -> np.ndarray:
    if not np.isfinite(X).all():
        raise ValueError("A contains NaN or Inf (or its sketch overflows)")
    return X


class _SketchOverflow(Exception):
    """A product of a finite array A with a random block (at unit 1) overflowed."""


def _checked_sketch(X: np.ndarray, A: Any, is_op: bool, unit: float) -> np.ndarray:
    """X (a product of A with a random block scaled by ``unit``), checked for NaN/Inf:
    _SketchOverflow where A is a finite array and the unit 1, so that the caller can form
    its sketches again at a smaller unit (:func:`_sketch_unit`)."""
    if unit == 1.0 and not is_op and not np.isfinite(X).all() and np.isfinite(A).all():
        raise _SketchOverflow
    return _checked(X)


def _sketch_unit(A: np.ndarray) -> float:
    """The power of two that brings max |a_ij| to at most 2^963: sums of up to 2^50 products
    with Gaussian entries (below 2^6) then stay below the float maximum.  The sketches'
    uses (pivoted QR's choices, R11^-1 R12, rank tests on ratios of R's diagonal or of
    singular values) do not change with a global scale, and the scaling, by at most 2^-61,
    is exact but for entries already 2^-1000 below the largest."""
    parts = (A.real, A.imag) if A.dtype.kind == "c" else (A,)
    big = max(float(np.abs(part).max(initial=0.0)) for part in parts)
    return math.ldexp(1.0, min(0, 963 - math.frexp(big)[1]))


def _on_overflow_rescaled(run: Any, A: Any, is_op: bool, rng: np.random.Generator) -> Any:
    """run(unit) with unit 1; where its sketches overflowed, again from the same random state
    with A's :func:`_sketch_unit` (entries near the float maximum: the Gaussian sums of a
    sketch of 12 x 12 entries of 2.5e307 overflowed, and a valid A was refused)."""
    state = rng.bit_generator.state
    try:
        return run(1.0)
    except _SketchOverflow:
        rng.bit_generator.state = state
        return run(_sketch_unit(A))


def _mode(eps_or_k: Any, min_dim: int) -> tuple[float | None, int | None]:
    """(eps, None) for a precision, (None, k) for a rank.  A 0-d array is its number and a
    bool an int, as SciPy takes them."""
    eps_or_k = scalar_of(eps_or_k)
    if isinstance(eps_or_k, bool | np.bool_):
        eps_or_k = int(eps_or_k)
    if not isinstance(eps_or_k, numbers.Real):
        raise TypeError(f"eps_or_k must be a number; got {eps_or_k!r}")
    if not math.isfinite(eps_or_k) or eps_or_k < 0:
        raise ValueError(f"eps_or_k must be a non-negative finite number; got {eps_or_k!r}")
    if eps_or_k < 1:
        return float(eps_or_k), None
    k = int(eps_or_k)
    if k > min_dim:
        raise ValueError(f"Approximation rank {k} exceeds min(A.shape) = {min_dim}")
    return None, k


def _gaussian(rng: np.random.Generator, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    if dtype == np.complex128:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2)
    return rng.standard_normal(shape)


def _native_product(A: np.ndarray, X: np.ndarray, transpose: bool) -> np.ndarray:
    """A @ X (or A^T @ X) for a real float64 array A, by the core's product: chunked over its
    own threads, with the BLAS on one thread (interp_decomp runs in a serial_blas scope)."""
    op = as_matrix(A, check_finite=False).op  # (NaN/Inf: checked on the result)
    return np.asarray(_core.apply(op, np.asfortranarray(X), transpose))


def _sketch(
    A: Any, is_op: bool, l: int, rng: np.random.Generator, dtype: np.dtype, unit: float
) -> np.ndarray:
    """Y = (unit Omega) @ A (l x n) with a Gaussian Omega, checked for NaN/Inf.

    A complex C-ordered array is sketched with a real Omega: viewed as the real m x 2n
    array of its (re, im) pairs, one real GEMM gives Omega @ A at half the flops of a
    complex one.  A LinearOperator is sketched as (A^H Omega^H)^H through rmatmat."""
    m = A.shape[0]
    real_view = not is_op and dtype == np.complex128 and A.flags.c_contiguous
    omega = rng.standard_normal((l, m)) if real_view else _gaussian(rng, (l, m), dtype)
    omega *= unit
    if is_op:
        Y = _adjoint_product(A, omega.conj().T).conj().T
    elif real_view:
        Y = (omega @ A.view(np.float64)).view(np.complex128)
    elif dtype == np.complex128:
        Y = omega @ A
    else:  # Omega A = (A^T Omega^T)^T
        Y = _native_product(A, omega.T, True).T
    return _checked_sketch(Y, A, is_op, unit)


def _range_sketch(
    A: Any, is_op: bool, l: int, rng: np.random.Generator, dtype: np.dtype, unit: float
) -> np.ndarray:
    """Y = (unit Q)^H A (l x n) with Q an orthonormal basis of A Omega (Gaussian Omega,
    n x l).

    Column-pivoted QR is invariant under orthogonal transformations from the left, so on
    Y it picks the columns it would pick on the rank-l approximation Q Q^H A, and on A itself
    wherever that approximation is exact to working precision.  A plain sketch Omega A
    only preserves A's column geometry up to the sketch's distortion, which costs accuracy
    at a fixed rank k (l = 2k; 2000 x 2000, sigma_j = exp(-j/5), k = 100: 4.15x the
    optimal rank-k error for Omega A, 2.47x for Q^H A, the same as pivoted QR on A itself;
    1500 x 1500, sigma_j = 1/j, k = 80: 1.96x, 1.55x and 1.41x) for one more product."""
    omega = _gaussian(rng, (A.shape[1], l), dtype)
    omega *= unit
    native = not is_op and dtype == np.float64
    if is_op:
        Z = np.asarray(A.matmat(omega))
    else:
        Z = _native_product(A, omega, False) if native else A @ omega
    Q = scipy.linalg.qr(_checked_sketch(Z, A, is_op, unit), mode="economic", check_finite=False)[0]
    Q *= unit
    if is_op:
        Y = _adjoint_product(A, Q).conj().T
    else:
        Y = _native_product(A, Q, True).T if native else Q.conj().T @ A
    return _checked_sketch(Y, A, is_op, unit)


def _dense_of(A: Any, is_op: bool, dtype: np.dtype) -> np.ndarray:
    if not is_op:
        return _checked(A)
    return _checked(np.asarray(A.matmat(np.eye(A.shape[1], dtype=dtype))))


def _qrcp(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, perm) of the column-pivoted QR of Y (a copy; Y is not modified).

    R is that of :func:`_moderate` Y: LAPACK's column norms overflow for entries near the
    float maximum (dgeqp3 then loops forever after "DLASCL parameter 4 had an illegal
    value"; found by fuzzing) and lose digits in the subnormal range.  Every use of R (the
    rank from |R_kk| / |R_00|, R11^-1 R12) is invariant under that scaling."""
    R, perm = scipy.linalg.qr(_moderate(Y), mode="r", pivoting=True, check_finite=False)
    return R, perm


def _moderate(Y: np.ndarray) -> np.ndarray:
    """Y, or a copy scaled by a power of two to max |y_ij| in [0.5, 1) where that is beyond
    2^(+-400): column norms and singular values of Y then neither overflow nor underflow."""
    big = float(np.abs(Y).max(initial=0.0))
    if big > 0 and not 2.0**-400 < big < 2.0**400:
        e = math.frexp(big)[1]  # in two factors: 2^-e alone overflows for subnormal big
        Y = Y * math.ldexp(1.0, -(e // 2)) * math.ldexp(1.0, e // 2 - e)
    return Y


def _rank_from_r(R: np.ndarray, eps: float, sketch_rows: int | None = None) -> int:
    """Smallest k with |R[k, k]| <= eps |R[0, 0]|: the pivoted-QR residual criterion of
    the ID library (the largest remaining column norm against the largest column norm).

    On a Gaussian sketch Omega A (``sketch_rows`` = l rows) a column's sketch has about
    sqrt(l) times its norm, but what is left of it after k pivots lies in the l - k
    directions the pivots' sketches do not span: about sqrt(l - k) times the residual's
    norm.  R[k, k] / R[0, 0] is thus the residual's ratio shrunk by sqrt((l - k) / l), and
    the test takes that factor out (without it, on load_digits at eps = 1e-3, l - k = 10-16:
    ranks 58-60 with errors up to 2.1 eps)."""
    d = np.abs(np.diagonal(R))
    if d.size == 0 or d[0] == 0:
        return 0
    bound = eps * d[0]
    if sketch_rows is not None:
        k = np.arange(d.size)
        bound = bound * np.sqrt(np.maximum(sketch_rows - k, 0) / sketch_rows)
    small = np.flatnonzero(d <= bound)
    return int(small[0]) if small.size else d.size


def _id_from_r(R: np.ndarray, perm: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """idx = perm and proj = R11^{-1} R12 (k x (n - k)), with R11 = R[:k, :k].

    The triangular solve, as SciPy, wherever R11's pivots are nonzero: pivoting keeps each
    row of R12 below its pivot in magnitude, so the coefficients stay moderate even for
    pivots at rounding level, and the solve is backward stable (a least-squares solution,
    used for pivots down to k eps |R_00| before, truncated R11: at eps = 1e-14 on
    sigma_j = exp(-j/5), errors of 2.7e-14 where SciPy's were 6.5e-15).  An exactly zero
    pivot (A of rank below k) leaves the coefficients not unique; the minimum-norm
    least-squares solution still reproduces the other columns, where SciPy returns NaN.
    """
    if k == 0:
        return perm.astype(np.int64), np.zeros((0, perm.size), dtype=R.dtype)
    R11, R12 = R[:k, :k], R[:k, k:]
    idx = perm.astype(np.int64)
    if R12.shape[1] == 0:
        return idx, np.zeros((k, 0), dtype=R.dtype, order="F")
    if np.abs(np.diagonal(R11)).min() > 0:
        with np.errstate(over="ignore", invalid="ignore"):
            proj = scipy.linalg.solve_triangular(R11, R12, check_finite=False)
        if np.isfinite(proj).all():
            return idx, np.asarray(proj, order="F")
    return idx, np.asarray(scipy.linalg.lstsq(R11, R12, check_finite=False)[0], order="F")


def _fixed_rank(
    A: Any, is_op: bool, dtype: np.dtype, k: int, rand: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    m = A.shape[0]
    l = k + max(_OVERSAMPLE, k)
    if (rand or is_op) and l < m:
        Y = _on_overflow_rescaled(
            lambda unit: _range_sketch(A, is_op, l, rng, dtype, unit), A, is_op, rng
        )
    else:
        Y = _dense_of(A, is_op, dtype)
    R, perm = _qrcp(Y)
    return _id_from_r(R, perm, k)


def _next_rows(d: np.ndarray, l: int, k: int, eps: float) -> int:
    """Sketch rows for the next step of the fixed-precision ID, from the l rows so far.

    ``d`` = |diag R| of the pivoted QR of the sketch, ``k`` the rank it showed (too close to
    l).  A least-squares line through log d_j, j in [l/4, l - _OVERSAMPLE) (the last pivots
    of a short sketch fall faster than A's, so they are left out), is extrapolated to where
    it crosses eps d_0; the sketch grows to that rank + _OVERSAMPLE + _MARGIN rows, at least
    1.25 l and at most 4 l.  On exponential decay this lands in one step where doubling
    needs two and overshoots (4000 x 4000, sigma_j = exp(-j/5), eps = 1e-8: 32 -> ~113 rows
    instead of 32 -> 64 -> 128); on slower decay it underestimates and takes more, smaller
    steps.  The new rows are appended to the sketch, so no product with A is repeated.
    """
    lo, hi = l // 4, min(l, d.size) - _OVERSAMPLE  # d.size = min(l, n)
    predicted = math.inf  # also for eps = 0 (the full rank): no crossing to predict
    if hi - lo >= 4 and eps > 0 and d[0] > 0 and (d[lo:hi] > 0).all():
        slope, intercept = np.polyfit(np.arange(lo, hi), np.log(d[lo:hi]), 1)
        if slope < 0:  # log(eps) + log(d_0): eps d_0 itself may underflow to 0
            predicted = (math.log(eps) + math.log(d[0]) - intercept) / slope
    target = max(predicted, k) + _OVERSAMPLE + _MARGIN
    return int(min(max(target, 1.25 * l), 4 * l))


def _grown_sketch_id(
    A: Any, is_op: bool, dtype: np.dtype, eps: float, rng: np.random.Generator, unit: float
) -> tuple[int, np.ndarray, np.ndarray] | None:
    """The fixed-precision ID from a sketch grown until the rank leaves _OVERSAMPLE rows
    spare; None where the sketch would be as large as A."""
    m, n = A.shape
    l = _FIRST_BLOCK
    rows: list[np.ndarray] = []
    have = 0
    while l + _OVERSAMPLE < m:
        rows.append(_sketch(A, is_op, l - have, rng, dtype, unit))
        have = l
        R, perm = _qrcp(rows[0] if len(rows) == 1 else np.vstack(rows))
        k = _rank_from_r(R, eps, l)
        # l >= k + _OVERSAMPLE rows have seen every direction of A above eps, also where
        # l > n (a rank just below n: the sketch stops growing at n + _OVERSAMPLE rows,
        # where it grew to about m, an m x m Gaussian matrix, before)
        if k + _OVERSAMPLE <= l or k == n:
            idx, proj = _id_from_r(R, perm, k)
            return k, idx, proj
        l = min(_next_rows(np.abs(np.diagonal(R)), l, k, eps), n + _OVERSAMPLE)
    return None


def _fixed_precision(
    A: Any, is_op: bool, dtype: np.dtype, eps: float, rand: bool, rng: np.random.Generator
) -> tuple[int, np.ndarray, np.ndarray]:
    """Sketches of l = 32 rows, then more rows appended (:func:`_next_rows`) until the rank
    found leaves _OVERSAMPLE rows spare (then the sketch has seen every direction above
    eps), else A itself."""
    if rand or is_op:
        found = _on_overflow_rescaled(
            lambda unit: _grown_sketch_id(A, is_op, dtype, eps, rng, unit), A, is_op, rng
        )
        if found is not None:
            return found
    R, perm = _qrcp(_dense_of(A, is_op, dtype))
    k = _rank_from_r(R, eps)
    idx, proj = _id_from_r(R, perm, k)
    return k, idx, proj


def interp_decomp(A: Any, eps_or_k: float, rand: bool = True, rng: Any = None) -> tuple:
    """Interpolative decomposition: ``A[:, idx[:k]] @ proj ~ A[:, idx[k:]]``.

    Drop-in for :func:`scipy.linalg.interpolative.interp_decomp`.

    Parameters
    ----------
    A : ndarray or LinearOperator, float64 or complex128, shape (m, n)
        A LinearOperator needs ``rmatmat`` (or ``rmatvec``); A is never modified.
    eps_or_k : float or int
        Relative precision (``< 1``) or rank (``>= 1``).
    rand : bool, default True
        Find the columns from ``Q^H A``, Q an orthonormal basis of ``A @ Omega`` with
        ``k + max(10, k)`` Gaussian columns (fixed rank), or from a Gaussian sketch
        ``Omega @ A`` with 32 rows and more as needed (fixed precision), instead of A
        itself.
        Always True for a LinearOperator.
    rng : numpy.random.Generator or seed, optional
        Passed to ``numpy.random.default_rng``.

    Returns
    -------
    k : int
        The rank reached (fixed precision only).
    idx : ndarray of int64, shape (n,)
        Column order: the first k are the skeleton columns.
    proj : ndarray, shape (k, n - k)
        Interpolation coefficients.

    See Also
    --------
    scipy.linalg.interpolative.interp_decomp

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hilbert
    >>> from rankwise import interpolative as sli
    >>> A = hilbert(200)
    >>> k, idx, proj = sli.interp_decomp(A, 1e-10, rng=0)
    >>> B = sli.reconstruct_matrix_from_id(A[:, idx[:k]], idx, proj)
    >>> bool(np.allclose(A, B, atol=1e-8)), k < 30
    (True, True)
    """
    A, dtype, is_op = _as_input(A)
    eps, k = _mode(eps_or_k, min(A.shape))
    rng = np.random.default_rng(rng)
    # An array: the BLAS on one thread (the products run on the core's threads): the pivoted
    # QRs, level-2 bound, ran slower on OpenBLAS's threads than on one (2 cores, 1000 x 500
    # at k = 20: 16 ms against 7) and left them spinning.  A LinearOperator's products are
    # the user's code, run with the user's settings.
    with _core.serial_blas() if not is_op else contextlib.nullcontext():
        if k is None:
            return _fixed_precision(A, is_op, dtype, eps, rand, rng)  # type: ignore[arg-type]
        return _fixed_rank(A, is_op, dtype, k, rand, rng)


def reconstruct_matrix_from_id(B: Any, idx: Any, proj: Any) -> np.ndarray:
    """``hstack([B, B @ proj])[:, argsort(idx)]``: the matrix an ID represents.

    Drop-in for :func:`scipy.linalg.interpolative.reconstruct_matrix_from_id`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise import interpolative as sli
    >>> A = np.outer([1.0, 2.0], [3.0, 1.0, 2.0])
    >>> idx, proj = sli.interp_decomp(A, 1, rand=False)
    >>> bool(np.allclose(sli.reconstruct_matrix_from_id(A[:, idx[:1]], idx, proj), A))
    True
    """
    B = np.atleast_2d(np.asarray(B))
    _dtype_of(B)
    idx = np.asarray(idx)
    full = np.hstack([B, B @ np.asarray(proj)])
    return full[:, np.argsort(idx)]


def reconstruct_interp_matrix(idx: Any, proj: Any) -> np.ndarray:
    """The k x n interpolation matrix ``P`` with ``A ~ A[:, idx[:k]] @ P``.

    Drop-in for :func:`scipy.linalg.interpolative.reconstruct_interp_matrix`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise import interpolative as sli
    >>> sli.reconstruct_interp_matrix(np.array([2, 0, 1]), np.array([[0.5, 2.0]])).tolist()
    [[0.5, 2.0, 1.0]]
    """
    idx = np.asarray(idx)
    proj = np.asarray(proj)
    dtype = _dtype_of(proj)
    k = proj.shape[0]
    p = np.zeros((k, idx.size), dtype=dtype)
    p[np.arange(k), idx[:k]] = 1.0
    p[:, idx[k:]] = proj
    return p


def reconstruct_skel_matrix(A: Any, k: SupportsIndex, idx: Any) -> np.ndarray:
    """The skeleton ``A[:, idx[:k]]``.

    Drop-in for :func:`scipy.linalg.interpolative.reconstruct_skel_matrix`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise import interpolative as sli
    >>> sli.reconstruct_skel_matrix(np.arange(6.0).reshape(2, 3), 2, [2, 0, 1]).tolist()
    [[2.0, 0.0], [5.0, 3.0]]
    """
    return np.asarray(A)[:, np.asarray(idx)[:k]]


def id_to_svd(B: Any, idx: Any, proj: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVD ``U diag(S) V^H`` of the matrix ``B @ P`` that an ID represents.

    With thin QRs ``B = Q1 R1`` and ``P^H = Q2 R2``: ``B P = Q1 (R1 R2^H) Q2^H``, and the SVD
    of the small k x k middle factor gives the rest.

    Drop-in for :func:`scipy.linalg.interpolative.id_to_svd`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise import interpolative as sli
    >>> A = np.outer([1.0, 2.0, 2.0], [3.0, 0.0, 4.0])
    >>> idx, proj = sli.interp_decomp(A, 1, rand=False)
    >>> U, S, V = sli.id_to_svd(A[:, idx[:1]], idx, proj)
    >>> np.round(S, 10).tolist()
    [15.0]
    """
    B = np.atleast_2d(np.asarray(B))
    dtype = _dtype_of(B)
    P = reconstruct_interp_matrix(idx, np.asarray(proj, dtype=dtype))
    # the BLAS on one thread (as in interp_decomp): thin QRs and k-column products, on 2
    # cores 2.2x faster so (1000 x 500 at eps = 1e-6: 207 ms against 93)
    with _core.serial_blas():
        Q1, R1 = scipy.linalg.qr(B, mode="economic", check_finite=False)
        Q2, R2 = scipy.linalg.qr(P.conj().T, mode="economic", check_finite=False)
        W, S, Zh = scipy.linalg.svd(R1 @ R2.conj().T, full_matrices=False, check_finite=False)
        return Q1 @ W, S, Q2 @ Zh.conj().T


def svd(
    A: Any, eps_or_k: float, rand: bool = True, rng: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVD ``A ~ U @ diag(S) @ V^H`` of rank k or to relative precision eps, via an ID.

    Drop-in for :func:`scipy.linalg.interpolative.svd` (V is n x k, not V^H).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hilbert
    >>> from rankwise import interpolative as sli
    >>> A = hilbert(100)
    >>> U, S, V = sli.svd(A, 12, rng=0)
    >>> U.shape, S.shape, V.shape
    ((100, 12), (12,), (100, 12))
    >>> bool(np.allclose(U * S @ V.T, A, atol=1e-8))
    True
    """
    A, dtype, is_op = _as_input(A)
    result = interp_decomp(A, eps_or_k, rand=rand, rng=rng)
    k, idx, proj = result if len(result) == 3 else (int(eps_or_k), *result)
    if is_op:
        E = np.zeros((A.shape[1], k), dtype=dtype)
        E[idx[:k], np.arange(k)] = 1
        B = np.asarray(A.matmat(E))
    else:
        B = A[:, idx[:k]]
    return id_to_svd(B, idx, proj)


def _power_norm(op: LinearOperator, its: int, rng: np.random.Generator, dtype: np.dtype) -> float:
    """sqrt of the Rayleigh quotient of A^H A after ``its`` power steps from a random start
    (``its = 0``: ||A x|| for the random unit x itself)."""
    its = check_int(its, "its", low=0, high=2**31 - 1)  # (SciPy: OverflowError beyond)
    x = _gaussian(rng, (op.shape[1], 1), dtype)[:, 0]
    x /= np.linalg.norm(x)
    estimate = 0.0
    for _ in range(its):
        y = op.matvec(x)
        estimate = _unsquared_norm(y)
        if estimate == 0:
            return 0.0
        # A^H applied to the unit y: A^H A x itself overflowed for ||A|| ~ 1e160
        z = _adjoint_product(op, y / estimate)
        nz = _unsquared_norm(z)
        if nz == 0:
            return estimate
        x = z / nz
    return _unsquared_norm(op.matvec(x))


def _unsquared_norm(v: np.ndarray) -> float:
    """||v||_2 computed on v / max |v_i|: its squares overflowed for entries of 1e160
    (the power method returned 0.0 for ||A|| = 3e80) and underflowed below 1e-160."""
    big = float(np.abs(v).max(initial=0.0))
    if not 0 < big < math.inf:
        return big
    return big * float(np.linalg.norm(v / big))


def estimate_spectral_norm(A: Any, its: SupportsIndex = 20, rng: Any = None) -> float:
    """Estimate ``||A||_2`` by ``its`` steps of the power method on ``A^H A``.

    Drop-in for :func:`scipy.linalg.interpolative.estimate_spectral_norm`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise import interpolative as sli
    >>> round(sli.estimate_spectral_norm(np.diag([3.0, 1.0, 0.5]), rng=0), 8)
    3.0
    """
    check_compressed(A, "A")
    op = aslinearoperator(A)
    return _power_norm(op, its, np.random.default_rng(rng), _dtype_of(op))


def estimate_spectral_norm_diff(A: Any, B: Any, its: SupportsIndex = 20, rng: Any = None) -> float:
    """Estimate ``||A - B||_2`` by the power method, through products with A and B only.

    Drop-in for :func:`scipy.linalg.interpolative.estimate_spectral_norm_diff`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise import interpolative as sli
    >>> A = np.eye(3)
    >>> round(sli.estimate_spectral_norm_diff(A, 0.25 * A, rng=0), 8)
    0.75
    """
    check_compressed(A, "A")
    check_compressed(B, "B")
    a, b = aslinearoperator(A), aslinearoperator(B)
    dtype = _dtype_of(a)
    diff = LinearOperator(
        a.shape,
        matvec=lambda x: a.matvec(x) - b.matvec(x),
        rmatvec=lambda y: a.rmatvec(y) - b.rmatvec(y),
        dtype=dtype,
    )
    return _power_norm(diff, its, np.random.default_rng(rng), dtype)


def _sketched_rank(
    A: Any, is_op: bool, dtype: np.dtype, eps: float, rng: np.random.Generator, unit: float
) -> int | None:
    """estimate_rank's count on a sketch of 32, 64, ... rows; None where the sketch would be
    as large as A."""
    l = _FIRST_BLOCK
    rows: list[np.ndarray] = []
    have = 0
    while l + _OVERSAMPLE < min(A.shape):
        rows.append(_sketch(A, is_op, l - have, rng, dtype, unit))  # appended: no product repeated
        have = l
        Y = rows[0] if len(rows) == 1 else np.vstack(rows)
        s = scipy.linalg.svdvals(_moderate(Y), check_finite=False)  # only ratios are used
        r = int(np.count_nonzero(s > 0.25 * eps * s[0])) if s[0] > 0 else 0
        if r + _OVERSAMPLE <= l:
            return r
        l *= 2
    return None


def estimate_rank(A: Any, eps: float, rng: Any = None) -> int:
    """Numerical rank of A at relative precision eps: the number of singular values above
    ``eps ||A||_2``, from a sketch ``Omega @ A`` of 32 rows, grown to 64, 128, ... rows by
    appending new ones (exact SVD once the sketch would be as large as A).  Counted at
    eps / 4 on the sketch, so that the sketch's distortion of the small singular values
    errs on the side of a larger rank.

    Drop-in for :func:`scipy.linalg.interpolative.estimate_rank`.

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise import interpolative as sli
    >>> sli.estimate_rank(np.diag([1.0, 1e-3, 1e-12]), 1e-9, rng=0)
    2
    """
    A, dtype, is_op = _as_input(A)
    number = scalar_of(eps)
    if isinstance(eps, bool) or not isinstance(number, numbers.Real):
        raise TypeError(f"eps must be a real number; got {eps!r}")
    eps = float(number)
    if not eps >= 0 or eps == math.inf:  # NaN fails too (it counted 0 values above it)
        raise ValueError(f"eps must be a non-negative finite number; got {eps!r}")
    if 0 in A.shape:
        return 0  # (no singular values)
    rng = np.random.default_rng(rng)
    found = _on_overflow_rescaled(
        lambda unit: _sketched_rank(A, is_op, dtype, eps, rng, unit), A, is_op, rng
    )
    if found is not None:
        return found
    s = scipy.linalg.svdvals(_moderate(_dense_of(A, is_op, dtype)), check_finite=False)
    return int(np.count_nonzero(s > eps * s[0])) if s[0] > 0 else 0
