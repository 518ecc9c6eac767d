"""GPU CG on CSR matrices on a few diagonals, which it multiplies in DIA storage
(python/rankwise/_dia_gpu.py, cuda/src/dia.cu): the form is taken where it should be, and
the solves equal the CPU's and the GPU's own CSR solves.  Skipped without a GPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from gpu_support import needs_gpu
from test_cg_dia import poisson2d, rotated_diffusion

pytestmark = needs_gpu


def _device_csr(A: sp.csr_matrix) -> Any:
    import cupyx.scipy.sparse as csp

    return csp.csr_matrix(A)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_stencils_are_multiplied_in_dia_form(dtype: Any) -> None:
    """Stencils with constant coefficients in coded DIA storage (a byte per position), one
    with a value per entry in plain storage; a random sparse matrix stays CSR."""
    from rankwise import _gpu
    from rankwise._dia_gpu import with_dia_product

    rng = np.random.default_rng(1)
    varying = poisson2d(30)
    varying.data = varying.data * rng.uniform(1, 2, varying.nnz)
    for A, diagonals, coded in (
        (poisson2d(30), 5, True),
        (rotated_diffusion(20), 9, True),
        (varying, 5, False),
    ):
        mat = with_dia_product(_gpu.as_device_matrix(_device_csr(A.astype(dtype)), "A"))
        (dia,) = mat.keepalive
        assert (dia.values is None) == coded
        values = dia.dense_values()
        assert values.shape == (diagonals, A.shape[0])
        assert values.dtype == dtype
    rng = np.random.default_rng(0)
    R = sp.random(900, 900, density=0.01, random_state=rng, format="csr")
    mat = with_dia_product(_gpu.as_device_matrix(_device_csr(R + R.T), "A"))
    assert mat.keepalive[0].format == "csr"  # many diagonals: CSR kept


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("columns", [1, 2])
def test_gpu_cg_in_coded_dia_form_equals_the_plain_one(
    dtype: Any, columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coded DIA storage and Jacobi diagonal hold the same bits as the plain ones, so
    the products and updates sum the same numbers in the same order: the solves are equal
    to the bit, residual histories included."""
    import cupy as cp
    from rankwise import _cg_gpu, _dia_gpu

    A = rotated_diffusion(30).astype(dtype)
    b = np.random.default_rng(6).standard_normal((A.shape[0], columns)).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    coded = rankwise.solve_cg(_device_csr(A), cp.asarray(b), rtol=rtol, M="jacobi")
    monkeypatch.setattr(_dia_gpu, "DIA_MAX_CODES", 0)
    monkeypatch.setattr(_cg_gpu, "DIA_MAX_CODES", 0)
    plain = rankwise.solve_cg(_device_csr(A), cp.asarray(b), rtol=rtol, M="jacobi")
    assert coded.converged
    np.testing.assert_array_equal(coded.column_iterations, plain.column_iterations)
    np.testing.assert_array_equal(coded.residual_norms, plain.residual_norms)
    np.testing.assert_array_equal(cp.asnumpy(coded.x), cp.asnumpy(plain.x))


