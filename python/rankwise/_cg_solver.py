"""rankwise.CGSolver: CG for a sequence of systems (many right-hand sides, slowly changing A).

What it keeps across ``solve(b)`` calls, and why:

* the preconditioner, built once per matrix (and once per grid value when a parameter is
  learned), rebuilt by ``update(A)``;
* with ``recycle=r``, a deflation subspace W (n x r) of approximate eigenvectors of the r
  smallest eigenvalues of M A, refined after every solve from W and the first search
  directions of that solve: deflated CG with eigenvector updates (Saad, Yeung, Erhel &
  Guyomarc'h, SISC 21 (2000), section 3; the recycling idea of Parks, de Sturler, Mackey,
  Johnson & Maiti, SISC 28 (2006)).  The native loop records p_k and A p_k (no extra
  products); see ``_harvest`` for the Rayleigh-Ritz step;
* with ``omega="learn"`` (SSOR) or ``degree="learn"`` (Chebyshev), a bandit over a grid of
  values that sees only the cost of each solve (Khodak et al. 2024; rankwise._bandit).
"""

from __future__ import annotations

import functools
import numbers
import threading
from collections.abc import Callable, Sequence
from typing import Any, SupportsIndex, TypeVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from . import _core
from ._bandit import TsallisInf
from ._cg import (
    _BREAKDOWN_TEXT,
    CGBreakdownError,
    CGResult,
    _as_work,
    _check_rhs,
    _deflation_factors,
    _product,
    _replace_x,
    _result,
    _rhs_block,
    _start,
    _unscale,
    checked_start,
    warn_if_not_symmetric,
)
from ._dispatch import require_cpu_input
from .precond import Preconditioner, chebyshev, ic0, is_c_int, jacobi, ssor

__all__ = ["CGSolver"]

_OMEGA_GRID = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9)
_DEGREE_GRID = (1, 2, 3, 4, 6, 8, 12, 16)
_NAMED = ("jacobi", "ssor", "ic0", "chebyshev")

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _stalled(res: CGResult) -> bool:
    """Whether a solve that reached maxiter stagnated: its residual (of some column) did not
    halve over the second half of the iterations.  One cut short while converging (a
    ``maxiter`` budget: 40 iterations, 2e-5 -> 4.5e-7 deflated) did not."""
    if res.reason != "maxiter":
        return False
    h = np.asarray(res.residual_norms, dtype=np.float64)
    h = h.reshape(h.shape[0], -1)
    half = h.shape[0] // 2
    if half == 0:
        return True
    first = np.fmin.reduce(h[: half + 1], axis=0)  # NaN after a column stopped: ignored
    last = np.fmin.reduce(h[half:], axis=0)
    return bool(np.any(last > 0.5 * first))


def _relative_residual(res: CGResult, B: np.ndarray) -> float:
    """The worst column's last (recursive) residual norm over its ||b||."""
    last = np.asarray(res.residual_norms, dtype=np.float64)
    last = last.reshape(last.shape[0], -1)[-1]
    bnorm = np.linalg.norm(np.asarray(B, dtype=np.float64).reshape(B.shape[0], -1), axis=0)
    return float(np.max(last / np.where(bnorm > 0, bnorm, 1.0)))


