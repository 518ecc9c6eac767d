"""Shared helpers for the rankwise test suite.

Everything here is a plain function or constant so that parametrized tests and
hypothesis tests can use it alike; test modules import it with
``from conftest import ...``.

Tolerances
----------
All tolerances derive from the machine epsilon of the *work* dtype and from the
problem size.  Accuracy bounds derive from the Halko-Martinsson-Tropp (HMT 2011)
analysis of the randomized range finder, in its *deviation* form (Thms 10.7 and
10.8, with Thm 9.1 and Prop 8.6 for power iterations), so every accuracy check
holds with a stated probability instead of only in expectation.  See
:func:`hmt_bounds` for the derivation.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

# Make ``from conftest import ...`` work under every pytest import mode.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

FloatArray = npt.NDArray[np.floating[Any]]

FLOAT_DTYPES: tuple[type[np.floating[Any]], ...] = (np.float32, np.float64)
METHODS: tuple[str, ...] = ("subspace", "block_krylov")
DENSE_LAYOUTS: tuple[str, ...] = ("C", "F", "strided", "negstride")

# Deviation parameters of the HMT bounds used in the parametrized accuracy tests:
# failure probability of one check <= 2 * T**-p + exp(-U**2 / 2)
# (p = oversampling >= 4), i.e. < 1e-7 for p = 10, T = U = 6.
T_DEV = 6.0
U_DEV = 6.0

# Rounding slack: absolute error allowed on norms / singular values, in units of
# eps(work dtype) * sigma_1 * sqrt(m + n).  Backward-stable dense kernels (GEMM,
# Householder QR, LAPACK SVD) stay well inside this.
C_ROUND = 20.0


def eps(dtype: npt.DTypeLike) -> float:
    """Machine epsilon of a floating dtype."""
    return float(np.finfo(dtype).eps)


def work_dtype(dtype: npt.DTypeLike) -> np.dtype[Any]:
    """Dtype rankwise computes in for an input of `dtype` (float32 stays, rest float64)."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def orthonormality_tol(dtype: npt.DTypeLike, dim: int) -> float:
    """Max-entry tolerance on ``Q^T Q - I`` for a Q with `dim` rows."""
    return 100.0 * eps(dtype) * math.sqrt(max(dim, 1))


def rounding_slack(dtype: npt.DTypeLike, m: int, n: int, scale: float) -> float:
    """Absolute rounding slack for norm-like quantities of an m x n matrix of norm `scale`."""
    return C_ROUND * eps(dtype) * math.sqrt(m + n) * scale


# --------------------------------------------------------------------------- #
# Test matrices with a known spectrum
# --------------------------------------------------------------------------- #


def random_orthonormal(rng: np.random.Generator, m: int, r: int) -> FloatArray:
    """Haar-distributed m x r matrix with orthonormal columns."""
    q, rr = np.linalg.qr(rng.standard_normal((m, r)))
    return q * np.sign(np.diag(rr))


def spectrum(name: str, p: int) -> FloatArray:
    """Singular values (length p, descending) of the named test spectrum.

    * ``gap``: sigma_1..sigma_10 = 1, 0.95, ..., 0.55 (well separated), then a
      drop by 11x to 0.05 and a slow exponential tail (gap ratio ~0.09 at k=10).
    * ``exp``: sigma_j = exp(-j/5) (fast decay, no gap).
    * ``poly``: sigma_j = 1/j (slow decay: the hard case for randomized SVD).
    * ``lowrank``: exact rank 6 (sigma = 1 .. 0.25), zero beyond.
    """
    j = np.arange(p, dtype=np.float64)
    if name == "gap":
        s = np.where(j < 10, 1.0 - 0.05 * j, 0.05 * np.exp(-(j - 10) / 20.0))
    elif name == "exp":
        s = np.exp(-j / 5.0)
    elif name == "poly":
        s = 1.0 / (j + 1.0)
    elif name == "lowrank":
        s = np.zeros(p)
        r = min(6, p)
        s[:r] = np.linspace(1.0, 0.25, 6)[:r]
    else:
        raise ValueError(f"unknown spectrum {name!r}")
    return s


