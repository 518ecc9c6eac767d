"""Ctrl-C in tests without timing anything: where an interrupt was handled.

A simulated Ctrl-C (``_thread.interrupt_main``) runs Python's SIGINT handler at the next
check for signals.  The core checks from inside its loops (``PyErr_CheckSignals``), so the
handler then runs while a ``rankwise._core`` function is still on the stack; a loop that
never checked would get it only after the native call returned.  A call run in a worker
thread (rankwise/_interrupt.py) gets it in the main thread's wait, while the worker runs.
``interrupt_inside_core`` records which happened, with a profile function that counts the
core calls in progress (``c_call`` / ``c_return`` / ``c_exception`` events of the main
thread).
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


class InterruptRecord:
    """Where the handler ran (None: it did not): ``inside_core``, inside a rankwise._core
    call of the main thread; ``worker_running``, while a worker thread of
    rankwise._interrupt.run_interruptibly was running."""

    def __init__(self) -> None:
        self.inside_core: bool | None = None
        self.worker_running: bool | None = None
        self.depth = 0


def _is_core_function(fn: Any) -> bool:
    return getattr(fn, "__module__", None) == "rankwise._core"


@contextlib.contextmanager
def interrupt_inside_core(
    after_seconds: float, from_first_core_call: bool = True
) -> Iterator[InterruptRecord]:
    """Simulates Ctrl-C ``after_seconds`` after the block's first rankwise._core call in
    this thread began (not after the block began: the Python before it, validation for
    instance, can take a loaded machine that long), or after the block began where
    ``from_first_core_call`` is False (a call whose core runs in a worker thread), and
    records where it was handled; the handler raises KeyboardInterrupt as Python's default
    one does."""
    record = InterruptRecord()
    timer = threading.Timer(after_seconds, _thread.interrupt_main)
    started = [False]

    def start_timer() -> None:
        if not started[0]:
            started[0] = True
            timer.start()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and _is_core_function(arg):
            record.depth += 1
            if from_first_core_call:
                start_timer()
        elif event in ("c_return", "c_exception") and _is_core_function(arg):
            record.depth -= 1

    def handler(signum: int, frame: FrameType | None) -> None:
        record.inside_core = record.depth > 0
        record.worker_running = any(
            t.name == "rankwise-native" and t.is_alive() for t in threading.enumerate()
        )
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    sys.setprofile(profile)
    try:
        if not from_first_core_call:
            start_timer()
        yield record
    finally:
        sys.setprofile(None)
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
