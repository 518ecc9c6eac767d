"""rankwise.SVDUpdater and rankwise.update_svd: keep a truncated SVD current as rows,
columns and low-rank corrections arrive, without the matrix itself."""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, SupportsIndex, overload

import numpy as np
import scipy.sparse as sp

from . import _core, _gpu, _scale
from ._dispatch import refuse_device_or_dask, require_cpu_input
from ._interrupt import run_interruptibly
from ._random import RandomStateLike, philox_key
from ._svd import svd
from ._validate import as_matrix, check_choice, check_int

_METHODS = ("auto", "zha-simon", "vecharynski-saad", "sparse")
Method = Literal["auto", "zha-simon", "vecharynski-saad", "sparse"]
_BASES = ("rpi", "gkl")
_DIRECT_FLOPS = 3e7
"""Updates estimated below this many flops run on the calling thread (SVDUpdater._native)."""


DRIFT_ROUNDING = 2.0
"""``delta / (max(sqrt(m + n), DRIFT_MIN_SQRT) eps ||A||_F^2)``: the bound that
:meth:`SVDUpdater.estimate_drift` puts on the rounding errors of its two differences of
squares.  Measured on exactly rank-k matrices (float32 and float64, dense and CSR, 20 x 20
to 20000 x 300): errors up to 9 eps ||A||_F^2, where sqrt(m + n) is 6 to 142, so delta is
2x to 30x the largest error."""

DRIFT_MIN_SQRT = 8.0
"""The floor of sqrt(m + n) in :data:`DRIFT_ROUNDING`'s bound: matrices of a few rows and
columns, after several updates, have errors of 10-11 eps ||A||_F^2 too (2 x 4 and 4 x 3,
rank 2, five corrections: drift 0.11-0.13 reported for factors exact to 1.7e-15, found by
review), above ``2 sqrt(m + n) eps``; 16 eps ||A||_F^2 hides only relative errors below
``4 sqrt(eps)``, far below any drift worth a refresh."""


_NATIVE_COUNTERS = ("materializations", "discarded", "dropped")
"""The native state's counters that SVDUpdater.stats sums over refreshes (each refresh
starts a new native state)."""


def drift_from_squares(
    squares: tuple[float, float, float], shape: tuple[int, int], dtype: np.dtype
) -> float:
    """:meth:`SVDUpdater.estimate_drift` from the native core's ``(err2, best2, ||A||_F^2)``
    (either backend): ``((err2 - delta) / (best2 + delta))^(1/2) - 1``, at least 0, with
    ``delta`` the bound :data:`DRIFT_ROUNDING` on their rounding errors."""
    err2, best2, fro2 = squares
    size = max(math.sqrt(sum(shape)), DRIFT_MIN_SQRT)
    delta = DRIFT_ROUNDING * size * float(np.finfo(dtype).eps) * fro2
    ratio2 = max(err2 - delta, 0.0) / max(best2 + delta, np.finfo(np.float64).tiny)
    return max(math.sqrt(ratio2) - 1.0, 0.0)


def _is_real(x: Any) -> bool:
    """A real number (Python's or NumPy's, ``numbers.Real``), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_)


def _check_dtype(x: Any, name: str, dtype: np.dtype) -> None:
    got = np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype
    if got != dtype:
        raise TypeError(
            f"{name} has dtype {got}, the factors {dtype}: convert it explicitly "
            "(no silent up- or downcast)"
        )


@dataclass(frozen=True)
class _Block:
    """The operator D^T of an update side: ``source`` (validated by :func:`_as_update`) or
    its transpose, applied to the factor side of ``length`` rows.  The transpose of a CSC
    source is never formed: its arrays are the CSR arrays of the transpose."""

    source: Any
    transposed: bool
    name: str
    length: int

    @property
    def Dt(self) -> Any:
        return self.source.T if self.transposed else self.source

    @property
    def width(self) -> int:
        """r, the columns of the update block."""
        return int(self.source.shape[1 if self.transposed else 0])


def _block(block: _Block) -> tuple[Any, np.ndarray | None]:
    """The core operator of D^T (r x length) and the rows of the factor it touches (None:
    all).

    A sparse block is restricted to its nonzero columns (indices renumbered, data shared):
    the update algorithms then read and write only those rows of the factor.  The block was
    validated by :func:`_as_update` (structure, dtype, finite values), so the compressed
    operator is built directly (the core checks its index arrays again).
    """
    x = block.source
    if not sp.issparse(x):
        return as_matrix(block.Dt, block.name, check_finite=False).op, None
    # a CSR source, or a CSC one used transposed: its arrays are the CSR arrays of D^T
    own = x.format == ("csc" if block.transposed else "csr")
    csr = x if own else block.Dt.tocsr()
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    r = block.width
    nnz = int(csr.indptr[-1])
    J, position = _core.distinct_columns(csr.indices[:nnz], block.length)
    index_dtype = np.int32 if max(len(J), nnz) < 2**31 - 1 else np.int64
    if len(J) == 0:  # an all-zero block: one (empty) column keeps the shapes valid
        J = np.zeros(1, dtype=np.int64)
    op = _core.Operator.sparse(
        np.ascontiguousarray(csr.data[:nnz]),
        position.astype(index_dtype, copy=False),
        csr.indptr.astype(index_dtype, copy=False),
        r,
        len(J),
        transposed=False,
    )
    return op, J


def _on_device(up: SVDUpdater) -> SVDUpdater:
    from ._update_gpu import on_device

    return on_device(up)


def _native_order(x: Any) -> Any:
    """x in native byte order: a byte-swapped array ('>f8' read from a file on a
    little-endian machine) or sparse matrix is copied, as rankwise.svd and fit read one."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or np.dtype(dtype).isnative:
        return x
    return x.astype(np.dtype(dtype).newbyteorder("="))


