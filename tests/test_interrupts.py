"""Ctrl-C returns control within a second and leaves objects usable, also when the native
call is inside one long LAPACK routine (rankwise/_interrupt.py): a Zha-Simon update whose
core SVD takes seconds, and a CG solve."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp


def _interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_during_a_long_update_returns_at_once_and_leaves_the_updater_unchanged() -> None:
    rng = np.random.default_rng(0)
    A = sp.random_array((6000, 1500), density=0.004, rng=rng, format="csr")
    E = sp.random_array((2500, 1500), density=0.01, rng=rng, format="csr")
    up = rankwise.SVDUpdater(32, method="zha-simon", random_state=0).fit(A)
    before = up.svd()
    timer = _interrupt_after(0.2)
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            up.add_rows(E)  # the (k + 2500)^2 core SVD alone takes seconds
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 1.0
    # Unchanged (the abandoned worker stops before committing) and usable again.
    for got, want in zip(up.svd(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert up.n_updates == 0
    small = E[:50]
    up.add_rows(small)
    fresh = rankwise.SVDUpdater(32, method="zha-simon", random_state=0).fit(A).add_rows(small)
    np.testing.assert_allclose(up.s, fresh.s, rtol=1e-12)


def test_ctrl_c_during_a_long_eim_greedy_returns_at_once() -> None:
    rng = np.random.default_rng(1)
    S = rng.standard_normal((40_000, 300))  # every term streams the 96 MB residual
    timer = _interrupt_after(0.3)
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            rankwise.eim(S, max_terms=300, tol=0.0)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 1.3  # 0.3 s until Ctrl-C, then at most one term
    small = rankwise.eim(S[:2000, :50], max_terms=5)  # the module still works
    assert small.points.size == 5
