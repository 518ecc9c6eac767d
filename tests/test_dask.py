"""rankwise.svd on dask arrays, on a real distributed.LocalCluster (two worker processes)
started here: results equal the in-memory ones up to rounding (same seed, same sketch), the
large factor stays a dask array, and a worker killed mid-run is recovered by dask."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import rankwise
import scipy.sparse

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _decaying(m: int, n: int, seed: int, dtype: type = np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, n)) * np.exp(-np.arange(n) / 15.0)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tall_matrix_matches_the_in_memory_result(client, dtype) -> None:
    A = _decaying(6000, 120, seed=1, dtype=dtype)
    D = da.from_array(A, chunks=(1000, 60))  # chunked by columns too: rechunked to rows
    U, s, Vt = rankwise.svd(D, 8, n_iter=2, random_state=5)
    assert isinstance(U, da.Array)
    assert isinstance(s, np.ndarray)
    assert isinstance(Vt, np.ndarray)
    assert U.dtype == s.dtype == Vt.dtype == dtype
    U0, s0, Vt0 = rankwise.svd(A, 8, n_iter=2, random_state=5)
    tol = 1e-4 if dtype == np.float32 else 1e-12  # measured: 6e-6 / 1.3e-14
    np.testing.assert_allclose(s, s0, rtol=tol)
    np.testing.assert_allclose(U.compute(), U0, atol=tol)
    np.testing.assert_allclose(Vt, Vt0, atol=tol)


def test_wide_matrix_returns_its_large_factor_as_dask(client) -> None:
    A = _decaying(6000, 120, seed=2).T.copy()  # 120 x 6000
    D = da.from_array(A, chunks=(120, 1500))
    U, s, Vt = rankwise.svd(D, 6, n_iter=3, random_state=1)
    assert isinstance(U, np.ndarray)
    assert isinstance(Vt, da.Array)
    Vt = Vt.compute()
    # Computed through the tall A^T: the in-memory SVD of A^T, transposed, to rounding.
    V0, s0, Ut0 = rankwise.svd(A.T, 6, n_iter=3, random_state=1)
    signs = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(6)])
    np.testing.assert_array_equal(signs, 1.0)  # sign convention: on the left factor
    flip = np.sign(Ut0.T[np.argmax(np.abs(Ut0.T), axis=0), np.arange(6)])
    np.testing.assert_allclose(s, s0, rtol=1e-10)
    np.testing.assert_allclose(U, Ut0.T * flip, atol=1e-10)
    np.testing.assert_allclose(Vt, (V0 * flip).T, atol=1e-10)


def _slow(block: np.ndarray) -> np.ndarray:
    time.sleep(0.1)
    return block


def test_a_worker_killed_mid_run_is_recovered(client) -> None:
    A = _decaying(8000, 80, seed=3)
    # 8 blocks of 0.1 s per pass, 6 passes on 2 workers: the kill at 0.7 s lands mid-run
    D = da.from_array(A, chunks=(1000, 80)).map_blocks(_slow, dtype=A.dtype)
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    timer = threading.Timer(0.7, os.kill, args=(pid, signal.SIGKILL))  # the nanny restarts it
    timer.start()
    try:
        U, s, Vt = rankwise.svd(D, 5, n_iter=2, random_state=7)
        U = U.compute()
    finally:
        timer.cancel()
    assert victim not in set(client.scheduler_info()["workers"])  # it did die
    U0, s0, Vt0 = rankwise.svd(A, 5, n_iter=2, random_state=7)
    np.testing.assert_allclose(s, s0, rtol=1e-10)
    np.testing.assert_allclose(U, U0, atol=1e-10)
    np.testing.assert_allclose(Vt, Vt0, atol=1e-10)


def test_bad_input_gets_clear_errors(client) -> None:
    # a NaN, an Inf and an Inf whose product with the sketch cancels to NaN, in a middle block
    # and a last block (the blocks are scanned when their first product is not finite)
    for rows, value in (([123], np.nan), ([399], np.inf), ([250, 251], -np.inf)):
        A = _decaying(400, 30, seed=4)
        A[rows, 7] = value
        if len(rows) == 2:
            A[rows[1], 8] = np.inf
        for method in ("subspace", "single_pass"):
            with pytest.raises(ValueError, match="NaN"):
                rankwise.svd(da.from_array(A, chunks=(100, 30)), 3, method=method, random_state=0)
    # huge finite entries are not reported as NaN/Inf: the same values as the in-memory
    # method on the matrix scaled down
    A = _decaying(400, 30, seed=4)
    s = rankwise.svd(da.from_array(A * 1e300, chunks=(100, 30)), 3, random_state=0)[1]
    np.testing.assert_allclose(s, rankwise.svd(A, 3, random_state=0)[1] * 1e300, rtol=1e-10)
    # scipy.sparse chunks: the NaN error itself (the rescale retry cannot take their maximum)
    S = scipy.sparse.random(400, 30, density=0.2, format="csr", random_state=0)
    S.data[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rankwise.svd(da.from_array(S, chunks=(100, 30), asarray=False), 3, random_state=0)
    D = da.from_array(np.ones((40, 30)), chunks=(10, 30))
    with pytest.raises(ValueError, match="subspace"):
        rankwise.svd(D, 3, method="block_krylov")
    with pytest.raises(ValueError, match="k must satisfy"):
        rankwise.svd(D, 31)


def test_randomized_svd_dropin_takes_dask_arrays(client) -> None:
    A = _decaying(4000, 90, seed=6)
    U, s, Vt = rankwise.randomized_svd(da.from_array(A, chunks=(1000, 90)), 7, random_state=2)
    assert isinstance(U, da.Array)
    U0, s0, Vt0 = rankwise.svd(A, 7, random_state=2)
    np.testing.assert_allclose(s, s0, rtol=1e-10)
    np.testing.assert_allclose(U.compute(), U0, atol=1e-10)
    np.testing.assert_allclose(Vt, Vt0, atol=1e-10)


@pytest.mark.parametrize("core", ["pinv", "cross", "stabilized"])
def test_cur_selects_the_in_memory_rows_and_columns(client, core) -> None:
    A = _decaying(5000, 60, seed=8)
    D = da.from_array(A, chunks=(700, 60))
    res = rankwise.cur(D, 6, core=core, random_state=4)
    ref = rankwise.cur(A, 6, core=core, random_state=4)
    assert isinstance(res.C, da.Array)
    np.testing.assert_array_equal(res.rows, ref.rows)  # distributed DEIM = LU pivots
    np.testing.assert_array_equal(res.cols, ref.cols)
    np.testing.assert_array_equal(res.C.compute(), ref.C)
    np.testing.assert_array_equal(res.R, ref.R)
    np.testing.assert_allclose(res.U, ref.U, rtol=1e-8, atol=1e-10 * np.abs(ref.U).max())


def test_single_pass_recovers_a_low_rank_matrix_exactly(client) -> None:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((5000, 6)) @ rng.standard_normal((6, 80))
    D = da.from_array(A, chunks=(700, 80))
    U, s, Vt = rankwise.svd(D, 6, oversample=4, method="single_pass", random_state=1)
    assert isinstance(U, da.Array)
    U = U.compute()
    np.testing.assert_allclose((U * s) @ Vt, A, atol=1e-9 * np.abs(A).max())
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[:6], rtol=1e-10)


@pytest.mark.parametrize("wide", [False, True])
def test_single_pass_error_is_near_optimal_on_a_decaying_spectrum(client, wide) -> None:
    A = _decaying(4000, 150, seed=4)
    if wide:
        A = np.ascontiguousarray(A.T)
    D = da.from_array(A, chunks=(500, 150) if not wide else (150, 500))
    k = 10
    U, s, Vt = rankwise.svd(D, k, oversample=10, method="single_pass", random_state=2)
    U, Vt = np.asarray(U), np.asarray(Vt)
    sigma = np.linalg.svd(A, compute_uv=False)
    err = np.linalg.norm(A - (U * s) @ Vt)
    optimal = np.sqrt(np.sum(sigma[k:] ** 2))
    # Tropp et al. 2017, Theorem 5.1 with l = 2k, l2 = 2l + 1: E err^2 <= (1 + k/(l - k - 1))
    # (1 + l/(l2 - l - 1)) tau_{k+1}^2 ~ 4 tau^2 for the fixed-rank part; allow that factor.
    assert err <= 2.0 * optimal
    assert err >= optimal * (1 - 1e-12)


def test_single_pass_reads_every_block_once(monkeypatch) -> None:
    """Counts the tasks that take a block of A: one per block for the single-pass method
    (so a block can be dropped, or a stream consumed, after it), 2q + 2 per block for the
    power method."""
    import dask
    from rankwise import _dask

    reads: list[int] = []
    for name in ("_one_pass_block", "_times_gram", "_rtimes", "_rtimes_gram"):
        original = getattr(_dask, name)

        def counted(block, *args, _original=original):
            reads.append(int(block[0, 0] * 0) + 1)
            return _original(block, *args)

        monkeypatch.setattr(_dask, name, counted)
    D = da.from_array(_decaying(3000, 60, seed=5), chunks=(500, 60))
    with dask.config.set(scheduler="sync"):
        rankwise.svd(D, 5, method="single_pass", random_state=0)
        assert len(reads) == 6
        reads.clear()
        rankwise.svd(D, 5, n_iter=1, random_state=0)
        assert len(reads) == 4 * 6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunk_kernels_gram_and_times(dtype) -> None:
    """The core's per-chunk products that the graph's tasks call: Y^T Y and Y M in the
    block's dtype, equal to numpy's to rounding, for C- and Fortran-ordered blocks."""
    from rankwise import _core

    rng = np.random.default_rng(8)
    Y = rng.standard_normal((3000, 12)).astype(dtype)
    M = rng.standard_normal((12, 5)).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for block in (Y, np.asfortranarray(Y)):
        G = _core.gram(block)
        Z = _core.times(block, M)
        Z2, G2 = _core.times_and_gram(block, M)
        assert G.dtype == Z.dtype == dtype
        np.testing.assert_allclose(G, Y.T.astype(float) @ Y, rtol=tol, atol=tol * 3000)
        np.testing.assert_allclose(Z, Y.astype(float) @ M, rtol=tol, atol=tol * 10)
        np.testing.assert_array_equal(Z2, Z)
        np.testing.assert_allclose(G2, Z.T.astype(float) @ Z, rtol=tol, atol=tol * 3000)
    with pytest.raises(ValueError, match="M has 5 rows; Y has 12 columns"):
        _core.times(Y, M.T)
    with pytest.raises(ValueError, match="2-D"):
        _core.gram(Y[:, 0])


def test_single_pass_bad_input(client) -> None:
    D = da.from_array(_decaying(600, 40, seed=6), chunks=(200, 40))
    with pytest.raises(ValueError, match="n_iter"):
        rankwise.svd(D, 3, n_iter=2, method="single_pass")
    with pytest.raises(ValueError, match="dask arrays"):
        rankwise.svd(_decaying(60, 40, seed=6), 3, method="single_pass")


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("method", ["subspace", "single_pass"])
def test_two_dimensional_chunks_are_used_in_place(monkeypatch, wide, method) -> None:
    """A chunked by rows and columns: every task that reads A gets one original chunk (no
    rechunk moves A), and the result equals the in-memory one (subspace) or is near-optimal
    (single pass)."""
    import dask
    from rankwise import _dask

    A = _decaying(2400, 180, seed=7)
    chunks = (600, 60)
    if wide:
        A, chunks = np.ascontiguousarray(A.T), (60, 600)
    shapes: set[tuple[int, int]] = set()
    for name in ("_one_pass_block", "_times", "_rtimes", "_times_gram"):
        original = getattr(_dask, name)

        def seen(block, *args, _original=original):
            shapes.add(tuple(np.shape(block)))
            return _original(block, *args)

        monkeypatch.setattr(_dask, name, seen)
    D = da.from_array(A, chunks=chunks)
    with dask.config.set(scheduler="sync"):
        U, s, Vt = rankwise.svd(
            D, 6, n_iter=2 if method == "subspace" else 0, method=method, random_state=3
        )
    block_shapes = {sh for sh in shapes if sh in ((600, 60), (60, 600))}
    assert block_shapes == {(600, 60)}  # B = A (or A^T) in its own chunks; nothing larger
    assert not any(sh[1] == 180 and sh[0] >= 600 for sh in shapes)  # no full-row panels
    U, Vt = np.asarray(U), np.asarray(Vt)
    if method == "subspace":
        # the in-memory run on the tall side uses the same sketch (a wide A is worked on
        # through A^T, whose sketch has A's row count)
        U0, s0, Vt0 = rankwise.svd(A.T if wide else A, 6, n_iter=2, random_state=3)
        np.testing.assert_allclose(s, s0, rtol=1e-10)
        approx = (U0 * s0) @ Vt0
        np.testing.assert_allclose((U * s) @ Vt, approx.T if wide else approx, atol=1e-9)
    else:
        sigma = np.linalg.svd(A, compute_uv=False)
        assert np.linalg.norm(A - (U * s) @ Vt) <= 2.0 * np.sqrt(np.sum(sigma[6:] ** 2))


@pytest.mark.parametrize(
    ("method", "core", "oversample"),
    [
        ("deim", "pinv", (4, 2)),
        ("deim", "stabilized", (0, 3)),
        ("leverage", "pinv", 3),
        ("pivotal", "stabilized", (0, 2)),
        ("leverage", "cross", 0),
        ("uniform", "pinv", (5, 0)),
    ],
)
def test_cur_methods_and_oversampling_match_in_memory(client, method, core, oversample) -> None:
    """Sampled and oversampled selections on a dask array: the same rows, columns and core
    as in memory with the same seed (rows by distributed DEIM or from leverage scores reduced
    block by block)."""
    A = _decaying(3000, 40, seed=9)
    D = da.from_array(A, chunks=(500, 40))
    kw = {"method": method, "core": core, "oversample": oversample, "random_state": 5}
    res = rankwise.cur(D, 5, **kw)
    ref = rankwise.cur(A, 5, **kw)
    assert isinstance(res.C, da.Array)
    np.testing.assert_array_equal(res.rows, ref.rows)
    np.testing.assert_array_equal(res.cols, ref.cols)
    np.testing.assert_array_equal(res.R, ref.R)
    np.testing.assert_allclose(res.U, ref.U, rtol=1e-8, atol=1e-10 * np.abs(ref.U).max())
    np.testing.assert_allclose(res.to_dense(), ref.to_dense(), atol=1e-10 * np.abs(A).max())


def test_cur_given_indices_and_refusals(client) -> None:
    A = _decaying(2000, 30, seed=10)
    D = da.from_array(A, chunks=(400, 30))
    rows, cols = np.array([5, 900, 1500, 77, 1999]), np.array([0, 3, 7, 11, 29])
    res = rankwise.cur(D, 5, rows=rows, cols=cols)
    ref = rankwise.cur(A, 5, rows=rows, cols=cols)
    np.testing.assert_array_equal(res.rows, rows)
    np.testing.assert_allclose(res.U, ref.U, rtol=1e-8, atol=1e-10 * np.abs(ref.U).max())
    half = rankwise.cur(D, 5, cols=cols, method="leverage", random_state=1)  # rows sampled
    np.testing.assert_array_equal(
        half.rows, rankwise.cur(A, 5, cols=cols, method="leverage", random_state=1).rows
    )
    given = rankwise.cur(D, 5, method="qdeim", rows=rows)  # columns by Q-DEIM in memory
    np.testing.assert_array_equal(given.cols, rankwise.cur(A, 5, method="qdeim", rows=rows).cols)
    with pytest.raises(ValueError, match="core='pinv'"):
        rankwise.cur(D, 5, core="cross", oversample=(2, 0))
    ints = rankwise.cur(da.from_array(np.round(A * 100).astype(np.int32), chunks=(400, 30)), 5)
    assert ints.U.dtype == ints.C.dtype == ints.R.dtype == np.float64  # as in memory
    with pytest.raises(ValueError, match="non-negative"):
        rankwise.cur(D, 5, weights=(-np.ones(2000), None))
    with pytest.raises(ValueError, match="length 30"):
        rankwise.cur(D, 5, weights=(None, np.ones(29)))
    with pytest.raises(ValueError, match="exceeds"):
        rankwise.cur(D, 28, oversample=3)


@pytest.mark.parametrize(
    ("method", "weighted"), [("deim", (True, True)), ("leverage", (True, False))]
)
def test_cur_weights_select_as_in_memory(client, method, weighted) -> None:
    """weights=: the selection runs on diag(rw) A diag(cw) (a lazy dask expression), C and R
    stay A's own columns and rows; the same indices and core as in memory."""
    A = _decaying(3000, 40, seed=11)
    rng = np.random.default_rng(3)
    rw = rng.uniform(0.0, 2.0, 3000) if weighted[0] else None
    cw = np.exp(rng.standard_normal(40)) if weighted[1] else None
    kw = {"method": method, "weights": (rw, cw), "core": "pinv", "oversample": (2, 0)}
    res = rankwise.cur(da.from_array(A, chunks=(750, 40)), 5, random_state=6, **kw)
    ref = rankwise.cur(A, 5, random_state=6, **kw)
    np.testing.assert_array_equal(res.rows, ref.rows)
    np.testing.assert_array_equal(res.cols, ref.cols)
    unweighted = rankwise.cur(A, 5, method=method, oversample=(2, 0), random_state=6)
    assert not np.array_equal(ref.rows, unweighted.rows)  # the weights do change the choice
    np.testing.assert_array_equal(res.C.compute(), A[:, res.cols])
    np.testing.assert_array_equal(res.R, A[res.rows])
    np.testing.assert_allclose(res.U, ref.U, rtol=1e-8, atol=1e-10 * np.abs(ref.U).max())