@dataclass(frozen=True)
class Problem:
    """A test matrix and its exact (float64 LAPACK) thin SVD.

    ``A`` holds the values in the requested dtype; ``A64`` the very same values
    in float64, so the reference SVD is that of the matrix rankwise actually sees.
    All arrays are read-only, so a cached Problem cannot be altered by a test.
    """

    A: np.ndarray
    A64: FloatArray
    U: FloatArray
    s: FloatArray
    Vt: FloatArray

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.A.shape[0]), int(self.A.shape[1]))

    @property
    def sigma1(self) -> float:
        return float(self.s[0]) if self.s.size else 0.0

    def tail_fro(self, k: int) -> float:
        """||A - A_k||_F, the optimal rank-k Frobenius error."""
        return float(np.linalg.norm(self.s[k:]))

    def sigma(self, j: int) -> float:
        """sigma_{j+1} (0-based), 0 beyond min(m, n)."""
        return float(self.s[j]) if j < self.s.size else 0.0


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def problem_from_matrix(A: np.ndarray) -> Problem:
    """Build a Problem from a given dense matrix (any real dtype)."""
    A = np.array(A, copy=True)
    A64 = np.asarray(A, dtype=np.float64).copy()
    U, s, Vt = scipy.linalg.svd(A64, full_matrices=False)
    return Problem(_readonly(A), _readonly(A64), _readonly(U), _readonly(s), _readonly(Vt))


@functools.cache
def make_problem(
    name: str, m: int = 300, n: int = 200, dtype: str = "float64", seed: int = 0
) -> Problem:
    """m x n matrix U0 diag(spectrum(name)) V0^T (Haar U0, V0), cast to `dtype`."""
    rng = np.random.default_rng(seed)
    p = min(m, n)
    sig = spectrum(name, p)
    U0 = random_orthonormal(rng, m, p)
    V0 = random_orthonormal(rng, n, p)
    A = ((U0 * sig) @ V0.T).astype(dtype)
    return problem_from_matrix(A)


@functools.cache
def make_sparse_problem(
    m: int = 300, n: int = 200, density: float = 0.05, seed: int = 0
) -> Problem:
    """A genuinely sparse matrix with a decaying spectrum: D1 S D2 with random S."""
    rng = np.random.default_rng(seed)
    S = sp.random_array((m, n), density=density, rng=rng, format="csr")
    d1 = np.exp(-np.arange(m) / 6.0)
    d2 = 1.0 + rng.random(n)
    A = (sp.diags_array(d1) @ S @ sp.diags_array(d2)).toarray()
    return problem_from_matrix(A)


def with_layout(A: np.ndarray, layout: str) -> np.ndarray:
    """A fresh array equal to A, in the requested memory layout."""
    if layout == "C":
        return np.array(A, order="C", copy=True)
    if layout == "F":
        return np.array(A, order="F", copy=True)
    if layout == "strided":
        m, n = A.shape
        big = np.zeros((2 * m, 3 * n), dtype=A.dtype)
        big[::2, ::3] = A
        view = big[::2, ::3]
        if m > 1 and n > 1:
            assert not view.flags.c_contiguous
            assert not view.flags.f_contiguous
        return view
    if layout == "negstride":
        flipped = np.array(A[::-1, ::-1], copy=True)
        view = flipped[::-1, ::-1]
        if A.shape[0] > 1 and A.shape[1] > 1:
            assert view.strides[0] < 0
            assert view.strides[1] < 0
        return view
    raise ValueError(f"unknown layout {layout!r}")


