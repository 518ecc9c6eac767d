"""The dask paths against the review's findings (round 2): rank-deficient sketches in svd,
the refinement's shortlist with small row chunks, cur of scipy.sparse chunks, and the
results of wide arrays.  The threaded scheduler throughout (small problems)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import rankwise
import scipy.sparse

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")


@pytest.fixture(autouse=True)
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def _with_spectrum(m: int, n: int, sigma: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((m, sigma.size)))[0]
    V = np.linalg.qr(rng.standard_normal((n, sigma.size)))[0]
    return (U * sigma) @ V.T


def _spectrum(kind: str, dtype: type, r: int) -> np.ndarray:
    j = np.arange(r, dtype=np.float64)
    if kind == "rank3":  # rank below k
        return np.where(j < 3, 1.0 / (1 + j), 0.0)
    if kind == "rank10":  # k < rank < l = k + oversample
        return np.where(j < 10, 1.0 / (1 + j), 0.0)
    # fast decay: sketches beyond u^-1 in condition (float32 fails from exp(-j) on)
    return np.exp((-4.0 if dtype == np.float64 else -2.0) * j)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["rank3", "rank10", "decay"])
@pytest.mark.parametrize("method", ["single_pass", "no_power"])
@pytest.mark.parametrize(("wide", "row_chunk", "col_chunk"), [(False, 100, 60), (True, 4, 30)])
def test_rank_deficient_sketches_give_an_orthonormal_basis(
    dtype, kind, method, wide, row_chunk, col_chunk
) -> None:
    """Finding 1: without power iterations the sketch A Omega of a low-rank or fast-decaying
    A is numerically rank deficient and CholeskyQR fails; TSQR takes over, as Householder QR
    does in memory.  Tall with one column block; wide, through A^T, with two column blocks
    of A^T and row chunks (4) smaller than l (15)."""
    m, n, k = 400, 60, 5
    A = _with_spectrum(m, n, _spectrum(kind, dtype, n), seed=1).astype(dtype)
    if wide:
        A = np.ascontiguousarray(A.T)
    D = da.from_array(A, chunks=(col_chunk, row_chunk) if wide else (row_chunk, col_chunk))
    kw = {"method": "single_pass"} if method == "single_pass" else {"n_iter": 0}
    U, s, Vt = rankwise.svd(D, k, random_state=0, **kw)
    U, Vt = np.asarray(U), np.asarray(Vt)
    assert U.dtype == s.dtype == Vt.dtype == dtype
    eps = float(np.finfo(dtype).eps)
    for F in (U, Vt.T):
        np.testing.assert_allclose(F.T @ F, np.eye(k), atol=100 * eps)
    sigma = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(s, sigma[:k], rtol=0, atol=1e3 * eps * sigma[0])
    optimal = np.sqrt(np.sum(sigma[k:] ** 2))
    err = np.linalg.norm(A - (U * s) @ Vt)
    assert err <= 1.01 * optimal + 1e3 * eps * sigma[0]


def _count_reads(monkeypatch) -> list[int]:
    """Counts the tasks that read a block of A (as tests/test_dask.py does; one column block,
    so no task calls _times itself)."""
    from rankwise import _dask

    reads: list[int] = []
    for name in ("_one_pass_block", "_times_gram", "_rtimes", "_rtimes_gram"):
        original = getattr(_dask, name)

        def counted(block, *args, _original=original):
            reads.append(1)
            return _original(block, *args)

        monkeypatch.setattr(_dask, name, counted)
    return reads


def _count_calls(monkeypatch, module, name) -> list[int]:
    calls: list[int] = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _no_scaling_pass(monkeypatch) -> None:
    from rankwise import _scale

    def refused(A):
        raise AssertionError("the scaling pass over A ran")

    monkeypatch.setattr(_scale, "dask_max_abs", refused)


def test_single_pass_fallback_reads_every_block_once(monkeypatch) -> None:
    """Finding 1: the TSQR fallback of the single-pass method works from the sketches of
    its one read (6 blocks: 6 reads), without the scaling pass; the well-conditioned case
    never takes it."""
    from rankwise import _dask

    A = _with_spectrum(600, 50, np.exp(-4.0 * np.arange(50)), seed=2)
    D = da.from_array(A, chunks=(100, 50))
    reads = _count_reads(monkeypatch)
    tsqr = _count_calls(monkeypatch, _dask, "_tsqr")
    _no_scaling_pass(monkeypatch)
    with dask.config.set(scheduler="sync"):
        U, s, _ = rankwise.svd(D, 5, method="single_pass", random_state=0)
        U = U.compute()
    assert len(reads) == 6
    assert len(tsqr) == 1
    np.testing.assert_allclose(U.T @ U, np.eye(5), atol=1e-13)
    # (and within eps s_1 absolutely: s_5 = 1.1e-7 came out 1.4e-10 off relatively with
    # OpenBLAS's SkylakeX kernels, 1.6e-17 absolutely)
    np.testing.assert_allclose(s, np.exp(-4.0 * np.arange(5)), rtol=1e-10, atol=1e-16)
    # the power method makes Y again for TSQR: 1 (Y, before the failure) + 2 passes
    reads.clear()
    with dask.config.set(scheduler="sync"):
        s = rankwise.svd(D, 5, n_iter=0, random_state=0)[1]
    assert len(reads) == 3 * 6
    assert len(tsqr) == 2
    np.testing.assert_allclose(s, np.exp(-4.0 * np.arange(5)), rtol=1e-10)
    # a well-conditioned sketch: CholeskyQR3 only, the results of the in-memory method
    B = np.random.default_rng(3).standard_normal((600, 50)) * np.exp(-np.arange(50) / 15.0)
    for kw in ({"method": "single_pass"}, {"n_iter": 0}, {"n_iter": 2}):
        U, s, _ = rankwise.svd(da.from_array(B, chunks=(100, 50)), 5, random_state=4, **kw)
        if "n_iter" in kw:
            U0, s0, _ = rankwise.svd(B, 5, random_state=4, **kw)
            np.testing.assert_allclose(s, s0, rtol=1e-12)
            np.testing.assert_allclose(U.compute(), U0, atol=1e-12)
    assert len(tsqr) == 2


def test_rank_deficiency_does_not_trigger_the_scaling_pass(monkeypatch) -> None:
    """Finding 1: a LinAlgError from a rank-deficient factor is raised as it is, without the
    extra pass over A for its maximum; an underflowing sketch still gets that pass and the
    retry on A 2^-e (entries of 1e-310, float64's subnormal range)."""
    from rankwise import _dask, _scale

    D = da.from_array(np.ones((40, 30)), chunks=(10, 30))
    passes = _count_calls(monkeypatch, _scale, "dask_max_abs")

    def rank_deficient(B):
        raise np.linalg.LinAlgError("maxvol: U[start, :] is singular")

    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        _scale.run_dask_scaled(rank_deficient, D)
    assert not passes
    A = np.random.default_rng(5).standard_normal((400, 30))
    s = rankwise.svd(da.from_array(A * 1e-310, chunks=(100, 30)), 3, random_state=0)[1]
    assert len(passes) == 1
    np.testing.assert_allclose(s, rankwise.svd(A, 3, random_state=0)[1] * 1e-310, rtol=1e-6)
    # the errors cross process boundaries (distributed) with their types
    for error in (_dask.SketchUnderflow("u"), _dask.SketchRankDeficient("r")):
        assert type(pickle.loads(pickle.dumps(error))) is type(error)


def _refine_matrix() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((500, 50)) @ (
        np.logspace(0, -4, 50)[:, None] * rng.standard_normal((50, 70))
    )


@pytest.mark.parametrize("rows_per_chunk", [3, 10, 20])
def test_refine_matches_in_memory_for_row_chunks_smaller_than_the_shortlist(
    rows_per_chunk,
) -> None:
    """Finding 2: the shortlist keeps 4k = 32 candidates however few rows a chunk has."""
    B = _refine_matrix()
    ref = rankwise.cur(B, 8, refine=True, random_state=3)
    res = rankwise.cur(
        da.from_array(B, chunks=(rows_per_chunk, 70)), 8, refine=True, random_state=3
    )
    np.testing.assert_array_equal(res.rows, ref.rows)
    np.testing.assert_array_equal(res.cols, ref.cols)
    np.testing.assert_allclose(res.to_dense(), ref.to_dense(), atol=1e-10)


@pytest.mark.parametrize("chunk_type", [scipy.sparse.csr_matrix, scipy.sparse.csr_array])
@pytest.mark.parametrize("chunks", [(100, 80), (100, 40)])
def test_cur_refuses_scipy_sparse_chunks(chunk_type, chunks) -> None:
    """Finding 3: a TypeError that says what to pass instead, not an IndexError; svd takes
    the same array."""
    S = scipy.sparse.random_array((600, 80), density=0.05, format="csr", rng=1).toarray()
    D = da.from_array(S, chunks=chunks).map_blocks(chunk_type)
    for kwargs in (
        {},
        {"weights": (np.ones(600), None)},
        {"rows": np.arange(5)},
        {"rows": np.arange(5), "cols": np.arange(5)},  # no selection runs
    ):
        with pytest.raises(TypeError, match=r"scipy\.sparse chunks; pass the matrix as one"):
            rankwise.cur(D, 5, random_state=0, **kwargs)
    with pytest.raises(TypeError, match=r"scipy\.sparse chunks"):
        rankwise.cur(D.T, 5, random_state=0)
    s = rankwise.svd(D, 5, random_state=0)[1]
    np.testing.assert_allclose(s, rankwise.svd(S, 5, random_state=0)[1], rtol=1e-10)


def test_a_wide_array_gives_the_in_memory_result_of_its_transpose() -> None:
    """Finding 4 (documentation): a wide dask array's randomized results are those of the
    in-memory call on A.T, transposed back (as README.md, the cur docstring and
    python/rankwise/_dask.py now say), which differ from those of the call on A."""
    W = np.random.default_rng(0).standard_normal((80, 600))
    D = da.from_array(W, chunks=(80, 100))
    s = rankwise.svd(D, 10, n_iter=1, random_state=1)[1]
    np.testing.assert_allclose(s, rankwise.svd(W.T, 10, n_iter=1, random_state=1)[1], rtol=1e-12)
    d = rankwise.cur(D, 8, method="leverage", random_state=3)
    t = rankwise.cur(W.T, 8, method="leverage", random_state=3)
    np.testing.assert_array_equal(d.rows, t.cols)
    np.testing.assert_array_equal(d.cols, t.rows)
    assert not np.array_equal(d.rows, rankwise.cur(W, 8, method="leverage", random_state=3).rows)


@pytest.mark.parametrize("method", ["subspace", "single_pass"])
@pytest.mark.parametrize(
    ("shape", "chunks"), [((400, 60), (100, 60)), ((60, 400), (60, 100)), ((90, 90), (30, 45))]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_an_all_zero_array_gives_the_in_memory_zero_svd(method, shape, chunks, dtype) -> None:
    """The sketch of a zero A is zero, which CholeskyQR cannot orthonormalize: svd raised
    SketchUnderflow (the magnitude retry found nothing to scale), where the in-memory
    methods return s = 0 and orthonormal factors."""
    A = da.zeros(shape, chunks=chunks, dtype=dtype)
    u, s, vt = rankwise.svd(A, 5, method=method, random_state=0)
    u_mem, s_mem, vt_mem = rankwise.svd(np.zeros(shape, dtype=dtype), 5, random_state=0)
    u, vt = np.asarray(u), np.asarray(vt)
    assert (u.dtype, s.dtype, vt.dtype) == (u_mem.dtype, s_mem.dtype, vt_mem.dtype)
    np.testing.assert_array_equal(s, s_mem)
    np.testing.assert_allclose(u.T @ u, np.eye(5), atol=0)
    np.testing.assert_allclose(vt @ vt.T, np.eye(5), atol=0)


def test_a_sketch_that_underflows_is_still_rescaled() -> None:
    """The zero test looks at A, not at the sketch: a nonzero A whose sketch underflows
    goes on to the magnitude retry."""
    A = da.from_array(np.full((400, 60), 1e-300), chunks=(100, 60))
    _, s, _ = rankwise.svd(A, 3, random_state=0)
    np.testing.assert_allclose(s[0], 1e-300 * np.sqrt(400 * 60), rtol=1e-12)


def test_entries_near_the_float_maximum_give_no_warning_from_the_first_try() -> None:
    """Entries of 1e300 (found by review): the result was right, after a retry on A scaled
    by a power of two, but the failed first try's overflows reached the user as
    "invalid value encountered in add / multiply" (the same matrix in memory: none)."""
    import warnings

    G = np.random.default_rng(0).standard_normal((500, 60))
    X = da.from_array(G * 2.0**997, chunks=(100, 60))  # ~1e300
    unit = da.from_array(G, chunks=(100, 60))
    # recorded, not raised: run_dask_scaled retries on a raised RuntimeWarning too
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for f in (rankwise.svd, rankwise.randomized_svd):
            _, s, _ = f(X, 5, random_state=0)
            _, expected, _ = f(unit, 5, random_state=0)
            np.testing.assert_allclose(s, expected * 2.0**997, rtol=1e-12)
    assert [str(w.message) for w in seen] == []
