"""rankwise.cur of a dask array, per row-selection method: what the distributed row kernels
cost next to the SVD they start from (hand-run; not a runner family).

    python -m bench.dask_cur_rows [--rows M] [--reps R]

On a 2-process LocalCluster (one thread each) started here: a dense M x 200 matrix with
decaying columns in 8 row chunks, k = 20, core "pinv".  Rounds of every call, round-robin
(medians over the rounds): rankwise.svd of the dask array at rank k (what every method
starts from), rankwise.cur of the dask array and of the numpy array for each method, and
the row kernels of python/rankwise/_dask.py alone on the SVD's U.  Every dask CUR is checked
to select the rows and columns of the in-memory one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

METHODS = (
    ("deim", False),
    ("qdeim", False),
    ("maxvol", False),
    ("rrqr", False),
    ("leverage", False),
    ("deim", True),
)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    import dask.array as da
    import distributed
    import rankwise
    from rankwise import _dask, _selection

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    m, n, k = args.rows, 200, 20
    A = np.random.default_rng(0).standard_normal((m, n)) * np.exp(-np.arange(n) / 20.0)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    try:
        D = da.from_array(A, chunks=(-(-m // 8), n)).persist()
        distributed.wait(D)
        U = rankwise.svd(D, k, random_state=1)[0]
        start = _dask.deim_rows(U)
        calls: dict[str, Callable[[], Any]] = {
            "svd (rank k), dask": lambda: rankwise.svd(D, k, random_state=1),
            "svd (rank k), in memory": lambda: rankwise.svd(A, k, random_state=1),
            "kernel deim_rows": lambda: _dask.deim_rows(U),
            "kernel qdeim_rows": lambda: _dask.qdeim_rows(U),
            "kernel maxvol_rows (DEIM start)": lambda: _dask.maxvol_rows(
                U, start, _selection.MAXVOL_TOL, 100 * k
            ),
            "kernel row_leverage": lambda: _dask.row_leverage(U),
        }
        for method, refine in METHODS:
            kw = {"method": method, "core": "pinv", "refine": refine, "random_state": 1}
            name = f"cur {method}{' refine' if refine else ''}"
            calls[f"{name}, dask"] = lambda kw=kw: rankwise.cur(D, k, **kw)
            calls[f"{name}, in memory"] = lambda kw=kw: rankwise.cur(A, k, **kw)
        times: dict[str, list[float]] = {name: [] for name in calls}
        for rep in range(args.reps):
            for name, fn in calls.items():
                seconds, out = _timed(fn)
                times[name].append(seconds)
                if rep == 0 and name.startswith("cur") and name.endswith("dask"):
                    ref = calls[name.replace("dask", "in memory")]()
                    same = np.array_equal(out.rows, ref.rows) and np.array_equal(
                        out.cols, ref.cols
                    )
                    assert same, f"{name}: not the in-memory rows and columns"
        print(
            f"{m} x {n}, k = {k}, 8 row chunks, 2 workers x 1 thread; medians of {args.reps} "
            f"round-robin rounds; load average {os.getloadavg()[0]:.1f} after the run"
        )
        for name, values in times.items():
            print(f"  {name:36s} {statistics.median(values):7.2f} s")
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