def to_sparse(
    A: np.ndarray, fmt: str, index_dtype: npt.DTypeLike = np.int32, array: bool = True
) -> Any:
    """Sparse copy of A in format `fmt` (csr/csc get the requested index dtype)."""
    ctor: Callable[..., Any] = {
        ("csr", True): sp.csr_array,
        ("csr", False): sp.csr_matrix,
        ("csc", True): sp.csc_array,
        ("csc", False): sp.csc_matrix,
        ("coo", True): sp.coo_array,
        ("coo", False): sp.coo_matrix,
        ("lil", True): sp.lil_array,
        ("lil", False): sp.lil_matrix,
        ("dok", True): sp.dok_array,
        ("dok", False): sp.dok_matrix,
        ("bsr", True): sp.bsr_array,
        ("bsr", False): sp.bsr_matrix,
        ("dia", True): sp.dia_array,
        ("dia", False): sp.dia_matrix,
    }[(fmt, array)]
    S = ctor(A)
    if fmt in ("csr", "csc"):
        S.indices = S.indices.astype(index_dtype)
        S.indptr = S.indptr.astype(index_dtype)
        assert S.indices.dtype == np.dtype(index_dtype)
    return S


class MatmatOnlyOperator(LinearOperator):
    """LinearOperator that only allows block products (matmat / rmatmat).

    Its matvec / rmatvec raise, so a solver that falls back to column-by-column
    products fails loudly.  Counts the block calls.
    """

    def __init__(self, A: np.ndarray) -> None:
        self._A = np.asarray(A)
        super().__init__(dtype=self._A.dtype, shape=self._A.shape)
        self.n_matmat = 0
        self.n_rmatmat = 0

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        self.n_matmat += 1
        return self._A @ X

    def _rmatmat(self, X: np.ndarray) -> np.ndarray:
        self.n_rmatmat += 1
        return self._A.T @ X

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        raise AssertionError("rankwise must use matmat, not matvec")

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        raise AssertionError("rankwise must use rmatmat, not rmatvec")


# --------------------------------------------------------------------------- #
# HMT bounds
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class HMTBounds:
    """High-probability bounds for the range Q of l = k + p sketch columns, q power its.

    With P = QQ^T, U_k / Sigma_k the exact leading singular pairs:

    * ``E2``     >= ||(I - P) A||_2
    * ``eps_Q``  >= ||(I - P) U_k||_2 (sine of the angle between U_k and range(Q))
    * ``res_k``  >= ||(I - P) U_k Sigma_k||_2
    """

    E2: float
    eps_Q: float
    res_k: float


def hmt_bounds(
    sigma: Sequence[float] | FloatArray, k: int, l: int, q: int, t: float = T_DEV, u: float = U_DEV
) -> HMTBounds:
    """Bounds holding with probability >= 1 - 2 t^-p - exp(-u^2/2), p = l - k >= 4.

    Derivation (HMT 2011).  Let B = (AA^T)^q A, whose singular values are
    s_j = sigma_j^(2q+1), and Omega1 = V_k^T Omega, Omega2 = V_perp^T Omega.

    * Thm 9.1: ||(I-P)B||^2 <= s_{k+1}^2 + ||S2 Omega2 Omega1^+||^2, and its proof gives
      ||(I-P) U_k x|| <= ||F x|| with F = S2 Omega2 Omega1^+ S1^-1.
    * Deviation (proof of Thm 10.8, Props 10.1, 10.3, 10.4):
      ||S2 Omega2 Omega1^+|| <= G = c1 s_{k+1} + c2 ||S2||_F + u c2 s_{k+1},
      c1 = t sqrt(3k/(p+1)), c2 = t e sqrt(k+p)/(p+1).
    * Prop 8.6: ||(I-P)A|| <= ||(I-P)B||^(1/(2q+1)), so E2 = (s_{k+1}^2 + G^2)^(1/(2(2q+1))).
    * eps_Q = ||F|| <= G / s_k, res_k = ||F S1 (Sigma_k^(2q+1))^-1 Sigma_k|| <= G / sigma_k^(2q).

    If l >= min(m, n) the sketch captures range(A) exactly (all bounds 0).
    """
    sig = np.asarray(sigma, dtype=np.float64)
    pmin = sig.size
    if l >= pmin or sig[0] == 0.0:
        return HMTBounds(0.0, 0.0, 0.0)
    p = l - k
    if k < 1 or p < 4:
        raise ValueError("hmt_bounds needs k >= 1 and oversampling p >= 4")
    scale = float(sig[0])
    x = sig / scale
    r = 2 * q + 1
    with np.errstate(under="ignore"):
        spow = x**r
    s_next = float(spow[k]) if k < pmin else 0.0
    tail = float(np.linalg.norm(spow[k:]))
    c1 = t * math.sqrt(3.0 * k / (p + 1))
    c2 = t * math.e * math.sqrt(k + p) / (p + 1)
    G = c1 * s_next + c2 * tail + u * c2 * s_next
    E2 = scale * (s_next**2 + G**2) ** (1.0 / (2 * r))
    xk = float(x[k - 1])
    if xk == 0.0:
        return HMTBounds(E2, 1.0, scale)
    eps_Q = min(1.0, G / float(spow[k - 1]))
    res_k = min(scale, scale * G / xk ** (2 * q))
    return HMTBounds(E2, eps_Q, res_k)


