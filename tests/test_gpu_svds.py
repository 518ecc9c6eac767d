"""rankwise.svds on CuPy input: the rankwise solver on the CUDA backend, SciPy's return
convention, the CPU's triplets for the same seed, NotImplementedError for the SciPy solvers.
Skipped without a GPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from gpu_support import needs_gpu

pytestmark = needs_gpu


def _spectrum_matrix(m: int, n: int, dtype: Any, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = min(m, n)
    Q1 = np.linalg.qr(rng.standard_normal((m, r)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((n, r)))[0]
    return ((Q1 * (1.0 / np.arange(1, r + 1))) @ Q2.T).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
def test_gpu_svds_matches_the_cpu(dtype: Any, shape: tuple[int, int]) -> None:
    import cupy as cp

    A = _spectrum_matrix(*shape, dtype, 1)
    A_gpu = cp.asarray(A)
    u, s, vh = rankwise.svds(A_gpu, k=6, rng=0)
    u_c, s_c, vh_c = rankwise.svds(A, k=6, rng=0)
    assert isinstance(u, cp.ndarray)
    assert isinstance(s, cp.ndarray)
    assert u.dtype == dtype
    assert u.shape == (shape[0], 6)
    assert vh.shape == (6, shape[1])
    exact = np.linalg.svd(A.astype(np.float64), compute_uv=False)[:6][::-1]
    # within tol ||A|| (||A|| = 1): a backward-stable error, which is relatively larger on
    # the smaller values (s_6 = 1/6 was 1.0e-5 off in float32 on an H200)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(cp.asnumpy(s), exact, rtol=0, atol=tol)  # ascending, as SciPy
    np.testing.assert_allclose(cp.asnumpy(s), s_c, rtol=0, atol=tol)
    # the same vectors up to sign (the small SVD's sign convention is the library's)
    for X, Y in ((cp.asnumpy(u), u_c), (cp.asnumpy(vh).T, vh_c.T)):
        dots = np.abs(np.sum(X.astype(np.float64) * Y, axis=0))
        np.testing.assert_allclose(dots, 1.0, atol=100 * tol)
    only_s = rankwise.svds(A_gpu, k=6, rng=0, return_singular_vectors=False)
    np.testing.assert_allclose(cp.asnumpy(only_s), cp.asnumpy(s), rtol=tol)


def test_gpu_svds_sparse_and_v0() -> None:
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A = sp.random(1500, 400, density=0.02, format="csr", random_state=2)
    v0 = np.ones(400)
    u, s, vh = rankwise.svds(csp.csr_matrix(A), k=5, v0=cp.asarray(v0), tol=1e-10)
    _, s_c, _ = rankwise.svds(A, k=5, v0=v0, tol=1e-10)
    np.testing.assert_allclose(cp.asnumpy(s), s_c, rtol=1e-9)
    exact = np.linalg.svd(A.toarray(), compute_uv=False)[:5][::-1]
    np.testing.assert_allclose(cp.asnumpy(s), exact, rtol=1e-9)
    r = A @ cp.asnumpy(vh).T - cp.asnumpy(u) * cp.asnumpy(s)
    assert np.linalg.norm(r) <= 1e-8 * exact[-1]


def test_gpu_svds_refusals_and_bad_input() -> None:
    import cupy as cp

    A = cp.asarray(_spectrum_matrix(60, 40, np.float64, 3))
    with pytest.raises(NotImplementedError, match="not available on the GPU yet"):
        rankwise.svds(A, k=3, solver="arpack")
    with pytest.raises(NotImplementedError, match="SM"):
        rankwise.svds(A, k=3, which="SM")
    with pytest.raises(ValueError, match="`k` must be"):
        rankwise.svds(A, k=40)
    with pytest.raises(ValueError, match="ncv"):
        rankwise.svds(A, k=3, ncv=2)
    with pytest.raises(ValueError, match="v0"):
        rankwise.svds(A, k=3, v0=cp.ones(7))
    B = A.copy()
    B[1, 1] = cp.nan
    with pytest.raises(ValueError, match="NaN"):
        rankwise.svds(B, k=3)


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
def test_gpu_svd_and_svds_of_a_cupyx_linear_operator(shape: tuple[int, int]) -> None:
    """Matrix-free on the GPU: a cupyx LinearOperator's matmat / rmatmat are called back on
    the caller's stream; the same sketch as for the matrix itself, so the same factors to
    rounding."""
    import cupy as cp
    import cupyx.scipy.sparse.linalg as cspla

    A = cp.asarray(_spectrum_matrix(*shape, np.float64, 2))
    op = cspla.aslinearoperator(A)
    U, s, Vt = rankwise.svd(op, 8, random_state=3)
    U0, s0, Vt0 = rankwise.svd(A, 8, random_state=3)
    assert isinstance(U, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(s), cp.asnumpy(s0), rtol=1e-10)
    np.testing.assert_allclose(cp.asnumpy(U), cp.asnumpy(U0), atol=1e-8)
    np.testing.assert_allclose(cp.asnumpy(Vt), cp.asnumpy(Vt0), atol=1e-8)
    u, s, vh = rankwise.svds(op, k=5, rng=0)
    u0, s0, vh0 = rankwise.svds(A, k=5, rng=0)
    np.testing.assert_allclose(cp.asnumpy(s), cp.asnumpy(s0), rtol=1e-10)
    np.testing.assert_allclose(cp.asnumpy(abs(u.T @ u0)), np.eye(5), atol=1e-8)
    np.testing.assert_allclose(cp.asnumpy(abs(vh @ vh0.T)), np.eye(5), atol=1e-8)
    with pytest.raises(ValueError, match="tol= needs"):
        rankwise.svd(op, tol=0.1)
    only_matvec = cspla.LinearOperator(shape, matvec=lambda x: A @ x, dtype=np.float64)
    with pytest.raises((NotImplementedError, TypeError)):
        rankwise.svd(only_matvec, 3)
    bad = cspla.LinearOperator(
        shape,
        matvec=lambda x: cp.full(shape[0], cp.nan),
        rmatvec=lambda y: A.T @ y,
        dtype=np.float64,
    )
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.svd(bad, 3)
