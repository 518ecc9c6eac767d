"""Time-vs-size plot (matplotlib, Agg backend): one panel per series."""

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from .runner import CaseResult


def _series(results: list[CaseResult]) -> dict[str, list[CaseResult]]:
    """Results grouped by series, sorted by size; series with a single size are
    kept only when no series has several."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[f"{r.case.family}: {r.case.series}"].append(r)
    sweeps = {k: v for k, v in groups.items() if len({r.case.size for r in v}) > 1}
    chosen = sweeps or dict(groups)
    return {k: sorted(v, key=lambda r: r.case.size) for k, v in chosen.items()}


def plot(results: list[CaseResult], path: Path, title: str) -> None:
    """Median time of every contender against problem size, log-log."""
    groups = _series(results)
    if not groups:
        return
    fig, axes = plt.subplots(
        1, len(groups), figsize=(5.5 * len(groups), 4.5), squeeze=False, layout="constrained"
    )
    for ax, (series, runs) in zip(axes[0], groups.items(), strict=True):
        lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in runs:
            for m in r.measurements:
                if m.median is not None:
                    lines[m.contender].append((r.case.size, m.median))
        for name, points in lines.items():
            xs, ys = zip(*points, strict=True)
            style = "-o" if name == runs[0].case.baseline else "--s"
            ax.plot(xs, ys, style, label=name, markersize=4)
        floors = [(r.case.size, r.floor_s) for r in runs]
        xs, ys = zip(*floors, strict=True)
        ax.plot(xs, ys, ":", color="black", label=f"{runs[0].case.limit} floor")
        ax.set(xscale="log", yscale="log", title=series, ylabel="median time (s)")
        ax.set_xlabel(runs[0].case.size_label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.savefig(path, dpi=120)
    plt.close(fig)
