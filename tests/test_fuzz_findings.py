"""Regression tests for what the coverage-guided fuzzer (tests/fuzz/fuzz_entry_points.py,
atheris) found: one test per finding, on the smallest input that showed it."""

from __future__ import annotations

import warnings
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


def _broken(kind: str, fmt: str, index_dtype: str = "int32", square: bool = False) -> Any:
    """A 7 x 6 (or 6 x 6 SPD) CSR/CSC built from raw arrays with one defect (SciPy checks
    only lengths; kind "none": no defect), with int32 or int64 index arrays, or "mixed"
    (int64 indices, int32 indptr: the numpy check instead of the native one)."""
    rng = np.random.default_rng(3)
    M = rng.standard_normal((7, 6))
    if square:
        M = M.T @ M + np.eye(6)
    C = sp.csr_array(M) if fmt == "csr" else sp.csc_array(M)
    data, indices, indptr = C.data.copy(), C.indices.copy(), C.indptr.copy()
    if kind == "negative index":
        indices[1] = -1
    elif kind == "index too large":
        indices[3] = M.shape[0] if fmt == "csc" else M.shape[1]
    elif kind == "indptr decreasing":
        indptr[2] = indptr[-1]
    ctor = sp.csr_array if fmt == "csr" else sp.csc_array
    A = ctor((data, indices, indptr), shape=M.shape)
    if index_dtype != "int32":
        A.indices = A.indices.astype(np.int64)
        A.indptr = A.indptr.astype(np.int32 if index_dtype == "mixed" else np.int64)
    return A


