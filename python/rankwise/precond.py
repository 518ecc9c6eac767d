"""Preconditioners for :func:`rankwise.cg` and :func:`rankwise.solve_cg`, applied natively.

Each factory returns a :class:`Preconditioner`: an approximation M of A^-1, symmetric
positive definite, built once and applied by the native core with no Python per iteration.
It is also a :class:`scipy.sparse.linalg.LinearOperator`, so SciPy's solvers accept it too
(through the slower Python path).

jacobi      M = diag(A)^-1: cheap, helps when the diagonal varies (scaling, coefficients)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from . import _core
from ._dispatch import require_cpu_input
from ._validate import work_dtype

__all__ = ["Preconditioner", "jacobi"]


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
    def handle(self) -> Any:
        """The native object (rankwise._core.Preconditioner)."""
        return self._handle

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        out_dtype = np.result_type(X.dtype, self.dtype)
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
            f"A has diagonal entry A[{i}, {i}] = {d[i]!r}; a symmetric positive definite "
            "matrix has a positive, finite diagonal, so the Jacobi preconditioner is undefined"
        )
    return Preconditioner(_core.precond_jacobi(d), "jacobi", d.shape[0], d.dtype)
