"""CG family: ``rankwise.cg`` against SciPy's ``cg`` and pyamg.

Two kinds of case:

- per iteration ("iters"): rankwise and SciPy run the same Jacobi-preconditioned CG for a
  fixed number of iterations (``rtol = atol = 0``, so neither stops early), so the time
  ratio is the per-iteration ratio.  The floor is the bytes those iterations must stream
  (CSR arrays, and the 13 vector passes of rankwise's fused loop, see
  cpp/include/rankwise/algo/cg.hpp) at the rate at which all cores stream a STREAM
  "add" (the traffic of a triad) over a working set of the same size, measured at that
  size: most of these problems live in cache, where DRAM bandwidth is the wrong yardstick.
- time to solution ("solve"): to ``rtol = 1e-8`` with each of rankwise's preconditioners
  (the problem's best one, see BEST, is the baseline), SciPy cg + Jacobi, and pyamg's
  smoothed-aggregation AMG as a preconditioner of pyamg's own CG; preconditioner setup is
  inside the timed call, as a user pays it.  The ``iters`` column is the table of
  iteration counts per preconditioner.

Accuracy: the true relative residual ||b - A x|| / ||b|| in float64.  Problems: the 2-D
Poisson matrix (5-point) and, in full mode, pyamg's rotated anisotropic diffusion and
linear elasticity and a dense Gaussian kernel matrix with a ridge term.
"""

import itertools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from types import ModuleType

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .case import (
    Assessment,
    Case,
    Contender,
    FloorTarget,
    Metric,
    Mode,
    Skip,
    SpeedupTarget,
    Target,
    Workload,
)
from .machine import Limits
from .optional import optional_import

PACKAGES = ("rankwise", "scipy", "pyamg")

BASELINE = "rankwise.cg jacobi"
"""Baseline of the per-iteration cases."""
BEST_NAME = "rankwise.cg best"
"""Baseline of the time-to-solution cases: rankwise with the problem's best preconditioner
(see BEST); its note names it."""
SCIPY = "scipy cg jacobi"
SEED = 0
ITERS = 100
"""Iterations of the per-iteration cases ..."""
ITERS_POISSON = {100: 1000, 316: 500}
"""... but on the 2-D Poisson matrices in cache, whose iterations take 20-300 us: after the
pause before each timed call (ITERS_SETTLE_S) this VM's cores need a few milliseconds to
come back to speed (measured at n = 1e4: 100 iterations took 3.7-4 ms back to back and
6-16 ms after a 0.2 s pause, one or two threads), and a call pays a millisecond or two of
setup (checks, Jacobi, the diagonal-storage copy): these counts make both under about 10%
of rankwise's call.  The recursively updated residual then falls to about 1e-39 (n = 1e4)
of the start, far from the subnormal range."""
RTOL = 1e-8
"""Tolerance of the time-to-solution cases."""
VECTOR_PASSES = 13
"""n-vectors of traffic per iteration of rankwise's fused Jacobi loop on a CSR matrix: the
product with p.q fused into it reads p and writes q (2), the x/r update with both
reductions reads x p r q d and writes x r (7), the p update reads d r p and writes p (4).
That is the minimum for this recurrence (p must be complete before the product, and
alpha and beta are reductions over the whole vectors); a dense matrix adds the 2 reads
of a separate p.q pass, which the kernel case's floor leaves out."""

METRICS = (
    Metric("rel_res", "rel res", "||b - A x|| / ||b|| in float64 (true residual)"),
    Metric("iterations", "iters", "CG iterations the solver reports", ".0f"),
)

_MODULES: dict[str, ModuleType | str] = {
    name: optional_import(name) for name in ("rankwise", "pyamg", "pyamg.gallery")
}


# --------------------------------------------------------------------------- #
# problems
# --------------------------------------------------------------------------- #


def poisson2d(m: int) -> sp.csr_matrix:
    """5-point Laplacian on an m x m grid, n = m^2."""
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    return sp.csr_matrix(sp.kronsum(T, T, format="csr"))


def anisotropic2d(m: int) -> sp.csr_matrix:
    """pyamg's rotated anisotropic diffusion (epsilon = 0.001, theta = pi / 8), Q1."""
    gallery = _MODULES["pyamg.gallery"]
    assert not isinstance(gallery, str)
    stencil = gallery.diffusion_stencil_2d(epsilon=0.001, theta=math.pi / 8, type="FE")
    return sp.csr_matrix(gallery.stencil_grid(stencil, (m, m), format="csr"))


