"""The CUDA backend: built wherever the toolkit is, CuPy in and CuPy out where a GPU is.

Without a GPU (the development and CI machines) only the build and the dispatch errors are
checked; with one, the GPU results are compared with the CPU backend's for the same seed
(the same Gaussian sketch) and with float64 references.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp


def _toolkit_present() -> bool:
    return shutil.which("nvcc") is not None or Path("/usr/local/cuda/bin/nvcc").exists()


def _cuda_module() -> Any:
    try:
        return importlib.import_module("rankwise._cuda")
    except ImportError:
        return None


def _gpu_present() -> bool:
    mod = _cuda_module()
    if mod is None or mod.device_count() == 0:
        return False
    try:
        importlib.import_module("cupy")
    except ImportError:
        return False
    return True


needs_gpu = pytest.mark.skipif(not _gpu_present(), reason="needs a CUDA GPU and CuPy")


@pytest.mark.skipif(
    not _toolkit_present() or os.environ.get("RANKWISE_CUDA", "AUTO").upper() == "OFF",
    reason="no CUDA toolkit here",
)
def test_cuda_module_is_built_and_loads_where_the_toolkit_is() -> None:
    # A CUDA compile or link error, or a missing symbol, fails here (CI has the toolkit).
    mod = _cuda_module()
    assert mod is not None, "the CUDA toolkit is installed but rankwise._cuda was not built"
    count = mod.device_count()
    assert isinstance(count, int)
    assert count >= 0


class _FakeCupyArray:
    """Stands in for a CuPy array on machines without CuPy: only its module name counts."""

    __module__ = "cupy._core.core"
    shape = (6, 6)
    ndim = 2
    dtype = np.dtype(np.float64)


@pytest.mark.skipif(_gpu_present(), reason="a GPU is present")
@pytest.mark.parametrize(
    "call",
    [
        lambda A: rankwise.svd(A, 2),
        lambda A: rankwise.randomized_svd(A, 2),
        lambda A: rankwise.cg(A, _FakeCupyArray()),
        lambda A: rankwise.solve_cg(A, _FakeCupyArray()),
        lambda A: rankwise.deim(A),
        lambda A: rankwise.qdeim(A),
        lambda A: rankwise.odeim(A, 8),
        lambda A: rankwise.cur(A, 2),
        lambda A: rankwise.svds(A, 2),
        lambda A: rankwise.SVDUpdater(2).fit(A),
        lambda A: rankwise.SVDUpdater(2).from_factors(A, np.ones(2), A),
        lambda A: rankwise.update_svd(A, np.ones(6), A, rows=A),
    ],
    ids=[
        "svd",
        "randomized_svd",
        "cg",
        "solve_cg",
        "deim",
        "qdeim",
        "odeim",
        "cur",
        "svds",
        "SVDUpdater.fit",
        "SVDUpdater.from_factors",
        "update_svd",
    ],
)
def test_cupy_input_without_a_gpu_is_a_clear_error(call: Any) -> None:
    if _cuda_module() is None:
        with pytest.raises(TypeError, match="no CUDA backend"):
            call(_FakeCupyArray())
    else:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            call(_FakeCupyArray())


# --- on a GPU -----------------------------------------------------------------------------


def _decaying(m: int, n: int, dtype: Any, seed: int, rate: float = 0.15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = min(m, n)
    Q1, _ = np.linalg.qr(rng.standard_normal((m, r)))
    Q2, _ = np.linalg.qr(rng.standard_normal((n, r)))
    s = np.exp(-rate * np.arange(r))
    return ((Q1 * s) @ Q2.T).astype(dtype)


def _tol(dtype: Any) -> float:
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-10


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("subspace", {}),
        ("block_krylov", {}),
        ("block_krylov", {"n_passes": 13, "block_size": 6}),  # odd finish, narrow blocks
    ],
    ids=["subspace", "block_krylov", "block_krylov-13-passes-b6"],
)
def test_dense_svd_matches_the_cpu_backend(
    dtype: Any, order: str, method: str, extra: dict[str, int]
) -> None:
    import cupy as cp

    A = np.asarray(_decaying(300, 200, dtype, 1), order=order)
    A_gpu = cp.asarray(A, order=order)
    before = A_gpu.copy()
    U, s, Vt = rankwise.svd(A_gpu, 10, method=method, random_state=7, **extra)
    assert isinstance(U, cp.ndarray)
    assert isinstance(s, cp.ndarray)
    assert isinstance(Vt, cp.ndarray)
    assert U.dtype == dtype
    assert s.dtype == dtype
    assert Vt.dtype == dtype
    assert U.shape == (300, 10)
    assert s.shape == (10,)
    assert Vt.shape == (10, 200)
    assert bool((A_gpu == before).all())
    Uc, sc, Vtc = rankwise.svd(A, 10, method=method, random_state=7, **extra)
    exact = np.linalg.svd(A.astype(np.float64), compute_uv=False)[:10]
    tol = _tol(dtype)
    np.testing.assert_allclose(cp.asnumpy(s), exact, rtol=tol * 10)
    np.testing.assert_allclose(cp.asnumpy(s), sc, rtol=tol * 10)
    # signs fixed the same way on both backends: the vectors agree, not only their spans
    np.testing.assert_allclose(cp.asnumpy(U), Uc, atol=tol * 100)
    np.testing.assert_allclose(cp.asnumpy(Vt), Vtc, atol=tol * 100)
    eye = np.eye(10)
    np.testing.assert_allclose(cp.asnumpy(U.T @ U), eye, atol=tol)
    np.testing.assert_allclose(cp.asnumpy(Vt @ Vt.T), eye, atol=tol)


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["native", "other"])
def test_gpu_flip_signs_equals_numpys(dtype: Any, layout: str) -> None:
    """The CUDA module's sign flip (U in F order, Vt in C order: what svd returns) and the
    CuPy one for other layouts give NumPy's: ties to the first row, zero columns kept."""
    import cupy as cp
    from rankwise._svd import flip_signs

    rng = np.random.default_rng(3)
    U = rng.standard_normal((70_000, 6)).astype(dtype)
    U[[100, 60_000], 1] = [-9, 9]  # a tie: the first (negative) decides
    U[:, 2] = 0
    U[65_000, 3] = -20  # in a late block of the reduction
    Vt = rng.standard_normal((6, 50)).astype(dtype)
    want_U, want_Vt = U.copy(), Vt.copy()
    flip_signs(want_U, want_Vt)
    order_u, order_v = ("F", "C") if layout == "native" else ("C", "F")
    dU, dVt = cp.asarray(U, order=order_u), cp.asarray(Vt, order=order_v)
    flip_signs(dU, dVt)
    np.testing.assert_array_equal(cp.asnumpy(dU), want_U)
    np.testing.assert_array_equal(cp.asnumpy(dVt), want_Vt)
    assert want_U[100, 1] > 0
    assert want_U[65_000, 3] > 0


