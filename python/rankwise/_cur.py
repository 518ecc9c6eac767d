"""rankwise.cur and rankwise.leverage_scores: CUR decompositions that keep actual rows and
columns of A (dense, scipy.sparse or LinearOperator)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal, SupportsIndex, overload

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from . import _dask, _dask_gpu, _gpu, _scale, _selection
from ._core import serial_blas
from ._cur_core import CoreProduct, cross_core, pinv_core
from ._dispatch import check_compressed
from ._random import RandomStateLike, philox_key
from ._svd import estimate_error, svd
from ._typing import HostMatrix
from ._validate import Matrix, as_matrix, check_choice, check_int, checked_product

_METHODS = ("deim", "qdeim", "rrqr", "maxvol", "leverage", "pivotal", "uniform")
_CORES = ("pinv", "cross", "stabilized")
_SCORE_METHODS = ("exact", "sketch")

REFINE_N_ITER = 2
"""Power iterations of the rank-2(k + p) SVD behind refine=True.  Its sketch has about
twice the columns of the rank-k one, and the surrogate it gives needs no more: with 2
iterations (6 passes over A instead of the 16 of rankwise.svd's default at rank k) the
refined errors on the bench's 4000 x 2000 matrices at k = 50 equal those with 7 to 3
digits (fast decay 1.553 and 1.553, slow decay 1.614 and 1.612, coherent 1.054 and 1.054;
1 iteration: 1.553, 1.626, 1.054), at about half the time."""

Method = Literal["deim", "qdeim", "rrqr", "maxvol", "leverage", "pivotal", "uniform"]
Core = Literal["pinv", "cross", "stabilized"]


@dataclass(frozen=True, eq=False)
class CURDecomposition:
    """``A ~ C @ U @ R`` with ``C = A[:, cols]`` and ``R = A[rows, :]``.

    ``@``, ``to_dense()`` and ``estimate_error`` evaluate ``C U R`` through an equivalent
    product with an orthonormal factor (Park & Nakatsukasa 2024: ``Q (Q[rows, :])^+ R`` with
    ``C = Q T``; for the pinv core ``Qc (Qc^T A Qr) Qr^T``), which keeps the accuracy that
    the selection allows.  Forming ``C @ U @ R`` from the attributes as written loses
    accuracy to rounding when C or R is ill-conditioned (singular values of A decaying below
    ``sqrt(eps) sigma_1`` within the selected rank): U then has entries of size
    ``1 / sigma_min(C)`` and the products cancel.

    Attributes
    ----------
    C : ndarray or scipy.sparse matrix, shape (m, len(cols))
        Selected columns of A (sparse, in A's sparse type, when A is sparse).
    U : ndarray, shape (len(cols), len(rows))
        Core matrix.
    R : ndarray or scipy.sparse matrix, shape (len(rows), n)
        Selected rows of A.
    rows, cols : ndarray of int64
        Indices of the selected rows and columns of A, in selection order.
    product : CoreProduct or None
        ``C U R`` as ``product.left @ product.middle @ product.right`` in the stable form
        that ``@``, ``to_dense()`` and ``estimate_error`` use (None: as written).
    """

    # numpy defers ``x @ decomposition`` to __rmatmul__ instead of making an object array
    __array_ufunc__: ClassVar[None] = None

    C: Any
    U: np.ndarray
    R: Any
    rows: np.ndarray
    cols: np.ndarray
    product: CoreProduct | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.C.shape[0], self.R.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.U.dtype

    def _factors(self) -> tuple[Any, np.ndarray, Any]:
        if self.product is None:
            return self.C, self.U, self.R
        return self.product.left, self.product.middle, self.product.right

    @cached_property
    def _scaled_factors(self) -> tuple[Any, np.ndarray, Any, int]:
        """(left, middle, right, e): the factors of ``C U R`` each scaled by a power of two
        into [0.5, 1) where its entries lie outside the range of _scale.exponent_for, and
        ``C U R = left @ middle @ right * 2^e``.  The product of factors with entries near
        the float maximum overflows in its partial sums although C U R, like A, is
        representable (C of 1.26e308 times a core of 1.7 gave Inf); otherwise e = 0 and the
        factors are the stored ones."""
        factors = self._factors()
        exponents = [_factor_exponent(f) for f in factors]
        left, middle, right = (
            _ldexp_factor(f, -e) for f, e in zip(factors, exponents, strict=True)
        )
        return left, middle, right, sum(exponents)

    def __matmul__(self, x: Any) -> np.ndarray:
        """``(C U R) @ x`` for a vector or matrix x (a scipy.sparse x is densified: the
        product is dense), without forming C U R."""
        x = _dense_operand(x)
        if x.ndim not in (1, 2) or x.shape[0] != self.shape[1]:
            raise ValueError(f"x must have {self.shape[1]} rows; got shape {x.shape}")
        left, middle, right, e = self._scaled_factors
        return _ldexp_result(left @ (middle @ (right @ x)), e)

    def __rmatmul__(self, x: Any) -> np.ndarray:
        """``x @ (C U R)`` for a vector or matrix x (densified as in ``@``)."""
        x = _dense_operand(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.shape[0]:
            raise ValueError(f"x must have {self.shape[0]} columns; got shape {x.shape}")
        left, middle, right, e = self._scaled_factors
        return _ldexp_result(((x @ left) @ middle) @ right, e)

    def _outer_factors(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(left @ middle, right, e) as dense arrays, ``C U R = left @ middle @ right 2^e``."""
        left, middle, right, e = self._scaled_factors
        right = right.toarray() if sp.issparse(right) else np.asarray(right)
        return np.asarray(left @ middle), right, e

    def to_dense(self) -> np.ndarray:
        """The m x n matrix ``C U R`` as a dense array."""
        left, right, e = self._outer_factors()
        return _ldexp_result(left @ right, e)

    def estimate_error(
        self,
        A: Any,
        *,
        norm: Literal["fro", "2"] = "fro",
        n_probes: SupportsIndex = 10,
        random_state: RandomStateLike = None,
    ) -> float:
        """Estimate ``||A - C U R||`` from one product of A with ``n_probes`` Gaussian
        vectors (see :func:`rankwise.estimate_error` for the two norms)."""
        shape, given = (self.C.shape[0], self.R.shape[1]), tuple(np.shape(A))
        if given != shape:
            raise ValueError(f"A must have the shape of the decomposition, {shape}; got {given}")
        left, right, e = self._outer_factors()
        # C U R = left diag(2^e) right, with the part of 2^e that is not representable as a
        # float moved into left (whose entries are below 1 in size: they stay finite)
        info = np.finfo(left.dtype)
        e_s = min(max(e, int(info.minexp)), int(info.maxexp) - 1)
        scale = np.full(left.shape[1], math.ldexp(1.0, e_s), dtype=left.dtype)
        return estimate_error(
            A,
            _ldexp_result(left, e - e_s),
            scale,
            right,
            norm=norm,
            n_probes=n_probes,
            random_state=random_state,
        )


def _factor_exponent(X: Any) -> int:
    """:func:`rankwise._scale.exponent_for` of a dense or scipy.sparse factor's largest
    entry; 0 for other factors (a dask factor's maximum would cost a pass over it)."""
    if sp.issparse(X):
        data = X.data
    elif isinstance(X, np.ndarray):
        data = X
    else:
        return 0
    if data.size == 0:
        return 0
    amax = max(abs(float(data.max())), abs(float(data.min())))
    return _scale.exponent_for(amax, data.dtype)


def _ldexp_factor(X: Any, e: int) -> Any:
    """``X 2^e`` as a new dense array or scipy.sparse matrix; X itself for e = 0."""
    if e == 0:
        return X
    if sp.issparse(X):
        out = X.copy()
        out.data = np.ldexp(out.data, e)
        return out
    return np.ldexp(X, e)


def _ldexp_result(y: Any, e: int) -> np.ndarray:
    """``y 2^e`` as an ndarray (Inf, with numpy's overflow warning, where it exceeds the
    float range)."""
    y = np.asarray(y)
    return y if e == 0 else np.ldexp(y, e)


def _dense_operand(x: Any) -> np.ndarray:
    """x of ``d @ x`` or ``x @ d`` as a dense array: a scipy.sparse x (whose np.asarray is a
    0-d object array) densified, its structure checked first (:func:`check_compressed`)."""
    if sp.issparse(x):
        check_compressed(x, "x")
        return x.toarray()
    return np.asarray(x)


def _generator(random_state: RandomStateLike) -> np.random.Generator:
    """A numpy Generator on the Philox key that ``random_state`` gives (same seed, same
    draws); it feeds both the SVD sketch and the sampling methods."""
    k0, k1 = philox_key(random_state)
    return np.random.Generator(np.random.Philox(key=k0 | (k1 << 64)))


def _check_oversample(oversample: Any) -> tuple[int, int]:
    """int p (rows and columns) or a pair (p_rows, p_cols), each >= 0."""
    if isinstance(oversample, tuple | list):
        if len(oversample) != 2:
            raise ValueError(
                f"oversample must be an int or a pair (rows, cols); got {oversample!r}"
            )
        return (
            check_int(oversample[0], "oversample[0]", low=0),
            check_int(oversample[1], "oversample[1]", low=0),
        )
    p = check_int(oversample, "oversample", low=0)
    return p, p


def _check_weight(w: Any, length: int, name: str, dtype: np.dtype) -> np.ndarray | None:
    if w is None:
        return None
    a = _dask_gpu.to_host(w)  # (CuPy weights too)
    if a.ndim != 1 or a.shape[0] != length:
        raise ValueError(f"{name} must be a 1-D array of length {length}; got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real; got dtype {a.dtype}")
    a = a.astype(dtype)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or Inf")
    if (a < 0).any():
        raise ValueError(f"{name} must be non-negative")
    if not (a > 0).any():
        raise ValueError(f"{name} must have a positive entry")
    return a


def _check_weights(weights: Any, shape: tuple[int, int], dtype: np.dtype) -> tuple[Any, Any]:
    if weights is None:
        return None, None
    if not isinstance(weights, tuple | list) or len(weights) != 2:
        raise ValueError("weights must be a pair (row_weights, col_weights), either may be None")
    return (
        _check_weight(weights[0], shape[0], "weights[0] (row weights)", dtype),
        _check_weight(weights[1], shape[1], "weights[1] (column weights)", dtype),
    )


def _check_indices(idx: Any, length: int, name: str) -> np.ndarray:
    a = _dask_gpu.to_host(idx)  # (CuPy indices too)
    if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a non-empty 1-D array of integer indices")
    a = a.astype(np.int64)
    if (a < 0).any() or (a >= length).any():
        raise ValueError(f"{name} must lie in [0, {length}); got {a.min()}..{a.max()}")
    if np.unique(a).size != a.size:
        raise ValueError(f"{name} must not repeat an index")
    return a


def _scaled(A: Any, mat: Matrix, rw: Any, cw: Any) -> Any:
    """diag(rw) A diag(cw), the matrix on which the selection runs (A itself otherwise)."""
    if rw is None and cw is None:
        return A
    m, n = mat.shape
    r = np.ones(m, dtype=mat.dtype) if rw is None else rw
    c = np.ones(n, dtype=mat.dtype) if cw is None else cw
    if mat.kind == "dense":
        return np.asarray(A, dtype=mat.dtype) * r[:, None] * c[None, :]
    if mat.kind == "sparse":
        return (sp.diags_array(r) @ sp.csr_array(A, dtype=mat.dtype) @ sp.diags_array(c)).tocsr()
    lo = aslinearoperator(A)
    return LinearOperator(
        (m, n),
        matvec=lambda x: r * lo.matvec(c * np.ravel(x)),
        rmatvec=lambda y: c * lo.rmatvec(r * np.ravel(y)),
        matmat=lambda X: r[:, None] * lo.matmat(c[:, None] * X),
        rmatmat=lambda Y: c[:, None] * lo.rmatmat(r[:, None] * Y),
        dtype=mat.dtype,
    )


def _columns(A: Any, mat: Matrix, cols: np.ndarray) -> Any:
    """A[:, cols]: dense, sparse (A's sparse type) or from the operator's matmat."""
    if mat.kind == "dense":
        return np.asarray(np.asarray(A)[:, cols], dtype=mat.dtype)
    if mat.kind == "sparse":
        C = A.tocsc()[:, cols] if A.format not in ("csr", "csc") else A[:, cols]
        return C.astype(mat.dtype, copy=False)
    E = np.zeros((mat.shape[1], cols.size), dtype=mat.dtype)
    E[cols, np.arange(cols.size)] = 1
    return np.asarray(checked_product(aslinearoperator(A), "matmat", "A")(E), dtype=mat.dtype)


def _rows(A: Any, mat: Matrix, rows: np.ndarray) -> Any:
    """A[rows, :], as :func:`_columns`."""
    if mat.kind == "dense":
        return np.asarray(np.asarray(A)[rows, :], dtype=mat.dtype)
    if mat.kind == "sparse":
        R = A.tocsr()[rows, :] if A.format not in ("csr", "csc") else A[rows, :]
        return R.astype(mat.dtype, copy=False)
    E = np.zeros((mat.shape[0], rows.size), dtype=mat.dtype)
    E[rows, np.arange(rows.size)] = 1
    R = checked_product(aslinearoperator(A), "rmatmat", "A")(E)
    return np.ascontiguousarray(np.asarray(R, dtype=mat.dtype).T)


def _core(
    core: str, A: Any, mat: Matrix, C: Any, R: Any, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, CoreProduct]:
    if core == "pinv":
        return _finite_core(lambda: pinv_core(A, mat, C, R))
    return _finite_core(lambda: cross_core(C, R, rows, cols, truncate=core == "stabilized"))


def _finite_core(
    compute: Callable[[], tuple[np.ndarray, CoreProduct]],
) -> tuple[np.ndarray, CoreProduct]:
    """compute() -> (U, product), refused where U overflows: U scales like 1 / |A|, which
    for entries near the subnormal range is not representable."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        U, product = compute()
    _check_core(U)
    return U, product


def _check_core(U: np.ndarray) -> None:
    if not np.isfinite(U).all():
        raise ValueError(
            "the core matrix U overflows: its entries scale like 1 / |A|, and A's entries are "
            "too close to the smallest normal number for 1 / |A| to be representable; "
            "decompose A times a power of two 2**j instead (its U is 2**-j times A's)"
        )


def _unscaled_core(
    U: np.ndarray, product: CoreProduct, scaled: tuple[Any, Any], C: Any, R: Any, e: int
) -> tuple[np.ndarray, CoreProduct]:
    """The core of A from that of ``A_s = A 2^-e`` (python/rankwise/_scale.py), whose
    columns and rows are ``C_s = C 2^-e`` and ``R_s = R 2^-e``: ``A_s ~ C_s U_s R_s`` gives
    ``A ~ C (U_s 2^-e) R``.  The stable product ``left @ middle @ right ~ A_s`` gives A's by
    putting C (R) back where it has C_s (R_s) as a factor, else ``middle 2^e`` (the pinv
    core's ``Qc^T A_s Qr``)."""
    if e == 0:
        return U, product
    with np.errstate(over="ignore"):
        U = np.ldexp(U, -e)
    _check_core(U)
    C_s, R_s = scaled
    if product.left is C_s:
        product = CoreProduct(C, product.middle, product.right)
    elif product.right is R_s:
        product = CoreProduct(product.left, product.middle, R)
    else:
        middle = _scale.unscale_values(product.middle, e, "the entries of Qc^T A Qr")
        product = CoreProduct(product.left, middle, product.right)
    return U, product


@overload
def cur(
    A: HostMatrix,
    k: SupportsIndex,
    *,
    rows: Any = ...,
    cols: Any = ...,
    method: Method = ...,
    core: Core = ...,
    oversample: SupportsIndex | tuple[SupportsIndex, SupportsIndex] = ...,
    weights: tuple[Any, Any] | None = ...,
    refine: bool = ...,
    random_state: RandomStateLike = ...,
) -> CURDecomposition: ...


@overload
def cur(
    A: Any,
    k: SupportsIndex,
    *,
    rows: Any = ...,
    cols: Any = ...,
    method: Method = ...,
    core: Core = ...,
    oversample: SupportsIndex | tuple[SupportsIndex, SupportsIndex] = ...,
    weights: tuple[Any, Any] | None = ...,
    refine: bool = ...,
    random_state: RandomStateLike = ...,
) -> Any: ...


def cur(
    A: Any,
    k: SupportsIndex,
    *,
    rows: Any = None,
    cols: Any = None,
    method: Method = "deim",
    core: Core = "stabilized",
    oversample: SupportsIndex | tuple[SupportsIndex, SupportsIndex] = 0,
    weights: tuple[Any, Any] | None = None,
    refine: bool = False,
    random_state: RandomStateLike = None,
) -> Any:
    """CUR decomposition ``A ~ C @ U @ R`` with ``C = A[:, cols]`` and ``R = A[rows, :]``.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix or array, or LinearOperator, shape (m, n)
        Real matrix (float32 and float64 are kept; integers and bools become float64).
        Sparse A gives sparse C and R (A's CSR or CSC format, other formats CSC C and CSR R;
        a sparse array stays an array, a matrix a matrix) and is never densified; a LinearOperator
        gives C and R from ``matmat`` / ``rmatmat`` with columns of the identity.  A is never
        modified.  Where max |a_ij| is near the float maximum or the subnormal range, the
        selection and the core are computed on A scaled by a power of two (U is scaled
        back); U ~ 1 / |A| of entries near the subnormal range is not representable, which
        is a ValueError.  A tall dask array (m >= n) gives the same rows and columns as
        the in-memory ``cur`` of A for the same seed, with every option (``weights``: the
        weighted matrix is a lazy dask expression; every method and ``refine``: the rows
        are chosen by kernels that work over the row blocks of U and never gather it), and
        C as a dask array; a wide one (chunked along its columns) is worked on through A.T
        and gives R as a dask array and the result of the in-memory ``cur`` of A.T (not of
        A: the randomized methods draw for A.T) with rows and columns (and the pairs
        ``oversample`` and ``weights``) swapped; with CuPy chunks the dask factor is
        CuPy-backed and the small ones CuPy arrays; scipy.sparse chunks are refused (a
        TypeError: pass one scipy.sparse matrix, or dense chunks).  On a dask array the
        "cross" and "stabilized" cores need at least as many columns as rows selected
        (tall A; the reverse for wide A), so that the large factor is never
        orthogonalized: oversample the rows there with core="pinv" (a ValueError says
        so).  A CuPy array or
        cupyx.scipy.sparse matrix runs on the GPU with every option and gives the same
        rows and columns for the same seed, C, U, R on the device (a
        ``DeviceCURDecomposition``).
    k : int
        Target rank, ``1 <= k`` and ``k + oversample <= min(m, n)``.
    rows, cols : array of int, optional
        Use these rows (columns) instead of selecting them; distinct, within range.
    method : {"deim", "qdeim", "rrqr", "maxvol", "leverage", "pivotal", "uniform"}, default "deim"
        How rows and columns are chosen from the leading singular vectors (computed by
        :func:`rankwise.svd`):

        * "deim": discrete empirical interpolation (Sorensen & Embree 2016) on U and V;
          deterministic, ``||A - CUR|| <= (eta_p + eta_q) sigma_{k+1}`` for the pinv core.
        * "qdeim": column-pivoted QR of U^T and V^T (Drmac & Gugercin 2016); a better
          worst-case bound than DEIM, similar in practice.
        * "rrqr": strong rank-revealing QR of U^T and V^T (Gu & Eisenstat 1996, f = 2):
          Q-DEIM's pivots, then exchanges until every interpolation coefficient is at most
          2 in magnitude; guarantees ``eta <= sqrt(1 + 4 k (n - k))``.
        * "maxvol": DEIM start, then row exchanges that increase ``|det|`` of the selected
          block until ``|U U[p]^{-1}| <= 1.05`` (Goreinov et al. 2010).
        * "leverage": sampling without replacement with probability proportional to the
          rank-k leverage scores (Mahoney & Drineas 2009).
        * "pivotal": pivotal (dependent) sampling with inclusion probabilities from the
          leverage scores, the duels run bottom-up over a binary tree of the rows of the
          singular vectors split at the median along their principal direction (Shimizu,
          Cheng, Musco & Weare 2024), so that the sample is spread over the row space
          (in index order where only scores are known: sketched scores or weights).
        * "uniform": uniform sampling, the baseline; it fails on coherent matrices.
    core : {"stabilized", "pinv", "cross"}, default "stabilized"
        * "pinv": ``U = C^+ A R^+``, the best core for the chosen C and R (one more product
          with A; for sparse A only with ``A[S, T]``, S the nonzero rows of C and T the
          nonzero columns of R); the most accurate, for any selection.  Evaluated as the
          projection ``Qc (Qc^T A Qr) Qr^T`` (thin QRs ``C = Qc Tc``, ``R^T = Qr Tr``).
        * "cross": ``U = A[rows, cols]^{-1}``: needs only the intersection; square and
          nonsingular to working precision, else ValueError.  Evaluated in the stable
          form of "stabilized" without the truncation.
        * "stabilized": ``U = A[rows, cols]^+_eps``, the stabilized cross approximation of
          Park & Nakatsukasa (2024): as cheap as "cross" (no further product with A), for
          any counts of rows and columns.  The decomposition's products are evaluated in
          their stable form ``Q (Q[rows, :])^+_eps R`` with ``C = Q T`` a thin QR (with
          more columns than rows, the same on R^T's side), where singular values of
          ``Q[rows, :]`` below ``eps max(|I|, |J|)`` are dropped: rounding is not
          amplified by the conditioning of C or of the intersection.  With oversampled
          rows (or columns) as accurate as "pinv" to within a small factor, also where
          the singular values of A fall below working precision within the rank (2000 x
          600, ``sigma_j = exp(-j/2)``, k = 50-150, 20% more rows: pinv 3-7x,
          stabilized 4-17x the optimal error plus ``eps ||A||_F``, in float64 and
          float32, against 10^5-10^13 for ``C @ U @ R`` formed from the attributes);
          without oversampling up to ~100x there, and where A[rows, cols] is nearly
          singular, worse than no approximation (30 x 20 of rank 3 at k = 2: an error of
          1.85 ||A||_F where "pinv" has 0.59 and one oversampled row 0.47; random
          selections exceed ||A||_F often).  Recommended when A is expensive to apply,
          with ``oversample=(p, 0)`` (in memory; see above for dask arrays); otherwise
          "pinv" is the safe choice.
    oversample : int or (int, int), default 0
        Extra rows and columns beyond k (or ``(p_rows, p_cols)``).  Deterministic methods
        then select on ``k + p`` singular vectors; sampling methods draw ``k + p`` indices
        from the rank-k scores.
    weights : (row_weights, col_weights), optional
        Non-negative weights (either may be None): the selection runs on
        ``diag(row_weights) A diag(col_weights)`` (e.g. activation norms of a layer's inputs,
        as in "CURing Large Models", 2025), while C, U and R are factors of A itself.
    refine : bool, default False
        Improve the rows and columns ``method`` selected by single exchanges (local search):
        repeatedly swap one selected column (row) for the unselected one that most lowers
        ``||B - C_B C_B^+ B||_F`` on the rank-2k surrogate ``B = U_2k S_2k V_2k^T`` of A
        (from :func:`rankwise.svd` at rank ``2 (k + oversample)`` with 2 power iterations
        instead of rank ``k + oversample`` with 7), until no swap helps or
        ``2 (k + oversample)`` swaps were made per side; the objective never increases.
        This is what brings the ``pinv`` core within 2x of the optimal rank-k error where
        DEIM and Q-DEIM are not (fast spectral decay: 4000 x 2000, ``sigma_j = exp(-j/5)``,
        k = 50: Q-DEIM 2.26x, refined 1.55x).  Cost: that SVD (a sketch twice as wide,
        6 passes over A instead of 16: about 0.7x the rank-k one) plus O(k^2 (m + n))
        flops per full candidate search on the surrogate only (A is not touched).
        Starts from any method's indices; where they are dependent on the surrogate
        (samples that hit empty columns, or k above A's rank), the dependent ones are first
        replaced, one at a time, by the row or column that lowers that error most.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Seed of the SVD sketch and of the sampling methods.

    Returns
    -------
    CURDecomposition
        ``C``, ``U``, ``R``, ``rows``, ``cols``; ``@`` with vectors and matrices,
        ``to_dense()`` and ``estimate_error(A)``.

    See Also
    --------
    leverage_scores : the scores the sampling methods use.
    svd : the randomized SVD whose singular vectors the selection uses.

    Examples
    --------
    >>> import numpy as np
    >>> import rankwise
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((300, 12)) @ rng.standard_normal((12, 200))
    >>> d = rankwise.cur(A, 12, random_state=0)
    >>> d.C.shape, d.U.shape, d.R.shape
    ((300, 12), (12, 12), (12, 200))
    >>> bool(np.allclose(d.C, A[:, d.cols]) and np.allclose(d.to_dense(), A))
    True
    >>> x = rng.standard_normal(200)
    >>> bool(np.allclose(d @ x, A @ x))
    True
    """
    if _dask.is_dask_array(A):
        return _cur_dask(A, k, rows, cols, method, core, oversample, weights, refine, random_state)
    if _gpu.is_device_array(A):  # CuPy: on the GPU (python/rankwise/_cur_gpu.py)
        from ._cur_gpu import cur_gpu

        return cur_gpu(  # type: ignore[return-value]
            A, k, rows, cols, method, core, oversample, weights, refine, random_state
        )
    mat = as_matrix(A)
    m, n = mat.shape
    method = check_choice(method, "method", _METHODS)
    core = check_choice(core, "core", _CORES)
    p_rows, p_cols = _check_oversample(oversample)
    k = check_int(k, "k", low=1, high=mat.min_dim)
    for p, side in ((p_rows, "rows"), (p_cols, "columns")):
        if k + p > mat.min_dim:
            raise ValueError(
                f"k + oversample ({side}) = {k + p} exceeds min(m, n) = {mat.min_dim}"
            )
    if not isinstance(refine, bool | np.bool_):
        raise TypeError(f"refine must be True or False; got {refine!r}")
    rw, cw = _check_weights(weights, mat.shape, mat.dtype)
    I = None if rows is None else _check_indices(rows, m, "rows")
    J = None if cols is None else _check_indices(cols, n, "cols")
    gen = _generator(random_state)
    # Entries near the float maximum or the subnormal range: select and form the core on
    # A_s = A 2^-e (python/rankwise/_scale.py), C and R are A's own columns and rows.
    e = _scale.scale_exponent(mat)
    A_s, mat_s = _scale.scaled(A, mat, e)

    # The BLAS on one thread throughout (not around a LinearOperator: its products are the
    # user's code): the QRs and products of C and R between the native calls would otherwise
    # leave OpenBLAS's threads spinning on the cores the next native call needs (1000 x 500,
    # k = 20, repeated calls: 48 ms against 12 ms; the SVD alone takes 11).
    with serial_blas() if mat.kind != "operator" else contextlib.nullcontext():
        if I is None or J is None:
            S = _scaled(A_s, mat_s, rw, cw)
            I_new, J_new = _select(
                S,
                method,
                k,
                p_rows,
                p_cols,
                mat_s.shape,
                gen,
                bool(refine),
                rows_given=I is not None,
            )
            I = I_new if I is None else I
            J = J_new if J is None else J

        C = _columns(A, mat, J)
        R = _rows(A, mat, I)
        C_s, R_s = (C, R) if e == 0 else (_columns(A_s, mat_s, J), _rows(A_s, mat_s, I))
        U, product = _core(core, A_s, mat_s, C_s, R_s, I, J)
        U, product = _unscaled_core(U, product, (C_s, R_s), C, R, e)
    return CURDecomposition(
        C=C, U=U.astype(mat.dtype, copy=False), R=R, rows=I, cols=J, product=product
    )


def _cur_dask(
    A: Any,
    k: Any,
    rows: Any,
    cols: Any,
    method: Any,
    core: Any,
    oversample: Any,
    weights: Any,
    refine: Any,
    random_state: RandomStateLike,
) -> CURDecomposition:
    """rankwise.cur of a dask array: the arguments checked as in memory, then
    :func:`_cur_dask_tall` of A, or of A^T with the roles of rows and columns swapped when A
    is wide (m < n), transposed back."""
    if A.ndim != 2 or any(math.isnan(d) for d in A.shape):
        raise ValueError("A must be a 2-D dask array with known chunk sizes")
    m, n = (int(d) for d in A.shape)
    A = _dask.without_empty_chunks(A)
    if np.dtype(A.dtype).kind not in "biuf":
        raise TypeError(f"A must be a real numeric dask array; got dtype {A.dtype}")
    _dask.check_dense_chunks(A)  # (also where rows and cols are given: no selection runs)
    wide = m < n
    if wide and A.numblocks[0] > 1 and A.numblocks[1] == 1:
        raise ValueError(
            f"A is wide ({m} x {n}) and chunked along its rows only: it is worked on through "
            "A.T, whose row blocks are A's column blocks, so A.T would be one block on one "
            "worker; chunk A along its columns instead, e.g. A.rechunk({0: -1, 1: c})"
        )
    method = check_choice(method, "method", _METHODS)
    core = check_choice(core, "core", _CORES)
    dtype = np.dtype(np.float32) if A.dtype == np.float32 else np.dtype(np.float64)
    if A.dtype != dtype:  # integers and bools become float64, as in memory (a lazy cast)
        A = A.astype(dtype)
    rw, cw = _check_weights(weights, (m, n), dtype)
    p_rows, p_cols = _check_oversample(oversample)
    small = min(m, n)
    k = check_int(k, "k", low=1, high=small)
    for count, side in ((k + p_rows, "rows"), (k + p_cols, "columns")):
        if count > small:
            raise ValueError(f"k + oversample ({side}) = {count} exceeds min(m, n) = {small}")
    given_rows = None if rows is None else _check_indices(rows, m, "rows")
    given_cols = None if cols is None else _check_indices(cols, n, "cols")
    n_rows = k + p_rows if given_rows is None else given_rows.size
    n_cols = k + p_cols if given_cols is None else given_cols.size
    if core != "pinv" and (n_cols > n_rows if wide else n_rows > n_cols):
        many, few = ("columns", "rows") if wide else ("rows", "columns")
        raise ValueError(
            f"core={core!r} with more {many} ({max(n_rows, n_cols)}) than {few} "
            f"({min(n_rows, n_cols)}) would orthogonalize the large dask factor "
            f"({'R' if wide else 'C'}); use core='pinv' (or oversample the {few} as much)"
        )
    if not isinstance(refine, bool | np.bool_):
        raise TypeError(f"refine must be True or False; got {refine!r}")
    key = philox_key(random_state)
    select = (method, bool(refine))
    if not wide:
        d = _cur_dask_tall(
            A, k, given_rows, given_cols, select, core, (p_rows, p_cols), (rw, cw), key
        )
    else:  # A^T = C' U' R' with C' = A^T[:, rows] = R^T and R' = A^T[cols, :] = C^T
        t = _cur_dask_tall(
            A.T, k, given_cols, given_rows, select, core, (p_cols, p_rows), (cw, rw), key
        )
        product = None
        if t.product is not None:
            product = CoreProduct(
                np.ascontiguousarray(t.product.right.T),
                np.ascontiguousarray(t.product.middle.T),
                t.product.left.T,
            )
        d = CURDecomposition(
            C=np.ascontiguousarray(t.R.T),
            U=np.ascontiguousarray(t.U.T),
            R=t.C.T,
            rows=t.cols,
            cols=t.rows,
            product=product,
        )
    if _gpu.is_device_array(A._meta):  # CuPy chunks: the small factors on the device too
        from ._cur_gpu import on_device

        return on_device(d)  # type: ignore[return-value]
    return d


def _cur_dask_tall(
    A: Any,
    k: int,
    given_rows: np.ndarray | None,
    given_cols: np.ndarray | None,
    select: tuple[str, bool],
    core: str,
    oversample: tuple[int, int],
    weights: tuple[np.ndarray | None, np.ndarray | None],
    key: tuple[int, int],
) -> CURDecomposition:
    """rankwise.cur of a tall dask array (arguments checked): the in-memory algorithm
    (:func:`_select`) with the same seed, so the same rows and columns: the singular vectors
    from the dask graph of rankwise.svd; the columns selected in memory (V is n x r); the
    rows by the distributed kernels of :data:`_DASK_ROWS` (m numbers reach the client, never
    U); C returned as a dask array.  With CuPy chunks C (and the pinv core's Qc) stay on the
    devices; U's blocks are copied to the host where they lie for the row kernels, and R,
    V and the small factors are host arrays here (the caller makes them CuPy)."""
    m, n = (int(d) for d in A.shape)
    p_rows, p_cols = oversample
    rw, cw = weights
    method, refine = select

    def run(B: Any) -> tuple[np.ndarray, np.ndarray, Any, np.ndarray, np.ndarray, CoreProduct]:
        gen = np.random.Generator(np.random.Philox(key=key[0] | (key[1] << 64)))
        I, J = given_rows, given_cols
        if I is None or J is None:
            I_new, J_new = _select(
                _dask.scaled_rows_columns(B, rw, cw),
                method,
                k,
                p_rows,
                p_cols,
                (m, n),
                gen,
                refine,
                row_kernels=_DASK_ROWS,
                col_kernels=_HOST_COPY,
                rows_given=I is not None,
            )
            I = I_new if I is None else I
            J = J_new if J is None else J
        C = B[:, J]
        R = _dask_gpu.to_host(B[I].compute())

        def compute() -> tuple[np.ndarray, CoreProduct]:
            if core == "pinv":
                Ucore, Qc, middle, Qr = _dask.cur_pinv_core(B, J, R)
                return Ucore, CoreProduct(Qc, middle.astype(R.dtype, copy=False), Qr.T)
            # no more rows than columns: cross_core orthogonalizes R^T (small, in memory),
            # and the stable product C (Q[J, :]^T)^+ Q^T keeps the dask C as its left factor
            return cross_core(C, R, I, J, truncate=core == "stabilized", side="R")

        return (I, J, C, R, *_finite_core(compute))

    # Entries near the float maximum or the subnormal range make the CholeskyQR steps fail:
    # then all of it again on A 2^-e (python/rankwise/_scale.py), C and R from A itself.
    (I, J, C, R, Ucore, product), e = _scale.run_dask_scaled(run, A)
    if e:
        C_s, R_s = C, R
        C, R = A[:, J], _dask_gpu.to_host(A[I].compute())
        Ucore, product = _unscaled_core(Ucore, product, (C_s, R_s), C, R, e)
    dtype = R.dtype
    return CURDecomposition(
        C=C, U=Ucore.astype(dtype, copy=False), R=R, rows=I, cols=J, product=product
    )


@dataclass(frozen=True)
class RowKernels:
    """What :func:`_select` does on one side of S, with that side's factor of its SVD (U,
    m x r, for the rows; V for the columns): the in-memory kernels (:data:`IN_MEMORY_ROWS`),
    the distributed ones of python/rankwise/_dask.py for a dask array's U, which is never in
    one place, or the GPU's for CuPy factors (python/rankwise/_cur_gpu.py).  Everything else
    (the SVD, which dispatches on the array type; the draws of gen, in the same order) is
    the same code for all, so the same seed gives the same rows and columns."""

    select: Callable[[str, Any], np.ndarray]
    """(deterministic method, U with ``count`` columns) -> ``count`` rows."""
    leverage: Callable[[Any], np.ndarray]
    """U -> its squared row norms (the rows' leverage scores), m numbers."""
    refine: Callable[[Any, np.ndarray, np.ndarray], np.ndarray]
    """(U, s, start rows) -> the rows improved by :func:`_selection.swap_refine`."""


_DETERMINISTIC_SELECT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "deim": _selection.deim,
    "qdeim": _selection.qdeim,
    "maxvol": _selection.maxvol,
    "rrqr": _selection.rrqr,
}


def _refine_in_memory(V: np.ndarray, s: np.ndarray, start: np.ndarray) -> np.ndarray:
    return _selection.swap_refine(V, s, start)[0]


IN_MEMORY_ROWS = RowKernels(
    select=lambda method, U: _DETERMINISTIC_SELECT[method](U),
    leverage=_selection.leverage_from_basis,
    refine=_refine_in_memory,
)


def _dask_select(method: str, U: Any) -> np.ndarray:
    U = _dask.host_blocks(U)  # (CuPy chunks: each block copied to the host where it is)
    max_swaps = 100 * int(U.shape[1])  # as _selection.maxvol and rrqr
    if method == "deim":
        return _dask.deim_rows(U)
    if method == "qdeim":
        return _dask.qdeim_rows(U)
    if method == "maxvol":
        return _dask.maxvol_rows(U, _dask.deim_rows(U), _selection.MAXVOL_TOL, max_swaps)
    if method == "rrqr":
        return _dask.maxvol_rows(U, _dask.qdeim_rows(U), _selection.RRQR_F - 1.0, max_swaps)
    raise ValueError(f"unknown selection method {method!r}")


_DASK_ROWS = RowKernels(
    select=_dask_select,
    leverage=lambda U: _dask.row_leverage(_dask.host_blocks(U)),
    refine=lambda U, s, start: _dask.swap_refine_rows(
        _dask.host_blocks(U), _dask_gpu.to_host(s), start
    ),
)
"""The rows of a dask array's U (m x r, row blocks), U never in one place: DEIM as Gaussian
elimination over the blocks, Q-DEIM as pivoted Gram-Schmidt over them, maxvol (and strong
RRQR = maxvol from Q-DEIM) by exchanges whose argmax is reduced block by block, leverage
scores reduced block by block, swap refinement with its full searches reduced block by block
(python/rankwise/_dask.py)."""


_HOST_COPY = RowKernels(
    select=lambda method, V: IN_MEMORY_ROWS.select(method, _dask_gpu.to_host(V)),
    leverage=lambda V: _selection.leverage_from_basis(_dask_gpu.to_host(V)),
    refine=lambda V, s, start: _refine_in_memory(
        _dask_gpu.to_host(V), _dask_gpu.to_host(s), start
    ),
)
"""The in-memory kernels on host copies of the factor (a dask array's small V, which is
CuPy for CuPy chunks; a NumPy V is used as it is)."""


def _select(
    S: Any,
    method: str,
    k: int,
    p_rows: int,
    p_cols: int,
    shape: tuple[int, int],
    gen: np.random.Generator,
    refine: bool = False,
    *,
    row_kernels: RowKernels = IN_MEMORY_ROWS,
    col_kernels: RowKernels = IN_MEMORY_ROWS,
    rows_given: bool = False,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Row and column indices of S (A, or its weighted version; m x n = ``shape``) by
    ``method``; with ``refine``, improved by :func:`_selection.swap_refine` on a
    rank-2(k + p) SVD of S.  The rows are computed by ``row_kernels`` on U, the columns by
    ``col_kernels`` on V (the GPU's for CuPy S: python/rankwise/_cur_gpu.py); with
    ``rows_given`` (the caller has its rows) the deterministic ones are not computed at all
    (None), the sampled ones are, since their draws come before the columns'."""
    n_rows, n_cols = k + p_rows, k + p_cols
    m, n = shape
    r = max(n_rows, n_cols)
    factors = None
    rows: np.ndarray | None
    if method == "uniform":
        rows = np.sort(gen.choice(m, size=n_rows, replace=False))
        cols = np.sort(gen.choice(n, size=n_cols, replace=False))
    elif method in _selection.DETERMINISTIC:
        if refine:
            factors = svd(S, min(2 * r, m, n), n_iter=REFINE_N_ITER, random_state=gen)
        else:
            factors = svd(S, r, random_state=gen)
        U, _, Vt = factors
        rows = None if rows_given else row_kernels.select(method, U[:, :n_rows])
        cols = col_kernels.select(method, Vt[:n_cols].T)
    else:
        row_scores, col_scores = _scores(
            S, k, "exact", gen, row_kernels.leverage, col_kernels.leverage
        )
        rows = _selection.select(method, None, n_rows, gen, scores=row_scores)
        cols = _selection.select(method, None, n_cols, gen, scores=col_scores)
    if not refine:
        return rows, cols
    if factors is None:
        factors = svd(S, min(2 * r, m, n), n_iter=REFINE_N_ITER, random_state=gen)
    U, s, Vt = factors
    if rows is not None and not rows_given:
        rows = row_kernels.refine(U, s, rows)
    return rows, col_kernels.refine(Vt.T, s, cols)


def _scores(
    S: Any,
    k: int,
    method: str,
    gen: np.random.Generator,
    row_leverage: Callable[[Any], np.ndarray] = _selection.leverage_from_basis,
    col_leverage: Callable[[Any], np.ndarray] = _selection.leverage_from_basis,
) -> tuple[np.ndarray, np.ndarray]:
    """Rank-k leverage scores of S's rows (by ``row_leverage`` from U) and columns (by
    ``col_leverage`` from V)."""
    if method == "exact":
        U, _, Vt = svd(S, k, random_state=gen)
    else:  # one-pass sketch: the rank-k SVD of Q Q^T A with Q from A Omega (HMT 2011)
        U, _, Vt = svd(S, k, oversample=k, n_iter=0, random_state=gen)
    return row_leverage(U), col_leverage(Vt.T)


def leverage_scores(
    A: Any,
    k: SupportsIndex,
    *,
    method: Literal["exact", "sketch"] = "exact",
    random_state: RandomStateLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rank-k leverage scores of the rows and columns of A.

    The row scores are the squared row norms of the k leading left singular vectors
    ``U_k``, the column scores those of ``V_k``; each set sums to k and lies in [0, 1]
    (Mahoney & Drineas 2009).  They measure how much a row or column matters to the best
    rank-k approximation: sampling in proportion to them is what makes leverage CUR work
    on coherent matrices, where uniform sampling misses the few rows that matter.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix or array, or LinearOperator, shape (m, n)
    k : int
        Rank, ``1 <= k <= min(m, n)``.
    method : {"exact", "sketch"}, default "exact"
        "exact": from the rank-k SVD of :func:`rankwise.svd` (with its power iterations, so
        exact up to the SVD's accuracy).  "sketch": from the rank-k SVD of the projection of
        A on the range of a Gaussian sketch with 2k columns, without power iterations: two
        passes over A, scores accurate where the spectrum decays past k.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState

    Returns
    -------
    row_scores : ndarray, shape (m,)
    col_scores : ndarray, shape (n,)
        float64.

    Examples
    --------
    >>> import numpy as np
    >>> import rankwise
    >>> A = np.diag([3.0, 2.0, 1.0, 0.0])
    >>> r, c = rankwise.leverage_scores(A, 2, random_state=0)
    >>> np.round(r, 6).tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    mat = as_matrix(A)
    k = check_int(k, "k", low=1, high=mat.min_dim)
    method = check_choice(method, "method", _SCORE_METHODS)
    rows, cols = _scores(A, k, method, _generator(random_state))
    # squared norms of rows of orthonormal columns: at most 1 but for rounding (1 + 9e-7
    # from float32 factors), clipped so that callers may take them as probabilities
    return np.minimum(rows, 1.0), np.minimum(cols, 1.0)