def resolved_n_iter(n_iter: int | str, k: int, m: int, n: int, method: str = "subspace") -> int:
    """The spec's rule for n_iter='auto' (scikit-learn's; block Krylov: about half)."""
    if n_iter == "auto":
        if method == "block_krylov":
            return 3 if k < 0.1 * min(m, n) else 2
        return 7 if k < 0.1 * min(m, n) else 4
    assert isinstance(n_iter, int)
    return n_iter


def sketch_size(k: int, oversample: int, m: int, n: int) -> int:
    return min(k + oversample, min(m, n))


def effective_l_q(method: str, q: int, l: int, m: int, n: int) -> tuple[int, int]:
    """Sketch columns and power iterations actually applied: block Krylov takes one block
    of min(m, n) columns (q = 0) where l (q + 1) would not fit in min(m, n)."""
    if method == "block_krylov" and l * (q + 1) > min(m, n):
        return min(m, n), 0
    return l, q


def cg_product_storage(A: Any, dtype: Any = np.float64, iterations: int | None = None) -> str:
    """How CG's products read the system matrix A ("dense", "symmetric", "csr", "dia", ...)."""
    from rankwise import _cg

    mat = _cg._as_work(A, np.dtype(dtype), "A", system_matrix=True, iterations=iterations)
    return str(mat.op.storage)


# --------------------------------------------------------------------------- #
# Checks
# --------------------------------------------------------------------------- #


def orthonormality_error(Q: np.ndarray, rows: bool = False) -> float:
    Q64 = np.asarray(Q, dtype=np.float64)
    if rows:
        Q64 = Q64.T
    r = Q64.shape[1]
    if r == 0:
        return 0.0
    return float(np.abs(Q64.T @ Q64 - np.eye(r)).max())


def assert_orthonormal(
    Q: np.ndarray, dtype: npt.DTypeLike, *, rows: bool = False, name: str = "Q"
) -> None:
    dim = Q.shape[1] if rows else Q.shape[0]
    err = orthonormality_error(Q, rows=rows)
    tol = orthonormality_tol(dtype, dim)
    what = "rows" if rows else "columns"
    assert err <= tol, f"{name} {what} not orthonormal: max|Q^T Q - I| = {err:.3e} > {tol:.3e}"


def assert_sign_convention(U: np.ndarray) -> None:
    """sklearn svd_flip(u_based_decision=True): the max-|.| entry of each column is positive."""
    if U.size == 0:
        return
    ok = np.abs(U).max(axis=0) == U.max(axis=0)
    assert ok.all(), f"sign convention violated in columns {np.flatnonzero(~ok).tolist()}"


