"""rankwise.eim: the greedy empirical interpolation method on snapshots (dense, sparse, or a
callable over a training set of parameters), with a choice of norms; the result also gives
the symmetric (cross approximation) form and the rectangular (oversampled) extension."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any, SupportsIndex

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from . import _core
from ._deim import (
    PointInterpolant,
    _noise_text,
    _read_only,
    _scaled_columns,
    _scaled_fields,
    _solve_exponents,
    _unscaled_solution,
    power_of_two_exponent,
)
from ._dispatch import check_compressed, refuse_device_or_dask, require_cpu_input
from ._validate import as_matrix, asymmetry, check_int, work_dtype

_NORMS = ("linf", "l2")

EIM_BLOCK = 6
"""Terms per write-back of the residual in the max-norm greedy (algo/eim.hpp): within a
block the rank-one updates are deferred, and the next term needs only the largest entry of
the residual, found from bounds by chunks of rows: only the chunks that may hold it are
evaluated (10-25% of them on random snapshots), and the residual is written back once per
block (or when the bounds prune too little).  Same values as one update per term.
Measured on 1e5 x 500 random snapshots, 30 terms (loaded 2-core machine, CPU seconds):
block 1: 2.1-2.3, 4: 0.9-1.7, 6: 0.74-0.77, 8: 0.87-1.9, 12: 1.1-1.2.  The matrix norm
updates the residual at every term (block 1): its norms need every entry of R and M R."""


EIM_BLOCK_L2 = 16
"""Terms per write-back of the residual in the (weighted) l2 greedy (algo/eim.hpp): between
write-backs each term updates the snapshots' norms from one read-only product q^T R and
evaluates exactly only the columns whose rounding bound may reach the largest norm (same
values as one update per term)."""


class EmpiricalInterpolant(PointInterpolant):
    """Result of :func:`eim`: ``f ~ Q @ coefficients(f[points])``.

    Attributes
    ----------
    basis : ndarray, shape (n, M)
        The EIM basis Q, normalized so that ``Q[points[l], k]`` is 1 for ``l == k`` and 0
        for ``l < k`` (the interpolation matrix is unit lower triangular).
    points : ndarray of int64, shape (M,)
        The magic points, in greedy order (``n_points`` of them after
        :meth:`~PointInterpolant.oversample` or :meth:`~PointInterpolant.remove_points`,
        which keep the other attributes: they describe the greedy).
    snapshot_indices : ndarray of int64, shape (M,)
        The snapshots (columns, or entries of the training set) the greedy selected.
    parameters : list or None
        ``training_parameters[snapshot_indices]`` when the snapshots were a callable.
    errors : ndarray of float64, shape (M + 1,)
        ``errors[k]``: the largest error over the snapshots, in the greedy's norm, of the
        interpolant with k terms (``errors[0]`` is the largest snapshot norm).
    selected_snapshots : ndarray, shape (n, M)
        ``S[:, snapshot_indices]``: the snapshots the greedy selected (for a callable,
        evaluated once more after the greedy: M calls).
    cross_matrix : ndarray, shape (M, M)
        ``S[points][:, snapshot_indices]``: the snapshots selected, at the greedy's points.
    norm : str
        ``"linf"``, ``"l2"``, ``"weighted"`` or ``"matrix"``.
    """

    def __init__(
        self,
        basis: np.ndarray,
        points: np.ndarray,
        snapshot_indices: np.ndarray,
        errors: np.ndarray,
        selected_snapshots: np.ndarray,
        norm: str,
        parameters: list[Any] | None,
    ) -> None:
        self._set(basis, points)
        self._greedy_points = self.points  # (points may change: oversample, remove_points)
        self.snapshot_indices = snapshot_indices
        self.errors = errors
        self.selected_snapshots = selected_snapshots
        self.cross_matrix = _read_only(np.ascontiguousarray(selected_snapshots[self.points]))
        self.norm = norm
        self.parameters = parameters

    @property
    def n_terms(self) -> int:
        return self.n_basis

    @functools.cached_property
    def _cross_exponents(self) -> np.ndarray | None:
        """Powers of two for the columns of the cross matrix (as PointInterpolant's for
        U[points]: _deim.selection_exponents), so that its LU works on normal numbers:
        snapshots of 1e-305 put the later pivots, about 1e-10 of the first, into the
        subnormals, and beta was off by up to 13 (found by review)."""
        return _solve_exponents(self.cross_matrix)

    @functools.cached_property
    def _cross_factor(self) -> Any:
        C = _scaled_columns(self.cross_matrix, self._cross_exponents)
        return scipy.linalg.lu_factor(C, check_finite=False)

    def snapshot_coefficients(self, values: Any) -> np.ndarray:
        """Coefficients ``beta`` of ``f ~ S[:, snapshot_indices] @ beta`` from the values of
        f at the points: ``beta = S[points, snapshot_indices]^{-1} values``.

        This is the symmetric formulation of Casenave, Ern & Lelievre (2016, Section 2):
        ``f(x, mu) ~ sum_m beta_m(mu) f(x, mu_m)``, a cross approximation
        ``S ~ S[:, J] S[I, J]^{-1} S[I, :]`` of the snapshot matrix.  Same span and same
        interpolant as ``coefficients`` (in the basis of the selected snapshots instead
        of Q).  After :meth:`stabilize`, the stabilized coefficients in that basis; after
        :meth:`oversample` or :meth:`remove_points`, the least-squares ones.
        """
        v = self._check_values(values)
        if self._prior is not None or not np.array_equal(self.points, self._greedy_points):
            # S[:, J] = Q T with T = Q[I]^{-1} S[I, J] (I the greedy's points): beta =
            # T^{-1} c = S[I, J]^{-1} Q[I] c for the coefficients c in Q
            v = self.basis[self._greedy_points] @ self.coefficients(v)
        # beta = D (C D)^-1 (v 2^t) 2^-t, each field scaled on its own
        v, t = _scaled_fields(v, self.dtype)
        b = scipy.linalg.lu_solve(self._cross_factor, v, check_finite=False)
        return _unscaled_solution(b.astype(self.dtype, copy=False), self._cross_exponents, t)

    def truncate(self, n_terms: SupportsIndex) -> EmpiricalInterpolant:
        """The interpolant of the first ``n_terms`` terms: the greedy is nested, so this is
        what ``eim`` with ``max_terms=n_terms`` returns (same points, basis, snapshots and
        error history), without running it again.  A stabilization, and the points of
        :meth:`oversample` or :meth:`remove_points`, are not kept."""
        k = check_int(n_terms, "n_terms", low=1)
        if k > self.n_terms:
            raise ValueError(f"n_terms ({k}) exceeds the number of terms ({self.n_terms})")
        return EmpiricalInterpolant(
            self.basis[:, :k],
            self._greedy_points[:k],
            self.snapshot_indices[:k],
            self.errors[: k + 1],
            self.selected_snapshots[:, :k],
            self.norm,
            None if self.parameters is None else self.parameters[:k],
        )

    def _prior_snapshots(self) -> np.ndarray:
        return self.selected_snapshots

    def __repr__(self) -> str:
        points = "" if self.n_points == self.n_terms else f", n_points={self.n_points}"
        return (
            f"EmpiricalInterpolant(n={self.basis.shape[0]}, n_terms={self.n_terms}{points}, "
            f"norm={self.norm!r}, error={self.errors[-1]:.3g}, dtype={self.dtype}"
            + ("" if self.noise is None else f", noise={_noise_text(self.noise)}")
            + ")"
        )


def _snapshot_matrix(
    snapshots: Any, training_parameters: Sequence[Any] | None
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], list[Any] | None]:
    """The residual buffer R (a copy of the snapshots in the work dtype), a function giving
    the columns S[:, cols] after R has been overwritten, and the parameters."""
    if callable(snapshots) and not hasattr(snapshots, "shape"):
        if training_parameters is None:
            raise ValueError("training_parameters is required when snapshots is a callable")
        params = list(training_parameters)
        if not params:
            raise ValueError("training_parameters must not be empty")
        R: np.ndarray | None = None
        for j, mu in enumerate(params):
            v = snapshots(mu)
            refuse_device_or_dask(v, f"snapshots({mu!r})")
            v = np.asarray(v)
            if v.ndim != 1 or (R is not None and v.shape[0] != R.shape[0]):
                expected = "a 1-D array" if R is None else f"shape ({R.shape[0]},)"
                raise ValueError(
                    f"snapshots({mu!r}) returned shape {v.shape}; expected {expected} like "
                    "the first parameter's"
                )
            dtype = work_dtype(v.dtype, "snapshots")
            if R is None:
                if v.shape[0] == 0:
                    raise ValueError("snapshots(mu) returned an empty array")
                R = np.empty((v.shape[0], len(params)), dtype=dtype, order="F")
            elif np.result_type(R.dtype, dtype) != R.dtype:  # float32 first, float64 later
                R = R.astype(np.result_type(R.dtype, dtype), order="F")
            if not np.isfinite(v).all():
                raise ValueError(f"snapshots({mu!r}) contains NaN or Inf")
            R[:, j] = v
        assert R is not None

        def pick(cols: np.ndarray) -> np.ndarray:
            out = np.empty((R.shape[0], cols.size), dtype=R.dtype, order="F")
            for k, c in enumerate(cols):
                out[:, k] = np.asarray(snapshots(params[c]))
            return out

        return R, pick, params
    if training_parameters is not None:
        raise ValueError("training_parameters is only used when snapshots is a callable")
    if sp.issparse(snapshots):
        require_cpu_input(snapshots, "snapshots")
        S = snapshots.tocsc()
        dtype = work_dtype(S.dtype, "snapshots")
        if not np.isfinite(S.data).all():
            raise ValueError("snapshots contains NaN or Inf")
        R = np.asfortranarray(S.toarray()).astype(dtype, order="F", copy=False)

        def pick_sparse(cols: np.ndarray) -> np.ndarray:
            return np.asarray(S[:, cols].toarray(), dtype=dtype)

        _check_2d(R.shape)
        return R, pick_sparse, None
    refuse_device_or_dask(snapshots, "snapshots")
    a = np.asarray(snapshots)
    _check_2d(a.shape)
    dtype = work_dtype(a.dtype, "snapshots")
    # the core works on either memory order: a C-order array is copied as it is
    R = np.array(a, dtype=dtype, order="C" if a.flags.c_contiguous else "F", copy=True)
    if not np.isfinite(R).all():
        raise ValueError("snapshots contains NaN or Inf")

    def pick_dense(cols: np.ndarray) -> np.ndarray:
        return np.asarray(a[:, cols], dtype=dtype)

    return R, pick_dense, None


def _check_2d(shape: tuple[int, ...]) -> None:
    if len(shape) != 2:
        raise ValueError(
            f"snapshots must be a 2-D array (n points x N snapshots, one snapshot per "
            f"column) or a callable; got shape {shape}"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"snapshots must not be empty; got shape {shape}")


def eim(
    snapshots: Any,
    training_parameters: Sequence[Any] | None = None,
    *,
    tol: float | None = None,
    atol: float | None = None,
    max_terms: SupportsIndex | None = None,
    norm: Any = "linf",
) -> EmpiricalInterpolant:
    """Greedy empirical interpolation (Barrault, Maday, Nguyen & Patera 2004) of snapshots.

    Each step takes the snapshot worst approximated by the current interpolant (in the
    chosen norm), puts a new point where its residual is largest in magnitude, and adds the
    residual, scaled to 1 at that point, to the basis.  The residual of every snapshot is
    kept and updated in the native core: one pass over the n x N residual per term; in the
    max norm, the updates of a block of terms are deferred and written back together, and
    between write-backs only the parts of the residual that may hold its largest entry are
    evaluated (bounds by chunks of rows); in the l2 and weighted norms, between write-backs
    the norms are updated from one read-only product per term and checked exactly where
    rounding could change the choice.  The result is that of one update per term.

    Parameters
    ----------
    snapshots : array_like (n, N), scipy.sparse matrix, or callable
        One snapshot per column; or ``snapshots(mu)`` returning a 1-D array of n values,
        evaluated once on every entry of ``training_parameters`` (the snapshots are then
        written straight into the residual buffer, the only n x N array kept).
        float32 stays float32.  Not modified.
    training_parameters : sequence, optional
        The training set, when ``snapshots`` is a callable.
    tol : float, optional
        Stop when the largest error is <= ``tol`` times the largest snapshot norm;
        ``tol < 1`` (at least one term).
    atol : float, optional
        Stop when the largest error is <= ``atol``; below the largest snapshot norm (at
        least one term), else a ValueError.
    max_terms : int, optional
        At most this many terms (default: min(n, N)).  The greedy also stops when the
        residual reaches rounding level (16 eps of the largest snapshot norm).
    norm : {"linf", "l2"}, 1-D array, or 2-D SPD matrix (dense or sparse)
        The norm that picks the worst snapshot (Casenave, Ern & Lelievre 2016, Section 3):
        max norm (the classical EIM), Euclidean, weighted ``sqrt(sum_i w_i r_i^2)`` for a
        1-D array of positive weights (e.g. quadrature weights), or ``sqrt(r^T M r)`` for an
        SPD matrix M (e.g. a finite-element mass matrix; s^T M s >= 0 is checked on the
        snapshots; costs one product with M per term and a second n x N buffer).  The
        points are always chosen in the max norm.

    Returns
    -------
    EmpiricalInterpolant

    Raises
    ------
    ValueError
        Bad shapes, NaN/Inf, all-zero snapshots, a callable returning a wrong shape, a bad
        norm (non-positive weights, a non-square matrix), ``tol >= 1`` or ``atol`` at least
        the largest snapshot norm.

    Examples
    --------
    >>> import numpy as np, rankwise
    >>> x = np.linspace(-1, 1, 100)
    >>> mus = np.linspace(1, np.pi, 51)
    >>> def s(mu):
    ...     return (1 - x) * np.cos(3 * np.pi * mu * (x + 1)) * np.exp(-(1 + x) * mu)
    >>> ei = rankwise.eim(s, mus, tol=1e-8)
    >>> bool(ei.errors[-1] <= 1e-8 * ei.errors[0])
    True
    >>> f = s(2.0)
    >>> bool(np.abs(ei(f[ei.points]) - f).max() < 1e-6)
    True

    See Also
    --------
    deim, qdeim, odeim, matrix_eim, PointInterpolant.stabilize
    """
    R, pick, params = _snapshot_matrix(snapshots, training_parameters)
    # R is our copy: entries so small or large that their squares (the l2 norms) or the
    # inverse of a pivot leave the range are scaled by a power of two, exactly, in place;
    # points and basis do not change, errors and atol scale with it
    exponent = power_of_two_exponent(max(float(R.max()), -float(R.min())), R.dtype)
    if exponent:
        np.ldexp(R, np.int32(exponent), out=R)
    n, N = R.shape
    limit = min(n, N)
    terms = limit if max_terms is None else check_int(max_terms, "max_terms", low=1)
    rtol = 0.0 if tol is None else _check_tol(tol, "tol")
    if rtol >= 1:
        raise ValueError(
            f"tol must be < 1; got {rtol} (the interpolant with no terms already has an "
            "error of 1 times the largest snapshot norm)"
        )
    abs_tol = 0.0 if atol is None else _check_tol(atol, "atol")
    G = weights = M = None
    if isinstance(norm, str):
        if norm not in _NORMS:
            raise ValueError(f"norm must be 'linf', 'l2', weights or an SPD matrix; got {norm!r}")
        kind = norm
    elif sp.issparse(norm) or np.ndim(norm) == 2:
        kind = "matrix"
        if not hasattr(norm, "shape"):  # a nested sequence
            norm = np.asarray(norm)
        if norm.dtype.kind not in "biuf":  # (nothing is cast to real in silence)
            raise TypeError(f"norm matrix must be real; got dtype {norm.dtype}")
        if norm.shape != (n, n):
            raise ValueError(f"norm matrix must be {n} x {n}; got shape {norm.shape}")
        check_compressed(norm, "norm")
        Mv = norm.astype(R.dtype) if norm.dtype != R.dtype else norm
        _check_symmetric(Mv)
        M = as_matrix(Mv, "norm").op
        G = np.asarray(Mv @ R, dtype=R.dtype)
        G = np.ascontiguousarray(G) if R.flags.c_contiguous else np.asfortranarray(G)
        if (np.einsum("ij,ij->j", R, G) < 0).any():
            raise ValueError("norm matrix is not positive definite: s^T M s < 0 for a snapshot s")
    elif norm is None or np.ndim(norm) != 1:
        raise TypeError(
            f"norm must be 'linf', 'l2', a 1-D array of weights or a 2-D SPD matrix; got {norm!r}"
        )
    else:
        kind = "weighted"
        given = np.asarray(norm)
        if given.dtype.kind not in "biuf":
            raise TypeError(f"norm weights must be real; got dtype {given.dtype}")
        weights = np.ascontiguousarray(given, dtype=R.dtype)
        if weights.shape != (n,):
            raise ValueError(f"norm weights must have shape ({n},); got {weights.shape}")
        if not np.isfinite(weights).all() or (weights <= 0).any():
            raise ValueError("norm weights must be finite and positive")
    Q, points, cols, errors = _core.eim_greedy(
        R,
        G,
        weights,
        M,
        kind,
        min(terms, limit),
        float(np.ldexp(abs_tol, exponent)),
        rtol,
        {"linf": EIM_BLOCK, "l2": EIM_BLOCK_L2, "weighted": EIM_BLOCK_L2}.get(kind, 1),
    )
    # an error beyond the float range is inf (snapshots near the float maximum: residuals
    # reach up to twice their entries), without a RuntimeWarning
    with np.errstate(over="ignore"):
        errors = np.ldexp(errors, -exponent)
    if errors[0] == 0.0:
        raise ValueError("snapshots are all zero: there is nothing to interpolate")
    if points.size == 0:
        raise ValueError(
            f"atol ({abs_tol}) is at least the largest snapshot norm ({errors[0]:.6g}): the "
            "interpolant with no terms meets it; give a smaller atol"
        )
    return EmpiricalInterpolant(
        _read_only(Q),  # (its own: a change in place would leave the cached factors stale)
        points,
        cols,
        errors,
        pick(cols),
        kind,
        None if params is None else [params[int(c)] for c in cols],
    )


def _check_symmetric(M: Any) -> None:
    """The norm matrix must be symmetric to sqrt(eps) of its norm (the greedy's updates of
    the norms take q^T M r for r^T M q)."""
    asym = asymmetry(M)
    if asym > np.sqrt(np.finfo(M.dtype).eps):
        raise ValueError(
            f"norm matrix must be symmetric (SPD); ||M - M^T||_F / ||M||_F = {asym:.2g}"
        )


def _check_tol(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0; got {v}")
    return v
