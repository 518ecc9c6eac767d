"""rankwise.SVDUpdater and update_svd on CuPy input: the same update algorithms
(algo/svd_update.hpp) on the CUDA backend, with the factors kept in device memory.

An updater becomes a device updater when it starts from CuPy arrays (``fit`` of a CuPy
array or cupyx.scipy.sparse matrix, ``from_factors`` of CuPy factors): _update.py then
hands it to :func:`on_device`, which makes it a :class:`DeviceSVDUpdater`.  Its updates take
CuPy arrays and cupyx.scipy.sparse CSR/CSC matrices (other sparse formats are converted to
CSR), its results are CuPy arrays; every method of the CPU updater is available, with the
CPU's checks and errors.  A sparse update is never densified: the columns it touches are
found on the device (their indices come to the host, as the update's row set, |J| values).
The state lives in memory of the CuPy stream current at the start; a call made under another
current stream is ordered with that stream on the device (two events, no host wait), and the
calls must come with the same CUDA device current.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _gpu
from ._svd import svd
from ._update import (
    SVDUpdater,
    _Block,
    _check_block_shape,
    _check_dtype,
    _check_factors,
    _check_orthonormal,
    _check_values,
    drift_from_squares,
)


def _csp() -> Any:
    import cupyx.scipy.sparse as csp

    return csp


def on_device(up: SVDUpdater) -> DeviceSVDUpdater:
    """``up`` as a DeviceSVDUpdater (same object, same settings; its state is replaced by
    the caller's fit / from_factors)."""
    _gpu.cuda_module()  # a clear error if the CUDA backend is not built or no GPU is seen
    up.__class__ = DeviceSVDUpdater
    assert isinstance(up, DeviceSVDUpdater)
    return up


class _Handle:
    """The native device state (rankwise._cuda.DeviceSvdUpdate32/64) with the interface that
    SVDUpdater uses of the CPU's: each call passes the caller's current CuPy stream, and
    the factors come back as CuPy arrays."""

    def __init__(self, native: Any, dtype: np.dtype) -> None:
        self._native = native
        self._dtype = dtype

    def add_rows(self, op: Any, J: np.ndarray | None) -> None:
        self._native.add_rows(op, J, _gpu.current_stream())

    def add_columns(self, op: Any, J: np.ndarray | None) -> None:
        self._native.add_columns(op, J, _gpu.current_stream())

    def update(self, op_b: Any, jb: np.ndarray | None, op_c: Any, jc: np.ndarray | None) -> None:
        self._native.update(op_b, jb, op_c, jc, _gpu.current_stream())

    def factors(self) -> tuple[Any, Any, Any]:
        U_buf, s, V_buf, u_shape, vt_shape = self._native.factors(_gpu.current_stream())
        U = _gpu.wrap(U_buf, u_shape, self._dtype, "F")
        Vt = _gpu.wrap(V_buf, vt_shape, self._dtype, "C")  # V (n x k) in Fortran order
        return U, _gpu._cupy().asarray(s), Vt

    def set_method(self, method: str, rank: int) -> None:
        self._native.set_method(method, rank)

    def gram_deviation(self) -> tuple[float, float]:
        return tuple(self._native.gram_deviation(_gpu.current_stream()))

    def orthogonality(self, left: bool) -> float:
        return float(self._native.orthogonality(left, _gpu.current_stream()))

    def drift(self, op: Any, s_scale: float = 1.0) -> tuple[float, float, float]:
        return tuple(self._native.drift(op, _gpu.current_stream(), s_scale))

    @property
    def largest_value(self) -> float:
        return float(self._native.largest_value)

    @property
    def stats(self) -> dict[str, float]:
        return dict(self._native.stats)

    def restore_stats(self, **stats: float) -> None:
        self._native.restore_stats(**stats)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._native.shape)


def _refuse_host(x: Any, name: str) -> None:
    if not _gpu.is_device_array(x):
        raise TypeError(
            f"{name} is a {type(x).__module__}.{type(x).__name__}, but this updater's "
            "factors are on the GPU (it was started from CuPy arrays): pass a CuPy array or "
            "a cupyx.scipy.sparse matrix"
        )


