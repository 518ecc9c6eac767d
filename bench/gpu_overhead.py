"""Where the wall time of one rankwise call on the GPU goes beyond its kernels.

The H200 runs of 2026-11-26 timed the dense float32 32768 x 16384 randomized SVD (k = 64) at
35 ms for about 26 ms of kernels (ncu), and block Krylov with q = 1 (5 passes' worth of
GEMMs, 13 ms) at 34 ms: most of the gap is not arithmetic.  On a GPU machine:

    python -m bench.gpu_overhead time             # the pieces of a call
    nsys profile -o /tmp/tl --trace=cuda --capture-range=cudaProfilerApi \\
        python -m bench.gpu_profile run dense32
    nsys stats -q -r cuda_gpu_trace,cuda_api_sum -f csv --force-export=true \\
        -o /tmp/tl /tmp/tl.nsys-rep
    python -m bench.gpu_overhead timeline /tmp/tl  # busy time, largest idle gaps, API time

``time`` times, median of several calls each, on the benchmark's matrices (bench/gpu.py):
the whole ``rankwise.svd`` with q = 2 and q = 0 and block Krylov with q = 1, and the Python
seam alone (``as_device_matrix``, which includes the NaN/Inf check, and ``flip_signs``).  The
run of 2026-11-27 also tried the device's default memory pool with a release threshold: the
sparse call went from 38.7 to 27.2 ms, which led to rankwise's own pool (cuda/src/context.cpp).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.gpu import _median_seconds, decaying_dense

REPEATS = 7


def _operands() -> dict[str, tuple[Any, int]]:
    import cupy as cp
    import cupyx.scipy.sparse as csp

    dense = decaying_dense(32768, 16384, "float32")
    return {
        "dense32 k=64": (dense, 64),
        "dense32 k=256": (dense, 256),
        "dense64 k=64": (dense.astype(cp.float64), 64),
        "sparse32 k=64": (
            csp.random(1_000_000, 100_000, density=1e-4, format="csr", dtype=cp.float32),
            64,
        ),
    }


def _pieces(A: Any, k: int) -> dict[str, Callable[[], Any]]:
    import rankwise
    from rankwise import _gpu
    from rankwise._svd import flip_signs

    U, _, Vt = rankwise.svd(A, k, n_iter=2, random_state=0)
    return {
        "rankwise.svd q=2": lambda: rankwise.svd(A, k, n_iter=2, random_state=0),
        "rankwise.svd q=0": lambda: rankwise.svd(A, k, n_iter=0, random_state=0),
        "block_krylov 9 passes b=k/2": lambda: rankwise.svd(
            A, k, method="block_krylov", n_passes=9, block_size=k // 2, random_state=0
        ),
        "block_krylov 5 passes b=k": lambda: rankwise.svd(
            A, k, method="block_krylov", n_passes=5, block_size=k, random_state=0
        ),
        "rankwise.svd q=1": lambda: rankwise.svd(A, k, n_iter=1, random_state=0),
        "as_device_matrix": lambda: _gpu.as_device_matrix(A),
        "flip_signs": lambda: flip_signs(U, Vt),
        **_torch_piece(A, k),
    }


def _torch_piece(A: Any, k: int) -> dict[str, Callable[[], Any]]:
    """torch.svd_lowrank with the same q and niter, dense operands only (the reference)."""
    try:
        import torch
    except ImportError:
        return {}
    if hasattr(A, "tocsr"):
        return {}
    torch.backends.cuda.matmul.allow_tf32 = False
    At = torch.from_dlpack(A)
    return {"torch.svd_lowrank q=2": lambda: torch.svd_lowrank(At, q=k + 10, niter=2)}


def time_pieces() -> None:
    print(f"median ms of {REPEATS} calls")
    for name, (A, k) in _operands().items():
        for piece, fn in _pieces(A, k).items():
            print(f"{name:14} {piece:34} {1e3 * _median_seconds(fn, REPEATS):9.3f}")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        lines = [line for line in f if "," in line]  # nsys prints notes before the header
    return list(csv.DictReader(lines))


def _column(row: dict[str, str], word: str) -> str:
    return next(v for key, v in row.items() if key and word in key)


def timeline(prefix: str, top: int = 15) -> None:
    """Kernel busy time, span, the largest idle gaps (with the kernels on either side) from
    nsys's cuda_gpu_trace, and the CUDA API calls that took the most host time."""
    gpu = sorted(
        (
            int(_column(r, "Start")),
            int(_column(r, "Duration")),
            _column(r, "Name")[:70],
        )
        for r in _rows(Path(f"{prefix}_cuda_gpu_trace.csv"))
    )
    if not gpu:
        print("no GPU activity recorded")
        return
    span = gpu[-1][0] + gpu[-1][1] - gpu[0][0]
    busy = 0
    end = gpu[0][0]
    gaps = []
    previous = "(start)"
    for start, duration, name in gpu:
        if start > end:
            gaps.append((start - end, previous, name))
        busy += max(0, start + duration - max(start, end))
        end = max(end, start + duration)
        previous = name
    print(
        f"{len(gpu)} GPU activities over {span / 1e6:.3f} ms: busy {busy / 1e6:.3f} ms, idle "
        f"{(span - busy) / 1e6:.3f} ms in {len(gaps)} gaps"
    )
    for gap, before, after in sorted(gaps, reverse=True)[:top]:
        print(f"  gap {gap / 1e3:9.1f} us  after {before}  before {after}")
    api = Path(f"{prefix}_cuda_api_sum.csv")
    if api.exists():
        print("CUDA API calls by total host time:")
        for r in _rows(api)[:top]:
            total = float(_column(r, "Total Time")) / 1e6
            print(f"  {total:9.3f} ms {_column(r, 'Num Calls'):>6} calls  {_column(r, 'Name')}")


def main(argv: list[str]) -> None:
    if argv[:1] == ["time"]:
        time_pieces()
    elif argv[:1] == ["timeline"] and len(argv) == 2:
        timeline(argv[1])
    else:
        sys.exit("usage: python -m bench.gpu_overhead time | timeline PREFIX")


if __name__ == "__main__":
    main(sys.argv[1:])