def elasticity2d(m: int) -> sp.csr_matrix:
    """pyamg's 2-D linear elasticity (Q1, two unknowns per node)."""
    gallery = _MODULES["pyamg.gallery"]
    assert not isinstance(gallery, str)
    A, _ = gallery.linear_elasticity((m, m), format="csr")
    return sp.csr_matrix(A)


KERNEL_RIDGE_MU = 1e-1
"""Ridge term of the kernel_ridge problem (A = K + mu I)."""


def kernel_ridge(n: int, mu: float = KERNEL_RIDGE_MU) -> np.ndarray:
    """Gaussian kernel matrix of n points in 3-D (bandwidth 1) plus mu I."""
    x = np.random.default_rng(SEED).standard_normal((n, 3))
    sq = np.sum(x**2, axis=1)
    K = np.exp(-0.5 * np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))
    K[np.diag_indices(n)] += mu
    return K


PROBLEMS: dict[str, Callable[[int], np.ndarray | sp.csr_matrix]] = {
    "poisson2d": poisson2d,
    "anisotropic2d": anisotropic2d,
    "elasticity2d": elasticity2d,
    "kernel_ridge": kernel_ridge,
}


# --------------------------------------------------------------------------- #
# machine limit at the working-set size
# --------------------------------------------------------------------------- #