def assert_descending_nonneg(s: np.ndarray) -> None:
    assert np.all(s >= 0), f"negative singular values: {s[s < 0]}"
    assert np.all(np.diff(s) <= 0), f"singular values not descending: {s}"


def assert_svd_output(
    U: np.ndarray,
    s: np.ndarray,
    Vt: np.ndarray,
    shape: tuple[int, int],
    r: int | None,
    dtype: npt.DTypeLike,
    *,
    sign: bool = True,
) -> None:
    """Structural checks: types, shapes, dtypes, finiteness, orthonormality, order, signs."""
    m, n = shape
    dt = np.dtype(dtype)
    for name, arr in (("U", U), ("s", s), ("Vt", Vt)):
        assert type(arr) is np.ndarray, f"{name} is {type(arr)}, not numpy.ndarray"
        assert arr.dtype == dt, f"{name}.dtype = {arr.dtype}, expected {dt}"
        assert np.all(np.isfinite(arr)), f"{name} has non-finite entries"
    if r is None:
        r = s.shape[0]
    assert U.shape == (m, r), f"U.shape = {U.shape}, expected {(m, r)}"
    assert s.shape == (r,), f"s.shape = {s.shape}, expected {(r,)}"
    assert Vt.shape == (r, n), f"Vt.shape = {Vt.shape}, expected {(r, n)}"
    assert_orthonormal(U, dt, name="U")
    assert_orthonormal(Vt, dt, rows=True, name="Vt")
    assert_descending_nonneg(s)
    if sign:
        assert_sign_convention(U)


def max_sin_angle(X: np.ndarray, Y: np.ndarray) -> float:
    """Sine of the largest principal angle between range(X) and range(Y)."""
    ang = scipy.linalg.subspace_angles(np.asarray(X, np.float64), np.asarray(Y, np.float64))
    return float(np.sin(ang.max())) if ang.size else 0.0


