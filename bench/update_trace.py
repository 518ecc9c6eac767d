"""Accuracy and cumulative time after every batch, for the update family's graph scenario.

``python -m bench.update_trace [quick|full] [--plot PATH]`` runs every contender of
:mod:`bench.update` once through the batches (rows, then columns) and, after each batch,
measures err/opt and the singular values' error against ``rankwise.svds`` of the current
matrix.  The time spent measuring is excluded from the cumulative time.  Prints a Markdown
table (every other batch) and writes a two-panel plot.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .update import (
    Factors,
    _contender_runs,
    accuracy,
    initial_factors,
    make_stream,
    reference_sigma,
)

SCENARIOS = {"quick": (6000, 60_000, 32), "full": (20_000, 300_000, 64)}


def trace(nodes: int, edges: int, k: int) -> dict[str, list[tuple[float, float, float]]]:
    """name -> [(cumulative seconds, err/opt, sv err) after each batch]."""
    stream = make_stream(nodes, edges, with_columns=True)
    start = initial_factors(stream, k)
    sigmas = [reference_sigma(a, k) for a in stream.after]
    out: dict[str, list[tuple[float, float, float]]] = {}
    for name, run in _contender_runs(stream, start, rows_only=False).items():
        rows: list[tuple[float, float, float]] = []
        spent = [0.0]  # seconds inside the callback (measuring), excluded
        t0 = time.perf_counter()

        def after(i: int, factors: Callable[[], Factors] | None, rows=rows, spent=spent, t0=t0):
            entered = time.perf_counter()
            metrics = accuracy(stream.after[i], sigmas[i], factors())  # type: ignore[misc]
            rows.append((entered - t0 - spent[0], metrics["err_opt"], metrics["sv_err"]))
            spent[0] += time.perf_counter() - entered

        run(after)
        out[name] = rows
        print(f"{name}: total {rows[-1][0]:.3f} s, final err/opt {rows[-1][1]:.4f}", flush=True)
    return out


def markdown(result: dict[str, list[tuple[float, float, float]]]) -> str:
    batches = len(next(iter(result.values())))
    shown = list(range(1, batches, 2))
    head = "| contender | " + " | ".join(f"b{i + 1}" for i in shown) + " |"
    lines = [head, "|" + " --- |" * (len(shown) + 1)]
    for name, rows in result.items():
        cells = [f"{rows[i][1]:.4f} / {rows[i][0]:.2f}s" for i in shown]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(result: dict[str, list[tuple[float, float, float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, rows in result.items():
        x = np.arange(1, len(rows) + 1)
        ax1.plot(x, [r[1] for r in rows], marker="o", ms=3, label=name)
        ax2.plot(x, [r[0] for r in rows], marker="o", ms=3, label=name)
    half = len(next(iter(result.values()))) // 2 + 0.5
    for ax in (ax1, ax2):
        ax.axvline(half, color="gray", lw=0.8, ls=":")
        ax.set_xlabel("batch (1-10: rows, 11-20: columns)")
    ax1.set_ylabel("||A - U S Vt||_F / ||A - A_k||_F")
    ax2.set_ylabel("cumulative update time (s)")
    ax2.set_yscale("log")
    ax1.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.update_trace")
    parser.add_argument("mode", choices=sorted(SCENARIOS), nargs="?", default="quick")
    parser.add_argument("--plot", type=Path, default=Path("bench/update_trace.png"))
    args = parser.parse_args()
    nodes, edges, k = SCENARIOS[args.mode]
    result = trace(nodes, edges, k)
    print()
    print(markdown(result))
    plot(result, args.plot, f"graph {nodes} nodes, {edges} edges, k = {k}: per batch")
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
