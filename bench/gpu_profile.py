"""Where the GPU time of one rankwise call goes: one call per case under Nsight Compute,
kernel time summed per kernel name.

On a GPU machine (the device tool; .ci/gpu_check runs it with GPU_PROFILE=1):

    ncu --clock-control none --profile-from-start off --metrics gpu__time_duration.sum \\
        --print-summary per-kernel python -m bench.gpu_profile run dense32 > raw.txt
    python -m bench.gpu_profile summarize raw.txt

``run`` makes the case's data, calls rankwise once to warm up (module load, handles,
kernel compilation), then once between cudaProfilerStart and Stop, so that ncu measures
that call alone.  ``summarize`` prints the total and the kernels that take the most time
(the summary of 2026-11-26, bench/gpu_logs/2026-11-26/ncu_sparse_rsvd.txt, found cuBLAS's
one-block syrk that way).  Cases: the issue's sizes (bench/gpu.py, full mode).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any

from bench.gpu import SEED, _poisson2d_gpu, decaying_dense

CG_PROFILE_ITERS = 20


def _dense32() -> Callable[[], Any]:
    import rankwise

    A = decaying_dense(32768, 16384, "float32")
    return lambda: rankwise.svd(A, 64, oversample=10, n_iter=2, random_state=0)


def _sparse32() -> Callable[[], Any]:
    import cupy as cp
    import cupyx.scipy.sparse as csp
    import rankwise

    A = csp.random(
        1_000_000, 100_000, density=1e-4, format="csr", dtype=cp.float32, random_state=SEED
    )
    return lambda: rankwise.svd(A, 64, oversample=10, n_iter=2, random_state=0)


def _cg() -> Callable[[], Any]:
    import cupy as cp
    import rankwise

    A = _poisson2d_gpu(3163)
    b = cp.ones(A.shape[0])
    return lambda: rankwise.cg(A, b, rtol=1e-30, maxiter=CG_PROFILE_ITERS, M="jacobi")


CASES: dict[str, Callable[[], Callable[[], Any]]] = {
    "dense32": _dense32,
    "sparse32": _sparse32,
    "cg": _cg,
}


def run(case: str) -> None:
    import cupy as cp

    call = CASES[case]()
    call()
    cp.cuda.runtime.deviceSynchronize()
    cp.cuda.profiler.start()
    call()
    cp.cuda.runtime.deviceSynchronize()
    cp.cuda.profiler.stop()


_UNITS = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0, "msecond": 1.0}
_HEADER = re.compile(r"Invocations (\d+)")
_DURATION = re.compile(r"\s+gpu__time_duration\.sum\s+(\S+)\s+[\d.,]+\s+[\d.,]+\s+([\d.,]+)")


def kernel_times(text: str) -> list[tuple[float, int, str]]:
    """(total ms, invocations, kernel line) per kernel of ncu's per-kernel summary, the
    largest first: each kernel's header line (name, grid, block, "Invocations N") is
    followed by its gpu__time_duration.sum line (unit, min, max, average)."""
    rows = []
    header: str | None = None
    for line in text.splitlines():
        if _HEADER.search(line):
            header = line.strip()
            continue
        m = _DURATION.match(line)
        if m and header is not None:
            calls = int(_HEADER.search(header).group(1))  # type: ignore[union-attr]
            average = float(m.group(2).replace(",", "")) * _UNITS[m.group(1)]
            rows.append((average * calls, calls, header))
            header = None
    return sorted(rows, reverse=True)


def summarize(path: str, top: int = 25) -> str:
    with open(path) as f:
        rows = kernel_times(f.read())
    total = sum(r[0] for r in rows)
    lines = [f"{path}: {total:.2f} ms of kernel time in {len(rows)} kernels"]
    lines += (
        [
            f"{ms:9.3f} ms {100 * ms / total:5.1f}% {calls:5d}  {name[:140]}"
            for ms, calls, name in rows[:top]
        ]
        if total > 0
        else []
    )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_profile")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run").add_argument("case", choices=sorted(CASES))
    sub.add_parser("summarize").add_argument("path")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.case)
    else:
        print(summarize(args.path))


if __name__ == "__main__":
    main(sys.argv[1:])
