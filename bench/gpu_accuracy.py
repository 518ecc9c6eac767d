"""Accuracy of the dense GPU benchmark's contenders (bench/gpu.py), computed with the CPU
backend, which runs the same algorithms on the same sketches (the CUDA backend draws the
sketch of the CPU's for the same seed): which of them reaches torch.svd_lowrank's accuracy
(q = 2 power iterations, l = k + 10) in fewer passes, the issue's "any method" clause.

The matrix is A = Q1 diag(1/j) Q2^T of the benchmark's size with exactly orthonormal Q1
(m x 2048) and Q2 (n x 2048), so that the errors are exact: the relative Frobenius error, the
spectral error over sigma_{k+1} (25 power steps on the residual), and the largest relative
error of the k singular values.  About 2 minutes for float32, k = 64 and 256, on 2 cores:

    python -m bench.gpu_accuracy float32 64,256
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

M, N, R = 32768, 16384, 2048


def decaying(dtype: np.dtype) -> np.ndarray:
    rng = np.random.default_rng(0)
    Q1 = np.linalg.qr(rng.standard_normal((M, R), dtype=np.float32).astype(np.float64))[0]
    Q2 = np.linalg.qr(rng.standard_normal((N, R), dtype=np.float32).astype(np.float64))[0]
    return ((Q1 / np.arange(1, R + 1)) @ Q2.T).astype(dtype)


def errors(A: np.ndarray, U: Any, s: Any, Vt: Any, k: int) -> tuple[float, float, float]:
    """(Frobenius, spectral / sigma_{k+1}, max relative singular value) errors."""
    sigma = 1.0 / np.arange(1, R + 1)
    U, s, Vt = (np.asarray(x, dtype=np.float64) for x in (U, s, Vt))
    # ||A - U S Vt||_F^2 = ||A||^2 - 2 sum s_i u_i^T A v_i + ||S||^2 (orthonormal U, V)
    cross = np.einsum("ij,ij->j", U, (A @ Vt.T.astype(A.dtype)).astype(np.float64))
    norm = float(np.linalg.norm(sigma))
    fro = np.sqrt(max(norm**2 - 2 * float(s @ cross) + float(s @ s), 0.0)) / norm
    x = np.random.default_rng(1).standard_normal(A.shape[1])
    lam = 0.0
    for _ in range(25):  # power steps on R^T R, R = A - U S Vt
        y = A @ x.astype(A.dtype) - U @ (s * (Vt @ x))
        z = A.T @ y.astype(A.dtype) - Vt.T @ (s * (U.T @ y))
        lam = float(np.linalg.norm(z))
        x = z / lam
    spectral = np.sqrt(lam) / sigma[k]
    values = float(np.max(np.abs(s - sigma[:k]) / sigma[:k]))
    return fro, spectral, values


def main() -> None:
    import rankwise

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dtype", choices=["float32", "float64"])
    parser.add_argument("ks", help="comma-separated ranks, e.g. 64,256")
    args = parser.parse_args()
    A = decaying(np.dtype(args.dtype))
    for k in (int(v) for v in args.ks.split(",")):
        runs: dict[str, dict[str, Any]] = {
            "q=0": {"n_iter": 0, "oversample": 10},
            "q=1": {"n_iter": 1, "oversample": 10},
            "q=2": {"n_iter": 2, "oversample": 10},
            "krylov 5 x k": {"method": "block_krylov", "n_passes": 5, "block_size": k},
            "krylov 9 x k/2": {"method": "block_krylov", "n_passes": 9, "block_size": k // 2},
        }
        for name, options in runs.items():
            start = time.perf_counter()
            U, s, Vt = rankwise.svd(A, k, random_state=0, **options)
            seconds = time.perf_counter() - start
            fro, spectral, values = errors(A, U, s, Vt, k)
            print(
                f"{args.dtype} k={k} {name:15s} fro {fro:.6e} spec/sigma_k+1 {spectral:.4f} "
                f"sv max rel {values:.2e} ({seconds:.1f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
