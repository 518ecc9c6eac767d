"""SVD family: ``rankwise.svd`` against the peers a user would otherwise call.

Every contender gets the same k; the randomized ones also the same
oversampling p and power iterations q (so the same 2q+2 passes over A):

- ``rankwise.svd`` (subspace method; the baseline of the ratios) and
  ``rankwise.randomized_svd`` (its scikit-learn drop-in);
- ``rankwise.svd(method="block_krylov")`` with blocks of k/2 + 5 columns and 11 passes: not
  equal-pass (a third of the others' products), shown for its accuracy per product;
- scikit-learn ``randomized_svd`` (its default LU-normalized iterations);
- ``fbpca.pca(raw=True)``, which draws its test matrix in float64, so it
  upcasts float32 input;
- ``rankwise.svds`` (its SciPy drop-in: thick-restarted block Lanczos bidiagonalization)
  and SciPy ``svds`` with ARPACK and PROPACK: iterative Lanczos solvers at their default
  tolerance (working precision), so not equal-pass; they show what a SciPy user gets;
- ``dask.array.linalg.svd_compressed`` in this process (threaded scheduler),
  with ``iterator="QR"``: its default "power" iterator does not normalize
  between iterations and at q = 7 loses all accuracy on these spectra.

Accuracy is measured in float64 against known singular values (dense: the
matrix is built from its SVD, see :mod:`bench.matrices`) or an ARPACK
reference at machine precision (sparse).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .case import (
    Assessment,
    Case,
    Contender,
    FloorTarget,
    MemoryTarget,
    Metric,
    Mode,
    Skip,
    SpeedupTarget,
    Target,
    Workload,
)
from .machine import GemmShape, Limits, bandwidth_probe, gemm_probe
from .matrices import dense_known_spectrum, sparse_power_law
from .optional import optional_import

PACKAGES = ("rankwise", "scikit-learn", "fbpca", "scipy", "dask")

P = 10
"""Oversampling, as scikit-learn's default."""
Q = 7
"""Power iterations: scikit-learn's n_iter="auto" for k < min(m, n) / 10."""
PASSES = 2 * Q + 2
KRYLOV_PASSES = 11
"""rankwise's block Krylov contender: 11 passes of k/2 + 5 columns, a third of the others'
products, as accurate or more on these spectra (bench/RESULTS.md, session 28)."""
SEED = 0

BASELINE = "rankwise.svd"
SKLEARN = "sklearn randomized_svd"

METRICS = (
    Metric(
        "sv_err",
        "sv err",
        "max over the top k of |s_i - sigma_i| / sigma_i, sigma from the float64 reference",
    ),
    Metric(
        "excess_res",
        "excess res",
        "||A - U S V^T||_F / ||A - A_k||_F - 1 (0 is optimal), in float64",
    ),
)

Matrix = np.ndarray | sp.csr_matrix
Call = Callable[[], object]

_MODULES: dict[str, ModuleType | str] = {
    name: optional_import(name)
    for name in ("rankwise", "sklearn.utils.extmath", "fbpca", "dask.array")
}
_MODULES["scipy.sparse.linalg"] = spla


def _rankwise_svd(rw: ModuleType, a: Matrix, k: int) -> Call:
    return lambda: rw.svd(a, k, oversample=P, n_iter=Q, method="subspace", random_state=SEED)


def _rankwise_krylov(rw: ModuleType, a: Matrix, k: int) -> Call:
    return lambda: rw.svd(
        a,
        k,
        method="block_krylov",
        n_passes=KRYLOV_PASSES,
        block_size=k // 2 + 5,
        random_state=SEED,
    )


def _rankwise_randomized(rw: ModuleType, a: Matrix, k: int) -> Call:
    return lambda: rw.randomized_svd(a, k, n_oversamples=P, n_iter=Q, random_state=SEED)


def _sklearn(extmath: ModuleType, a: Matrix, k: int) -> Call:
    return lambda: extmath.randomized_svd(a, k, n_oversamples=P, n_iter=Q, random_state=SEED)


def _fbpca(fbpca: ModuleType, a: Matrix, k: int) -> Call:
    def call() -> object:
        np.random.seed(SEED)  # noqa: NPY002 (fbpca draws from numpy's global generator)
        return fbpca.pca(a, k, raw=True, n_iter=Q, l=k + P)

    return call


def _rankwise_svds(rw: ModuleType, a: Matrix, k: int) -> Call:
    return lambda: rw.svds(a, k, rng=SEED)


def _arpack(linalg: ModuleType, a: Matrix, k: int) -> Call:
    return lambda: linalg.svds(a, k, solver="arpack", rng=SEED)


def _propack(linalg: ModuleType, a: Matrix, k: int) -> Call:
    return lambda: linalg.svds(a, k, solver="propack", rng=SEED)