@needs_gpu
def test_the_same_seed_gives_the_same_sketch_as_the_cpu() -> None:
    import cupy as cp

    # With A = I, one pass and no oversampling, U diag(s) Vt is the orthogonal projector on
    # the span of the Gaussian sketch itself: equal projectors mean equal sketches.
    n, k = 64, 5
    A = np.eye(n)
    U, s, Vt = rankwise.svd(cp.asarray(A), k, oversample=0, n_iter=0, random_state=3)
    Uc, sc, Vtc = rankwise.svd(A, k, oversample=0, n_iter=0, random_state=3)
    P_gpu = cp.asnumpy((U * s) @ Vt)
    np.testing.assert_allclose(P_gpu, (Uc * sc) @ Vtc, atol=1e-12)
    U2, s2, Vt2 = rankwise.svd(cp.asarray(A), k, oversample=0, n_iter=0, random_state=4)
    assert np.abs(cp.asnumpy((U2 * s2) @ Vt2) - P_gpu).max() > 0.1


@needs_gpu
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_svd_matches_the_cpu_backend(fmt: str, index_dtype: Any, dtype: Any) -> None:
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = sp.random(2000, 500, density=0.02, format=fmt, random_state=5, dtype=dtype)
    A.indices = A.indices.astype(index_dtype)
    A.indptr = A.indptr.astype(index_dtype)
    A_gpu = (csp.csr_matrix if fmt == "csr" else csp.csc_matrix)(A)
    if A_gpu.indices.dtype != index_dtype:
        pytest.skip(f"this CuPy stores {index_dtype.__name__} indices as {A_gpu.indices.dtype}")
    U, s, _Vt = rankwise.svd(A_gpu, 8, n_iter=6, random_state=1)
    assert isinstance(U, cp.ndarray)
    assert U.dtype == dtype
    _, sc, _ = rankwise.svd(A, 8, n_iter=6, random_state=1)
    np.testing.assert_allclose(cp.asnumpy(s), sc, rtol=_tol(dtype) * 10)
    exact = np.linalg.svd(A.toarray().astype(np.float64), compute_uv=False)[:8]
    np.testing.assert_allclose(cp.asnumpy(s), exact, rtol=0.05)


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_svd_repeats_bit_for_bit(dtype: Any) -> None:
    """Dense products (cuBLAS), Cholesky QR and the small SVD sum in a fixed order: two runs
    with the same seed give the same bits, float32 going through its float64 fallback too
    (singular values 1/j: cond 40 for the 40 sketch columns)."""
    import cupy as cp

    rng = np.random.default_rng(9)
    Q1, _ = np.linalg.qr(rng.standard_normal((3000, 200)))
    Q2, _ = np.linalg.qr(rng.standard_normal((800, 200)))
    A = cp.asarray(((Q1 / np.arange(1, 201)) @ Q2.T).astype(dtype))
    first = rankwise.svd(A, 30, n_iter=2, random_state=2)
    second = rankwise.svd(A, 30, n_iter=2, random_state=2)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(cp.asnumpy(a), cp.asnumpy(b))
    U, s = cp.asnumpy(first[0]).astype(np.float64), cp.asnumpy(first[1])
    eps = np.finfo(dtype).eps
    assert np.linalg.norm(U.T @ U - np.eye(30)) < 30 * eps * 30
    # q = 2 on singular values 1/j with l = 40 (the CPU backend: 1.7% off at worst, 1.4e-6
    # on the first ten)
    np.testing.assert_allclose(s, 1.0 / np.arange(1, 31), rtol=0.03)
    np.testing.assert_allclose(s[:10], 1.0 / np.arange(1, 11), rtol=1e-4)


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_svd_on_the_gpu_repeats_to_rounding(dtype: Any) -> None:
    """Two runs of the same sparse SVD agree to rounding error, not to the bit: cuSPARSE's
    row-major SpMM (CSR_ALG2) does not sum in a fixed order (an H200 run of 2026-11-27 gave
    differences of 2e-5 in float32 and 7e-13 in float64 between runs), while the dense path
    repeats bit for bit (test_gpu_svd_repeats_bit_for_bit)."""
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = csp.csr_matrix(
        sp.random(3000, 800, density=0.01, format="csr", random_state=6, dtype=dtype)
    )
    first = rankwise.svd(A, 12, n_iter=3, random_state=2)
    second = rankwise.svd(A, 12, n_iter=3, random_state=2)
    tol = 1e-3 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(cp.asnumpy(first[1]), cp.asnumpy(second[1]), rtol=tol / 10)
    for a, b in ((first[0], second[0]), (first[2].T, second[2].T)):
        np.testing.assert_allclose(cp.asnumpy(a), cp.asnumpy(b), atol=tol)


