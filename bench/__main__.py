"""Command line: ``python -m bench {quick,full} [options]`` from the repo root."""

import argparse
import gc
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from . import FAMILIES, contention, load, machine, results
from .case import Case
from .plot import plot
from .report import RunInfo, case_text, legend_lines, machine_lines, markdown, write_csv
from .runner import CaseResult, Runner
from .targets import Verdict, evaluate

REPEAT = {"quick": 4, "full": 5}
"""Timed calls per contender (after the warm-up call)."""
BUDGET_S = {"quick": 2.0, "full": 60.0}
"""Seconds of timed calls per contender and case; slower ones run fewer times."""
SETTLE_S = {"quick": 0.0, "full": 0.2}
"""Pause before every timed call (bench/runner.py); none in quick mode, whose whole run
must stay under two minutes, but for the cases that ask for one (Case.settle_s) ..."""
PROBE_PAUSE_S = {"quick": 0.15, "full": 0.2}
"""... and after each round's GEMM probe, in both modes."""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time rankwise against its peers; run from the repository root.",
    )
    parser.add_argument(
        "mode",
        choices=["quick", "full"],
        help="quick: small sizes, under 2 minutes on 2 cores; full: the issue's sizes",
    )
    parser.add_argument(
        "--family", action="append", choices=sorted(FAMILIES), help="repeatable; default: all"
    )
    parser.add_argument(
        "--case",
        metavar="TEXT",
        help="run only the cases whose name contains TEXT, or one of TEXT's |-separated "
        "alternatives (not with --update-results)",
    )
    parser.add_argument(
        "--repeat", type=int, metavar="N", help="timed calls per contender (default 5)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="timed seconds per contender and case (default 2 quick, 60 full)",
    )
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown report")
    parser.add_argument("--csv", type=Path, metavar="PATH", help="write the results as CSV")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="write time vs size (PNG)")
    parser.add_argument(
        "--update-results",
        action="store_true",
        help="rewrite this mode's generated sections of bench/RESULTS.md",
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.case and args.update_results:
        parser.error("--case runs a subset; it cannot rewrite the sections of RESULTS.md")
    return args


def _selected(name: str, case: str | None) -> bool:
    """Whether --case selects the case called name ("dense|cg": either)."""
    return not case or any(part in name for part in case.split("|"))


def _results_body(
    info: RunInfo,
    limits: machine.Limits,
    family_results: list[CaseResult],
    verdicts: list[Verdict],
    plot_path: Path | None,
) -> str:
    body = markdown(info, limits, family_results, verdicts)
    if plot_path is not None:
        link = os.path.relpath(plot_path.resolve(), results.RESULTS.parent.resolve())
        body += f"\n![time vs size]({link})\n"
    return body


def main(argv: list[str] | None = None) -> int:
    """Run the selected families, print the tables, write the requested files."""
    args = _parse(argv)
    start = time.perf_counter()
    before = contention.snapshot()
    families = args.family or list(FAMILIES)
    modules = {name: load(name) for name in families}
    # The runner collects garbage before every timed call; with scikit-learn and dask
    # imported a full collection costs ~0.1 s, so move what exists now out of its reach.
    gc.freeze()
    cases: dict[str, list[Case]] = {
        name: [c for c in m.cases(args.mode) if _selected(c.name, args.case)]
        for name, m in modules.items()
    }
    all_cases = [c for group in cases.values() for c in group]
    repeat = args.repeat or REPEAT[args.mode]
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    print(f"rankwise benchmarks, {args.mode} mode: {command}", flush=True)
    limits = machine.measure(
        [shape for case in all_cases for shape in case.gemm_shapes],
        dict.fromkeys(p for m in modules.values() for p in m.PACKAGES),
    )
    print("\n".join([*machine_lines(limits), *legend_lines(all_cases)]) + "\n", flush=True)

    runner = Runner(
        limits,
        repeat,
        args.budget or BUDGET_S[args.mode],
        SETTLE_S[args.mode],
        PROBE_PAUSE_S[args.mode],
    )
    done: dict[str, list[CaseResult]] = {}
    verdicts: dict[str, list[Verdict]] = {}
    for family, group in cases.items():
        for case in group:
            result = runner.run(case)
            checks = evaluate(result)
            done.setdefault(family, []).append(result)
            verdicts.setdefault(family, []).extend(checks)
            print(case_text(result, checks) + "\n", flush=True)

    info = RunInfo(
        mode=args.mode,
        command=command,
        date=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        repeat=repeat,
        wall_s=time.perf_counter() - start,
        others=contention.others_share(before),
    )
    print("Targets:")
    for check in (v for group in verdicts.values() for v in group):
        print(f"  {check.status:4}  {check.case}: {check.target}: {check.value}")
    print(f"Total wall time: {info.wall_s:.0f} s; {contention.describe(info.others)}")

    flat = [r for group in done.values() for r in group]
    for path in (args.plot, args.csv, args.markdown):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    if args.plot:
        plot(flat, args.plot, f"rankwise {args.mode} benchmarks ({limits.cpu})")
    if args.csv:
        write_csv(args.csv, info, flat)
    if args.markdown:
        sections = [
            f"## {family}\n\n" + markdown(info, limits, rs, verdicts[family])
            for family, rs in done.items()
        ]
        title = f"# rankwise benchmarks, {args.mode} mode\n\n"
        args.markdown.write_text(title + "\n".join(sections))
    if args.update_results:
        for family, rs in done.items():
            body = _results_body(info, limits, rs, verdicts[family], args.plot)
            results.update(args.mode, family, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