def _dask(da: ModuleType, a: Matrix, k: int) -> Call:
    if sp.issparse(a):
        x = da.from_array(a, chunks=(math.ceil(a.shape[0] / 4), a.shape[1]), asarray=False)
    else:
        x = da.from_array(a, chunks="auto")

    def call() -> object:
        u, s, vt = da.linalg.svd_compressed(
            x, k, iterator="QR", n_power_iter=Q, n_oversamples=P, seed=SEED
        )
        return da.compute(u, s, vt, scheduler="threads")

    return call


@dataclass(frozen=True)
class Peer:
    """A contender: display name, module, the function it must have, factory."""

    name: str
    module: str
    function: str
    make: Callable[[ModuleType, Matrix, int], Call]
    note: str = ""


PEERS = (
    Peer(BASELINE, "rankwise", "svd", _rankwise_svd),
    Peer("rankwise.randomized_svd", "rankwise", "randomized_svd", _rankwise_randomized),
    Peer(
        "rankwise.svd block_krylov",
        "rankwise",
        "svd",
        _rankwise_krylov,
        f"{KRYLOV_PASSES} passes of k/2 + 5 columns",
    ),
    Peer(SKLEARN, "sklearn.utils.extmath", "randomized_svd", _sklearn),
    Peer("fbpca.pca", "fbpca", "pca", _fbpca),
    Peer("rankwise.svds", "rankwise", "svds", _rankwise_svds, "iterative, default tol"),
    Peer("svds arpack", "scipy.sparse.linalg", "svds", _arpack, "iterative, default tol"),
    Peer("svds propack", "scipy.sparse.linalg", "svds", _propack, "iterative, default tol"),
    Peer("dask svd_compressed", "dask.array", "from_array", _dask, "iterator=QR, threads"),
)


def _contenders(a: Matrix, k: int) -> tuple[list[Contender], list[Skip]]:
    """Every peer bound to ``a`` and ``k``, or skipped if unavailable."""
    found, skipped = [], []
    for peer in PEERS:
        module = _MODULES[peer.module]
        if isinstance(module, str):
            skipped.append(Skip(peer.name, module))
        elif not hasattr(module, peer.function):
            skipped.append(Skip(peer.name, f"{peer.module} has no {peer.function}"))
        else:
            found.append(Contender(peer.name, peer.make(module, a, k), peer.note))
    return found, skipped


def _assessor(
    a: Matrix, sigma: np.ndarray, optimal2: float, dtype: np.dtype
) -> Callable[[object], Assessment]:
    """Accuracy of (U, s, Vt) against the float64 matrix ``a`` (see METRICS).

    ``sigma`` holds the reference top-k singular values and ``optimal2`` is
    ||A - A_k||_F^2. The residual uses ||A - U S Vt||^2 = ||A||^2
    - 2 sum_i s_i u_i^T A v_i + ||U S Vt||^2, which holds for any U and V
    (orthonormal or not) and needs no m x n temporary.
    """
    frob2 = optimal2 + float(np.sum(sigma**2))

    def assess(output: object) -> Assessment:
        u, s, vt = (np.asarray(x) for x in output)  # type: ignore[union-attr]
        order = np.argsort(s)[::-1]
        out_dtype = s.dtype
        u, s, vt = (x.astype(np.float64) for x in (u[:, order], s[order], vt[order]))
        av = a @ vt.T
        cross = float(np.sum(s * np.einsum("ij,ij->j", u, av)))
        norm2 = float(np.sum((u.T @ u) * (s[:, None] * (vt @ vt.T) * s[None, :])))
        residual2 = max(frob2 - 2 * cross + norm2, 0.0)
        metrics = {
            "sv_err": float(np.max(np.abs(s - sigma) / sigma)),
            "excess_res": math.sqrt(residual2 / optimal2) - 1.0,
        }
        note = "" if out_dtype == dtype else f"returns {out_dtype}"
        return Assessment(metrics, note)

    return assess


@dataclass(frozen=True)
class Dense:
    """Dense m x n matrix with known spectrum, top-k SVD in ``dtype``."""

    m: int
    n: int
    k: int
    dtype: str

    @property
    def shape(self) -> GemmShape:
        """The GEMM of one pass (and its transpose)."""
        return GemmShape(self.m, self.n, self.k + P, self.dtype)

    def prepare(self, limits: Limits) -> Workload:
        """Generate the matrix, bind the contenders, compute the GEMM floor."""
        a64, sigma = dense_known_spectrum(self.m, self.n)
        a = a64 if self.dtype == "float64" else a64.astype(self.dtype)
        contenders, skipped = _contenders(a, self.k)
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=_assessor(a64, sigma[: self.k], float(np.sum(sigma[self.k :] ** 2)), a.dtype),
            work=PASSES * 2.0 * self.m * self.n * (self.k + P),
            work_text=f"{PASSES} passes x 2mn(k+p) flops ({self.shape})",
            rate=limits.gemm_rate(self.shape),
            probe=gemm_probe(a, self.k + P),
            block_bytes=(self.m + self.n) * (self.k + P) * a.dtype.itemsize,
        )


