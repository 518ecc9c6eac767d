"""Timing harness: run a case's contenders round-robin in one process.

Each contender first makes one warm-up call (untimed for the statistics; its
output is the one whose accuracy is assessed). Then the contenders take turns,
one call each per round, so that a slow phase of the shared machine hits them
all alike. A contender whose warm-up took long gets fewer timed calls, so that
it spends about ``budget_s`` seconds; every contender gets at least one
(a warm-up call longer than the budget counts as the only timed call).

Each round starts with a probe of the machine's GEMM rate on numpy's BLAS. After
a BLAS call, OpenBLAS's worker threads spin for about 0.1 s (its thread timeout)
on the cores that the next call needs: after the probe, and after a contender
that calls numpy's BLAS (scipy's cg calls it twice per iteration: measured on
2 cores, rankwise.cg's 100 iterations at n = 1e5 took twice as long straight
after scipy's cg as after a 0.2 s pause). With ``settle_s`` > 0 (the mode's, or a case's own
``Case.settle_s`` where larger) the runner waits that long before every timed call,
so that each contender starts on idle cores whatever ran before it; ``probe_pause_s``
is the (longer) wait after the probe alone, for modes that pause nowhere else (quick:
there, the round's first contender ran at half speed, measured 0.118 s against 0.048 s
for the same computation by the second one).
"""

import gc
import statistics
import time
import traceback
from dataclasses import dataclass, field

from . import contention
from .case import Assessment, Case, Contender, Skip, Workload
from .machine import Limits
from .memory import PeakMemory


@dataclass
class Measurement:
    """Timings, peak memory and accuracy of one contender on one case."""

    contender: str
    note: str = ""
    times: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    assessment: Assessment | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        """Median time of the timed calls (None if none succeeded)."""
        return statistics.median(self.times) if self.times else None

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the timed calls."""
        median = self.median
        if median is None or median <= 0.0:
            return None
        return (max(self.times) - min(self.times)) / median

    @property
    def peak(self) -> int | None:
        """Median peak extra resident memory of the timed calls, in bytes.

        Only timed calls count: the warm-up call may include one-time costs
        (lazy imports, thread pools) that a steady-state user does not pay.
        """
        return int(statistics.median(self.peaks)) if self.peaks else None


@dataclass
class CaseResult:
    """Everything measured for one case."""

    case: Case
    measurements: list[Measurement]
    skipped: list[Skip]
    work: float
    work_text: str
    rate: float
    probes: int
    block_bytes: int
    setup_s: float
    others: float | None

    @property
    def floor_s(self) -> float:
        """Time of the case's work at the machine's best measured rate."""
        return self.work / self.rate

    @property
    def floor_text(self) -> str:
        """How the floor is computed, in words."""
        unit = "FLOP" if self.case.limit == "GEMM" else "B"
        probes = f"{self.probes} probe{'' if self.probes == 1 else 's'}"
        return (
            f"{self.work_text} = {self.work / 1e9:.3g} G{unit} at {self.rate / 1e9:.1f} "
            f"G{unit}/s (best of the start-up measurement and {probes} during the case) "
            f"= {self.floor_s:.3g} s"
        )

    def find(self, name: str) -> Measurement | None:
        """The measurement of contender ``name``, if it ran without error."""
        for m in self.measurements:
            if m.contender == name and m.median is not None:
                return m
        return None

    def ratio(self, m: Measurement, base: Measurement | None = None) -> float | None:
        """Contender time over the time of ``base``, by default the case's baseline (> 1:
        ``base`` is faster)."""
        if base is None:
            base = self.find(self.case.baseline)
        if base is None or base.median is None or m.median is None:
            return None
        return m.median / base.median

    def fraction(self, m: Measurement) -> float | None:
        """Fraction of the machine-limit floor that the contender reaches."""
        return None if m.median is None else self.floor_s / m.median

    def blocks(self, m: Measurement) -> float | None:
        """Peak extra memory in units of one (m+n) x (k+p) block."""
        return None if m.peak is None else m.peak / self.block_bytes


def _error_text(exc: BaseException) -> str:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return last if len(last) <= 200 else last[:197] + "..."


class Runner:
    """Runs cases with a fixed repeat count and per-contender time budget."""

    def __init__(
        self,
        limits: Limits,
        repeat: int,
        budget_s: float,
        settle_s: float = 0.0,
        probe_pause_s: float = 0.0,
    ) -> None:
        self.limits = limits
        self.repeat = repeat
        self.budget_s = budget_s
        self.settle_s = settle_s
        self.probe_pause_s = probe_pause_s
        self.memory = PeakMemory()

    def _call(self, contender: Contender) -> tuple[float, int | None, object]:
        gc.collect()
        start_rss = self.memory.start() if self.memory.available else 0
        start = time.perf_counter()
        output = contender.call()
        seconds = time.perf_counter() - start
        peak = self.memory.increment(start_rss) if self.memory.available else None
        return seconds, peak, output

    def _warm_up(self, contender: Contender, work: Workload) -> tuple[Measurement, int]:
        """Warm-up call and accuracy check; returns the number of timed runs.

        A warm-up call longer than the whole budget is the only timed call:
        one-time costs are small next to it, and a second call would double
        the time spent on a contender that is already far too slow.
        """
        m = Measurement(contender.name, contender.note)
        try:
            seconds, peak, output = self._call(contender)
            m.assessment = work.assess(output)
        except Exception as exc:  # a failing contender must not stop the run
            m.error = _error_text(exc)
            return m, 0
        if seconds > self.budget_s:
            m.times.append(seconds)
            m.peaks += [] if peak is None else [peak]
            m.note = "; ".join(x for x in (m.note, "timed once (warm-up call)") if x)
            return m, 0
        runs = int(self.budget_s / max(seconds, 1e-9))
        return m, max(1, min(self.repeat, runs))

    def run(self, case: Case) -> CaseResult:
        """Prepare the case's data and time its contenders round-robin."""
        before = contention.snapshot()
        start = time.perf_counter()
        work = case.prepare(self.limits)
        setup_s = time.perf_counter() - start
        rates = [work.rate, work.probe()]
        plan = [(c, *self._warm_up(c, work)) for c in work.contenders]
        settle_s = max(self.settle_s, case.settle_s)
        for round_ in range(self.repeat):
            pause = settle_s
            if any(round_ < runs for _, _, runs in plan):
                rates.append(work.probe())
                pause = max(settle_s, self.probe_pause_s)  # its BLAS threads spin meanwhile
            for contender, m, runs in plan:
                if round_ >= runs or m.error is not None:
                    continue
                time.sleep(pause)
                pause = settle_s
                try:
                    seconds, peak, output = self._call(contender)
                except Exception as exc:
                    m.error = _error_text(exc)
                    continue
                del output  # free it before the next contender runs
                m.times.append(seconds)
                if peak is not None:
                    m.peaks.append(peak)
        return CaseResult(
            case=case,
            measurements=[m for _, m, _ in plan],
            skipped=work.skipped,
            work=work.work,
            work_text=work.work_text,
            rate=max(rates),
            probes=len(rates) - 1,
            block_bytes=work.block_bytes,
            setup_s=setup_s,
            others=contention.others_share(before),
        )