def stream_probe(threads: int, working_set: int) -> Callable[[], float]:
    """Bytes/s of a STREAM "add" a = b + c (2 reads + 1 write per entry, the traffic of a
    triad) over three float64 arrays totalling ``working_set`` bytes, split over
    ``threads`` threads that each repeat their slice (so it stays in their cache when it
    fits, as CG's statically split vectors do), about 20 ms per call."""
    elements = max(working_set // 24, 4096)
    a, b, c = np.zeros(elements), np.ones(elements), np.ones(elements)
    bounds = np.linspace(0, elements, threads + 1).astype(int)
    parts = [slice(lo, hi) for lo, hi in itertools.pairwise(bounds)]
    reps = max(1, int(5e8 / 24 / elements))  # about 0.5 GB of traffic
    pool = ThreadPoolExecutor(threads)

    def one(s: slice) -> None:
        for _ in range(reps):
            np.add(b[s], c[s], out=a[s])

    def probe() -> float:
        start = time.perf_counter()
        list(pool.map(one, parts))
        return 24.0 * elements * reps / (time.perf_counter() - start)

    return probe


def iteration_bytes(A: np.ndarray | sp.csr_matrix) -> int:
    """Bytes one Jacobi-PCG iteration of rankwise streams (see VECTOR_PASSES)."""
    n = A.shape[0]
    item = A.dtype.itemsize
    matrix = A.data.nbytes + A.indices.nbytes + A.indptr.nbytes if sp.issparse(A) else A.nbytes
    return matrix + VECTOR_PASSES * n * item


def working_set(A: np.ndarray | sp.csr_matrix) -> int:
    """Matrix plus the six n-vectors (x, r, p, q, d, b) a CG solve keeps."""
    return iteration_bytes(A) - (VECTOR_PASSES - 6) * A.shape[0] * A.dtype.itemsize


# --------------------------------------------------------------------------- #
# contenders
# --------------------------------------------------------------------------- #


def _assessor(A: np.ndarray | sp.csr_matrix, b: np.ndarray) -> Callable[[object], Assessment]:
    """True relative residual in float64, and the iterations the contender reports."""
    A64 = A.astype(np.float64)
    b64 = b.astype(np.float64)
    bnorm = float(np.linalg.norm(b64))

    def assess(output: object) -> Assessment:
        x, iterations = output  # type: ignore[misc]
        x = np.asarray(x)
        r = float(np.linalg.norm(b64 - A64 @ x.astype(np.float64)))
        note = "" if x.dtype == b.dtype else f"returns {x.dtype}"
        return Assessment({"rel_res": r / bnorm, "iterations": float(iterations)}, note)

    return assess


Factory = Callable[[ModuleType, np.ndarray | sp.csr_matrix], object]

PRECONDITIONERS: dict[str, Factory] = {
    "jacobi": lambda rw, A: rw.precond.jacobi(A),
    "ssor(1.95)": lambda rw, A: rw.precond.ssor(A, 1.95),
    "ic0": lambda rw, A: rw.precond.ic0(A),
    "chebyshev(4)": lambda rw, A: rw.precond.chebyshev(A, 4),
    "block_jacobi(16)": lambda rw, A: rw.precond.block_jacobi(A, 16),
}
"""rankwise's preconditioners in the time-to-solution cases (setup included in the time)."""


def _kernel_factories(n: int) -> dict[str, Factory]:
    """The Nystrom preconditioner of the kernel_ridge problem, built as a user of kernel
    ridge regression builds it: from the kernel matrix K (which they hold) and mu."""
    K = kernel_ridge(n, 0.0)
    return {
        "nystrom(200)": lambda rw, A: rw.precond.nystrom(
            K, 200, mu=KERNEL_RIDGE_MU, random_state=SEED
        )
    }


BEST = {
    "poisson2d": "ssor(1.95)",
    "anisotropic2d": "ic0",
    "elasticity2d": "ssor(1.95)",
    "kernel_ridge": "nystrom(200)",
}
"""The baseline of each problem's time-to-solution case: the preconditioner that took the
least time (single-threaded CPU time, 2026-11-26, n = 1e4 and 1e5; omega hand-set here,
rankwise.CGSolver(M="ssor", omega="learn") learns it)."""

SPARSE_ONLY = ("ssor(1.95)", "ic0")


def _rankwise_solver(
    rw: ModuleType,
    A: np.ndarray | sp.csr_matrix,
    b: np.ndarray,
    name: str,
    factories: dict[str, Factory] = PRECONDITIONERS,
    **kw: object,
) -> Callable[[], tuple[np.ndarray, int]]:
    def call() -> tuple[np.ndarray, int]:
        M = factories[name](rw, A)
        res = rw.solve_cg(A, b, M=M, **kw)
        return res.x, res.iterations

    return call


def _scipy_solver(
    A: np.ndarray | sp.csr_matrix, b: np.ndarray, **kw: object
) -> Callable[[], tuple[np.ndarray, int]]:
    def call() -> tuple[np.ndarray, int]:
        d = A.diagonal()
        M = sp.diags(1.0 / d).tocsr().astype(A.dtype)
        count = [0]

        def cb(_: np.ndarray) -> None:
            count[0] += 1

        x, _ = spla.cg(A, b, M=M, callback=cb, **kw)
        return x, count[0]

    return call


def _pyamg_solver(
    pyamg: ModuleType, A: sp.csr_matrix, b: np.ndarray
) -> Callable[[], tuple[np.ndarray, int]]:
    def call() -> tuple[np.ndarray, int]:
        ml = pyamg.smoothed_aggregation_solver(A)
        residuals: list[float] = []
        x = ml.solve(b, tol=RTOL, accel="cg", maxiter=2000, residuals=residuals)
        return x, len(residuals) - 1

    return call


@dataclass(frozen=True)
class Problem:
    """One SPD system; ``iters`` None: time to solution, else a fixed iteration count."""

    kind: str
    size: int
    dtype: str
    iters: int | None

    def _contenders(
        self, A: np.ndarray | sp.csr_matrix, b: np.ndarray
    ) -> tuple[list[Contender], list[Skip], int]:
        """Contenders, skips, and the iterations the floor counts (the baseline's)."""
        rw = _MODULES["rankwise"]
        n = A.shape[0]
        skipped: list[Skip] = []
        contenders: list[Contender] = []
        if self.iters is not None:  # same iterations for both: rtol = atol = 0
            kw: dict[str, object] = {"rtol": 0.0, "atol": 0.0, "maxiter": self.iters}
            if isinstance(rw, str):
                skipped.append(Skip(BASELINE, rw))
            else:
                contenders.append(Contender(BASELINE, _rankwise_solver(rw, A, b, "jacobi", **kw)))
            contenders.append(Contender(SCIPY, _scipy_solver(A, b, **kw), "single-threaded"))
            return contenders, skipped, self.iters
        kw = {"rtol": RTOL, "maxiter": 100 * n}
        iters = 0
        if isinstance(rw, str):
            skipped.append(Skip(BEST_NAME, rw))
        else:
            factories = dict(PRECONDITIONERS)
            if self.kind == "kernel_ridge":
                factories.update(_kernel_factories(n))
            best = BEST[self.kind]
            solve = partial(_rankwise_solver, rw, A, b, factories=factories, **kw)
            contenders.append(Contender(BEST_NAME, solve(best), best))
            names = [p for p in factories if sp.issparse(A) or p not in SPARSE_ONLY]
            for name in names:
                if name != best:
                    contenders.append(Contender(f"rankwise.cg {name}", solve(name)))
            iters = int(solve(best)()[1])
        contenders.append(Contender(SCIPY, _scipy_solver(A, b, **kw), "single-threaded"))
        pyamg = _MODULES["pyamg"]
        if sp.issparse(A):
            if isinstance(pyamg, str):
                skipped.append(Skip("pyamg SA + cg", pyamg))
            else:
                contenders.append(
                    Contender("pyamg SA + cg", _pyamg_solver(pyamg, A, b), "setup included")
                )
        return contenders, skipped, iters

    def prepare(self, limits: Limits) -> Workload:
        A = PROBLEMS[self.kind](self.size).astype(self.dtype)
        n = A.shape[0]
        b = np.random.default_rng(SEED).standard_normal(n).astype(self.dtype)
        contenders, skipped, iters = self._contenders(A, b)
        per_iter = iteration_bytes(A)
        ws = working_set(A)
        probe = stream_probe(limits.cores, ws)
        what = "Jacobi-PCG iterations" if self.iters is not None else "iterations of the baseline"
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=_assessor(A, b),
            work=float(iters * per_iter),
            work_text=(
                f"{iters} {what} x {per_iter / 1e6:.3g} MB (matrix + {VECTOR_PASSES} "
                f"vectors; preconditioner traffic not counted); stream rate at the "
                f"{ws / 2**20:.3g} MiB working set"
            ),
            rate=probe(),
            probe=probe,
            block_bytes=n * A.dtype.itemsize,
        )


