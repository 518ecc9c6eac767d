"""The small SVD at the end of a randomized SVD on the GPU: how long each way of computing
the SVD of the l x l factor (l = k + p) takes, against the time of the whole call.

The CUDA backend calls cuSOLVER's gesvd on it (as CuPy's linalg.svd does); an H200 profile
of the dense float32 32768 x 16384 case (bench/RESULTS.md, gpu section) showed 38 ms of wall
time for 26 ms of kernels, and gesvd's bidiagonal QR loop as hundreds of tiny kernels.  This
times, on the same matrices: cuSOLVER's gesvd (through CuPy), gesvd / gesvdj / gesvda
(through torch), and LAPACK's gesdd on the host with both copies.  On a GPU machine:

    python -m bench.gpu_small_svd
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.gpu import _median_seconds

SIZES = (74, 266)  # k + p of the cases (k = 64 and 256, p = 10)
REPEATS = 15


def _ways(Rc: Any, Rt: Any) -> dict[str, Callable[[], Any]]:
    """The contenders on one matrix, given as a CuPy array and a torch tensor."""
    import cupy as cp
    import torch

    def host() -> list[Any]:
        return [cp.asarray(f) for f in np.linalg.svd(Rc.get(), full_matrices=False)]

    def host_one_thread() -> list[Any]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            return host()

    ways: dict[str, Callable[[], Any]] = {
        "cupy linalg.svd (gesvd)": lambda: cp.linalg.svd(Rc, full_matrices=False),
        "host gesdd + both copies": host,
        "host gesdd 1 thread + copies": host_one_thread,
    }
    for driver in ("gesvd", "gesvdj", "gesvda"):
        ways[f"torch {driver}"] = lambda d=driver: torch.linalg.svd(  # type: ignore[misc]
            Rt, full_matrices=False, driver=d
        )
    return ways


def main() -> None:
    import cupy as cp
    import torch

    rng = np.random.default_rng(0)
    print(f"{'dtype':8} {'l':>4}  {'way':28} {'median ms':>9}")
    for dtype in (np.float32, np.float64):
        for l in SIZES:
            R = np.triu(rng.standard_normal((l, l))).astype(dtype)
            Rc = cp.asarray(R)
            Rt = torch.as_tensor(R, device="cuda")
            ways = _ways(Rc, Rt)
            for name, fn in ways.items():
                try:
                    # torch's kernels too: CuPy's sync covers only its current stream
                    call = lambda f=fn: (f(), torch.cuda.synchronize())  # noqa: E731
                    ms = f"{1e3 * _median_seconds(call, REPEATS):9.3f}"
                except Exception as exc:  # a driver this build lacks: say so, go on
                    ms = f"failed: {type(exc).__name__}: {exc}"[:60]
                print(f"{np.dtype(dtype).name:8} {l:4d}  {name:28} {ms}", flush=True)


if __name__ == "__main__":
    main()
