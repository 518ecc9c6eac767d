"""CUR family: accuracy of every selection method and the cost of CUR over the SVD.

Two kinds of case, all timed round-robin against ``rankwise.svd`` at the same k
(the SVD whose singular vectors DEIM, Q-DEIM and maxvol select on; the ratio
column is each contender's time over DEIM-CUR's):

- accuracy cases: one matrix each with fast decay (sigma_j = exp(-j/5)), slow
  decay (sigma_j = 1/j) and coherent singular vectors (the top-k singular
  vectors concentrated on 2k rows and 2k columns, where uniform sampling fails),
  every selection method with the pinv core, plus DEIM with the stabilized
  core and Q-DEIM refined by exchanges (``refine=True``, on a rank-2k SVD); in
  full mode also the cross core and oversampled variants;
- speed cases: DEIM-CUR (pinv and stabilized cores; in full mode on dense A
  also refined Q-DEIM, to show what ``refine=True`` costs) against ``rankwise.svd``;
  the issue's target is DEIM-CUR of a dense 20000 x 5000 matrix at k = 100 in at
  most 1.3x the SVD's time, and a sparse 200000 x 30000 matrix (2M nonzeros)
  without densifying.

The metric ``err/opt`` = ||A - approximation||_F / ||A - A_k||_F (1 is optimal),
in float64, computed without an m x n temporary.

Interpolative decomposition cases time ``rankwise.interpolative.interp_decomp``
against ``scipy.linalg.interpolative.interp_decomp`` (rand=True, same eps or
rank) on dense float64 and complex128 matrices with sigma_j = exp(-j/5); their
metrics are the ID's err/opt at its own rank k and that rank.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from .case import Assessment, Case, Contender, Metric, Mode, SpeedupTarget, Target, Workload
from .machine import GemmShape, Limits, bandwidth_probe, gemm_probe
from .matrices import dense_known_spectrum, sparse_power_law
from .svd import _sparse_reference

PACKAGES = ("rankwise", "scipy")

ID_BASELINE = "rankwise interp_decomp"
ID_SCIPY = "scipy interp_decomp"
ID_METRICS = (
    Metric("err_opt", "err/opt", "||A - B P||_F / ||A - A_k||_F at the ID's rank k", ".3f"),
    Metric("rank", "rank", "rank k of the ID", ".0f"),
)

SEED = 0
P = 10
"""Oversampling of the SVD sketch (rankwise.svd's default)."""
Q = 7
"""Power iterations of the SVD (its n_iter="auto" for k < min(m, n) / 10)."""
PASSES = 2 * Q + 2

BASELINE = "cur deim pinv"
SVD = "rankwise.svd"

METRICS = (
    Metric("err_opt", "err/opt", "||A - approximation||_F / ||A - A_k||_F (1 is optimal)", ".3f"),
)

SELECTIONS = ("deim", "qdeim", "rrqr", "maxvol", "leverage", "pivotal", "uniform")

Matrix = np.ndarray | sp.csr_matrix


def _haar(rng: np.random.Generator, m: int, r: int, heavy: np.ndarray | None) -> np.ndarray:
    """m x r orthonormal; with ``heavy`` rows, its first columns live mostly on them."""
    g = rng.standard_normal((m, r))
    if heavy is not None:
        g[heavy, : heavy.size // 2] *= 1e3
    q, _ = np.linalg.qr(g)
    return q


@lru_cache(maxsize=1)
def dense_matrix(kind: str, m: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(A, sigma): A = U diag(sigma) V^T, float64, C order; r = min(n, 4k + 100) terms
    (the tail beyond them is zero, sigma is returned in full)."""
    if kind == "slow":
        return dense_known_spectrum(m, n)
    rng = np.random.default_rng(SEED)
    r = min(n, 4 * k + 100)
    j = np.arange(r, dtype=np.float64)
    heavy_u = heavy_v = None
    if kind == "fast":
        sigma = np.exp(-j / 5.0)
    else:  # coherent: the top k singular vectors live (mostly) on 2k rows / columns
        sigma = np.exp(-j / 10.0)
        heavy_u = rng.choice(m, 2 * k, replace=False)
        heavy_v = rng.choice(n, 2 * k, replace=False)
    u = _haar(rng, m, r, heavy_u)
    v = _haar(rng, n, r, heavy_v)
    return np.ascontiguousarray((u * sigma) @ v.T), sigma


def _lowrank_factors(output: object) -> tuple[np.ndarray, object]:
    """(L, R) with approximation = L @ R, for (U, s, Vt) and for CURDecomposition."""
    if isinstance(output, tuple):
        u, s, vt = output
        return np.asarray(u, np.float64) * np.asarray(s, np.float64), np.asarray(vt, np.float64)
    product = output.product  # type: ignore[attr-defined]  # C U R in its stable form
    left = np.asarray(product.left @ product.middle, dtype=np.float64)
    right = product.right
    # dense (k x n is small): a sparse R would make A @ R^T a sparse matrix, which
    # np.asarray wraps in an object array instead of converting
    right = right.toarray() if sp.issparse(right) else right
    return left, np.asarray(right, dtype=np.float64)


def _assessor(a: Matrix, frob2: float, optimal2: float) -> Callable[[object], Assessment]:
    """err/opt from ||A - L R||^2 = ||A||^2 - 2 <L, A R^T> + <L^T L, R R^T>."""

    def assess(output: object) -> Assessment:
        left, right = _lowrank_factors(output)
        ar = np.asarray(a @ right.T)  # A R^T: m x r
        rr = right @ right.T
        res2 = frob2 - 2 * float(np.sum(left * ar)) + float(np.sum((left.T @ left) * rr))
        return Assessment({"err_opt": math.sqrt(max(res2, 0.0) / optimal2)})

    return assess


def _cur_call(
    rw: object, a: Matrix, k: int, method: str, core: str, over: object, refine: bool = False
) -> Callable:
    return lambda: rw.cur(  # type: ignore[attr-defined]
        a, k, method=method, core=core, oversample=over, refine=refine, random_state=SEED
    )


def _refined(rw: object, a: Matrix, k: int) -> Contender:
    """Q-DEIM refined by exchanges on the rank-2k SVD (refine=True)."""
    return Contender(
        "cur qdeim pinv refine", _cur_call(rw, a, k, "qdeim", "pinv", 0, True), "refine=True"
    )


def _contenders(a: Matrix, k: int, accuracy: bool, extras: bool) -> list[Contender]:
    import rankwise as rw

    found = [
        Contender(SVD, lambda: rw.svd(a, k, oversample=P, n_iter=Q, random_state=SEED)),
        Contender(BASELINE, _cur_call(rw, a, k, "deim", "pinv", 0)),
        Contender("cur deim stabilized", _cur_call(rw, a, k, "deim", "stabilized", 0)),
    ]
    if accuracy:
        found += [
            Contender(f"cur {m} pinv", _cur_call(rw, a, k, m, "pinv", 0)) for m in SELECTIONS[1:]
        ]
        found += [_refined(rw, a, k)]
    if not accuracy and extras:
        found += [_refined(rw, a, k)]
    if accuracy and extras:
        found += [
            Contender("cur deim cross", _cur_call(rw, a, k, "deim", "cross", 0)),
            Contender(
                "cur deim stabilized +k rows",
                _cur_call(rw, a, k, "deim", "stabilized", (k, 0)),
                "oversample=(k, 0)",
            ),
            Contender(
                "cur leverage pinv +k",
                _cur_call(rw, a, k, "leverage", "pinv", k),
                "oversample=k",
            ),
        ]
    return found


@dataclass(frozen=True)
class Dense:
    kind: str
    m: int
    n: int
    k: int
    accuracy: bool
    extras: bool

    @property
    def shape(self) -> GemmShape:
        return GemmShape(self.m, self.n, self.k + P, "float64")

    def prepare(self, limits: Limits) -> Workload:
        a, sigma = dense_matrix(self.kind, self.m, self.n, self.k)
        frob2 = float(np.sum(sigma**2))
        optimal2 = float(np.sum(sigma[self.k :] ** 2))
        return Workload(
            contenders=_contenders(a, self.k, self.accuracy, self.extras),
            skipped=[],
            assess=_assessor(a, frob2, optimal2),
            work=PASSES * 2.0 * self.m * self.n * (self.k + P),
            work_text=f"the SVD's {PASSES} passes x 2mn(k+p) flops ({self.shape})",
            rate=limits.gemm_rate(self.shape),
            probe=gemm_probe(a, self.k + P),
            block_bytes=(self.m + self.n) * (self.k + P) * 8,
        )


@dataclass(frozen=True)
class Sparse:
    m: int
    n: int
    nnz: int
    k: int

    def prepare(self, limits: Limits) -> Workload:
        dense_matrix.cache_clear()  # release the large dense matrices of the cases before
        dense_known_spectrum.cache_clear()
        a = sparse_power_law(self.m, self.n, self.nnz)
        sigma = _sparse_reference(self.m, self.n, self.nnz, self.k)
        frob2 = float(np.sum(a.data**2))
        csr = a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
        block = (self.m + self.n) * (self.k + P) * 8
        return Workload(
            contenders=_contenders(a, self.k, accuracy=False, extras=False),
            skipped=[],
            assess=_assessor(a, frob2, frob2 - float(np.sum(sigma**2))),
            work=PASSES * float(csr + block),
            work_text=f"the SVD's {PASSES} passes x (CSR {csr / 1e6:.3g} MB + blocks)",
            rate=limits.bandwidth,
            probe=bandwidth_probe(limits.cores),
            block_bytes=block,
        )


@lru_cache(maxsize=1)
def id_matrix(n: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, sigma): n x n, A = U diag(exp(-j/5)) V^H with 300 terms, C order."""
    rng = np.random.default_rng(SEED)
    r = min(n, 300)
    sigma = np.exp(-np.arange(r) / 5.0)
    u, _ = np.linalg.qr(rng.standard_normal((n, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    if dtype == "complex128":
        u = u * np.exp(2j * np.pi * rng.random(r))
        v = v * np.exp(2j * np.pi * rng.random(r))
    return np.ascontiguousarray((u * sigma) @ v.conj().T), sigma


def _id_assessor(a: np.ndarray, sigma: np.ndarray, fixed_k: int | None) -> Callable:
    def assess(output: object) -> Assessment:
        if fixed_k is None:
            k, idx, proj = output  # type: ignore[misc]
        else:
            (idx, proj), k = output, fixed_k  # type: ignore[misc]
        skel = a[:, idx[:k]]
        err = np.linalg.norm(a[:, idx[k:]] - skel @ proj)
        opt = math.sqrt(float(np.sum(sigma[k:] ** 2)))
        return Assessment({"err_opt": float(err / opt) if opt > 0 else 0.0, "rank": float(k)})

    return assess


@dataclass(frozen=True)
class Interp:
    n: int
    dtype: str
    eps_or_k: float

    @property
    def shape(self) -> GemmShape:
        k = int(self.eps_or_k) if self.eps_or_k >= 1 else 100
        return GemmShape(self.n, self.n, k + P, self.dtype)

    def prepare(self, limits: Limits) -> Workload:
        import rankwise.interpolative as rli
        import scipy.linalg.interpolative as sli

        a, sigma = id_matrix(self.n, self.dtype)
        e = self.eps_or_k
        fixed = None if e < 1 else int(e)
        return Workload(
            contenders=[
                Contender(ID_BASELINE, lambda: rli.interp_decomp(a, e, rand=True, rng=SEED)),
                Contender(ID_SCIPY, lambda: sli.interp_decomp(a, e, rand=True, rng=SEED)),
            ],
            skipped=[],
            assess=_id_assessor(a, sigma, fixed),
            work=2.0 * self.n * self.n * self.shape.l,
            work_text=f"one sketch, 2mn(k+p) flops of the dtype ({self.shape})",
            rate=limits.gemm_rate(self.shape),
            probe=gemm_probe(a, self.shape.l),
            block_bytes=2 * self.n * self.shape.l * a.dtype.itemsize,
        )


def _id_case(n: int, dtype: str, eps_or_k: float, headline: bool) -> Case:
    spec = Interp(n, dtype, eps_or_k)
    what = f"eps={eps_or_k:g}" if eps_or_k < 1 else f"k={int(eps_or_k)}"
    return Case(
        family="cur",
        name=f"interp_decomp {dtype} {n}x{n} {what}",
        series=f"interp_decomp {dtype} {what}",
        size=float(n * n),
        size_label="m x n (entries)",
        params=f"rand=True, {what}",
        limit="GEMM",
        gemm_shapes=(spec.shape,),
        metrics=ID_METRICS,
        targets=(SpeedupTarget(ID_SCIPY, 3.0, slack=2.0, tol=2.0),) if headline else (),
        prepare=spec.prepare,
        baseline=ID_BASELINE,
    )


def _targets(headline: bool) -> tuple[Target, ...]:
    """DEIM-CUR at most 1.3x the SVD's time (ratio >= 1/1.3), at an error within 2x
    of the SVD's (the issue's "within 2x of optimal at k")."""
    return (SpeedupTarget(SVD, 1 / 1.3, slack=2.0),) if headline else ()


def _dense_case(
    kind: str, m: int, n: int, k: int, accuracy: bool, headline: bool, extras: bool = True
) -> Case:
    spec = Dense(kind, m, n, k, accuracy, extras)
    label = {"fast": "fast decay", "slow": "slow decay", "coherent": "coherent"}[kind]
    return Case(
        family="cur",
        name=f"dense {label} {m}x{n} k={k}",
        series=f"dense {label} k={k}",
        size=float(m * n),
        size_label="m x n (entries)",
        params=f"k={k}; SVD p={P}, q={Q}",
        limit="GEMM",
        gemm_shapes=(spec.shape,),
        metrics=METRICS,
        targets=_targets(headline),
        prepare=spec.prepare,
        baseline=BASELINE,
    )


def _sparse_case(m: int, n: int, nnz: int, k: int) -> Case:
    spec = Sparse(m, n, nnz, k)
    return Case(
        family="cur",
        name=f"sparse CSR {m}x{n} nnz={nnz // 10**6}M k={k}",
        series=f"sparse CSR k={k}",
        size=float(nnz),
        size_label="nonzeros",
        params=f"k={k}; SVD p={P}, q={Q}",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=METRICS,
        targets=_targets(True),
        prepare=spec.prepare,
        baseline=BASELINE,
    )


def cases(mode: Mode) -> list[Case]:
    """Quick: every selection method with the pinv core on the coherent matrix at
    800 x 400 and on the slow-decay matrix at 1000 x 500 (with the speed target), k = 20,
    and interp_decomp at 1000 x 1000, complex128.  Full: accuracy at 4000 x 2000,
    k = 50; the issue's speed cases (CUR, and interp_decomp at 4000 x 4000)."""
    if mode == "quick":
        return [
            _dense_case("coherent", 800, 400, 20, accuracy=True, headline=False, extras=False),
            _dense_case("slow", 1000, 500, 20, accuracy=True, headline=True, extras=False),
            _id_case(1000, "complex128", 50, headline=False),
        ]
    return [
        _dense_case("fast", 4000, 2000, 50, accuracy=True, headline=False),
        _dense_case("slow", 4000, 2000, 50, accuracy=True, headline=False),
        _dense_case("coherent", 4000, 2000, 50, accuracy=True, headline=False),
        _dense_case("slow", 20000, 5000, 100, accuracy=False, headline=True),
        _sparse_case(200_000, 30_000, 2_000_000, 50),
        *(
            _id_case(4000, dtype, e, headline=True)
            for dtype in ("float64", "complex128")
            for e in (1e-8, 100)
        ),
    ]
