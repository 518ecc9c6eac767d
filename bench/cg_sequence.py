"""CG on a sequence of 50 related systems: ``python -m bench.cg_sequence``.

The sequence: 2-D diffusion -div(k_t grad u) = f_t on the unit square (5-point finite
differences, Dirichlet boundary, m x m interior grid), with a coefficient that drifts
slowly, k_t(x, y) = exp(c sin(2 pi (x + t / T)) cos(2 pi y)) (contrast exp(2 c)), and a new
random right-hand side per step, t = 0..T-1.  Printed (Markdown tables):

1. SSOR omega: total iterations of fixed omega = 1, of the best fixed omega in hindsight
   (every omega of the grid run on every system), and of omega learned online by
   rankwise.CGSolver(omega="learn") (1/2-Tsallis-INF seeing only iteration counts), for
   several seeds of the learner.
2. Chebyshev degree: the same in products with A, iterations x (degree + 1).
3. Recycling: iterations with recycle = 0 and r (IC(0) preconditioner), on the same A with
   20 right-hand sides, on the drifting sequence, and on a drifting high-contrast problem
   (9 inclusions, the textbook case for deflation), and the wall time (median of 3
   round-robin runs; setup, update and harvest included) of the whole sequence and of its
   last 10 solves (once the subspace is learned).

Iteration counts do not depend on the machine (the times do: quote them as ratios); the
whole run takes about 20 s.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

RTOL = 1e-8
SEED = 0


def five_point(m: int, k: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> sp.csr_array:
    """5-point matrix of -div(k grad u) on an m x m interior grid of the unit square
    (Dirichlet boundary), k evaluated at the face midpoints (scaled by h^2)."""
    h = 1.0 / (m + 1)
    i = np.arange(m)
    xf = (np.arange(m + 1) + 0.5) * h  # faces between grid points -1..m
    yc = (i + 1) * h
    kx = k(xf[:, None], yc[None, :])  # [x face i, row j]
    ky = k(yc[:, None], xf[None, :])  # [column i, y face j]
    idx = np.arange(m * m).reshape(m, m)  # idx[i, j]: x index i, y index j
    diag = (kx[:-1, :] + kx[1:, :] + ky[:, :-1] + ky[:, 1:]).ravel()
    rows = [idx.ravel()]
    cols = [idx.ravel()]
    vals = [diag]
    for a, b, w in (
        (idx[:-1, :], idx[1:, :], kx[1:-1, :]),
        (idx[:, :-1], idx[:, 1:], ky[:, 1:-1]),
    ):
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
        vals += [-w.ravel(), -w.ravel()]
    A = sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m,) * 2
    )
    A.sort_indices()
    return A


def diffusion(m: int, t: float, contrast: float = 2.0) -> sp.csr_array:
    """The smooth drifting coefficient k_t(x, y) = exp(c sin(2 pi (x + t)) cos(2 pi y))."""

    def k(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.exp(contrast * np.sin(2 * np.pi * (x + t)) * np.cos(2 * np.pi * y))

    return five_point(m, k)


def sequence(m: int, steps: int) -> tuple[list[sp.csr_array], np.ndarray]:
    """The matrices (the drift moves the coefficient by a fifth of its period over the
    sequence) and the right-hand sides (one column per step)."""
    mats = [diffusion(m, 0.2 * t / steps) for t in range(steps)]
    B = np.random.default_rng(SEED).standard_normal((m * m, steps))
    return mats, B


def run_fixed(
    mats: list[sp.csr_array], B: np.ndarray, make: Callable[[sp.csr_array], object]
) -> np.ndarray:
    """Iterations per system with the preconditioner make(A) (a fresh solve each)."""
    import rankwise

    its = []
    for t, A in enumerate(mats):
        res = rankwise.solve_cg(A, B[:, t], rtol=RTOL, M=make(A))
        assert res.converged, res.reason
        its.append(res.iterations)
    return np.array(its)


def run_solver(
    mats: list[sp.csr_array], B: np.ndarray, **kw: object
) -> tuple[np.ndarray, tuple[object, list[object], np.ndarray]]:
    """Iterations per system of one CGSolver walked along the sequence (update + solve),
    with (the solver, the parameter each solve used, the seconds of each update + solve)."""
    import rankwise

    solver = rankwise.CGSolver(mats[0], rtol=RTOL, **kw)
    its, params, secs = [], [], []
    for t, A in enumerate(mats):
        start = time.perf_counter()
        if t:
            solver.update(A)
        res = solver.solve(B[:, t])
        secs.append(time.perf_counter() - start)
        assert res.converged, res.reason
        its.append(res.iterations)
        params.append(solver.parameter)
    return np.array(its), (solver, params, np.array(secs))


def learning_table(mats: list[sp.csr_array], B: np.ndarray, kind: str, seeds: int) -> list[str]:
    import rankwise

    if kind == "omega":
        grid = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9)
        cost = {w: run_fixed(mats, B, lambda A, w=w: rankwise.precond.ssor(A, w)) for w in grid}
        per_it = dict.fromkeys(grid, 1)
        default, unit, label = 1.0, "iterations", "omega"
        kw: dict[str, object] = {"M": "ssor", "omega": "learn"}
    else:
        grid = (1, 2, 3, 4, 6, 8, 12, 16)
        cost = {
            d: run_fixed(mats, B, lambda A, d=d: rankwise.precond.chebyshev(A, d)) for d in grid
        }
        per_it = {d: d + 1 for d in grid}
        default, unit, label = 4, "products with A", "degree"
        kw = {"M": "chebyshev", "degree": "learn"}
    total = {v: int(cost[v].sum() * per_it[v]) for v in grid}
    best = min(grid, key=lambda v: total[v])
    oracle = int(sum(min(cost[v][t] * per_it[v] for v in grid) for t in range(len(mats))))
    lines = [
        f"| {label} | " + " | ".join(str(v) for v in grid) + " |",
        "| --- | " + " | ".join("---:" for _ in grid) + " |",
        f"| total {unit} (fixed) | " + " | ".join(str(total[v]) for v in grid) + " |",
        "",
        f"| policy ({len(mats)} systems) | total {unit} | vs best fixed |",
        "| --- | ---: | ---: |",
        f"| fixed {label} = {default} | {total[default]} | {total[default] / total[best]:.2f} |",
        f"| best fixed {label} in hindsight ({best}) | {total[best]} | 1.00 |",
        f"| best per system (instance-optimal) | {oracle} | {oracle / total[best]:.2f} |",
    ]
    learned = []
    for seed in range(seeds):
        its, (_solver, params, _secs) = run_solver(mats, B, random_state=seed, **kw)
        spent = int(
            sum(
                i * (1 + (p if kind == "degree" else 0)) for i, p in zip(its, params, strict=False)
            )
        )
        learned.append(spent)
        lines.append(
            f"| learned, seed {seed} (last 10 used: {', '.join(str(p) for p in params[-10:])}) "
            f"| {spent} | {spent / total[best]:.2f} |"
        )
    mean = float(np.mean(learned))
    lines.append(f"| learned, mean of {seeds} seeds | {mean:.0f} | {mean / total[best]:.2f} |")
    # Without recycling a solve's cost depends only on (value, system), so the learner can be
    # replayed on the measured table: the same choices as the solver makes, over a longer run.
    from rankwise._bandit import TsallisInf

    passes = 10
    ratios = []
    for seed in range(20):
        bandit = TsallisInf(grid, seed)
        spent = 0
        for _ in range(passes):
            for t in range(len(mats)):
                arm = bandit.choose()
                c = float(cost[grid[arm]][t] * per_it[grid[arm]])
                bandit.observe(arm, c)
                spent += c
        ratios.append(spent / (passes * total[best]))
    lines.append(
        f"| learned over {passes} passes ({passes * len(mats)} systems, replayed from the "
        f"table), mean of 20 seeds | - | {np.mean(ratios):.2f} |"
    )
    return lines


def inclusions(m: int, t: float, contrast: float = 1e4, count: int = 3) -> sp.csr_array:
    """5-point matrix of -div(k grad u) with k = contrast in count x count small squares
    (side 0.16, drifting sideways with t) and 1 elsewhere: count^2 isolated tiny eigenvalues,
    the textbook case for deflation (Vuik, Segal & Meijerink 1999)."""
    centers = [((i + 0.5) / count, (j + 0.5) / count) for i in range(count) for j in range(count)]

    def k(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.ones(np.broadcast(x, y).shape)
        for cx, cy in centers:
            inside = (np.abs(x - cx - 0.02 * np.sin(t)) < 0.08) & (np.abs(y - cy) < 0.08)
            out[inside] = contrast
        return out

    return five_point(m, k)


def recycling_table(m: int, steps: int, r: int, repeats: int = 3) -> list[str]:
    A0 = diffusion(m, 0.0)
    B20 = np.random.default_rng(SEED + 1).standard_normal((m * m, 20))
    mats, B = sequence(m, steps)
    m_inc = 64
    inc = [inclusions(m_inc, 0.02 * t) for t in range(steps)]
    B_inc = np.random.default_rng(SEED + 2).standard_normal((m_inc * m_inc, steps))
    lines = [
        "| sequence (IC(0), rtol 1e-8) | r | iterations, r = 0 | with r | last solve, r = 0 "
        "| with r | seconds, r = 0 | with r | last 10 solves, r = 0 | with r |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, ms, rhs, rr in (
        (f"smooth k, same A, 20 right-hand sides (n = {m * m:,})", [A0] * 20, B20, r),
        (f"smooth k, drifting, {steps} systems (n = {m * m:,})", mats, B, r),
        (f"9 inclusions k = 1e4, drifting, {steps} systems (n = {m_inc**2:,})", inc, B_inc, 12),
    ):
        secs: dict[int, list[np.ndarray]] = {0: [], rr: []}
        its: dict[int, np.ndarray] = {}
        for _ in range(repeats):  # round-robin: both variants see the same machine state
            for k in (0, rr):
                got, (_s, _p, per_solve) = run_solver(ms, rhs, M="ic0", recycle=k)
                secs[k].append(per_solve)
                its[k] = got
        total = {k: float(np.median([v.sum() for v in secs[k]])) for k in secs}
        last = {k: float(np.median([v[-10:].sum() for v in secs[k]])) for k in secs}
        lines.append(
            f"| {name} | {rr} | {its[0].sum()} | {its[rr].sum()} | {its[0][-1]} | {its[rr][-1]} "
            f"| {total[0]:.3f} | {total[rr]:.3f} | {last[0]:.3f} | {last[rr]:.3f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=48, help="grid points per side")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the learner")
    parser.add_argument("--recycle", type=int, default=8)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    mats, B = sequence(args.m, args.steps)
    n = args.m**2
    print(f"2-D diffusion, n = {n:,}, {args.steps} systems, rtol {RTOL:g}\n")
    print("SSOR omega:\n")
    print("\n".join(learning_table(mats, B, "omega", args.seeds)))
    print("\nChebyshev degree:\n")
    print("\n".join(learning_table(mats, B, "degree", args.seeds)))
    print("\nRecycling a deflation subspace:\n")
    print("\n".join(recycling_table(args.m, args.steps, args.recycle)))
    print(f"\n({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
