"""rankwise.randomized_svd: scikit-learn's ``randomized_svd`` signature on rankwise's core."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Literal, SupportsIndex, overload

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from . import _core, _dask, _gpu
from ._errors import InvalidParameterError
from ._random import RandomStateLike, check_random_state, philox_key
from ._svd import _svd_dask, _svd_gpu, auto_power_iterations, checked_core, flip_signs
from ._typing import HostMatrix
from ._validate import as_matrix_of, check_choice, check_int, check_n_iter

_NORMALIZERS = {"auto": None, "QR": "householder", "LU": "lu", "none": "none"}
_RANDOM_STATE_SEEDS = 2**32  # the seeds numpy.random.RandomState takes
_MAX_UNUSED_DRAWS = 1 << 22  # most draws made where k + p exceeds min(m, n)
# Most draws made to leave the caller's RandomState where scikit-learn leaves it (about 2 s;
# scikit-learn allocates its n x (k + p) test matrix, 1 GiB at this count): beyond, the
# state is not advanced (n_components = 5e7 on a 30 x 20 matrix took 22 s, and 2^31 hung).
_MAX_ADVANCE_DRAWS = 1 << 27


def _callers_random_state(random_state: RandomStateLike) -> np.random.RandomState | None:
    """The RandomState that scikit-learn draws from and leaves advanced for the caller:
    NumPy's global one for None, a given RandomState itself; None for anything else."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState):
        return random_state
    return None


def _sklearn_sketch(
    random_state: RandomStateLike, n: int, n_random: int, l: int, dtype: np.dtype
) -> np.ndarray | None:
    """scikit-learn's Gaussian test matrix for this random_state: the first l columns of
    ``check_random_state(random_state).normal(size=(n, n_random))`` (None: NumPy's global
    RandomState, advanced as scikit-learn advances it), in the matrix's dtype, Fortran
    order.  None where scikit-learn takes no such random_state (a Generator, a seed beyond
    RandomState's range), or where k + p exceeds min(m, n) = l by so much that the draws
    would not fit in memory: rankwise's Philox sketch is used then (with l = min(m, n) the
    sketch spans the whole range, so the factors do not depend on it)."""
    if n_random > l and n * n_random > _MAX_UNUSED_DRAWS:
        return None
    state = _callers_random_state(random_state)
    if (
        state is None
        and isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, bool)
        and 0 <= random_state < _RANDOM_STATE_SEEDS
    ):
        state = np.random.RandomState(int(random_state))
    if state is None:
        return None
    omega = state.normal(size=(n, n_random))[:, :l]
    return np.asfortranarray(omega, dtype=dtype)


def _long_float(dtype: np.dtype) -> bool:
    """A float wider than float64 (np.longdouble where it is)."""
    return dtype.kind == "f" and dtype.itemsize > 8


def _advance_like_sklearn(random_state: RandomStateLike, n: int, n_random: int) -> None:
    """Draw and discard the ``n x n_random`` normals scikit-learn draws from the caller's
    RandomState (or NumPy's global one, for None), in blocks (the same stream): the exact
    path below needs no sketch, but code that draws from the same state after the call must
    see it where scikit-learn leaves it.  Not where they number more than
    _MAX_ADVANCE_DRAWS (an n_components far beyond min(m, n))."""
    state = _callers_random_state(random_state)
    if state is None:  # an int seeds a RandomState of scikit-learn's own; a Generator it refuses
        return
    total = n * n_random
    if total > _MAX_ADVANCE_DRAWS:
        return
    for start in range(0, total, _MAX_UNUSED_DRAWS):
        state.normal(size=min(_MAX_UNUSED_DRAWS, total - start))


