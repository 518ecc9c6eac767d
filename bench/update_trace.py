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
    Peers,
    _contender_runs,
    accuracy,
    initial_factors,
    make_stream,
    power_law_graph,
    reference_sigma,
)

SCENARIOS = {"quick": (6000, 60_000, 32, 10), "full": (6000, 60_000, 32, 100)}
"""nodes, sampled edges, k, batches each way"""


def trace(
    nodes: int, edges: int, k: int, batches: int
) -> dict[str, list[tuple[float, float, float]]]:
    """name -> [(cumulative seconds, err/opt, sv err) after each batch]."""
    stream = make_stream(power_law_graph(nodes, edges), True, batches)
    start = initial_factors(stream, k)
    sigmas = [reference_sigma(stream.after(i), k) for i in range(stream.batches)]
    peers = Peers(incsvd=("RPI", "GKL", "ZhaSimon"), exact=True)
    if stream.largest_batch > 200:  # IncSVD ZhaSimon: a Python loop of r^2 / 2 steps
        peers = Peers(incsvd=("RPI", "GKL"))
    out: dict[str, list[tuple[float, float, float]]] = {}
    for name, run in _contender_runs(stream, start, peers)[0].items():
        rows: list[tuple[float, float, float]] = []
        spent = [0.0]  # seconds inside the callback (measuring), excluded
        t0 = time.perf_counter()

        def after(i: int, factors: Callable[[], Factors] | None, rows=rows, spent=spent, t0=t0):
            entered = time.perf_counter()
            metrics = accuracy(stream.after(i), sigmas[i], factors())  # type: ignore[misc]
            rows.append((entered - t0 - spent[0], metrics["err_opt"], metrics["sv_err"]))
            spent[0] += time.perf_counter() - entered

        run(after)
        out[name] = rows
        print(f"{name}: total {rows[-1][0]:.3f} s, final err/opt {rows[-1][1]:.4f}", flush=True)
    return out


def markdown(result: dict[str, list[tuple[float, float, float]]]) -> str:
    batches = len(next(iter(result.values())))
    step = max(2, batches // 10)
    shown = list(range(step - 1, batches, step))
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
        marker = "o" if len(rows) <= 40 else None
        ax1.plot(x, [r[1] for r in rows], marker=marker, ms=3, label=name)
        ax2.plot(x, [r[0] for r in rows], marker=marker, ms=3, label=name)
    total = len(next(iter(result.values())))
    half = total // 2
    for ax in (ax1, ax2):
        ax.axvline(half + 0.5, color="gray", lw=0.8, ls=":")
        ax.set_xlabel(f"batch (1-{half}: rows, {half + 1}-{total}: columns)")
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
    nodes, edges, k, batches = SCENARIOS[args.mode]
    result = trace(nodes, edges, k, batches)
    print()
    print(markdown(result))
    title = f"graph {nodes} nodes, {edges} edges, k = {k}, {batches} + {batches} batches"
    plot(result, args.plot, title)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
