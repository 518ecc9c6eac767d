"""gpu family: rankwise's CUDA backend against what a GPU user would otherwise call.

Runs only where CuPy sees a GPU and rankwise was built with its CUDA backend; elsewhere it
has no cases (and says why).  Every contender synchronizes the device before it returns, so
the runner's wall-clock times are device times.  The floors are measured on the device in
the same run: the GEMM rate of the two products of a pass ((m x n)(n x l) and its
transpose, cuBLAS through CuPy, TF32 off) and the device-to-device copy bandwidth.

Cases (the issue's sizes in full mode; a quarter of each in quick mode):
- dense m x n with a decaying spectrum, k + p = 74 and 266, two power iterations, float32
  and float64: rankwise.svd against torch.svd_lowrank (same q, niter) and the same algorithm
  written in plain CuPy.  Accuracy: ||A - U U^T A||_F / ||A||_F (lower is better).
- sparse CSR float32, k + p = 74, two power iterations: against torch.svd_lowrank.
- CG with Jacobi on 2-D Poisson (float64), a fixed number of iterations: against
  cupyx.scipy.sparse.linalg.cg; time per iteration against the bandwidth floor.
- DEIM and Q-DEIM points of an orthonormal n x m basis (float64): the CUDA backend against
  the CPU backend on the same basis; accuracy: the Lebesgue constant of the points.
- CUR (DEIM, stabilized core) of a dense float64 matrix: CUDA backend against CPU backend.
- updating SVD (SVDUpdater, method "sparse", k = l = 64): the rows of a random sparse float64
  matrix (entries scaled by power-law row and column weights) beyond its first half added in
  10 CSR batches to the SVD of that half, CUDA backend against CPU backend on the same data
  and seed; accuracy: ||A - U U^T A||_F / ||A||_F.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .case import (
    Assessment,
    Case,
    Contender,
    FloorTarget,
    Metric,
    Mode,
    Skip,
    SpeedupTarget,
    Workload,
)
from .machine import Limits

PACKAGES = ("rankwise", "cupy", "torch")
BASELINE = "rankwise.svd (cuda)"
CG_BASELINE = "rankwise.cg (cuda)"
Q = 2
KRYLOV_PASSES = 9
"""Block Krylov contender: 9 passes of k/2 columns (odd finish, 5 blocks in the factors'
space).  On sigma_j = 1/j, k = 64 (float64 on the CPU, 8192 x 4096, bench/RESULTS.md session
28): 4x closer to the optimum than q = 2 with l = k + 10, with 65% of its products."""
KRYLOV_SHORT = "rankwise.svd block_krylov 5 x k (cuda)"
"""The issue's "any method" contender: 5 passes of k columns.  More accurate than q = 2 with
l = k + 10 on every measure (Frobenius, spectral, singular values; bench/RESULTS.md session
41) with 5 k of its 6 (k + 10) column-passes: 17.2 ms against torch's 26.4 for float32 k = 64
on an H200; slow at k = 256 (a 1280-column basis: 164 ms)."""
CG_ITERS = 200
SEED = 0
RESIDUAL = (
    Metric("rel_err", "rel err", "||A - U diag(s) Vt||_F / ||A||_F of the rank-k factors", ".4e"),
)
CG_METRICS = (Metric("rel_res", "rel res", "||b - A x|| / ||b|| after the iterations", ".2e"),)


def unavailable() -> str | None:
    """Why the family cannot run here, or None."""
    try:
        import cupy
        import rankwise._cuda as native
    except ImportError as exc:
        return f"needs CuPy and rankwise's CUDA backend ({exc})"
    if native.device_count() == 0 or cupy.cuda.runtime.getDeviceCount() == 0:
        return "no CUDA device"
    return None


def _sync() -> None:
    import cupy

    cupy.cuda.get_current_stream().synchronize()


def _timed(fn: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        out = fn()
        _sync()
        return out

    return call


def _median_seconds(fn: Callable[[], Any], repeats: int = 5) -> float:
    import time

    fn()
    _sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _gemm_probe(A: Any, l: int) -> Callable[[], float]:
    """Rate (flop/s) of A @ B plus A^T @ C on the device, B and C of l columns."""
    import cupy as cp

    m, n = A.shape
    B = cp.random.standard_normal((n, l), dtype=cp.float32).astype(A.dtype)
    C = cp.random.standard_normal((m, l), dtype=cp.float32).astype(A.dtype)

    def probe() -> float:
        return 4.0 * m * n * l / _median_seconds(lambda: (A @ B, A.T @ C), 3)

    return probe


COPY_PROBE_MIN = 1 << 26
"""Fewest float64 of the copy probe (512 MiB).  The CG case probed with its 1e7-vector (80
MB, 0.04 ms a copy), timed by the wall clock with a synchronization, and read 2.65-2.86 TB/s
on the H200 where the sparse case's 2^26 read 3.9 and CG's own update of p moved 4.3
(ncu, session 41): its floor, and its "90% of the floor", were too low."""


def _copy_probe(n: int) -> Callable[[], float]:
    """Device-to-device copy bandwidth (bytes/s, read + write) on max(n, COPY_PROBE_MIN)
    float64: five copies between CUDA events, after one untimed."""
    import cupy as cp

    size = max(n, COPY_PROBE_MIN)
    x = cp.ones(size)
    y = cp.empty_like(x)

    def probe() -> float:
        cp.copyto(y, x)
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        for _ in range(5):
            cp.copyto(y, x)
        end.record()
        end.synchronize()
        seconds = cp.cuda.get_elapsed_time(start, end) / 1e3 / 5
        return 2.0 * 8 * size / seconds

    return probe


def _residual_assessor(A: Any) -> Callable[[object], Assessment]:
    """||A - U diag(s) Vt||_F / ||A||_F from ||A||^2 - 2 sum_i s_i u_i^T A v_i + ||U S Vt||^2
    (any U and V; no m x n temporary).  Where the factors are U U^T A (subspace iteration,
    torch, a block Krylov with an even pass count) this is sqrt(1 - ||U^T A||^2 / ||A||^2);
    a block Krylov with an odd pass count returns (A V)_k V^T, which this measures too."""
    import cupy as cp

    a2 = float(cp.linalg.norm(A.astype(cp.float64) if not hasattr(A, "tocsr") else A.data) ** 2)

    def assess(output: object) -> Assessment:
        U, s, Vt = (cp.asarray(x).astype(cp.float64) for x in output)  # type: ignore[union-attr]
        if hasattr(A, "tocsr"):
            UA = (A.T @ U.astype(A.dtype)).T.astype(cp.float64)
        else:
            UA = (U.T.astype(A.dtype) @ A).astype(cp.float64)
        cross = float(cp.sum(s * cp.einsum("ij,ij->i", UA, Vt)))
        norm2 = float(cp.sum((U.T @ U) * (s[:, None] * (Vt @ Vt.T) * s[None, :])))
        return Assessment({"rel_err": math.sqrt(max(a2 - 2 * cross + norm2, 0.0) / a2)})

    return assess


def _cupy_rsvd(A: Any, k: int, l: int, q: int) -> tuple[Any, Any, Any]:
    """The textbook algorithm in plain CuPy (Halko et al. 2011, Alg. 4.4 + 5.1, QR between
    passes): what a CuPy user writes today."""
    import cupy as cp

    n = A.shape[1]
    Y = A @ cp.random.standard_normal((n, l), dtype=cp.float32).astype(A.dtype)
    Q_, _ = cp.linalg.qr(Y)
    for _ in range(q):
        Z, _ = cp.linalg.qr(A.T @ Q_)
        Q_, _ = cp.linalg.qr(A @ Z)
    B = (A.T @ Q_).T
    Ub, s, Vt = cp.linalg.svd(B, full_matrices=False)
    return (Q_ @ Ub)[:, :k], s[:k], Vt[:k]


def _torch_rank_k(k: int, fn: Callable[[], Any]) -> Callable[[], Any]:
    """torch.svd_lowrank(A, q=k + p) returns k + p triplets: its first k, as the other
    contenders return (the last p would flatter its residual), and V^T for V."""

    def call() -> Any:
        U, S, V = fn()
        return U[:, :k], S[:k], V[:, :k].T

    return call


def _torch_operand(A: Any) -> Any:
    import torch

    if hasattr(A, "tocsr"):
        C = A.tocoo()
        idx = torch.stack(
            [torch.from_dlpack(C.row.astype("int64")), torch.from_dlpack(C.col.astype("int64"))]
        )
        return torch.sparse_coo_tensor(idx, torch.from_dlpack(C.data), C.shape).coalesce()
    return torch.from_dlpack(A)


def decaying_dense(m: int, n: int, dtype: str) -> Any:
    """The dense cases' matrix on the device, C order: A = G1 diag(sigma) G2^T with Gaussian
    G1, G2 scaled to near-orthonormal columns, so that its singular values are close to
    sigma_j = 1/j (j <= 2048) and zero beyond."""
    import cupy as cp

    rng = cp.random.default_rng(SEED)
    r = min(m, n, 2048)
    G1 = rng.standard_normal((m, r), dtype=cp.float32) / math.sqrt(m)
    G2 = rng.standard_normal((n, r), dtype=cp.float32) / math.sqrt(n)
    sigma = 1.0 / cp.arange(1, r + 1, dtype=cp.float32)
    return cp.asarray((G1 * sigma) @ G2.T, dtype=dtype, order="C")


@dataclass(frozen=True)
class DenseSvd:
    m: int
    n: int
    k: int
    p: int
    dtype: str

    def prepare(self, limits: Limits) -> Workload:
        import rankwise

        dt = np.dtype(self.dtype)
        A = decaying_dense(self.m, self.n, self.dtype)
        k, l = self.k, self.k + self.p
        contenders = [
            Contender(
                BASELINE,
                _timed(lambda: rankwise.svd(A, k, oversample=self.p, n_iter=Q, random_state=0)),
            ),
            Contender(
                "rankwise.svd block_krylov (cuda)",
                _timed(
                    lambda: rankwise.svd(
                        A,
                        k,
                        method="block_krylov",
                        n_passes=KRYLOV_PASSES,
                        block_size=k // 2,
                        random_state=0,
                    )
                ),
                f"{KRYLOV_PASSES} passes of k/2 columns: "
                f"{KRYLOV_PASSES * (k // 2) / (6 * l):.0%} of the products with A",
            ),
            Contender(
                KRYLOV_SHORT,
                _timed(
                    lambda: rankwise.svd(
                        A, k, method="block_krylov", n_passes=5, block_size=k, random_state=0
                    )
                ),
                f"5 passes of k columns: {5 * k / (6 * l):.0%} of the products with A",
            ),
            Contender("cupy rsvd (QR)", _timed(lambda: _cupy_rsvd(A, k, l, Q))),
        ]
        skipped: list[Skip] = []
        try:
            import torch

            At = _torch_operand(A)
            torch.backends.cuda.matmul.allow_tf32 = False
            contenders.append(
                Contender(
                    "torch.svd_lowrank",
                    _timed(_torch_rank_k(k, lambda: torch.svd_lowrank(At, q=l, niter=Q))),
                    "q=k+p, niter=2, first k kept; TF32 off",
                )
            )
        except ImportError:
            skipped.append(Skip("torch.svd_lowrank", "torch not installed"))
        probe = _gemm_probe(A, l)
        passes = 2 * Q + 2
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=_residual_assessor(A),
            work=passes * 2.0 * self.m * self.n * l,
            work_text=f"{passes} passes x 2mn(k+p) flops ({self.dtype} {self.m}x{self.n} @ l={l})",
            rate=probe(),
            probe=probe,
            block_bytes=(self.m + self.n) * l * dt.itemsize,
        )


@dataclass(frozen=True)
class SparseSvd:
    m: int
    n: int
    nnz: int
    k: int
    p: int

    def prepare(self, limits: Limits) -> Workload:
        import cupy as cp
        import cupyx.scipy.sparse as csp
        import rankwise

        A = csp.random(
            self.m,
            self.n,
            density=self.nnz / (self.m * self.n),
            format="csr",
            dtype=cp.float32,
            random_state=SEED,
        )
        k, l = self.k, self.k + self.p
        contenders = [
            Contender(
                BASELINE,
                _timed(lambda: rankwise.svd(A, k, oversample=self.p, n_iter=Q, random_state=0)),
            )
        ]
        skipped: list[Skip] = []
        try:
            import torch

            At = _torch_operand(A)
            contenders.append(
                Contender(
                    "torch.svd_lowrank",
                    _timed(_torch_rank_k(k, lambda: torch.svd_lowrank(At, q=l, niter=Q))),
                    "q=k+p, niter=2, first k kept",
                )
            )
        except ImportError:
            skipped.append(Skip("torch.svd_lowrank", "torch not installed"))
        copy = _copy_probe(COPY_PROBE_MIN)
        passes = 2 * Q + 2
        csr_bytes = A.nnz * 8 + (self.m + 1) * 4
        block_bytes = (self.m + self.n) * l * 4
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=_residual_assessor(A),
            work=passes * (csr_bytes + block_bytes),
            work_text=f"{passes} passes x (CSR + blocks) bytes",
            rate=copy(),
            probe=copy,
            block_bytes=block_bytes,
        )


def _poisson2d_gpu(side: int) -> Any:
    import cupyx.scipy.sparse as csp

    T = csp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(side, side), format="csr")
    eye = csp.identity(side, format="csr")
    return (csp.kron(eye, T) + csp.kron(T, eye)).tocsr()


@dataclass(frozen=True)
class PoissonCg:
    side: int

    def prepare(self, limits: Limits) -> Workload:
        import cupy as cp
        import cupyx.scipy.sparse.linalg as csla
        import rankwise
        from rankwise import _cg_gpu, _dia_gpu
        from rankwise._dia_gpu import dia_from_csr

        A = _poisson2d_gpu(self.side)
        n = A.shape[0]
        b = cp.ones(n)
        d = A.diagonal()
        M = csla.LinearOperator(A.shape, matvec=lambda x: x / d, dtype=A.dtype)

        def ours() -> Any:
            return rankwise.cg(A, b, rtol=1e-30, maxiter=CG_ITERS, M="jacobi")[0]

        # CuPy renamed cg's tol to rtol (as SciPy did); use whichever this version has.
        rtol_name = "rtol" if "rtol" in inspect.signature(csla.cg).parameters else "tol"
        # CuPy compiles a kernel at its first call (the first rankwise.cg on a fresh H200
        # took 13 s, 2026-11-26): a small solve of each contender first, so that the runner's
        # warm-up call is a warm one and its budget is not spent on compilation.
        small = _poisson2d_gpu(32)
        small_b, small_d = cp.ones(small.shape[0]), small.diagonal()
        rankwise.cg(small, small_b, maxiter=2, M="jacobi")
        small_M = csla.LinearOperator(small.shape, matvec=lambda x: x / small_d, dtype=small.dtype)
        csla.cg(small, small_b, maxiter=2, M=small_M)

        def peer() -> Any:
            return csla.cg(A, b, maxiter=CG_ITERS, M=M, **{rtol_name: 1e-30})[0]

        def plain() -> Any:  # DIA storage and Jacobi diagonal of a value per row (no codes)
            codes = _dia_gpu.DIA_MAX_CODES
            _dia_gpu.DIA_MAX_CODES = _cg_gpu.DIA_MAX_CODES = 0
            try:
                return ours()
            finally:
                _dia_gpu.DIA_MAX_CODES = _cg_gpu.DIA_MAX_CODES = codes

        def assess(x: object) -> Assessment:
            r = b - A @ cp.asarray(x)
            return Assessment({"rel_res": float(cp.linalg.norm(r) / cp.linalg.norm(b))})

        copy = _copy_probe(n)
        # Per iteration: the matrix once in its cheaper storage, CSR (values 8, indices 4,
        # row pointers 4 bytes) or DIA as rankwise multiplies it on the GPU (a byte per
        # position of its diagonals, coded: python/rankwise/_dia_gpu.py), and, with Jacobi
        # fused, 13 n-vectors (algo/cg.hpp's count): 11 of float64 and the Jacobi diagonal
        # twice, a byte per row where it is coded (rankwise/diagonal_view.hpp).
        dia = dia_from_csr(cp, A.data, A.indices, A.indptr, n)
        csr_bytes = A.nnz * 12 + (n + 1) * 4
        matrix_bytes = csr_bytes if dia is None else min(csr_bytes, dia.nbytes)
        diagonal_bytes = 1 if _dia_gpu.value_codes(cp, d) is not None else 8
        per_iter = matrix_bytes + 11 * n * 8 + 2 * n * diagonal_bytes
        return Workload(
            contenders=[
                Contender(CG_BASELINE, _timed(ours)),
                Contender("cupyx cg", _timed(peer)),
                Contender("rankwise.cg uncoded (cuda)", _timed(plain)),
            ],
            skipped=[],
            assess=assess,
            work=CG_ITERS * per_iter,
            work_text=f"{CG_ITERS} iterations x (matrix + 11 vectors + diagonal twice) bytes",
            rate=copy(),
            probe=copy,
            block_bytes=n * 8,
        )


@dataclass(frozen=True)
class Selection:
    """DEIM (LU pivots) or Q-DEIM (pivoted QR of U^T) points of an n x m orthonormal basis:
    the CUDA backend against the CPU backend on the same basis (the issue's target: 10x)."""

    n: int
    m: int
    method: str

    def prepare(self, limits: Limits) -> Workload:
        import cupy as cp
        import rankwise

        rng = cp.random.default_rng(SEED)
        U, _ = cp.linalg.qr(rng.standard_normal((self.n, self.m)))
        U = cp.asfortranarray(U)
        U_host = np.asfortranarray(U.get())
        select = getattr(rankwise, self.method)
        contenders = [
            Contender(f"rankwise.{self.method} (cuda)", _timed(lambda: select(U))),
            Contender(f"rankwise.{self.method} (cpu)", lambda: select(U_host)),
        ]

        def assess(output: object) -> Assessment:
            return Assessment({"eta": float(output.lebesgue_constant)})  # type: ignore[attr-defined]

        probe = _gemm_probe(U, self.m)
        return Workload(
            contenders=contenders,
            skipped=[],
            assess=assess,
            # LU / QR of a tall n x m block: about n m^2 flops (2 n m^2 for Householder QR)
            work=(2.0 if self.method == "qdeim" else 1.0) * self.n * self.m**2,
            work_text=f"{2 if self.method == 'qdeim' else 1} n m^2 flops (n={self.n}, m={self.m})",
            rate=probe(),
            probe=probe,
            block_bytes=self.n * self.m * 8,
        )


SELECTION_METRICS = (
    Metric("eta", "eta", "Lebesgue constant ||U U[p]^-1||_2 of the points", ".3g"),
)


def _selection_case(n: int, m: int, method: str) -> Case:
    spec = Selection(n, m, method)
    baseline = f"rankwise.{method} (cuda)"
    return Case(
        family="gpu",
        name=f"{method} float64 {n}x{m}",
        series=f"{method} float64",
        size=float(n * m),
        size_label="n x m (entries)",
        params=f"orthonormal basis, m={m}",
        limit="GEMM",
        gemm_shapes=(),
        metrics=SELECTION_METRICS,
        targets=(SpeedupTarget(f"rankwise.{method} (cpu)", 10.0, slack=1.0, tol=1e-9),),
        prepare=spec.prepare,
        baseline=baseline,
    )


@dataclass(frozen=True)
class Cur:
    """rankwise.cur (DEIM, stabilized core) of a dense float64 m x n matrix with singular
    values j^-1: the CUDA backend against the CPU backend on the same matrix and seed."""

    m: int
    n: int
    k: int

    def prepare(self, limits: Limits) -> Workload:
        import cupy as cp
        import rankwise
        from rankwise._svd import auto_power_iterations

        rng = cp.random.default_rng(SEED)
        r = min(self.m, self.n, 1024)
        G1 = rng.standard_normal((self.m, r)) / math.sqrt(self.m)
        G2 = rng.standard_normal((self.n, r)) / math.sqrt(self.n)
        A = cp.ascontiguousarray((G1 * (1.0 / cp.arange(1, r + 1))) @ G2.T)
        del G1, G2
        A_host = A.get()
        a2 = float(cp.linalg.norm(A) ** 2)
        contenders = [
            Contender(
                "rankwise.cur (cuda)", _timed(lambda: rankwise.cur(A, self.k, random_state=0))
            ),
            Contender("rankwise.cur (cpu)", lambda: rankwise.cur(A_host, self.k, random_state=0)),
        ]

        def assess(output: object) -> Assessment:
            dense = cp.asarray(output.to_dense())  # type: ignore[attr-defined]
            return Assessment({"rel_err": float(cp.linalg.norm(A - dense) ** 2 / a2) ** 0.5})

        l = self.k + 10
        q = auto_power_iterations(self.k, min(self.m, self.n))
        probe = _gemm_probe(A, l)
        passes = 2 * q + 2
        return Workload(
            contenders=contenders,
            skipped=[],
            assess=assess,
            work=passes * 2.0 * self.m * self.n * l,
            work_text=f"the SVD's {passes} passes x 2mn(k+p) flops (m={self.m}, n={self.n})",
            rate=probe(),
            probe=probe,
            block_bytes=(self.m + self.n) * l * 8,
        )


def _cur_case(m: int, n: int, k: int) -> Case:
    return Case(
        family="gpu",
        name=f"cur deim float64 {m}x{n} k={k}",
        series="cur float64",
        size=float(m * n),
        size_label="m x n (entries)",
        params=f"k={k}, method=deim, core=stabilized",
        limit="GEMM",
        gemm_shapes=(),
        metrics=(Metric("rel_err", "rel err", "||A - C U R||_F / ||A||_F", ".4e"),),
        targets=(SpeedupTarget("rankwise.cur (cpu)", 10.0, slack=1.01, tol=1e-12),),
        prepare=Cur(m, n, k).prepare,
        baseline="rankwise.cur (cuda)",
    )


@dataclass(frozen=True)
class Update:
    """SVDUpdater (method "sparse") from the rank-k SVD of the first half of the rows of a
    random sparse m x n float64 matrix (density d), the other half added in `batches` CSR
    row blocks: the CUDA backend against the CPU backend (same factors, same seed)."""

    m: int
    n: int
    density: float
    k: int
    batches: int

    def prepare(self, limits: Limits) -> Workload:
        import cupy as cp
        import cupyx.scipy.sparse as csp
        import rankwise

        A = csp.random(self.m, self.n, density=self.density, format="csr", random_state=SEED)
        # entries scaled by (degree-like) weights i^-1/2 of their row and column, in a random
        # order: a decaying spectrum, as in a power-law graph (Chung-Lu)
        rng = np.random.default_rng(SEED)
        w_row = cp.asarray(1.0 / np.sqrt(1.0 + rng.permutation(self.m)))
        w_col = cp.asarray(1.0 / np.sqrt(1.0 + rng.permutation(self.n)))
        rows = cp.searchsorted(A.indptr, cp.arange(A.nnz), side="right") - 1  # row of each entry
        A.data *= w_row[rows] * w_col[A.indices]
        half = self.m // 2
        U, s, Vt = rankwise.svd(A[:half], self.k, random_state=SEED)
        edges = np.linspace(half, self.m, self.batches + 1).astype(int)
        blocks = [A[a:b] for a, b in itertools.pairwise(edges)]
        host = [(U.get(), s.get(), Vt.get()), [blk.get() for blk in blocks]]

        def run(factors: Any, rows: list[Any]) -> Any:
            up = rankwise.SVDUpdater(self.k, method="sparse", random_state=SEED)
            up.from_factors(*factors)
            for blk in rows:
                up.add_rows(blk)
            return up.svd()

        contenders = [
            Contender("SVDUpdater (cuda)", _timed(lambda: run((U, s, Vt), blocks))),
            Contender("SVDUpdater (cpu)", lambda: run(*host)),
        ]
        assess_gpu = _residual_assessor(A)

        def assess(output: object) -> Assessment:
            return assess_gpu(tuple(cp.asarray(x) for x in output))  # type: ignore[attr-defined]

        l, r = self.k, (self.m - half) // self.batches
        nnz = A.nnz * (self.m - half) / self.m
        # per batch: the products with the block (2 + 2 n_iter passes of l vectors) and the
        # small (k + r) x (k + l) SVD (about 20 (k + r) (k + l)^2 flops)
        work = 2.0 * nnz * l * 6 + self.batches * 20.0 * (self.k + r) * (self.k + l) ** 2
        probe = _gemm_probe(cp.ascontiguousarray(U), self.k + l)
        return Workload(
            contenders=contenders,
            skipped=[],
            assess=assess,
            work=work,
            work_text="6 nnz l + 20 (k + r)(k + l)^2 flops per batch of r rows",
            rate=probe(),
            probe=probe,
            block_bytes=(self.m + self.n) * self.k * 8,
        )


def _update_case(m: int, n: int, density: float, k: int, batches: int) -> Case:
    return Case(
        family="gpu",
        name=f"update sparse rows float64 {m}x{n} k={k}",
        series="update float64",
        size=float(m * n * density),
        size_label="nnz",
        params=f"k=l={k}, method=sparse, {batches} row batches onto the first half",
        limit="GEMM",
        gemm_shapes=(),
        metrics=RESIDUAL,
        targets=(SpeedupTarget("SVDUpdater (cpu)", 10.0, slack=1.01, tol=1e-9),),
        prepare=Update(m, n, density, k, batches).prepare,
        baseline="SVDUpdater (cuda)",
    )


def _dense_case(m: int, n: int, k: int, dtype: str) -> Case:
    spec = DenseSvd(m, n, k, 10, dtype)
    return Case(
        family="gpu",
        name=f"dense {dtype} {m}x{n} k={k}",
        series=f"dense {dtype} k={k}",
        size=float(m * n),
        size_label="m x n (entries)",
        params=f"k={k}, p=10, q={Q} ({2 * Q + 2} passes)",
        limit="GEMM",
        gemm_shapes=(),
        metrics=RESIDUAL,
        targets=(
            SpeedupTarget("torch.svd_lowrank", 1.5, slack=1.01),
            SpeedupTarget("torch.svd_lowrank", 1.5, slack=1.01, ours=KRYLOV_SHORT),
            FloorTarget(0.85),
        ),
        prepare=spec.prepare,
        baseline=BASELINE,
    )


def _sparse_case(m: int, n: int, nnz: int) -> Case:
    spec = SparseSvd(m, n, nnz, 64, 10)
    return Case(
        family="gpu",
        name=f"sparse CSR float32 {m}x{n} nnz={nnz:.0e} k=64",
        series="sparse float32 k=64",
        size=float(nnz),
        size_label="nnz",
        params=f"k=64, p=10, q={Q}",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=RESIDUAL,
        targets=(SpeedupTarget("torch.svd_lowrank", 3.0, slack=1.01),),
        prepare=spec.prepare,
        baseline=BASELINE,
    )


def _cg_case(side: int) -> Case:
    spec = PoissonCg(side)
    return Case(
        family="gpu",
        name=f"cg poisson2d n={side * side:,} float64 jacobi",
        series="cg poisson2d",
        size=float(side * side),
        size_label="unknowns",
        params=f"{CG_ITERS} iterations, Jacobi",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=CG_METRICS,
        targets=(SpeedupTarget("cupyx cg", 2.0, slack=1.5, tol=1e-12), FloorTarget(0.85)),
        prepare=spec.prepare,
        baseline=CG_BASELINE,
    )


def cases(mode: Mode) -> list[Case]:
    """Empty without a GPU; quick: a quarter of the issue's sizes; full: the issue's."""
    why = unavailable()
    if why is not None:
        print(f"gpu family skipped: {why}")
        return []
    if mode == "quick":
        return [
            _dense_case(16384, 8192, 64, "float32"),
            _sparse_case(250_000, 25_000, 2_500_000),
            _cg_case(1000),
            _selection_case(1_000_000, 64, "deim"),
            _selection_case(1_000_000, 64, "qdeim"),
            _cur_case(8192, 4096, 64),
            _update_case(40_000, 20_000, 5e-4, 64, 10),
        ]
    return [
        *(_dense_case(32768, 16384, k, dt) for dt in ("float32", "float64") for k in (64, 256)),
        _sparse_case(1_000_000, 100_000, 10_000_000),
        _cg_case(3163),
        _selection_case(4_000_000, 100, "deim"),
        _selection_case(4_000_000, 100, "qdeim"),
        _cur_case(16384, 8192, 128),
        _update_case(200_000, 80_000, 2e-4, 64, 10),
    ]
