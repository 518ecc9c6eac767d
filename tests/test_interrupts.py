"""Ctrl-C returns control before the native work ends and leaves objects usable, also when
the native call is inside one long LAPACK routine (rankwise/_interrupt.py): a Zha-Simon
update whose core SVD takes seconds, and the EIM greedy loop.  Nothing is timed: the tests
check where the interrupt was handled (how soon is a matter for bench/)."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from interrupt_support import interrupt_inside_core


def test_ctrl_c_during_a_long_update_returns_at_once_and_leaves_the_updater_unchanged() -> None:
    rng = np.random.default_rng(0)
    A = sp.random_array((6000, 1500), density=0.004, rng=rng, format="csr")
    E = sp.random_array((2500, 1500), density=0.01, rng=rng, format="csr")
    up = rankwise.SVDUpdater(32, method="zha-simon", random_state=0).fit(A)
    before = up.svd()
    with (
        interrupt_inside_core(0.2, from_first_core_call=False) as record,
        pytest.raises(KeyboardInterrupt),
    ):
        up.add_rows(E)  # the (k + 2500)^2 core SVD alone takes seconds
    # handled by the main thread while the update ran in its worker thread (a call made in
    # the main thread would get it only at its next check, after a LAPACK routine ends)
    assert record.worker_running
    assert not record.inside_core
    # Unchanged (the abandoned worker stops before committing) and usable again.
    for got, want in zip(up.svd(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert up.n_updates == 0
    small = E[:50]
    up.add_rows(small)
    fresh = rankwise.SVDUpdater(32, method="zha-simon", random_state=0).fit(A).add_rows(small)
    np.testing.assert_allclose(up.s, fresh.s, rtol=1e-12)


def test_ctrl_c_during_a_long_eim_greedy_stops_it_inside() -> None:
    rng = np.random.default_rng(1)
    S = rng.standard_normal((40_000, 300))  # every term streams the 96 MB residual
    with interrupt_inside_core(0.3) as record, pytest.raises(KeyboardInterrupt):
        rankwise.eim(S, max_terms=300, tol=0.0)
    assert record.inside_core  # the greedy loop checks between terms
    small = rankwise.eim(S[:2000, :50], max_terms=5)  # the module still works
    assert small.points.size == 5