@pytest.mark.parametrize("M", [None, "jacobi"])
@pytest.mark.parametrize("columns", [1, 3])
def test_gpu_cg_in_dia_form_equals_the_cpu(M: Any, columns: int) -> None:
    """float64: the CPU's iteration counts (to one) and solutions (to 1e-9 relative)."""
    import cupy as cp

    rng = np.random.default_rng(columns)
    for A in (poisson2d(40), rotated_diffusion(30)):
        b = rng.standard_normal((A.shape[0], columns))
        ref = rankwise.solve_cg(A, b, rtol=1e-10, M=M)
        res = rankwise.solve_cg(_device_csr(A), cp.asarray(b), rtol=1e-10, M=M)
        assert np.all(res.converged)
        assert np.max(np.abs(np.asarray(res.iterations) - np.asarray(ref.iterations))) <= 1
        x = cp.asnumpy(res.x)
        assert np.linalg.norm(x - ref.x) <= 1e-9 * np.linalg.norm(ref.x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_cg_in_dia_form_equals_its_csr_solve(
    dtype: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same solve with the DIA product and with cuSPARSE's (the DIA form turned off):
    both converge with residuals at the tolerance, in about the same iterations, and in
    float64 to the same solution up to rounding (the two sum each row in other orders)."""
    import cupy as cp
    from rankwise import _cg_gpu

    A = rotated_diffusion(40).astype(dtype)
    b = np.random.default_rng(5).standard_normal(A.shape[0]).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    dia = rankwise.solve_cg(_device_csr(A), cp.asarray(b), rtol=rtol, M="jacobi")
    monkeypatch.setattr(_cg_gpu, "with_dia_product", lambda mat: mat)
    csr = rankwise.solve_cg(_device_csr(A), cp.asarray(b), rtol=rtol, M="jacobi")
    assert dia.converged
    assert csr.converged
    assert abs(dia.iterations - csr.iterations) <= (1 if dtype == np.float64 else 3)
    x_dia, x_csr = cp.asnumpy(dia.x).astype(np.float64), cp.asnumpy(csr.x).astype(np.float64)
    A64, b64 = A.astype(np.float64), b.astype(np.float64)
    for x in (x_dia, x_csr):
        assert np.linalg.norm(b64 - A64 @ x) <= 2 * rtol * np.linalg.norm(b64)
    if dtype == np.float64:
        assert np.linalg.norm(x_dia - x_csr) <= 1e-8 * np.linalg.norm(x_csr)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_jacobi_on_a_coded_diagonal_equals_the_plain_one(
    dtype: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSR matrix off a few diagonals (CSR products) whose diagonal takes three values: the
    Jacobi diagonal coded by value gives the plain one's solve to the bit; a zero on it is
    refused by name either way."""
    import cupy as cp
    from rankwise import _cg_gpu

    rng = np.random.default_rng(8)
    n = 600
    R = sp.random(n, n, density=0.02, random_state=rng, format="csr")
    A = (R @ R.T).tolil()
    A.setdiag(np.resize([30.0, 40.0, 50.0], n))  # three values on the diagonal: coded
    A = A.tocsr().astype(dtype)
    assert _cg_gpu.value_codes(np, A.diagonal(), 256) is not None
    b = rng.standard_normal(n).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    coded = rankwise.solve_cg(_device_csr(A), cp.asarray(b), rtol=rtol, M="jacobi")
    monkeypatch.setattr(_cg_gpu, "DIA_MAX_CODES", 0)
    plain = rankwise.solve_cg(_device_csr(A), cp.asarray(b), rtol=rtol, M="jacobi")
    assert coded.converged
    assert coded.iterations == plain.iterations
    np.testing.assert_array_equal(coded.residual_norms, plain.residual_norms)
    np.testing.assert_array_equal(cp.asnumpy(coded.x), cp.asnumpy(plain.x))
    monkeypatch.undo()
    Z = A.tolil()
    Z[17, 17] = 0
    for codes in (256, 0):
        monkeypatch.setattr(_cg_gpu, "DIA_MAX_CODES", codes)
        with pytest.raises(ValueError, match=r"A\[17, 17\] = 0"):
            rankwise.solve_cg(_device_csr(sp.csr_matrix(Z)), cp.asarray(b), M="jacobi")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_gpu_native_dia_conversion_equals_the_array_one(dtype: Any, index_dtype: Any) -> None:
    """The CUDA module's conversion (cuda/src/dia_convert.cu) gives the NumPy conversion's
    form bit for bit: offsets, storage (plain or coded), table and codes; stencils, a
    matrix whose rare values the sample misses, one with a value per entry."""
    import cupy as cp
    from rankwise._dia_gpu import _CudaKernels, dia_from_csr

    rng = np.random.default_rng(9)
    rare = poisson2d(100)
    rare.data[[5001, 12921, 20841]] = [7.0, 8.0, 9.0]
    varying = poisson2d(30)
    varying.data = varying.data * rng.uniform(1, 2, varying.nnz)
    for A in (poisson2d(30), rotated_diffusion(20), rare, varying):
        A = sp.csr_matrix(A, dtype=dtype)
        A.indices, A.indptr = A.indices.astype(index_dtype), A.indptr.astype(index_dtype)
        host = dia_from_csr(np, A.data, A.indices, A.indptr, A.shape[0])
        device = dia_from_csr(
            cp,
            cp.asarray(A.data),
            cp.asarray(A.indices),
            cp.asarray(A.indptr),
            A.shape[0],
            kernels=_CudaKernels(),
        )
        assert host is not None
        assert device is not None
        assert device.offsets == host.offsets
        assert (device.values is None) == (host.values is None)
        for name in ("values", "codes", "table"):
            ours, reference = getattr(device, name), getattr(host, name)
            if reference is not None:
                np.testing.assert_array_equal(
                    cp.asnumpy(ours).view(np.uint8), reference.view(np.uint8)
                )