def check_against_theory(
    prob: Problem,
    U: np.ndarray,
    s: np.ndarray,
    Vt: np.ndarray,
    *,
    k: int,
    l: int,
    q: int,
    dtype: npt.DTypeLike,
    t: float = T_DEV,
    u: float = U_DEV,
    check_angles: bool = True,
) -> None:
    """Check a rank-k truncated SVD against the HMT bounds for (k, l, q).

    In exact arithmetic the output is the top-k SVD of PA (P = QQ^T), so with the
    bounds b = hmt_bounds(...):

    * singular values: sigma_j >= s_j >= max(sqrt(sigma_j^2 - E2^2), sigma_j sqrt(1 - eps_Q^2))
      (interlacing; Weyl on A^TA = A^T P A + A^T (I-P) A; s_j >= sigma_j(P U_k Sigma_k)).
    * spectral residual: A - U S Vt = (I-P)A + Q(B - B_k) with orthogonal column
      spaces, so ||.||_2^2 <= E2^2 + sigma_{k+1}^2.
    * Frobenius residual: U S Vt = U U^T A, so
      ||.||_F^2 = ||A - A_k||_F^2 + sum_j (sigma_j^2 - s_j^2).
    * subspaces: Wedin's sin-theta theorem applied to PA with the exact triplets of A
      (residuals (I-P)U_k Sigma_k and A^T (I-P) U_k) gives
      max sin angle <= max(res_k, E2 eps_Q) / (sigma_k - sigma_{k+1}); and, a posteriori,
      with the measured residuals of (U, s, V) against A and delta = s_k - sigma_{k+1}.
    """
    m, n = prob.shape
    A64 = prob.A64
    sig = prob.s
    U64 = np.asarray(U, np.float64)
    s64 = np.asarray(s, np.float64)
    V64 = np.asarray(Vt, np.float64).T
    slack = rounding_slack(dtype, m, n, prob.sigma1)
    b = hmt_bounds(sig, k, l, q, t=t, u=u)
    sig_k = sig[:k]

    # singular values
    upper = sig_k + slack
    lower = np.maximum(
        np.sqrt(np.maximum(sig_k**2 - b.E2**2, 0.0)), sig_k * math.sqrt(max(0.0, 1.0 - b.eps_Q**2))
    )
    lower = lower - slack
    bad = (s64 > upper) | (s64 < lower)
    assert not bad.any(), (
        f"singular values outside HMT bounds at indices {np.flatnonzero(bad).tolist()}: "
        f"got {s64[bad]}, exact {sig_k[bad]}, allowed [{lower[bad]}, {upper[bad]}] "
        f"(E2={b.E2:.3e}, eps_Q={b.eps_Q:.3e}, slack={slack:.3e})"
    )

    # residuals
    R = A64 - (U64 * s64) @ V64.T
    res2 = float(np.linalg.norm(R, 2))
    bound2 = math.sqrt(b.E2**2 + prob.sigma(k) ** 2) + slack
    assert res2 <= bound2, (
        f"||A - U S Vt||_2 = {res2:.6e} > HMT bound {bound2:.6e} (sigma_k+1 = {prob.sigma(k):.6e})"
    )
    resF = float(np.linalg.norm(R))
    tailF = prob.tail_fro(k)
    extra = min(b.eps_Q**2 * float(np.sum(sig_k**2)), float(np.sum(np.minimum(sig_k**2, b.E2**2))))
    boundF = math.sqrt(tailF**2 + extra) + math.sqrt(k) * slack
    assert resF <= boundF, (
        f"||A - U S Vt||_F = {resF:.6e} > bound {boundF:.6e} (optimal {tailF:.6e})"
    )

    if not check_angles or k >= sig.size:
        return
    gap = float(sig[k - 1] - sig[k])
    if gap <= 0.0:
        return
    sin_u = max_sin_angle(prob.U[:, :k], U64)
    sin_v = max_sin_angle(prob.Vt[:k].T, V64)
    apriori = max(b.res_k, b.E2 * b.eps_Q) / gap + slack / gap
    assert max(sin_u, sin_v) <= apriori, (
        f"subspace angles too large: sin(U)={sin_u:.3e}, sin(V)={sin_v:.3e} > "
        f"a-priori bound {apriori:.3e} (gap={gap:.3e})"
    )
    delta = float(s64[-1] - sig[k])
    if delta > 0.0:
        Rres = float(np.linalg.norm(A64 @ V64 - U64 * s64, 2))
        Sres = float(np.linalg.norm(A64.T @ U64 - V64 * s64, 2))
        wedin = (max(Rres, Sres) + slack) / delta
        assert max(sin_u, sin_v) <= wedin, (
            f"subspace angles exceed the a-posteriori Wedin bound: sin(U)={sin_u:.3e}, "
            f"sin(V)={sin_v:.3e} > {wedin:.3e}"
        )


def check_exact(
    prob: Problem, U: np.ndarray, s: np.ndarray, Vt: np.ndarray, k: int, dtype: npt.DTypeLike
) -> None:
    """A result that must be exact up to rounding (l >= min(m, n) or rank(A) <= k)."""
    m, n = prob.shape
    slack = rounding_slack(dtype, m, n, prob.sigma1)
    s64 = np.asarray(s, np.float64)
    err = np.abs(s64 - prob.s[:k])
    assert err.max(initial=0.0) <= slack, (
        f"singular values not exact: max |s - sigma| = {err.max():.3e} > {slack:.3e}"
    )
    R = prob.A64 - (np.asarray(U, np.float64) * s64) @ np.asarray(Vt, np.float64)
    resF = float(np.linalg.norm(R))
    bound = prob.tail_fro(k) + math.sqrt(k) * slack
    assert resF <= bound, f"residual {resF:.3e} > optimal {prob.tail_fro(k):.3e} + rounding"