@needs_gpu
def test_tall_svd_on_the_gpu_spans_several_row_chunks() -> None:
    """1.2e6 rows with l = 20 float64 columns: the Cholesky QR's Y R^-1 runs as GEMMs over
    row chunks of 64 MiB (419430 rows here), three chunks and a partial one."""
    import cupy as cp

    rng = np.random.default_rng(7)
    m, n, k = 1_200_000, 40, 10
    A = rng.standard_normal((m, n)) * np.exp(-0.3 * np.arange(n))
    U, s, Vt = rankwise.svd(cp.asarray(A), k, oversample=10, n_iter=2, random_state=0)
    U = cp.asnumpy(U)
    assert np.linalg.norm(U.T @ U - np.eye(k)) < 1e-12
    exact = np.linalg.svd(A, compute_uv=False)[:k]
    np.testing.assert_allclose(cp.asnumpy(s), exact, rtol=1e-6)
    np.testing.assert_allclose(
        np.abs(np.sum(U * (A @ cp.asnumpy(Vt).T), axis=0)), cp.asnumpy(s), rtol=1e-10
    )


@needs_gpu
def test_a_gpu_call_returns_its_work_memory_when_it_ends() -> None:
    """rankwise's device memory pool keeps freed work matrices only within a call: afterwards
    it holds the returned factors and nothing more."""
    import cupy as cp

    cuda = _cuda_module()
    A = cp.random.default_rng(3).standard_normal((1_000_000, 200), dtype=cp.float32)
    U, _, Vt = rankwise.svd(A, 20, oversample=10, n_iter=2, random_state=0)
    # The work, Y (120 MB) and the scratch block (64 MiB) at least, would leave 264 MB or more;
    # an H200 run of 2026-11-27 left 160 MiB (the pool maps in chunks) for 80 MB of factors.
    assert cuda.reserved_bytes() <= U.nbytes + Vt.nbytes + 96 * 2**20


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where", ["near the maximum", "near the subnormals"])
@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_gpu_svd_of_entries_near_the_float_limits(dtype: Any, where: str, kind: str) -> None:
    """As on the CPU (rankwise._scale), A is scaled by a power of two where its entries
    leave the range the algorithm handles (the sketch of entries near the maximum overflows;
    entries near the subnormals keep few digits): the factors of A 2^e are those of A, its
    values 2^e times A's; svd (fixed rank and tol) and svds."""
    import cupy as cp
    import cupyx.scipy.sparse as csp

    info = np.finfo(dtype)
    # max |a_ij| 2^(maxexp - 10): the Gram matrices of its sketches overflow, its singular
    # values (up to ~50 max |a_ij| here) do not; 2^(minexp + 8): most entries subnormal
    e = info.maxexp - 10 if where == "near the maximum" else info.minexp + 8
    A = _decaying(120, 80, np.float64, 9)
    big = np.ldexp(A / np.abs(A).max(), e).astype(dtype)
    assert np.all(np.isfinite(big))
    device = cp.asarray(big) if kind == "dense" else csp.csr_matrix(cp.asarray(big))
    # the reference: the values of the matrix rankwise sees (subnormals as stored), exactly
    exact = np.ldexp(np.linalg.svd(np.ldexp(big.astype(np.float64), -e), compute_uv=False), e)
    tol = 100 * _tol(dtype)
    # the CPU's float32 values are 1e-6 from exact here; zeroing the 1.3% subnormal entries
    # (CuPy's kernels flush float32 subnormals: its ldexp did so in the scaling) moved them
    # by 7.7e-5
    value_tol = 1e-5 if dtype == np.float32 else tol
    U, s, _ = rankwise.svd(device, 8, random_state=0)
    np.testing.assert_allclose(cp.asnumpy(s), exact[:8], rtol=value_tol)
    assert cp.asnumpy(s).dtype == dtype
    np.testing.assert_allclose(cp.asnumpy(U.T @ U), np.eye(8), atol=tol)
    _, s_tol, _ = rankwise.svd(device, tol=1e-2, random_state=0)
    np.testing.assert_allclose(cp.asnumpy(s_tol)[:3], exact[:3], rtol=tol)
    s_svds = rankwise.svds(device, k=4, rng=0, return_singular_vectors=False)
    np.testing.assert_allclose(np.sort(cp.asnumpy(s_svds))[::-1], exact[:4], rtol=tol)
    # the CPU's result on the same data, for the same seed
    cpu = rankwise.svd(big, 8, random_state=0)[1]
    np.testing.assert_allclose(cp.asnumpy(s), cpu, rtol=value_tol)


