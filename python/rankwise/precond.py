"""Preconditioners for :func:`rankwise.cg` and :func:`rankwise.solve_cg`, applied natively.

Each factory returns a :class:`Preconditioner`: an approximation M of A^-1, symmetric
positive definite, built once and applied by the native core with no Python per iteration.
It is also a :class:`scipy.sparse.linalg.LinearOperator`, so SciPy's solvers accept it too
(through the slower Python path).

jacobi      M = diag(A)^-1: cheap, helps when the diagonal varies (scaling, coefficients)
block_jacobi  dense diagonal blocks of consecutive unknowns (nodes, grid lines), parallel
ssor        symmetric SOR sweeps (parameter omega): cheap, robust for PDE matrices
ic0         zero-fill incomplete Cholesky, with a diagonal-shift fallback
chebyshev   a polynomial in A (degree products with A), bounds from a few Lanczos steps
nystrom     randomized low-rank (Nystrom) preconditioner for A + mu I, A positive semidefinite

Which to pick (time to rtol 1e-8 against SciPy cg + Jacobi, bench/RESULTS.md "cg"):
ssor (omega near 1.9, or learned by ``CGSolver(M="ssor", omega="learn")``) for isotropic
PDE-type matrices (2-D Poisson: 4-9x, linear elasticity: 3x); ic0 for anisotropic ones,
where it needs 20-100x fewer iterations (rotated anisotropic diffusion: 14-57x); both apply
sequential triangular sweeps, one thread per right-hand side.  jacobi for badly scaled
rows/columns; chebyshev where only products with A are available (LinearOperator) or where
sweeps are too sequential; block_jacobi where blocks of consecutive unknowns are strongly
coupled (grid lines, the components at a node) and the blocks are small.  nystrom for dense
kernel matrices with a ridge term (kernel ridge regression, Gaussian processes, regularized
least squares): A + mu I whose spectrum decays fast (4x at n = 4000).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, SupportsIndex

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from . import _core
from ._dispatch import require_cpu_input
from ._random import philox_key
from ._validate import as_matrix, asymmetry, check_int, work_dtype

__all__ = [
    "Preconditioner",
    "block_jacobi",
    "chebyshev",
    "ic0",
    "jacobi",
    "nystrom",
    "ssor",
]


class Preconditioner(LinearOperator):
    """A native preconditioner M ~ A^-1 (symmetric positive definite).

    Pass it as ``M=`` to :func:`rankwise.cg` / :func:`rankwise.solve_cg` (applied in the
    native loop) or to any SciPy solver (as a ``LinearOperator``).  Built by the factories of
    :mod:`rankwise.precond`; its dtype is the dtype of the system it was built for.

    Attributes
    ----------
    kind : str
        Which preconditioner ("jacobi", ...).
    """

    def __init__(self, handle: Any, kind: str, n: int, dtype: np.dtype) -> None:
        super().__init__(dtype=np.dtype(dtype), shape=(n, n))
        self._handle = handle
        self.kind = kind

    @property
    def info(self) -> dict[str, Any]:
        """What the construction chose: ``omega`` (ssor), ``shift`` (ic0), ``lmin``,
        ``lmax``, ``degree`` and ``lanczos_steps`` (chebyshev), ``mu``, ``rank``,
        ``sketch_size``, ``shift`` and ``eigenvalues`` (nystrom)."""
        return dict(self._handle.info)

    @property
    def handle(self) -> Any:
        """The native object (rankwise._core.Preconditioner)."""
        return self._handle

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        out_dtype = np.result_type(X.dtype, self.dtype)
        if X.dtype.kind == "c":  # M is real: M (Re X) + i M (Im X), as SciPy's solvers need
            return self._matmat(X.real) + 1j * self._matmat(X.imag).astype(out_dtype)
        Z = _core.precond_apply(self._handle, np.asfortranarray(X, dtype=self.dtype))
        return Z.astype(out_dtype, copy=False)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return self._matmat(x.reshape(-1, 1)).reshape(x.shape)

    def _adjoint(self) -> Preconditioner:
        return self  # symmetric

    def __repr__(self) -> str:
        n = self.shape[0]
        return f"<rankwise.precond.Preconditioner {self.kind} {n}x{n} {self.dtype}>"

    def __reduce__(self) -> Any:
        # (pickle and copy.deepcopy; as SciPy's SuperLU, the factorization is not saved)
        raise TypeError(
            f"a rankwise {self.kind} preconditioner cannot be pickled or copied: it holds a "
            "native factorization; build it again from A where it is needed"
        )


def _diagonal_of(A: Any) -> np.ndarray:
    require_cpu_input(A, "A")
    if sp.issparse(A):
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be square; got shape {A.shape}")
        dtype = work_dtype(A.dtype, "A")
        return np.asarray(A.diagonal(), dtype=dtype)
    if isinstance(A, LinearOperator) or (hasattr(A, "matvec") and hasattr(A, "shape")):
        diag = getattr(A, "diagonal", None)
        if diag is None:
            raise TypeError(
                "jacobi needs the diagonal of A, which a LinearOperator does not give; "
                "pass the diagonal itself as a 1-D array"
            )
        d = np.asarray(diag())
        return d.astype(work_dtype(d.dtype, "A.diagonal()"), copy=False)
    a = np.asarray(A)
    dtype = work_dtype(a.dtype, "A")
    if a.ndim == 1:
        return a.astype(dtype, copy=False)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"A must be a square matrix or a 1-D diagonal; got shape {a.shape}")
    return np.diagonal(a).astype(dtype)


def jacobi(A: Any) -> Preconditioner:
    """Jacobi (diagonal) preconditioner M = diag(A)^-1.

    Applied fused into CG's vector updates, so it costs one extra read of the diagonal per
    iteration.  It removes bad row/column scaling (kappa(D^-1/2 A D^-1/2) is within a factor n
    of the best diagonal scaling, van der Sluis 1969) but does little for a Poisson-type
    matrix with a constant diagonal.

    Parameters
    ----------
    A : ndarray, sparse matrix, LinearOperator with a ``diagonal()`` method, or 1-D array
        The SPD matrix (its diagonal is used), or the diagonal itself.  float32 stays
        float32; integers become float64.

    Returns
    -------
    Preconditioner

    Raises
    ------
    ValueError
        If a diagonal entry is not positive and finite (A cannot be SPD then).

    Examples
    --------
    >>> import numpy as np
    >>> import rankwise
    >>> A = np.diag([1.0, 10.0, 100.0]) + 0.1
    >>> M = rankwise.precond.jacobi(A)
    >>> M @ np.ones(3)
    array([0.90909091, 0.0990099 , 0.00999001])
    """
    d = np.ascontiguousarray(_diagonal_of(A))
    bad = ~(np.isfinite(d) & (d > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"A has diagonal entry A[{i}, {i}] = {float(d[i])}; a symmetric positive definite "
            "matrix has a positive, finite diagonal, so the Jacobi preconditioner is undefined"
        )
    return Preconditioner(_core.precond_jacobi(d), "jacobi", d.shape[0], d.dtype)


def _canonical_csr(A: Any, name: str = "A") -> sp.csr_array:
    """A as CSR in its work dtype with sorted, unique column indices (one copy if needed)."""
    require_cpu_input(A, name)
    if isinstance(A, LinearOperator):
        raise TypeError(f"{name} must be a matrix (dense or sparse), not a LinearOperator")
    if not sp.issparse(A):
        a = np.asarray(A)
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D; got shape {a.shape}")
        # the work dtype first: SciPy's sparse arrays take neither float16 nor byte-swapped
        A = sp.csr_array(a.astype(work_dtype(a.dtype, name), copy=False))
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be square; got shape {A.shape}")
    dtype = work_dtype(A.dtype, name)
    C = sp.csr_array(A, dtype=dtype)
    if C is A or not C.has_canonical_format:
        C = C.copy()
        C.sum_duplicates()
        C.sort_indices()
    if not np.isfinite(C.data).all():
        raise ValueError(f"{name} contains NaN or Inf")
    index = np.promote_types(C.indices.dtype, C.indptr.dtype)
    if index not in (np.int32, np.int64):
        index = np.dtype(np.int64)
    C.indices = np.ascontiguousarray(C.indices, dtype=index)
    C.indptr = np.ascontiguousarray(C.indptr, dtype=index)
    return C


def _warn_if_not_symmetric(C: sp.csr_array, name: str, reads: str) -> None:
    """A warning where the canonical CSR ``C`` is not symmetric to sqrt(eps) of its norm
    (an SPD preconditioner from a non-symmetric matrix: CG then stalls with no message;
    ``reads``: which part of A the factory uses)."""
    asym = asymmetry(C)
    if asym > np.sqrt(np.finfo(C.dtype).eps):
        warnings.warn(
            f"{name}: A is not symmetric (||A - A^T||_F / ||A||_F = {asym:.2g}); {reads}, and "
            "CG needs a symmetric positive definite A and M",
            RuntimeWarning,
            stacklevel=3,
        )


def ssor(A: Any, omega: float = 1.0) -> Preconditioner:
    """Symmetric SOR preconditioner, M^-1 = w(2-w) (D + wU)^-1 D (D + wL)^-1 for A = L + D + U.

    SPD for SPD A and 0 < omega < 2; omega = 1 is symmetric Gauss-Seidel.  Each application
    is a forward and a backward sweep over A (sequential, about two products with A).  The
    best omega depends on the problem and is hard to set by hand; 1 is a safe default.

    Parameters
    ----------
    A : ndarray or sparse matrix, shape (n, n)
        SPD with a positive diagonal; converted once to CSR with sorted indices.  Both
        triangles are read: a non-symmetric A (one stored triangle) gets a ``RuntimeWarning``.
    omega : float, default 1.0
        Relaxation parameter, 0 < omega < 2.

    Returns
    -------
    Preconditioner

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import rankwise
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(400, 400), format="csr")
    >>> b = np.ones(400)
    >>> plain = rankwise.solve_cg(A, b, rtol=1e-8).iterations
    >>> with_ssor = rankwise.solve_cg(A, b, rtol=1e-8, M=rankwise.precond.ssor(A, 1.9)).iterations
    >>> with_ssor < plain / 4
    True
    """
    if isinstance(omega, bool) or not isinstance(omega, numbers.Real) or not 0 < omega < 2:
        raise ValueError(f"omega must be a real number in (0, 2); got {omega!r}")
    C = _canonical_csr(A)
    _warn_if_not_symmetric(C, "ssor", "M is built from both triangles and is not symmetric")
    h = _core.precond_ssor(C.data, C.indices, C.indptr, C.shape[0], float(omega))
    return Preconditioner(h, "ssor", C.shape[0], C.dtype)


def ic0(A: Any, shift: float = 1e-3) -> Preconditioner:
    """Zero-fill incomplete Cholesky preconditioner, M^-1 = (L L^T)^-1 ~ A^-1.

    L has the sparsity of the lower triangle of A, and only that triangle is read: A may be
    given as its lower triangle (as to MATLAB's ``ichol``); a non-symmetric A with entries above
    the diagonal gets a ``RuntimeWarning``.  For M-matrices (e.g. Poisson) IC(0)
    always exists; for other SPD matrices a pivot can turn non-positive, and then the
    factorization is redone for A + s diag(A) with s = ``shift``, 2 ``shift``, 4 ``shift``, ...
    until it succeeds (Manteuffel 1980; the steps grow faster where ``shift`` is far below
    the s from which A + s diag(A) is diagonally dominant, and IC(0) exists, so that at most
    about 40 factorizations are tried); ``M.info["shift"]`` is the s used (0 if none was
    needed).  Factorization and each application (two triangular solves) are sequential.

    Parameters
    ----------
    A : ndarray or sparse matrix, shape (n, n)
        SPD with a positive diagonal; converted once to CSR with sorted indices.
    shift : float, default 1e-3
        First diagonal shift tried after a breakdown.

    Returns
    -------
    Preconditioner

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import rankwise
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
    >>> A = sp.kronsum(T, T, format="csr")
    >>> M = rankwise.precond.ic0(A)
    >>> M.info["shift"]
    0.0
    >>> b = np.ones(900)
    >>> rankwise.solve_cg(A, b, M=M).iterations < rankwise.solve_cg(A, b).iterations / 2
    True
    """
    if isinstance(shift, bool) or not isinstance(shift, numbers.Real) or not shift > 0:
        raise ValueError(f"shift must be a positive real number; got {shift!r}")
    C = _canonical_csr(A)
    if sp.triu(C, 1).nnz:  # the lower triangle alone (MATLAB's ichol convention) is fine
        _warn_if_not_symmetric(C, "ic0", "L is built from its lower triangle alone")
    h = _core.precond_ic0(C.data, C.indices, C.indptr, C.shape[0], float(shift))
    return Preconditioner(h, "ic0", C.shape[0], C.dtype)


def _block_diagonal_part(a: np.ndarray, bs: int) -> sp.csr_array:
    """The entries of dense ``a`` inside its diagonal bs x bs blocks, as CSR (O(n bs))."""
    n = a.shape[0]
    i = np.arange(n)
    start = i // bs * bs
    width = np.minimum(bs, n - start)
    rows = np.repeat(i, width)
    offset = np.arange(rows.size) - np.repeat(np.cumsum(width) - width, width)  # 0..width-1
    cols = np.repeat(start, width) + offset
    return sp.csr_array((a[rows, cols], (rows, cols)), shape=a.shape)


def block_jacobi(A: Any, block_size: SupportsIndex) -> Preconditioner:
    """Block Jacobi preconditioner: the inverse of the block diagonal of A.

    The unknowns are grouped into consecutive blocks of ``block_size`` (the last may be
    smaller); each dense diagonal block is Cholesky-factored once, and each application
    solves with all of them in parallel.  Choose blocks that hold strongly coupled unknowns:
    the components at a node (e.g. 2 or 3 for elasticity with interleaved components), or a
    grid line (anisotropic problems).  ``block_size=1`` is point Jacobi; ``block_size=n``
    is an exact (dense) solve.

    Parameters
    ----------
    A : ndarray or sparse matrix, shape (n, n)
        SPD; only the diagonal blocks are read (dense input: without converting the rest).
    block_size : int
        1 <= block_size <= n.

    Returns
    -------
    Preconditioner

    Raises
    ------
    ValueError
        If a diagonal block is not positive definite (then A is not SPD).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import rankwise
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
    >>> A = sp.kronsum(T, T, format="csr")
    >>> M = rankwise.precond.block_jacobi(A, 30)  # one grid line per block
    >>> b = np.ones(900)
    >>> rankwise.solve_cg(A, b, M=M).iterations < rankwise.solve_cg(A, b).iterations
    True
    """
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral):
        raise ValueError(f"block_size must be a positive integer; got {block_size!r}")
    bs = int(block_size)
    require_cpu_input(A, "A")
    if not sp.issparse(A) and not isinstance(A, LinearOperator):
        a = np.asarray(A)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"A must be square; got shape {a.shape}")
        if 1 <= bs <= a.shape[0]:
            A = _block_diagonal_part(a.astype(work_dtype(a.dtype, "A"), copy=False), bs)
    C = _canonical_csr(A)
    n = C.shape[0]
    if not 1 <= bs <= n:
        raise ValueError(f"block_size must satisfy 1 <= block_size <= {n}; got {bs}")
    h = _core.precond_block_jacobi(C.data, C.indices, C.indptr, n, bs)
    return Preconditioner(h, "block_jacobi", n, C.dtype)


def is_c_int(value: Any, low: int) -> bool:
    """Whether ``value`` is an integer (not a bool) in [low, 2**31): the core counts
    Chebyshev degrees and Lanczos steps in C ints."""
    return (
        not isinstance(value, bool)
        and isinstance(value, numbers.Integral)
        and low <= value < 2**31
    )


def chebyshev(
    A: Any,
    degree: SupportsIndex = 4,
    *,
    bounds: tuple[float, float] | None = None,
    lanczos_steps: SupportsIndex = 20,
    random_state: Any = 0,
) -> Preconditioner:
    """Chebyshev polynomial preconditioner M = p(A), p ~ 1/x on the spectrum of A.

    Each application costs ``degree`` products with A and a few vector updates, and no
    sweeps, so it parallelizes as well as the product (and works for a LinearOperator).  The
    spectrum bounds come from ``lanczos_steps`` Lanczos steps from a random start (the
    largest Ritz value raised by 5%), unless given.  M is SPD when the spectrum of A lies in
    (0, lmax].

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator, shape (n, n)
        SPD.  Not copied: each application multiplies by A itself, so A must not be
        changed while the preconditioner is in use (build a new one for a changed A; the
        spectrum bounds are A's at construction).
    degree : int, default 4
        Products with A per application (0: a scaled identity).
    bounds : (lmin, lmax), optional
        Spectrum bounds, 0 < lmin < lmax; estimated when None.
    lanczos_steps : int, default 20
    random_state : None, int, Generator or RandomState, default 0
        Seed of the Lanczos start vector.

    Returns
    -------
    Preconditioner
        ``M.info`` holds ``lmin``, ``lmax``, ``degree`` (and ``lanczos_steps`` taken).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import rankwise
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(400, 400), format="csr")
    >>> M = rankwise.precond.chebyshev(A, degree=8)
    >>> b = np.ones(400)
    >>> rankwise.solve_cg(A, b, M=M).iterations < rankwise.solve_cg(A, b).iterations / 4
    True
    """
    if not is_c_int(degree, 0):
        raise ValueError(f"degree must be an integer in [0, 2**31); got {degree!r}")
    steps = lanczos_steps
    if not is_c_int(steps, 1):
        raise ValueError(f"lanczos_steps must be an integer in [1, 2**31); got {steps!r}")
    lmin = lmax = None
    if bounds is not None:
        lmin, lmax = (float(v) for v in bounds)
        if not (0 < lmin < lmax < np.inf):
            raise ValueError(f"bounds must satisfy 0 < lmin < lmax < inf; got {bounds!r}")
    mat = as_matrix(A, "A")
    if mat.shape[0] != mat.shape[1]:
        raise ValueError(f"A must be square; got shape {mat.shape}")
    key = philox_key(random_state, "random_state")
    h = _core.precond_chebyshev(mat.op, int(degree), int(steps), *key, lmin, lmax)
    return Preconditioner(h, "chebyshev", mat.shape[0], mat.dtype)


def nystrom(
    A: Any,
    rank: SupportsIndex,
    *,
    mu: float = 0.0,
    oversample: SupportsIndex = 0,
    random_state: Any = None,
) -> Preconditioner:
    """Randomized Nystrom preconditioner for A + mu I (Frangella, Tropp & Udell, 2023).

    For A symmetric positive semidefinite whose spectrum decays fast (kernel matrices,
    Gram matrices of regularized least squares), a rank-l Nystrom approximation
    A_nys = U diag(lam) U^T is built from one product of A with an n x l Gaussian sketch
    (rankwise's Philox stream), with the shifted, numerically stable algorithm of their
    Algorithm 2.1 (cpp/include/rankwise/algo/nystrom.hpp): shift nu = eps(||Y||_F) sqrt(n),
    Cholesky of Omega^T (Y + nu Omega), thin SVD of the triangular solve, then the shift
    removed; all native (no Python, no NumPy LAPACK).  The preconditioner is their
    eq. (5.3),

        P^-1 = (lam_l + mu) U (diag(lam) + mu I)^-1 U^T + (I - U U^T),

    SPD for mu > 0, applied natively (two products with the n x l matrix U).  Their Theorem
    5.1: with l >= 2 ceil(1.5 d_eff(mu)) + 1, d_eff(mu) = trace(A (A + mu I)^-1), the
    preconditioned condition number is below 28 in expectation, so CG needs a number of
    iterations independent of mu and n.

    The preconditioner is for the system A + mu I, which the solver must be given: pass
    ``A + mu * np.eye(n)`` (dense; one copy, native products) or ``A + mu * sp.eye(n)``
    (sparse), or a ``LinearOperator`` of A + mu I (slower: Python per iteration).

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator, shape (n, n)
        Symmetric positive semidefinite (without the ridge term).  float32 stays float32;
        integers become float64.  Only products A @ X are used (one block of l columns).
    rank : int
        Rank l of the approximation, 1 <= rank <= n.  A few times d_eff(mu) is enough.
    mu : float, default 0.0
        Ridge parameter, mu >= 0.  With mu = 0 the approximation must have full rank l.
    oversample : int, default 0
        Extra sketch columns: the sketch has min(n, rank + oversample) columns and the
        approximation is truncated to the leading ``rank`` eigenpairs (more accurate, one
        larger product).  0 is the algorithm of the paper.
    random_state : None, int, Generator or RandomState
        Seed of the Gaussian sketch; the same seed gives the same preconditioner.

    Returns
    -------
    Preconditioner
        ``M.info`` holds ``mu``, ``rank``, ``sketch_size``, ``shift`` (nu) and
        ``eigenvalues`` (lam, descending).

    Raises
    ------
    ValueError
        If A is not square, contains NaN/Inf, rank is out of range, mu < 0, or A is found
        not to be positive semidefinite (the Cholesky of the sketched core fails).

    Examples
    --------
    Kernel ridge regression: solve (K + mu I) alpha = y for a Gaussian kernel K.

    >>> import numpy as np
    >>> import rankwise
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(1000, 2))
    >>> K = np.exp(-((X[:, None, :] - X[None, :, :]) ** 2).sum(-1) / 0.5)
    >>> y, mu = rng.standard_normal(1000), 1e-4
    >>> M = rankwise.precond.nystrom(K, 60, mu=mu, random_state=0)
    >>> Kmu = K + mu * np.eye(1000)
    >>> plain = rankwise.solve_cg(Kmu, y, rtol=1e-8, maxiter=5000).iterations
    >>> with_nys = rankwise.solve_cg(Kmu, y, rtol=1e-8, M=M).iterations
    >>> with_nys < plain / 10
    True
    """
    if isinstance(mu, bool) or not isinstance(mu, numbers.Real) or not 0 <= mu < np.inf:
        raise ValueError(f"mu must be a finite real number >= 0; got {mu!r}")
    if isinstance(oversample, bool) or not isinstance(oversample, numbers.Integral):
        raise TypeError(f"oversample must be an integer; got {oversample!r}")
    if oversample < 0:
        raise ValueError(f"oversample must be >= 0; got {oversample}")
    mat = as_matrix(A, "A")
    if mat.shape[0] != mat.shape[1]:
        raise ValueError(f"A must be square; got shape {mat.shape}")
    n = mat.shape[0]
    r = check_int(rank, "rank", low=1, high=n)
    sketch = min(n, r + int(oversample))
    key = philox_key(random_state, "random_state")
    h = _core.precond_nystrom(mat.op, r, sketch, *key, float(mu))
    return Preconditioner(h, "nystrom", n, mat.dtype)
