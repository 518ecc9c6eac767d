"""Loads the native core with a short OpenMP spin-wait (imported first by rankwise/__init__).

GNU OpenMP (libgomp) lets a thread that reaches a barrier, or the end of a parallel region,
spin for GOMP_SPINCOUNT iterations (300 000 by default, milliseconds) before it sleeps.  The
core runs many short parallel steps (a sparse svds thousands of them), so on a machine whose
cores other processes also use, a waiting thread spins away the time slice its descheduled
partner needs: with two busy processes on this 2-core machine, rankwise.svds on a
20000 x 5000 sparse matrix took 23.5 s instead of 0.5 s, a randomized SVD 0.33 s instead of
0.07 s.  With a spin count of 1000 (what libgomp itself uses when it knows that the machine
is oversubscribed) they take 1.0-1.2 s and 0.13 s there, and the same as before on a quiet
machine (bench/RESULTS.md, "OpenMP waits under contention").

libgomp reads the count once, when it is loaded: so it is set in the environment while the
core (which links libgomp) loads, and removed again at once, leaving the process's
environment as it was.  A user's own GOMP_SPINCOUNT or OMP_WAIT_POLICY wins, and where
libgomp was already loaded by another module, its settings stay as they are.
"""

from __future__ import annotations

import importlib
import os

SPIN_COUNT = "1000"
_USER_SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


def _libgomp_loaded() -> bool:
    """Whether the process already maps the shared libgomp (Linux; False elsewhere)."""
    try:
        with open("/proc/self/maps") as maps:
            return any("/libgomp.so" in line for line in maps)
    except OSError:
        return False


def _load_core() -> str:
    """Imports rankwise._core; returns the OpenMP wait setting in effect, for show_config."""
    users = [f"{name}={os.environ[name]}" for name in _USER_SETTINGS if name in os.environ]
    loaded = _libgomp_loaded()
    if not users:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    try:
        importlib.import_module("._core", __package__)
    finally:
        if not users:
            del os.environ["GOMP_SPINCOUNT"]
    if loaded:
        return "libgomp was loaded before rankwise: its settings stand"
    if users:
        return ", ".join(users) + " (the user's)"
    return f"GOMP_SPINCOUNT={SPIN_COUNT} (rankwise's, while the core loaded)"


WAIT_SETTING = _load_core()
