"""The small SVD at the end of a randomized SVD on the GPU: how long each way of computing
the SVD of the l x l factor (l = k + p) takes, against the time of the whole call.

The CUDA backend calls cuSOLVER's gesvd on it (as CuPy's linalg.svd does); an H200 profile
of the dense float32 32768 x 16384 case (bench/RESULTS.md, gpu section) showed 38 ms of wall
time for 26 ms of kernels, and gesvd's bidiagonal QR loop as hundreds of tiny kernels.  This
times, on the same matrices: cuSOLVER's gesvd (through CuPy), gesvd / gesvdj / gesvda
(through torch), and LAPACK's gesdd on the host with both copies.  On a GPU machine:

    python -m bench.gpu_small_svd

Since session 43 it also times the candidates for l = 266, where the small SVD takes 12-13 of
the 57-60 ms of a k = 256 call (session 22: host gesdd 13.4 ms float64, gesvdj 11.8
float32): cuSOLVER's polar-decomposition SVD (cusolverDnXgesvdp, QDWH then syevd; through
ctypes, since neither CuPy nor rankwise calls it), and the eigendecomposition of R^T R on
the device (CuPy's syevd) and on the host (the Gram route: as accurate as a float32 SVD
when formed in float64, not as a float64 one).  The matrices have the singular values of a
sketched 1/j spectrum (1/j, j = 1..l, with random singular vectors), as the R of the
benchmark's dense cases, and, for gesvdp, a rank-deficient one (the last 10 values 0),
where it perturbs the matrix: its h_err_sigma is printed with the error of the singular
values against LAPACK's.  Last, whole rankwise.svd calls on the dense cases with each of
the backend's ways (rankwise._cuda.set_small_svd), against torch.svd_lowrank.
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


def _cusolver() -> Any:
    """The first cuSOLVER that loads and creates a handle (CUDA 13's, then 12's: CuPy may
    have loaded either)."""
    import ctypes

    for name in ("libcusolver.so.12", "libcusolver.so.11", "libcusolver.so"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        handle = ctypes.c_void_p()
        if lib.cusolverDnCreate(ctypes.byref(handle)) == 0:
            lib.cusolverDnDestroy(handle)
            return lib
    raise OSError("no libcusolver that creates a handle")


class _Gesvdp:
    """cusolverDnXgesvdp on a copy of the square device matrix R (CuPy, Fortran order):
    calling it returns (U, s, V, h_err_sigma)."""

    def __init__(self, R: Any) -> None:
        import ctypes as C

        import cupy as cp

        lib = _cusolver()
        vp, i64, sz = C.c_void_p, C.c_int64, C.c_size_t
        lib.cusolverDnXgesvdp_bufferSize.argtypes = [vp, vp, C.c_int, C.c_int, i64, i64]
        lib.cusolverDnXgesvdp_bufferSize.argtypes += [C.c_int, vp, i64, C.c_int, vp]
        lib.cusolverDnXgesvdp_bufferSize.argtypes += [C.c_int, vp, i64, C.c_int, vp, i64]
        lib.cusolverDnXgesvdp_bufferSize.argtypes += [C.c_int, C.POINTER(sz), C.POINTER(sz)]
        lib.cusolverDnXgesvdp.argtypes = lib.cusolverDnXgesvdp_bufferSize.argtypes[:-2]
        lib.cusolverDnXgesvdp.argtypes += [vp, sz, vp, sz, vp, C.POINTER(C.c_double)]
        self.lib, self.C = lib, C
        self.handle, self.params = vp(), vp()
        self._check(lib.cusolverDnCreate(C.byref(self.handle)), "create")
        self._check(
            lib.cusolverDnSetStream(self.handle, vp(cp.cuda.get_current_stream().ptr)), "stream"
        )
        self._check(lib.cusolverDnCreateParams(C.byref(self.params)), "params")
        n = int(R.shape[0])
        self.R = cp.asfortranarray(R)
        self.A = cp.empty_like(self.R, order="F")
        self.U = cp.empty_like(self.R, order="F")
        self.V = cp.empty_like(self.R, order="F")
        self.s = cp.empty(n, dtype=R.dtype)
        self.info = cp.zeros(1, dtype=np.int32)
        dt = 0 if R.dtype == np.float32 else 1  # CUDA_R_32F / CUDA_R_64F
        self.head = [self.handle, self.params, 1, 1, n, n]  # jobz = vectors, econ
        self.mats = [dt, self.A.data.ptr, n, dt, self.s.data.ptr, dt, self.U.data.ptr, n]
        self.mats += [dt, self.V.data.ptr, n, dt]
        dws, hws = sz(), sz()
        self._check(
            lib.cusolverDnXgesvdp_bufferSize(*self.head, *self.mats, C.byref(dws), C.byref(hws)),
            "bufferSize",
        )
        self.dbuf = cp.empty(max(int(dws.value), 1), dtype=np.uint8)
        self.hbuf = C.create_string_buffer(max(int(hws.value), 1))
        self.sizes = (int(dws.value), int(hws.value))

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"cusolverDnXgesvdp {what}: status {status}")

    def __call__(self) -> tuple[Any, Any, Any, float]:
        C = self.C
        self.A[...] = self.R
        err = C.c_double()
        self._check(
            self.lib.cusolverDnXgesvdp(
                *self.head,
                *self.mats,
                self.dbuf.data.ptr,
                self.sizes[0],
                C.cast(self.hbuf, C.c_void_p),
                self.sizes[1],
                self.info.data.ptr,
                C.byref(err),
            ),
            "call",
        )
        if int(self.info.get()[0]) != 0:
            raise RuntimeError(f"cusolverDnXgesvdp info = {int(self.info.get()[0])}")
        return self.U, self.s, self.V, float(err.value)


def _sketch_like(rng: np.random.Generator, l: int, dtype: Any, rank: int) -> np.ndarray:
    """An l x l matrix with singular values 1/j (j = 1..rank, then 0) and random vectors."""
    q1 = np.linalg.qr(rng.standard_normal((l, l)))[0]
    q2 = np.linalg.qr(rng.standard_normal((l, l)))[0]
    sigma = np.where(np.arange(l) < rank, 1.0 / np.arange(1, l + 1), 0.0)
    return ((q1 * sigma) @ q2.T).astype(dtype)


def _candidates(R: np.ndarray) -> None:
    """Times (and checks) the candidates on R: gesvdp, and R^T R's eigendecomposition on
    the device and on the host; gesvdp also on a rank-deficient matrix of R's size."""
    import cupy as cp

    l, name = R.shape[0], np.dtype(R.dtype).name
    Rc = cp.asfortranarray(cp.asarray(R))
    Rd = Rc.astype(cp.float64)
    ways: dict[str, Callable[[], Any]] = {
        "device eigh(R^T R) float64": lambda: cp.linalg.eigh(Rd.T @ Rd),
        "host eigh(R^T R) float64": lambda: np.linalg.eigh(
            (lambda r: r.T @ r)(Rc.get().astype(np.float64))
        ),
    }
    try:
        ways["gesvdp (polar, syevd)"] = _Gesvdp(Rc)
    except Exception as exc:  # a library without it: say so, go on
        print(f"{name:8} {l:4d}  gesvdp unavailable: {type(exc).__name__}: {exc}"[:100])
    for way, fn in ways.items():
        try:
            ms = f"{1e3 * _median_seconds(fn, REPEATS):9.3f}"
        except Exception as exc:
            ms = f"failed: {type(exc).__name__}: {exc}"[:60]
        print(f"{name:8} {l:4d}  {way:28} {ms}", flush=True)
    if "gesvdp (polar, syevd)" not in ways:
        return
    for label, M in (
        ("1/j", R),
        ("rank l-10", _sketch_like(np.random.default_rng(1), l, R.dtype, l - 10)),
    ):
        try:
            U, s, V, err = _Gesvdp(cp.asarray(M))()
            ref = np.linalg.svd(M.astype(np.float64), compute_uv=False)
            got = np.sort(cp.asnumpy(s).astype(np.float64))[::-1]
            resid = float(cp.linalg.norm(cp.asarray(M) @ V - U * s)) / float(ref[0])
            print(
                f"{name:8} {l:4d}  gesvdp on {label}: h_err_sigma {err:.2e}, "
                f"max |s - s_lapack| / s_1 {np.max(np.abs(got - ref)) / ref[0]:.2e}, "
                f"||M V - U S|| / s_1 {resid:.2e}",
                flush=True,
            )
        except Exception as exc:
            print(f"{name:8} {l:4d}  gesvdp on {label} failed: {type(exc).__name__}: {exc}"[:100])