def _label(kind: str, size: int) -> tuple[str, int]:
    A_n = {"poisson2d": size * size, "anisotropic2d": size * size}
    n = A_n.get(kind, 2 * size * size if kind == "elasticity2d" else size)
    return f"{kind} n={n:,}", n


ITERS_SETTLE_S = 0.2
"""Pause before each timed call of the per-iteration cases (bench/runner.py)."""


def _case(
    kind: str, size: int, dtype: str, iters: int | None, targets: tuple[Target, ...]
) -> Case:
    name, n = _label(kind, size)
    what = f"{iters} iterations" if iters is not None else f"to rtol {RTOL:g}"
    return Case(
        family="cg",
        name=f"{name} {dtype} {'iters' if iters is not None else 'solve'}",
        series=f"{kind} {dtype} {'per-iteration' if iters is not None else 'solve'}",
        size=float(n),
        size_label="unknowns n",
        params=f"Jacobi, {what}" if iters is not None else f"best: {BEST[kind]}, {what}",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=METRICS,
        targets=targets,
        prepare=Problem(kind, size, dtype, iters).prepare,
        baseline=BASELINE if iters is not None else BEST_NAME,
        # per iteration, even in quick mode: SciPy's cg leaves numpy's OpenBLAS threads
        # spinning for ~0.1 s, which halved the speed of the rankwise call after it at 1e5
        settle_s=ITERS_SETTLE_S if iters is not None else 0.0,
    )


def _iters_targets() -> tuple[Target, ...]:
    # same iterations; accuracy within 10x of SciPy's (different summation order)
    return (SpeedupTarget(SCIPY, 1.4, slack=10.0, tol=1e-12), FloorTarget(0.85))


def _solve_targets() -> tuple[Target, ...]:
    return (SpeedupTarget(SCIPY, 3.0, slack=10.0, tol=RTOL),)


