"""Render results: plain-text tables for the terminal, Markdown and CSV."""

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import contention
from .case import Case
from .machine import Limits, describe_threadpool
from .runner import CaseResult, Measurement
from .targets import Verdict

_GIGA = 1e9
_MIB = float(1 << 20)


@dataclass(frozen=True)
class RunInfo:
    """How and when the benchmark ran."""

    mode: str
    command: str
    date: str
    repeat: int
    wall_s: float
    others: float | None


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.1f}%" if fraction < 0.1 else f"{100 * fraction:.0f}%"


def _or_dash(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def machine_lines(limits: Limits) -> list[str]:
    """The machine, its software and its measured limits, one fact a line."""
    versions = ", ".join(f"{k} {v}" for k, v in limits.versions.items())
    lines = [
        f"CPU: {limits.cpu}, {limits.cores} cores; load average (1 min) before the run "
        f"{limits.load:.1f}",
        f"Packages: {versions}",
        *(f"Thread pool {describe_threadpool(p)}" for p in limits.threadpools),
        f"Memory bandwidth (STREAM add, best run): {limits.bandwidth / _GIGA:.1f} GB/s"
        f" on {limits.cores} threads, {limits.bandwidth_one_thread / _GIGA:.1f} GB/s on 1",
    ]
    for shape, rates in limits.gemm.items():
        each = ", ".join(f"{lib} {rate / _GIGA:.1f}" for lib, rate in rates.items())
        best = limits.gemm_rate(shape) / _GIGA
        lines.append(f"GEMM rate {shape} and A^T @ C: {best:.1f} GFLOP/s ({each})")
    return lines


def legend_lines(cases: Sequence[Case]) -> list[str]:
    """What the columns mean."""
    baselines = sorted({c.baseline for c in cases})
    metrics = {m.header: m.description for c in cases for m in c.metrics}
    return [
        f"median s: median wall time of the timed calls (after one warm-up call); "
        f"spread: (max - min) / median; ratio: median time / median time of "
        f"{' or '.join(baselines)} (> 1: rankwise is faster)",
        *(f"{header}: {text}" for header, text in metrics.items()),
        "% of floor: the time the work would take at the machine limit (shown per "
        "case) over the median time",
        "peak MiB: extra resident memory at the peak of a call, outputs included "
        "(median over timed calls); x block: the same in units of one (m+n) x (k+p) "
        "block of the working dtype",
    ]


def _note(m: Measurement) -> str:
    if m.error is not None:
        return f"error: {m.error}"
    notes = [m.note, m.assessment.note if m.assessment else ""]
    return "; ".join(n for n in notes if n)


def table(result: CaseResult) -> tuple[list[str], list[list[str]]]:
    """Header and cells of a case's table, one row per contender."""
    case = result.case
    header = [
        "contender",
        "runs",
        "median s",
        "spread",
        "ratio",
        *(m.header for m in case.metrics),
        "% of floor",
        "peak MiB",
        "x block",
        "note",
    ]
    rows = []
    for m in result.measurements:
        metrics = m.assessment.metrics if m.assessment else {}
        fraction = result.fraction(m)
        rows.append(
            [
                m.contender,
                str(len(m.times)),
                _or_dash(m.median, ".3g"),
                "-" if m.spread is None else _pct(m.spread),
                _or_dash(result.ratio(m), ".2f"),
                *(_or_dash(metrics.get(x.key), x.fmt) for x in case.metrics),
                "-" if fraction is None else _pct(fraction),
                "-" if m.peak is None else f"{m.peak / _MIB:.1f}",
                _or_dash(result.blocks(m), ".1f"),
                _note(m),
            ]
        )
    blank = ["-"] * (len(header) - 2)
    rows += [[s.name, *blank, f"skipped: {s.reason}"] for s in result.skipped]
    return header, rows


def render_text(header: list[str], rows: list[list[str]]) -> str:
    """Aligned plain-text table: names and notes left, numbers right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    last = len(header) - 1

    def line(cells: list[str]) -> str:
        out = []
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            out.append(cell.ljust(width) if i in (0, last) else cell.rjust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def render_markdown(header: list[str], rows: list[list[str]], numeric: bool = True) -> str:
    """GitHub Markdown table; if ``numeric``, the columns between the first
    (names) and the last (notes) are right-aligned."""
    last = len(header) - 1
    align = ["--:" if numeric and 0 < i < last else ":--" for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(align), *(line(r) for r in rows)])


def _case_lines(result: CaseResult) -> list[str]:
    case = result.case
    return [
        f"{case.params}; data setup {result.setup_s:.1f} s; {contention.describe(result.others)}",
        f"floor ({case.limit}): {result.floor_text}",
    ]


def case_text(result: CaseResult, verdicts: list[Verdict]) -> str:
    """A case's title, parameters, table and target verdicts as plain text."""
    header, rows = table(result)
    lines = [f"== {result.case.name}", *_case_lines(result), render_text(header, rows)]
    lines += [f"target {v.target}: {v.value} -> {v.status}" for v in verdicts]
    return "\n".join(lines)


def _verdict_table(verdicts: list[Verdict]) -> str:
    rows = [[v.case, v.target, v.value, v.status] for v in verdicts]
    return render_markdown(["case", "target", "achieved", "status"], rows, numeric=False)


def markdown(
    info: RunInfo, limits: Limits, results: list[CaseResult], verdicts: list[Verdict]
) -> str:
    """Full Markdown report of one run (machine, legend, cases, targets)."""
    parts = [
        f"Command: `{info.command}` ({info.mode} mode, {info.repeat} timed calls per "
        f"contender at most), run on {info.date}, total wall time {info.wall_s:.0f} s; "
        f"during the run {contention.describe(info.others)}.",
        "\n".join(f"- {line}" for line in machine_lines(limits)),
        "Columns:\n\n"
        + "\n".join(f"- {line}" for line in legend_lines([r.case for r in results])),
    ]
    for result in results:
        header, rows = table(result)
        intro = "  \n".join(_case_lines(result))
        parts.append(f"#### {result.case.name}\n\n{intro}\n\n{render_markdown(header, rows)}")
    if verdicts:
        parts.append("#### Targets\n\n" + _verdict_table(verdicts))
    return "\n\n".join(parts) + "\n"


def write_csv(path: Path, info: RunInfo, results: list[CaseResult]) -> None:
    """One CSV row per contender and case, with raw (unformatted) numbers."""
    keys = list(dict.fromkeys(m.key for r in results for m in r.case.metrics))
    fields = ["mode", "family", "case", "series", "size", "contender", "runs"]
    fields += ["median_s", "min_s", "max_s", "ratio", *keys, "limit", "floor_s"]
    fields += ["floor_fraction", "peak_bytes", "peak_blocks", "note"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in results:
            for m in r.measurements:
                metrics = m.assessment.metrics if m.assessment else {}
                writer.writerow(
                    {
                        "mode": info.mode,
                        "family": r.case.family,
                        "case": r.case.name,
                        "series": r.case.series,
                        "size": r.case.size,
                        "contender": m.contender,
                        "runs": len(m.times),
                        "median_s": m.median,
                        "min_s": min(m.times, default=None),
                        "max_s": max(m.times, default=None),
                        "ratio": r.ratio(m),
                        **{k: metrics.get(k) for k in keys},
                        "limit": r.case.limit,
                        "floor_s": r.floor_s,
                        "floor_fraction": r.fraction(m),
                        "peak_bytes": m.peak,
                        "peak_blocks": r.blocks(m),
                        "note": _note(m),
                    }
                )
