"""rankwise.deim, qdeim and odeim on CuPy bases: the selection kernels of the CUDA backend
(algo/selection.hpp over CudaBackend: LU pivots by cuSOLVER's getrf, Q-DEIM's pivoted QR by
cuda/src/selection.cu), the points and the interpolation operator on the device.

The points are the CPU's for the same basis (the same pivots; Q-DEIM's pivoted QR differs
from LAPACK's geqp3 in rounding only, so near-ties may resolve differently).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from . import _gpu, _selection
from ._deim import _check_selection_rank, odeim_scores, selection_exponents
from ._validate import check_int


def as_device_basis(U: Any, name: str = "U") -> Any:
    """A validated CuPy basis: 2-D, n >= m >= 1, float32 or float64 (other real types ->
    float64), finite.  Returned as given when no conversion is needed (never modified)."""
    cp = _gpu._cupy()
    if not isinstance(U, cp.ndarray):
        raise TypeError(
            f"{name}: on the GPU the basis must be a CuPy ndarray; got "
            f"{type(U).__module__}.{type(U).__name__}"
        )
    if U.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n rows x m basis vectors); got shape {U.shape}"
        )
    n, m = (int(d) for d in U.shape)
    if m == 0 or n == 0:
        raise ValueError(f"{name} must not be empty; got shape {U.shape}")
    if n < m:
        raise ValueError(f"{name} has more basis vectors ({m}) than rows ({n})")
    dtype = _gpu._work_dtype(U.dtype, name)
    u = U.astype(dtype) if U.dtype != dtype else U
    _gpu._check_finite(u, name)
    return u


def _device_exponents(a: Any, per_column: bool) -> Any:
    """rankwise._deim.selection_exponents of the CuPy matrix a, as a CuPy int32 vector, or
    None (one read of a and its column maxima to the host)."""
    cp = _gpu._cupy()
    column_max = cp.abs(a).max(axis=0).get().astype(np.float64)
    exponents = selection_exponents(column_max, np.dtype(a.dtype), per_column)
    return None if exponents is None else cp.asarray(exponents)


def selection_basis(u: Any, per_column: bool = False) -> Any:
    """The CuPy basis the points of u are selected on: u, or u scaled by powers of two as
    on the CPU (rankwise._deim.selection_exponents: extreme entries, and for DEIM columns
    of scales far apart)."""
    exponents = _device_exponents(u, per_column)
    if exponents is None:
        return u
    return _gpu._cupy().ldexp(u, exponents).astype(u.dtype, copy=False)


def device_rows(u: Any, method: str) -> np.ndarray:
    """The DEIM ("deim"), Q-DEIM ("qdeim"), maxvol ("maxvol": from the DEIM start, at most
    100 m exchanges, tolerance _selection.MAXVOL_TOL) or strong RRQR ("rrqr": maxvol with
    tolerance _selection.RRQR_F - 1 from the Q-DEIM start) rows of the CuPy basis u
    (n x m, float32/64), on the host; as on the CPU (python/rankwise/_selection.py)."""
    cp = _gpu._cupy()
    cuda = _gpu.cuda_module()
    f = u if u.flags.f_contiguous else cp.asfortranarray(u)  # one copy for C order
    n, m = (int(d) for d in f.shape)
    args = (f.dtype.name, int(f.data.ptr), n, m, max(n, 1))
    if method == "maxvol":
        tol = _selection.MAXVOL_TOL
        points, _, _ = cuda.maxvol_select(*args, tol, 100 * m, _gpu.current_stream())
    elif method == "rrqr":
        start = [int(i) for i in cuda.select_rows("qdeim", *args, _gpu.current_stream())]
        tol = _selection.RRQR_F - 1.0
        points, _, _ = cuda.maxvol_from(*args, start, tol, 100 * m, _gpu.current_stream())
    else:
        points = cuda.select_rows(method, *args, _gpu.current_stream())
    return np.asarray(points, dtype=np.int64)


class DevicePointSelection:
    """Result of :func:`rankwise.deim`, :func:`rankwise.qdeim` and :func:`rankwise.odeim`
    for a CuPy basis: ``f ~ U @ coefficients(f[points])`` with everything on the device.

    Attributes
    ----------
    basis : cupy.ndarray, shape (n, m)
        The basis U (the caller's array when it needed no conversion).
    points : cupy.ndarray of int64, shape (n_points,)
        The selected rows of U, in selection order (the CPU's points for the same U).
    interpolation_matrix : cupy.ndarray, shape (n_points, m)
        ``U[points, :]``.
    method : str
        "deim", "qdeim" or "odeim".
    """

    def __init__(self, basis: Any, points: np.ndarray, method: str) -> None:
        cp = _gpu._cupy()
        self.basis = basis
        self.points = cp.asarray(points, dtype=cp.int64)
        self.interpolation_matrix = cp.ascontiguousarray(basis[self.points, :])
        self.method = method

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_basis(self) -> int:
        return int(self.basis.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.basis.dtype)

    def _check_values(self, values: Any) -> Any:
        cp = _gpu._cupy()
        v = cp.asarray(values)
        if v.ndim not in (1, 2) or v.shape[0] != self.n_points:
            raise ValueError(
                f"values must have shape ({self.n_points},) or ({self.n_points}, k) (one "
                f"value per point); got {v.shape}"
            )
        if v.dtype.kind not in "biuf":
            raise TypeError(f"values must be a real numeric array; got dtype {v.dtype}")
        if not bool(cp.isfinite(v).all()):
            raise ValueError("values contains NaN or Inf")
        return v.astype(self.dtype, copy=False)

    @functools.cached_property
    def _column_exponents(self) -> Any:
        """As the CPU's PointInterpolant: powers of two for the columns of U[points] (a
        CuPy int32 vector), or None, so that the solve works on normal numbers of one
        scale (columns of 1e200 and 1e-200 gave NaN)."""
        return _device_exponents(self.interpolation_matrix, per_column=True)

    def _scaled_coefficients(self, values: Any) -> Any:
        """c_s = (U[points] D)^+ values, D = diag(2^d_j) (_column_exponents): c = D c_s."""
        cp = _gpu._cupy()
        v = self._check_values(values)
        d = self._column_exponents
        P = self.interpolation_matrix
        if d is not None:
            P = cp.ldexp(P, d).astype(self.dtype, copy=False)
        if self.n_points == self.n_basis:
            c = cp.linalg.solve(P, v)
        else:
            c = cp.linalg.lstsq(P, v, rcond=None)[0]
        return c.astype(self.dtype, copy=False)

    def coefficients(self, values: Any) -> Any:
        """Coefficients ``c`` (CuPy, shape (m,) or (m, k)) of ``f ~ U @ c`` from
        ``values = f[points]``: the solution of ``U[points] c = values`` (least squares
        with more points than basis vectors)."""
        c = self._scaled_coefficients(values)
        d = self._column_exponents
        if d is None:
            return c
        return _gpu._cupy().ldexp(c, d if c.ndim == 1 else d[:, None]).astype(self.dtype)

    def __call__(self, values: Any) -> Any:
        """The reconstructed field(s) ``U @ coefficients(values)``, shape (n,) or (n, k)."""
        c = self._scaled_coefficients(values)
        d = self._column_exponents
        U = self.basis if d is None else _gpu._cupy().ldexp(self.basis, d).astype(self.dtype)
        return U @ c  # (U D) c_s: no product of a huge and a tiny scale

    @functools.cached_property
    def lebesgue_constant(self) -> float:
        """``||U U[points]^+||_2`` (as :attr:`rankwise.PointInterpolant.lebesgue_constant`):
        the Gram matrix of U on the device (one pass), the rest on the host (m x m)."""
        cp = _gpu._cupy()
        d = self._column_exponents  # (U D) pinv(U[points] D): as on the CPU
        U = self.basis.astype(cp.float64, copy=False)
        P = self.interpolation_matrix.get().astype(np.float64)
        if d is not None:
            U = cp.ldexp(U, d)
            P = np.ldexp(P, d.get())
        G = (U.T @ U).get()
        M = np.linalg.pinv(P)
        lam = np.linalg.eigvalsh(M.T @ G @ M)
        return float(np.sqrt(max(lam[-1], 0.0)))

    def __repr__(self) -> str:
        return (
            f"DevicePointSelection(method={self.method!r}, n_points={self.n_points}, "
            f"basis={tuple(self.basis.shape)} {self.dtype})"
        )


def _finish(u: Any, points: np.ndarray, method: str, w: Any) -> DevicePointSelection:
    """The result on u, its selection checked for rank on w (the basis selected on), as on
    the CPU."""
    result = DevicePointSelection(u, points, method)
    _check_selection_rank(w[_gpu._cupy().asarray(points)].get(), "U")  # on the host
    return result


def _odeim_extend(U: Any, points: np.ndarray, n_points: int) -> np.ndarray:
    """rankwise._deim.odeim_extend on a CuPy basis (Peherstorfer, Drmac & Gugercin 2020,
    Algorithm 3; see there): per added point the SVD of U[p] on the host (its size is the
    selection's) and one product U w_m and the scores on the device."""
    cp = _gpu._cupy()
    p = [int(i) for i in points]
    taken = cp.zeros(U.shape[0], dtype=bool)
    taken[cp.asarray(p)] = True
    U64 = U.astype(cp.float64, copy=False)
    row_norm2 = cp.einsum("ij,ij->i", U64, U64)
    while len(p) < n_points:
        Up = U[cp.asarray(p)].get().astype(np.float64)
        _, s, Wt = np.linalg.svd(Up, full_matrices=False)
        proj = (U @ cp.asarray(Wt[-1].astype(U.dtype))).astype(cp.float64)
        score = odeim_scores(proj, row_norm2, s, cp)
        score[taken] = -1.0
        i = int(cp.argmax(score))
        p.append(i)
        taken[i] = True
    return np.asarray(p, dtype=np.int64)


def select_on_device(U: Any, method: str, n_points: Any = None) -> DevicePointSelection:
    """The body of rankwise.deim / qdeim / odeim for a CuPy basis U."""
    _gpu.cuda_module()  # a clear error first where the GPU cannot be used
    u = as_device_basis(U)
    w = selection_basis(u, per_column=method == "deim")
    if method != "odeim":
        return _finish(u, device_rows(w, method), method, w)
    n, m = (int(d) for d in u.shape)
    k = check_int(n_points, "n_points", low=m)
    if k > n:
        raise ValueError(f"n_points ({k}) exceeds the number of rows of U ({n})")
    start = device_rows(w, "qdeim")
    _check_selection_rank(w[_gpu._cupy().asarray(start)].get(), "U")
    return _finish(u, _odeim_extend(w, start, k), "odeim", w)
