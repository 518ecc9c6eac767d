"""rankwise.cur on CuPy arrays (dense, or cupyx.scipy.sparse matrices): the selection code of
the CPU (_cur._select: the singular vectors by rankwise.svd, here on the GPU, the same draws
of the same generator) with the GPU's kernels on both sides: DEIM, Q-DEIM, maxvol and strong
RRQR by the CUDA backend's selection kernels, leverage scores on the device; the sampling
draws, and the exchanges of refine=True (on the m x 2r surrogate factor, copied to the
host), on the host.  C and R gathered on the device (sparse for sparse A, in A's format),
the core from thin QRs on the device and its small factors on the host (the same formulas
as python/rankwise/_cur_core.py).  The same seed gives the CPU's rows and columns: the same
sketch, so the same selection up to near-ties that rounding may resolve differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from . import _dask, _gpu
from ._cur import (
    _CORES,
    _HOST_COPY,
    _METHODS,
    RowKernels,
    _check_indices,
    _check_oversample,
    _check_weights,
    _finite_core,
    _generator,
    _select,
)
from ._cur_core import CoreProduct, _check_cross, _truncated_pinv, rank_cut, row_rank_pinv
from ._deim_gpu import device_rows
from ._validate import check_choice, check_int


def _csp() -> Any:
    import cupyx.scipy.sparse as csp

    return csp


def _device_leverage(U: Any) -> np.ndarray:
    """Squared row norms of the CuPy basis U in float64 (_selection.leverage_from_basis),
    on the host."""
    cp = _gpu._cupy()
    u = U.astype(cp.float64)
    return cp.einsum("ij,ij->i", u, u).get()


DEVICE_KERNELS = RowKernels(
    select=lambda method, U: device_rows(U, method),
    leverage=_device_leverage,
    refine=_HOST_COPY.refine,  # the exchanges on a host copy of the m x 2r surrogate factor
)
"""What _cur._select does on each side of a CuPy matrix (see RowKernels)."""


def _device_scaled(a: Any, rw: np.ndarray | None, cw: np.ndarray | None) -> Any:
    """diag(rw) a diag(cw) on the device, the matrix the selection runs on (a itself without
    weights)."""
    if rw is None and cw is None:
        return a
    cp = _gpu._cupy()
    m, n = a.shape
    r = cp.ones(m, dtype=a.dtype) if rw is None else cp.asarray(rw)
    c = cp.ones(n, dtype=a.dtype) if cw is None else cp.asarray(cw)
    csp = _csp()
    if csp.issparse(a):
        return (csp.diags(r) @ a @ csp.diags(c)).tocsr()
    return a * r[:, None] * c[None, :]


def _columns(a: Any, cols: np.ndarray) -> Any:
    """a[:, cols] on the device (sparse a: in a's format)."""
    cp = _gpu._cupy()
    idx = cp.asarray(cols)
    csp = _csp()
    if not csp.issparse(a):
        return a[:, idx]
    C = a.tocsc()[:, idx]
    return C if a.format == "csc" else C.tocsr()


def _rows(a: Any, rows: np.ndarray) -> Any:
    """a[rows, :] on the device (sparse a: in a's format)."""
    cp = _gpu._cupy()
    idx = cp.asarray(rows)
    csp = _csp()
    if not csp.issparse(a):
        return a[idx, :]
    R = a.tocsr()[idx, :]
    return R if a.format == "csr" else R.tocsc()


def _dense(X: Any) -> Any:
    return X.toarray() if _csp().issparse(X) else X


def _matmul(X: Any, Y: Any) -> Any:
    """X @ Y for CuPy arrays, cupyx sparse matrices and dask arrays with CuPy chunks (the
    factors of a CUR of such an array), evaluated: a CuPy array."""
    if _dask.is_dask_array(X) or _dask.is_dask_array(Y):
        import dask.array as da

        return da.matmul(X, Y).compute()
    if _csp().issparse(Y) and not _csp().issparse(X):  # dense @ sparse, by transposes
        return Y.T @ X if X.ndim == 1 else (Y.T @ X.T).T
    return X @ Y


@dataclass(frozen=True, eq=False)
class DeviceCURDecomposition:
    """What :func:`rankwise.cur` returns for a CuPy A: ``A ~ C @ U @ R`` on the device.

    The attributes are those of :class:`rankwise.CURDecomposition` as CuPy arrays (``rows``
    and ``cols`` included; C and R as cupyx.scipy.sparse matrices in A's format when A is
    sparse; for a dask array with CuPy chunks, C, or R where A is wide, as a dask array
    with CuPy chunks); ``@`` and ``to_dense()`` evaluate the same stable product
    ``product.left @ product.middle @ product.right`` (a CuPy array).
    """

    # ``x @ decomposition`` for a CuPy (or NumPy) x goes to __rmatmul__: CuPy defers to an
    # operand of higher __array_priority__ (its own is 100), NumPy to __array_ufunc__ = None
    __array_priority__: ClassVar[float] = 200.0
    __array_ufunc__: ClassVar[None] = None

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
        return _matmul(p.left, p.middle @ _matmul(p.right, x))

    def __rmatmul__(self, x: Any) -> Any:
        """``x @ (C U R)``."""
        x = _gpu._cupy().asarray(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.shape[0]:
            raise ValueError(f"x must have {self.shape[0]} columns; got shape {x.shape}")
        p = self.product
        return _matmul(_matmul(x, p.left) @ p.middle, p.right)

    def to_dense(self) -> Any:
        """The m x n matrix ``C U R`` as a dense CuPy array."""
        p = self.product
        return _matmul(_matmul(p.left, p.middle), p.right)


def on_device(d: Any) -> DeviceCURDecomposition:
    """The CURDecomposition of a dask array with CuPy chunks (python/rankwise/_cur.py, its
    small factors computed on the host) with those factors copied to the device; the dask
    factors stay as they are."""
    cp = _gpu._cupy()

    def dev(x: Any) -> Any:
        return x if _dask.is_dask_array(x) or _gpu.is_device_array(x) else cp.asarray(x)

    p = d.product
    return DeviceCURDecomposition(
        C=dev(d.C),
        U=dev(d.U),
        R=dev(d.R),
        rows=dev(d.rows),
        cols=dev(d.cols),
        product=CoreProduct(dev(p.left), dev(p.middle), dev(p.right)),
    )


def _thin_qr(M: Any) -> tuple[Any, np.ndarray]:
    """``M = Q T`` with Q on the device spanning M's range only and T (on the host) of full
    row rank: _cur_core.thin_qr(M, truncate=True), from CuPy's QR cut by rank_cut."""
    cp = _gpu._cupy()
    Q, T = cp.linalg.qr(M, mode="reduced")
    Qt, T = rank_cut(T.get(), int(M.shape[0]))
    return Q @ cp.asarray(Qt, dtype=Q.dtype), T


def _device_core(
    core: str, A: Any, C: Any, R: Any, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, CoreProduct]:
    """(U on the host, the stable product on the device): _cur_core.pinv_core and
    cross_core for CuPy A, C, R, dense or sparse (the thin QRs of C and R^T on dense copies,
    m x k and n x k; the k x k inverses on the host)."""
    cp = _gpu._cupy()
    if core == "pinv":  # U = Tc^+ (Qc^T A Qr) Tr^{+T}; C U R = Qc (Qc^T A Qr) Qr^T
        Qc, Tc = _thin_qr(_dense(C))
        Qr, Tr = _thin_qr(_dense(R).T)
        middle = Qc.T @ (A @ Qr)
        U = row_rank_pinv(Tc) @ middle.get() @ row_rank_pinv(Tr).T
        return U, CoreProduct(Qc, middle, Qr.T)
    truncate = core == "stabilized"
    W = _dense(_columns(R, cols)).get()
    if not truncate:
        _check_cross(W)
    invert = _truncated_pinv if truncate else np.linalg.inv
    if rows.size != cols.size:
        side = "C" if rows.size > cols.size else "R"
    else:  # the QR of the shorter of C (m x k) and R^T (n x k)
        side = "C" if C.shape[0] <= R.shape[1] else "R"
    if side == "C":  # C = Q T: C U R = Q (Q[I, :])^+ R
        Q, T = _thin_qr(_dense(C))
        X = invert(Q[cp.asarray(rows)].get())
        return np.linalg.pinv(T) @ X, CoreProduct(Q, cp.asarray(X), R)
    Q, T = _thin_qr(_dense(R).T)  # R^T = Q T: C U R = C (Q[J, :]^T)^+ Q^T
    X = invert(Q[cp.asarray(cols)].get().T)
    return X @ np.linalg.pinv(T).T, CoreProduct(C, cp.asarray(X), Q.T)


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
    csp = _csp()
    mat = _gpu.as_device_matrix(A, "A", both_ways=False)  # shape, dtype, finiteness checked
    a = A
    if csp.issparse(a) and a.format not in ("csr", "csc"):
        a = a.tocsr()
    if a.dtype != mat.dtype:
        a = a.astype(mat.dtype)
    m, n = mat.shape
    method = check_choice(method, "method", _METHODS)
    core = check_choice(core, "core", _CORES)
    p_rows, p_cols = _check_oversample(oversample)
    k = check_int(k, "k", low=1, high=mat.min_dim)
    for p, side in ((p_rows, "rows"), (p_cols, "columns")):
        if k + p > mat.min_dim:
            raise ValueError(
                f"k + oversample ({side}) = {k + p} exceeds min(m, n) = {mat.min_dim}"
            )
    if not isinstance(refine, bool | np.bool_):
        raise TypeError(f"refine must be True or False; got {refine!r}")
    rw, cw = _check_weights(weights, (m, n), mat.dtype)
    I = None if rows is None else _check_indices(rows, m, "rows")
    J = None if cols is None else _check_indices(cols, n, "cols")
    if I is None or J is None:
        I_new, J_new = _select(
            _device_scaled(a, rw, cw),
            method,
            k,
            p_rows,
            p_cols,
            (m, n),
            _generator(random_state),
            bool(refine),
            row_kernels=DEVICE_KERNELS,
            col_kernels=DEVICE_KERNELS,
            rows_given=I is not None,
        )
        I = I_new if I is None else I
        J = J_new if J is None else J
    C = _columns(a, J)
    R = _rows(a, I)
    U_host, product = _finite_core(lambda: _device_core(core, a, C, R, I, J))
    cp = _gpu._cupy()
    return DeviceCURDecomposition(
        C=C,
        U=cp.asarray(U_host.astype(mat.dtype, copy=False)),
        R=R,
        rows=cp.asarray(I),
        cols=cp.asarray(J),
        product=product,
    )
