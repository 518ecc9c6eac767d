"""Threads: the BLAS thread count is the user's before and after every call, results do not
depend on how many Python threads call rankwise at once (same or different data, every
family), and OpenMP limits are honoured."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import make_problem

threadpoolctl = pytest.importorskip("threadpoolctl")

# 12000 x 200 with k + p = 30: every product with the sketch is tall-skinny, so the core
# switches the BLAS to one thread around its chunked products (cpp/cpu/blas_threads.hpp).
SHAPE = (12000, 200)


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def _svd(A: np.ndarray) -> tuple[np.ndarray, ...]:
    return rankwise.svd(A, 20, oversample=10, n_iter=3, random_state=0)


def test_blas_thread_count_restored() -> None:
    A = np.array(make_problem("exp", *SHAPE).A)
    before = _blas_threads()
    _svd(A)
    assert _blas_threads() == before
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        limited = _blas_threads()
        _svd(A)
        assert _blas_threads() == limited
    assert _blas_threads() == before


def test_user_code_called_back_runs_with_the_users_blas_threads() -> None:
    """Native calls hold every BLAS of the process (SciPy's and NumPy's own) at one thread
    (rankwise/blas_threads.hpp); a LinearOperator's products and CG's callback are the
    user's code and see the user's thread counts, which are the same again afterwards."""
    from scipy.sparse.linalg import LinearOperator

    A = np.array(make_problem("exp", 3000, 200).A)
    before = _blas_threads()
    seen: list[list[int]] = []

    def record(result: np.ndarray) -> np.ndarray:
        seen.append(_blas_threads())
        return result

    op = LinearOperator(
        A.shape,
        matvec=lambda x: record(A @ x),
        rmatvec=lambda y: record(A.T @ y),
        matmat=lambda X: record(A @ X),
        rmatmat=lambda Y: record(A.T @ Y),
        dtype=A.dtype,
    )
    rankwise.svd(op, 5, random_state=0)
    S = sp.diags_array(
        [np.full(499, -1.0), np.full(500, 2.5), np.full(499, -1.0)], offsets=[-1, 0, 1]
    )
    rankwise.cg(S.tocsr(), np.ones(500), callback=lambda xk: seen.append(_blas_threads()))
    assert len(seen) > 10
    assert all(counts == before for counts in seen), (before, seen[:3])
    assert _blas_threads() == before


def test_concurrent_callers_get_serial_results() -> None:
    A = np.array(make_problem("exp", *SHAPE).A)
    expected = _svd(A)
    before = _blas_threads()
    results: list[tuple[np.ndarray, ...]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(_svd(A))
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 9
    for got in results:
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)
    assert _blas_threads() == before


def test_openmp_limit_honoured_and_result_valid() -> None:
    prob = make_problem("exp", *SHAPE)
    A = np.array(prob.A)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert rankwise.config()["openmp_max_threads"] == 1
        U, s, _Vt = _svd(A)
    np.testing.assert_allclose(s, prob.s[:20], rtol=1e-6)
    np.testing.assert_allclose(U.T @ U, np.eye(20), atol=1e-12)


def _mixed_calls(seed: int) -> list[np.ndarray]:
    """One call of each family on data of its own (different per seed)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((3000, 120)) * np.exp(-np.arange(120) / 10.0)
    n = 2000
    G = sp.random_array((n, n), density=2e-3, rng=rng, format="csr")
    S = (G @ G.T + 5.0 * sp.eye_array(n)).tocsr()
    b = rng.standard_normal(n)
    U, s, Vt = rankwise.svd(A, 8, random_state=seed)
    x, info = rankwise.cg(S, b, rtol=1e-8, M="jacobi")
    assert info == 0
    c = rankwise.cur(A, 6, method="deim")
    return [U, s, Vt, x, c.rows, c.cols, c.U]


def test_concurrent_calls_on_different_data_match_serial_calls() -> None:
    seeds = [11, 12, 13, 14]
    serial = {seed: _mixed_calls(seed) for seed in seeds}
    openmp_before = rankwise.config()["openmp_max_threads"]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            results[seed] = _mixed_calls(seed)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for seed in seeds:
        for got, want in zip(results[seed], serial[seed], strict=True):
            np.testing.assert_array_equal(got, want)
    # Each call's smaller team (rankwise/thread_share.hpp) was given back.
    assert rankwise.config()["openmp_max_threads"] == openmp_before


