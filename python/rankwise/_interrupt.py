"""Ctrl-C during native calls that spend long stretches inside one LAPACK routine.

The native loops check for Ctrl-C between steps (every 0.1 s in CG), but a single LAPACK call
(the SVD of a (k + s) x (k + s) core matrix in a Zha-Simon update, say) cannot be stopped
inside.  ``run_interruptibly`` therefore runs such a call in a worker thread while the main
thread waits in short, interruptible joins: on Ctrl-C it marks the worker cancelled and
raises KeyboardInterrupt at once.  The worker stops at its next check (the core's interrupt
checker calls :func:`raise_if_cancelled`), before it commits anything, and its result is
dropped.  A per-object lock makes the next call on the same object wait for an abandoned
worker, so an object interrupted this way is usable again (and unchanged).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")

POLL_SECONDS = 0.05
_worker = threading.local()  # .cancel: the Event of the call a worker thread runs


def raise_if_cancelled() -> None:
    """Called by the core's interrupt checker (with the GIL): stops a worker whose caller
    was interrupted."""
    cancel = getattr(_worker, "cancel", None)
    if cancel is not None and cancel.is_set():
        raise KeyboardInterrupt("cancelled: the caller was interrupted")


def run_interruptibly(fn: Callable[..., R], *args: Any, lock: threading.Lock | None = None) -> R:
    """``fn(*args)`` in a worker thread, returning control on Ctrl-C within POLL_SECONDS.

    Off the main thread (where Python delivers no signals) it is a plain call.
    """
    guard = lock if lock is not None else contextlib.nullcontext()
    if threading.current_thread() is not threading.main_thread():
        with guard:
            return fn(*args)
    outcome: dict[str, Any] = {}
    cancel = threading.Event()  # one per call: nothing is left behind for other threads

    def work() -> None:
        _worker.cancel = cancel
        try:
            with guard:
                outcome["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="rankwise-native", daemon=True)
    try:
        worker.start()  # (start waits for the thread: Ctrl-C may land here too)
        while worker.is_alive():
            worker.join(POLL_SECONDS)
    except KeyboardInterrupt:
        cancel.set()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