def _as_update(x: Any, name: str, dtype: np.dtype, shape_check: Callable[[tuple], None]) -> Any:
    if _gpu.is_device_array(x):
        raise TypeError(
            f"{name} is a CuPy array, but this updater's factors are in host memory: start "
            f"it from CuPy arrays (fit or from_factors) to update on the GPU, or pass "
            f"{name}.get()"
        )
    require_cpu_input(x, name)
    if not sp.issparse(x):
        x = np.asarray(x)
    x = _native_order(x)
    if sp.issparse(x) and x.format not in ("csr", "csc"):
        # other formats as CSR: LIL and DOK have no value array to check, DIA's holds
        # padding outside the matrix, and the update reads CSR's arrays anyway
        x = x.tocsr()
    _check_block_shape(x, name, dtype, shape_check)
    _check_values(x.data if sp.issparse(x) else x, name, dtype)
    return x


def _check_block_shape(
    x: Any, name: str, dtype: np.dtype, shape_check: Callable[[tuple], None]
) -> None:
    """An update block (either backend's array) is 2-D, not empty, of the factors' dtype,
    and of the shape ``shape_check`` wants."""
    if len(x.shape) != 2:
        raise ValueError(f"{name} must be 2-D; got shape {tuple(x.shape)}")
    if 0 in x.shape:
        raise ValueError(f"{name} must not be empty; got shape {tuple(x.shape)}")
    _check_dtype(x, name, dtype)
    shape_check(tuple(x.shape))


def _max_abs(values: Any) -> float:
    """max |x| of a numpy or CuPy array; 0 when empty, NaN if any is NaN.
    As max(max x, -min x): two reductions and no |x| temporary (whose fresh pages cost more
    than the pass, once per update)."""
    if not values.size:
        return 0.0
    return float(max(values.max(), -values.min()))


def _norm_above(values: Any, big: float, limit: float, xp: Any = np) -> bool:
    """||values||_F > limit, without overflow, given big = max |x|: decided by big alone
    where it can be (one pass), else by the norm of values / big (two)."""
    if big == 0.0 or big * math.sqrt(values.size) <= limit:
        return False
    return not big * float(xp.linalg.norm((values / big).ravel())) <= limit


def _check_values(values: Any, name: str, dtype: np.dtype, xp: Any = np) -> None:
    """ValueError for NaN or Inf, or when the Frobenius norm of the batch is beyond the
    float range: the norms inside the update overflow, and LAPACK then loops forever
    (found by fuzzing: rows holding 1.8e308 hung ``add_rows``).  ``xp``: the array module
    (cupy for the GPU updater, python/rankwise/_update_gpu.py)."""
    big = _max_abs(values)
    if not math.isfinite(big):
        raise ValueError(f"{name} contains NaN or Inf")
    limit = float(np.finfo(dtype).max) / 16
    if _norm_above(values, big, limit, xp):
        raise ValueError(
            f"{name} is too large to update with: its norm exceeds {limit:.3g} (the "
            f"{np.dtype(dtype).name} maximum / 16), and the update's norms would overflow; "
            "scale the data"
        )


def _check_sparse_method_range(
    values: Any, dtype: np.dtype, xp: Any = np, name: str = "E", largest: float = 0.0
) -> None:
    """ValueError where the sparse method's sums of squares of the block ``name`` (its
    stored values: the array, or a sparse matrix's data) would overflow (a norm beyond
    sqrt(float max) / 16: about 8e152 in float64, 1.2e18 in float32; LAPACK then failed with
    "SVD did not converge") or underflow while they matter (a norm below 16 sqrt(smallest
    normal), about 2.4e-153 in float64 and 1.7e-18 in float32, and above eps times the
    ``largest`` singular value: its residual directions were then dropped without a word,
    the singular values off by 6e-14 at 1e-156 and 3e-2 at 1e-170, where down to 1e-154
    they were exact; a block below eps s_1 changes the factors by less than their rounding,
    and is taken); the other methods take blocks of any magnitude up to the float maximum /
    16 (_check_values).  ``xp``: the array module (cupy for the GPU updater)."""
    info = np.finfo(dtype)
    big = _max_abs(values)
    limit = math.sqrt(float(info.max)) / 16
    if _norm_above(values, big, limit, xp):
        raise ValueError(
            f"{name} is too large for the sparse method: its norm exceeds {limit:.3g} (the "
            f"square root of the {np.dtype(dtype).name} maximum / 16), where the method's "
            "sums of squares overflow; scale the data, or use method='zha-simon'"
        )
    low = 16 * math.sqrt(float(info.tiny))
    negligible = float(info.eps) * largest
    if (
        big > 0.0
        and not _norm_above(values, big, low, xp)
        and _norm_above(values, big, negligible, xp)
    ):
        raise ValueError(
            f"{name} is too small for the sparse method: its norm is below {low:.3g} (16 "
            f"times the square root of the smallest normal {np.dtype(dtype).name}), where "
            "the method's sums of squares underflow; scale the data, or use "
            "method='zha-simon'"
        )


