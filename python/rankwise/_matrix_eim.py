"""rankwise.matrix_eim: nonintrusive separated representation of a parametrized matrix,
A(mu) ~ sum_m beta_m(mu) A(mu_m), from the user's assembly routine only (Casenave, Ern &
Lelievre, "A nonintrusive reduced basis method applied to aeroacoustic simulations", and
"Variants of the EIM", 2016: EIM on the nonzero values of A(mu) seen as vectors)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, SupportsIndex

import numpy as np
import scipy.sparse as sp

from ._dispatch import refuse_device_or_dask, require_cpu_input
from ._eim import EmpiricalInterpolant, eim


class _Pattern:
    """The fixed structure of A(mu): shape, and for sparse matrices the canonical CSR
    index arrays and whether A(mu) is a sparse array (``csr_array``) or matrix
    (``csr_matrix``, whose ``*`` is the matrix product); turns an assembled matrix into its
    vector of values and back.  A CSR/CSC matrix from raw arrays is checked for a broken
    structure (:func:`check_compressed`) before SciPy reads its indices."""

    def __init__(self, A: Any) -> None:
        require_cpu_input(A, "assemble(mu)")
        if sp.issparse(A):
            C = sp.csr_matrix(A, copy=True)
            C.sum_duplicates()
            C.sort_indices()
            self.sparse = True
            self.array = isinstance(A, sp.sparray)
            self.shape = C.shape
            self.indptr, self.indices = C.indptr.copy(), C.indices.copy()
            rows = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
            self.rows, self.cols = rows.astype(np.int64), C.indices.astype(np.int64)
        else:
            a = np.asarray(A)
            if a.ndim != 2:
                raise ValueError(f"assemble(mu) must return a 2-D matrix; got shape {a.shape}")
            self.sparse = False
            self.array = False
            self.shape = a.shape
            r, c = np.divmod(np.arange(a.size, dtype=np.int64), a.shape[1])
            self.rows, self.cols = r, c

    def values(self, A: Any, mu: Any) -> np.ndarray:
        require_cpu_input(A, f"assemble({mu!r})")
        if not sp.issparse(A):
            A = np.asarray(A)  # (a nested sequence, as the first parameter's was read)
        if np.iscomplexobj(A):  # named here: eim's own message would name its snapshots
            raise TypeError(
                f"assemble({mu!r}) returned a complex matrix ({A.dtype}); matrix_eim takes "
                "real matrices"
            )
        if sp.issparse(A) != self.sparse or A.shape != self.shape:
            raise ValueError(
                f"assemble({mu!r}) returned a {'sparse' if sp.issparse(A) else 'dense'} "
                f"matrix of shape {A.shape}; the first parameter gave a "
                f"{'sparse' if self.sparse else 'dense'} matrix of shape {self.shape}"
            )
        if not self.sparse:
            v = np.asarray(A).ravel()
        else:
            C = sp.csr_matrix(A, copy=True)
            C.sum_duplicates()
            C.sort_indices()
            same = np.array_equal(C.indptr, self.indptr) and np.array_equal(
                C.indices, self.indices
            )
            if not same:
                raise ValueError(
                    f"assemble({mu!r}) returned a matrix whose sparsity pattern differs from the "
                    "first parameter's; matrix_eim needs a fixed pattern (store explicit zeros)"
                )
            v = C.data
        # named here: eim's own messages would name its snapshots
        if v.size == 0:
            raise ValueError(f"assemble({mu!r}) returned a matrix with no entries")
        if v.dtype.kind in "fc" and not np.isfinite(v).all():
            raise ValueError(f"assemble({mu!r}) returned a matrix containing NaN or Inf")
        return v

    def matrix(self, values: np.ndarray) -> Any:
        """The matrix with these values, owning its index arrays: a user's in-place call on
        one (eliminate_zeros) changed the pattern of every later result (found by review)."""
        if self.sparse:
            csr = sp.csr_array if self.array else sp.csr_matrix
            return csr((values, self.indices.copy(), self.indptr.copy()), shape=self.shape)
        return values.reshape(self.shape)


class MatrixEIM:
    """Result of :func:`matrix_eim`: ``A(mu) ~ sum_m beta_m(mu) A(mu_m)``.

    Attributes
    ----------
    parameters : list
        The selected training parameters mu_m.
    matrices : list
        ``A(mu_m)``, as ``assemble`` returned them (canonical CSR for sparse input: a
        ``csr_array`` for sparse arrays, a ``csr_matrix`` for sparse matrices).
    entries : tuple of two int64 arrays
        (rows, cols) of the M entries of A(mu) that determine ``beta(mu)``.
    interpolant : EmpiricalInterpolant
        The EIM of the vectors of values (``interpolant.errors`` is the greedy's history,
        max-norm error over the training set, entrywise).
    """

    def __init__(
        self,
        pattern: _Pattern,
        interpolant: EmpiricalInterpolant,
        values: np.ndarray,
        assemble: Callable[[Any], Any],
        entry_function: Callable[[Any, np.ndarray, np.ndarray], Any] | None,
    ) -> None:
        self._pattern = pattern
        self.interpolant = interpolant
        self.parameters = list(interpolant.parameters or [])
        self._values = values  # nnz x M: the values of the A(mu_m)
        self.matrices = [pattern.matrix(values[:, m].copy()) for m in range(values.shape[1])]
        points = interpolant.points
        self.entries = (pattern.rows[points], pattern.cols[points])
        self._assemble = assemble
        self._entry_function = entry_function

    @property
    def n_terms(self) -> int:
        return len(self.parameters)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._pattern.shape)  # type: ignore[return-value]

    def entry_values(self, mu: Any) -> np.ndarray:
        """The M entries of A(mu) at ``entries``: from ``entry_function`` when given (no
        assembly), else from ``assemble(mu)``."""
        rows, cols = self.entries
        if self._entry_function is not None:
            v = self._entry_function(mu, rows, cols)
            refuse_device_or_dask(v, f"entry_function({mu!r}, ...)")
            v = np.asarray(v)
            if v.shape != rows.shape:
                raise ValueError(
                    f"entry_function returned shape {v.shape}; expected ({rows.size},)"
                )
            # named here: the interpolant's own messages would name its values
            if v.dtype.kind not in "biuf":
                raise TypeError(
                    f"entry_function({mu!r}, ...) returned dtype {v.dtype}; matrix_eim takes "
                    "real entries"
                )
            if not np.isfinite(v).all():
                raise ValueError(f"entry_function({mu!r}, ...) returned NaN or Inf")
            return v
        return self._pattern.values(self._assemble(mu), mu)[self.interpolant.points]

    def beta(self, mu: Any) -> np.ndarray:
        """Coefficients ``beta(mu)`` of ``A(mu) ~ sum_m beta_m(mu) A(mu_m)``."""
        return self.interpolant.snapshot_coefficients(self.entry_values(mu))

    def assemble(self, mu: Any) -> Any:
        """The approximation of A(mu): ``sum_m beta_m(mu) A(mu_m)`` (same type and pattern
        as the assembled matrices)."""
        return self._pattern.matrix(self._values @ self.beta(mu))

    def matvec(self, mu: Any, x: Any) -> np.ndarray:
        """``A(mu) @ x`` through the expansion (x of shape (n,) or (n, k))."""
        refuse_device_or_dask(x, "x")
        if sp.issparse(x):
            raise TypeError("x must be a dense array; got a sparse matrix (use .toarray())")
        x = np.asarray(x)
        if x.ndim not in (1, 2) or x.shape[0] != self.shape[1]:
            raise ValueError(
                f"x must have shape ({self.shape[1]},) or ({self.shape[1]}, k) for A(mu) of "
                f"shape {self.shape}; got {x.shape}"
            )
        return np.asarray(self.assemble(mu) @ x)

    def project(self, V: Any, W: Any = None) -> np.ndarray:
        """The reduced matrices ``W^T A(mu_m) V`` (W = V by default), shape (M, k, r);
        the reduced A(mu) is ``np.tensordot(beta(mu), project(V, W), 1)``."""
        refuse_device_or_dask(V, "V")
        refuse_device_or_dask(W, "W")
        V = np.asarray(V)
        W = V if W is None else np.asarray(W)
        if V.ndim != 2 or V.shape[0] != self.shape[1]:
            raise ValueError(f"V must have {self.shape[1]} rows; got shape {V.shape}")
        if W.ndim != 2 or W.shape[0] != self.shape[0]:
            raise ValueError(f"W must have {self.shape[0]} rows; got shape {W.shape}")
        return np.stack([W.T @ np.asarray(A @ V) for A in self.matrices])

    def truncate(self, n_terms: SupportsIndex) -> MatrixEIM:
        """The expansion of the first ``n_terms`` terms (what ``matrix_eim`` with
        ``max_terms=n_terms`` returns, the greedy being nested), without assembling
        anything: e.g. to trade accuracy for online time."""
        interp = self.interpolant.truncate(n_terms)
        return MatrixEIM(
            self._pattern,
            interp,
            self._values[:, : interp.n_terms],
            self._assemble,
            self._entry_function,
        )

    def __repr__(self) -> str:
        return (
            f"MatrixEIM(shape={self.shape}, n_terms={self.n_terms}, "
            f"error={self.interpolant.errors[-1]:.3g})"
        )


def matrix_eim(
    assemble: Callable[[Any], Any],
    training_parameters: Sequence[Any],
    *,
    tol: float | None = None,
    max_terms: SupportsIndex | None = None,
    entry_function: Callable[[Any, np.ndarray, np.ndarray], Any] | None = None,
) -> MatrixEIM:
    """Separated representation ``A(mu) ~ sum_m beta_m(mu) A(mu_m)`` of a parametrized
    matrix from its assembly routine only (Casenave, Ern & Lelievre).

    The greedy EIM (:func:`eim`, max norm) runs on the vectors of values of
    ``assemble(mu)`` over the training set; it selects M parameters mu_m and M entries
    (i_m, j_m).  Online, ``beta(mu)`` solves the M x M system
    ``sum_m beta_m A(mu_m)[i_l, j_l] = A(mu)[i_l, j_l]``, which needs only those M entries
    of A(mu): ``entry_function(mu, rows, cols)`` gives them without assembling.  An affine
    ``A(mu) = sum_q theta_q(mu) A_q`` with Q terms is reproduced exactly with Q terms.

    Parameters
    ----------
    assemble : callable
        ``assemble(mu)`` returns A(mu): a dense 2-D array, or a scipy.sparse matrix whose
        sparsity pattern (after summing duplicates) is the same for every mu.
    training_parameters : sequence
        The training set; each entry is passed to ``assemble`` as it is.
    tol : float, optional
        Relative tolerance of the greedy: max entrywise error over the training set <=
        ``tol`` times the largest entry; ``tol < 1`` (at least one term).
    max_terms : int, optional
        At most this many terms.
    entry_function : callable, optional
        ``entry_function(mu, rows, cols)`` returning the entries ``A(mu)[rows, cols]``
        (1-D), used online instead of ``assemble``.

    Returns
    -------
    MatrixEIM
        ``parameters``, ``matrices``, ``entries``, ``beta(mu)``, ``assemble(mu)``,
        ``matvec(mu, x)``, ``project(V, W)``.

    Raises
    ------
    ValueError
        The pattern or shape of A(mu) changes with mu, NaN/Inf values, empty training set,
        a sparse A(mu) with a broken structure (indices out of range), ``tol >= 1``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, rankwise
    >>> n = 50
    >>> K = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    >>> M = sp.eye(n)
    >>> def A(mu):
    ...     return (K + np.exp(mu) * M).tocsr()
    >>> approx = rankwise.matrix_eim(A, np.linspace(0, 1, 11))
    >>> approx.n_terms
    2
    >>> bool(abs(approx.assemble(0.37) - A(0.37)).max() < 1e-12)
    True
    """
    params = list(training_parameters)
    if not params:
        raise ValueError("training_parameters must not be empty")
    pattern = _Pattern(assemble(params[0]))

    def values(mu: Any) -> np.ndarray:
        return pattern.values(assemble(mu), mu)

    try:
        interp = eim(values, params, tol=tol, max_terms=max_terms)
    except ValueError as exc:
        if str(exc).startswith("snapshots are all zero"):
            raise ValueError(
                "assemble(mu) returned the zero matrix for every training parameter: there is "
                "nothing to interpolate"
            ) from None
        raise
    selected = interp.selected_snapshots  # the A(mu_m), assembled once more (M calls)
    return MatrixEIM(pattern, interp, selected, assemble, entry_function)
