"""Check a case's measured results against its targets."""

from dataclasses import dataclass

from .case import FloorTarget, MemoryTarget, SpeedupTarget, Target
from .runner import CaseResult, Measurement


@dataclass(frozen=True)
class Verdict:
    """Outcome of one target; ``passed`` is None when it could not be checked."""

    case: str
    target: str
    value: str
    passed: bool | None

    @property
    def status(self) -> str:
        """PASS, FAIL or n/a."""
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def describe(target: Target, limit: str) -> str:
    """The target in words."""
    if isinstance(target, SpeedupTarget):
        who = f"{target.ours}: " if target.ours else ""
        if target.min_ratio < 1:  # a time budget relative to the peer: "at most 1.3x its time"
            speed = f"at most {1 / target.min_ratio:.3g}x the time of {target.peer}"
        else:
            speed = f">= {target.min_ratio:g}x faster than {target.peer}"
        return f"{who}{speed} at equal or better accuracy"
    if isinstance(target, FloorTarget):
        return f">= {target.min_fraction:.0%} of the {limit} floor"
    return f"peak extra memory <= {target.max_blocks:g} (m+n)(k+p) blocks"


def _accuracy_shortfalls(
    result: CaseResult, base: Measurement, peer: Measurement, target: SpeedupTarget
) -> list[str]:
    """Metrics on which the baseline is less accurate than the target allows."""
    if base.assessment is None or peer.assessment is None:
        return ["accuracy unknown"]
    worse = []
    for metric in result.case.metrics:
        ours = base.assessment.metrics.get(metric.key)
        theirs = peer.assessment.metrics.get(metric.key)
        if ours is None or theirs is None:
            continue
        if ours > target.slack * theirs + target.tol:
            worse.append(
                f"{metric.header} {ours:{metric.fmt}} > {target.slack:g} x {theirs:{metric.fmt}}"
            )
    return worse


def _value(result: CaseResult, base: Measurement, target: Target) -> tuple[str, bool | None]:
    """Achieved value of ``target`` in words, and whether it passes."""
    if isinstance(target, SpeedupTarget):
        if target.ours is not None:
            base = result.find(target.ours)
            if base is None:
                return f"{target.ours} did not run", None
        peer = result.find(target.peer)
        ratio = None if peer is None else result.ratio(peer, base)
        if peer is None or ratio is None:
            return f"{target.peer} did not run", None
        worse = _accuracy_shortfalls(result, base, peer, target)
        accuracy = "accuracy worse: " + "; ".join(worse) if worse else "accuracy ok"
        speed = f"{1 / ratio:.2f}x its time" if target.min_ratio < 1 else f"{ratio:.2f}x"
        return f"{speed}, {accuracy}", ratio >= target.min_ratio and not worse
    if isinstance(target, FloorTarget):
        fraction = result.fraction(base)
        if fraction is None:
            return "not timed", None
        return f"{fraction:.0%}", fraction >= target.min_fraction
    assert isinstance(target, MemoryTarget)
    blocks = result.blocks(base)
    if blocks is None:
        return "memory not measured", None
    return f"{blocks:.1f} blocks", blocks <= target.max_blocks


def evaluate(result: CaseResult) -> list[Verdict]:
    """Verdicts of all the case's targets for its baseline contender."""
    case = result.case
    base = result.find(case.baseline)
    verdicts = []
    for target in case.targets:
        if base is None:
            value, passed = f"{case.baseline} did not run", None
        else:
            value, passed = _value(result, base, target)
        verdicts.append(Verdict(case.name, describe(target, case.limit), value, passed))
    return verdicts
