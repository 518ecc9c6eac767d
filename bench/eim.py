"""Empirical interpolation family: DEIM point selection and the EIM greedy against pyMOR.

- DEIM cases: ``rankwise.deim(U)`` on an orthonormal n x m basis against pyMOR's
  ``pymor.algorithms.ei.deim(U, pod=False)`` and a plain numpy implementation of the
  greedy of Chaturantabut & Sorensen (2010, Algorithm 1: one solve and one product with
  the basis so far per point, as pyMOR does).  The floor is the LU's n m^2 flops at the
  machine's GEMM rate (DEIM's points are the pivots of LU with partial pivoting of U, and
  finding them needs the Schur complements: n m^2 / 2 multiply-adds whatever the method).
- EIM cases: ``rankwise.eim(S, max_terms=T)`` on n x N random snapshots against pyMOR's
  ``ei_greedy`` (``error_norm='sup'`` for the max norm, the default l2 norm otherwise) and a
  plain numpy greedy updating the residual in place.  The floor is one read and one write
  of the n x N residual per term at the machine's memory bandwidth.

The metric ``same`` is the fraction of the points that equal rankwise's (1: the same points,
in the same order); pyMOR's and numpy's greedy make the same choices in exact arithmetic.
pyMOR is an optional peer (``pip install pymor``, in the bench extra): without it the
pyMOR contenders are skipped with a note and the numpy greedy remains.

The accuracy curve of Chaturantabut & Sorensen (2010, Section 3.3.1) is
``python -m bench.eim_accuracy`` (a table and bench/eim_accuracy.png).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .case import Assessment, Case, Contender, Metric, Mode, Skip, SpeedupTarget, Workload
from .machine import GemmShape, Limits, bandwidth_probe, gemm_probe
from .optional import optional_import

PACKAGES = ("rankwise", "pymor")
SEED = 0

DEIM_BASELINE = "rankwise.deim"
EIM_BASELINE = "rankwise.eim"
PYMOR_DEIM = "pymor deim"
PYMOR_EIM = "pymor ei_greedy"

METRICS = (Metric("same", "same", "fraction of points equal to rankwise's (same order)", ".2f"),)


def numpy_deim(U: np.ndarray) -> np.ndarray:
    """Chaturantabut & Sorensen 2010, Algorithm 1, in numpy."""
    p = [int(np.argmax(np.abs(U[:, 0])))]
    for j in range(1, U.shape[1]):
        c = np.linalg.solve(U[p, :j], U[p, j])
        p.append(int(np.argmax(np.abs(U[:, j] - U[:, :j] @ c))))
    return np.array(p)


def numpy_eim(S: np.ndarray, terms: int, norm: str) -> np.ndarray:
    """Maday et al. 2009, Algorithm 1, in numpy, the residual updated in place."""
    R = np.array(S, order="F", copy=True)
    points = []
    for _ in range(terms):
        e = np.abs(R).max(axis=0) if norm == "linf" else np.einsum("ij,ij->j", R, R)
        j = int(np.argmax(e))
        i = int(np.argmax(np.abs(R[:, j])))
        q = R[:, j] / R[i, j]
        R -= np.outer(q, R[i])
        points.append(i)
    return np.array(points)


def _same(reference: np.ndarray) -> Callable[[object], Assessment]:
    def assess(output: object) -> Assessment:
        if hasattr(output, "points"):
            got = np.asarray(output.points)  # type: ignore[attr-defined]
        elif isinstance(output, tuple):  # pyMOR: (dofs, basis, data)
            got = np.asarray(output[0])
        else:
            got = np.asarray(output)
        k = min(got.size, reference.size)
        same = float(np.mean(got[:k] == reference[:k])) * k / reference.size
        return Assessment({"same": same})

    return assess


def _pymor() -> tuple[object, object] | str:
    ei = optional_import("pymor.algorithms.ei")
    numpy_space = optional_import("pymor.vectorarrays.numpy")
    if isinstance(ei, str):
        return ei
    if isinstance(numpy_space, str):
        return numpy_space
    from pymor.core.logger import set_log_levels

    set_log_levels({"pymor": "WARN"})
    return ei, numpy_space


@dataclass(frozen=True)
class Deim:
    n: int
    m: int

    @property
    def shape(self) -> GemmShape:
        return GemmShape(self.n, self.m, self.m, "float64")

    def prepare(self, limits: Limits) -> Workload:
        import rankwise as rw

        rng = np.random.default_rng(SEED)
        U = np.asfortranarray(np.linalg.qr(rng.standard_normal((self.n, self.m)))[0])
        reference = rw.deim(U).points
        contenders = [
            Contender(DEIM_BASELINE, lambda: rw.deim(U)),
            Contender("numpy greedy", lambda: numpy_deim(U), "C&S 2010 Algorithm 1"),
        ]
        skipped = []
        pm = _pymor()
        if isinstance(pm, str):
            skipped.append(Skip(PYMOR_DEIM, pm))
        else:
            ei, space = pm
            V = space.NumpyVectorSpace.from_numpy(U)  # type: ignore[attr-defined]
            contenders.append(
                Contender(PYMOR_DEIM, lambda: ei.deim(V, pod=False), "pod=False")  # type: ignore[attr-defined]
            )
        flops = float(self.n) * self.m * self.m - self.m**3 / 3.0
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=_same(reference),
            work=flops,
            work_text=f"LU's nm^2 - m^3/3 flops at the GEMM rate of {self.shape}",
            rate=limits.gemm_rate(self.shape),
            probe=gemm_probe(U, self.m),
            block_bytes=self.n * self.m * 8,
        )


@dataclass(frozen=True)
class Eim:
    n: int
    N: int
    terms: int
    norm: str

    def prepare(self, limits: Limits) -> Workload:
        import rankwise as rw

        rng = np.random.default_rng(SEED)
        S = np.asfortranarray(rng.standard_normal((self.n, self.N)))
        reference = rw.eim(S, max_terms=self.terms, norm=self.norm).points
        contenders = [
            Contender(EIM_BASELINE, lambda: rw.eim(S, max_terms=self.terms, norm=self.norm)),
            Contender("numpy greedy", lambda: numpy_eim(S, self.terms, self.norm)),
        ]
        skipped = []
        pm = _pymor()
        if isinstance(pm, str):
            skipped.append(Skip(PYMOR_EIM, pm))
        else:
            ei, space = pm
            V = space.NumpyVectorSpace.from_numpy(S)  # type: ignore[attr-defined]
            error_norm = "sup" if self.norm == "linf" else None
            contenders.append(
                Contender(
                    PYMOR_EIM,
                    lambda: ei.ei_greedy(  # type: ignore[attr-defined]
                        V, error_norm=error_norm, max_interpolation_dofs=self.terms
                    ),
                    f"error_norm={error_norm!r}",
                )
            )
        traffic = 2.0 * self.terms * self.n * self.N * 8
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=_same(reference),
            work=traffic,
            work_text=f"{self.terms} terms x one read + one write of the n x N residual",
            rate=limits.bandwidth,
            probe=bandwidth_probe(limits.cores),
            block_bytes=self.n * self.N * 8,
        )


def _deim_case(n: int, m: int, headline: bool) -> Case:
    spec = Deim(n, m)
    return Case(
        family="eim",
        name=f"deim {n}x{m}",
        series=f"deim m={m}",
        size=float(n * m),
        size_label="n x m (entries)",
        params=f"orthonormal random basis, m={m}",
        limit="GEMM",
        gemm_shapes=(spec.shape,),
        metrics=METRICS,
        targets=(SpeedupTarget(PYMOR_DEIM, 10.0, tol=0.0),) if headline else (),
        prepare=spec.prepare,
        baseline=DEIM_BASELINE,
    )


def _eim_case(n: int, N: int, terms: int, norm: str, headline: bool) -> Case:
    spec = Eim(n, N, terms, norm)
    return Case(
        family="eim",
        name=f"eim {norm} {n}x{N} {terms} terms",
        series=f"eim {norm} {terms} terms",
        size=float(n * N),
        size_label="n x N (entries)",
        params=f"standard normal snapshots, norm={norm}, max_terms={terms}",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=METRICS,
        targets=(SpeedupTarget(PYMOR_EIM, 10.0, tol=0.0),) if headline else (),
        prepare=spec.prepare,
        baseline=EIM_BASELINE,
    )


def cases(mode: Mode) -> list[Case]:
    """Quick: DEIM on 50000 x 40, EIM (max norm) on 10000 x 200 with 30 terms.
    Full: the issue's sizes, DEIM on 1e6 x 100 and EIM on 1e5 x 500 with 100 terms (max
    and l2 norms)."""
    if mode == "quick":
        return [
            _deim_case(50_000, 40, headline=False),
            _eim_case(10_000, 200, 30, "linf", headline=False),
        ]
    return [
        _deim_case(1_000_000, 100, headline=True),
        _eim_case(100_000, 500, 100, "linf", headline=True),
        _eim_case(100_000, 500, 100, "l2", headline=True),
    ]
