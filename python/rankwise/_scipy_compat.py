"""rankwise.svds: SciPy's ``svds`` signature, with rankwise's solver as the default."""

from __future__ import annotations

import hashlib
import math
import numbers
from typing import Any, Literal, SupportsIndex

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from . import _core, _gpu
from ._dispatch import require_cpu_input
from ._random import philox_key
from ._svd import checked_core
from ._validate import as_matrix_of

_SCIPY_SOLVERS = ("arpack", "lobpcg", "propack")
_SOLVERS = ("rankwise", *_SCIPY_SOLVERS)
_DEFAULT_MAXITER = 1000
# The rankwise solver's search space: up to _KRYLOV_DEPTH blocks of l vectors, about half
# of them kept at each restart (subspace_iteration.hpp).  Blocks of 8 converge faster per
# product than wide ones; the default space holds max(96, 4k) vectors (8 blocks of
# ceil(k / 3) past k = 24).  A sparse matrix's products cost about the same per column
# whatever the block (its vectors, not its few entries, are most of the memory traffic),
# and its time goes to orthonormalizing the blocks against the space (O(m L^2) a cycle):
# there the space is max(96, 2.5 k) in up to 24 blocks (4 vectors up to k = 38, 6 at
# k = 50): 40-55% fewer products and 1.3-1.7x less time than the dense shape on random
# sparse matrices (bench/RESULTS.md, session 30).  Not narrower, though blocks of 2 were up
# to 1.5x faster still: a block Krylov space holds only l vectors of an exactly repeated
# singular value with a small gap below it, more only as rounding seeds them (a diagonal
# with a value repeated 8 times, k = 10: blocks of 2 in a space of 64 returned 4-6 copies,
# blocks of 4 all 8).
# A dense block product reads A once for all its columns; narrow blocks cost it 1.2-2x.
# Where max(96, 4k) covers the short side, both get the one exact block.
# check_svds_options gives both backends l and the depth.
_KRYLOV_DEPTH = 12
_SPARSE_KRYLOV_DEPTH = 24
_DEFAULT_SPACE = 96
_DENSE_COMPLEX_MAX = 200  # complex input up to this min(A.shape) is solved by dense LAPACK


def _rng_to_random_state(rng: Any, random_state: Any = None) -> tuple[Any, str]:
    """(the random state, the argument's name) of svds' ``rng`` or legacy ``random_state``
    (at most one given).  ``rng`` follows SciPy's conventions: None, an int, a Generator or
    RandomState as they are; anything else is handed to ``numpy.random.default_rng``, as
    SciPy does (a BitGenerator, a SeedSequence, a bool).  ``random_state`` is checked as
    SciPy's check_random_state checks it (None, int, Generator, RandomState; ValueError
    otherwise)."""
    legacy = random_state is not None
    value, name = (random_state, "random_state") if legacy else (rng, "rng")
    if value is None or isinstance(value, np.random.Generator | np.random.RandomState):
        return value, name
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), name
    if legacy:
        raise ValueError(
            f"'{value}' is neither a NumPy Generator nor an integer seed to instantiate one."
        )
    try:
        return np.random.default_rng(value), name
    except (TypeError, ValueError):
        # (SciPy hands rng to numpy.random.default_rng, which raises TypeError)
        raise TypeError(
            f"rng: '{value}' is neither a NumPy Generator nor an integer seed to instantiate one."
        ) from None


def _scipy_int(value: Any, message: str) -> int:
    """SciPy's integer check: anything equal to its int() is accepted; ``int()`` raises
    for what it cannot convert (TypeError for ``[]``, ValueError for ``"hi"``), as in SciPy."""
    as_int = int(value)
    if as_int != value:
        raise ValueError(message)
    return as_int


def _check_operand(A: Any) -> np.dtype:
    """SciPy's checks on ``A``, with its exception types and messages; returns its dtype."""
    require_cpu_input(A)
    op = spla.aslinearoperator(A)  # TypeError "type not understood" for non-matrices
    if not np.issubdtype(op.dtype, np.number):
        raise ValueError("`A` must be of numeric data type.")
    if math.prod(op.shape) == 0:
        raise ValueError("`A` must not be empty.")
    return np.dtype(op.dtype)