def _check_orthonormal(deviations: tuple[float, float], U: Any, Vt: Any, xp: Any = np) -> None:
    """ValueError unless max |W^T W - I| of U and of Vt^T (``deviations``, from the Gram
    matrices the native state forms when it copies them) is within 100 sqrt(eps).  A NaN or
    Inf entry makes its factor's deviation NaN; only then are the entries read, to name it.
    U and Vt are arrays of the module xp (numpy, or cupy for the GPU updater)."""
    tol = 100 * math.sqrt(np.finfo(U.dtype).eps)
    for dev, name, x in zip(deviations, ("U", "Vt"), (U, Vt), strict=True):
        if not dev <= tol:
            if not bool(xp.isfinite(x).all()):
                raise ValueError(f"{name} contains NaN or Inf")
            raise ValueError(f"{name} does not have orthonormal columns (rows for Vt)")


def _check_factors(
    U: Any, s: np.ndarray, Vt: Any, k: int, xp: Any = np, finite: bool = True
) -> None:
    """The checks of from_factors: shapes for rank k, float32/float64 of one dtype, finite
    entries (of U and Vt only where ``finite``), s >= 0.  U and Vt are arrays of the module
    xp (numpy, or cupy for the GPU updater); s is a numpy array."""
    if U.ndim != 2 or s.ndim != 1 or Vt.ndim != 2:
        raise ValueError("U, s and Vt must be 2-D, 1-D and 2-D arrays")
    if s.shape[0] != k:
        raise ValueError(f"s has {s.shape[0]} values; the updater was built for k = {k}")
    if U.shape[1] != k or Vt.shape[0] != k:
        raise ValueError(f"U {U.shape} and Vt {Vt.shape} do not have k = {k} columns / rows")
    m, n = U.shape[0], Vt.shape[1]
    if k > min(m, n):
        raise ValueError(f"k = {k} exceeds min(m, n) = {min(m, n)}")
    dtype = np.dtype(U.dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"U must be float32 or float64; got {dtype}")
    _check_dtype(s, "s", dtype)
    _check_dtype(Vt, "Vt", dtype)
    checked = ((U, "U", xp), (s, "s", np), (Vt, "Vt", xp)) if finite else ((s, "s", np),)
    for x, name, module in checked:
        if not bool(module.isfinite(x).all()):
            raise ValueError(f"{name} contains NaN or Inf")
    if (s < 0).any():
        raise ValueError("s must be non-negative")


