"""Regression tests for what the coverage-guided fuzzer (tests/fuzz/fuzz_entry_points.py,
atheris) found: one test per finding, on the smallest input that showed it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp

SPD = np.array(
    [[2.033259783401407, 0.06666266579770692], [0.06666266579770692, 2.4211452057795197]]
)
B = np.array([6.857655085992109, 0.9470809631292422])


@pytest.mark.parametrize(
    "call",
    [
        lambda A: rankwise.svd(A, 2, random_state=0)[1],
        lambda A: rankwise.randomized_svd(A, 2, random_state=0)[1],
        lambda A: rankwise.cur(A, 2).to_dense(),
        lambda A: rankwise.deim(A).points,
        lambda A: rankwise.eim(A, max_terms=2).points,
    ],
)
def test_byte_swapped_float64_is_accepted(call: Any) -> None:
    """'>f8' (big-endian, as read from some files) was refused with "has dtype >f8; convert
    it to float32 or float64"; SciPy and scikit-learn accept it.  Same result as native."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 3))
    swapped = A.astype(">f8")
    before = swapped.copy()
    np.testing.assert_array_equal(call(swapped), call(A))
    assert swapped.dtype == np.dtype(">f8")
    np.testing.assert_array_equal(swapped, before)


@pytest.mark.parametrize(
    ("scale", "dtype"),
    [(10.0**e, np.float64) for e in (304, 200, -160, -300, -310)]
    + [(10.0**e, np.float32) for e in (37, 25, -20, -36, -40)],
)
def test_cg_right_hand_sides_of_extreme_magnitude(scale: float, dtype: Any) -> None:
    """b ~ 1e-300: r.r underflowed to 0 and cg returned x = 0 with info = 0 (a silently
    wrong answer); b ~ 1e304: r.r overflowed and cg raised CGBreakdownError on a
    well-conditioned system.  The right-hand side is now scaled by a power of two."""
    b = (B * scale).astype(dtype)
    A = SPD.astype(dtype)
    x_true = np.linalg.solve(SPD, b.astype(np.float64))
    seen: list[np.ndarray] = []
    x, info = rankwise.cg(A, b, rtol=1e-6, callback=lambda xk: seen.append(xk.copy()))
    assert info == 0
    assert x.dtype == dtype
    tol = 1e-5 if dtype is np.float32 else 1e-12
    subnormal = abs(scale) < np.finfo(dtype).tiny * 1e3
    np.testing.assert_allclose(x, x_true, rtol=1e-3 if subnormal else tol)
    np.testing.assert_array_equal(seen[-1], x)  # the callback sees the unscaled iterate
    res = rankwise.solve_cg(sp.csr_array(A), np.c_[b, B.astype(dtype)], rtol=1e-6)
    assert res.converged
    np.testing.assert_allclose(res.x[:, 0], x_true, rtol=1e-3 if subnormal else tol)
    bnorm = scale * np.linalg.norm(b.astype(np.float64) / scale)
    np.testing.assert_allclose(res.residual_norms[0, 0], bnorm, rtol=1e-6)


def test_cg_solver_right_hand_side_of_tiny_magnitude() -> None:
    solver = rankwise.CGSolver(sp.csr_array(SPD), rtol=1e-10)
    res = solver.solve(B * 1e-300)
    assert res.converged
    np.testing.assert_allclose(res.x, np.linalg.solve(SPD, B) * 1e-300, rtol=1e-12)


@pytest.mark.parametrize("eps_or_k", [0.0, 1e-3, 2])
@pytest.mark.parametrize("rand", [False, True])
def test_interp_decomp_entries_near_the_float_maximum(eps_or_k: float, rand: bool) -> None:
    """Entries near 1.8e308: the pivoted QR's column norms overflowed; LAPACK's dgeqp3 then
    looped forever (eps = 0) or the rank came out 0 (eps = 1e-3).  Rank 2 here."""
    A = np.zeros((7, 8))
    A[0, :] = -1.3747065148947121e308
    A[1, 0] = -1.3747065148947121e308
    A[1, 1] = -1.7976931348623157e308
    before = A.copy()
    out = rankwise.interp_decomp(A, eps_or_k, rand, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(A, before)
    k, idx, proj = (2, *out) if eps_or_k == 2 else out
    assert k == 2
    scaled = np.ldexp(A, -1000)  # the check in a range where products do not overflow
    B = scaled[:, idx[:k]]
    np.testing.assert_allclose(B @ proj, scaled[:, idx[k:]], atol=1e-12 * np.abs(scaled).max())
