"""rankwise.svd and rankwise.estimate_error: randomized truncated SVD, fixed rank or fixed
precision, on dense, sparse and operator inputs."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Literal, SupportsIndex, overload

import numpy as np

from . import _core, _dask, _gpu, _scale
from ._errors import AccuracyWarning
from ._random import RandomStateLike, philox_key
from ._typing import HostMatrix
from ._validate import as_matrix, check_choice, check_int, check_n_iter, work_dtype

_METHODS = ("subspace", "block_krylov")
_DEFAULT_BLOCK = 32  # rank growth per step in fixed-precision mode
_DEFAULT_OVERSAMPLE = 10  # fixed-rank mode's default; refused as anything else with tol


def auto_power_iterations(k: int, min_dim: int) -> int:
    """scikit-learn's rule: 7 power iterations when k < 0.1 min(m, n), else 4."""
    return 7 if k < 0.1 * min_dim else 4


def auto_krylov_iterations(k: int, min_dim: int) -> int:
    """Block Krylov's n_iter="auto": 3 (8 passes) when k < 0.1 min(m, n), else 2 (6).  About
    half of subspace iteration's passes: its Krylov space holds subspace iteration's (bench/
    RESULTS.md, session 28: 8000 x 4000, sigma_j = 1/j, k = 50 / 200: 8 passes 1.56x / 1.06x
    faster than subspace iteration's 16 and 250x / 700x closer to the optimum)."""
    return 3 if k < 0.1 * min_dim else 2


def _abs_argmax(U: np.ndarray) -> np.ndarray:
    """np.argmax(np.abs(U), axis=0) without the |U| temporary (a copy of U, the largest
    array of the result): the first row of the largest magnitude is the row of the column's
    maximum or of its minimum, whichever is larger in magnitude, the first of the two on a
    tie."""
    cols = np.arange(U.shape[1])
    top, bottom = U.argmax(axis=0), U.argmin(axis=0)
    high, low = U[top, cols], -U[bottom, cols]
    return np.where(high > low, top, np.where(low > high, bottom, np.minimum(top, bottom)))


def flip_signs(U: Any, Vt: Any) -> None:
    """Make the largest-magnitude entry of each column of U positive (in place), as
    scikit-learn's ``svd_flip(u_based_decision=True)``: results become unique, so they can be
    compared across seeds, backends and libraries.  NumPy or CuPy arrays; CuPy factors in
    the layouts the CUDA backend returns (U in F order, Vt in C order) are flipped by the
    CUDA module (one pass over U, CudaBackend::column_argmax_abs), others by CuPy."""
    if U.shape[1] == 0:
        return
    xp = np
    if _gpu.is_device_array(U):
        if _flip_signs_natively(U, Vt):
            return
        import cupy as xp

        rows = xp.argmax(xp.abs(U), axis=0)
    else:
        rows = _abs_argmax(U)
    signs = xp.sign(U[rows, xp.arange(U.shape[1])])
    signs[signs == 0] = 1
    U *= signs
    Vt *= signs[:, np.newaxis]


def _flip_signs_natively(U: Any, Vt: Any) -> bool:
    """flip_signs of CuPy factors by the CUDA module, where they are in its layouts."""
    native = (
        U.flags.f_contiguous
        and Vt.flags.c_contiguous
        and U.dtype == Vt.dtype
        and U.dtype.name in ("float32", "float64")
    )
    if native:
        (m, k), n = U.shape, Vt.shape[1]
        _gpu.cuda_module().flip_signs(
            U.dtype.name, int(U.data.ptr), m, int(Vt.data.ptr), n, k, _gpu.current_stream()
        )
    return native