@pytest.mark.parametrize(
    ("method", "core", "oversample", "weighted"),
    [("deim", "stabilized", (3, 0), False), ("pivotal", "pinv", (0, 2), True)],
)
def test_wide_cur_is_the_transposed_cur_of_the_transpose(
    client, method, core, oversample, weighted
) -> None:
    """A wide dask array (m < n, column blocks) is worked on through A^T: its result is the
    in-memory cur of A^T with rows and columns (C and R, the oversampling, the weights)
    swapped, with R as the dask factor."""
    A = np.ascontiguousarray(_decaying(3000, 40, seed=12).T)  # 40 x 3000
    rng = np.random.default_rng(4)
    rw, cw = (rng.uniform(0.5, 2.0, 40), rng.uniform(0.0, 1.0, 3000)) if weighted else (None,) * 2
    res = rankwise.cur(
        da.from_array(A, chunks=(40, 750)), 5, method=method, core=core,
        oversample=oversample, weights=(rw, cw), random_state=8,
    )  # fmt: skip
    ref = rankwise.cur(
        A.T, 5, method=method, core=core, oversample=oversample[::-1], weights=(cw, rw),
        random_state=8,
    )  # fmt: skip
    assert isinstance(res.R, da.Array)
    assert isinstance(res.C, np.ndarray)
    np.testing.assert_array_equal(res.rows, ref.cols)
    np.testing.assert_array_equal(res.cols, ref.rows)
    np.testing.assert_array_equal(res.C, A[:, res.cols])
    np.testing.assert_array_equal(res.R.compute(), A[res.rows])
    np.testing.assert_allclose(res.U, ref.U.T, rtol=1e-8, atol=1e-10 * np.abs(ref.U).max())
    x = rng.standard_normal(3000)
    np.testing.assert_allclose(res @ x, ref.to_dense().T @ x, atol=1e-9 * np.abs(A).max())
    if not weighted:  # near-optimal: within the DEIM bound's small factor of the rank-k error
        sigma = np.linalg.svd(A, compute_uv=False)
        assert np.linalg.norm(A - res.to_dense()) <= 10 * np.sqrt(np.sum(sigma[5:] ** 2))


