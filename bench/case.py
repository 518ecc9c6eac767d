"""Data model shared by the runner, the reports and the family modules.

A family module (``bench/svd.py``, later ``bench/cg.py`` ...) describes its
benchmarks as :class:`Case` objects. The runner measures the machine limits
named by the cases, calls :attr:`Case.prepare` to generate the data, then
times every :class:`Contender` of the resulting :class:`Workload`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from .machine import GemmShape, Limits

Mode = Literal["quick", "full"]


@dataclass(frozen=True)
class Contender:
    """One implementation to time; ``call()`` runs it on the case's data."""

    name: str
    call: Callable[[], object]
    note: str = ""


@dataclass(frozen=True)
class Skip:
    """A contender that was not run, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Assessment:
    """Accuracy of one contender's output: metric values (lower is better)."""

    metrics: dict[str, float]
    note: str = ""


@dataclass(frozen=True)
class Metric:
    """An accuracy column: key in :attr:`Assessment.metrics`, header, format."""

    key: str
    header: str
    description: str
    fmt: str = ".1e"


@dataclass(frozen=True)
class Workload:
    """A case's generated data, bound into contenders, accuracy and floor.

    The floor is the time ``work`` (flops for a GEMM limit, bytes for a
    bandwidth limit; ``work_text`` says how it is counted) takes at the
    machine's rate: the best of ``rate``, measured before the cases ran, and
    of ``probe()``, which measures it once more on this case's data and which
    the runner calls in every round, so that a noisy moment of the shared
    machine cannot lower the limit. ``block_bytes`` is the size of one
    (m+n) x (k+p) block, the unit in which extra peak memory is reported.
    """

    contenders: list[Contender]
    skipped: list[Skip]
    assess: Callable[[object], Assessment]
    work: float
    work_text: str
    rate: float
    probe: Callable[[], float]
    block_bytes: int


@dataclass(frozen=True)
class SpeedupTarget:
    """Baseline at least ``min_ratio`` times faster than ``peer``, at equal
    or better accuracy: every metric of the baseline must be at most
    ``slack`` times the peer's plus ``tol``.  ``ours``: the rankwise contender
    held to the target instead of the baseline (a peer running another method
    is compared with rankwise running that method)."""

    peer: str
    min_ratio: float
    slack: float = 1.0
    tol: float = 0.0
    ours: str | None = None


@dataclass(frozen=True)
class FloorTarget:
    """Baseline reaches at least ``min_fraction`` of the machine-limit floor."""

    min_fraction: float


@dataclass(frozen=True)
class MemoryTarget:
    """Baseline's extra peak memory at most ``max_blocks`` (m+n)(k+p) blocks."""

    max_blocks: float


Target = SpeedupTarget | FloorTarget | MemoryTarget


@dataclass(frozen=True)
class Case:
    """One benchmark problem; cheap to create, data is made by ``prepare``.

    Cases with the same ``series`` and different ``size`` form one line of
    the time-vs-size plot. ``limit`` names the machine limit of the floor
    ("GEMM" or "bandwidth"); ``gemm_shapes`` are the products whose GEMM rate
    the runner measures before any case runs. ``settle_s``: the pause before each
    timed call (at least the mode's, bench/runner.py) for cases whose contenders a
    previous one's spinning BLAS threads would slow even in quick mode.
    """

    family: str
    name: str
    series: str
    size: float
    size_label: str
    params: str
    limit: Literal["GEMM", "bandwidth"]
    gemm_shapes: tuple[GemmShape, ...]
    metrics: tuple[Metric, ...]
    targets: tuple[Target, ...]
    prepare: Callable[[Limits], Workload]
    baseline: str
    settle_s: float = 0.0


class Family(Protocol):
    """What a family module provides (see ``bench/__init__.py``)."""

    PACKAGES: tuple[str, ...]

    def cases(self, mode: Mode) -> list[Case]:
        """The cases to run in ``mode``."""
        ...