def test_dense_results_do_not_depend_on_the_openmp_team_size() -> None:
    """Sums are chunked by size only (cpu/tall_skinny.hpp), so that a threadpoolctl limit,
    or the smaller teams concurrent callers get, leaves every bit of the result."""
    A = np.array(make_problem("exp", *SHAPE).A)
    expected = _svd(A)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        one = _svd(A)
    for got, want in zip(one, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_sparse_results_do_not_depend_on_the_openmp_team_size() -> None:
    """The scatter of A^T X is cut into parts by the sizes only and summed in part order
    (cpu/sparse.cpp), and the norms reduce over fixed chunks: a sparse SVD (tall and wide,
    both products) and an updater fed sparse rows give the same bits on one thread."""
    rng = np.random.default_rng(3)
    A = sp.random_array((30000, 4000), density=2e-3, rng=rng, format="csr", dtype=np.float64)
    B = sp.random_array((400, 4000), density=2e-2, rng=rng, format="csr", dtype=np.float64)

    def run() -> list[np.ndarray]:
        tall = rankwise.svd(A, 20, random_state=0)
        wide = rankwise.svd(A.T.tocsr(), 20, random_state=0)
        upd = rankwise.SVDUpdater(16, method="sparse", random_state=1).fit(A[:20000])
        upd.add_rows(A[20000:])
        upd.add_rows(B)
        return [*tall, *wide, *upd.svd()]

    expected = run()
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        one = run()
    for got, want in zip(one, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_calls_from_a_thread_pool_share_the_openmp_threads() -> None:
    """Nested parallelism: N calls running at once from a ThreadPoolExecutor get teams of
    max(1, threads // k) for the k-th call to start (rankwise/thread_share.hpp), not N full
    teams; each worker's OpenMP setting is its own again after the call.  The team size is
    read inside each call, from its LinearOperator's first product, while all N are
    inside (a barrier holds them)."""
    from concurrent.futures import ThreadPoolExecutor

    from rankwise import _core
    from scipy.sparse.linalg import LinearOperator

    n_calls = 4
    barrier = threading.Barrier(n_calls)
    inside: dict[int, int] = {}

    def operator(seed: int) -> LinearOperator:
        A = np.random.default_rng(seed).standard_normal((200, 40))
        first = [True]

        def matmat(X: np.ndarray) -> np.ndarray:
            if first[0]:
                first[0] = False
                inside[seed] = _core.openmp_max_threads()
                barrier.wait(timeout=60)
            return A @ X

        return LinearOperator(
            A.shape, matvec=lambda x: A @ x, matmat=matmat, rmatmat=lambda X: A.T @ X
        )

    def call(seed: int) -> tuple[int, int]:
        before = _core.openmp_max_threads()
        rankwise.svd(operator(seed), 5, random_state=0)
        return before, _core.openmp_max_threads()

    with ThreadPoolExecutor(n_calls) as pool:
        settings = list(pool.map(call, range(n_calls)))
    threads = settings[0][0]
    assert all(before == after == threads for before, after in settings)
    expected = sorted(max(1, threads // k) for k in range(1, n_calls + 1))
    assert sorted(inside.values()) == expected


_WATCH_THE_CORE_LOAD = """
import os, sys
seen = []
def watch(event, args):
    if event == "import" and args[0] == "rankwise._core":
        seen.append(os.environ.get("GOMP_SPINCOUNT"))
sys.addaudithook(watch)
import rankwise
print(seen, os.environ.get("GOMP_SPINCOUNT"), os.environ.get("OMP_WAIT_POLICY"))
"""


@pytest.mark.parametrize(
    ("user_env", "expected"),
    [
        ({}, "['1000'] None None"),
        ({"OMP_WAIT_POLICY": "active"}, "[None] None active"),
        ({"GOMP_SPINCOUNT": "50000"}, "['50000'] 50000 None"),
    ],
)
def test_the_core_loads_with_a_short_openmp_spin_wait(
    user_env: dict[str, str], expected: str
) -> None:
    """libgomp reads GOMP_SPINCOUNT when the core loads it: rankwise sets a short count for
    that moment (a long spin stalls its short parallel steps where other processes share the
    cores) and removes it again; a user's own OpenMP wait setting is left to decide."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run(
        [sys.executable, "-c", _WATCH_THE_CORE_LOAD],
        env={**env, **user_env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libgomp.so.1: Linux")
def test_show_config_says_where_libgomp_was_loaded_first() -> None:
    """A libgomp loaded before rankwise keeps the settings it read then; config says so."""
    import subprocess

    code = "import rankwise; print(rankwise.config()['openmp_wait'])"
    preload = "import ctypes; ctypes.CDLL('libgomp.so.1'); " + code
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", preload], capture_output=True, text=True)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "before rankwise" not in first.stdout
    assert "before rankwise" in second.stdout