@overload
def svd(
    A: HostMatrix,
    k: SupportsIndex | None = ...,
    *,
    oversample: SupportsIndex = ...,
    n_iter: SupportsIndex | Literal["auto"] = ...,
    method: Literal["subspace", "block_krylov", "single_pass"] = ...,
    n_passes: SupportsIndex | None = ...,
    block_size: SupportsIndex | None = ...,
    tol: float | None = ...,
    max_rank: SupportsIndex | None = ...,
    random_state: RandomStateLike = ...,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@overload
def svd(
    A: Any,
    k: SupportsIndex | None = ...,
    *,
    oversample: SupportsIndex = ...,
    n_iter: SupportsIndex | Literal["auto"] = ...,
    method: Literal["subspace", "block_krylov", "single_pass"] = ...,
    n_passes: SupportsIndex | None = ...,
    block_size: SupportsIndex | None = ...,
    tol: float | None = ...,
    max_rank: SupportsIndex | None = ...,
    random_state: RandomStateLike = ...,
) -> tuple[Any, Any, Any]: ...


def svd(
    A: Any,
    k: SupportsIndex | None = None,
    *,
    oversample: SupportsIndex = _DEFAULT_OVERSAMPLE,
    n_iter: SupportsIndex | Literal["auto"] = "auto",
    method: Literal["subspace", "block_krylov", "single_pass"] = "subspace",
    n_passes: SupportsIndex | None = None,
    block_size: SupportsIndex | None = None,
    tol: float | None = None,
    max_rank: SupportsIndex | None = None,
    random_state: RandomStateLike = None,
) -> tuple[Any, Any, Any]:
    """Randomized truncated SVD: ``A ~ U @ diag(s) @ Vt`` of rank ``k`` or to tolerance ``tol``.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix or array, or LinearOperator, shape (m, n)
        Real matrix.  float32 and float64 are computed in their own precision; bools,
        integers and float16 in float64.  Dense arrays in C or Fortran order (or any view with unit
        stride along one axis) are used in place; CSR and CSC matrices are used as they are
        (other sparse formats are converted to CSR), except that a CSR at least 4 times wider
        than tall, or a CSC 4 times taller than wide, with at least one nonzero per long
        line, is copied once to the other format where the copy is smaller than 32 vectors
        of the long side: its products then run 1.6-2.6x faster.  A ``LinearOperator`` is
        used through ``matmat`` and ``rmatmat``.  A CuPy array or ``cupyx.scipy.sparse``
        CSR/CSC matrix runs on the GPU (CUDA backend) and gives CuPy results; so does a
        ``cupyx.scipy.sparse.linalg.LinearOperator``, matrix-free (fixed rank).  A
        ``dask.array.Array`` (NumPy or CuPy chunks, fixed rank only) runs as one dask graph
        whose tasks work on each chunk where it lies (docs/dask.md): the large factor (U, or
        Vt for a wide A)
        comes back as a dask array chunked like A, s and the small factor as NumPy arrays
        (CuPy for CuPy chunks).  A is never modified.
        Entries of any magnitude work: where max |a_ij| is near the float maximum or the
        subnormal range (outside 1.5e-148..1.3e148 in float64, 1.1e-13..1.8e13 in float32),
        the SVD is computed on a copy of A scaled by a power of two (exact) and s is scaled
        back; a ValueError says so if s is then beyond the float range.
    k : int, optional
        Rank, ``1 <= k <= min(m, n)``.  Required unless ``tol`` is given; with ``tol`` it is
        the block size by which the rank grows (default 32).
    oversample : int, default 10
        Extra sketch columns ``p``: the sketch has ``l = min(k + p, min(m, n))`` columns.
    n_iter : int or "auto", default "auto"
        Power iterations ``q``.  Fixed rank: each adds two passes over A, the method makes
        ``2q + 2`` in all; "auto" is scikit-learn's rule (7 if ``k < 0.1 min(m, n)``, else 4),
        for "block_krylov" 3 if ``k < 0.1 min(m, n)``, else 2 (its Krylov space holds
        subspace iteration's, so it needs about half the passes).
        With ``tol``: power iterations per block ("auto": 1).
    method : {"subspace", "block_krylov", "single_pass"}, default "subspace"
        "subspace": randomized subspace iteration (Halko, Martinsson & Tropp 2011).  Between
        passes the block is renormalized by an LU factorization with partial pivoting (its
        P L factor spans the same space and is well conditioned, |L_ij| <= 1; as in fbpca
        and scikit-learn, and 4x fewer flops than CholeskyQR2: 8000 x 4000, k = 200 runs
        1.3x faster); the final basis is orthonormalized by CholeskyQR2 (GEMM speed; shifted
        CholeskyQR3 or Householder QR take over when the block is ill-conditioned, so it is
        orthonormal to working precision in every case).  "block_krylov":
        randomized block Krylov iteration (Musco & Musco 2015) as block Golub-Kahan: the
        passes alternate products with A and A^T, each block orthonormalized against the
        earlier ones of its side, and every product is kept, so the factors need no pass of
        their own.  With ``n_iter = q`` it makes ``2q + 2`` passes of ``l`` columns and takes
        the factors of ``Q Q^T A`` on Musco & Musco's space
        ``range(Q) = [A W, (A A^T) A W, ..., (A A^T)^q A W]`` (``l (q + 1)`` columns; where
        that does not fit in ``min(m, n)``, one block of ``min(m, n)`` columns: the factors
        are then exact); ``n_passes`` and ``block_size`` choose the passes and the block
        freely.  For slowly decaying spectra it reaches a given
        accuracy in fewer passes than subspace iteration.  "single_pass" (dask arrays only,
        for data that can be read only once): every block of A is read once, for a range
        sketch ``A Omega`` and a co-range sketch ``Psi A`` (``2l + 1`` rows) together, and
        ``A ~ Q (Psi Q)^+ Psi A`` (Tropp, Yurtsever, Udell & Cevher 2017); less accurate
        than power iterations, which read A ``2q + 2`` times.  Its singular values are
        those of that approximation: where the spectrum beyond the sketch holds much of
        A's energy (slow decay), the tail's share, amplified by ``(Psi Q)^+``, adds to them,
        and they can exceed A's (make_low_rank_matrix(600, 200, effective_rank=15), k = 10:
        ``s[0]`` 2.0-2.6 where ``||A||_2`` = 1; with ``oversample=90``, 1.1): use it where
        the spectrum decays fast, or with a larger ``oversample``.
    n_passes : int, optional
        ``method="block_krylov"`` only, instead of ``n_iter``: passes over A, ``P >= 2``.
        Even ``P`` is ``n_iter = P / 2 - 1``.  Odd ``P`` ends with a product with A: the
        factors are then those of ``A V V^T``, the best rank-k approximation whose rows lie in
        the right Krylov space ``range(V) = [W, (A^T A) W, ..., (A^T A)^((P - 1) / 2) W]``
        (Tropp & Webber 2023, Sec. 11): one pass cheaper than ``P + 1``, one block more than
        ``P - 1``.
    block_size : int, optional
        ``method="block_krylov"`` only: columns per Krylov block ``b`` (default ``l = k + p``;
        ``oversample`` is not used when it is given).  Blocks smaller than k are allowed
        (Chen, Epperly, Meyer, Musco & Rao 2025) as long as ``floor(P / 2)`` blocks have k
        columns (the odd finish's extra block starts from the random sketch).  Narrow blocks
        and more passes often reach a given accuracy with fewer products with A (on a
        spectrum ``1/j``, k = 64: ``b = 32`` and 9 passes are 4x closer to the optimum than
        subspace iteration with ``l = 74`` and 6 passes, with 65% of its products;
        bench/RESULTS.md), at the price of more, smaller orthonormalizations.
    tol : float, optional
        Fixed-precision mode, ``0 < tol < 1``: the rank ``r`` is found adaptively (randQB_EI,
        Yu, Gu & Li 2018) as the smallest for which
        ``||A - U diag(s) Vt||_F <= tol ||A||_F``, up to ``max_rank``, among the truncations
        of the randomized basis (above the best rank for tol on slowly decaying spectra; a
        larger ``n_iter`` brings it closer).  The error indicator is exact but suffers
        cancellation, so it is trusted only with ``10 eps ||A||_F^2`` to spare, and
        tolerances below about ``4.5 sqrt(eps)`` of the dtype (6.7e-8 in float64, 1.5e-3 in
        float32) cannot be certified: the search then stops at what it resolves, with an
        :class:`AccuracyWarning` unless the rank reached ``min(m, n)`` (an exact
        factorization).  ``oversample`` is for fixed-rank mode and refused here.  Needs
        ``||A||_F``, so it is not available for LinearOperator input.  If ``tol`` is not
        reached, an :class:`AccuracyWarning` is issued.
    max_rank : int, optional
        Upper bound on the rank in fixed-precision mode (default ``min(m, n)``).
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Seed of the Gaussian sketch (Philox4x64-10 in the core); the same int seed gives
        the same result.

    Returns
    -------
    U : ndarray, shape (m, r)
        Left singular vectors (orthonormal columns).
    s : ndarray, shape (r,)
        Singular values, descending.
    Vt : ndarray, shape (r, n)
        Right singular vectors (orthonormal rows).  The sign of each triplet is fixed so that
        the largest-magnitude entry of each column of U is positive.

    See Also
    --------
    randomized_svd : scikit-learn's signature.
    svds : SciPy's signature, iterating to a requested accuracy.
    estimate_error : a-posteriori error estimate of the result.

    Examples
    --------
    >>> import numpy as np
    >>> import rankwise
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((300, 20)) @ rng.standard_normal((20, 200))
    >>> U, s, Vt = rankwise.svd(A, 20, random_state=0)
    >>> U.shape, s.shape, Vt.shape
    ((300, 20), (20,), (20, 200))
    >>> bool(np.allclose(U * s @ Vt, A))
    True
    >>> U, s, Vt = rankwise.svd(A, 20, method="block_krylov", n_passes=3, random_state=0)
    >>> bool(np.allclose(U * s @ Vt, A))
    True
    >>> U, s, Vt = rankwise.svd(A, tol=1e-6, random_state=0)  # rank found adaptively
    >>> len(s)
    20
    """
    _check_mode(tol, method, max_rank, oversample)
    if _dask.is_dask_array(A):
        _no_krylov_shape(n_passes, block_size, "dask arrays")
        return _svd_dask(A, k, oversample, n_iter, method, tol, random_state)
    if _gpu.is_device_array(A):
        return _svd_gpu(
            A, k, oversample, n_iter, method, n_passes, block_size, tol, max_rank, random_state
        )
    if method == "single_pass":
        raise ValueError(
            "method='single_pass' is for dask arrays (data read once); in memory, use "
            "'subspace' (or wrap the data as a dask array)"
        )
    mat = as_matrix(A)
    method = check_choice(method, "method", _METHODS)
    q = check_n_iter(n_iter)
    key = philox_key(random_state)
    if tol is None:
        if k is None:
            raise ValueError("k is required unless tol is given")
        k, l, q, passes = _fixed_rank_args(
            k, oversample, q, method, n_passes, block_size, mat.min_dim
        )
        power_ortho = "lu" if method == "subspace" else "cholqr2"  # Krylov blocks: orthonormal
        U, s, Vt, _ = checked_core(
            _core.rsvd,
            A,
            mat,
            k,
            l,
            q,
            method,
            power_ortho,
            "cholqr2",
            "gesdd",
            *key,
            None,
            passes,
        )
    else:
        _no_krylov_shape(n_passes, block_size, "tol")
        U, s, Vt = _fixed_precision(A, mat, k, tol, max_rank, q, key)
    flip_signs(U, Vt)
    return U, s, Vt


def checked_core(fn: Any, A: Any, mat: Any, *args: Any) -> Any:
    """fn(mat.op, *args) (a _core SVD driver returning (U, s, Vt, info)), computed on
    ``A 2^-e`` where A's entries are near the float maximum or the subnormal range
    (python/rankwise/_scale.py: the sketch of entries within ~1000x of the maximum
    overflowed, found by fuzzing), with s scaled back."""
    e = _scale.scale_exponent(mat)
    _, mat = _scale.scaled(A, mat, e)
    U, s, Vt, info = fn(mat.op, *args)
    return U, _scale.unscale_values(s, e), Vt, info


def _fixed_rank_args(
    k: Any,
    oversample: Any,
    q: int | None,
    method: str,
    n_passes: Any,
    block_size: Any,
    min_dim: int,
) -> tuple[int, int, int, int]:
    """Checked (k, l, q, passes) of a fixed-rank call: l is the sketch's columns (block
    Krylov: the block size), passes block Krylov's passes over A (0 for subspace)."""
    k = check_int(k, "k", low=1, high=min_dim)
    p = check_int(oversample, "oversample", low=0)
    if method != "block_krylov":
        _no_krylov_shape(n_passes, block_size, f"method={method!r}")
        q = auto_power_iterations(k, min_dim) if q is None else q
        return k, min(k + p, min_dim), q, 0
    if n_passes is not None and q is not None:
        raise ValueError("give n_iter or n_passes, not both")
    if n_passes is not None:
        passes = check_int(n_passes, "n_passes", low=2)
    else:
        passes = 2 * (auto_krylov_iterations(k, min_dim) if q is None else q) + 2
    b = k + p if block_size is None else check_int(block_size, "block_size", low=1)
    if b * (passes // 2) < k:
        raise ValueError(
            f"the block Krylov space ({passes // 2} blocks of {b} columns for {passes} passes) "
            f"has fewer than k = {k} columns; raise block_size or n_passes"
        )
    if b * ((passes + 1) // 2) > min_dim:
        # The Krylov space does not fit in min(m, n): one block spanning all of it instead
        # (exact factors).  Keeping l = k + p and cutting the depth to fit left 11 of 12
        # dimensions for k = 1 on a 12 x 12 matrix, and the rank-1 factors 3e-4 off
        # (found by fuzzing).
        return k, min_dim, 0, 2
    return k, b, (passes - 2) // 2, passes


def _check_mode(tol: Any, method: Any, max_rank: Any, oversample: Any) -> None:
    """Options that belong to the other mode are refused rather than ignored."""
    if tol is not None and not (
        isinstance(oversample, numbers.Integral) and oversample == _DEFAULT_OVERSAMPLE
    ):
        raise ValueError(
            f"oversample is for fixed-rank mode; tol= grows the basis in blocks of k "
            f"(default {_DEFAULT_BLOCK}) until the error indicator meets tol; got "
            f"oversample={oversample!r}"
        )
    if tol is None and max_rank is not None:
        raise ValueError("max_rank is for fixed-precision mode (tol=...); k is the rank here")
    if tol is not None and method != "subspace":
        raise ValueError(
            f"method={method!r} is for fixed-rank mode; tol= finds the rank by randQB_EI "
            "(power iterations per block: n_iter)"
        )


def _no_krylov_shape(n_passes: Any, block_size: Any, mode: str) -> None:
    if n_passes is not None or block_size is not None:
        raise ValueError(
            f"n_passes and block_size are for method='block_krylov' in fixed-rank mode, "
            f"not for {mode}"
        )


def _rsvd_judged_by_first_product(cuda: Any, mat: Any, args: tuple[Any, ...]) -> Any:
    """rankwise._cuda.rsvd of the unscanned dense ``mat``, judged from its first product
    (cuda/bindings/range_checked_op.hpp); None where A's entries are not finite or not in
    the range taken as it is, or where the singular values are not finite."""
    low, high = _scale.bounds(mat.dtype)
    try:
        out = cuda.rsvd(mat.operand, *args, range_low=low, range_high=high)
    except (cuda.OutOfRange, cuda.CoreError):
        # (CoreError: where the upper bound's 2^-30 chance came true, an unscaled A out of
        # range can end in a LAPACK failure; a genuine error recurs on the scanned call)
        return None
    return out if np.isfinite(out[1]).all() else None


def _svd_gpu(
    A: Any,
    k: Any,
    oversample: Any,
    n_iter: Any,
    method: Any,
    n_passes: Any,
    block_size: Any,
    tol: Any,
    max_rank: Any,
    random_state: RandomStateLike,
) -> tuple[Any, Any, Any]:
    """rankwise.svd of a CuPy array, cupyx sparse matrix or cupyx LinearOperator: the same
    algorithm on the CUDA backend (python/rankwise/_gpu.py), the same sketch for the same
    seed; CuPy out."""
    cuda = _gpu.cuda_module()
    import cupy

    # A dense A at a fixed rank is judged from its first product instead of scanned first
    # (cuda/bindings/range_checked_op.hpp: one read of A less); OutOfRange, or a result that
    # is not finite, sends it through the scan and scaling below.
    deferred = tol is None and isinstance(A, cupy.ndarray)
    mat = _gpu.as_device_matrix(A, scan=False) if deferred else _gpu.as_device_operator(A)
    if 0 in mat.shape:
        raise ValueError(f"A must not be empty; got shape {mat.shape}")
    mat, e = _gpu.within_range(mat)  # as checked_core on the CPU
    method = check_choice(method, "method", _METHODS)
    q = check_n_iter(n_iter)
    key = philox_key(random_state)
    stream = _gpu.current_stream()
    if tol is None:
        if k is None:
            raise ValueError("k is required unless tol is given")
        k, l, q, passes = _fixed_rank_args(
            k, oversample, q, method, n_passes, block_size, mat.min_dim
        )
        # "lu" as on the CPU; the CUDA backend normalizes power steps by one Cholesky QR step
        # (CholeskyQR2 where that step finds the block ill-conditioned: cuda/src/dense.cu).
        power_ortho = "lu" if method == "subspace" else "cholqr2"
        args = (k, l, q, method, power_ortho, *key, stream, passes)
        out = _rsvd_judged_by_first_product(cuda, mat, args) if deferred else None
        if out is None:
            if deferred:  # scanned now: NaN/Inf refused, extreme entries scaled
                del mat  # (its copy of a strided or converted A goes first)
                mat, e = _gpu.within_range(_gpu.as_device_matrix(A))
            out = cuda.rsvd(mat.operand, *args)
    else:
        _no_krylov_shape(n_passes, block_size, "tol")
        if mat.kind == "operator":
            raise ValueError(_OPERATOR_TOL)
        block, max_rank, q = _fixed_precision_args(mat, k, tol, max_rank, q)
        out = cuda.rsvd_fixed_precision(mat.operand, float(tol), block, max_rank, q, *key, stream)
        _warn_unless_converged(out[3], tol, max_rank, len(out[1]), mat.dtype)
    U_buf, s, V_buf, _, (u_shape, vt_shape) = out
    U = _gpu.wrap(U_buf, u_shape, mat.dtype, "F")
    Vt = _gpu.wrap(V_buf, vt_shape, mat.dtype, "C")
    flip_signs(U, Vt)
    return U, cupy.asarray(_scale.unscale_values(s, e)), Vt


def _svd_dask(
    A: Any,
    k: Any,
    oversample: Any,
    n_iter: Any,
    method: Any,
    tol: Any,
    random_state: RandomStateLike,
) -> tuple[Any, np.ndarray, Any]:
    """rankwise.svd of a dask array (python/rankwise/_dask.py says how)."""
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D; got a dask array of shape {A.shape}")
    if any(math.isnan(d) for d in A.shape):
        raise ValueError("A has unknown chunk sizes; call A.compute_chunk_sizes() first")
    m, n = (int(d) for d in A.shape)
    if m == 0 or n == 0:
        raise ValueError(f"A must not be empty; got shape {(m, n)}")
    if np.dtype(A.dtype).kind not in "biuf":
        raise TypeError(f"A must be a real numeric dask array; got dtype {A.dtype}")
    A = _dask.without_empty_chunks(A)
    if method not in ("subspace", "single_pass") or tol is not None:
        raise ValueError(
            "dask arrays support the fixed-rank methods 'subspace' and 'single_pass' (tol=None)"
        )
    if k is None:
        raise ValueError("k is required")
    min_dim = min(m, n)
    k = check_int(k, "k", low=1, high=min_dim)
    p = check_int(oversample, "oversample", low=0)
    q = check_n_iter(n_iter)
    key = philox_key(random_state)
    l = min(k + p, min_dim)
    if method == "single_pass":
        if q not in (None, 0):
            raise ValueError("method='single_pass' reads A once: n_iter must be 0 or 'auto'")

        def run(B: Any) -> tuple[Any, np.ndarray, Any]:
            return _dask.svd_single_pass(B, k, l, key)

    else:
        q = auto_power_iterations(k, min_dim) if q is None else q

        def run(B: Any) -> tuple[Any, np.ndarray, Any]:
            return _dask.svd(B, k, l, q, key)

    (U, s, Vt), e = _scale.run_dask_scaled(
        run, A, zero=lambda: _dask.zero_svd(A, k, work_dtype(A.dtype, "A"))
    )
    s = _scale.unscale_values(s, e)
    if _gpu.is_device_array(A._meta):  # CuPy chunks: the small factors as CuPy arrays too
        import cupy

        s = cupy.asarray(s)
        U, Vt = (cupy.asarray(x) if isinstance(x, np.ndarray) else x for x in (U, Vt))
    return U, s, Vt


_OPERATOR_TOL = (
    "tol= needs ||A||_F, which a LinearOperator does not provide; pass k (fixed rank) instead"
)


def _fixed_precision(
    A: Any, mat: Any, k: int | None, tol: Any, max_rank: Any, q: int | None, key: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number in (0, 1); got {tol!r}")
    if mat.kind == "operator":
        raise ValueError(_OPERATOR_TOL)
    # (||A||_F is taken from mat's stored values: as_matrix summed any duplicates of a
    # sparse A in a copy of its own)
    block, max_rank, q = _fixed_precision_args(mat, k, tol, max_rank, q)
    # ||A||_F^2 (summed in float64) overflows from max |a_ij| ~ 1e154 on: checked_core
    # scales A by a power of two there, and the relative error is the same.
    U, s, Vt, info = checked_core(
        _core.rsvd_fixed_precision, A, mat, float(tol), block, max_rank, q, *key
    )
    _warn_unless_converged(info, tol, max_rank, len(s), mat.dtype)
    return U, s, Vt


def _fixed_precision_args(
    mat: Any, k: int | None, tol: Any, max_rank: Any, q: int | None
) -> tuple[int, int, int]:
    """Checked (block, max_rank, q) of a fixed-precision call."""
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number in (0, 1); got {tol!r}")
    max_rank = mat.min_dim if max_rank is None else max_rank
    max_rank = check_int(max_rank, "max_rank", low=1, high=mat.min_dim)
    block = _DEFAULT_BLOCK if k is None else check_int(k, "k", low=1, high=mat.min_dim)
    return min(block, max_rank), max_rank, 1 if q is None else q


def _warn_unless_converged(
    info: dict[str, Any], tol: float, max_rank: int, rank: int, dtype: Any
) -> None:
    if info["converged"]:
        return
    resolution = math.sqrt(20 * np.finfo(dtype).eps)  # randqb_ei.hpp's floor2 + spare
    if rank < max_rank and tol < resolution:
        why = (
            f"tol is below what the error indicator certifies in {np.dtype(dtype)}, about "
            f"{resolution:.2g}: relative error up to about {info['relative_error']:.3g}"
        )
    else:
        why = f"max_rank={max_rank}: relative error up to {info['relative_error']:.3g}"
    warnings.warn(f"tol={tol} not reached ({why})", AccuracyWarning, stacklevel=4)


def estimate_error(
    A: Any,
    U: Any,
    s: Any,
    Vt: Any,
    *,
    norm: Literal["fro", "2"] = "fro",
    n_probes: SupportsIndex = 10,
    random_state: RandomStateLike = None,
) -> float:
    """Estimate ``||A - U @ diag(s) @ Vt||`` from one pass over A with Gaussian probes.

    With ``E = A - U diag(s) Vt`` and independent Gaussian vectors ``w_i``:

    * ``norm="fro"``: ``sqrt(mean_i ||E w_i||^2)``, whose square is an unbiased estimate of
      ``||E||_F^2`` (relative spread about ``sqrt(2 / n_probes)``);
    * ``norm="2"``: ``10 sqrt(2/pi) max_i ||E w_i||``, an upper bound on ``||E||_2`` that holds
      with probability at least ``1 - 10**-n_probes`` (Halko, Martinsson & Tropp 2011, eq. 4.3).

    Costs one product of A with ``n_probes`` vectors; works for dense, sparse and
    LinearOperator A, so it checks a factorization without forming it.

    Parameters
    ----------
    A : array_like, sparse matrix or LinearOperator, shape (m, n)
        The matrix the factors approximate (real).  Not modified.
    U, s, Vt : array_like, shapes (m, r), (r,), (r, n)
        The factors, as :func:`svd` returns them (real, finite).
    norm : {"fro", "2"}, default "fro"
        Which norm of the error to estimate (see above).
    n_probes : int, default 10
        Number of Gaussian probe vectors.
    random_state : None, int, Generator or RandomState
        Seed of the probes.

    Returns
    -------
    float
        The estimate.

    Examples
    --------
    >>> import numpy as np
    >>> import rankwise
    >>> rng = np.random.default_rng(1)
    >>> A = rng.standard_normal((200, 10)) @ rng.standard_normal((10, 150))
    >>> A += 1e-3 * rng.standard_normal(A.shape)
    >>> U, s, Vt = rankwise.svd(A, 10, random_state=0)
    >>> err = rankwise.estimate_error(A, U, s, Vt, n_probes=20, random_state=0)
    >>> truth = np.linalg.norm(A - U * s @ Vt)
    >>> bool(0.5 < err / truth < 2)
    True
    """
    mat = as_matrix(A)
    check_choice(norm, "norm", ("fro", "2"))
    n_probes = check_int(n_probes, "n_probes", low=1, high=2**62)
    U, s, Vt = (np.asarray(x) for x in (U, s, Vt))
    m, n = mat.shape
    if U.ndim != 2 or s.ndim != 1 or Vt.ndim != 2:
        raise ValueError("U, s and Vt must be 2-D, 1-D and 2-D arrays")
    for name, factor in (("U", U), ("s", s), ("Vt", Vt)):
        if factor.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real array; got dtype {factor.dtype}")
        if not np.isfinite(factor).all():  # a failed factorization is not a perfect fit
            raise ValueError(f"{name} contains NaN or Inf")
    r = s.shape[0]
    if U.shape != (m, r) or Vt.shape != (r, n):
        raise ValueError(
            f"U {U.shape}, s {s.shape} and Vt {Vt.shape} do not factor a {m} x {n} matrix"
        )
    key = philox_key(random_state)
    # Entries near the float maximum or the subnormal range: the residual of A 2^-e and
    # s 2^-e (python/rankwise/_scale.py), scaled back (found by fuzzing: NaN for entries of
    # 1e307, Inf from 1e154 on and 0 below 1e-154, where the squares of the norms overflowed
    # or underflowed).
    e = _scale.scale_exponent(mat)
    _, mat = _scale.scaled(A, mat, e)
    with np.errstate(under="ignore"):
        s_work = np.ldexp(s.astype(mat.dtype), -e)
    norms = np.asarray(
        _core.probe_residual_norms(
            mat.op,
            U.astype(mat.dtype, copy=False),
            s_work,
            Vt.astype(mat.dtype, copy=False),
            n_probes,
            *key,
        ),
        dtype=np.float64,
    )
    top = float(norms.max())
    if norm == "fro":  # sqrt(mean(norms^2)) without squaring large or tiny norms
        est = top * float(np.sqrt(np.mean((norms / top) ** 2))) if 0 < top < math.inf else top
    else:
        est = 10.0 * math.sqrt(2.0 / math.pi) * top
    with np.errstate(over="ignore"):
        return float(np.ldexp(est, e))