def _time_ways(A: Any, k: int) -> None:
    """rankwise.svd(A, k, n_iter=2) with each of the backend's ways to the small SVD
    (rankwise._cuda.set_small_svd) and torch.svd_lowrank, alternately: median of 5 rounds.
    At k = 64 also the "any method" contender of bench/gpu.py, block Krylov with 5 passes of
    k columns (its small SVD is 192 x 192), by each way."""
    import rankwise
    import rankwise._cuda as cuda
    import torch

    dtype = np.dtype(A.dtype).name
    At = torch.as_tensor(A, device="cuda")
    ways = ("auto", "host", "jacobi", "polar")
    ways += ("gram", "gram_host") if dtype == "float32" else ("eig_jacobi", "eig_jacobi_host")
    calls: dict[str, Callable[[], Any]] = {
        way: (lambda w=way: (cuda.set_small_svd(w), rankwise.svd(A, k, n_iter=2))) for way in ways
    }
    if k == 64:
        for way in ways:
            calls[f"block_krylov 5 x k, {way}"] = lambda w=way: (
                cuda.set_small_svd(w),
                rankwise.svd(A, k, method="block_krylov", n_passes=5, block_size=k),
            )
    calls["torch.svd_lowrank"] = lambda: (
        torch.svd_lowrank(At, q=k + 10, niter=2),
        torch.cuda.synchronize(),
    )
    times: dict[str, list[float]] = {name: [] for name in calls}
    try:
        for _ in range(REPEATS // 3):
            for name, fn in calls.items():
                times[name].append(_median_seconds(fn, 1))
    finally:
        cuda.set_small_svd("auto")
    for name, t in times.items():
        print(f"{dtype:8} {k:4d}  {name:28} {1e3 * float(np.median(t)):9.3f}", flush=True)


def _whole_calls() -> None:
    """The dense cases (the issue's 32768 x 16384, k = 64 and 256, q = 2) by each way."""
    from bench.gpu import decaying_dense

    print(f"{'dtype':8} {'k':>4}  {'rankwise.svd, small SVD by':28} {'median ms':>9}")
    for dtype in ("float32", "float64"):
        A = decaying_dense(32768, 16384, dtype)
        for k in (64, 256):
            _time_ways(A, k)


def main() -> None:
    import cupy as cp
    import torch

    rng = np.random.default_rng(0)
    print(f"{'dtype':8} {'l':>4}  {'way':28} {'median ms':>9}")
    for dtype in (np.float32, np.float64):
        for l in SIZES:
            R = _sketch_like(rng, l, dtype, l)
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
            _candidates(R)
    _whole_calls()


if __name__ == "__main__":
    main()