@pytest.mark.parametrize(
    "call",
    [
        lambda A: rankwise.eim(A, max_terms=2),
        lambda A: rankwise.svd(A, 2, random_state=0),
        lambda A: rankwise.svds(A, 2, random_state=0),
        lambda A: rankwise.cur(A, 2),
        lambda A: rankwise.SVDUpdater(2, method="sparse").fit(np.ones((4, 6))).add_rows(A),
        lambda A: rankwise.precond.ic0(A),
        lambda A: rankwise.precond.jacobi(A),
    ],
    ids=["eim", "svd", "svds", "cur", "update", "ic0", "jacobi"],
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


@pytest.mark.parametrize("index_dtype", ["int32", "int64", "mixed"])
@pytest.mark.parametrize("kind", ["negative index", "index too large", "indptr decreasing"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_broken_structure_message_names_the_defect(kind: str, fmt: str, index_dtype: str):
    """The native check (int32 or int64 index arrays of one dtype) and the numpy one (mixed
    dtypes) name the same defect; a sound matrix of each kind passes."""
    A = _broken(kind, fmt, index_dtype)
    what = "indptr must start at 0" if kind == "indptr decreasing" else "index is out of range"
    with pytest.raises(ValueError, match=f"is a broken {fmt} matrix: .*{what}"):
        rankwise.svd(A, 2, random_state=0)
    assert rankwise.svd(_broken("none", fmt, index_dtype), 2, random_state=0)[1].shape == (2,)


@pytest.mark.parametrize("index_dtype", ["int32", "int64", "mixed"])
@pytest.mark.parametrize("kind", ["negative index", "index too large", "indptr decreasing"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_cg_refuses_a_broken_structure(kind: str, fmt: str, index_dtype: str) -> None:
    """cg checks A's structure once (as_matrix), before SciPy or the core read it; M built
    from the broken A is refused too."""
    A = _broken(kind, fmt, index_dtype, square=True)
    for call in (
        lambda: rankwise.cg(A, np.ones(6)),
        lambda: rankwise.cg(A, np.ones(6), M="jacobi"),
    ):
        with pytest.raises(ValueError, match=f"is a broken {fmt} matrix"):
            call()
    sound = _broken("none", fmt, index_dtype, square=True)
    x, info = rankwise.cg(sound, np.ones(6), rtol=1e-10, M="jacobi")
    assert info == 0
    np.testing.assert_allclose(sound @ x, np.ones(6), rtol=1e-8)


@pytest.mark.parametrize("method", ["zha-simon", "vecharynski-saad", "sparse"])
def test_svd_update_with_rows_at_the_float_maximum(method: str) -> None:
    """Rows holding 1.8e308: the update's norms overflowed and LAPACK never returned (the
    worker thread hung in add_rows).  Refused now, the updater unchanged; rows of 1e306
    still update (but for the sparse method, whose limit is lower)."""
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
    if method == "sparse":  # its sums of squares would overflow: see the test below
        with pytest.raises(ValueError, match="too large for the sparse method"):
            up.add_rows(E / 100)
        return
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


def _rank5(dtype: Any, scale: float, fmt: str) -> tuple[Any, np.ndarray]:
    """A 30 x 20 matrix of rank 5 with max |a_ij| = scale (A as given: dense C or F, CSR or
    CSC), and its float64 values."""
    rng = np.random.default_rng(7)
    B = rng.standard_normal((30, 5)) @ rng.standard_normal((5, 20))
    B[::4] = 0.0  # zero rows and columns for the sparse formats (rank 5 still)
    B[:, ::5] = 0.0
    B /= np.abs(B).max()
    e = int(np.floor(np.log10(scale)))
    with np.errstate(under="ignore"):
        V = (B * (scale / 10.0**e) * 10.0 ** (e // 2) * 10.0 ** (e - e // 2)).astype(dtype)
    A = {
        "C": V,
        "F": np.asfortranarray(V),
        "csr": sp.csr_array(V),
        "csc": sp.csc_array(V),
    }[fmt]
    return A, V.astype(np.float64)


EXTREME = [(np.float64, x) for x in (1e307, 1e200, 1e-300, 1e-310)] + [
    (np.float32, x) for x in (1e37, 1e25, 1e-36, 1e-40)
]
SVD_CALLS = {
    "svd": lambda A: rankwise.svd(A, 5, random_state=0)[1],
    "svd_tol": lambda A: rankwise.svd(A, tol=1e-3, random_state=0)[1],
    "block_krylov": lambda A: rankwise.svd(A, 5, method="block_krylov", random_state=0)[1],
    "randomized_svd": lambda A: rankwise.randomized_svd(A, 5, random_state=0)[1],
    "randomized_svd_wide": lambda A: rankwise.randomized_svd(A.T, 5, random_state=0)[1],
    "svds": lambda A: rankwise.svds(A, 5, random_state=0)[1][::-1],
    "svds_wide": lambda A: rankwise.svds(A.T, 5, random_state=0)[1][::-1],
}


def _snapshot(A: Any) -> list[np.ndarray]:
    if sp.issparse(A):
        return [A.data.copy(), A.indices.copy(), A.indptr.copy()]
    return [np.array(A, copy=True)]


@pytest.mark.parametrize("call", list(SVD_CALLS), ids=list(SVD_CALLS))
@pytest.mark.parametrize("fmt", ["C", "F", "csr", "csc"])
@pytest.mark.parametrize(("dtype", "scale"), EXTREME)
def test_svd_of_entries_of_extreme_magnitude(call: str, fmt: str, dtype: Any, scale: float):
    """Entries within ~10x of the float maximum: the Gaussian sketch overflowed ("SVD did not
    converge", then a ValueError asking the user to scale A); max |a_ij| above ~1e154 made
    tol= fail with "fixed-precision mode needs ||A||_F (not known for this operator)"
    (||A||_F^2 overflowed); subnormal entries gave singular values to 1e-8 (float64) and
    1e-5 (float32).  A is now scaled by a power of two inside: singular values to
    rounding, relative to the largest, against LAPACK on the same values in float64."""
    A, A64 = _rank5(dtype, scale, fmt)
    before = _snapshot(A)
    s = SVD_CALLS[call](A)
    for got, want in zip(_snapshot(A), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert s.dtype == dtype
    assert s.shape == (5,)
    assert np.all(np.isfinite(s))
    e = int(np.frexp(np.abs(A64).max())[1])  # compare in units of 2^e: no overflow
    ref = np.linalg.svd(np.ldexp(A64, -e), compute_uv=False)[:5]
    got = np.ldexp(s.astype(np.float64), -e)
    info = np.finfo(dtype)
    tol = 100 * float(info.eps) * ref[0] + 100 * np.ldexp(float(info.smallest_subnormal), -e)
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


@pytest.mark.parametrize("fmt", ["C", "csr"])
@pytest.mark.parametrize("core", ["stabilized", "pinv", "cross"])
@pytest.mark.parametrize(
    ("dtype", "scale"),
    [(np.float64, x) for x in (1e307, 1e-300)] + [(np.float32, x) for x in (1e37, 1e-30)],
)
def test_cur_of_entries_of_extreme_magnitude(fmt: str, core: str, dtype: Any, scale: float):
    """The same for rankwise.cur (its selection SVD overflowed): C and R are A's own columns
    and rows, the core is that of A 2^-e times 2^-e, and C U R reproduces the rank-5 A."""
    A, A64 = _rank5(dtype, scale, fmt)
    before = _snapshot(A)
    d = rankwise.cur(A, 5, core=core, random_state=0)
    for got, want in zip(_snapshot(A), before, strict=True):
        np.testing.assert_array_equal(got, want)
    dense = lambda X: X.toarray() if sp.issparse(X) else np.asarray(X)  # noqa: E731
    np.testing.assert_array_equal(dense(d.C), A64[:, d.cols].astype(dtype))
    np.testing.assert_array_equal(dense(d.R), A64[d.rows].astype(dtype))
    assert d.U.dtype == dtype
    assert np.all(np.isfinite(d.U))
    e = int(np.frexp(np.abs(A64).max())[1])
    approx = d.to_dense()
    assert approx.dtype == dtype
    assert np.all(np.isfinite(approx))
    err = np.abs(np.ldexp(approx.astype(np.float64), -e) - np.ldexp(A64, -e)).max()
    assert err <= 1e3 * float(np.finfo(dtype).eps)
    # U is the scaled problem's core times 2^-e (exact but where it is subnormal)
    A_s = np.ldexp(A64, -e).astype(dtype)
    A_s = sp.csr_array(A_s) if fmt == "csr" else A_s
    d_s = rankwise.cur(A_s, 5, rows=d.rows, cols=d.cols, core=core, random_state=0)
    want = np.ldexp(d_s.U.astype(np.float64), -e)
    atol = 4 * float(np.finfo(dtype).smallest_subnormal)
    np.testing.assert_allclose(d.U.astype(np.float64), want, rtol=1e-12, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cur_core_of_subnormal_entries_is_refused(dtype: Any) -> None:
    """U ~ 1 / |A| of entries ~ 1e-310 (float32: 1e-40) is beyond the float range: refused
    with a ValueError that says so (scaling A cannot help the attribute U)."""
    A, _ = _rank5(dtype, 1e-310 if dtype is np.float64 else 1e-40, "C")
    with pytest.raises(ValueError, match="core matrix U overflows"):
        rankwise.cur(A, 5, random_state=0)


@pytest.mark.parametrize("fmt", ["C", "csr"])
def test_svd_beyond_the_float_range_is_refused(fmt: str) -> None:
    """A 4 x 4 matrix of 1e308: its largest singular value 4e308 is not representable.
    Refused with a ValueError saying so (before: "the random sketch overflows; scale A");
    the same matrix times 1/4 has sigma_1 = 1e308 and is computed."""
    A = np.full((4, 4), 1e308)
    A = sp.csr_array(A) if fmt == "csr" else A
    calls = (
        lambda: rankwise.svd(A, 1, random_state=0),
        lambda: rankwise.svd(A, tol=0.1, random_state=0),
        lambda: rankwise.randomized_svd(A, 1, random_state=0),
        lambda: rankwise.svds(A, 1, random_state=0),
    )
    for call in calls:
        with pytest.raises(ValueError, match="exceed the float64 range"):
            call()
    s = rankwise.svd(A * 0.25, 1, random_state=0)[1]
    np.testing.assert_allclose(s, [1e308], rtol=1e-14)


def test_sparse_duplicates_summing_beyond_the_float_range_are_refused() -> None:
    """Two stored duplicates of 1e308 define an entry 2e308: refused, not scaled away."""
    A = sp.csr_array(
        (np.array([1e308, 1e308, 1.0]), np.array([0, 0, 1]), np.array([0, 2, 3])), shape=(2, 2)
    )
    with pytest.raises(ValueError, match="not representable"):
        rankwise.svd(A, 1, random_state=0)


@pytest.mark.parametrize("core", ["stabilized", "cross", "pinv"])
@pytest.mark.parametrize("method", ["deim", "qdeim", "maxvol"])
def test_cur_of_rank_below_k_is_exact(core: str, method: str) -> None:
    """A 4 x 3 matrix with one nonzero row, k = 2, Q-DEIM: the stabilized core's stable
    product Q (Q[I, :])^+ R used a Q with a column outside the range of C (the QR of a
    rank-deficient C) and was off by 36% of ||A|| (found by the new CUR oracle).  Q now
    spans C's numerical range only.  The pinv core's U of the float32 rank-3 matrix gave
    C U R off by O(||A||): np.linalg.pinv's default cutoff is float64's 1e-15, now
    float32's eps.  "cross" is refused: A[I, J] is singular."""
    A = np.zeros((4, 3))
    A[3] = [0.34558419, 0.82161814, 0.33043708]
    rng = np.random.default_rng(4)
    L = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 25))  # rank 3, k = 6
    for M, k in ((A, 2), (L, 6), (L.astype(np.float32), 6)):
        if core == "cross":
            with pytest.raises(ValueError, match="singular"):
                rankwise.cur(M, k, method=method, core=core, random_state=1)
            continue
        d = rankwise.cur(M, k, method=method, core=core, random_state=1)
        tol = 100 * float(np.finfo(M.dtype).eps) * np.abs(M).max()
        np.testing.assert_allclose(d.to_dense(), M, rtol=0, atol=tol)
        np.testing.assert_allclose(d.C @ d.U @ d.R, M, rtol=0, atol=100 * tol)


@pytest.mark.parametrize("scale", [1e307, 1e200, 1e-300, 1e-310])
def test_dask_svd_and_cur_of_entries_of_extreme_magnitude(scale: float) -> None:
    """The dask path's CholeskyQR steps failed from max |a_ij| ~ 1e154 on ("array must not
    contain infs or NaNs") and below ~1e-154 ("the sketch of A is numerically rank deficient
    ... use a smaller k", which is not the cause).  They now rerun on A 2^-e after one more
    pass for max |a_ij|: the same answers as in memory."""
    da = pytest.importorskip("dask.array")
    A, A64 = _rank5(np.float64, scale, "C")
    A = np.vstack([A, A, A])  # tall: 90 x 20, 3 row blocks
    A64 = np.vstack([A64, A64, A64])
    D = da.from_array(A, chunks=(30, 20))
    e = int(np.frexp(np.abs(A64).max())[1])
    ref = np.linalg.svd(np.ldexp(A64, -e), compute_uv=False)[:5]
    tol = 100 * float(np.finfo(np.float64).eps) * ref[0] + 100 * np.ldexp(5e-324, -e)
    for method in ("subspace", "single_pass"):
        s = rankwise.svd(D, 5, method=method, random_state=0)[1]
        np.testing.assert_allclose(np.ldexp(s, -e), ref, rtol=0, atol=tol)
    if scale < 1e-300:  # U ~ 1 / |A| is not representable: refused as in memory
        with pytest.raises(ValueError, match="core matrix U overflows"):
            rankwise.cur(D, 5, random_state=0)
        return
    for core in ("stabilized", "pinv"):
        d = rankwise.cur(D, 5, core=core, random_state=0)
        np.testing.assert_array_equal(np.asarray(d.C), A[:, d.cols])
        np.testing.assert_array_equal(d.R, A[d.rows])
        approx = np.asarray(d.to_dense())
        err = np.abs(np.ldexp(approx, -e) - np.ldexp(A64, -e)).max()
        assert err <= 1e3 * float(np.finfo(np.float64).eps)


@pytest.mark.parametrize("fmt", ["C", "csr"])
@pytest.mark.parametrize(
    ("dtype", "scale"),
    [(np.float64, x) for x in (1e307, 1e200, 1e-300, 1e-310)]
    + [(np.float32, x) for x in (1e37, 1e-36)],
)
def test_estimate_error_of_entries_of_extreme_magnitude(fmt: str, dtype: Any, scale: float):
    """estimate_error returned NaN for entries of 1e307 (the probes' residual overflowed),
    Inf from max |a_ij| ~ 1e154 on and 0 below 1e-154 (the squares of the residual norms
    over- or underflowed).  Now the same ratio to the true error at every scale."""
    A, A64 = _rank5(dtype, scale, fmt)
    rng = np.random.default_rng(1)
    U, _ = np.linalg.qr(rng.standard_normal((30, 3)))
    Vt = np.linalg.qr(rng.standard_normal((20, 3)))[0].T
    e = int(np.frexp(np.abs(A64).max())[1])
    s = np.ldexp(np.array([2.0, 1.0, 0.5]), e)
    E = np.ldexp(A64, -e) - (U * np.ldexp(s, -e)) @ Vt  # the residual in units of 2^e
    U, s, Vt = (X.astype(dtype) for X in (U, s, Vt))
    for norm, true in (("fro", np.linalg.norm(E)), ("2", np.linalg.norm(E, 2))):
        est = rankwise.estimate_error(A, U, s, Vt, norm=norm, n_probes=40, random_state=0)
        if not np.isfinite(est):  # the 2-norm bound (~8x) of an error ~1e308 overflows
            assert norm == "2"
            assert np.log2(30 * true) + e > 1024
            continue
        ratio = np.ldexp(est, -e) / true
        assert (0.7 < ratio < 1.3) if norm == "fro" else (1 <= ratio < 30)


def test_nested_list_of_extreme_magnitude() -> None:
    """A (not an array) as a nested list: the scaled copy is made from np.asarray(A)."""
    A = [[1e307, 2e306], [3e306, -1e307]]
    ref = np.linalg.svd(np.ldexp(np.array(A), -1020), compute_uv=False)
    np.testing.assert_allclose(np.ldexp(rankwise.svd(A, 2, random_state=0)[1], -1020), ref)
    np.testing.assert_allclose(np.ldexp(rankwise.cur(A, 2).to_dense(), -1020), np.ldexp(A, -1020))


@pytest.mark.parametrize("fmt", ["csr", "csc", "dense"])
def test_svd_updater_refuses_empty_batches(fmt: str) -> None:
    """An empty sparse batch (0 x n CSR) was accepted by add_rows once sparse batches stopped
    going through as_matrix (found by atheris); dense ones were refused.  Every empty batch
    is refused now, and the updater is unchanged."""
    A = np.random.default_rng(0).standard_normal((8, 5))
    up = rankwise.SVDUpdater(2, random_state=0).fit(A)
    before = up.svd()

    def empty(shape: tuple[int, int]) -> Any:
        return np.zeros(shape) if fmt == "dense" else sp.random(*shape, format=fmt)

    for call in (
        lambda: up.add_rows(empty((0, 5))),
        lambda: up.add_columns(empty((8, 0))),
        lambda: up.update(empty((8, 0)), empty((5, 0))),
    ):
        with pytest.raises(ValueError, match="must not be empty"):
            call()
        for got, want in zip(up.svd(), before, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("side", ["rows", "columns"])
def test_sparse_update_method_refuses_blocks_its_sums_of_squares_overflow(dtype: Any, side: str):
    """Rows of 1e160 (float32: 1e19) made the sparse method's sums of squares overflow and
    LAPACK fail with "SVD did not converge" (found by the CUDA helper's review): refused
    with an explanation now, the updater unchanged; Zha-Simon takes the same block."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((50, 40)).astype(dtype)
    scale = 1e160 if dtype == np.float64 else 1e19
    shape = (10, 40) if side == "rows" else (50, 10)
    E = (rng.standard_normal(shape) * scale).astype(dtype)
    up = rankwise.SVDUpdater(5, method="sparse", random_state=0).fit(A)
    before = up.svd()
    add = up.add_rows if side == "rows" else up.add_columns
    with pytest.raises(ValueError, match="too large for the sparse method"):
        add(E)
    for got, want in zip(up.svd(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    add(E / scale)  # an ordinary block still updates
    exact = rankwise.SVDUpdater(5, method="zha-simon").fit(A)
    (exact.add_rows if side == "rows" else exact.add_columns)(E)
    assert np.all(np.isfinite(exact.svd()[1]))


@pytest.mark.parametrize("shape", [(12, 12), (12, 30), (40, 13)])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_block_krylov_covers_a_small_matrix_whole(shape: tuple[int, int], k: int) -> None:
    """Block Krylov with the default l = k + 10 on a matrix of min(m, n) = 12: for k = 1 the
    space l (q + 1) had to fit in 12 with l = 11, so q dropped to 0 and the rank-1 factors
    missed the optimum by 3e-4 relative (a 12 x 12 operator, found at 559,000 runs).  Where
    the space does not fit, one block of min(m, n) columns now spans all of it: the
    factors are those of the exact SVD."""
    rng = np.random.default_rng(sum(shape) + k)
    A = rng.standard_normal(shape)
    U, s, Vt = rankwise.svd(A, k, method="block_krylov", random_state=0)
    exact = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(s, exact[:k], rtol=1e-12)
    assert np.linalg.norm(A - (U * s) @ Vt) <= np.linalg.norm(exact[k:]) * (1 + 1e-12)


def test_randomized_svd_with_oversampling_far_beyond_the_matrix() -> None:
    """n_oversamples = 2^40 on a 5 x 12 matrix: drawing scikit-learn's n x (k + p) test
    matrix raised MemoryError (the corpus replay of the fuzzer caught it).  Where k + p
    exceeds min(m, n) the sketch spans the whole range, so the draws do not matter: the
    factors are exact, from rankwise's own sketch."""
    A = np.random.default_rng(0).standard_normal((5, 12))
    s = rankwise.randomized_svd(A, 2, n_oversamples=2**40, random_state=0)[1]
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[:2], rtol=1e-12)
    # a little beyond min(m, n): scikit-learn's draws, cheap, and the same factors
    from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

    mine = rankwise.randomized_svd(A, 2, n_oversamples=20, random_state=3)
    theirs = sk_randomized_svd(A, 2, n_oversamples=20, random_state=3)
    for a, b in zip(mine, theirs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 2.0**63])
@pytest.mark.parametrize(
    ("case", "k", "l", "q"), [("ones", 1, 1, 1), ("one entry", 2, 2, 3), ("rank 5", 1, 2, 2)]
)
def test_krylov_blocks_inside_the_previous_ones(case: str, k: int, l: int, q: int, scale: float):
    """Krylov blocks that lie (numerically) inside the previous blocks, which the fuzzer
    reached through a block-size rule tried and dropped this session, on the core's
    block Krylov with explicit (l, q):
    - ones on 3 of 4 rows: what the projection of the second block leaves is rounding noise
      equal in the three coordinates, so every re-projection gave it back (basis [q, q],
      s sqrt(2) too large, U^T U = 2);
    - one entry in 8 x 12: the random directions that replaced two such blocks were the same
      in both (basis [e1, ., ., ., e1]);
    - a 6 x 6 matrix of rank 5: the last block's two columns are dependent after projection,
      and the directions its orthonormalization adds fell back along the earlier blocks
      through every pass.
    The basis must come out orthonormal, so the Rayleigh-Ritz values are A's."""
    from rankwise import _core
    from rankwise._validate import as_matrix

    if case == "ones":
        A = np.array([[1, 1], [1, 1], [1, 1], [0, 0]], dtype=float)
    elif case == "one entry":
        A = np.zeros((8, 12))
        A[0, 0] = -1.0
    else:
        A = np.array(
            [
                [0, 1, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0],
                [0, -1, 0, 0, 1, 0],
                [-1, 0, 0, 1, 3, 0],
                [0, 1, 0, 0, 0, 2],
                [0, 2, -1, 0, 0, 1],
            ],
            dtype=float,
        )
    A = A * scale
    op = as_matrix(A, "A").op
    U, s, _, _ = _core.rsvd(op, k, l, q, "block_krylov", "cholqr2", "cholqr2", "gesdd", 0, 0)
    np.testing.assert_allclose(U.T @ U, np.eye(k), atol=1e-14)
    exact = np.linalg.svd(A, compute_uv=False)[:k]
    np.testing.assert_allclose(s, exact, rtol=1e-12, atol=1e-14 * scale)


def _near_the_float_maximum() -> np.ndarray:
    """12 x 12, entries up to 2.6e307: a Gaussian sketch's sums of 12 products overflow."""
    rng = np.random.default_rng(8)
    return rng.uniform(-1.0, 1.0, (12, 12)) * 2.6e307


@pytest.mark.parametrize("eps_or_k", [1, 3, 0.5])
@pytest.mark.parametrize("complex_input", [False, True])
def test_interp_decomp_of_entries_near_the_float_maximum(eps_or_k: float, complex_input: bool):
    """interp_decomp(rand=True) refused such an A with "A contains NaN or Inf (or its sketch
    overflows)"; the sketches are now formed at a power-of-two unit, and the ID is that of
    the same A scaled down (rand=False, on A itself, agrees)."""
    from rankwise import interpolative as rli

    A = _near_the_float_maximum()
    if complex_input:
        A = A + 1j * A[::-1]
    before = A.copy()
    result = rli.interp_decomp(A, eps_or_k, rand=True, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(A, before)
    k, idx, proj = result if len(result) == 3 else (int(eps_or_k), *result)
    scaled_A = A * 2.0**-1000
    r = rli.interp_decomp(scaled_A, eps_or_k, rand=True, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(idx, r[-2])
    np.testing.assert_allclose(proj, r[-1], rtol=1e-12, atol=1e-12)
    s = np.linalg.svd(scaled_A, compute_uv=False)
    approx = rli.reconstruct_matrix_from_id(scaled_A[:, idx[:k]], idx, proj)
    assert np.linalg.norm(approx - scaled_A, 2) <= 3 * np.sqrt(1 + k * (12 - k)) * s[k]


def test_estimate_rank_of_a_matrix_whose_norm_exceeds_the_float_maximum() -> None:
    """Entries of 1e306 in 3000 rows: the sketch is finite, its singular values are not;
    estimate_rank counted 0 (inf > 0.25 eps inf is false)."""
    from rankwise import interpolative as rli

    rng = np.random.default_rng(5)
    A = rng.standard_normal((3000, 40)) @ rng.standard_normal((40, 60))
    for scale in (1.0, 1e306, 1e-306):
        assert rli.estimate_rank(A * scale, 1e-8, rng=0) == 40


def test_eim_interpolant_of_values_near_the_float_maximum() -> None:
    """The interpolant's U @ c overflowed in its sums (NaN and -inf at the points) for
    snapshots near 1.8e308; the values are now scaled by a power of two around the solve and
    the product, and the errors beyond the float range are inf without a warning."""
    S = np.array(
        [
            [1.7976931348623157e308, -1.7976570985571580e308],
            [0.0, -1.2337109749055109e308],
            [-1.2337109749055109e308, -1.7344370707072011e308],
            [5.6398215995680488e307, -1.2337109749055109e308],
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ei = rankwise.eim(S, max_terms=3, norm="linf")
        recon = ei(S[ei.points, :])
    np.testing.assert_allclose(recon[ei.points], S[ei.points], rtol=1e-15)
    assert np.isinf(ei.errors[1])  # the true residual, -2.97e308, is beyond the range
    np.testing.assert_allclose(recon * 0.25, ei.basis @ ei.coefficients(S[ei.points] * 0.25))


@pytest.mark.parametrize(
    "scales", [(1e300, 1, 1, 1e-300), (1e200, 1e-200, 1, 1), (1, 1e-18, 1, 1)]
)
def test_deim_interpolant_of_columns_scales_beyond_the_range_apart(scales: tuple) -> None:
    """The points were right (selected on columns scaled each by its own power of two), but
    the interpolant solved with U[points] scaled by one power of two, where the small
    column underflowed: NaN for every value, silently (found by fuzzing: a column of 1e308
    beside one of subnormals).  The solve now scales the columns as the selection does."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((50, 4)))[0]
    sel = rankwise.deim(Q * np.array(scales))
    f = Q @ np.array([1.0, 2, 3, 4])  # in span(U)
    np.testing.assert_allclose(sel(f[sel.points]), f, atol=1e-14)
    c = sel.coefficients(f[sel.points])
    np.testing.assert_allclose(c * np.array(scales), [1, 2, 3, 4], rtol=1e-13)
    # the Lebesgue constants, which do not depend on the columns' scales either (pinv of
    # U[points] with one tiny column cut it: 2.34 for 3.49, and 3.436 for a column of 1e-18)
    ref = rankwise.deim(Q)
    assert sel.lebesgue_constant == pytest.approx(ref.lebesgue_constant, rel=1e-12)
    assert sel.lebesgue_constant_inf == pytest.approx(ref.lebesgue_constant_inf, rel=1e-12)


def test_deim_interpolant_of_a_huge_and_a_subnormal_column_is_finite() -> None:
    """The fuzzer's basis (8 x 2): column 0 holds -1.76e308 and subnormals, column 1 only
    subnormals; its interpolant returned NaN."""
    tiny = float(np.finfo(np.float64).smallest_subnormal)
    U = np.zeros((8, 2))
    U[:3] = -tiny
    U[0, 0] = -1.7553944728655906e308
    sel = rankwise.deim(U)
    f = U @ np.array([1.0, 2.0])
    rec = sel(f[sel.points])
    assert np.isfinite(rec).all()
    assert np.abs(rec - f).max() <= 4 * tiny  # the subnormals' own spacing


@pytest.mark.parametrize("order", ["C", "F"])
def test_eim_reproduces_snapshots_at_the_float_maximum(order: str) -> None:
    """atheris (seed 4001): snapshots whose entries are the float maximum; the interpolant's
    unscaling of the reconstruction rounded one entry at a point one ulp above it, to Inf.
    Such an overflow by rounding alone now saturates; a field truly beyond the range stays
    Inf."""
    top = float(np.finfo(np.float64).max)
    S = np.array([[-1.6642705975084485e308, top], [top, top], [top, top]], order=order)
    out = rankwise.eim(S, max_terms=5, norm="linf")
    p = np.asarray(out.points)
    rec = out(S[p, :])
    assert np.isfinite(rec).all()
    np.testing.assert_allclose(rec[p], S[p, :], rtol=1e-15, atol=0)
    # a field truly beyond the range (2 x the maximum in row 2): Inf, not the maximum
    sel = rankwise.deim(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    assert sel.points.tolist() == [0, 1]
    f = sel(np.array([top, top]))
    assert f[:2].tolist() == [top, top]
    assert f[2] == np.inf
