"""rankwise.cur on dense CuPy arrays: the leading singular vectors by rankwise.svd on the GPU,
the rows and columns by the CUDA backend's selection kernels (DEIM, Q-DEIM, maxvol), C and R
gathered on the device, the core from thin QRs on the device and its small factors on the
host (the same formulas as python/rankwise/_cur_core.py).

Not on the GPU yet (NotImplementedError naming it): sparse CuPy matrices, the methods
"rrqr", "leverage", "pivotal" and "uniform", weights= and refine=True.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _gpu
from ._cur import (
    _CORES,
    _METHODS,
    _check_indices,
    _check_oversample,
    _finite_core,
    _generator,
)
from ._cur_core import CoreProduct, _check_cross, _truncated_pinv
from ._deim_gpu import device_rows
from ._svd import svd
from ._validate import check_choice, check_int

GPU_METHODS = ("deim", "qdeim", "maxvol")


def _not_yet(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"rankwise.cur on the GPU: {what} is not available on the GPU yet (the GPU takes dense "
        f"CuPy arrays with method in {GPU_METHODS}, no weights, refine=False); pass A.get() "
        "to compute on the CPU"
    )


@dataclass(frozen=True, eq=False)
class DeviceCURDecomposition:
    """What :func:`rankwise.cur` returns for a CuPy A: ``A ~ C @ U @ R`` on the device.

    The attributes are those of :class:`rankwise.CURDecomposition` as CuPy arrays (``rows``
    and ``cols`` included); ``@`` and ``to_dense()`` evaluate the same stable product
    ``product.left @ product.middle @ product.right``.
    """

    C: Any
    U: Any
    R: Any
    rows: Any
    cols: Any
    product: CoreProduct

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.C.shape[0]), int(self.R.shape[1]))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.U.dtype)

    def __matmul__(self, x: Any) -> Any:
        """``(C U R) @ x`` (x a CuPy vector or matrix), without forming C U R."""
        x = _gpu._cupy().asarray(x)
        if x.ndim not in (1, 2) or x.shape[0] != self.shape[1]:
            raise ValueError(f"x must have {self.shape[1]} rows; got shape {x.shape}")
        p = self.product
        return p.left @ (p.middle @ (p.right @ x))

    def __rmatmul__(self, x: Any) -> Any:
        """``x @ (C U R)``."""
        x = _gpu._cupy().asarray(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.shape[0]:
            raise ValueError(f"x must have {self.shape[0]} columns; got shape {x.shape}")
        p = self.product
        return ((x @ p.left) @ p.middle) @ p.right

    def to_dense(self) -> Any:
        """The m x n matrix ``C U R`` as a dense CuPy array."""
        p = self.product
        return (p.left @ p.middle) @ p.right


def _thin_qr(M: Any) -> tuple[Any, Any]:
    return _gpu._cupy().linalg.qr(M, mode="reduced")


def _device_core(
    core: str, A: Any, C: Any, R: Any, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, CoreProduct]:
    """(U on the host, the stable product on the device): _cur_core.pinv_core and
    cross_core for dense CuPy A, C, R (the k x k inverses on the host)."""
    cp = _gpu._cupy()
    if core == "pinv":  # U = Tc^+ (Qc^T A Qr) Tr^{+T}; C U R = Qc (Qc^T A Qr) Qr^T
        Qc, Tc = _thin_qr(C)
        Qr, Tr = _thin_qr(R.T)
        middle = Qc.T @ (A @ Qr)
        U = np.linalg.pinv(Tc.get()) @ middle.get() @ np.linalg.pinv(Tr.get()).T
        return U, CoreProduct(Qc, middle, Qr.T)
    truncate = core == "stabilized"
    W = R[:, cp.asarray(cols)].get()
    if not truncate:
        _check_cross(W)
    invert = _truncated_pinv if truncate else np.linalg.inv
    if rows.size != cols.size:
        side = "C" if rows.size > cols.size else "R"
    else:  # the QR of the shorter of C (m x k) and R^T (n x k)
        side = "C" if C.shape[0] <= R.shape[1] else "R"
    if side == "C":  # C = Q T: C U R = Q (Q[I, :])^+ R
        Q, T = _thin_qr(C)
        X = invert(Q[cp.asarray(rows)].get())
        return np.linalg.pinv(T.get()) @ X, CoreProduct(Q, cp.asarray(X), R)
    Q, T = _thin_qr(R.T)  # R^T = Q T: C U R = C (Q[J, :]^T)^+ Q^T
    X = invert(Q[cp.asarray(cols)].get().T)
    return X @ np.linalg.pinv(T.get()).T, CoreProduct(C, cp.asarray(X), Q.T)


def _indices(idx: Any, length: int, name: str) -> np.ndarray:
    """Given rows / cols (host or CuPy integers), checked as on the CPU."""
    if _gpu.is_device_array(idx):
        idx = idx.get()
    return _check_indices(idx, length, name)


def cur_gpu(
    A: Any,
    k: Any,
    rows: Any,
    cols: Any,
    method: Any,
    core: Any,
    oversample: Any,
    weights: Any,
    refine: Any,
    random_state: Any,
) -> DeviceCURDecomposition:
    """The body of rankwise.cur for a CuPy A (argument checks and messages as on the CPU)."""
    _gpu.cuda_module()  # a clear error first where the GPU cannot be used
    import cupyx.scipy.sparse as csp

    cp = _gpu._cupy()
    if csp.issparse(A):
        raise _not_yet("a sparse CuPy matrix (cupyx.scipy.sparse)")
    mat = _gpu.as_device_matrix(A, "A")  # shape, dtype, finiteness checked
    a = A if A.dtype == mat.dtype else A.astype(mat.dtype)
    m, n = mat.shape
    method = check_choice(method, "method", _METHODS)
    core = check_choice(core, "core", _CORES)
    if method not in GPU_METHODS:
        raise _not_yet(f"method={method!r}")
    if weights is not None:
        raise _not_yet("weights=")
    if not isinstance(refine, bool | np.bool_):
        raise TypeError(f"refine must be True or False; got {refine!r}")
    if refine:
        raise _not_yet("refine=True")
    p_rows, p_cols = _check_oversample(oversample)
    k = check_int(k, "k", low=1, high=mat.min_dim)
    for p, side in ((p_rows, "rows"), (p_cols, "columns")):
        if k + p > mat.min_dim:
            raise ValueError(
                f"k + oversample ({side}) = {k + p} exceeds min(m, n) = {mat.min_dim}"
            )
    I = None if rows is None else _indices(rows, m, "rows")
    J = None if cols is None else _indices(cols, n, "cols")
    if I is None or J is None:
        n_rows, n_cols = k + p_rows, k + p_cols
        U, _, Vt = svd(a, max(n_rows, n_cols), random_state=_generator(random_state))
        I = device_rows(U[:, :n_rows], method) if I is None else I
        J = device_rows(Vt[:n_cols].T, method) if J is None else J
    C = a[:, cp.asarray(J)]
    R = a[cp.asarray(I), :]
    U_host, product = _finite_core(lambda: _device_core(core, a, C, R, I, J))
    return DeviceCURDecomposition(
        C=C,
        U=cp.asarray(U_host.astype(mat.dtype, copy=False)),
        R=R,
        rows=cp.asarray(I),
        cols=cp.asarray(J),
        product=product,
    )