def test_wide_cur_refusals(client) -> None:
    A = np.ascontiguousarray(_decaying(600, 30, seed=13).T)  # 30 x 600
    with pytest.raises(ValueError, match="chunked along its rows only"):
        rankwise.cur(da.from_array(A, chunks=(10, 600)), 3)
    D = da.from_array(A, chunks=(30, 200))
    with pytest.raises(ValueError, match="more columns"):
        rankwise.cur(D, 3, oversample=(0, 2))


@pytest.mark.parametrize(
    ("method", "dtype"),
    [("qdeim", np.float32), ("maxvol", np.float64), ("rrqr", np.float64)],
)
def test_cur_pivoted_and_exchange_rows_match_in_memory(client, method, dtype) -> None:
    """Rows by Q-DEIM (pivoted Gram-Schmidt over the row blocks), maxvol and strong RRQR
    (exchanges with the argmax reduced block by block): the in-memory rows and columns."""
    A = _decaying(3000, 40, seed=14, dtype=dtype)
    kw = {"method": method, "core": "pinv", "oversample": (3, 0), "random_state": 3}
    res = rankwise.cur(da.from_array(A, chunks=(750, 40)), 6, **kw)
    ref = rankwise.cur(A, 6, **kw)
    np.testing.assert_array_equal(res.rows, ref.rows)
    np.testing.assert_array_equal(res.cols, ref.cols)
    tol = 1e-4 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(res.U, ref.U, rtol=tol, atol=tol * np.abs(ref.U).max())