class SVDUpdater:
    """Keep a rank-``k`` truncated SVD ``A ~ U @ diag(s) @ Vt`` current while rows, columns
    and low-rank corrections ``B @ C.T`` arrive, without storing ``A``.

    Each update is a Rayleigh-Ritz step on the current factors enlarged by a basis of the
    part of the update they do not span (Zha & Simon 1999; Brand 2006 for ``A + B C^T``),
    followed by an SVD of a small ``(k + r) x (k + p)`` matrix.  The methods differ in how
    they get that residual basis and how they apply the result (``N`` the length of the side
    that receives the update block, ``r`` the batch size, ``nnz`` its nonzeros, ``|J|`` the
    number of rows of the factor it touches, ``l`` the ``rank`` parameter):

    * ``"zha-simon"``: the residual ``(I - V V^T) E^T`` formed densely and orthonormalized
      in full, and both factors rotated in full.  Exact: for a matrix of rank <= k it
      reproduces the SVD of the updated matrix to rounding.  ``O(N r (k + r) + (m + n) k^2)``
      flops per update, ``N r`` extra memory.  The rotated factors lose about ``eps`` of
      orthogonality per update; both are re-orthonormalized (Cholesky QR of their Gram
      matrices) once in 32 updates, so ``||U^T U - I||`` stays near ``100 eps`` however many
      updates run (also for ``"vecharynski-saad"``).
    * ``"vecharynski-saad"``: the same dense residual replaced by an ``l``-dimensional
      basis of its dominant range (Vecharynski & Saad 2014): randomized subspace iteration
      with ``n_iter`` passes (``basis="rpi"``), or ``l`` steps of Golub-Kahan-Lanczos as in
      the paper (``basis="gkl"``).  ``O(N r l n_iter + (m + n) k^2)``.
    * ``"sparse"``: Deng et al. (ICLR 2024).  The residual basis is never formed: it is
      ``Q = (E^T - V C) X`` with a small ``X`` found from products with ``E`` (``l``
      directions from ``n_iter`` subspace iterations, or from ``l`` Golub-Kahan-Lanczos
      steps with ``basis="gkl"``: the paper's RPI and GKL variants; all ``r`` directions
      when ``l >= r``), and
      each factor is kept as ``U = Ue @ K`` with a ``k x k`` factor ``K`` (the extended
      decomposition), so that an update changes ``K`` and the ``|J|`` touched rows of
      ``Ue`` only (``Ue`` is stored row-major, so that those rows are contiguous).
      ``O(nnz (k + l n_iter) + |J| k + r (k + l)^2 + k^3)`` per update (the touched
      rows are read and written, never multiplied by a ``k x k`` matrix);
      sparse updates are never densified.  Both factors are re-orthonormalized after each
      update in ``O(k^3)`` from their tracked Gram matrices (the small middle factor this
      leaves is diagonalized by the next update's small SVD), which bounds
      ``||U^T U - I||`` by about ``eps max_cond^2`` whatever the number of updates
      (1e-14 to 1e-9 in float64 in the benchmarks); a factor whose ``K`` becomes
      ill-conditioned is multiplied out (``O(N k^2)``; when a bound of ``cond(K)``, at
      most ``k ** 0.25`` times it, passes ``max_cond``).
      Directions of the residual below ``10 sqrt(eps) ||E||_F`` are dropped (the
      residual norms come from ``||E||^2 - ||V^T E^T||^2``, whose rounding is about
      ``eps ||E||_F^2``; the energy dropped is counted in ``stats["dropped"]``): a
      small but genuine residual direction, as a correction ``B C^T`` whose C is nearly
      in the factors' span can leave, costs up to that much (3.8e-3 relative in float32
      on a 12 x 6 example, where the explicit methods keep it to 2e-7).
    * ``"auto"``: ``"sparse"`` if the first update is a scipy.sparse matrix, else
      ``"zha-simon"``.

    Memory is ``O((m + n) k)`` plus the current batch: the matrix is never stored, which is
    why :meth:`refresh` and :meth:`estimate_drift` take the current matrix from the caller
    (an argument, or the ``current`` callable).

    Started from CuPy arrays (``fit`` of a CuPy or cupyx.scipy.sparse matrix, CuPy factors
    in ``from_factors``), the updater runs on the GPU: the same methods, CuPy or cupyx
    CSR/CSC updates in, CuPy factors out (python/rankwise/_update_gpu.py).

    Parameters
    ----------
    k : int
        Rank of the tracked SVD.
    method : {"auto", "zha-simon", "vecharynski-saad", "sparse"}, default "auto"
    rank : int, optional
        ``l``, residual directions kept per update ("vecharynski-saad", "sparse"); default
        ``k``.  Not used by "zha-simon".
    n_iter : int, default 2
        Subspace iterations for a rank-``l`` residual basis (``basis="rpi"``).
    basis : {"rpi", "gkl"}, default "rpi"
        How a rank-``l`` residual basis is found ("vecharynski-saad", "sparse"):
        randomized subspace ("power") iteration with ``n_iter`` passes, or ``l`` steps of
        Golub-Kahan-Lanczos bidiagonalization with full reorthogonalization (``l``
        products with the update each way, one vector at a time; ``n_iter`` unused).
    max_cond : float, optional
        "sparse": multiply ``K`` out when its condition number may pass this: when
        ``||K||_S8 ||K^-1||_S8`` (Schatten 8-norms, at most ``k ** 0.25`` times
        ``cond_2(K)``) does (default ``eps ** -0.25``: 8e3 in float64, 58 in float32).
    refresh_threshold : float, optional
        Refresh automatically (recompute with :func:`rankwise.svd`) when
        :meth:`estimate_drift` exceeds this after an update.  Needs ``current``.
    current : callable, optional
        ``current()`` returns the current matrix (array, sparse matrix or
        LinearOperator); used by :meth:`refresh` and :meth:`estimate_drift` when they are
        called without a matrix, and by the automatic refresh.  With
        ``refresh_threshold``, it is called at the end of each update call and must then
        return the matrix as updated by that call, dense or sparse (the drift estimate
        needs ``||A||_F``); where it cannot, the update stays applied and a RuntimeWarning
        says that the check was skipped.
    check_every : int, default 1
        Automatic refresh: estimate the drift after every ``check_every`` updates.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Seeds :meth:`fit`, :meth:`refresh` and the random starts of the rank-``l`` bases:
        the same int gives the same results.

    Examples
    --------
    >>> import numpy as np
    >>> import rankwise
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((300, 8)) @ rng.standard_normal((8, 200))
    >>> up = rankwise.SVDUpdater(8, method="zha-simon", random_state=0).fit(A[:200])
    >>> _ = up.add_rows(A[200:])                    # now tracks all 300 rows
    >>> U, s, Vt = up.svd()
    >>> bool(np.allclose(U * s @ Vt, A))
    True
    >>> bool(np.allclose(s, np.linalg.svd(A, compute_uv=False)[:8]))
    True
    """

    def __init__(
        self,
        k: SupportsIndex,
        *,
        method: Method = "auto",
        rank: SupportsIndex | None = None,
        n_iter: SupportsIndex = 2,
        basis: Literal["rpi", "gkl"] = "rpi",
        max_cond: float | None = None,
        refresh_threshold: float | None = None,
        current: Callable[[], Any] | None = None,
        check_every: SupportsIndex = 1,
        random_state: RandomStateLike = None,
    ) -> None:
        self.k = check_int(k, "k", low=1)
        self.method = check_choice(method, "method", _METHODS)
        if rank is not None:
            if self.method == "zha-simon":
                raise ValueError("rank is not a parameter of method='zha-simon' (it is exact)")
            rank = check_int(rank, "rank", low=1, high=2**62)
        self.rank = rank
        self.n_iter = check_int(n_iter, "n_iter", low=0, high=2**30)  # (a C int in the core)
        self.basis = check_choice(basis, "basis", _BASES)
        if self.basis != "rpi" and self.method == "zha-simon":
            raise ValueError("basis is not a parameter of method='zha-simon' (it is exact)")
        if max_cond is not None and not (
            _is_real(max_cond) and max_cond > 1 and math.isfinite(max_cond)
        ):  # (an infinite bound never re-orthonormalizes: the factor loses rank)
            raise ValueError(f"max_cond must be a finite number > 1; got {max_cond!r}")
        self.max_cond = None if max_cond is None else float(max_cond)
        if refresh_threshold is not None:
            if not (_is_real(refresh_threshold) and refresh_threshold > 0):
                raise ValueError(f"refresh_threshold must be > 0; got {refresh_threshold!r}")
            refresh_threshold = float(refresh_threshold)
            if current is None:
                raise ValueError(
                    "refresh_threshold needs current= (a callable that returns "
                    "the current matrix): the updater does not store it"
                )
        if current is not None and not callable(current):
            raise TypeError("current must be a callable returning the current matrix")
        self.refresh_threshold = refresh_threshold
        self.current = current
        self.check_every = check_int(check_every, "check_every", low=1)
        self.random_state = random_state
        self._key = philox_key(random_state)
        self._handle: Any = None
        # Held by a native update while it runs (also one abandoned on Ctrl-C, which
        # finishes without committing): readers and the next update wait for it.
        self._lock = threading.Lock()
        self._dtype = np.dtype(np.float64)
        self._resolved: str | None = None
        self.n_updates = 0
        self.n_refreshes = 0
        self._before_refreshes: dict[str, float] = {}  # native counters of refreshed states
        self.last_drift: float | None = None

    # -- pickling and copies ------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The settings, counters and current factors; :meth:`__setstate__` builds the
        native state from them (so copy.copy, pickle and copy.deepcopy give an updater of
        its own, which continues with the same random streams)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_handle", "_lock")}
        if self._handle is not None:
            with self._lock:
                state["_factors"] = self._handle.factors()
                state["_native_stats"] = dict(self._handle.stats)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        factors = state.pop("_factors", None)
        native_stats = state.pop("_native_stats", None)
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._handle = None
        if factors is not None:
            self._start(*factors)
            self._handle.restore_stats(**native_stats)

    # -- starting points -------------------------------------------------------------
    def fit(self, A: Any) -> SVDUpdater:
        """Start from the rank-``k`` SVD of ``A`` computed by :func:`rankwise.svd`."""
        if _gpu.is_device_array(A):  # factors and updates on the GPU (_update_gpu.py)
            return _on_device(self).fit(A)
        refuse_device_or_dask(A, "A")  # (svd would take a dask array; its factors are dask)
        if hasattr(A, "shape") and len(A.shape) == 2 and self.k > min(A.shape):
            raise ValueError(f"k = {self.k} exceeds min(m, n) = {min(A.shape)} of A")
        U, s, Vt = svd(A, self.k, random_state=self._seed(0))
        return self._start(U, s, Vt)

    def from_factors(self, U: Any, s: Any, Vt: Any) -> SVDUpdater:
        """Start from existing factors: ``U`` (m x k) and ``Vt`` (k x n) with orthonormal
        columns / rows, ``s`` (k,) non-negative.  They are copied, never modified."""
        if any(_gpu.is_device_array(x) for x in (U, s, Vt)):  # on the GPU (_update_gpu.py)
            return _on_device(self).from_factors(U, s, Vt)
        U, s, Vt = (_native_order(np.asarray(x)) for x in (U, s, Vt))
        _check_factors(U, s, Vt, self.k, finite=False)  # U, Vt: by _start's Gram check
        order = np.argsort(-s, kind="stable")
        if (order != np.arange(self.k)).any():
            U, s, Vt = U[:, order], s[order], Vt[order]
        return self._start(U, s, Vt, check=True)

    def _start(
        self, U: np.ndarray, s: np.ndarray, Vt: np.ndarray, check: bool = False
    ) -> SVDUpdater:
        """The native state on copies of the factors (the handle copies them), with the
        method if it is known (``"auto"`` is resolved by the first update).  ``check``:
        refuse factors that are not orthonormal, from the Gram matrices the handle forms
        anyway (one O((m + n) k^2) pass, in the core's threads).  A NaN or Inf in U or Vt
        makes its Gram matrix's diagonal NaN or Inf, so it fails that test too; only then
        are the entries read again, to say which it was."""
        method = self._resolved or ("zha-simon" if self.method == "auto" else self.method)
        cls = _core.SvdUpdate32 if U.dtype == np.float32 else _core.SvdUpdate64
        krylov = self.basis == "gkl"
        handle = cls(
            U,
            s,
            Vt,
            method,
            self._rank_of(method),
            self.n_iter,
            krylov,
            self.max_cond or 0.0,
            *self._key,
        )
        if check:
            _check_orthonormal(handle.gram_deviation(), U, Vt)
        self._handle = handle
        self._dtype = np.dtype(U.dtype)
        return self

    def _rank_of(self, method: str) -> int:
        return 0 if method == "zha-simon" else (self.rank or self.k)

    def _seed(self, salt: int) -> RandomStateLike:
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state) + salt
        return self.random_state

    def __repr__(self) -> str:
        method = self._resolved or self.method
        if self._handle is None:
            return f"SVDUpdater(k={self.k}, method={method!r}, not started)"
        m, n = self.shape
        return (
            f"SVDUpdater(k={self.k}, method={method!r}, shape=({m}, {n}), "
            f"dtype={self._dtype}, n_updates={self.n_updates})"
        )

    # -- state -------------------------------------------------------------------------
    def _require_started(self) -> None:
        if self._handle is None:
            raise RuntimeError("call fit(A) or from_factors(U, s, Vt) first")

    @property
    def shape(self) -> tuple[int, int]:
        """Shape (m, n) of the matrix tracked now."""
        self._require_started()
        with self._lock:
            return tuple(self._handle.shape)

    @property
    def dtype(self) -> np.dtype:
        self._require_started()
        return self._dtype

    def svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The current factors ``(U, s, Vt)`` (new arrays; signs as :func:`rankwise.svd`)."""
        self._require_started()
        with self._lock:
            U, s, Vt = self._handle.factors()  # signs flipped as rankwise.svd's
        return U, s, Vt

    @property
    def U(self) -> np.ndarray:
        return self.svd()[0]

    @property
    def s(self) -> np.ndarray:
        return self.svd()[1]

    @property
    def Vt(self) -> np.ndarray:
        return self.svd()[2]

    @property
    def resolved_method(self) -> str | None:
        """The method in use (what "auto" chose), None before the first update."""
        return self._resolved

    def orthogonality(self) -> float:
        """``max(||U^T U - I||_F, ||V^T V - I||_F)`` of the current factors
        (``O((m + n) k^2)``)."""
        self._require_started()
        return max(self._handle.orthogonality(True), self._handle.orthogonality(False))

    @property
    def stats(self) -> dict[str, float]:
        """Counters: updates, refreshes, materializations of ``K`` (method "sparse"),
        ``discarded`` (sum of the squared singular values truncated at each update) and
        ``dropped`` (residual energy left out of the rank-``l`` bases)."""
        out: dict[str, float] = {"updates": self.n_updates, "refreshes": self.n_refreshes}
        if self._resolved is not None:
            # the native counters restart with each refresh: those before are kept
            native = self._handle.stats
            for name in _NATIVE_COUNTERS:
                out[name] = native[name] + self._before_refreshes.get(name, 0)
        return out

    # -- updates -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _resolving(self, first: Any) -> Iterator[None]:
        """The update's method fixed by the first update ("auto": by its block's type),
        undone where that update is refused or fails, so that the updater is as before."""
        self._require_started()
        fresh = self._resolved is None
        if fresh:
            method = self.method
            if method == "auto":
                method = "sparse" if self._is_sparse(first) else "zha-simon"
            with self._lock:
                self._handle.set_method(method, self._rank_of(method))
            self._resolved = method
        try:
            yield
        except BaseException:
            # (the next update sets the handle's method again; not once an update was
            # applied, e.g. where the automatic drift check after it failed)
            if fresh and self._handle.stats["updates"] == 0:
                self._resolved = None
            raise

    def _after_update(self) -> SVDUpdater:
        self.n_updates += 1
        if self.refresh_threshold is not None and self.n_updates % self.check_every == 0:
            try:
                self.last_drift = self.estimate_drift()
            except Exception as exc:  # also what the user's current() raises
                # The update is applied: raising here would read as "not applied", and a
                # caller retrying it would apply it twice.
                warnings.warn(
                    f"the update was applied, but the automatic drift check could not run: "
                    f"{exc} (current() must return the matrix as updated by this call, dense "
                    "or sparse)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return self
            if self.last_drift > self.refresh_threshold:
                self.refresh()
        return self

    def _work(self, blocks: list[tuple[Any, int]], r: int, append: bool) -> float:
        """Rough flop count of an update of width ``r`` with these (block, length of the
        factor side it multiplies) pairs: the products with the blocks, the dense residual
        and rotation of the explicit methods, the small SVD."""
        k = self.k
        exact = self._resolved == "zha-simon"
        l = r if exact else min(self.rank or k, r)
        small = 20.0 * (k + (r if append else l)) * (k + l) ** 2
        if self._resolved == "sparse":
            stored = sum(D.nnz if sp.issparse(D) else D.size for D, _ in blocks)
            return 2.0 * stored * l * (2 + 2 * self.n_iter) + small
        m, n = self.shape
        dense = sum(4.0 * N * r * (k + l) for _, N in blocks)
        return dense + 4.0 * (m + n) * k * (k + l) + small

    def _native(self, fn: Callable[..., Any], args: tuple, work: float) -> None:
        """``fn(*args)`` on the native core.  A small update (below _DIRECT_FLOPS, a few
        milliseconds) runs directly: Ctrl-C waits for it, and it saves the worker
        thread of run_interruptibly, whose start and hand-over cost about as much as
        such an update on a busy machine."""
        if work < _DIRECT_FLOPS:
            with self._lock:
                fn(*args)
        else:
            run_interruptibly(fn, *args, lock=self._lock)

    def add_rows(self, E: Any) -> SVDUpdater:
        """``A <- [A; E]`` for ``E`` of shape (r, n): dense array or scipy.sparse matrix of
        the factors' dtype.  Returns self."""
        return self._add_rows(E, "E")

    def _add_rows(self, E: Any, _name: str) -> SVDUpdater:
        """add_rows, its errors naming E as the caller's argument `_name`."""
        self._require_started()
        n = self.shape[1]

        def check(shape: tuple) -> None:
            if shape[1] != n:
                raise ValueError(f"{_name} must have n = {n} columns; got shape {shape}")

        E = self._checked(E, _name, check)
        with self._resolving(E):
            return self._native_update("add_rows", [_Block(E, False, _name, n)], append=True)

    def add_columns(self, E: Any) -> SVDUpdater:
        """``A <- [A, E]`` for ``E`` of shape (m, r) (CSC is the natural sparse format).
        Returns self."""
        return self._add_columns(E, "E")

    def _add_columns(self, E: Any, _name: str) -> SVDUpdater:
        """add_columns, its errors naming E as the caller's argument `_name`."""
        self._require_started()
        m = self.shape[0]

        def check(shape: tuple) -> None:
            if shape[0] != m:
                raise ValueError(f"{_name} must have m = {m} rows; got shape {shape}")

        E = self._checked(E, _name, check)
        with self._resolving(E):
            return self._native_update("add_columns", [_Block(E, True, _name, m)], append=True)

    def update(self, B: Any, C: Any) -> SVDUpdater:
        """``A <- A + B @ C.T`` for ``B`` (m, r) and ``C`` (n, r): a low-rank correction,
        which also covers changed entries (``B``, ``C`` sparse) and reweighting.
        Returns self."""
        self._require_started()
        m, n = self.shape

        def check_b(shape: tuple) -> None:
            if shape[0] != m:
                raise ValueError(f"B must have m = {m} rows; got shape {shape}")

        B = self._checked(B, "B", check_b)

        def check_c(shape: tuple) -> None:
            if shape[0] != n or shape[1] != B.shape[1]:
                raise ValueError(f"C must have shape ({n}, {B.shape[1]}); got {shape}")

        C = self._checked(C, "C", check_c)
        blocks = [_Block(B, True, "B", m), _Block(C, True, "C", n)]
        with self._resolving(B if self._is_sparse(B) else C):
            return self._native_update("update", blocks, append=False)

    # The three steps of an update that depend on where the factors live (the GPU subclass
    # in _update_gpu.py overrides them): validating a block, telling a sparse one, and
    # handing the blocks to the native state.
    def _checked(self, x: Any, name: str, shape_check: Callable[[tuple], None]) -> Any:
        return _as_update(x, name, self.dtype, shape_check)

    @staticmethod
    def _is_sparse(x: Any) -> bool:
        return sp.issparse(x)

    def _check_sparse_method_block(self, blocks: list[_Block], xp: Any = np) -> None:
        """The sparse method's range check of the update's blocks (E, or B and C:
        _check_sparse_method_range; ``xp``: the array module, cupy for the GPU updater)."""
        if self._resolved == "sparse":
            with self._lock:
                largest = self._handle.largest_value
            for block in blocks:
                D = block.source
                values = D.data if self._is_sparse(D) else D
                _check_sparse_method_range(values, self.dtype, xp, block.name, largest)

    def _native_update(self, kind: str, blocks: list[_Block], append: bool) -> SVDUpdater:
        """The handle's ``kind`` update with the blocks D^T: for rows, E; for columns, E^T;
        for A + B C^T, B^T and C^T."""
        self._check_sparse_method_block(blocks)
        args: list[Any] = []
        for block in blocks:
            args += _block(block)
        work = self._work([(b.source, b.length) for b in blocks], blocks[0].width, append)
        self._native(getattr(self._handle, kind), tuple(args), work)
        return self._after_update()

    # -- accuracy monitor --------------------------------------------------------------
    def _matrix(self, A: Any) -> Any:
        if A is None:
            if self.current is None:
                raise ValueError("pass the current matrix A (or give the updater current=)")
            A = self.current()
        if not (sp.issparse(A) or hasattr(A, "shape")):  # array_like, as fit takes it
            A = np.asarray(A)
        if tuple(A.shape) != self.shape:
            raise ValueError(f"A has shape {tuple(A.shape)}; the updater tracks {self.shape}")
        return A

    def estimate_drift(self, A: Any = None) -> float:
        """How far the tracked factors are from the best rank-``k`` approximation of the
        current matrix ``A``: an estimate of ``||A - U S Vt||_F / ||A - A_k||_F - 1``.

        Computed in the native core: two products with ``k`` vectors (``W = A^T U`` and
        ``A P``, ``P`` an orthonormal basis of ``W``) and ``O((m + n) k^2)`` more; ``A`` is
        not copied.  The numerator is exact,
        ``||A - U S Vt||_F^2 = ||A||_F^2 - 2 sum_i s_i (W^T V)_ii + ||s||^2``; the
        denominator is replaced by the upper bound ``(||A||_F^2 - ||A P||_F^2)^(1/2)``
        (``P`` is one subspace-iteration step from the tracked subspace), so the estimate
        is a lower bound on the true excess, tight when the tracked subspace is close to
        the leading one.  ``A`` dense or sparse (``||A||_F`` must be known), of the
        factors' dtype.

        Both squares are differences of terms of size ``||A||_F^2``, so they carry rounding
        errors of a few ``eps ||A||_F^2``; with ``delta`` a bound on them
        (:data:`DRIFT_ROUNDING`) the estimate is ``((err2 - delta) / (best2 + delta))^(1/2)
        - 1``: still a lower bound, and 0 for exact factors of a matrix whose best rank-k
        error is at rounding level (below about ``sqrt(eps) ||A||_F``), where the plain
        quotient would be one of two rounding errors.
        """
        self._require_started()
        A = self._matrix(A)
        if not hasattr(A, "dtype"):
            A = np.asarray(A)
        A = _native_order(A)
        _check_dtype(A, "A", self.dtype)
        # A 2^-e where its entries are extreme (_scale), and s with it: the squares the
        # estimate is made of left the double range (0 at 1e-160, a refusal at 1e160)
        mat = as_matrix(A, "A")
        e = _scale.scale_exponent(mat)
        _, mat = _scale.scaled(A, mat, e)
        with self._lock:
            squares = self._handle.drift(mat.op, math.ldexp(1.0, -e))
        return drift_from_squares(squares, self.shape, self.dtype)

    def refresh(self, A: Any = None) -> SVDUpdater:
        """Recompute the factors from the current matrix ``A`` (argument, or ``current()``)
        with :func:`rankwise.svd`; the method and its settings are kept."""
        self._require_started()
        A = self._matrix(A)
        dtype = self.dtype
        U, s, Vt = svd(A, self.k, random_state=self._seed(self.n_refreshes + 1))
        if U.dtype != dtype:
            raise TypeError(f"A has dtype {U.dtype}; the factors {dtype}")
        if self._resolved is not None:
            with self._lock:
                native = self._handle.stats
            for name in _NATIVE_COUNTERS:
                self._before_refreshes[name] = self._before_refreshes.get(name, 0) + native[name]
        self.n_refreshes += 1
        return self._start(U, s, Vt)


