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
  of the n x N residual per term at the machine's memory bandwidth: that of a greedy that
  updates the residual at every term; rankwise's max-norm greedy defers the updates by
  blocks and reads only the parts of the residual that may hold its largest entry, so its
  "% of floor" can exceed 100%.

- matrix_eim cases: ``rankwise.matrix_eim`` on the diffusion matrix of
  examples/matrix_eim_diffusion.py (5-point finite differences on a grid x grid interior
  grid, coefficient 1 + mu_0 exp(-((x - mu_1)^2 + (y - 0.5)^2) / 0.02), non-affine in
  mu_1; training set mu_0 in {1, 20} x ``positions`` values of mu_1 in [0.2, 0.8]).
  Contenders, on the same 5 fresh parameters per call: forming A(mu) from the expansion
  (M terms for the greedy's tolerances 1e-2, 1e-4, 1e-6, by ``MatrixEIM.truncate``; the
  baseline is the largest M), assembling A(mu) (the vectorized assembly of the example),
  and the offline stage ``matrix_eim`` itself (the training assemblies and the greedy;
  one call per round, not comparable per call).  Metrics: max entrywise error over the
  fresh parameters relative to max |A(mu)| (the greedy's norm) and the relative Frobenius
  error.  The floor is that of the baseline (reading its nnz x M values and writing nnz
  values per parameter at the memory bandwidth); the "% of floor" of the other contenders
  is against the same number and means little.

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
    order: str = "F"  # memory order of the basis given to every contender

    @property
    def shape(self) -> GemmShape:
        return GemmShape(self.n, self.m, self.m, "float64")

    def prepare(self, limits: Limits) -> Workload:
        import rankwise as rw

        rng = np.random.default_rng(SEED)
        U = np.linalg.qr(rng.standard_normal((self.n, self.m)))[0]
        U = np.asfortranarray(U) if self.order == "F" else np.ascontiguousarray(U)
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
            work_text=(
                f"{self.terms} terms x one read + one write of the n x N residual (one update "
                "per term)"
            ),
            rate=limits.bandwidth,
            probe=bandwidth_probe(limits.cores),
            block_bytes=self.n * self.N * 8,
        )


MATRIX_METRICS = (
    Metric("max_err", "max err", "max |A_M(mu) - A(mu)| / max |A(mu)| over the fresh mu"),
    Metric("fro_err", "fro err", "max ||A_M(mu) - A(mu)||_F / ||A(mu)||_F over the fresh mu"),
)
MATRIX_TOLS = (1e-2, 1e-4, 1e-6)
MATRIX_FRESH = 5