def cases(mode: Mode) -> list[Case]:
    """Quick: 2-D Poisson at 1e4 and 1e5 unknowns per iteration, 1e4 to solution, kernel
    ridge with Nystrom at n = 1500 (under 25 s + 8 s). Full: the issue's sizes
    (1e4 to 1e6) and problems."""
    if mode == "quick":
        return [
            _case("poisson2d", 100, "float64", ITERS_POISSON[100], _iters_targets()),
            _case("poisson2d", 316, "float64", ITERS_POISSON[316], _iters_targets()),
            _case("poisson2d", 100, "float64", None, _solve_targets()),
            _nystrom_case(1500, 200),  # about 8 s
        ]
    out = []
    for m in (100, 316, 1000):
        iters = ITERS_POISSON.get(m, ITERS)
        out.append(_case("poisson2d", m, "float64", iters, _iters_targets()))
    out.append(_case("poisson2d", 1000, "float32", ITERS, ()))
    for m in (100, 316, 1000):
        out.append(_case("poisson2d", m, "float64", None, _solve_targets()))
    if not isinstance(_MODULES["pyamg.gallery"], str):
        # per iteration on the other gallery stencils too (9 and 18 diagonals), in cache
        for kind, m, iters in (("anisotropic2d", 316, 500), ("elasticity2d", 224, 500)):
            out.append(_case(kind, m, "float64", iters, _iters_targets()))
        for m in (100, 316, 1000):
            out.append(_case("anisotropic2d", m, "float64", None, _solve_targets()))
        for m in (71, 224, 707):  # two unknowns per node
            out.append(_case("elasticity2d", m, "float64", None, _solve_targets()))
    out.append(_case("kernel_ridge", 4000, "float64", ITERS, _iters_targets()))
    out.append(_case("kernel_ridge", 4000, "float64", None, _solve_targets()))
    out += [_nystrom_case(n, 200) for n in (1500, 8000)]
    return out


# --------------------------------------------------------------------------- #
# kernel ridge regression: the Nystrom preconditioner
# --------------------------------------------------------------------------- #

KRR_MU = 1e-2
"""Ridge parameter of the Nystrom cases: (K + mu I) alpha = y with the Gaussian kernel K of
``kernel_ridge`` (3-D points, bandwidth 1); its effective dimension trace(K (K + mu I)^-1) at
n = 2000 is about 240."""
KRR_BASELINE = "rankwise.cg nystrom"


@dataclass(frozen=True)
class NystromProblem:
    """Time to ``RTOL`` on K + mu I: CG with the Nystrom preconditioner (built on K, rank
    ``rank``, setup timed), with Jacobi, and with none."""

    size: int
    rank: int

    def prepare(self, limits: Limits) -> Workload:
        rw = _MODULES["rankwise"]
        n, mu = self.size, KRR_MU
        A = kernel_ridge(n, mu)  # K + mu I
        K = A.copy()
        K[np.diag_indices(n)] -= mu
        b = np.random.default_rng(SEED).standard_normal(n)
        kw: dict[str, object] = {"rtol": RTOL, "maxiter": 100 * n}
        skipped: list[Skip] = []
        contenders: list[Contender] = []
        iters = 0
        if isinstance(rw, str):
            skipped.append(Skip(KRR_BASELINE, rw))
        else:

            def solver(make: Callable[[], object]) -> Callable[[], tuple[np.ndarray, int]]:
                def call() -> tuple[np.ndarray, int]:
                    res = rw.solve_cg(A, b, M=make(), **kw)
                    return res.x, res.iterations

                return call

            def nystrom() -> object:
                return rw.precond.nystrom(K, self.rank, mu=mu, random_state=SEED)

            contenders = [
                Contender(KRR_BASELINE, solver(nystrom), f"rank {self.rank}, setup included"),
                Contender("rankwise.cg jacobi", solver(lambda: rw.precond.jacobi(A))),
                Contender("rankwise.cg none", solver(lambda: None)),
            ]
            iters = int(solver(nystrom)()[1])
        per_iter = iteration_bytes(A) + 2 * n * self.rank * A.dtype.itemsize  # + U twice
        ws = working_set(A) + n * self.rank * A.dtype.itemsize
        probe = stream_probe(limits.cores, ws)
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=_assessor(A, b),
            work=float(iters * per_iter),
            work_text=(
                f"{iters} iterations of the baseline x {per_iter / 1e6:.3g} MB (matrix, U "
                f"twice and {VECTOR_PASSES} vectors; setup not counted); stream rate at the "
                f"{ws / 2**20:.3g} MiB working set"
            ),
            rate=probe(),
            probe=probe,
            block_bytes=n * A.dtype.itemsize,
        )


def _nystrom_case(size: int, rank: int) -> Case:
    return Case(
        family="cg",
        name=f"kernel_ridge n={size:,} mu={KRR_MU:g} float64 nystrom",
        series="kernel_ridge float64 nystrom",
        size=float(size),
        size_label="unknowns n",
        params=f"Gaussian kernel + {KRR_MU:g} I, nystrom rank {rank}, to rtol {RTOL:g}",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=METRICS,
        targets=(SpeedupTarget("rankwise.cg jacobi", 3.0, slack=10.0, tol=RTOL),),
        prepare=NystromProblem(size, rank).prepare,
        baseline=KRR_BASELINE,
    )
