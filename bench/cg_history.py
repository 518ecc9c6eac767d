"""Residual history of rankwise's CG with each preconditioner: ``python -m bench.cg_history``.

Writes ``bench/cg_history.png`` (relative residual norm against iteration, one panel per
problem) and prints the iteration counts to rtol 1e-8 as a Markdown table.  Iteration counts
do not depend on the machine, so this needs no quiet machine.
"""

import argparse
from pathlib import Path

import numpy as np

from .cg import PRECONDITIONERS, PROBLEMS, RTOL, SEED, SPARSE_ONLY

PROBLEM_SIZES = {"poisson2d": 100, "anisotropic2d": 100, "elasticity2d": 71, "kernel_ridge": 1000}


def histories() -> dict[str, dict[str, np.ndarray]]:
    """Relative residual norms per iteration, per problem and preconditioner."""
    import rankwise

    out: dict[str, dict[str, np.ndarray]] = {}
    for kind, size in PROBLEM_SIZES.items():
        A = PROBLEMS[kind](size)
        b = np.random.default_rng(SEED).standard_normal(A.shape[0])
        runs: dict[str, np.ndarray] = {}
        for name, make in [("none", None), *PRECONDITIONERS.items()]:
            if name in SPARSE_ONLY and not hasattr(A, "tocsr"):
                continue
            M = None if make is None else make(rankwise, A)
            res = rankwise.solve_cg(A, b, rtol=RTOL, maxiter=20 * A.shape[0], M=M)
            runs[name] = res.residual_norms / np.linalg.norm(b)
        out[f"{kind} n={A.shape[0]:,}"] = runs
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, default=Path(__file__).with_name("cg_history.png"))
    args = parser.parse_args(argv)
    data = histories()
    names = list(dict.fromkeys(n for runs in data.values() for n in runs))
    print("| problem | " + " | ".join(names) + " |")
    print("| --- | " + " | ".join("---:" for _ in names) + " |")
    for problem, runs in data.items():
        cells = [str(len(runs[n]) - 1) if n in runs else "-" for n in names]
        print(f"| {problem} | " + " | ".join(cells) + " |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(5 * len(data), 4), squeeze=False)
    for ax, (problem, runs) in zip(axes[0], data.items(), strict=True):
        for name, h in runs.items():
            ax.semilogy(h, label=name, color=f"C{names.index(name)}")
        ax.axhline(RTOL, color="gray", linestyle=":", linewidth=1)
        ax.set_title(problem)
        ax.set_xlabel("iteration")
        ax.set_ylabel("||r|| / ||b||")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=80)
    print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