def _exact_thin_svd(
    M_work: Any, mat: Any, k: int, driver: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rank-k truncation of the thin SVD of the dense or sparse M_work by LAPACK (the
    path for k + p > min(m, n), where scikit-learn's basis has min(m, n) columns or more:
    with k + p >= the long side it is the whole space and its SVD is exact; here always)."""
    X = M_work.toarray() if sp.issparse(M_work) else np.asarray(M_work)
    X = np.asarray(X, dtype=mat.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        U, s, Vt = scipy.linalg.svd(
            X, full_matrices=False, lapack_driver=driver, check_finite=False
        )
    if not (np.isfinite(s).all() and np.isfinite(U).all() and np.isfinite(Vt).all()):
        # (LAPACK scales internally: NaN/Inf only where sigma_1 itself is beyond the range)
        raise ValueError(
            f"the singular values of M exceed the {mat.dtype.name} range: the result is not "
            "representable; scale M down"
        )
    return U[:, :k], s[:k], Vt[:k]


def _warn_unused_on_graph_or_device(
    normalizer: Any, transpose: Any, flip_sign: Any, driver: Any
) -> None:
    """Dask and CuPy input run rankwise.svd (CholeskyQR between passes, the orientation
    chosen by shape, signs flipped, its own small SVD): options asking for something else
    are named in a warning rather than passed over in silence."""
    given = {
        "power_iteration_normalizer": normalizer != "auto",
        "transpose": transpose != "auto",
        "flip_sign": not flip_sign,
        "svd_lapack_driver": driver != "gesdd",
    }
    unused = [name for name, set_ in given.items() if set_]
    if unused:
        warnings.warn(
            f"{', '.join(unused)} do not apply to dask or CuPy input (CholeskyQR between "
            "passes, the orientation chosen by shape, signs flipped); ignored",
            UserWarning,
            stacklevel=3,
        )


@overload
def randomized_svd(
    M: HostMatrix,
    n_components: SupportsIndex,
    *,
    n_oversamples: SupportsIndex = ...,
    n_iter: SupportsIndex | Literal["auto"] = ...,
    power_iteration_normalizer: Literal["auto", "QR", "LU", "none"] = ...,
    transpose: bool | Literal["auto"] = ...,
    flip_sign: bool = ...,
    random_state: RandomStateLike = ...,
    svd_lapack_driver: Literal["gesdd", "gesvd"] = ...,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@overload
def randomized_svd(
    M: Any,
    n_components: SupportsIndex,
    *,
    n_oversamples: SupportsIndex = ...,
    n_iter: SupportsIndex | Literal["auto"] = ...,
    power_iteration_normalizer: Literal["auto", "QR", "LU", "none"] = ...,
    transpose: bool | Literal["auto"] = ...,
    flip_sign: bool = ...,
    random_state: RandomStateLike = ...,
    svd_lapack_driver: Literal["gesdd", "gesvd"] = ...,
) -> tuple[Any, Any, Any]: ...


def randomized_svd(
    M: Any,
    n_components: SupportsIndex,
    *,
    n_oversamples: SupportsIndex = 10,
    n_iter: SupportsIndex | Literal["auto"] = "auto",
    power_iteration_normalizer: Literal["auto", "QR", "LU", "none"] = "auto",
    transpose: bool | Literal["auto"] = "auto",
    flip_sign: bool = True,
    random_state: RandomStateLike = None,
    svd_lapack_driver: Literal["gesdd", "gesvd"] = "gesdd",
) -> tuple[Any, Any, Any]:
    """Randomized truncated SVD with scikit-learn's signature, defaults and conventions.

    A drop-in for ``sklearn.utils.extmath.randomized_svd`` (Halko, Martinsson & Tropp 2011,
    Algorithms 4.4 and 5.1): the same parameters with the same meaning, the same number of
    passes over M (``2 n_iter + 2``) and the same return convention; the products, the
    normalization and the final orthonormalization run in rankwise's native core (sparse
    products multithreaded, float32 kept as float32).  The Gaussian test matrix is
    scikit-learn's for the same ``random_state`` (an int, a ``RandomState``, or None for
    NumPy's global state, drawn by NumPy as scikit-learn draws it), so the results equal
    scikit-learn's up to rounding (with ``flip_sign=False``, up to the sign of each pair of
    singular vectors, which neither fixes then); a ``Generator`` (which scikit-learn does
    not take) and CuPy or dask input use rankwise's own Philox sketch.

    Where ``n_components + n_oversamples`` exceeds ``min(M.shape)`` (a dense or sparse M in
    memory), scikit-learn's basis spans ``min(M.shape)`` directions or more and its result
    is the exact SVD up to the rounding its power iterations leave; rankwise then computes
    the thin SVD of M by LAPACK directly (a sparse M is densified: ``m n`` numbers, no more
    than scikit-learn's basis of ``k + p`` long vectors), and advances the ``RandomState``
    by the draws scikit-learn makes.

    Parameters
    ----------
    M : {ndarray, sparse matrix, LinearOperator, dask array} of shape (n_samples, n_features)
        Matrix to decompose (an object array of numbers is taken as float64, as
        scikit-learn does).  A dask array runs as a dask graph (see :func:`svd`); its large
        factor comes back as a dask array.  A CuPy array runs on its GPU and gives CuPy
        arrays.  For both, ``power_iteration_normalizer``, ``transpose``, ``flip_sign`` and
        ``svd_lapack_driver`` do not apply (CholeskyQR between passes, the orientation
        chosen by shape, signs always flipped): a value other than the default is ignored
        with a UserWarning.
    n_components : int
        Number of singular values and vectors to extract.
    n_oversamples : int, default 10
        Additional random vectors: the sketch has ``n_components + n_oversamples`` columns.
    n_iter : int or "auto", default "auto"
        Power iterations; "auto" is 7 if ``n_components < 0.1 min(M.shape)``, else 4.
    power_iteration_normalizer : {"auto", "QR", "LU", "none"}, default "auto"
        Normalization between passes: Householder QR, the ``P L`` factor of an LU
        factorization, or none; "auto" is "none" if ``n_iter <= 2``, else "LU".
    transpose : bool or "auto", default "auto"
        Work on ``M.T`` ("auto": when ``M`` has more columns than rows).  No copy is made.
    flip_sign : bool, default True
        Make the largest-magnitude entry of each column of ``u`` positive.
    random_state : None, int, Generator or RandomState
        Seed of the sketch: None, an int below 2**32 (a bool, as in scikit-learn, is 0 or 1)
        or a RandomState give scikit-learn's draws; a Generator or a larger int seeds
        rankwise's generator.
    svd_lapack_driver : {"gesdd", "gesvd"}, default "gesdd"
        LAPACK driver for the small SVD.

    Returns
    -------
    u : ndarray of shape (n_samples, n_components)
    s : ndarray of shape (n_components,)
        Singular values, non-increasing.
    vh : ndarray of shape (n_components, n_features)

    See Also
    --------
    sklearn.utils.extmath.randomized_svd : the original.
    svd : rankwise's own entry point (block Krylov, fixed precision).

    Examples
    --------
    >>> import numpy as np
    >>> from rankwise import randomized_svd
    >>> a = np.array([[1, 2, 3, 5],
    ...               [3, 4, 5, 6],
    ...               [7, 8, 9, 10]])
    >>> U, s, Vh = randomized_svd(a, n_components=2, random_state=0)
    >>> U.shape, s.shape, Vh.shape
    ((3, 2), (2,), (2, 4))
    """
    if sp.issparse(M) and M.format in ("lil", "dok"):
        warnings.warn(
            f"Calculating SVD of a {type(M).__name__} is expensive. CSR format is more efficient.",
            sp.SparseEfficiencyWarning,
            stacklevel=2,
        )
    try:  # scikit-learn's class for these: both a ValueError and a TypeError
        # (a bool is an Integral to scikit-learn: True is 1)
        n_components, n_oversamples, n_iter = (
            int(x) if isinstance(x, bool | np.bool_) else x
            for x in (n_components, n_oversamples, n_iter)
        )
        n_components = check_int(n_components, "n_components", low=1)
        n_oversamples = check_int(n_oversamples, "n_oversamples", low=0)
        q = check_n_iter(n_iter)
        if power_iteration_normalizer not in _NORMALIZERS:
            raise ValueError(
                "power_iteration_normalizer must be one of "
                f"{tuple(_NORMALIZERS)}; got {power_iteration_normalizer!r}"
            )
        driver = check_choice(svd_lapack_driver, "svd_lapack_driver", ("gesdd", "gesvd"))
        if transpose != "auto" and not isinstance(transpose, bool | np.bool_):
            raise ValueError(f"transpose must be True, False or 'auto'; got {transpose!r}")
        if not isinstance(flip_sign, bool | np.bool_):  # "no" would flip (sklearn refuses it)
            raise ValueError(f"flip_sign must be True or False; got {flip_sign!r}")
        if isinstance(random_state, bool | np.bool_):  # an int to scikit-learn: seed 0 or 1
            random_state = int(random_state)
        check_random_state(random_state)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(str(exc)) from None
    if _dask.is_dask_array(M) or _gpu.is_device_array(M):
        _warn_unused_on_graph_or_device(
            power_iteration_normalizer, transpose, flip_sign, svd_lapack_driver
        )
    if _dask.is_dask_array(M):
        # rankwise.svd's dask graph (python/rankwise/_dask.py): the same sketch and passes;
        # CholeskyQR between passes, the orientation chosen by shape, signs always flipped.
        if any(math.isnan(d) for d in M.shape):
            raise ValueError("M has unknown chunk sizes; call M.compute_chunk_sizes() first")
        dims = [int(d) for d in M.shape]
        k = min(n_components, *dims) if len(dims) == 2 else n_components
        return _svd_dask(M, k, n_oversamples, n_iter, "subspace", None, random_state)
    if _gpu.is_device_array(M):
        # rankwise.svd on the CUDA backend: the same sketch and passes; CholeskyQR2 between
        # passes whatever the normalizer, signs always flipped.
        dims = [int(d) for d in M.shape]
        k = min(n_components, *dims) if len(dims) == 2 else n_components
        return _svd_gpu(
            M,
            k,
            n_oversamples,
            n_iter,
            "subspace",
            n_passes=None,
            block_size=None,
            tol=None,
            max_rank=None,
            random_state=random_state,
        )
    if not (sp.issparse(M) or hasattr(M, "T")):
        M = np.asarray(M)
    if isinstance(M, np.ndarray) and (M.dtype == object or _long_float(M.dtype)):
        # scikit-learn's check_array takes an object array of numbers (pandas' .values of a
        # mixed frame) and long doubles as float64; other rankwise entry points refuse them
        try:
            M = M.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"M has dtype object with entries that are not real numbers: {exc}"
            ) from None
    elif sp.issparse(M) and _long_float(M.dtype):
        M = M.astype(np.float64)
    if transpose == "auto":
        transpose = len(M.shape) == 2 and M.shape[0] < M.shape[1]
    M_work = M.T if transpose else M
    try:
        mat = as_matrix_of(M, transpose, "M")
    except (TypeError, ValueError) as exc:  # complex, strings: a ValueError to scikit-learn
        raise InvalidParameterError(str(exc)) from None

    if q is None:
        q = auto_power_iterations(n_components, mat.min_dim)
    normalizer = _NORMALIZERS[power_iteration_normalizer]
    if normalizer is None:
        normalizer = "none" if q <= 2 else "lu"
    k = min(n_components, mat.min_dim)
    if n_components + n_oversamples > mat.min_dim and mat.kind != "operator":
        # scikit-learn's basis then has min(m_work, k + p) > min(m, n) columns, which keep
        # what its power iterations (unnormalized for n_iter <= 2) pushed below rounding;
        # a basis of min(m, n) columns lost it (12 x 8 float32, k = 4, p = 10, n_iter = 2,
        # cond 1e3: singular values off by 5.9e-3 against 6.8e-7; found by review)
        _advance_like_sklearn(random_state, mat.shape[1], n_components + n_oversamples)
        U, s, Vt = _exact_thin_svd(M_work, mat, k, driver)
        if transpose:
            U, Vt = Vt.T, U.T
        if flip_sign:
            flip_signs(U, Vt)
        return U, s, Vt
    l = min(n_components + n_oversamples, mat.min_dim)
    omega = _sklearn_sketch(random_state, mat.shape[1], n_components + n_oversamples, l, mat.dtype)
    key = philox_key(random_state) if omega is None else (0, 0)
    # the final basis by Householder QR, as scikit-learn's (its scipy.linalg.qr)
    U, s, Vt, _ = checked_core(
        _core.rsvd,
        M_work,
        mat,
        k,
        l,
        q,
        "subspace",
        normalizer,
        "householder",
        driver,
        *key,
        omega,
    )
    if transpose:
        U, Vt = Vt.T, U.T
    if flip_sign:
        flip_signs(U, Vt)
    return U, s, Vt