def _check_k(k: Any, min_dim: int) -> int:
    """``0 < k < min(A.shape)``: SciPy's rule for every solver but PROPACK."""
    message = "`k` must be an integer satisfying `0 < k < min(A.shape)`."
    k_int = _scipy_int(k, message)
    if not 0 < k_int < min_dim:
        raise ValueError(message)
    return k_int


def start_vector(v0: np.ndarray, n: int, dtype: np.dtype) -> tuple[np.ndarray, tuple[int, int]]:
    """v0 (on the host) checked as SciPy checks it, as a real vector of the work dtype, and
    the Philox key of the rest of the starting block: as in SciPy, v0 takes precedence over
    rng, so the block is seeded from v0 itself and the same v0 gives the same result
    whatever rng is.  Shared by the CPU and GPU (_svds_gpu.py) entry points."""
    v = np.atleast_1d(v0)
    if v.dtype.kind not in "fc":
        raise ValueError("`v0` must be of floating or complex floating data type.")
    if v.shape != (n,):
        raise ValueError(f"`v0` must have shape {(n,)}.")
    v = v.real.astype(dtype)
    if not np.isfinite(v).all():
        raise ValueError("`v0` contains NaN or Inf.")
    return v, philox_key(_seed_from(v), "v0")


def _seed_from(v0: np.ndarray) -> int:
    """A 64-bit seed that is a function of the bytes of ``v0``."""
    digest = hashlib.blake2b(np.ascontiguousarray(v0).tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _dense_svds(A: Any, k: int, which: str, return_singular_vectors: Any) -> Any:
    """Complex input that is small (or asks for nearly all triplets): LAPACK on the dense
    matrix, which is faster than an iterative solver there and has no ARPACK failure modes
    (zero matrices, ``k >= min(A.shape) - 1``)."""
    if sp.issparse(A):
        dense = A.toarray()
    elif isinstance(A, spla.LinearOperator):
        dense = A @ np.eye(A.shape[1], dtype=A.dtype)
    else:
        dense = np.asarray(A)
    if not np.all(np.isfinite(dense)):
        raise ValueError("A contains NaN or Inf")
    u, s, vh = scipy.linalg.svd(dense, full_matrices=False)
    order = np.argsort(s)
    chosen = order[-k:] if which == "LM" else order[:k]
    return _returned(u[:, chosen], s[chosen], vh[chosen], return_singular_vectors)


def _returned(u: Any, s: Any, vh: Any, return_singular_vectors: Any) -> Any:
    """What SciPy's svds returns for ``return_singular_vectors`` (any false value, such as
    0 or np.False_, as False: SciPy tests ``not return_singular_vectors``)."""
    if not return_singular_vectors:
        return s
    if return_singular_vectors == "u":
        return u, s, None
    if return_singular_vectors == "vh":
        return None, s, vh
    return u, s, vh


def svds_result(
    U: Any,
    s: Any,
    Vt: Any,
    info: dict,
    tol: float,
    maxiter: int,
    transposed: bool,
    return_singular_vectors: Any,
) -> Any:
    """The block Krylov solver's factors (descending, of the tall side) as SciPy's svds
    returns them (ascending, of A), or its ArpackNoConvergence; CPU and GPU (_svds_gpu.py)."""
    if not info["converged"]:
        how = (
            f"did not converge in {info['iterations']} iterations"
            if info["iterations"] >= maxiter
            else f"stopped improving after {info['iterations']} iterations, short of tol or "
            "working precision (singular values clustered closer than it can separate?)"
        )
        raise spla.ArpackNoConvergence(
            f"rankwise svds {how} (relative residual {info['relative_error']:.3g}, tol {tol})",
            s[::-1],
            Vt[::-1].T,
        )
    if transposed:
        U, Vt = Vt.T, U.T
    return _returned(U[:, ::-1], s[::-1], Vt[::-1], return_singular_vectors)


def _search_space(k: int, space: int, min_dim: int, max_depth: int) -> tuple[int, int] | None:
    """(l, depth) of a thick-restarted space: the largest block l <= ceil(space /
    max_depth) whose space, ``l * depth`` with depth = min(max_depth, min_dim // l), holds
    k kept vectors and a block more (the thick restart's need), also where the solver takes
    a block off to leave room for the next one beside the space; None where none does."""
    for l in range(max(1, -(-space // max_depth)), 0, -1):
        depth = min(max_depth, min_dim // l)
        fit = depth - 1 if l * (depth + 1) > min_dim else depth
        if l * (fit - 1) >= k:
            return l, depth
    return None


def check_svds_options(
    k: Any,
    ncv: Any,
    tol: Any,
    maxiter: Any,
    return_singular_vectors: Any,
    min_dim: int,
    sparse: bool = False,
) -> tuple[int, int, int, int]:
    """SciPy's checks of svds' scalar options, with its messages: (k, the solver's block
    size l, its depth (blocks in the search space), maxiter or its default).  Shared by the
    CPU and GPU (_svds_gpu.py) entry points; `sparse`: the narrower blocks of a sparse
    matrix (measured on the CPU)."""
    k = _check_k(k, min_dim)
    if ncv is None:
        space = max(_DEFAULT_SPACE, 4 * k)
    else:
        space = _scipy_int(ncv, "`ncv` must be an integer satisfying `k <= ncv <= min(A.shape)`.")
        if not k <= space <= min_dim:
            raise ValueError("`ncv` must be an integer satisfying `k <= ncv <= min(A.shape)`.")
    search, max_depth = space, _KRYLOV_DEPTH
    if sparse and ncv is None:
        search, max_depth = max(_DEFAULT_SPACE, math.ceil(2.5 * k)), _SPARSE_KRYLOV_DEPTH
    if space >= min_dim:
        # One block spanning the short side: exact in one cycle.  Small blocks there missed
        # repeated singular values: a block Krylov space holds at most l vectors of an
        # invariant subspace (diag(1, 1, 0.5, 0.25), k = 2, blocks of 1: 1 and 0.5, reported
        # converged), and a 15 x 15 diagonal with a fourfold top value did not converge.
        l, depth = min_dim, 1
    elif (shape := _search_space(k, search, min_dim, max_depth)) is not None:
        l, depth = shape
    else:
        # No room for a thick restart (k near min(A.shape), or ncv = k): blocks of at least
        # k vectors, restarted from the leading block alone.
        l = min(min_dim, max(2 * k, k + 16)) if ncv is None else space
        depth = max(1, min(_KRYLOV_DEPTH, min_dim // l))
    # SciPy's test: comparing a list or a string with 0 raises TypeError, as there (and a
    # bool is 0 or 1, as there).
    if tol < 0 or not np.isfinite(tol):
        raise ValueError("`tol` must be a non-negative floating point value.")
    if maxiter is None:
        maxiter = _DEFAULT_MAXITER
    maxiter = _scipy_int(maxiter, "`maxiter` must be a positive integer.")
    if maxiter <= 0:
        raise ValueError("`maxiter` must be a positive integer.")
    maxiter = min(maxiter, 2**62)  # a bound no run reaches, within int64
    if return_singular_vectors not in (True, False, "u", "vh"):
        raise ValueError("`return_singular_vectors` must be in {True, False, 'vh', 'u'}.")
    return k, l, depth, maxiter


def svds(
    A: Any,
    k: SupportsIndex = 6,
    ncv: SupportsIndex | None = None,
    tol: float = 0,
    which: Literal["LM", "SM"] = "LM",
    v0: Any = None,
    maxiter: SupportsIndex | None = None,
    return_singular_vectors: bool | Literal["u", "vh"] = True,
    solver: Literal["rankwise", "arpack", "lobpcg", "propack"] = "rankwise",
    rng: Any = None,
    options: dict | None = None,
    *,
    random_state: Any = None,
) -> Any:
    """Partial SVD with SciPy's ``svds`` signature and return convention.

    The default ``solver="rankwise"`` is a thick-restarted block Krylov (block Lanczos
    bidiagonalization) method in the native core: a search space of up to 12 blocks of
    ``max(8, ceil(k / 3))`` vectors (``max(96, 4k)`` in all, fewer where A is small; for
    scipy.sparse input up to 24 blocks of ``max(4, ceil(2.5 k / 24))``), the
    Rayleigh-Ritz approximation on it, and a restart that keeps about half of it (the
    leading Ritz vectors and the next Krylov block; products with A and A^T on blocks,
    multithreaded for sparse A), until every wanted triplet has a residual
    ``||A v_i - s_i u_i|| <= tol * s_1``.  The triplets returned are then those of
    ``A V_k`` (as SciPy's svds ends), so ``||A v_i - s_i u_i||`` is at rounding level and
    ``||A^T u_i - s_i v_i||`` is at most about the residual reached.

    For scipy.sparse input and LinearOperators with the default ``ncv``, the same
    thick-restarted block Lanczos iteration runs on ``A^T A`` (``A A^T`` for a wide A)
    first: its basis lives on the short side, as ARPACK's does, where the
    bidiagonalization's time and memory go to long-side vectors (1.4-3.7x less time on
    random and power-law sparse matrices, bench/RESULTS.md session 32; operators of sparse
    matrices 2.5x less time and 4-5x less memory, session 35).  A wide CSR or tall CSC is
    copied to the other format as :func:`rankwise.svd` says (1.2-2.4x less time, session
    36).  Squaring resolves singular
    values only down to about ``sqrt(eps) s_1``, so its triplets (from the SVD of
    ``A V_k``) are checked,
    ``max_i ||A^T u_i - s_i v_i||`` within ``tol * s_1`` or 8 times the rounding level
    below; where they fall short (``s_k`` below ``64 sqrt(eps) s_1`` but not zero, fast
    decays, low-rank float32 matrices, an operator whose products carry noise above
    rounding) the bidiagonalization runs from the start (within ``maxiter`` cycles of its
    own; up to 2.2x the time it alone takes, measured).  A rank below ``k`` stays with the
    iteration where the vectors of the zero values are null vectors of A (one product to
    check): rank 4 of 400000 x 2000, k = 6, 0.1 s instead of 2.1 s (session 37).

    ``tol=0`` means working precision: rounding alone makes the residual of a product with
    A about ``eps * ||A||_F`` (``eps`` of A's dtype), so the iteration stops once the
    residual is within 4 times ``eps * (1 + ||A||_F / s_1)`` (``||A||_F`` of arrays and sparse
    matrices; for a LinearOperator estimated from the Ritz values), or no longer improves:
    a cycle that does not halve it within 32 times that level, or, below ``sqrt(eps)`` and
    1024 times that level and after 6 cycles, 3 cycles without a 25% gain that also gain
    less than a quarter of what the cycles before them gained (slow but steady convergence
    goes on; so does, for arrays and sparse matrices, a stall higher than that, as on a
    value repeated more often than the block holds, which then converges, or on singular
    values clustered within about 1e-10 of each other, which the iteration cannot
    separate: there it runs to ``maxiter`` and raises, as SciPy's arpack does; a
    LinearOperator's level is an estimate and its stalls are taken as its floor, above
    ``sqrt(eps)`` too after 6 cycles without gain (products with noise: an inverse applied
    by an iterative solver, float32 products declared float64); a cycle
    whose residual jumps more than 1024-fold above the best before it, as when another copy
    of a repeated value enters the space, starts these tests afresh).  There,
    in float64, the Rayleigh-Ritz vectors are refined by one one-sided Jacobi step each
    cycle (without it, LAPACK's backward error in the small SVD accumulates over the
    restarts).  It ends, measured on arrays and sparse matrices, at 0.2-2.4 times that
    level in float64 (median 1.35) and 0.1-2.1 in float32 (median 1.2) on random Gaussian,
    random sparse, decaying and clustered spectra (SciPy's arpack: 0.1-1.7, median 0.5 /
    0.43); on a float32 spectrum of 200 values within 1e-3 at 0.5-3.7 times it (arpack:
    0.3-0.5).  A ``tol`` below that level is
    the same as ``tol=0``: it cannot be reached, the result is reported as converged at
    working precision; so is a ``tol`` below 32 times that level where the iteration
    stops at its floor above it (the residual is then that floor, above ``tol``); a ``tol``
    that the iteration stops short of higher up (stagnating on a tightly clustered
    spectrum) raises ArpackNoConvergence, and so does ``tol=0`` where ``maxiter`` cycles
    end before working precision (an ``ncv`` close to ``k`` on a flat spectrum can need
    thousands).  Before it raises, the triplets
    it would return are judged by their own residual (one product more).
    Singular values are then accurate to about eps s_1 and vectors to that over the
    relative gap.  A block Krylov space holds only as many copies of an exactly repeated
    singular value as its block has vectors (8 or more for dense input, 4 for sparse), more
    only as rounding seeds them: a value repeated more often can come back with fewer
    copies, each a true triplet, the next values in place of the rest (a 32-fold value,
    k = 30: 30 copies of a dense diagonal matrix but 20 of a dense 400 x 400 one whose
    singular vectors are random, 30 of it with ``ncv=96``, whose blocks are larger; 16
    sparse; SciPy's arpack, blocks of one: 7-11).  Where values may repeat more often than
    the block holds, a larger ``ncv`` finds more copies.  The other
    solvers, and
    ``which="SM"`` (smallest singular values, which this iteration cannot target) and
    complex input, are SciPy's own ``svds`` (arpack by default).

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator, shape (M, N)
        Real input runs the rankwise solver.  Complex input is solved by dense LAPACK when
        ``min(M, N) <= 200`` or ``k >= min(M, N) - 1``, else by SciPy's arpack.
    k : int, default 6
        Number of singular triplets, ``0 < k < min(M, N)`` (SciPy's rule; its PROPACK
        solver also accepts ``k = min(M, N)``).
    ncv : int, optional
        Size of the rankwise solver's search space, ``k <= ncv <= min(M, N)``: 12 blocks of
        ``ceil(ncv / 12)`` vectors (fewer where A is small); default ``max(96, 4k)``.  A
        larger space converges in fewer products; ``ncv`` near ``k`` leaves no room for a
        thick restart and converges slowly.
    tol : float, default 0
        Relative residual tolerance, ``max_i ||A v_i - s_i u_i|| <= tol * s_1`` (0, or a
        tol below ``eps * (1 + ||A||_F / s_1)``: working precision, see above).
    which : {"LM", "SM"}, default "LM"
        Largest or smallest singular values ("SM" uses SciPy's arpack).
    v0 : ndarray, shape (min(M, N),), optional
        Starting vector (the first column of the starting block).  As in SciPy it takes
        precedence over ``rng``: the rest of the block is seeded from ``v0``.
    maxiter : int, optional
        Maximum restart cycles (each adds about half the search space: 2 products with A
        or A^T per block added); default 1000.
    return_singular_vectors : {True, False, "u", "vh"}, default True
        As SciPy: False returns only ``s``; "u" returns ``(u, s, None)``; "vh"
        ``(None, s, vh)``.
    solver : {"rankwise", "arpack", "lobpcg", "propack"}, default "rankwise"
    rng : None, int, numpy.random.Generator or RandomState
        Seed of the starting block.
    random_state : same as rng, keyword only
        SciPy's older name for ``rng``; give one of them (both: TypeError, as in SciPy).
    options : dict, optional
        Passed to SciPy's solvers; the rankwise solver takes none.

    Returns
    -------
    u : ndarray, shape (M, k)
    s : ndarray, shape (k,)
        Singular values in ascending order (SciPy's convention).
    vh : ndarray, shape (k, N)

    Raises
    ------
    scipy.sparse.linalg.ArpackNoConvergence
        When the rankwise solver does not reach ``tol`` within ``maxiter`` iterations (as
        SciPy's arpack solver does); the partial results are attached.

    See Also
    --------
    scipy.sparse.linalg.svds : the original.
    svd : fixed-pass randomized SVD, faster when a fixed accuracy budget is enough.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import rankwise
    >>> A = sp.random(2000, 500, density=0.01, random_state=0, format="csr")
    >>> u, s, vh = rankwise.svds(A, k=5, rng=0)
    >>> s_ref = np.linalg.svd(A.toarray(), compute_uv=False)[:5][::-1]
    >>> bool(np.allclose(s, s_ref, rtol=1e-10))
    True
    """
    if rng is not None and random_state is not None:
        raise TypeError(
            "svds() got multiple values for argument now known as `rng`. Specify one of "
            "`rng` or `random_state`."
        )
    if _gpu.is_device_array(A):  # CuPy: on the GPU (python/rankwise/_svds_gpu.py)
        from ._svds_gpu import svds_gpu

        return svds_gpu(
            A, k, ncv, tol, which, v0, maxiter, return_singular_vectors, solver, rng, random_state
        )
    solver_name = str(solver).lower()
    if solver_name not in _SOLVERS:
        raise ValueError(f"solver must be one of {set(_SOLVERS)}.")
    which_name = str(which).upper()
    complex_input = np.issubdtype(_check_operand(A), np.complexfloating)
    if solver_name in _SCIPY_SOLVERS or which_name == "SM" or complex_input:
        extra = {"random_state": random_state} if random_state is not None else {"rng": rng}
        if solver_name == "rankwise" and complex_input and which_name in ("LM", "SM"):
            min_dim = min(A.shape)
            k_checked = _check_k(k, min_dim)
            if min_dim <= _DENSE_COMPLEX_MAX or k_checked >= min_dim - 1:
                # checked as for the iterative solvers, though LAPACK needs none of them
                check_svds_options(k, ncv, tol, maxiter, return_singular_vectors, min_dim)
                if v0 is not None:
                    start_vector(np.asarray(v0), min_dim, np.dtype(np.float64))
                _rng_to_random_state(rng, random_state)
                return _dense_svds(A, k_checked, which_name, return_singular_vectors)
        return spla.svds(
            A,
            k=k,
            ncv=ncv,
            tol=tol,
            which=which,
            v0=v0,
            maxiter=maxiter,
            return_singular_vectors=return_singular_vectors,
            solver="arpack" if solver_name == "rankwise" else solver_name,
            options=options,
            **extra,
        )
    if which_name != "LM":
        raise ValueError("`which` must be in {'LM', 'SM'}.")
    key = philox_key(*_rng_to_random_state(rng, random_state))

    if not (sp.issparse(A) or hasattr(A, "T")):
        A = np.asarray(A)
    transposed = len(A.shape) == 2 and A.shape[0] < A.shape[1]
    A_work = A.T if transposed else A
    mat = as_matrix_of(A, transposed)  # work on the tall side, as SciPy does
    k, l, depth, maxiter = check_svds_options(
        k, ncv, tol, maxiter, return_singular_vectors, mat.min_dim, mat.kind == "sparse"
    )
    start = None
    if v0 is not None:
        start, key = start_vector(np.asarray(v0), mat.min_dim, mat.dtype)

    U, s, Vt, info = checked_core(
        _core.subspace_iteration,
        A_work,
        mat,
        k,
        l,
        depth,
        float(tol),
        maxiter,
        start,
        *key,
        # the Lanczos iteration on A^T A first, in the default space (normal_lanczos.hpp):
        # for sparse matrices and operators (a dense A's products cost the same either way,
        # and its bidiagonalization needs fewer of them)
        mat.kind in ("sparse", "operator") and ncv is None,
    )
    return svds_result(U, s, Vt, info, tol, maxiter, transposed, return_singular_vectors)
