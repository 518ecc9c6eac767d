"""The ways the CUDA backend takes the SVD of its small l x l factor (rankwise._cuda's
set_small_svd: host gesdd, cuSOLVER's Jacobi SVD, its polar-decomposition SVD, and for
float32 the eigendecomposition of W^T W in float64, on the device or the host, and for
float64 gesvdj preconditioned by the eigenvectors of R^T R), each against
the CPU backend and the exact singular values, on a spectrum each way takes (1/j: the
condition of the sketched factor within the Gram ways' 1e3) and on one where the Gram ways
must decline and the others must not lose the zeros (equal values in groups, exact zeros).
Skipped without a GPU."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import rankwise
from gpu_support import needs_gpu

pytestmark = needs_gpu

WAYS = ("auto", "host", "jacobi", "polar", "gram", "gram_host", "eig_jacobi", "eig_jacobi_host")


@pytest.fixture(params=WAYS)
def small_svd_way(request: pytest.FixtureRequest) -> Iterator[str]:
    import rankwise._cuda as cuda

    previous = cuda.set_small_svd(request.param)
    yield request.param
    cuda.set_small_svd(previous)


def _with_spectrum(m: int, n: int, sigma: np.ndarray, dtype: Any, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = sigma.size
    Q1 = np.linalg.qr(rng.standard_normal((m, r)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((n, r)))[0]
    return ((Q1 * sigma) @ Q2.T).astype(dtype)


def _tol(dtype: Any) -> float:
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-10


def _expected_way(way: str, dtype: Any, l: int) -> str:
    """The way that takes an l x l factor of a well-conditioned spectrum."""
    if way in ("gram", "gram_host") and dtype == np.float32:
        return way
    if way in ("eig_jacobi", "eig_jacobi_host") and dtype == np.float64:
        return way
    if way in ("host", "jacobi", "polar"):
        return way
    return "host" if dtype == np.float64 or l <= 128 else "jacobi"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [10, 150])  # l = 20 and 160: host and (float32) gesvdj in auto
def test_each_way_matches_the_cpu_backend(small_svd_way: str, dtype: Any, k: int) -> None:
    import cupy as cp
    import rankwise._cuda as cuda

    sigma = 1.0 / np.arange(1, 401)
    A = _with_spectrum(600, 400, sigma, dtype, 11)
    U, s, Vt = rankwise.svd(cp.asarray(A), k, n_iter=2, random_state=3)
    # the way itself ran, not its fallback (the factor's condition: about 23 and 185)
    assert cuda.last_small_svd() == _expected_way(small_svd_way, dtype, k + 10)
    Uc, sc, Vtc = rankwise.svd(A, k, n_iter=2, random_state=3)
    U, s, Vt = cp.asnumpy(U), cp.asnumpy(s), cp.asnumpy(Vt)
    tol = _tol(dtype)
    np.testing.assert_allclose(s, sc, rtol=100 * tol)
    # the randomized SVD's own error: q = 2 on a 1/j spectrum leaves the leading values
    # within 2e-4 here (both backends draw the same sketch)
    np.testing.assert_allclose(s[: k // 2], sigma[: k // 2], rtol=1e-2)
    np.testing.assert_allclose(U.T @ U, np.eye(k), atol=10 * tol)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(k), atol=10 * tol)
    # the leading vectors, whose gaps are wide, agree with the CPU's (signs fixed alike)
    np.testing.assert_allclose(U[:, :5], Uc[:, :5], atol=1e3 * tol)
    np.testing.assert_allclose(Vt[:5], Vtc[:5], atol=1e3 * tol)
    ref = np.linalg.norm(A.astype(np.float64) - (Uc * sc) @ Vtc)
    assert np.linalg.norm(A.astype(np.float64) - (U * s) @ Vt) <= ref * (1 + 100 * tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_way_keeps_equal_and_zero_singular_values(small_svd_way: str, dtype: Any) -> None:
    """The spectra hard for a small SVD: values equal in groups of ten and exact zeros (rank
    20, k = 25).  The Gram ways decline (the factor is singular), gesvdp perturbs and its
    check decides, Jacobi is checked and gesvd takes over where the check fails."""
    import cupy as cp
    import rankwise._cuda as cuda

    sigma = np.r_[np.full(10, 3.0), np.full(10, 1.0), np.zeros(10)]
    A = _with_spectrum(500, 300, sigma, dtype, 8)
    U, s, Vt = rankwise.svd(cp.asarray(A), 25, oversample=5, n_iter=2, random_state=0)
    assert cuda.last_small_svd() not in ("gram", "gram_host")  # singular: declined
    U, s, Vt = cp.asnumpy(U), cp.asnumpy(s), cp.asnumpy(Vt)
    tol = 10 * _tol(dtype)
    np.testing.assert_allclose(s[:20], sigma[:20], rtol=tol)
    assert np.all(np.abs(s[20:]) <= 3 * tol)
    assert np.linalg.norm(U[:, :20].T @ U[:, :20] - np.eye(20)) < tol
    assert np.linalg.norm(Vt[:20] @ Vt[:20].T - np.eye(20)) < tol
    assert np.linalg.norm(A - (U * s) @ Vt) <= tol * np.linalg.norm(A)


def test_set_small_svd_names_the_ways() -> None:
    import rankwise._cuda as cuda

    previous = cuda.set_small_svd("polar")
    try:
        assert cuda.set_small_svd("gram") == "polar"
        with pytest.raises(ValueError, match="unknown way 'qr'"):
            cuda.set_small_svd("qr")
        assert cuda.set_small_svd("auto") == "gram"
    finally:
        cuda.set_small_svd(previous)
