"""Peak resident memory of one call, native (C++/BLAS) allocations included.

tracemalloc sees only Python's allocator, so instead this uses the kernel's
high-water mark of the process's resident set (``VmHWM``), which Linux lets a
process reset by writing ``5`` to ``/proc/self/clear_refs``. Before a call the
freed heap is returned to the OS (glibc ``malloc_trim``), the mark is reset
and the resident size noted; after the call the increment of the mark over
that size is the call's peak extra memory, its outputs included.

Limits: Linux only (elsewhere :attr:`PeakMemory.available` is False); pages
that an allocation never touches are not counted; memory that the allocator
keeps cached in spite of ``malloc_trim`` makes the increment an underestimate.
"""

import ctypes
import ctypes.util
import re
from collections.abc import Callable

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int:
    with open(_STATUS) as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    if match is None:
        raise OSError(f"{field} not in {_STATUS}")
    return int(match.group(1))


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


class PeakMemory:
    """Measure the peak resident-memory increment of a call (see module doc)."""

    def __init__(self) -> None:
        self._malloc_trim = _load_malloc_trim()
        try:
            self.start()
            _status_kib("VmHWM")
            self.available = True
        except OSError:
            self.available = False

    def start(self) -> int:
        """Trim the heap, reset the high-water mark; return resident bytes."""
        if self._malloc_trim is not None:
            self._malloc_trim(0)
        with open(_CLEAR_REFS, "w") as f:
            f.write("5")
        return 1024 * _status_kib("VmRSS")

    def increment(self, start: int) -> int:
        """Peak resident bytes since :meth:`start` returned ``start``."""
        return max(0, 1024 * _status_kib("VmHWM") - start)