def _check_structure(x: Any, name: str) -> None:
    """ValueError for a CSR/CSC matrix whose indptr does not start at 0, decreases, or
    ends past the stored entries (cupyx does not check matrices built from raw arrays;
    the column indices are range-checked with the update's row set)."""
    ip = x.indptr
    stored = min(int(x.indices.size), int(x.data.size))
    if int(ip[0]) != 0 or bool((ip[1:] < ip[:-1]).any()) or int(ip[-1]) > stored:
        raise ValueError(
            f"{name} is a broken {x.format} matrix: indptr must start at 0, be "
            "non-decreasing and end at most at the number of stored entries"
        )


def _as_update(x: Any, name: str, dtype: np.dtype, shape_check: Any) -> Any:
    _refuse_host(x, name)
    csp = _csp()
    if csp.issparse(x) and x.format not in ("csr", "csc"):
        x = x.tocsr()
    _check_block_shape(x, name, dtype, shape_check)
    if csp.issparse(x):
        _check_structure(x, name)
        _check_values(x.data, name, dtype, _gpu._cupy())
    else:
        _check_values(x, name, dtype, _gpu._cupy())
    return x


def _block(Dt: Any, name: str) -> tuple[_gpu.DeviceMatrix, np.ndarray | None]:
    """``Dt`` (r x N, validated by _as_update) as the device operand of the update block and
    the rows of the factor it touches (host int64, ascending; None: all N).  A sparse ``Dt``
    is restricted to its nonzero columns, renumbered on the device (the values are shared),
    so that only those rows of the factor are read and written."""
    csp = _csp()
    if not csp.issparse(Dt):
        return _gpu.as_device_matrix(Dt, name), None
    cp = _gpu._cupy()
    csr = Dt.tocsr()
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    nnz = int(csr.indptr[-1])
    used = csr.indices[:nnz]
    J = cp.unique(used)
    local = cp.searchsorted(J, used).astype(csr.indices.dtype)
    width = int(J.size)
    if width == 0:  # an all-zero block: one (empty) column keeps the shapes valid
        J = cp.zeros(1, dtype=np.int64)
        width = 1
    compressed = csp.csr_matrix((csr.data[:nnz], local, csr.indptr), shape=(csr.shape[0], width))
    mat = _gpu.as_device_matrix(compressed, name, both_ways=True)
    return mat, cp.asnumpy(J).astype(np.int64)