def test_distributed_maxvol_makes_the_in_memory_exchanges(client) -> None:
    """From a random start (a dozen exchanges): the rows of the in-memory maxvol_from, and
    the maxvol property |U U[rows]^-1| <= 1 + tol at the end."""
    from rankwise import _core, _dask

    rng = np.random.default_rng(5)
    U = np.linalg.qr(rng.standard_normal((3000, 10)))[0]
    start = rng.choice(3000, 10, replace=False)
    ref, swaps, _ = _core.maxvol_from(U, start.tolist(), 0.05, 1000)
    assert swaps >= 8
    rows = _dask.maxvol_rows(da.from_array(U, chunks=(500, 10)), start, 0.05, 1000)
    np.testing.assert_array_equal(rows, ref)
    assert np.abs(U @ np.linalg.inv(U[rows])).max() <= 1.05 + 1e-12
    capped = _dask.maxvol_rows(da.from_array(U, chunks=(500, 10)), start, 0.05, 3)
    assert np.count_nonzero(capped != start) <= 3  # max_swaps exchanges at most


def test_distributed_swap_refine_makes_the_in_memory_exchanges(client) -> None:
    """The exchange refinement with its full searches reduced over the row blocks: the
    in-memory swap_refine's rows, from a start (maxvol) that takes 14 exchanges, full and
    shortlist searches, where a row swapped out in a shortlist search would be the best
    candidate again (it may not be: it is not in the shortlist)."""
    from rankwise import _dask, _selection

    rng = np.random.default_rng(1)
    G = rng.standard_normal((1500, 14)) * np.exp(-np.arange(14) / 4)
    U = np.linalg.qr(G * rng.uniform(0.5, 1.0, (1500, 1)))[0]
    s = np.exp(-np.arange(14) / 3.0)
    start = _selection.maxvol(np.ascontiguousarray(U[:, :7]))
    ref, swaps = _selection.swap_refine(U, s, start)
    assert swaps == 14
    rows = _dask.swap_refine_rows(da.from_array(U, chunks=(500, 14)), s, start)
    np.testing.assert_array_equal(rows, ref)


