"""GPU CG on right-hand sides of extreme magnitude: the same cases as the CPU's
(tests/test_fuzz_findings.py), solved from CuPy arrays, compared with the CPU backend and
with float64 references.  Skipped without a GPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
from gpu_support import needs_gpu

pytestmark = needs_gpu

SPD = np.array(
    [[2.033259783401407, 0.06666266579770692], [0.06666266579770692, 2.4211452057795197]]
)
B = np.array([6.857655085992109, 0.9470809631292422])


@pytest.mark.parametrize(
    ("scale", "dtype"),
    [(10.0**e, np.float64) for e in (304, 200, -160, -300, -310)]
    + [(10.0**e, np.float32) for e in (37, 25, -20, -36, -40)],
)
def test_gpu_cg_right_hand_sides_of_extreme_magnitude(scale: float, dtype: Any) -> None:
    import cupy as cp
    import cupyx.scipy.sparse as csp

    b = (B * scale).astype(dtype)
    A = SPD.astype(dtype)
    x_true = np.linalg.solve(SPD, b.astype(np.float64))
    seen: list[Any] = []
    b_gpu = cp.asarray(b)
    x, info = rankwise.cg(
        cp.asarray(A), b_gpu, rtol=1e-6, callback=lambda xk: seen.append(xk.copy())
    )
    assert info == 0
    assert isinstance(x, cp.ndarray)
    assert x.dtype == dtype
    np.testing.assert_array_equal(cp.asnumpy(b_gpu), b)  # b not modified
    tol = 1e-5 if dtype is np.float32 else 1e-12
    subnormal = abs(scale) < np.finfo(dtype).tiny * 1e3
    np.testing.assert_allclose(cp.asnumpy(x), x_true, rtol=1e-3 if subnormal else tol)
    np.testing.assert_array_equal(cp.asnumpy(seen[-1]), cp.asnumpy(x))  # unscaled iterate
    x_cpu, _ = rankwise.cg(A, b, rtol=1e-6)
    np.testing.assert_allclose(cp.asnumpy(x), x_cpu, rtol=1e-3 if subnormal else tol)
    block = np.c_[b, B.astype(dtype)]
    res = rankwise.solve_cg(csp.csr_matrix(cp.asarray(A)), cp.asarray(block), rtol=1e-6)
    assert res.converged
    np.testing.assert_allclose(cp.asnumpy(res.x[:, 0]), x_true, rtol=1e-3 if subnormal else tol)
    bnorm = scale * np.linalg.norm(b.astype(np.float64) / scale)
    np.testing.assert_allclose(res.residual_norms[0, 0], bnorm, rtol=1e-6)
    ref = rankwise.solve_cg(A, block, rtol=1e-6)
    np.testing.assert_array_equal(res.column_iterations, ref.column_iterations)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gpu_cg_right_hand_side_at_the_float_maximum(dtype: Any) -> None:
    import cupy as cp

    top, tiny = float(np.finfo(dtype).max), float(np.finfo(dtype).smallest_subnormal)
    b = np.array([[top, 1.0], [0.0, 2.0], [0.0, 3.0]], dtype=dtype)
    b_tiny = np.array([[tiny * 3, 1.0], [tiny, 2.0], [0.0, 3.0]], dtype=dtype)
    A = np.diag([4.0, 2.0, 1.0]).astype(dtype)
    for rhs in (b, b_tiny):
        x, info = rankwise.cg(cp.asarray(A), cp.asarray(rhs), rtol=1e-6)
        assert info == 0
        x_host = cp.asnumpy(x)
        assert np.all(np.isfinite(x_host))
        expected = rhs.astype(np.float64) / np.diag(A).astype(np.float64)[:, None]
        np.testing.assert_allclose(x_host, expected.astype(dtype), rtol=1e-5)


def test_gpu_cg_solution_beyond_the_float_range_is_reported() -> None:
    import cupy as cp

    A = np.diag([2e-300, 2e-300, 1.8e-300])
    b = np.array([3.3e307, 1.0, 0.5])
    with pytest.raises(rankwise.CGBreakdownError, match="NaN or Inf"):
        rankwise.cg(cp.asarray(A), cp.asarray(b), rtol=1e-8)
    res = rankwise.solve_cg(cp.asarray(A), cp.asarray(np.c_[b, np.ones(3)]), rtol=1e-8)
    assert res.column_reasons == ("nonfinite", "converged")
    np.testing.assert_allclose(cp.asnumpy(res.x[:, 1]), 1 / np.diag(A), rtol=1e-8)


def test_gpu_cg_unscaled_solution_beyond_the_float_range_is_reported() -> None:
    """b of ordinary size (no scaling) and x = A^-1 b beyond the range: the check of the
    iterate (one native reduction per column since 2026-11-28, CuPy's isfinite before)."""
    import cupy as cp

    A = cp.asarray(np.diag([1e-300, 1e-300, 1.0]))
    b = np.array([1e10, 1.0, 1.0])
    res = rankwise.solve_cg(A, cp.asarray(np.c_[b, [0.0, 0.0, 1.0]]), rtol=1e-8)
    assert res.column_reasons == ("nonfinite", "converged")
    np.testing.assert_allclose(cp.asnumpy(res.x[:, 1]), [0.0, 0.0, 1.0], atol=1e-12)


def test_gpu_cg_ordinary_right_hand_side_is_not_scaled() -> None:
    """|b| ~ 1: no scaling, so the GPU iteration is the CPU's (same counts)."""
    import cupy as cp

    rng = np.random.default_rng(0)
    n = 50
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.linspace(1, 100, n)) @ Q.T
    b = rng.standard_normal(n)
    res = rankwise.solve_cg(cp.asarray(A), cp.asarray(b), rtol=1e-10)
    ref = rankwise.solve_cg(A, b, rtol=1e-10)
    assert abs(res.iterations - ref.iterations) <= 1  # reductions round differently
    np.testing.assert_allclose(res.residual_norms[:5], ref.residual_norms[:5], rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_jacobi_names_the_first_bad_diagonal_entry(dtype: Any) -> None:
    """The diagonal is inverted and checked on the device; the message names the first
    entry that is not positive, as the CPU's does."""
    import cupy as cp
    import cupyx.scipy.sparse as csp
    import scipy.sparse as sp

    d = np.arange(1.0, 21.0)
    d[7], d[11] = 0.0, -1.0
    A = sp.diags(d).tocsr().astype(dtype)
    with pytest.raises(ValueError, match=r"diagonal entry A\[7, 7\] = 0(\.0)?;"):
        rankwise.cg(csp.csr_matrix(A), cp.ones(20, dtype=dtype), M="jacobi")
    with pytest.raises(ValueError, match=r"diagonal entry A\[7, 7\] = 0(\.0)?;"):
        rankwise.cg(A, np.ones(20, dtype=dtype), M="jacobi")
    good = sp.diags(np.arange(1.0, 21.0)).tocsr().astype(dtype)
    x, info = rankwise.cg(csp.csr_matrix(good), cp.ones(20, dtype=dtype), M="jacobi", x0="Mb")
    assert info == 0
    np.testing.assert_allclose(cp.asnumpy(x), 1.0 / np.arange(1.0, 21.0), rtol=1e-6)


def test_gpu_cg_non_convergence_on_a_non_symmetric_matrix_names_the_cause() -> None:
    """As on the CPU (tests/test_cg.py): a warning after the last iteration when the CuPy A
    (dense or sparse) is not symmetric, none for a symmetric A."""
    import warnings

    import cupy as cp
    import cupyx.scipy.sparse as csp

    rng = np.random.default_rng(5)
    n = 60
    F = rng.standard_normal((n, n))
    S = F @ F.T + 1e-3 * np.eye(n)
    b = cp.asarray(rng.standard_normal(n))
    for A in (cp.asarray(S + (F - F.T)), csp.csr_matrix(cp.asarray(S + (F - F.T)))):
        with pytest.warns(RuntimeWarning, match="not symmetric"):
            _, info = rankwise.cg(A, b, maxiter=30)
        assert info == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, info = rankwise.cg(csp.csr_matrix(cp.asarray(S)), b, maxiter=2)
    assert info == 2


def test_gpu_asymmetry_of_sparse_matrices_equals_the_cpus() -> None:
    """_gpu.asymmetry, with the pattern-equal shortcut (no sparse subtraction) and without
    it: the CPU's ||A - A^T||_F / ||A||_F on patterns symmetric or not, explicit zeros,
    duplicates and entries near the float maximum."""
    import cupyx.scipy.sparse as csp
    import scipy.sparse as sp
    from rankwise import _gpu
    from rankwise._validate import asymmetry

    rng = np.random.default_rng(11)
    n = 50
    sym = sp.random(n, n, density=0.1, random_state=1, format="csr")
    sym = (sym + sym.T).tocsr()
    values_off = sym.copy()
    values_off.data = values_off.data * (1 + 1e-3 * rng.standard_normal(values_off.nnz))
    pattern_off = sym + sp.csr_matrix(([2.0], ([3], [40])), shape=(n, n))
    coo = sym.tocoo()  # an explicit zero at (5, 45): another pattern, no asymmetry
    zero = sp.csr_matrix(
        (np.r_[coo.data, 0.0], (np.r_[coo.row, 5], np.r_[coo.col, 45])), shape=(n, n)
    )
    assert zero.nnz == sym.nnz + 1
    dup = sp.csr_matrix(
        (
            np.r_[sym.data, 1.0, -1.0],
            np.r_[sym.indices, 7, 7],
            np.r_[sym.indptr[:-1], sym.nnz + 2],
        ),
        shape=(n, n),
    )
    cases = [sym, values_off, pattern_off, zero, dup, values_off * 1e300, values_off * 1e-300]
    for A in cases:
        got = _gpu.asymmetry(csp.csr_matrix(A))
        expected = asymmetry(sp.csr_matrix(A))
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-15)
    assert _gpu.asymmetry(csp.csr_matrix(sym)) == 0.0
    assert _gpu.asymmetry(csp.csr_matrix(zero)) == 0.0


