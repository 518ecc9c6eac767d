"""How much of the machine other processes took while the benchmark ran.

The load average cannot tell: it counts the benchmark's own threads. Instead,
the CPU time all processes used (``/proc/stat``, hypervisor steal included)
minus this process's own CPU time, over the wall time times the core count.
Linux only; elsewhere the share is None.
"""

import os
import resource
import time
from dataclasses import dataclass

NOISY = 0.1
"""Share of the cores taken by others above which timings are flagged."""


@dataclass(frozen=True)
class Snapshot:
    """Wall clock, machine-wide busy CPU time and own CPU time, in seconds."""

    wall: float
    busy: float | None
    own: float


def _busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...
    jiffies = sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))
    return jiffies / os.sysconf("SC_CLK_TCK")


def snapshot() -> Snapshot:
    """The counters now."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Snapshot(time.perf_counter(), _busy_seconds(), usage.ru_utime + usage.ru_stime)


def others_share(since: Snapshot) -> float | None:
    """Fraction of all cores that other processes used since ``since``."""
    now = snapshot()
    if now.busy is None or since.busy is None or now.wall <= since.wall:
        return None
    others = (now.busy - since.busy) - (now.own - since.own)
    return max(0.0, others / ((now.wall - since.wall) * (os.cpu_count() or 1)))


def describe(share: float | None) -> str:
    """The share in words, with a warning when it makes timings unreliable."""
    if share is None:
        return "CPU use of other processes not measured"
    text = f"other processes used {share:.0%} of the cores"
    return text + " (WARNING: timings unreliable)" if share > NOISY else text