@needs_gpu
def test_fixed_precision_svd_on_the_gpu() -> None:
    import cupy as cp

    A = _decaying(400, 300, np.float64, 2, rate=0.3)
    U, s, Vt = rankwise.svd(cp.asarray(A), tol=1e-6, random_state=0)
    err = np.linalg.norm(A - cp.asnumpy((U * s) @ Vt)) / np.linalg.norm(A)
    assert err <= 1e-6
    _, sc, _ = rankwise.svd(A, tol=1e-6, random_state=0)
    assert len(s) == len(sc)


@needs_gpu
def test_randomized_svd_signature_on_the_gpu() -> None:
    import cupy as cp

    A = _decaying(200, 300, np.float64, 3)
    U, s, Vt = rankwise.randomized_svd(cp.asarray(A), 6, random_state=0)
    assert U.shape == (200, 6)
    assert Vt.shape == (6, 300)
    exact = np.linalg.svd(A, compute_uv=False)[:6]
    np.testing.assert_allclose(cp.asnumpy(s), exact, rtol=1e-8)


@needs_gpu
def test_gpu_svd_bad_input() -> None:
    import cupy as cp

    A = cp.asarray(_decaying(50, 40, np.float64, 4))
    with pytest.raises(ValueError, match="k"):
        rankwise.svd(A, 41)
    B = A.copy()
    B[3, 4] = cp.nan
    with pytest.raises(ValueError, match="NaN"):
        rankwise.svd(B, 3)
    with pytest.raises(TypeError, match="complex"):
        rankwise.svd(A.astype(cp.complex128), 3)
    C = cp.ascontiguousarray(A.astype(cp.float32))  # C order, float32: the same native check
    C[-1, -1] = cp.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.svd(C, 3)
    S = cp.asarray(A)[:, ::2]  # strided: CuPy's check
    S[0, 0] = cp.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.svd(S, 3)