@pytest.mark.parametrize(("method", "wide"), [("deim", False), ("leverage", True)])
def test_cur_refine_matches_in_memory(client, method, wide) -> None:
    A = _decaying(3000, 40, seed=15)
    kw = {"method": method, "core": "pinv", "refine": True, "random_state": 2}
    if wide:
        A = np.ascontiguousarray(A.T)
    res = rankwise.cur(da.from_array(A, chunks=(40, 750) if wide else (750, 40)), 6, **kw)
    ref = rankwise.cur(A.T if wide else A, 6, **kw)
    unrefined = rankwise.cur(A.T if wide else A, 6, **{**kw, "refine": False})
    assert not np.array_equal(ref.rows, unrefined.rows)  # the refinement did exchange rows
    np.testing.assert_array_equal(res.rows, ref.cols if wide else ref.rows)
    np.testing.assert_array_equal(res.cols, ref.rows if wide else ref.cols)


def test_a_worker_killed_during_the_exchanges_is_recovered(client, monkeypatch) -> None:
    """maxvol keeps B in persisted row blocks between the client round trips of its
    exchanges: a worker killed after the third persist (B updated twice, the previous
    versions released) loses blocks that dask recomputes from the graph; the rows are
    unchanged."""
    import dask
    from rankwise import _core, _dask

    rng = np.random.default_rng(5)
    U = np.linalg.qr(rng.standard_normal((3000, 10)))[0]
    start = rng.choice(3000, 10, replace=False)
    ref, swaps, _ = _core.maxvol_from(U, start.tolist(), 0.05, 1000)
    assert swaps >= 5
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    persist, calls = dask.persist, []

    def persist_then_kill(*args, **kwargs):
        out = persist(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            distributed.wait(distributed.client.futures_of(out))
            os.kill(pid, signal.SIGKILL)  # the nanny restarts it, empty
            deadline = time.monotonic() + 30
            while victim in client.scheduler_info()["workers"] and time.monotonic() < deadline:
                time.sleep(0.05)
        return out

    monkeypatch.setattr(dask, "persist", persist_then_kill)
    rows = _dask.maxvol_rows(da.from_array(U, chunks=(300, 10)), start, 0.05, 1000)
    assert len(calls) > 3
    assert victim not in set(client.scheduler_info()["workers"])  # it did die
    np.testing.assert_array_equal(rows, ref)
    client.wait_for_workers(2)


def test_empty_chunks_are_merged_away(client) -> None:
    """Chunks of zero rows (as boolean indexing leaves them) broke dask's own reductions and
    the argmax tasks: svd and cur now skip them, with the in-memory results."""
    A = _decaying(1200, 30, seed=16)
    D = da.from_array(A, chunks=((400, 0, 500, 300), (30,)))
    U, s, _ = rankwise.svd(D, 4, n_iter=2, random_state=1)
    assert U.chunks[0] == (400, 500, 300)
    np.testing.assert_allclose(s, rankwise.svd(A, 4, n_iter=2, random_state=1)[1], rtol=1e-10)
    kw = {"method": "maxvol", "core": "pinv", "random_state": 1}
    np.testing.assert_array_equal(rankwise.cur(D, 4, **kw).rows, rankwise.cur(A, 4, **kw).rows)


def test_a_reduction_that_every_block_reads_is_one_graph_layer() -> None:
    """Each delayed call copies the layer tables of its arguments; a reduction's result
    had a layer per task below it, so that the P block tasks reading it made building the
    graph grow as P^2 (1000 blocks of 10 rows: svd 14.6 s against dask's svd_compressed's
    3.5; an acceptance review, session 44).  Its graph is now one layer, so a task reading
    it has two."""
    from dask import delayed
    from rankwise._dask import _tree

    parts = [delayed(np.full)(3, float(i)) for i in range(100)]
    total = _tree(parts, lambda *p: np.sum(p, axis=0))
    assert len(delayed(np.sum)(total).__dask_graph__().layers) == 2
    np.testing.assert_array_equal(total.compute(), np.full(3, 4950.0))
    biggest, double = _tree(
        parts, lambda *p: np.max(p, axis=0), lambda t, c: (t, c * t), 2.0, nout=2
    )
    assert len(delayed(np.sum)(biggest).__dask_graph__().layers) == 3  # (and the getitem)
    np.testing.assert_array_equal(double.compute(), np.full(3, 198.0))


@pytest.mark.parametrize("scale", [1e200, 1e-300])
def test_scipy_sparse_chunks_of_any_magnitude(scale: float) -> None:
    """Dask arrays of scipy.sparse chunks near the ends of the float range raised SciPy's
    "array must not contain infs or NaNs" or SketchUnderflow, and an all-zero one too,
    where dense chunks and in-memory input work (their maximum could not be taken;
    acceptance review, session 44).  Same factors as at scale 1, scaled."""
    import dask.array as da

    S = scipy.sparse.random(300, 40, density=0.2, format="csr", random_state=0)

    def chunked(M: object) -> object:
        return da.from_array(M, chunks=(100, 40), asarray=False)

    _, s1, _ = rankwise.svd(chunked(S), 5, random_state=0)
    _, s, _ = rankwise.svd(chunked(S * scale), 5, random_state=0)
    np.testing.assert_allclose(s / scale, s1, rtol=1e-12)
    _, s0, _ = rankwise.svd(chunked(scipy.sparse.csr_matrix((300, 40))), 3, random_state=0)
    np.testing.assert_array_equal(s0, 0.0)


def test_randomized_svd_of_unknown_chunk_sizes_says_so() -> None:
    """It raised Python's "cannot convert float NaN to integer" (acceptance review)."""
    import dask.array as da

    A = np.random.default_rng(0).standard_normal((60, 8))
    Ad = da.from_array(A, chunks=(20, 8))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        rankwise.randomized_svd(Ad[Ad[:, 0] > 0], 3)