@lru_cache(maxsize=1)
def _sparse_reference(m: int, n: int, nnz: int, k: int) -> np.ndarray:
    """Top-k singular values of :func:`sparse_power_law` to machine precision.

    ARPACK at tol = 0 with a larger subspace and another start vector than
    the "svds arpack" contender, so that its error is measured, not zero.
    """
    a = sparse_power_law(m, n, nnz)
    s = spla.svds(a, k, ncv=min(4 * k, min(m, n) - 1), tol=0.0, solver="arpack", rng=SEED + 1)
    return np.sort(s[1])[::-1]


@dataclass(frozen=True)
class Sparse:
    """Sparse float64 CSR m x n matrix with ``nnz`` nonzeros, top-k SVD."""

    m: int
    n: int
    nnz: int
    k: int

    def prepare(self, limits: Limits) -> Workload:
        """Generate the matrix and reference, bind contenders, bandwidth floor."""
        a = sparse_power_law(self.m, self.n, self.nnz)
        sigma = _sparse_reference(self.m, self.n, self.nnz, self.k)
        contenders, skipped = _contenders(a, self.k)
        frob2 = float(np.sum(a.data**2))
        csr = a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
        block = (self.m + self.n) * (self.k + P) * a.dtype.itemsize
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=_assessor(a, sigma, frob2 - float(np.sum(sigma**2)), a.dtype),
            # each pass streams A once, reads one block and writes the other
            work=PASSES * float(csr + block),
            work_text=f"{PASSES} passes x (CSR {csr / 1e6:.3g} MB + blocks {block / 1e6:.3g} MB)",
            rate=limits.bandwidth,
            probe=bandwidth_probe(limits.cores),
            block_bytes=block,
        )


def _targets(speedup: float, floor: bool, dtype: str) -> tuple[Target, ...]:
    """The issue's targets. "Equal accuracy" allows a factor 2 (about the
    seed-to-seed variation of a randomized SVD; one power iteration less
    costs more than that here) plus 10 units of roundoff of the dtype."""
    tol = 10 * float(np.finfo(dtype).eps)
    targets: list[Target] = [SpeedupTarget(SKLEARN, speedup, slack=2.0, tol=tol)]
    if floor:
        targets.append(FloorTarget(0.7))
    targets.append(MemoryTarget(8.0))
    return tuple(targets)


def _dense_case(m: int, n: int, k: int, dtype: str, headline: bool) -> Case:
    spec = Dense(m, n, k, dtype)
    return Case(
        family="svd",
        name=f"dense {dtype} {m}x{n} k={k}",
        series=f"dense {dtype} k={k}",
        size=float(m * n),
        size_label="m x n (entries), m = 2n",
        params=f"k={k}, p={P}, q={Q} ({PASSES} passes)",
        limit="GEMM",
        gemm_shapes=(spec.shape,),
        metrics=METRICS,
        targets=_targets(1.5, floor=True, dtype=dtype) if headline else (),
        prepare=spec.prepare,
        baseline=BASELINE,
    )


def _count(n: int) -> str:
    """200000 -> 200k, 2000000 -> 2M."""
    for unit, scale in (("M", 10**6), ("k", 10**3)):
        if n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _sparse_case(m: int, n: int, nnz: int, k: int, headline: bool) -> Case:
    spec = Sparse(m, n, nnz, k)
    return Case(
        family="svd",
        name=f"sparse CSR float64 {m}x{n} nnz={_count(nnz)} k={k}",
        series=f"sparse CSR float64 k={k}",
        size=float(nnz),
        size_label="nonzeros (10 per row)",
        params=f"k={k}, p={P}, q={Q} ({PASSES} passes)",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=METRICS,
        targets=_targets(2.0, floor=False, dtype="float64") if headline else (),
        prepare=spec.prepare,
        baseline=BASELINE,
    )


def cases(mode: Mode) -> list[Case]:
    """Quick: small sizes, under two minutes on 2 cores. Full: the issue's
    sizes (dense 8000 x 4000, k = 50 and 200, float64 and float32; sparse
    200000 x 30000 with 2M nonzeros) plus smaller sizes for the plot."""
    if mode == "quick":
        return [
            _dense_case(1000, 500, 20, "float64", headline=False),
            _dense_case(2000, 1000, 20, "float64", headline=True),
            _dense_case(2000, 1000, 20, "float32", headline=True),
            _sparse_case(10000, 2500, 100_000, 20, headline=False),
            _sparse_case(20000, 5000, 200_000, 20, headline=True),
        ]
    sweep = [(1000, 500), (2000, 1000), (4000, 2000)]
    return [
        *(_dense_case(m, n, 50, "float64", headline=False) for m, n in sweep),
        _dense_case(8000, 4000, 50, "float64", headline=True),
        _dense_case(8000, 4000, 50, "float32", headline=True),
        _dense_case(8000, 4000, 200, "float64", headline=True),
        _dense_case(8000, 4000, 200, "float32", headline=True),
        _sparse_case(50_000, 7_500, 500_000, 50, headline=False),
        _sparse_case(100_000, 15_000, 1_000_000, 50, headline=False),
        _sparse_case(200_000, 30_000, 2_000_000, 50, headline=True),
    ]
