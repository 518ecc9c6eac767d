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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cg_right_hand_side_at_the_float_maximum(dtype: Any) -> None:
    """A column of b holding the largest finite float: its scale 2^1024 (2^128) overflowed
    to Inf; a float32 column of subnormals: its scale underflowed to 0."""
    top, tiny = float(np.finfo(dtype).max), float(np.finfo(dtype).smallest_subnormal)
    b = np.array([[top, 1.0], [0.0, 2.0], [0.0, 3.0]], dtype=dtype)
    b_tiny = np.array([[tiny * 3, 1.0], [tiny, 2.0], [0.0, 3.0]], dtype=dtype)
    A = np.diag([4.0, 2.0, 1.0]).astype(dtype)
    for rhs in (b, b_tiny):
        x, info = rankwise.cg(A, rhs, rtol=1e-6)
        assert info == 0
        assert np.all(np.isfinite(x))
        expected = rhs.astype(np.float64) / np.diag(A).astype(np.float64)[:, None]
        np.testing.assert_allclose(x, expected.astype(dtype), rtol=1e-5)


def test_cg_solution_beyond_the_float_range_is_reported() -> None:
    """A ~ 1e-300 and b ~ 3e307: x ~ 1e607 came back as Inf with info = 0."""
    A = np.diag([2e-300, 2e-300, 1.8e-300])
    b = np.array([3.3e307, 1.0, 0.5])
    with pytest.raises(rankwise.CGBreakdownError, match="NaN or Inf"):
        rankwise.cg(A, b, rtol=1e-8)
    res = rankwise.solve_cg(A, np.c_[b, np.ones(3)], rtol=1e-8)
    assert res.column_reasons == ("nonfinite", "converged")
    np.testing.assert_allclose(res.x[:, 1], 1 / np.diag(A), rtol=1e-8)


def _broken(kind: str, fmt: str) -> Any:
    """A 7 x 6 CSR/CSC built from raw arrays with one defect (SciPy checks only lengths)."""
    rng = np.random.default_rng(3)
    M = rng.standard_normal((7, 6))
    C = sp.csr_array(M) if fmt == "csr" else sp.csc_array(M)
    data, indices, indptr = C.data.copy(), C.indices.copy(), C.indptr.copy()
    if kind == "negative index":
        indices[1] = -1
    elif kind == "index too large":
        indices[3] = 7 if fmt == "csc" else 6
    else:  # indptr decreasing
        indptr[2] = indptr[-1]
    ctor = sp.csr_array if fmt == "csr" else sp.csc_array
    return ctor((data, indices, indptr), shape=M.shape)


@pytest.mark.parametrize(
    "call",
    [
        lambda A: rankwise.eim(A, max_terms=2),
        lambda A: rankwise.svd(A, 2, random_state=0),
        lambda A: rankwise.svds(A, 2, random_state=0),
        lambda A: rankwise.cur(A, 2),
        lambda A: rankwise.SVDUpdater(2, method="sparse").fit(np.ones((4, 6))).add_rows(A),
        lambda A: rankwise.precond.ic0(A),
    ],
    ids=["eim", "svd", "svds", "cur", "update", "ic0"],
)
@pytest.mark.parametrize("kind", ["negative index", "index too large", "indptr decreasing"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_broken_compressed_structure_is_refused(call: Any, kind: str, fmt: str) -> None:
    """rankwise.eim on a CSC whose indices held -1 handed it to SciPy's toarray, which wrote
    out of bounds ("free(): invalid next size", a crash): every entry point now refuses a
    broken structure with a ValueError saying what is wrong, before anything reads it."""
    A = _broken(kind, fmt)
    with pytest.raises(ValueError, match=f"is a broken {fmt} matrix"):
        call(A)


@pytest.mark.parametrize("method", ["zha-simon", "vecharynski-saad", "sparse"])
def test_svd_update_with_rows_at_the_float_maximum(method: str) -> None:
    """Rows holding 1.8e308: the update's norms overflowed and LAPACK never returned (the
    worker thread hung in add_rows).  Refused now, the updater unchanged; rows of 1e306
    still update."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    up = rankwise.SVDUpdater(1, method=method, random_state=0).fit(A)
    state = up.svd()
    top = float(np.finfo(np.float64).max)
    E = np.array([[2.7e303, 0.0, 1.1e308], [4.0e307, top, top]])
    with pytest.raises(ValueError, match="too large to update with"):
        up.add_rows(E)
    for got, want in zip(up.svd(), state, strict=True):
        np.testing.assert_array_equal(got, want)
    up.add_rows(E / 100)
    s = up.svd()[1]
    assert np.all(np.isfinite(s))
    sigma = np.linalg.svd(np.vstack([A, E / 100]) / 1e306, compute_uv=False)[0] * 1e306
    assert 0 < s[0] <= sigma * (1 + 1e-10)  # s_1 <= sigma_1([A; E]): see test_fuzz.py


def test_interp_decomp_of_subnormal_entries() -> None:
    """The same scaling for a matrix of subnormals: 2^1073 overflowed (OverflowError)."""
    A = np.array([[5e-324, 0.0], [1e-310, 3e-320], [0.0, 1e-309]])
    k, idx, proj = rankwise.interp_decomp(A, 1e-3, False)
    assert k == 2
    assert sorted(idx.tolist()) == [0, 1]
    assert proj.shape == (2, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda A: rankwise.svd(A, 5, random_state=0),
        lambda A: rankwise.svd(sp.csr_array(A), 5, random_state=0),
        lambda A: rankwise.randomized_svd(A, 5, random_state=0),
        lambda A: rankwise.svds(A, 5, random_state=0),
    ],
)
def test_svd_of_entries_near_the_float_maximum_is_explained(call: Any) -> None:
    """One entry of 1.07e308: the Gaussian sketch overflowed and the error said "SVD did not
    converge (gesvd info = 10)"; it now says why and what to do.  (Open: scaling A.)"""
    A = np.zeros((11, 11))
    A[3, 8] = 1.0680412154181992e308
    try:
        s = call(A)[1]
    except ValueError as e:
        message = str(e)
    else:  # a sketch that happened not to overflow: then the answer must be right
        np.testing.assert_allclose(np.max(s), A[3, 8], rtol=1e-14)
        return
    assert "within a factor 1000 of the float64 maximum" in message