class DeviceSVDUpdater(SVDUpdater):
    """An :class:`SVDUpdater` whose factors live on the GPU (see _update_gpu's docstring);
    same parameters, methods and results, as CuPy arrays."""

    # -- starting points ------------------------------------------------------------
    def fit(self, A: Any) -> SVDUpdater:
        if not _gpu.is_device_array(A):  # back to the host
            self.__class__ = SVDUpdater
            return SVDUpdater.fit(self, A)
        if len(A.shape) == 2 and self.k > min(A.shape):
            raise ValueError(f"k = {self.k} exceeds min(m, n) = {min(A.shape)} of A")
        U, s, Vt = svd(A, self.k, random_state=self._seed(0))
        return self._start(U, s, Vt)

    def from_factors(self, U: Any, s: Any, Vt: Any) -> SVDUpdater:
        if not any(_gpu.is_device_array(x) for x in (U, s, Vt)):
            self.__class__ = SVDUpdater
            return SVDUpdater.from_factors(self, U, s, Vt)
        cp = _gpu._cupy()
        for x, name in ((U, "U"), (Vt, "Vt")):
            if not isinstance(x, cp.ndarray):
                raise TypeError(
                    f"{name} must be a CuPy array like the other factors (s may be on the "
                    f"host); got {type(x).__module__}.{type(x).__name__}"
                )
        s = cp.asnumpy(s) if _gpu.is_device_array(s) else np.asarray(s)
        _check_factors(U, s, Vt, self.k, cp)
        order = np.argsort(-s, kind="stable")
        if (order != np.arange(self.k)).any():
            at = cp.asarray(order)
            U, s, Vt = U[:, at], s[order], Vt[at]
        return self._start(U, s, Vt, check=True)

    def _start(self, U: Any, s: Any, Vt: Any, check: bool = False) -> SVDUpdater:
        """The native device state on copies of the factors (see SVDUpdater._start)."""
        cuda = _gpu.cuda_module()
        cp = _gpu._cupy()
        _refuse_host(U, "U")
        dtype = np.dtype(U.dtype)
        s_host = np.ascontiguousarray(cp.asnumpy(s) if _gpu.is_device_array(s) else s, dtype)
        U = cp.asfortranarray(U)  # m x k, leading dimension m
        Vt = cp.ascontiguousarray(Vt)  # = V (n x k) in Fortran order, leading dimension n
        m, n = int(U.shape[0]), int(Vt.shape[1])
        method = self._resolved or ("zha-simon" if self.method == "auto" else self.method)
        cls = cuda.DeviceSvdUpdate32 if dtype == np.float32 else cuda.DeviceSvdUpdate64
        stream = cp.cuda.get_current_stream()
        native = cls(
            stream,
            int(stream.ptr),
            int(U.data.ptr),
            m,
            max(m, 1),
            s_host,
            int(Vt.data.ptr),
            n,
            max(n, 1),
            method,
            self._rank_of(method),
            self.n_iter,
            self.basis == "gkl",
            self.max_cond or 0.0,
            *self._key,
        )
        handle = _Handle(native, dtype)
        if check:
            _check_orthonormal(handle.gram_deviation(), U, Vt, cp)
        self._handle = handle
        self._dtype = dtype
        return self

    # -- updates -----------------------------------------------------------------------
    def _checked(self, x: Any, name: str, shape_check: Any) -> Any:
        return _as_update(x, name, self.dtype, shape_check)

    @staticmethod
    def _is_sparse(x: Any) -> bool:
        return bool(_csp().issparse(x))

    def _native_update(self, kind: str, blocks: list[_Block], append: bool) -> SVDUpdater:
        self._check_sparse_method_block(blocks, _gpu._cupy())  # as on the CPU
        args: list[Any] = []
        for block in blocks:
            mat, J = _block(block.Dt, block.name)
            args += [mat.operand, J]
        with self._lock:  # the native call releases the GIL; Ctrl-C is checked inside
            getattr(self._handle, kind)(*args)
        return self._after_update()

    # -- accuracy monitor --------------------------------------------------------------
    def estimate_drift(self, A: Any = None) -> float:
        self._require_started()
        A = self._matrix(A)
        _refuse_host(A, "A")
        _check_dtype(A, "A", self.dtype)
        mat, e = _gpu.within_range(_gpu.as_device_matrix(A, "A"))  # as on the CPU
        with self._lock:
            squares = self._handle.drift(mat.operand, math.ldexp(1.0, -e))
        return drift_from_squares(squares, self.shape, self.dtype)

    def refresh(self, A: Any = None) -> SVDUpdater:
        self._require_started()
        A = self._matrix(A)
        _refuse_host(A, "A")
        return super().refresh(A)


DeviceSVDUpdater.fit.__doc__ = SVDUpdater.fit.__doc__
DeviceSVDUpdater.from_factors.__doc__ = SVDUpdater.from_factors.__doc__
DeviceSVDUpdater.add_rows.__doc__ = SVDUpdater.add_rows.__doc__
DeviceSVDUpdater.add_columns.__doc__ = SVDUpdater.add_columns.__doc__
DeviceSVDUpdater.update.__doc__ = SVDUpdater.update.__doc__
DeviceSVDUpdater.estimate_drift.__doc__ = SVDUpdater.estimate_drift.__doc__
DeviceSVDUpdater.refresh.__doc__ = SVDUpdater.refresh.__doc__