class Diffusion:
    """-div(k grad u) on a grid x grid interior grid of the unit square (5-point stencil,
    face coefficients at the midpoints), k = 1 + mu_0 exp(-((x - mu_1)^2 + (y - 0.5)^2) /
    0.02); as examples/matrix_eim_diffusion.py."""

    def __init__(self, grid: int) -> None:
        self.grid = grid
        self.h = 1.0 / (grid + 1)
        n = grid * grid
        idx = np.arange(n)
        i, j = np.divmod(idx, grid)
        rows, cols = [idx], [idx]
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            ok = (i + di >= 0) & (i + di < grid) & (j + dj >= 0) & (j + dj < grid)
            rows.append(idx[ok])
            cols.append(((i + di) * grid + j + dj)[ok])
        self.rows, self.cols = np.concatenate(rows), np.concatenate(cols)

    @staticmethod
    def coefficient(x: np.ndarray, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
        return 1 + mu[0] * np.exp(-((x - mu[1]) ** 2 + (y - 0.5) ** 2) / 0.02)

    def _coords(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i, j = np.divmod(index, self.grid)
        return (i + 1) * self.h, (j + 1) * self.h

    def entries(self, mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """A(mu)[rows, cols] from the coefficient alone (no assembly)."""
        k, h = self.coefficient, self.h
        xr, yr = self._coords(rows)
        out = np.empty(rows.shape)
        d = rows == cols
        xd, yd = xr[d], yr[d]
        out[d] = (k(xd + h / 2, yd, mu) + k(xd - h / 2, yd, mu) + k(xd, yd + h / 2, mu)) + k(
            xd, yd - h / 2, mu
        )
        out[d] /= h * h
        xc, yc = self._coords(cols[~d])
        out[~d] = -k((xr[~d] + xc) / 2, (yr[~d] + yc) / 2, mu) / (h * h)
        return out

    def assemble(self, mu: np.ndarray) -> object:
        import scipy.sparse as sp

        n = self.grid * self.grid
        return sp.csr_matrix(
            (self.entries(mu, self.rows, self.cols), (self.rows, self.cols)), (n, n)
        )


def _expansion_name(tol: float) -> str:
    return f"A(mu) by expansion, tol {tol:.0e}"


@dataclass(frozen=True)
class MatrixEim:
    grid: int
    positions: int

    def prepare(self, limits: Limits) -> Workload:
        import rankwise as rw

        problem = Diffusion(self.grid)
        train = [
            np.array([a, b]) for a in (1.0, 20.0) for b in np.linspace(0.2, 0.8, self.positions)
        ]
        rng = np.random.default_rng(SEED)
        fresh = [
            np.array([rng.uniform(1, 20), rng.uniform(0.2, 0.8)]) for _ in range(MATRIX_FRESH)
        ]

        def offline() -> object:
            return rw.matrix_eim(
                problem.assemble, train, tol=min(MATRIX_TOLS), entry_function=problem.entries
            )

        full = offline()
        errors = full.interpolant.errors  # type: ignore[attr-defined]
        terms = {}  # tol -> the fewest terms that meet it on the training set
        for tol in MATRIX_TOLS:
            met = np.flatnonzero(errors <= tol * errors[0])
            terms[tol] = max(int(met[0]), 1) if met.size else len(errors) - 1
        exact = [problem.assemble(mu) for mu in fresh]
        nnz = exact[0].nnz  # type: ignore[attr-defined]

        def assess(output: object) -> Assessment:
            if not isinstance(output, list):  # the offline stage: its full expansion
                output = [output.assemble(mu) for mu in fresh]  # type: ignore[attr-defined]
            max_err = fro_err = 0.0
            for got, ref in zip(output, exact, strict=True):
                diff = (got - ref).tocsr()
                max_err = max(max_err, float(abs(diff).max() / abs(ref).max()))
                fro_err = max(fro_err, float(np.linalg.norm(diff.data) / np.linalg.norm(ref.data)))
            return Assessment({"max_err": max_err, "fro_err": fro_err})

        contenders = []
        for tol in sorted(MATRIX_TOLS):
            expansion = full.truncate(terms[tol])  # type: ignore[attr-defined]
            contenders.append(
                Contender(
                    _expansion_name(tol),
                    lambda e=expansion: [e.assemble(mu) for mu in fresh],
                    f"{terms[tol]} terms; {MATRIX_FRESH} parameters per call",
                )
            )
        contenders.append(
            Contender(
                "assemble(mu)",
                lambda: [problem.assemble(mu) for mu in fresh],
                f"{MATRIX_FRESH} parameters per call",
            )
        )
        contenders.append(
            Contender(
                "matrix_eim offline",
                offline,
                f"{len(train)} training assemblies + greedy to tol {min(MATRIX_TOLS):.0e}",
            )
        )
        top = max(terms.values())
        return Workload(
            contenders=contenders,
            skipped=[],
            assess=assess,
            work=MATRIX_FRESH * nnz * (top + 1) * 8.0,
            work_text=f"{MATRIX_FRESH} x (read nnz x {top} values + write nnz values)",
            rate=limits.bandwidth,
            probe=bandwidth_probe(limits.cores),
            block_bytes=nnz * 8,
        )


def _deim_case(n: int, m: int, headline: bool, order: str = "F") -> Case:
    spec = Deim(n, m, order)
    suffix = "" if order == "F" else " C-order"
    return Case(
        family="eim",
        name=f"deim {n}x{m}{suffix}",
        series=f"deim m={m}{suffix}",
        size=float(n * m),
        size_label="n x m (entries)",
        params=f"orthonormal random basis, m={m}, {order}-ordered",
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


def _matrix_case(grid: int, positions: int) -> Case:
    spec = MatrixEim(grid, positions)
    nnz = 5 * grid * grid - 4 * grid
    return Case(
        family="eim",
        name=f"matrix_eim diffusion {grid * grid}x{grid * grid} nnz={nnz}",
        series="matrix_eim diffusion",
        size=float(nnz),
        size_label="nonzeros of A(mu)",
        params=(
            f"5-point diffusion, non-affine Gaussian coefficient, {2 * positions} training "
            f"parameters, {MATRIX_FRESH} fresh ones; x block = one vector of nnz values"
        ),
        limit="bandwidth",
        gemm_shapes=(),
        metrics=MATRIX_METRICS,
        targets=(),
        prepare=spec.prepare,
        baseline=_expansion_name(min(MATRIX_TOLS)),
    )


def cases(mode: Mode) -> list[Case]:
    """Quick: DEIM on 50000 x 40, EIM (max norm) on 10000 x 200 with 30 terms, matrix_eim
    on a 3600 x 3600 matrix (17760 nonzeros, 42 training parameters).  Full: the issue's
    sizes, DEIM on 1e6 x 100 (Fortran- and C-ordered), EIM on 1e5 x 500 with 100 terms
    (max and l2 norms), and matrix_eim on 199809 x 199809 (997257 nonzeros, 122 training
    parameters)."""
    if mode == "quick":
        return [
            _deim_case(50_000, 40, headline=False),
            _eim_case(10_000, 200, 30, "linf", headline=False),
            _matrix_case(60, 21),
        ]
    return [
        _deim_case(1_000_000, 100, headline=True),
        _deim_case(1_000_000, 100, headline=False, order="C"),
        _eim_case(100_000, 500, 100, "linf", headline=True),
        _eim_case(100_000, 500, 100, "l2", headline=True),
        _matrix_case(447, 61),
    ]