def test_gpu_cg_with_operators_and_preconditioners() -> None:
    """A as a cupyx LinearOperator (matrix-free) and M as a CuPy matrix, a cupyx sparse
    matrix, a cupyx LinearOperator or a function of a vector: the CPU's solution with the
    same M, and its iteration count."""
    import cupy as cp
    import cupyx.scipy.sparse as csp
    import cupyx.scipy.sparse.linalg as cspla
    import scipy.sparse as sp

    rng = np.random.default_rng(8)
    n = 400
    d = 2.0 + 3.0 * rng.uniform(size=n)
    A = sp.diags([-np.ones(n - 1), d, -np.ones(n - 1)], [-1, 0, 1], format="csr")
    b = rng.standard_normal(n)
    ref = rankwise.solve_cg(A, b, rtol=1e-10, M=sp.diags(1.0 / d))
    assert ref.converged
    A_gpu, b_gpu, d_inv = csp.csr_matrix(A), cp.asarray(b), cp.asarray(1.0 / d)
    preconditioners = [
        cp.diag(d_inv),
        csp.diags(d_inv).tocsr(),
        # a matvec written for 1-D vectors, as SciPy's and cupyx's cg call it (an (n, 1)
        # block broadcast to n x n here)
        cspla.LinearOperator((n, n), matvec=lambda x: d_inv * x, dtype=np.float64),
        lambda x: d_inv * x,
    ]

    class Tridiagonal(cspla.LinearOperator):  # a user's subclass: still matrix-free on the GPU
        def __init__(self) -> None:
            super().__init__(np.float64, (n, n))

        def _matvec(self, x: Any) -> Any:
            return A_gpu @ x

    for A_ in (A_gpu, cspla.aslinearoperator(A_gpu), Tridiagonal()):
        for M in preconditioners:
            res = rankwise.solve_cg(A_, b_gpu, rtol=1e-10, M=M)
            assert res.converged
            assert abs(res.iterations - ref.iterations) <= 1
            np.testing.assert_allclose(cp.asnumpy(res.x), ref.x, rtol=1e-7, atol=1e-9)
    x, info = rankwise.cg(A_gpu, b_gpu, x0="Mb", rtol=1e-10, M=preconditioners[3])
    assert info == 0
    np.testing.assert_allclose(cp.asnumpy(x), ref.x, rtol=1e-7, atol=1e-9)
    with pytest.raises(TypeError, match="on the GPU, M may be"):
        rankwise.cg(A_gpu, b_gpu, M="ssor")
    with pytest.raises(TypeError, match="on the GPU, M may be"):
        rankwise.cg(A_gpu, b_gpu, M=np.eye(n))
    with pytest.raises(TypeError, match="not a LinearOperator"):
        rankwise.cg(cspla.aslinearoperator(A_gpu), b_gpu, M="jacobi")
    with pytest.raises(ValueError, match="different shapes"):
        rankwise.cg(A_gpu, b_gpu, M=cp.eye(n + 1))
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.cg(A_gpu, b_gpu, M=lambda x: x * cp.nan)