def _poisson2d(m: int) -> sp.csr_array:
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return sp.csr_array(sp.kron(sp.eye(m), T) + sp.kron(T, sp.eye(m)))


@needs_gpu
@pytest.mark.parametrize("M", [None, "jacobi"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cg_matches_the_cpu_backend(M: Any, dtype: Any) -> None:
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = _poisson2d(30).astype(dtype)
    b = np.random.default_rng(0).standard_normal(A.shape[0]).astype(dtype)
    A_gpu, b_gpu = csp.csr_matrix(sp.csr_matrix(A)), cp.asarray(b)
    res = rankwise.solve_cg(A_gpu, b_gpu, rtol=1e-6, M=M)
    ref = rankwise.solve_cg(A, b, rtol=1e-6, M=M)
    assert res.converged
    assert isinstance(res.x, cp.ndarray)
    assert res.x.dtype == dtype
    assert abs(res.iterations - ref.iterations) <= 1
    # CG stops on the recursive residual; the true one, in float64, levels off near
    # eps ||A|| ||x|| (the CPU reaches 2.1e-6 ||b|| in float32 here)
    x64 = cp.asnumpy(res.x).astype(np.float64)
    r = np.linalg.norm(b.astype(np.float64) - A.astype(np.float64) @ x64)
    bound = 1e-6 if dtype == np.float64 else 1e-5
    assert r <= bound * np.linalg.norm(b) * 1.01
    x, info = rankwise.cg(A_gpu, b_gpu, rtol=1e-6, M=M)
    assert info == 0
    assert isinstance(x, cp.ndarray)


@needs_gpu
def test_cg_block_dense_x0_and_callback_on_the_gpu() -> None:
    import cupy as cp

    A = _poisson2d(12).toarray()
    B = np.random.default_rng(1).standard_normal((A.shape[0], 3))
    seen: list[int] = []
    res = rankwise.solve_cg(
        cp.asarray(A),
        cp.asarray(B),
        x0=cp.ones_like(cp.asarray(B)),
        rtol=1e-8,
        callback=lambda xk: seen.append(int(xk.shape[1])),
    )
    assert res.converged
    assert res.x.shape == B.shape
    np.testing.assert_allclose(A @ cp.asnumpy(res.x), B, atol=1e-6)
    assert len(seen) == res.iterations
    assert set(seen) == {3}


@needs_gpu
def test_cg_breakdown_and_bad_input_on_the_gpu() -> None:
    import cupy as cp

    A = -np.eye(5)
    with pytest.raises(rankwise.CGBreakdownError):
        rankwise.cg(cp.asarray(A), cp.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        rankwise.cg(cp.eye(5), cp.full(5, cp.nan))
    with pytest.raises(ValueError, match="positive"):
        rankwise.cg(cp.asarray(A), cp.ones(5), M="jacobi")
    _x, info = rankwise.cg(cp.asarray(_poisson2d(20).toarray()), cp.ones(400), maxiter=3)
    assert info == 3


def _host_interpolant() -> Any:
    return rankwise.eim(np.random.default_rng(1).standard_normal((6, 4)), max_terms=2)


def _host_matrix_eim() -> Any:
    K = sp.identity(6, format="csr")
    return rankwise.matrix_eim(lambda mu: (K * (1 + mu)).tocsr(), np.linspace(0, 1, 4))


@pytest.mark.parametrize(
    "call",
    [
        lambda A: rankwise.leverage_scores(A, 2),
        lambda A: rankwise.CGSolver(A),
        lambda A: rankwise.interp_decomp(A, 2),
        lambda A: rankwise.estimate_error(A, np.ones((6, 2)), np.ones(2), np.ones((2, 6))),
        lambda A: rankwise.eim(A, max_terms=2),
        lambda A: rankwise.eim(lambda mu: A, np.arange(3.0), max_terms=2),
        lambda A: rankwise.matrix_eim(lambda mu: A, np.arange(3.0)),
        lambda A: _host_interpolant()(A),
        lambda A: _host_interpolant().coefficients(A),
        lambda A: rankwise.deim(np.eye(6)[:, :2]).coefficients(A),
        lambda A: _host_matrix_eim().matvec(0.5, A),
        lambda A: _host_matrix_eim().project(A),
    ],
    ids=[
        "leverage_scores",
        "CGSolver",
        "interp_decomp",
        "estimate_error",
        "eim",
        "eim of a callable",
        "matrix_eim",
        "interpolant call",
        "interpolant coefficients",
        "deim coefficients",
        "matrix_eim matvec",
        "matrix_eim project",
    ],
)
def test_functions_without_a_gpu_path_refuse_cupy_clearly(call: Any) -> None:
    """A CuPy array where only host arrays are taken: a TypeError naming it and the way
    out, not CuPy's own error from an implicit conversion deep inside."""
    with pytest.raises(TypeError, match=r"CuPy array.*\.get\(\)"):
        call(_FakeCupyArray())


def test_cupy_update_to_a_host_updater_is_refused() -> None:
    up = rankwise.SVDUpdater(2).from_factors(np.eye(6)[:, :2], np.ones(2), np.eye(6)[:2])
    with pytest.raises(TypeError, match="factors are in host memory"):
        up.add_rows(_FakeCupyArray())
    assert up.shape == (6, 6)


@pytest.mark.skipif(
    _cuda_module() is None or _cuda_module().device_count() > 0,
    reason="needs the CUDA module on a machine without a usable GPU",
)
def test_device_failures_are_runtime_errors() -> None:
    """A failing CUDA call is a DeviceError (RuntimeError), bad arguments a ValueError: the
    module's translator of DeviceError must not be shadowed by the one of its base class."""
    mod = _cuda_module()

    class NullStream:
        ptr = 0

    with pytest.raises(RuntimeError, match="cudaGetDevice"):
        mod.DeviceSvdUpdate64(
            NullStream(), 0, 0, 10, 10, np.ones(3), 0, 8, 8, "sparse", 3, 2, False, 0.0, 1, 2
        )
    with pytest.raises(ValueError, match="float32/64"):
        mod.DeviceOperand.dense("float16", 0, 3, 8, 3, False)
