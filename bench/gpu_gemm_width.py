"""The GEMM of a pass against the width of the block: how long cuBLAS takes for A B
(m x n by n x l) and A^T C (n x m by m x l) at the issue's dense size, for widths around
k + p = 74 and 266.

The dense randomized SVD's passes are these products; at l = 74 they ran at about 30
TFLOP/s in float32 on an H200 (session 22's ncu profile: a 256 x 128 tile SIMT kernel and a
128 x 128 one), against a peak of about 60 without tensor cores.  Where a wider block costs
no more (the tile's width, not l, sets the work), oversampling beyond k + 10 is free in the
products, and a method that needs fewer passes of a wider block (q = 1 with l = 128 against
q = 2 with l = 74) may reach the same accuracy sooner.  This measures that; on a GPU machine:

    python -m bench.gpu_gemm_width
"""

from __future__ import annotations

import numpy as np

from bench.gpu import _median_seconds

SHAPE = (32768, 16384)  # the dense matrix
WIDTHS = (64, 74, 80, 96, 112, 128, 160, 192, 256, 266, 288, 320)
REPEATS = 5


def main() -> None:
    import cupy as cp

    m, n = SHAPE
    print(f"{'dtype':8} {'l':>4}  {'A B ms':>8} {'TFLOP/s':>8}  {'A^T C ms':>8} {'TFLOP/s':>8}")
    for dtype in (cp.float32, cp.float64):
        A = cp.random.standard_normal(SHAPE, dtype=cp.float32).astype(dtype)
        for l in WIDTHS:
            B = cp.asfortranarray(cp.random.standard_normal((n, l), dtype=cp.float32), dtype)
            C = cp.asfortranarray(cp.random.standard_normal((m, l), dtype=cp.float32), dtype)
            flops = 2.0 * m * n * l
            t_ab = _median_seconds(lambda A=A, B=B: A @ B, REPEATS)
            t_atc = _median_seconds(lambda A=A, C=C: A.T @ C, REPEATS)
            print(
                f"{np.dtype(dtype).name:8} {l:4d}  {1e3 * t_ab:8.3f} {flops / t_ab / 1e12:8.1f}"
                f"  {1e3 * t_atc:8.3f} {flops / t_atc / 1e12:8.1f}",
                flush=True,
            )
        del A


if __name__ == "__main__":
    main()