def _one_at_a_time(method: _Method) -> _Method:
    """A method that changes the solver's state (W, the bandit, the preconditioner cache),
    run under the solver's lock: threads sharing one solver take turns."""

    @functools.wraps(method)
    def locked(self: CGSolver, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


# Deflated solves in a row that took at least the iterations of the last solve without W
# before W is dropped (a recycling_reset): the Ritz vectors refreshed from span(W, P) can stay
# poor (2-D Poisson 150^2, no preconditioner, r = 4: 490-506 iterations against 450 without
# W, solve after solve), where on smaller grids they pay after two or three solves (40^2:
# 133, 128, then 111-116 against 125).
_MAX_UNPAID_SOLVES = 3


class CGSolver:
    """Preconditioned CG for a sequence of SPD systems, keeping what can be kept.

    For the many-solves loop of a simulation: the same A with many right-hand sides, or a
    slowly changing A (``update(A)``).  The preconditioner is built once per matrix; with
    ``recycle=r`` a deflation subspace of r approximate eigenvectors of the smallest
    eigenvalues of M A is refined after each solve and deflated in the next (Saad, Yeung,
    Erhel & Guyomarc'h 2000); with ``omega="learn"`` / ``degree="learn"`` the SSOR
    relaxation parameter / Chebyshev degree of each solve is chosen by a bandit that sees
    only the cost of the previous solves (Khodak et al. 2024).

    Parameters
    ----------
    A : ndarray or sparse matrix (CSR/CSC), or LinearOperator, shape (n, n)
        Symmetric positive definite.  float32 A solves in float32 (b is cast to it),
        anything else in float64.  Not modified, and not copied when no conversion is
        needed (a CSR matrix on a few diagonals is multiplied from a DIA copy of its
        values): do not change it in place between solves (call ``update``).
    M : None, "jacobi", "ssor", "ic0", "chebyshev" or Preconditioner
        A name is built from A (again after ``update``); a :class:`rankwise.precond.
        Preconditioner` is kept as given (``update(A, M=...)`` replaces it).  For a
        LinearOperator A: "chebyshev", or "jacobi" where it has a ``diagonal()`` method.
    omega : float or "learn", default 1.0
        SSOR relaxation parameter (``M="ssor"`` only); "learn": chosen per solve from ``grid``
        (default 1.0, 1.1, ..., 1.9) by 1/2-Tsallis-INF on the iteration counts.
    degree : int or "learn", default 4
        Chebyshev degree (``M="chebyshev"`` only); "learn": chosen from ``grid`` (default
        1, 2, 3, 4, 6, 8, 12, 16) on the products with A, iterations x (degree + 1).
    rtol, atol, maxiter :
        As :func:`rankwise.solve_cg`, for every solve.
    recycle : int, default 0
        r, the number of deflation vectors kept between solves (0: none).
    harvest : int, optional
        Search directions recorded per solve for the update of W (default max(4 r, 16));
        only with ``recycle > 0``.
    grid : sequence, optional
        The values a learned parameter is chosen from.
    random_state : None, int or Generator, default 0
        Seed of the bandit's draws (the same seed and systems give the same choices).

    Attributes
    ----------
    deflation_space : ndarray (n, r) or None
        The recycled subspace W (a copy).  After a harvest its columns are orthonormal
        in the inner product of the Ritz problem: ``W^T W = I`` without a preconditioner,
        ``W^T diag(A) W = I`` with Jacobi, ``W^T A W = I`` with the others.
    ritz_values : ndarray or None
        Ritz values of M A for the columns of W (its r smallest estimated eigenvalues).
    parameter : float, int or None
        The omega / degree the last solve used (None when nothing is learned).
    preconditioner_builds : int
        How many preconditioners were constructed so far.
    solves : int
        Completed calls of ``solve``.
    harvests : int
        Solves after which W was refreshed (while iteration counts fall, while they are not
        5% below those of the last solve without W, or when they rise by more than 10% above
        the best since the last refresh).
    recycling_resets : int
        Solves whose deflated iteration broke down or stagnated (rounding, e.g. float32 with
        an ill-conditioned A: ``maxiter`` reached without halving the residual over the
        second half of the iterations) and were redone without W, or that ``maxiter`` cut
        short while converging, less far than the last solve without W got (their deflated
        iterate is returned), or the third deflated solve in a row that took at least the
        iterations of the last solve without W; W was then dropped (and harvested again from
        the next solves; after the second reset, recycling is switched off for good:
        ``recycle`` becomes 0).

    Notes
    -----
    Cost of recycling: each deflated iteration adds four products with n x r matrices
    (cpp/include/rankwise/algo/deflation.hpp), and each solve a Rayleigh-Ritz step on
    r + ``harvest`` vectors (M applied to ``harvest`` of them, except for Jacobi or no M).
    It pays in time when a product with A or an application of M costs more than that
    (wide stencils, 3-D problems, dense or matrix-free A); on a 5-point stencil with IC(0)
    it saves 40% of the iterations but not time (bench/RESULTS.md, "Sequences of
    systems").  In float32 with an ill-conditioned A the deflated iteration can stagnate;
    such a solve is redone without W (``recycling_resets``).

    One solver may be shared by threads: its solves and updates take turns (each changes
    the recycled subspace and the bandit's state).

    The bandit for a learned parameter is 1/2-Tsallis-INF (rankwise/_bandit.py): its
    expected total cost exceeds that of the best fixed grid value by O(sqrt(K T)) for T
    solves and K grid values, whatever the sequence, so it needs a long sequence (hundreds
    of systems) to get close to the best value; on short ones it mainly avoids bad values.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import rankwise
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(40, 40))
    >>> A = sp.kronsum(T, T, format="csr")
    >>> rng = np.random.default_rng(0)
    >>> solver = rankwise.CGSolver(A, M="ic0", rtol=1e-8, recycle=6)
    >>> its = [solver.solve(rng.standard_normal(1600)).iterations for _ in range(6)]
    >>> its[-1] < its[0], solver.preconditioner_builds
    (True, 1)
    >>> learner = rankwise.CGSolver(A, M="ssor", omega="learn", rtol=1e-8, random_state=0)
    >>> for _ in range(5):
    ...     res = learner.solve(rng.standard_normal(1600))
    >>> res.converged, learner.parameter in learner.grid
    (True, True)
    """

    def __init__(
        self,
        A: Any,
        *,
        M: Any = None,
        omega: float | str = 1.0,
        degree: SupportsIndex | str = 4,
        rtol: float = 1e-5,
        atol: float = 0.0,
        maxiter: SupportsIndex | None = None,
        recycle: SupportsIndex = 0,
        harvest: SupportsIndex | None = None,
        grid: Sequence[Any] | None = None,
        random_state: Any = 0,
    ) -> None:
        self._lock = threading.Lock()
        if isinstance(M, str) and M not in _NAMED:
            raise ValueError(f"M must be one of {list(_NAMED)}, a Preconditioner or None")
        if not isinstance(M, str | Preconditioner | None):
            raise TypeError(
                "M must be None, a name or a rankwise.precond.Preconditioner; "
                "for other operators use rankwise.solve_cg"
            )
        self._M = M
        self._set_matrix(A, first=True)
        n = self._n
        self._check_given_M(M)

        self._learned: str | None = None
        if isinstance(omega, str) or isinstance(degree, str):
            learn = "omega" if isinstance(omega, str) else "degree"
            value = omega if learn == "omega" else degree
            if value != "learn":
                raise ValueError(f"{learn} must be a number or 'learn'; got {value!r}")
            if isinstance(omega, str) and isinstance(degree, str):
                raise ValueError("learn omega or degree, not both")
            need = "ssor" if learn == "omega" else "chebyshev"
            if need != M:
                raise ValueError(f"{learn}='learn' needs M={need!r}; got M={M!r}")
            self._learned = learn
        if not isinstance(omega, str) and (
            isinstance(omega, bool) or not isinstance(omega, numbers.Real) or not 0 < omega < 2
        ):
            raise ValueError(f"omega must be a real number in (0, 2) or 'learn'; got {omega!r}")
        if not isinstance(degree, str) and not is_c_int(degree, 0):
            raise ValueError(f"degree must be an integer in [0, 2**31) or 'learn'; got {degree!r}")
        self._omega, self._degree = omega, degree
        if grid is not None and self._learned is None:
            raise ValueError("grid is only used with omega='learn' or degree='learn'")
        # options that M would not read are refused, not passed over
        if omega != 1.0 and M != "ssor":
            raise ValueError(f"omega is only used with M='ssor'; got M={M!r}")
        if degree != 4 and M != "chebyshev":
            raise ValueError(f"degree is only used with M='chebyshev'; got M={M!r}")
        if isinstance(random_state, bool) or not (
            random_state is None  # (fresh entropy, as numpy.random.default_rng takes it)
            or isinstance(random_state, np.random.Generator)
            or (isinstance(random_state, numbers.Integral) and random_state >= 0)
        ):
            raise ValueError(
                "random_state must be None, a non-negative int or a Generator; "
                f"got {random_state!r}"
            )
        if self._learned is not None:
            if grid is not None and len(tuple(grid)) == 0:
                raise ValueError("grid must not be empty")
            values = tuple(grid) if grid is not None else None
            if self._learned == "omega":
                values = values or _OMEGA_GRID
                for w in values:
                    if isinstance(w, bool) or not isinstance(w, numbers.Real) or not 0 < w < 2:
                        raise ValueError(f"grid: omega values must lie in (0, 2); got {w!r}")
            else:
                values = values or _DEGREE_GRID
                for d in values:
                    if not is_c_int(d, 0):
                        raise ValueError(
                            f"grid: degrees must be integers in [0, 2**31); got {d!r}"
                        )
            self._bandit: TsallisInf | None = TsallisInf(values, random_state)
        else:
            self._bandit = None

        # the tolerances are checked once here (with a dummy block) rather than per solve
        self._rtol, self._atol, self._maxiter = rtol, atol, maxiter
        _start(self._mat, None, np.ones((n, 1), self._dtype, order="F"), True, None,
               rtol, atol, maxiter, None, self._dtype)  # fmt: skip
        if isinstance(recycle, bool) or not isinstance(recycle, numbers.Integral):
            raise TypeError(f"recycle must be an integer; got {recycle!r}")
        if not 0 <= recycle < n:
            raise ValueError(f"recycle must satisfy 0 <= recycle < n = {n}; got {recycle}")
        self._r = int(recycle)
        if harvest is not None and not self._r:
            raise ValueError("harvest is only used with recycle > 0")
        if harvest is None:
            harvest = max(4 * self._r, 16) if self._r else 0
        if isinstance(harvest, bool) or not isinstance(harvest, numbers.Integral) or harvest < 0:
            raise ValueError(f"harvest must be a non-negative integer; got {harvest!r}")
        if self._r and harvest < 1:
            raise ValueError("harvest must be >= 1 when recycle > 0")
        self._m = int(min(harvest, n))

        self._W: np.ndarray | None = None  # n x r recycled subspace
        self._AW: np.ndarray | None = None  # A W for the current A
        self._ritz: np.ndarray | None = None
        self._MAW: tuple[Any, np.ndarray] | None = None  # (M, M A W), reused by the harvest
        self._deflated: Any = None  # (M, native deflated preconditioner) for (A, M, W)
        self._G: np.ndarray | None = None  # deflation factors of (A, W), see _cg._deflate
        self._F: np.ndarray | None = None
        self._cache: dict[Any, Preconditioner] = {}  # parameter value -> preconditioner
        self._bounds: tuple[float, float] | None = None  # Chebyshev spectrum bounds of A
        self.preconditioner_builds = 0
        self.recycling_resets = 0
        self.harvests = 0
        self._prev_its: int | None = None  # iterations of the last solve (for _worth_harvesting)
        self._best_its: int | None = None  # the fewest since W was last refreshed
        self._plain_its: int | None = None  # iterations of the last solve without W
        self._unpaid = 0  # deflated solves in a row that took as many iterations or more
        # relative residual of the last solve without W that maxiter cut short
        self._plain_reached: float | None = None
        self.solves = 0
        self.parameter: Any = None

    # --- the matrix --------------------------------------------------------------------
    def _set_matrix(self, A: Any, first: bool) -> None:
        require_cpu_input(A, "A")
        shape = getattr(A, "shape", None)
        if not (sp.issparse(A) or isinstance(A, LinearOperator)):
            A = np.asarray(A)
            shape = A.shape
            if A.dtype.kind not in "biuf":
                raise TypeError(f"A must be a real matrix; got dtype {A.dtype}")
        if shape is None or len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"A must be a square matrix; got shape {shape}")
        a_dtype = getattr(A, "dtype", None)
        single = a_dtype is not None and np.dtype(a_dtype).char == "f"
        dtype = np.dtype(np.float32 if single else np.float64)
        if not first:
            if tuple(shape) != (self._n, self._n):
                raise ValueError(f"A must keep its shape {(self._n, self._n)}; got {shape}")
            dtype = self._dtype
        mat = _as_work(A, dtype, "A", system_matrix=True)
        M = self._M
        if (
            isinstance(M, str)
            and mat.kind == "operator"
            and not (M == "chebyshev" or (M == "jacobi" and hasattr(A, "diagonal")))
        ):  # (before anything changes: update leaves the solver as it was)
            raise TypeError(f"M={M!r} needs A as a matrix, not a LinearOperator")
        if (sp.issparse(A) and A.dtype != dtype) or (
            isinstance(A, np.ndarray) and A.dtype != dtype
        ):
            A = A.astype(dtype)
        self._A, self._mat, self._dtype, self._n = A, mat, dtype, int(shape[0])
        self._symmetry_checked = False  # (warn_if_not_symmetric, once per matrix)

    def _check_given_M(self, M: Any) -> None:
        if isinstance(M, Preconditioner):
            if M.shape != (self._n, self._n):
                raise ValueError(f"M has shape {M.shape}; A has {(self._n, self._n)}")
            if M.dtype != self._dtype:
                raise ValueError(f"M was built for {M.dtype}; the solver works in {self._dtype}")

    @_one_at_a_time
    def update(self, A: Any, *, M: Any = None) -> None:
        """Switch to a new matrix of the same shape (e.g. the next time step).

        Kept: the recycled subspace W (its product A W is recomputed: r products with A),
        the bandit's statistics, the settings.  Rebuilt (lazily, at the next solve): a
        preconditioner given by name, and the Chebyshev spectrum bounds.  A Preconditioner
        object passed at construction is kept unless ``M`` gives a new one.

        Parameters
        ----------
        A : matrix like the constructor's, same shape
        M : Preconditioner, optional
            A replacement for a Preconditioner object given at construction.

        Examples
        --------
        >>> import numpy as np
        >>> import scipy.sparse as sp
        >>> import rankwise
        >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
        >>> A = sp.csr_array(sp.kronsum(T, T, format="csr"))
        >>> solver = rankwise.CGSolver(A, M="ic0", rtol=1e-8, recycle=4)
        >>> b = np.ones(900)
        >>> for t in range(3):  # a slowly changing matrix
        ...     solver.update(A + 0.01 * t * sp.eye(900, format="csr"))
        ...     x = solver.solve(b).x
        >>> solver.preconditioner_builds, solver.deflation_space.shape
        (3, (900, 4))
        """
        if M is not None:
            if not isinstance(M, Preconditioner):
                raise TypeError("M must be a rankwise.precond.Preconditioner")
            if isinstance(self._M, str):
                raise ValueError(f"M={self._M!r} is rebuilt from A; do not pass M to update")
        if M is not None:
            self._check_given_M(M)  # before anything changes: a bad M leaves the solver as it was
        self._set_matrix(A, first=False)
        if M is not None:
            self._M = M
        self._cache.clear()
        self._bounds = None
        self._deflated = self._G = self._F = None
        if self._W is not None:
            self._AW = np.asfortranarray(_core.apply(self._mat.op, self._W, False))
        self._MAW = None

    # --- what it keeps -----------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (self._n, self._n)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def recycle(self) -> int:
        """The number of deflation vectors kept (0: recycling off)."""
        return self._r

    @property
    def grid(self) -> tuple[Any, ...]:
        """The values a learned parameter is chosen from (empty when nothing is learned)."""
        return self._bandit.arms if self._bandit is not None else ()

    @property
    def probabilities(self) -> np.ndarray | None:
        """The bandit's distribution over ``grid`` for the next solve (None: no bandit)."""
        return self._bandit.probabilities() if self._bandit is not None else None

    @property
    def pulls(self) -> np.ndarray | None:
        """How often each grid value was used."""
        return self._bandit.pulls.copy() if self._bandit is not None else None

    @property
    def deflation_space(self) -> np.ndarray | None:
        return None if self._W is None else self._W.copy()

    @property
    def ritz_values(self) -> np.ndarray | None:
        return None if self._ritz is None else self._ritz.copy()

    @property
    def preconditioner(self) -> Preconditioner | None:
        """The preconditioner of the last solve (None: none)."""
        if isinstance(self._M, str):
            return self._cache.get(self.parameter if self._learned else None)
        return self._M

    def _precond(self, value: Any) -> Preconditioner | None:
        """The preconditioner for the current A and parameter value (built once)."""
        if not isinstance(self._M, str):
            return self._M
        key = value if self._learned else None
        M = self._cache.get(key)
        if M is not None:
            return M
        if self._M == "jacobi":
            M = jacobi(self._A)
        elif self._M == "ic0":
            M = ic0(self._A)
        elif self._M == "ssor":
            M = ssor(self._A, float(value if self._learned else self._omega))
        else:
            deg = int(value if self._learned else self._degree)
            M = chebyshev(self._A, deg, bounds=self._bounds)
            if self._bounds is None:
                self._bounds = (float(M.info["lmin"]), float(M.info["lmax"]))
        self.preconditioner_builds += 1
        self._cache[key] = M
        return M

    def __reduce__(self) -> Any:
        # (pickle and copy; without this, "cannot pickle '_thread.lock' object")
        raise TypeError(
            "a CGSolver cannot be pickled or copied: it holds native preconditioners and "
            "deflation factors; build a new CGSolver from A where it is needed"
        )

    # --- solving -----------------------------------------------------------------------
    @_one_at_a_time
    def solve(self, b: Any, x0: Any = None) -> CGResult:
        """Solve A x = b with what was kept; learn from the solve for the next one.

        Parameters
        ----------
        b : ndarray, shape (n,) or (n, s)
            Cast to the solver's dtype; a block is solved by batched CG (the subspace is
            harvested from its first column).
        x0 : ndarray shaped like b, "Mb" or None
            Starting guess (not modified).

        Returns
        -------
        CGResult
            As :func:`rankwise.solve_cg`; ``iterations`` does not count the start (with
            ``recycle``, one product with A when x0 is given, none otherwise).  The first
            solve with a matrix that runs out of iterations also warns (RuntimeWarning)
            when that matrix is explicitly non-symmetric, as :func:`rankwise.cg` does.

        Raises
        ------
        CGBreakdownError
            A or M was found not positive definite, or NaN/Inf appeared (``exc.result``).
        """
        b_shape = np.shape(b)
        B, vector = _rhs_block(_check_rhs(b, (self._n, self._n)), self._dtype)
        # x0 checked before the bandit draws: a rejected call leaves the learning as it was
        checked_start(x0, (self._n, self._n), B.shape[1], self._dtype)
        value = None
        arm = -1
        if self._bandit is not None:
            arm = self._bandit.choose()
            value = self._bandit.arms[arm]
        M = self._precond(value)
        res, recorded, P, Q = self._run(B, vector, x0, M)
        spent = res.iterations
        broke_down = res.info < 0 and res.reason != "A_not_spd"
        if (broke_down or _stalled(res)) and self._W is not None:
            # Deflation broke down or stagnated (in low precision P^T M P can lose
            # definiteness once the residual is nearly in range(A W)): drop W and solve
            # again without it, so that recycling never costs a solution.
            self._drop_recycling()
            res, recorded, P, Q = self._run(B, vector, x0, M)
            spent += res.iterations
        elif res.reason == "maxiter":
            reached = _relative_residual(res, B)
            if self._W is None:
                self._plain_reached = reached
            elif self._plain_reached is not None and reached > self._plain_reached:
                # Within a maxiter budget the deflated solve got less far than the last solve
                # without W (a W harvested from cut-short solves can slow CG down: 1.9x the
                # residual on a shifted 1-D Laplacian): its iterate is returned, W dropped.
                self._drop_recycling()
                recorded = 0  # the next W comes from solves without this one
        if len(b_shape) == 2 and b_shape[1] == 1:
            res = _replace_x(res, res.x.reshape(-1, 1))
        if self._bandit is not None:
            per_iteration = 1 + (int(value) if self._learned == "degree" else 0)
            cost = spent * per_iteration if res.info >= 0 else np.inf
            self._bandit.observe(arm, float(cost))
            self.parameter = value
        if res.info > 0 and not self._symmetry_checked:
            self._symmetry_checked = True
            warn_if_not_symmetric(self._A, res, stacklevel=4)
        if res.info < 0:
            raise CGBreakdownError(
                f"CG broke down after {res.iterations} iterations: {_BREAKDOWN_TEXT[res.reason]}",
                res,
            )
        if recorded > 0 and self._worth_harvesting(res.iterations, res.reason == "converged"):
            self._harvest(P[:, :recorded], Q[:, :recorded], M)
            self.harvests += 1
        self.solves += 1
        return res

    def _worth_harvesting(self, its: int, converged: bool) -> bool:
        """Refresh W while it keeps paying: when there is none, while the iteration counts
        still fall (by more than 5% from the previous solve), while they are not 5% below
        the last count without W (Ritz vectors from the first few directions of one solve
        can be poor approximations of the smallest eigenvectors, and deflating those cost
        iterations: 93 -> 103-105 on a 30 x 30 Laplacian with r = 4 from 8 directions;
        refreshing W from span(W, P) improves them), or when they rose by more than 10%
        above the best since W was last refreshed (A drifted away from W).  A harvest costs
        about ``harvest`` applications of M, comparable to a solve once W is good.  After
        _MAX_UNPAID_SOLVES converged deflated solves in a row that took at least the last
        count without W, W is dropped instead (a recycling reset)."""
        prev, best = self._prev_its, self._best_its
        # (a solve that maxiter cut short says nothing by its count: the residual it reached
        # is judged in solve)
        unpaid = converged and self._plain_its is not None and its >= self._plain_its
        if self._W is not None and unpaid:
            self._unpaid += 1
            if self._unpaid >= _MAX_UNPAID_SOLVES:
                self._drop_recycling()
                return False
        else:
            self._unpaid = 0
        self._prev_its = its
        self._best_its = its if best is None else min(best, its)
        if self._W is None:
            self._plain_its = its
        paying = self._plain_its is None or its < 0.95 * self._plain_its
        if self._W is None or prev is None or its < 0.95 * prev or its > 1.1 * best or not paying:
            self._best_its = its
            return True
        return False

    def _run(
        self, B: np.ndarray, vector: bool, x0: Any, M: Preconditioner | None
    ) -> tuple[CGResult, int, np.ndarray, np.ndarray]:
        """One native solve (deflated when W is kept), recording search directions when
        recycling; returns the result, how many directions were recorded, and P, Q."""
        handle = M.handle if M is not None else None
        sys_ = _start(
            self._mat, handle, B, vector, x0, self._rtol, self._atol, self._maxiter, None,
            self._dtype,
        )  # fmt: skip
        X, B = sys_.X, sys_.B  # (B / c, X / c where the right-hand side needed scaling)
        if self._W is not None and self._G is None:
            try:
                self._G, self._F = _deflation_factors(self._W, self._AW, self._dtype)
            except ValueError:
                # W^T A W of the kept W is not positive definite for this A (an update made
                # A indefinite): solve without W, which says so as CGBreakdownError, where
                # the user saw a ValueError about a W of the solver's own
                self._drop_recycling()
        if self._W is not None:
            if self._deflated is None or self._deflated[0] is not M:
                self._deflated = (M, _core.precond_deflated(handle, self._G, self._F))
            R0 = B - np.asarray(_core.apply(self._mat.op, X, False)) if sys_.x0_nonzero else B
            # W^T r0 = 0 (Saad et al. 2000, eq. 2.4)
            X[...] = X + _product(self._G, _product(self._G, R0, True))
            handle = self._deflated[1]
        m = self._m if self._r else 0
        P = np.zeros((self._n, m), self._dtype, order="F")
        Q = np.zeros((self._n, m), self._dtype, order="F")
        x_out = X[:, 0] if vector else X
        out = _core.cg(
            self._mat.op, handle, B, X, sys_.atol, sys_.maxiter, bool(X.any()), None, None,
            P if m else None, Q if m else None,
        )  # fmt: skip
        res = _result(_unscale(sys_, out), x_out, vector, sys_.maxiter)
        return res, int(out["recorded"]), P, Q

    def _drop_recycling(self) -> None:
        """W cost a solve: drop it, counted (recycling_resets); the second time for good."""
        self._prev_its = self._best_its = None
        self._unpaid = 0
        self._W = self._AW = self._ritz = self._MAW = None
        self._deflated = self._G = self._F = None
        self.recycling_resets += 1
        if self.recycling_resets >= 2:
            self._r = 0  # it keeps failing on this sequence: stop recycling

    def _harvest(self, P: np.ndarray, Q: np.ndarray, M: Preconditioner | None) -> None:
        """New W: Rayleigh-Ritz for the r smallest eigenpairs of M A on span(W, P).

        With Z = [W, P] and AZ = [AW, Q] (known without products), the Ritz pairs of the
        pencil (A, M^-1) solve Z^T A Z y = theta Z^T M^-1 Z y (Saad et al. 2000, section 3)
        where M^-1 is at hand: no preconditioner (M^-1 = I) or Jacobi (M^-1 = diag(A)).
        Otherwise M A is self-adjoint in the A-inner product and the Ritz pairs solve
        (AZ)^T M (AZ) y = theta Z^T A Z y: M applied to the new columns Q (M A W is kept from
        the last harvest while M is unchanged, M A W = M AZ C), but less accurate for
        the smallest eigenvalues (an error e in a Ritz vector perturbs theta by about
        lambda_max^2 |e|^2 / lambda_min instead of lambda_max |e|^2).  The Gram matrix is
        made definite by dropping its numerically null directions.  A W = AZ Y follows.
        """
        Z = P if self._W is None else np.hstack([self._W, P])
        AZ = Q if self._AW is None else np.hstack([self._AW, Q])
        Z, AZ = np.asfortranarray(Z), np.asfortranarray(AZ)
        ZAZ = _product(Z, AZ, True)  # the small Gram matrices by the core's products
        MAZ = None
        if M is None or M.kind == "jacobi":
            MinvZ = Z if M is None else Z * self._diagonal()[:, None]
            G1, G2 = _product(Z, MinvZ, True), ZAZ
        else:
            # M A W is kept from the last harvest while M is the same: only M Q is new
            MQ = _core.precond_apply(M.handle, np.asfortranarray(Q))
            known = self._MAW is not None and self._MAW[0] is M and self._W is not None
            if self._W is None:
                MAZ = MQ
            elif known:
                MAZ = np.hstack([self._MAW[1], MQ])
            else:
                MAZ = np.hstack([_core.precond_apply(M.handle, self._AW), MQ])
            MAZ = np.asfortranarray(MAZ)
            G1, G2 = ZAZ, _product(AZ, MAZ, True)
        G1, G2 = G1.astype(np.float64), G2.astype(np.float64)
        G1, G2 = (G1 + G1.T) / 2, (G2 + G2.T) / 2
        d, V = np.linalg.eigh(G1)
        keep = d > np.sqrt(np.finfo(self._dtype).eps) * max(d.max(), 0.0)
        if not keep.any():
            return
        T = V[:, keep] / np.sqrt(d[keep])  # T^T G1 T = I
        theta, Y = np.linalg.eigh(T.T @ G2 @ T)
        r = min(self._r, Y.shape[1])
        C = T @ Y[:, :r]
        self._W, self._AW = _product(Z, C), _product(AZ, C)
        self._MAW = (M, _product(MAZ, C)) if MAZ is not None else None
        self._ritz = theta[:r]
        self._deflated = self._G = self._F = None

    def _diagonal(self) -> np.ndarray:
        A = self._A
        d = A.diagonal() if hasattr(A, "diagonal") else np.diagonal(A)
        return np.asarray(d, dtype=self._dtype)

    def __repr__(self) -> str:
        name = self._M if isinstance(self._M, str) else type(self._M).__name__
        return (
            f"<rankwise.CGSolver {self._n}x{self._n} {self._dtype} M={name} "
            f"recycle={self._r} solves={self.solves}>"
        )
