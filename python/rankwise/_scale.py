"""Power-of-two scaling of inputs whose magnitudes leave the range the algorithms need.

The randomized SVD and CUR work with products and Gram matrices of A: the Gaussian sketch
``A Omega`` overflows for entries within ~1000x of the float maximum (found by fuzzing: LAPACK
then reported "SVD did not converge" on the NaNs), ``||A||_F^2`` of the fixed-precision mode
overflows from ``max |a_ij| ~ 1e154`` on, and entries near the subnormal range keep only the
digits above the subnormal spacing in every product (1e-310: singular values to 1e-8).
Multiplying A by ``2^-e`` is exact (only the exponents change, except for entries that the
scaling itself pushes into the subnormal range, which are below ``eps max |a_ij|``): the
singular vectors are those of A, and the singular values are ``2^-e`` times A's.  So the
entry points compute on ``A 2^-e`` with ``max |a_ij| 2^-e`` in [0.5, 1) and scale back, where
the result is representable.  Data within ``[sqrt(tiny) 2^20, sqrt(max) 2^-20]`` (float64:
1.5e-148 to 1.3e148; float32: 1.1e-13 to 1.8e13) is used as it is, without a copy; the
maximum comes from the NaN/Inf scan of :func:`rankwise._validate.as_matrix`, so the common
case costs nothing more.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._validate import Matrix, as_matrix

_MARGIN = 2.0**20  # below sqrt(max): Gram matrices of sketches of A stay finite


def bounds(dtype: np.dtype) -> tuple[float, float]:
    """The range of max |a_ij| that the algorithms take as it is, in ``dtype``."""
    info = np.finfo(dtype)
    return math.sqrt(float(info.tiny)) * _MARGIN, math.sqrt(float(info.max)) / _MARGIN


def scale_exponent(mat: Matrix) -> int:
    """e such that the entries of ``A 2^-e`` have max |a_ij| in [0.5, 1), for A whose
    max |a_ij| lies outside the range the algorithms handle as it is; 0 otherwise (also for
    a zero matrix, a LinearOperator and an unscanned input, whose maximum is not known)."""
    return exponent_for(mat.amax, mat.dtype)


def exponent_for(amax: float, dtype: Any) -> int:
    """:func:`scale_exponent` of a matrix with max |a_ij| = ``amax`` (NaN: not known) computed
    in ``dtype`` (also for the GPU's matrices, rankwise._gpu.DeviceMatrix)."""
    if not amax > 0:  # NaN (not known) or a zero matrix
        return 0
    low, high = bounds(np.dtype(dtype))
    if low <= amax <= high:
        return 0
    return math.frexp(amax)[1]


def _scaled_sparse(A: Any, mat: Matrix, e: int) -> Any:
    """A copy of sparse A times 2^-e (CSR or CSC; the index arrays are shared with A unless
    duplicates must be summed), refused where A has a sum of duplicates beyond the range."""
    S = A if A.format in ("csr", "csc") else A.tocsr()
    data = np.ldexp(np.asarray(S.data, dtype=mat.dtype), -e)
    canonical = S.has_canonical_format
    indices, indptr = (S.indices, S.indptr) if canonical else (S.indices.copy(), S.indptr.copy())
    out = type(S)((data, indices, indptr), shape=S.shape)
    if not canonical:
        # Duplicates are summed into one entry of A: the sum of two entries near the maximum
        # is not representable, whatever the scaling.
        out.sum_duplicates()
        with np.errstate(over="ignore"):
            top = np.ldexp(np.abs(out.data).max(initial=0), e)
        if not np.isfinite(top):
            raise ValueError(
                "A has duplicate entries whose sum exceeds the "
                f"{mat.dtype.name} maximum: the matrix they define is not representable"
            )
    return out


def scaled(A: Any, mat: Matrix, e: int) -> tuple[Any, Matrix]:
    """(A 2^-e, its Matrix): a scaled copy of dense or sparse A, in mat's dtype (A is not
    modified).  ``e == 0``: A and mat themselves."""
    if e == 0:
        return A, mat
    shape = A.shape if mat.kind == "sparse" else np.shape(A)
    if tuple(shape) != mat.shape:
        raise AssertionError(f"A of shape {shape} is not the matrix {mat.shape} validated")
    if mat.kind == "sparse":
        S = _scaled_sparse(A, mat, e)
    else:
        x = np.asarray(A)
        if x.dtype != mat.dtype:  # integers, float16, byte-swapped: the work dtype first
            x = x.astype(mat.dtype)
        S = np.ldexp(x, -e)  # a new array in x's memory order
    smat = as_matrix(S, check_finite=False)
    return S, Matrix(smat.op, smat.shape, smat.dtype, smat.kind, math.ldexp(mat.amax, -e))


def unscale_values(s: Any, e: int, what: str = "the singular values of A") -> Any:
    """``s 2^e`` (singular values computed on ``A 2^-e``), or ValueError when they exceed
    the float range (A's largest singular value can be ~sqrt(m n) times max |a_ij|)."""
    if e == 0:
        return s
    with np.errstate(over="ignore"):
        out = np.ldexp(s, e)
    if not np.isfinite(out).all():
        big = float(np.max(np.abs(s)))
        raise ValueError(
            f"{what} exceed the {np.asarray(s).dtype.name} range ({big:.6g} * 2**{e}): "
            "the result is not representable; scale A down"
        )
    return out


def dask_max_abs(A: Any) -> float:
    """max |a_ij| of a dask array, from one more pass over it (a dask graph is only scanned
    while the algorithm runs, so this is for a retry after a failure)."""
    import dask
    from dask import delayed

    maxima = [delayed(_block_max_abs)(b) for b in A.to_delayed().ravel()]
    return float(np.max(dask.compute(*maxima), initial=0.0))  # (NaN wins, in any order)


def _block_max_abs(block: Any) -> float:
    """max |a_ij| of a dense or scipy.sparse chunk (0 for an empty one; NaN where it has)."""
    if 0 in block.shape:
        return 0.0
    return float(abs(block).max())


def _ldexp_block(block: Any, e: int) -> Any:
    """A chunk times 2^e, dense or scipy.sparse (a new one)."""
    if sp.issparse(block):
        out = block.copy()
        out.data = np.ldexp(out.data, e)
        return out
    return np.ldexp(block, e)


def run_dask_scaled(run: Any, A: Any, zero: Any = None) -> tuple[Any, int]:
    """(run(A), 0), or where run fails on A with entries near the float maximum or the
    subnormal range (the CholeskyQR Gram matrices of the dask path overflow from
    max |a_ij| ~ 1e154 on, "array must not contain infs or NaNs", and underflow below
    ~1e-154, rankwise._dask.SketchUnderflow), (run(A 2^-e), e) after one more pass over A
    for its maximum; where that maximum is 0 and `zero` is given, (zero(), 0): the result
    for an all-zero A, whose sketches are zero.  A failure on data within range is raised
    as it was; so is, without that pass, a LinAlgError other than an underflow (a
    rank-deficient factor, which scaling does not change)."""
    from ._dask import SketchUnderflow

    try:
        return run(A), 0
    except (ValueError, ArithmeticError, RuntimeWarning) as failure:
        # ValueError: SciPy's check_finite (and SketchUnderflow, a LinAlgError); the others
        # where numpy's overflow warnings are errors (np.seterr, or a warnings filter)
        if isinstance(failure, np.linalg.LinAlgError) and not isinstance(failure, SketchUnderflow):
            raise
        amax = dask_max_abs(A)
        if amax == 0 and zero is not None:
            return zero(), 0
        dtype = A.dtype if np.dtype(A.dtype) in (np.float32, np.float64) else np.float64
        e = exponent_for(amax, dtype)  # 0 for a zero A, or an infinite or NaN maximum
        if e == 0:
            raise
    return run(A.map_blocks(_ldexp_block, -e, dtype=A.dtype, meta=A._meta)), e
