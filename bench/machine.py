"""This machine's limits: GEMM rate per shape, memory bandwidth, BLAS in use.

The limits are upper bounds against which measured times are compared, so
each is the best of several runs (noise only ever makes a run slower).
"""

import importlib
import itertools
import os
import platform
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from typing import NamedTuple

import numpy as np
from scipy.linalg.blas import get_blas_funcs
from threadpoolctl import threadpool_info

_REPEATS = 5
_MIN_SECONDS = 0.3


class GemmShape(NamedTuple):
    """The products A @ B and A^T @ C with A m x n and B, C of l columns."""

    m: int
    n: int
    l: int
    dtype: str

    def __str__(self) -> str:
        return f"{self.dtype} {self.m}x{self.n} @ {self.n}x{self.l}"


@dataclass
class Limits:
    """Measured limits of this machine plus a description of its software.

    ``gemm`` maps a shape to its rate (flop/s) with each BLAS a user reaches:
    numpy's matmul and SciPy's BLAS wrappers (which can be separate
    libraries); the limit is the faster of the two.
    """

    cpu: str
    cores: int
    load: float
    bandwidth: float
    bandwidth_one_thread: float
    threadpools: list[dict[str, object]]
    versions: dict[str, str]
    gemm: dict[GemmShape, dict[str, float]] = field(default_factory=dict)

    def gemm_rate(self, shape: GemmShape) -> float:
        """Best GEMM rate (flop/s) of ``shape``, measured on first use."""
        if shape not in self.gemm:
            self.gemm[shape] = measure_gemm(shape)
        return max(self.gemm[shape].values())


def best_rate(probe: Callable[[], float]) -> float:
    """Highest rate ``probe()`` returns over at least :data:`_REPEATS` calls
    and :data:`_MIN_SECONDS` of calls, after one warm-up call."""
    probe()
    best = 0.0
    calls = 0
    deadline = time.perf_counter() + _MIN_SECONDS
    while calls < _REPEATS or time.perf_counter() < deadline:
        best = max(best, probe())
        calls += 1
    return best


def gemm_probe(a: np.ndarray, l: int, library: str = "numpy") -> Callable[[], float]:
    """A function that computes A @ B and A^T @ C once (B and C random, of
    ``l`` columns, in the dtype of ``a``) and returns the flop rate.

    These are the two products of a pass of a randomized SVD. ``library`` is
    "numpy" (matmul) or "scipy" (SciPy's BLAS wrappers, which may load a
    different BLAS): SciPy's BLAS is column-major, so A @ B = (B^T A^T)^T and
    A^T C = (C^T A)^T with every operand a Fortran-ordered view, no copies.
    """
    rng = np.random.default_rng(1)
    m, n = a.shape
    b = rng.random((n, l)).astype(a.dtype)
    c = rng.random((m, l)).astype(a.dtype)
    gemm = get_blas_funcs("gemm", dtype=a.dtype)

    def products() -> None:
        if library == "numpy":
            a @ b
            a.T @ c
        else:
            gemm(1.0, b.T, a.T)
            gemm(1.0, c.T, a.T, trans_b=True)

    def probe() -> float:
        start = time.perf_counter()
        products()
        return 2 * 2.0 * m * n * l / (time.perf_counter() - start)

    return probe


def measure_gemm(shape: GemmShape) -> dict[str, float]:
    """Best flop rate of :func:`gemm_probe` for ``shape`` with each library
    (A C-ordered, as the benchmarks pass it)."""
    rng = np.random.default_rng(0)
    a = rng.random((shape.m, shape.n)).astype(shape.dtype)
    return {lib: best_rate(gemm_probe(a, shape.l, lib)) for lib in ("numpy", "scipy")}


def bandwidth_probe(threads: int, elements: int = 1 << 24) -> Callable[[], float]:
    """A function that times one STREAM "add", a = b + c on float64 arrays
    that do not fit in cache, and returns the bandwidth in bytes/s.

    Counts 3 arrays of traffic per element (the STREAM convention). The work
    is split across ``threads`` Python threads; numpy releases the GIL inside
    the ufunc, so they run in parallel.
    """
    a = np.zeros(elements)
    b = np.ones(elements)
    c = np.ones(elements)
    bounds = np.linspace(0, elements, threads + 1).astype(int)
    parts = [slice(lo, hi) for lo, hi in itertools.pairwise(bounds)]
    pool = ThreadPoolExecutor(threads)

    def probe() -> float:
        start = time.perf_counter()
        list(pool.map(lambda s: np.add(b[s], c[s], out=a[s]), parts))
        return 3 * 8.0 * elements / (time.perf_counter() - start)

    return probe


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions(packages: Iterable[str]) -> dict[str, str]:
    found = {}
    for name in ("numpy", *packages):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            # a module installed under another distribution name (cupy as cupy-cuda13x)
            try:
                found[name] = str(importlib.import_module(name).__version__)
            except (ImportError, AttributeError):
                found[name] = "not installed"
    return found


def measure(shapes: Iterable[GemmShape], packages: Iterable[str]) -> Limits:
    """Measure bandwidth and the GEMM rate of every shape; describe the BLAS.

    Call this after the contenders' modules are imported so that every BLAS
    and OpenMP runtime they load shows up in the threadpoolctl report.
    """
    cores = os.cpu_count() or 1
    limits = Limits(
        cpu=_cpu_model(),
        cores=cores,
        load=os.getloadavg()[0],
        bandwidth=best_rate(bandwidth_probe(cores)),
        bandwidth_one_thread=best_rate(bandwidth_probe(1)),
        threadpools=threadpool_info(),
        versions=_versions(packages),
    )
    for shape in dict.fromkeys(shapes):
        limits.gemm_rate(shape)
    return limits


def describe_threadpool(pool: dict[str, object]) -> str:
    """One line per BLAS/OpenMP library: which kernel runs, on how many threads."""
    name = " ".join(str(pool[k]) for k in ("internal_api", "version") if pool.get(k))
    keys = ("architecture", "num_threads", "threading_layer")
    facts = [f"{key}={pool[key]}" for key in keys if pool.get(key) is not None]
    path = os.path.basename(str(pool.get("filepath", "")))
    return f"{pool.get('user_api')}: {name}, " + ", ".join(facts) + f" ({path})"
