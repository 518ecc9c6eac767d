"""rankwise.deim, rankwise.qdeim, rankwise.odeim: interpolation points on a basis U and the
interpolation operator that reconstructs a vector of span(U) from its values at the points.

The selection kernels are the ones of the CUR family (DEIM = pivots of LU with partial
pivoting, Q-DEIM = pivots of QR with column pivoting of U^T, both in the native core); this
module adds the oversampling rule of ODEIM and the interpolation operator itself.

Bases (and values) of extreme magnitude, subnormal or near the float maximum, are worked on
scaled by powers of two (exact; the points and the interpolant U U[points]^+ do not depend
on a global scale): see :func:`power_of_two_exponent`.  DEIM's selection and the
interpolant's solves scale each basis vector by its own power where their scales lie far
apart (:func:`selection_exponents`), and the solves each field of the values by its own.
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
from typing import Any, SupportsIndex, overload

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from . import _core, _gpu, _selection
from ._dispatch import check_compressed, refuse_device_or_dask, require_cpu_input
from ._validate import check_int, work_dtype

DEIM_BLOCKS = (16,)
"""Block sizes of the left-looking DEIM (algo/deim_blocked.hpp), outer to inner: the GEMM
that forms a block's residual reads U[:, :j0] once per block, the LU of the n x 16 panel
reads the panel about 16 times.  Measured on 1e6 x 100 (shared 2-core machine): one level of
16 took 1.4-2.6 s, (16, 4) 1.9-3.2 s, (32, 8) 2.4-2.9 s, (24, 6) 2.0-2.9 s."""


def as_basis(U: Any, name: str = "U") -> np.ndarray:
    """A validated basis: 2-D float32/float64 array (integers -> float64), n >= m >= 1,
    finite.  Returned as given when no conversion is needed (never modified)."""
    return _validated_basis(U, name)[0]


def _validated_basis(U: Any, name: str = "U") -> tuple[np.ndarray, np.ndarray]:
    """:func:`as_basis` and the largest magnitude in each column (from the same pass)."""
    require_cpu_input(U, name)
    if sp.issparse(U):
        raise TypeError(
            f"{name} is a scipy.sparse matrix; the basis must be dense: pass {name}.toarray()"
        )
    u = np.asarray(U)
    if u.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n rows x m basis vectors); got shape {u.shape}"
        )
    n, m = u.shape
    if m == 0 or n == 0:
        raise ValueError(f"{name} must not be empty; got shape {u.shape}")
    if n < m:
        raise ValueError(f"{name} has more basis vectors ({m}) than rows ({n})")
    dtype = work_dtype(u.dtype, name)
    if u.dtype != dtype:
        u = u.astype(dtype)
    return u, _check_finite(u, name)


def _check_finite(u: np.ndarray, name: str) -> np.ndarray:
    """NaN/Inf check by blocks of rows (no n x m temporary); returns max |u[:, j]| (float64)."""
    rows = max(1, (1 << 20) // max(u.shape[1], 1))
    big = np.zeros(u.shape[1])
    for i in range(0, u.shape[0], rows):
        top = np.abs(u[i : i + rows]).max(axis=0)  # NaN or Inf if there is one
        if not np.isfinite(top).all():
            raise ValueError(f"{name} contains NaN or Inf")
        np.maximum(big, top, out=big)
    return big


def power_of_two_exponent(big: float, dtype: np.dtype) -> int:
    """0, or the exponent e such that ``2^e big`` (a largest magnitude, > 0) lies in
    [0.5, 1), when it is so small or so large (beyond 2^(+-maxexp/3) for the dtype, about
    1e-13..1e13 in float32 and 1e-103..1e103 in float64) that products and sums of squares
    of such entries would underflow into the subnormals or overflow.  Multiplying by a
    power of two is exact, and the points and the interpolant U U[p]^+ do not depend on a
    global scale of U (one factor for the whole basis: per-column factors would change
    Q-DEIM's pivots and the least-squares weights of ODEIM)."""
    if big == 0.0 or not np.isfinite(big):
        return 0
    limit = np.finfo(dtype).maxexp // 3
    exponent = int(np.frexp(big)[1])
    return 0 if -limit <= exponent <= limit else -exponent


def _scaled_columns(a: np.ndarray, exponents: np.ndarray | None) -> np.ndarray:
    """a with column j scaled by 2^exponents[j] (``a`` itself for None)."""
    if exponents is None:
        return a
    return np.ldexp(a, exponents).astype(a.dtype, copy=False)


def _field_exponents(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """:func:`power_of_two_exponent` (of ``dtype``) of each field's largest magnitude: int32,
    one per column of a 2-D ``v``, 0-d for a 1-D one (0 for non-float values)."""
    if v.dtype.kind != "f" or not v.size:
        return np.zeros(v.shape[1:], dtype=np.int32)
    big = np.abs(v).max(axis=0).astype(np.float64)
    return np.array(
        [power_of_two_exponent(float(b), dtype) for b in big.ravel()], dtype=np.int32
    ).reshape(big.shape)


def _solve_exponents(M: np.ndarray) -> np.ndarray | None:
    """The powers of two for the columns of the small matrix M (U[points], or EIM's cross
    matrix) that a solve with it applies first (:func:`selection_exponents`, per column), so
    that its factorization works on normal numbers of one scale; None: none needed."""
    column_max = np.abs(M).max(axis=0).astype(np.float64)
    return selection_exponents(column_max, M.dtype, per_column=True)


def _scaled_fields(v: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(v 2^t in ``dtype``, t): each field (column) of the values scaled by its own power of
    two where its entries are extreme (:func:`_field_exponents`, of the work dtype, before
    the cast)."""
    t = _field_exponents(v, dtype)
    return (np.ldexp(v, t) if t.any() else v).astype(dtype, copy=False), t


def _saturated(Z: np.ndarray, Y: np.ndarray, t: np.ndarray, terms: int) -> np.ndarray:
    """Z = Y 2^-t (each field unscaled by its own power of two, rounded into the dtype), with
    the entries that overflowed by rounding alone at the float maximum instead of Inf: those
    whose scaled value lies within 4 terms eps of max 2^t, the rounding of a sum of ``terms``
    products.  A field whose value at a point is the float maximum is reproduced there to
    that accuracy, and it rounded up to Inf (found by atheris: a snapshot matrix with
    entries of 1.8e308).  Farther beyond the range, Inf stays."""
    over = np.isinf(Z) & np.isfinite(Y)
    if not over.any():
        return Z
    info = np.finfo(Z.dtype)
    limit = np.ldexp(float(info.max), t.astype(np.int64)) * (1 + 4 * terms * float(info.eps))
    rounding_only = over & (np.abs(Y) <= limit)
    Z[rounding_only] = np.copysign(info.max, Y[rounding_only])
    return Z


def _unscaled_solution(c: np.ndarray, d: np.ndarray | None, t: np.ndarray) -> np.ndarray:
    """D c 2^-t, D = diag(2^d_j): the solution of M x = v from c solving (M D) c = v 2^t
    (the scaling exact; results beyond the range over- or underflow silently)."""
    e = -t if d is None else (d - t if c.ndim == 1 else d[:, None] - t[None, :])
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(c, e).astype(c.dtype, copy=False)


def _equilibrated_singular_values(a: np.ndarray) -> np.ndarray:
    """The singular values of a (float64) with its columns scaled to unit norm (a zero
    column stays zero): a rank test that does not depend on the columns' scales."""
    a = a.astype(np.float64)
    # each column by its largest entry first: the sums of squares of a column of 1e-200
    # entries underflowed to a norm of 0, and the column was left unscaled
    big = np.abs(a).max(axis=0, initial=0.0)
    a = a / np.where(big > 0, big, 1.0)
    norms = np.linalg.norm(a, axis=0)
    return np.linalg.svd(a / np.where(norms > 0, norms, 1.0), compute_uv=False)


def _check_selection_rank(Up: np.ndarray, name: str) -> None:
    """U[p] must be numerically nonsingular (full column rank), else U is rank-deficient.
    Judged with its columns scaled to unit norm: the interpolant U U[p]^+ does not depend on
    the basis vectors' scales, nor does the accuracy of the solve with U[p] (LU with partial
    pivoting, Householder QR), so orthogonal columns of scales 1 and 1e-18 are no rank loss."""
    s = _equilibrated_singular_values(Up)
    tol = max(Up.shape) * np.finfo(Up.dtype).eps * (s[0] if s.size else 0.0)
    if s.size == 0 or s[0] == 0.0 or s[-1] <= tol:
        raise ValueError(
            f"{name} is numerically rank-deficient: its rows at the selected points have "
            f"smallest singular value {s[-1] if s.size else 0.0:.3g} (largest "
            f"{s[0] if s.size else 0.0:.3g}); remove dependent basis vectors (e.g. with an SVD)"
        )


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a`` (the interpolant's own copy) marked read-only: an entry changed in place would
    leave the factorizations cached from it stale."""
    a.flags.writeable = False
    return a


def _checked_points(points: Any, shape: tuple[int, int]) -> np.ndarray:
    """Interpolation points for a basis of this shape: a 1-D array of at least m distinct
    integers in [0, n) (int64)."""
    n, m = shape
    p = np.asarray(points)
    if p.ndim != 1:
        raise ValueError(f"points must be a 1-D array of row indices; got shape {p.shape}")
    if p.size < m:  # (first: NumPy reads [] as float64)
        raise ValueError(
            f"{p.size} point(s) for {m} basis vectors: interpolation needs at least as many "
            "points as basis vectors"
        )
    if p.dtype.kind not in "iu":
        raise TypeError(f"points must be integers; got dtype {p.dtype}")
    if p.min() < 0 or p.max() >= n:
        raise ValueError(f"points must lie in [0, {n}) (the basis has {n} rows)")
    if np.unique(p).size != p.size:
        raise ValueError("points must be distinct")
    return p.astype(np.int64)


class PointInterpolant:
    """Interpolation at points: ``f ~ U @ coefficients(f[points])``.

    The common part of the results of :func:`deim`, :func:`qdeim`, :func:`odeim` and
    :func:`eim`.  With as many points as basis vectors the coefficients solve
    ``U[points] c = values`` (interpolation: exact at the points); with more points
    (oversampling) they are the least-squares solution.  Vectors in ``span(U)`` are
    reconstructed exactly from their values at the points.

    Attributes
    ----------
    basis : ndarray, shape (n, m)
        The basis U (a reference to the caller's array when it needed no conversion).
    points : ndarray of int64, shape (n_points,)
        The selected rows of U, in selection order.
    interpolation_matrix : ndarray, shape (n_points, m)
        ``U[points, :]``.
    """

    def __init__(self, basis: Any, points: Any) -> None:
        """The interpolant on ``basis`` (n x m, dense, finite) at ``points``: at least m
        distinct row indices in ``[0, n)``, at which the basis has full column rank
        (ValueError / TypeError naming what is wrong otherwise).  The selection functions
        (:func:`deim`, :func:`eim`, ...) build their results from points they have
        checked."""
        u = as_basis(basis, "basis")
        p = _checked_points(points, u.shape)
        self._set(u, p)
        _check_selection_rank(self.interpolation_matrix, "the basis at the points")

    def _set(self, basis: np.ndarray, points: np.ndarray) -> None:
        """The attributes, for points already checked (the selection functions' results)."""
        self.basis = basis
        self.points = _read_only(np.array(points, dtype=np.int64))
        self.interpolation_matrix = _read_only(np.ascontiguousarray(basis[self.points, :]))
        self.noise: float | str | None = None
        self._prior: np.ndarray | None = None  # L with E[c c^T] = L L^T (m x m), if stabilized

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_basis(self) -> int:
        return int(self.basis.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.basis.dtype

    @functools.cached_property
    def _column_exponents(self) -> np.ndarray | None:
        """The powers of two 2^d_j (one per basis vector) that the solves apply to the columns
        of U[points], or None: one power for all where its entries are extreme
        (:func:`power_of_two_exponent`), or, where the columns' largest
        entries lie more than _COLUMN_SPREAD apart, each column's own
        (:func:`selection_exponents`), so that the factorization works on normal numbers of
        one scale.  The coefficients are then c_j = 2^d_j c_s,j, and the interpolant, which
        does not depend on the columns' scales, is unchanged (a basis with a column of
        1e308 and one of subnormals gave NaN: U[points] was singular to rounding; found
        by fuzzing)."""
        return _solve_exponents(self.interpolation_matrix)

    @functools.cached_property
    def _factor(self) -> Any:
        P = _scaled_columns(self.interpolation_matrix, self._column_exponents)
        if P.shape[0] == P.shape[1]:
            return scipy.linalg.lu_factor(P, check_finite=False)
        return scipy.linalg.qr(P, mode="economic", check_finite=False)

    def coefficients(self, values: Any) -> np.ndarray:
        """Coefficients ``c`` of ``f ~ U @ c`` from ``values = f[points]``.

        Parameters
        ----------
        values : array_like, shape (n_points,) or (n_points, k)
            Values of one field (or k fields, one per column) at the points.

        Returns
        -------
        ndarray, shape (m,) or (m, k)
        """
        if self._prior is None:
            return self._plain_coefficients(self._check_values(values, cast=False))
        v = self._check_values(values)
        if self.noise == "estimate":
            return self._operator(self._noise_estimate(v)) @ v
        if self.noise == "ml":
            return self._operator(self._ml_noise(v)) @ v
        return self._stabilized_operator @ v

    def _plain_coefficients(self, v: np.ndarray) -> np.ndarray:
        c, t = self._scaled_solve(v)
        return _unscaled_solution(c, self._column_exponents, t)

    def _scaled_solve(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(c_s, t) with c_s = (P D)^+ (v 2^t): U[points] (self._factor) with its columns
        and the values, each field (column of v) on its own, scaled by powers of two (D =
        diag(2^d_j), _column_exponents; t, int32, one per field, 0-d for one field) when
        their entries are extreme, so that the solve works on normal numbers; the
        coefficients are c = D c_s 2^-t (the scaling itself exact).  One power for all the
        fields zeroed a field of 1e-150 beside one of 1e200 (found by review)."""
        v, t = _scaled_fields(v, self.dtype)
        if self.n_points == self.n_basis:
            c = scipy.linalg.lu_solve(self._factor, v, check_finite=False)
        else:
            Q, R = self._factor
            c = scipy.linalg.solve_triangular(R, Q.T @ v, check_finite=False)
        return c.astype(self.dtype, copy=False), t

    def estimate_noise(self, values: Any, method: str = "residual") -> float:
        """Estimate of the standard deviation of independent noise in the values.

        ``method="ml"`` (after :meth:`stabilize`, any number of points): the maximum
        marginal likelihood (empirical Bayes) estimate under the prior of the snapshots,
        what ``stabilize("ml")`` uses; it tells noise from signal by comparing the values'
        components along the singular vectors of ``P L`` with the prior's spread ``s_i``.

        ``method="residual"`` (more points than basis vectors): from the
        residual of the least-squares fit,
        ``sqrt(||values - P c_ls||_F^2 / ((n_points - m) k))`` for k fields (one per
        column, assumed to carry the same noise level), unbiased for the variance when the
        fields lie in span(U) (the residual of the least-squares projection has
        ``n_points - m`` degrees of freedom); the part of a field outside span(U) counts as
        noise.  This is what ``stabilize("estimate")`` uses, per call."""
        v = self._check_values(values)
        if method == "ml":
            if self._prior is None:
                raise ValueError("method='ml' needs the prior of stabilize(noise, snapshots)")
            return self._ml_noise(v)
        if method != "residual":
            raise ValueError(f"method must be 'residual' or 'ml'; got {method!r}")
        return self._noise_estimate(v)

    def _noise_estimate(self, v: np.ndarray) -> float:
        dof = self.n_points - self.n_basis
        if dof <= 0:
            raise ValueError(
                "estimating the noise needs more points than basis vectors (the residual of "
                f"an interpolation is zero); this interpolant has {self.n_points} points for "
                f"{self.n_basis} basis vectors: use oversample first"
            )
        r = (v - self.interpolation_matrix @ self._plain_coefficients(v)).astype(np.float64)
        cols = 1 if v.ndim == 1 else v.shape[1]
        # squared after a division by 2^e ~ max |r| (residuals beyond 1e+-154 gave inf / 0)
        big = float(np.abs(r).max(initial=0.0))
        e = int(np.frexp(big)[1]) if big > 0 else 0
        return float(np.ldexp(np.sqrt(np.sum(np.ldexp(r, -e) ** 2) / (dof * cols)), e))

    def _ml_noise(self, v: np.ndarray) -> float:
        """Maximum marginal likelihood (empirical Bayes) noise level under the prior of
        :meth:`stabilize`: with ``P L = W diag(s) Z^T``, the components ``b = W^T values``
        are independent with variances ``s_i^2 + sigma^2`` and the residual outside
        range(P L) has variance sigma^2 per degree of freedom; sigma^2 minimises

            sum_cols sum_i [log(s_i^2 + sigma^2) + b_i^2 / (s_i^2 + sigma^2)]
            + (n_points - m) k log sigma^2 + ||residual||^2 / sigma^2,

        found on a logarithmic grid, then refined (Brent) between the grid's neighbours."""
        import scipy.optimize

        _, s, Wt = self._whitened_svd
        # on s and the values divided by 2^e ~ s_1 (the likelihood is scale-equivariant:
        # sigma scales with them), so that the squares neither under- nor overflow
        # (values and prior of 1e-160 / 1e160 gave sigma = 0; found by review)
        e = int(np.frexp(s[0])[1]) if s[0] > 0 else 0
        s = np.ldexp(s, -e)
        V = np.ldexp(v.reshape(v.shape[0], -1).astype(np.float64), -e)
        B = Wt @ V
        cols = V.shape[1]
        b2 = np.sum(B * B, axis=1)
        total = float(np.sum(V * V))
        dof = (self.n_points - self.n_basis) * cols
        resid = float(np.sum((V - Wt.T @ B) ** 2)) if dof else 0.0  # outside range(P L)
        s2 = s * s

        def nll(t: float) -> float:
            d = s2 + np.exp(t)
            extra = dof * t + resid * np.exp(-t) if dof else 0.0
            return float(cols * np.sum(np.log(d)) + np.sum(b2 / d) + extra)

        low = np.log((np.finfo(np.float64).eps * s[0]) ** 2)
        high = np.log(10.0 * max(s2[0], total / (v.shape[0] * cols)))
        grid = np.linspace(low, high, 400)
        i = int(np.argmin([nll(t) for t in grid]))
        if i == 0:
            return 0.0  # no evidence of noise: the plain coefficients
        hi = grid[min(i + 1, grid.size - 1)]
        t = scipy.optimize.minimize_scalar(nll, bounds=(grid[i - 1], hi), method="bounded").x
        return float(np.ldexp(np.exp(t / 2), e))

    def _check_values(self, values: Any, cast: bool = True) -> np.ndarray:
        refuse_device_or_dask(values, "values")
        if sp.issparse(values):
            raise TypeError("values must be a dense array; got a sparse matrix (use .toarray())")
        v = np.asarray(values)
        if v.ndim not in (1, 2) or v.shape[0] != self.n_points:
            raise ValueError(
                f"values must have shape ({self.n_points},) or ({self.n_points}, k) (one "
                f"value per point); got {v.shape}"
            )
        if v.dtype.kind == "c":
            raise TypeError(
                f"values must be real; got dtype {v.dtype} (the interpolant is linear: "
                "interpolate the real and imaginary parts separately)"
            )
        if v.dtype.kind not in "biuf":
            raise TypeError(f"values must be a real numeric array; got dtype {v.dtype}")
        if not np.isfinite(v).all():
            raise ValueError("values contains NaN or Inf")
        return v.astype(self.dtype, copy=False) if cast else v

    def __call__(self, values: Any) -> np.ndarray:
        """The reconstructed field(s) ``U @ coefficients(values)``, shape (n,) or (n, k)."""
        if self._prior is not None:
            return self.basis @ self.coefficients(values)
        # U c = 2^-t (U D) c_s: with extreme entries of the basis (D) or of the values (t),
        # the products are formed on normal numbers and rounded once into the range of the
        # result (values near the float maximum: U @ c overflowed in its partial sums)
        c, t = self._scaled_solve(self._check_values(values, cast=False))
        with np.errstate(over="ignore", under="ignore"):
            Y = _scaled_columns(self.basis, self._column_exponents) @ c
            if not t.any():
                return Y
            return _saturated(np.ldexp(Y, -t).astype(Y.dtype, copy=False), Y, t, c.shape[0])

    @functools.cached_property
    def lebesgue_constant(self) -> float:
        """``||U U[points]^+||_2``: the factor by which interpolation can amplify the best
        approximation error in span(U) (for orthonormal U, ``1 / sigma_min(U[points])``).

        The error bound is ``||f - U c|| <= lebesgue_constant * ||f - U U^T f||`` for
        orthonormal U and interpolation (Chaturantabut & Sorensen 2010, Lemma 3.2); the
        same form holds for the least-squares reconstruction of oversampled points
        (Peherstorfer, Drmac & Gugercin 2020, Lemma 3.1).  Computed on first use from the
        Gram matrix of U (one pass over U).
        """
        # U M = (U D) pinv(U[points] D), D = diag(2^d_j) (_column_exponents): no under/
        # overflow in G, and no column of U[points] small enough for pinv to cut (a column
        # scaled by 1e-18 gave 3.436 for 3.485)
        d = self._column_exponents
        U = _scaled_columns(self.basis.astype(np.float64, copy=False), d)
        M = np.linalg.pinv(_scaled_columns(self.interpolation_matrix.astype(np.float64), d))
        G = U.T @ U
        # ||U M||_2^2 = lambda_max(M^T G M)
        lam = np.linalg.eigvalsh(M.T @ G @ M)
        return float(np.sqrt(max(lam[-1], 0.0)))

    @functools.cached_property
    def lebesgue_constant_inf(self) -> float:
        """``max_i sum_k |(U U[points]^+)_{ik}|``: the Lebesgue constant in the max norm, as
        in the EIM literature (Maday, Nguyen, Patera & Pau 2009): ``||f - I f||_inf <= (1 +
        lebesgue_constant_inf) * min_c ||f - U c||_inf``.  One pass over U."""
        d = self._column_exponents
        L = _scaled_columns(self.basis, d) @ np.linalg.pinv(
            _scaled_columns(self.interpolation_matrix, d)
        )
        return float(np.abs(L).sum(axis=1).max())

    def stabilize(self, noise: float | str, snapshots: Any = None) -> PointInterpolant:
        """The same interpolant with coefficients that do not amplify noise in the values.

        Plain interpolation turns noise ``e`` in the values into a reconstruction error up
        to ``lebesgue_constant * ||e||`` (large for ill-conditioned ``U[points]``).  The
        stabilized coefficients are the linear minimum mean-square error estimate of the
        coefficients of a field drawn like the ``snapshots``, from values carrying
        independent noise of standard deviation ``noise``: with ``M = E[c c^T]`` the second
        moment of the snapshots' coefficients (least-squares coefficients in U) and
        ``P = U[points]``,

            c = argmin ||P c - values||^2 / noise^2 + c^T M^{-1} c
              = M P^T (P M P^T + noise^2 I)^{-1} values,

        a Tikhonov-regularised least-squares problem whose regularisation is the spread of
        the snapshots (the a-priori knowledge of the solution manifold used to stabilize
        (G)EIM by Argaud, Bouriquet, Gong, Maday & Mula 2017, here as a quadratic
        penalty instead of their box constraints, so that the estimate stays linear).  For
        fields ``U c`` with c drawn from the snapshots' coefficients and values
        ``P c + e``, it is among all linear maps from values to coefficients the one of least
        mean-square error (the Wiener / kriging estimator; the posterior mean when c and e
        are Gaussian): its mean squared error ``tr(U^T U (M^{-1} + P^T P / noise^2)^{-1})``
        is never larger than the plain interpolant's ``noise^2 tr(U^T U (P^T P)^{-1})``
        nor than the snapshots' own spread ``tr(U^T U M)``.  The noise amplification
        (:attr:`noise_amplification`, ``||U K||_2`` for the map K from values to
        coefficients) is at most ``min(lebesgue_constant, ||U L||_2 / (2 noise))`` with
        ``M = L L^T``: bounded whatever the conditioning of ``U[points]``.  With
        ``noise = 0`` the coefficients are the plain ones (interpolation or least squares).

        Computed as ``c = L z``, ``z = argmin ||P L z - values||^2 + noise^2 ||z||^2``,
        through the SVD of the small ``n_points x m`` matrix ``P L``: the same operator is
        then applied to every set of values (one product).  :meth:`oversample` and
        :meth:`remove_points` keep the stabilization.

        Parameters
        ----------
        noise : float, "ml" or "estimate"
            Standard deviation of the independent noise in each value (same units as the
            values), >= 0; or estimated at every call of :meth:`coefficients` from the
            values themselves (pooled over the fields of the call) by
            :meth:`estimate_noise`: ``"ml"`` by maximum marginal likelihood under the
            snapshots' prior (any number of points), ``"estimate"`` from the least-squares
            residual (more points than basis vectors).  With an estimate the coefficients
            are no longer a linear function of the values.
        snapshots : array_like or sparse matrix, shape (n, N), optional
            Fields representative of those to be reconstructed (e.g. the training
            snapshots), whose coefficients in U must span all m directions.  Default for
            :class:`EmpiricalInterpolant`: its ``selected_snapshots``; required otherwise.

        Returns
        -------
        PointInterpolant
            A copy (same class, points and basis) with ``noise`` set.

        Examples
        --------
        >>> import numpy as np, rankwise
        >>> x = np.linspace(-1, 1, 100)
        >>> S = np.stack([(1 - x) * np.cos(3 * np.pi * mu * (x + 1)) * np.exp(-(1 + x) * mu)
        ...               for mu in np.linspace(1, np.pi, 51)], axis=1)
        >>> U = np.linalg.svd(S, full_matrices=False)[0][:, :20]
        >>> plain = rankwise.deim(U)
        >>> stable = plain.stabilize(0.05, S)      # noise of standard deviation 0.05
        >>> rng = np.random.default_rng(0)
        >>> F = U @ (U.T @ S)                      # the snapshots, in span(U)
        >>> noisy = F[plain.points] + 0.05 * rng.standard_normal(F[plain.points].shape)
        >>> err_plain = np.linalg.norm(plain(noisy) - F, axis=0).mean()
        >>> err_stable = np.linalg.norm(stable(noisy) - F, axis=0).mean()
        >>> bool(err_stable < 0.7 * err_plain)
        True
        >>> bool(stable.noise_amplification <= plain.lebesgue_constant)
        True
        """
        sigma = _check_noise(noise)
        if sigma == "estimate" and self.n_points <= self.n_basis:
            raise ValueError(
                "noise='estimate' needs more points than basis vectors (the residual of an "
                "interpolation is zero): use oversample first, or give the noise level"
            )
        if snapshots is None:
            snapshots = self._prior_snapshots()
            if snapshots is None:
                raise ValueError(
                    "snapshots is required: stabilize needs fields representative of those "
                    "to reconstruct (e.g. the training snapshots) to know their spread"
                )
        L = _prior_factor(self.basis, snapshots)
        result = copy.copy(self)
        for cached in ("_stabilized_operator", "_whitened_svd", "noise_amplification"):
            result.__dict__.pop(cached, None)
        result.noise, result._prior = sigma, L
        return result

    def _prior_snapshots(self) -> np.ndarray | None:
        return None

    @functools.cached_property
    def _whitened_svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(L Z, s, W^T) for the SVD P L = W diag(s) Z^T (float64: small matrices)."""
        assert self._prior is not None
        L = self._prior
        A = self.interpolation_matrix.astype(np.float64) @ L
        W, s, Zt = np.linalg.svd(A, full_matrices=False)
        if s[-1] <= max(A.shape) * np.finfo(self.dtype).eps * s[0]:
            raise ValueError(
                "the basis at the points is numerically rank-deficient; stabilization "
                "needs U[points] of full column rank"
            )
        return L @ Zt.T, s, W.T

    def _operator(self, sigma: float) -> np.ndarray:
        """K (m x n_points) with c = K values: L Z diag(s / (s^2 + sigma^2)) W^T, in the
        work dtype."""
        LZ, s, Wt = self._whitened_svd
        h = np.hypot(s, sigma)  # s / h^2 with no square to under- or overflow
        return ((LZ * ((s / h) / h)) @ Wt).astype(self.dtype)

    @functools.cached_property
    def _stabilized_operator(self) -> np.ndarray:
        assert isinstance(self.noise, float)
        return self._operator(self.noise)

    @functools.cached_property
    def noise_amplification(self) -> float:
        """``||U K||_2`` for the linear map K from values to coefficients: the reconstruction
        error caused by noise ``e`` in the values is at most this times ``||e||_2``.  The
        :attr:`lebesgue_constant` for the plain interpolant; at most
        ``min(lebesgue_constant, ||U L||_2 / (2 noise))`` after :meth:`stabilize`; with
        an estimated noise level the map depends on the values and the bound
        ``lebesgue_constant``, valid for every estimate, is returned."""
        if self._prior is None or isinstance(self.noise, str):
            return self.lebesgue_constant
        # U K = (U D)(D^-1 K), D = diag(2^d_j) (_column_exponents): no square of a
        # 1e-300 or 1e300 basis in the Gram matrix
        d = self._column_exponents
        K = self._stabilized_operator.astype(np.float64)
        U = _scaled_columns(self.basis.astype(np.float64, copy=False), d)
        if d is not None:
            K = np.ldexp(K, -d[:, None])
        lam = np.linalg.eigvalsh(K.T @ (U.T @ U) @ K)
        return float(np.sqrt(max(lam[-1], 0.0)))

    def _with_points(self, points: np.ndarray) -> PointInterpolant:
        """A copy (same class and attributes, same basis and stabilization) with other
        points: what depends on the points (U[points], its factorization and the cached
        properties computed from it) is recomputed."""
        result = copy.copy(self)
        for name in list(result.__dict__):
            if isinstance(getattr(type(result), name, None), functools.cached_property):
                del result.__dict__[name]
        result.points = _read_only(np.array(points, dtype=np.int64))
        result.interpolation_matrix = _read_only(
            np.ascontiguousarray(self.basis[result.points, :])
        )
        return result

    def oversample(self, n_points: SupportsIndex) -> PointInterpolant:
        """The rectangular extension: the same basis with ``n_points`` points (the current
        ones first) and least-squares coefficients.

        Points are added by the rule of :func:`odeim` (Peherstorfer, Drmac & Gugercin 2020)
        applied to an orthonormal basis of span(U).  More points than basis vectors make
        the reconstruction less sensitive to noise in the values and allow points to be
        dropped later (:meth:`remove_points`) without rebuilding the basis (the rectangular
        EIM of Casenave, Ern & Lelievre 2016, Section 4).

        The result is of the same class as this interpolant, with its other attributes
        (the ``method`` of a :class:`PointSelection`, which names the rule of the first
        points; the snapshots, error history and ``snapshot_coefficients`` of an
        :class:`EmpiricalInterpolant`) and its stabilization.
        """
        n = self.basis.shape[0]
        k = check_int(n_points, "n_points", low=self.n_points)
        if k > n:
            raise ValueError(f"n_points ({k}) exceeds the number of rows of the basis ({n})")
        # (U D: its Q is U's, up to signs, with no column pushed out of the range)
        Qb = np.linalg.qr(_scaled_columns(self.basis, self._column_exponents))[0]
        return self._with_points(odeim_extend(Qb, self.points, k))

    def remove_points(self, points: Any) -> PointInterpolant:
        """The interpolant without the given points (e.g. broken sensors): same basis,
        least-squares coefficients on the remaining points; nothing is recomputed but the
        small factorization of the remaining rows.  Needs at least as many remaining
        points as basis vectors, and those rows of full rank.  The result is of the same
        class, with the same attributes, as :meth:`oversample`'s; no points (``[]``) give
        a copy."""
        drop = np.atleast_1d(np.asarray(points))
        if drop.ndim != 1:  # (as the constructor: not flattened)
            raise ValueError(f"points must be a 1-D array of row indices; got shape {drop.shape}")
        if drop.size == 0:  # numpy reads [] as float64
            drop = drop.astype(np.int64)
        if drop.dtype.kind not in "iu":
            raise TypeError(f"points must be integers; got dtype {drop.dtype}")
        unknown = np.setdiff1d(drop, self.points)
        if unknown.size:
            raise ValueError(f"points {unknown.tolist()} are not interpolation points")
        keep = self.points[~np.isin(self.points, drop)]
        if keep.size < self.n_basis:
            raise ValueError(
                f"removing {drop.size} point(s) leaves {keep.size}, fewer than the "
                f"{self.n_basis} basis vectors"
            )
        result = self._with_points(keep)
        _check_selection_rank(result.interpolation_matrix, "the basis at the remaining points")
        return result

    def __repr__(self) -> str:
        n, m = self.basis.shape
        stable = "" if self.noise is None else f", noise={_noise_text(self.noise)}"
        return (
            f"{type(self).__name__}(n={n}, n_basis={m}, n_points={self.n_points}, "
            f"dtype={self.dtype}{stable})"
        )


def _noise_text(noise: float | str) -> str:
    return repr(noise) if isinstance(noise, str) else f"{noise:.3g}"


def _check_noise(noise: Any) -> float | str:
    if isinstance(noise, str):
        if noise not in ("estimate", "ml"):
            raise ValueError(
                f"noise must be a standard deviation, 'ml' or 'estimate'; got {noise!r}"
            )
        return noise
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(
            f"noise must be a real number (a standard deviation), 'ml' or 'estimate'; got "
            f"{noise!r}"
        )
    sigma = float(noise)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"noise must be finite and >= 0; got {sigma}")
    return sigma


def _prior_factor(U: np.ndarray, snapshots: Any) -> np.ndarray:
    """L (m x m, float64) with L L^T = B B^T / N, B = U^+ S the least-squares coefficients
    of the N snapshots (QR of U in the work dtype, then R of the QR of B^T)."""
    n, m = U.shape
    check_compressed(snapshots, "snapshots")
    S = snapshots.toarray() if sp.issparse(snapshots) else np.asarray(snapshots)
    if S.ndim == 1:
        S = S[:, None]
    if S.ndim != 2 or S.shape[0] != n or S.shape[1] == 0:
        raise ValueError(
            f"snapshots must have shape ({n}, N) with N >= 1 (one field per column); got "
            f"{np.shape(snapshots)}"
        )
    if S.dtype.kind not in "fiu":
        raise TypeError(f"snapshots must be real; got dtype {S.dtype}")
    if not np.isfinite(S).all():
        raise ValueError("snapshots contains NaN or Inf")
    Q, R = scipy.linalg.qr(U, mode="economic", check_finite=False)
    B = scipy.linalg.solve_triangular(R, Q.T @ S.astype(U.dtype, copy=False))
    if not np.isfinite(B).all():
        raise ValueError(
            "the snapshots' coefficients in the basis overflow (a basis of entries near the "
            "subnormal range against snapshots of ordinary size): scale U by a power of two "
            "first"
        )
    Rb = scipy.linalg.qr(B.T.astype(np.float64), mode="r", check_finite=False)[0][:m]
    # the rank judged with Rb's columns (one per basis vector) equilibrated: a basis
    # vector's scale scales its coefficients, not the span (Q diag(1, 1e-3, 1e3, 1, 1) in
    # float32 was refused; found by review)
    s = _equilibrated_singular_values(Rb) if Rb.shape[0] == m else np.zeros(1)
    if s[0] == 0.0 or s[-1] <= max(n, m) * np.finfo(U.dtype).eps * s[0]:
        raise ValueError(
            f"the snapshots' coefficients in the basis do not span its {m} directions "
            f"(N = {S.shape[1]} snapshot(s)); give snapshots representative of every basis "
            "vector"
        )
    return Rb.T / np.sqrt(S.shape[1])


class PointSelection(PointInterpolant):
    """Result of :func:`deim`, :func:`qdeim` and :func:`odeim`: the points and the
    interpolation operator on the basis U (see :class:`PointInterpolant`); ``method`` names
    the selection rule."""

    def __init__(self, basis: np.ndarray, points: np.ndarray, method: str) -> None:
        self._set(basis, points)
        self.method = method


# Column scales further apart than this factor are equalized for DEIM (_selection_basis).
_COLUMN_SPREAD = 2.0**10


def selection_exponents(
    column_max: np.ndarray, dtype: np.dtype, per_column: bool = False
) -> np.ndarray | None:
    """The powers of two (int32, one per column) that a basis with these largest column
    magnitudes is scaled by before its points are selected, or None where it is selected on
    as it is: one power for the whole basis when its entries are extreme (subnormal, or near
    the float maximum: :func:`power_of_two_exponent`), so that the points are those of the
    basis in exact arithmetic.  `per_column` (DEIM, whose points, LU's row pivots, do not
    depend on the columns' scales): each column scaled by its own power of two to a largest
    magnitude in [0.5, 1) where the columns' largest magnitudes lie more than _COLUMN_SPREAD
    apart, so that the core's singularity tests (pivots against the largest) compare
    columns of one scale.  Shared by the CPU and the CuPy selections."""
    big = float(column_max.max())
    nonzero = column_max[column_max > 0]
    if per_column and nonzero.size and big > _COLUMN_SPREAD * float(nonzero.min()):
        return (-np.frexp(np.where(column_max > 0, column_max, 1.0))[1]).astype(np.int32)
    exponent = power_of_two_exponent(big, dtype)
    return None if exponent == 0 else np.full(column_max.shape, exponent, dtype=np.int32)


def _selection_basis(U: Any, per_column: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The validated basis u and the one the points are selected on (u, or u scaled by
    :func:`selection_exponents`)."""
    u, column_max = _validated_basis(U)
    exponents = selection_exponents(column_max, u.dtype, per_column)
    if exponents is None:
        return u, u
    return u, np.ldexp(u, exponents).astype(u.dtype, copy=False)


def _finish(U: np.ndarray, points: np.ndarray, method: str, work: np.ndarray) -> PointSelection:
    """The PointSelection, its selection checked for rank.  The selections call it inside a
    serial_blas scope: the small factorizations around the native selection would otherwise
    wake OpenBLAS's threads, which then spin on the cores the next native call needs
    (qdeim of 20000 x 40 in a loop: 20 ms against 13; odeim with 60 points: 85 against 20)."""
    result = PointSelection(U, points, method)
    _check_selection_rank(work[result.points], "U")
    return result


@overload
def deim(U: np.ndarray) -> PointSelection: ...


@overload
def deim(U: Any) -> Any: ...


def deim(U: Any) -> Any:
    """Discrete empirical interpolation points of the basis U (Chaturantabut & Sorensen 2010).

    The greedy rule: point j is where the interpolation residual of basis vector j on the
    points chosen so far is largest in magnitude.  These are exactly the row pivots of LU
    with partial pivoting of U (Sorensen & Embree 2016, Section 3), computed so in the core:
    for a contiguous U (either memory order) by blocks of 16 columns, reading U in place
    (one GEMM per block forms its interpolation residual, whose LU gives the block's
    points); for a strided view by LU of a column-major copy.  The work is the LU's
    n m^2 flops either way.

    Parameters
    ----------
    U : array_like, shape (n, m)
        Basis (typically POD modes: leading left singular vectors of snapshots), n >= m,
        of full column rank.  float32 stays float32.  Not modified.

    Returns
    -------
    PointSelection
        ``points`` (m row indices, in greedy order), ``interpolation_matrix = U[points]``,
        ``coefficients(values)``, ``__call__(values)`` (the reconstruction
        ``U @ U[points]^{-1} values``) and ``lebesgue_constant``.

    Raises
    ------
    ValueError
        U not 2-D, more columns than rows, NaN/Inf, or numerically rank-deficient.

    Examples
    --------
    >>> import numpy as np, rankwise
    >>> x = np.linspace(0, 1, 200)
    >>> U, _, _ = np.linalg.svd(np.stack([np.sin(k * x) for k in range(1, 6)], 1),
    ...                         full_matrices=False)
    >>> sel = rankwise.deim(U)
    >>> sel.points.shape
    (5,)
    >>> f = U @ np.arange(5.0)                  # a field in span(U)
    >>> bool(np.allclose(sel(f[sel.points]), f))
    True

    See Also
    --------
    qdeim, odeim, eim
    """
    if _gpu.is_device_array(U):  # CuPy: on the GPU (python/rankwise/_deim_gpu.py)
        from ._deim_gpu import select_on_device

        return select_on_device(U, "deim")  # type: ignore[return-value]
    with _core.serial_blas():  # (see _finish)
        u, w = _selection_basis(U, per_column=True)
        if w.flags.f_contiguous or w.flags.c_contiguous:  # read in place, either order
            try:
                points = np.asarray(_core.deim_blocked(w, list(DEIM_BLOCKS)))
            except _core.CoreError as exc:  # the solve between blocks: as _finish words it
                if "singular" not in str(exc):
                    raise
                raise ValueError(
                    f"U is numerically rank-deficient: {exc}; remove dependent basis vectors "
                    "(e.g. with an SVD)"
                ) from None
        else:  # a strided view: LU with partial pivoting of a column-major copy
            points = _selection.deim(w)
        return _finish(u, points, "deim", w)


@overload
def qdeim(U: np.ndarray) -> PointSelection: ...


@overload
def qdeim(U: Any) -> Any: ...


def qdeim(U: Any) -> Any:
    """Q-DEIM points of the basis U (Drmac & Gugercin 2016): the first m column pivots of
    the QR factorization with column pivoting of ``U.T``.

    Its Lebesgue constant is bounded by ``sqrt(n - m + 1) * O(2^m)`` (DEIM's bound is
    ``O(sqrt(n m) 2^m)``) and is small in practice.

    Parameters
    ----------
    U : array_like, shape (n, m)
        Basis of full column rank, n >= m.  Not modified.

    Returns
    -------
    PointSelection

    Examples
    --------
    >>> import numpy as np, rankwise
    >>> U = np.linalg.qr(np.random.default_rng(0).standard_normal((100, 4)))[0]
    >>> sel = rankwise.qdeim(U)
    >>> bool(np.allclose(sel(U[sel.points, 2]), U[:, 2]))
    True

    See Also
    --------
    deim, odeim
    """
    if _gpu.is_device_array(U):  # CuPy: on the GPU (python/rankwise/_deim_gpu.py)
        from ._deim_gpu import select_on_device

        return select_on_device(U, "qdeim")  # type: ignore[return-value]
    with _core.serial_blas():  # (see _finish)
        u, w = _selection_basis(U)
        return _finish(u, _selection.qdeim(w), "qdeim", w)


def odeim_extend(U: np.ndarray, points: np.ndarray, n_points: int) -> np.ndarray:
    """Add points to ``points`` until there are ``n_points``, by the rule of Peherstorfer,
    Drmac & Gugercin (2020, Algorithm 3): each new row u maximizes the lower bound

        (g + ||u||^2 - sqrt((g + ||u||^2)^2 - 4 g (w_m^T u)^2)) / 2

    on the increase of sigma_min(U[p])^2 when u is appended, where U[p] = Z S W^T is the
    SVD of the current selection, w_m the right singular vector of sigma_m and
    g = sigma_{m-1}^2 - sigma_m^2 the gap (Lemma 3.4 there; for m = 1 the increase is
    exactly u^2).  Per added point: an SVD of U[p] (m x m-sized) and one product U w_m."""
    p = [int(i) for i in points]
    taken = np.zeros(U.shape[0], dtype=bool)
    taken[p] = True
    row_norm2 = np.einsum("ij,ij->i", U, U, dtype=np.float64)
    while len(p) < n_points:
        _, s, Wt = np.linalg.svd(U[p].astype(np.float64), full_matrices=False)
        proj = (U @ Wt[-1].astype(U.dtype)).astype(np.float64)
        score = odeim_scores(proj, row_norm2, s, np)
        score[taken] = -1.0
        i = int(np.argmax(score))
        p.append(i)
        taken[i] = True
    return np.asarray(p, dtype=np.int64)


def odeim_scores(proj: Any, row_norm2: Any, s: np.ndarray, xp: Any) -> Any:
    """:func:`odeim_extend`'s bound for every row u, from ``proj = U w_m`` and the rows'
    squared norms (float64, numpy or CuPy arrays: module ``xp``) and the singular values s
    of U[p], divided by ``2^(2e)`` with ``2^e ~ sigma_m`` (the same order of the rows): for a
    basis with a column of ~1e-200, ``(w_m^T u)^2`` underflowed to 0 on every row and the
    points added were the first free rows, 0, 1, 2, ..."""
    e = min(math.frexp(float(s[-1]))[1], 511) if s[-1] > 0 else 0
    b = xp.ldexp(proj, -e) ** 2  # (w_m^T u)^2 2^-2e
    g = float(s[-2] ** 2 - s[-1] ** 2) if len(s) > 1 else 0.0
    if g == 0.0:  # m = 1, or a repeated smallest singular value (the bound degenerates)
        return b
    a = g + row_norm2
    four_g_b = 4.0 * g * math.ldexp(1.0, 2 * e) * b  # 4 g (w_m^T u)^2, 0 where it underflows
    # the bound written without cancellation: 2 g b / (a + sqrt(a^2 - 4 g b))
    return 2.0 * g * b / (a + xp.sqrt(xp.maximum(a * a - four_g_b, 0.0)))


@overload
def odeim(U: np.ndarray, n_points: SupportsIndex) -> PointSelection: ...


@overload
def odeim(U: Any, n_points: SupportsIndex) -> Any: ...


def odeim(U: Any, n_points: SupportsIndex) -> Any:
    """Oversampled DEIM (gappy POD) points: ``n_points >= m`` rows of U for a least-squares
    reconstruction (Peherstorfer, Drmac & Gugercin 2020, Algorithm 3).

    Starts from the m Q-DEIM points and adds each further point where it most increases a
    lower bound on the smallest singular value of ``U[points]``, so that the Lebesgue
    constant ``||U[points]^+||_2`` (orthonormal U) decreases.  Oversampling makes the
    reconstruction robust to noise in the values and to lost points.

    Parameters
    ----------
    U : array_like, shape (n, m)
        Basis of full column rank.  Not modified.
    n_points : int
        Number of points, m <= n_points <= n.

    Returns
    -------
    PointSelection
        ``coefficients(values)`` is the least-squares solution of
        ``U[points] c ~ values``.

    Examples
    --------
    >>> import numpy as np, rankwise
    >>> U = np.linalg.qr(np.random.default_rng(0).standard_normal((100, 4)))[0]
    >>> sel = rankwise.odeim(U, 8)
    >>> sel.points.shape
    (8,)
    >>> f = U @ np.ones(4)
    >>> bool(np.allclose(sel(f[sel.points]), f))
    True

    See Also
    --------
    qdeim, deim, PointInterpolant.stabilize
    """
    if _gpu.is_device_array(U):  # CuPy: on the GPU (python/rankwise/_deim_gpu.py)
        from ._deim_gpu import select_on_device

        return select_on_device(U, "odeim", n_points)  # type: ignore[return-value]
    with _core.serial_blas():  # (see _finish; the per-point products are n x m GEMVs)
        u, w = _selection_basis(U)
        n, m = u.shape
        k = check_int(n_points, "n_points", low=m)
        if k > n:
            raise ValueError(f"n_points ({k}) exceeds the number of rows of U ({n})")
        start = _selection.qdeim(w)
        _check_selection_rank(w[start], "U")
        return _finish(u, odeim_extend(w, start, k), "odeim", w)