@overload
def update_svd(
    U: np.ndarray,
    s: Any,
    Vt: Any,
    *,
    rows: Any = ...,
    cols: Any = ...,
    B: Any = ...,
    C: Any = ...,
    k: SupportsIndex | None = ...,
    method: Method = ...,
    random_state: RandomStateLike = ...,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@overload
def update_svd(
    U: Any,
    s: Any,
    Vt: Any,
    *,
    rows: Any = ...,
    cols: Any = ...,
    B: Any = ...,
    C: Any = ...,
    k: SupportsIndex | None = ...,
    method: Method = ...,
    random_state: RandomStateLike = ...,
) -> tuple[Any, Any, Any]: ...


def update_svd(
    U: Any,
    s: Any,
    Vt: Any,
    *,
    rows: Any = None,
    cols: Any = None,
    B: Any = None,
    C: Any = None,
    k: SupportsIndex | None = None,
    method: Method = "auto",
    random_state: RandomStateLike = None,
) -> tuple[Any, Any, Any]:
    """One-off update of a truncated SVD ``A ~ U @ diag(s) @ Vt``.

    Applies, in this order, whichever are given: new rows ``rows`` (r x n), new columns
    ``cols`` (m x r), and a low-rank correction ``A + B @ C.T``.  ``k`` (default
    ``len(s)``, at most ``len(s)``) is the rank returned.  The inputs are not modified.

    Parameters
    ----------
    U, s, Vt : arrays, shapes (m, k0), (k0,), (k0, n)
        The factors to update (float32 or float64; ``rows``, ``cols``, ``B`` and ``C``
        must have the same dtype: TypeError otherwise, nothing is cast silently).
    rows : array or scipy.sparse matrix (r, n), optional
    cols : array or scipy.sparse matrix (m, r), optional
    B, C : arrays (m, r) and (n, r), optional
        Given together: the correction ``A + B @ C.T``.
    k : int, optional
        The rank returned (default ``len(s)``).
    method : str, default "auto"
        As :class:`SVDUpdater`'s ``method``.
    random_state : None, int, Generator or RandomState
        Seed of the randomized methods' sketches (as :class:`SVDUpdater`).

    Returns
    -------
    U, s, Vt : ndarrays, shapes (m', k), (k,), (k, n')

    Examples
    --------
    >>> import numpy as np
    >>> import rankwise
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((100, 5)) @ rng.standard_normal((5, 80))
    >>> U, s, Vt = np.linalg.svd(A[:, :60], full_matrices=False)
    >>> U, s, Vt = rankwise.update_svd(U[:, :5], s[:5], Vt[:5], cols=A[:, 60:])
    >>> bool(np.allclose(U * s @ Vt, A))
    True
    """
    s_arr = s if _gpu.is_device_array(s) else np.asarray(s)
    if s_arr.ndim != 1:
        raise ValueError("s must be 1-D")
    r = s_arr.shape[0]
    if r == 0:
        raise ValueError("s is empty: the factors to update must have rank >= 1")
    k = r if k is None else check_int(k, "k", low=1, high=r)
    if rows is None and cols is None and B is None and C is None:
        raise ValueError("give rows=, cols= or B= and C=")
    if (B is None) != (C is None):
        raise ValueError("B and C must be given together")
    up = SVDUpdater(r, method=method, random_state=random_state).from_factors(U, s, Vt)
    if rows is not None:
        up._add_rows(rows, "rows")
    if cols is not None:
        up._add_columns(cols, "cols")
    if B is not None:
        up.update(B, C)
    U2, s2, Vt2 = up.svd()  # new arrays, owned here
    del up  # the handle's state, before any copy
    if k == r:
        return U2, s2, Vt2
    return U2[:, :k].copy(), s2[:k].copy(), Vt2[:k].copy()
