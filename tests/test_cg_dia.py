"""CG's diagonal-storage (DIA) product for CSR matrices on a few diagonals (rankwise/dia.hpp,
python/rankwise/_cg.py _banded): when it is used, that its products are right in both
orientations, and that it leaves CG's iterates unchanged (the same to the bit as the CSR
product for one right-hand side)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import cg_product_storage
from rankwise import _cg, _core
from rankwise._validate import as_matrix


def _tridiag(n: int, lo: float, mid: float, hi: float) -> sp.csr_matrix:
    return sp.diags([lo, mid, hi], [-1, 0, 1], shape=(n, n), format="csr")


def poisson2d(side: int) -> sp.csr_matrix:
    """The 5-point Laplacian: 5 diagonals."""
    T = _tridiag(side, -1.0, 2.0, -1.0)
    return sp.kronsum(T, T, format="csr")


def rotated_diffusion(side: int, eps: float = 0.25) -> sp.csr_matrix:
    """A 9-point SPD stencil with unequal, non-integer coefficients (anisotropy plus a
    mixed-derivative term): 9 diagonals."""
    T = _tridiag(side, -1.0, 2.0, -1.0)
    D = _tridiag(side, -0.5, 0.0, 0.5)
    eye = sp.identity(side, format="csr")
    A = sp.kron(T, eye) + eps * sp.kron(eye, T) + 0.3 * sp.kron(D, D.T) + 0.3 * sp.kron(D.T, D)
    return sp.csr_matrix(A + 1e-3 * sp.identity(side * side))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_banded_csr_is_multiplied_in_dia_form(dtype: Any) -> None:
    for A in (poisson2d(30), rotated_diffusion(30)):
        assert cg_product_storage(A.astype(dtype), dtype) == "dia"


def test_other_matrices_keep_their_product_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    A = poisson2d(30)
    assert cg_product_storage(A.tocsc()) == "csc"
    assert cg_product_storage(A, iterations=5) == "csr"  # too few products to repay the copy
    unsorted = A.copy()
    unsorted.indices[[0, 1]] = unsorted.indices[[1, 0]]
    unsorted.data[[0, 1]] = unsorted.data[[1, 0]]
    unsorted.has_sorted_indices = False
    assert cg_product_storage(unsorted) == "csr"
    rng = np.random.default_rng(0)
    R = sp.random(900, 900, density=0.01, random_state=rng, format="csr")
    assert (
        cg_product_storage(sp.csr_matrix(R + R.T + 10 * sp.identity(900))) == "csr"
    )  # many diagonals
    T = _tridiag(900, -1.0, 2.5, -1.0)
    corners = sp.csr_matrix(T + sp.diags([0.5, 0.5], [-899, 899], shape=T.shape))
    assert cg_product_storage(T) == "dia"
    assert cg_product_storage(corners) == "csr"  # 5 diagonals for 3 entries per row: too much fill
    monkeypatch.setattr(_cg, "DIA_MAX_BYTES", 1000)
    assert cg_product_storage(A) == "csr"  # beyond the cache-sized limit
    assert (
        cg_product_storage(A.toarray()) == "symmetric"
    )  # dense: the triangle product (test_cg_symmetric)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose", [False, True])
def test_dia_products_match_the_dense_matrix(dtype: Any, transpose: bool) -> None:
    """Nonsymmetric, with empty rows and an entry on the last diagonal only (n - 1)."""
    rng = np.random.default_rng(1)
    n = 40
    offsets = [-7, -1, 0, 2, 5]
    A = sp.diags([rng.standard_normal(n - abs(k)) for k in offsets], offsets, shape=(n, n))
    A = sp.lil_matrix(A)
    A[3, :] = 0
    A[0, n - 1] = 2.5
    A = sp.csr_matrix(A).astype(dtype)
    A.sort_indices()
    op = _core.Operator.dia(A.data, A.indices, A.indptr, n, 32, 10.0)
    assert op is not None
    assert op.storage == "dia"
    X = np.asfortranarray(rng.standard_normal((n, 3)).astype(dtype))
    Y = np.asarray(_core.apply(op, X, transpose))
    dense = A.toarray().astype(np.float64)
    expected = (dense.T if transpose else dense) @ X.astype(np.float64)
    tol = 20 * np.finfo(dtype).eps * np.abs(dense).sum(axis=1).max() * np.abs(X).max()
    np.testing.assert_allclose(Y, expected, rtol=0, atol=tol)
    assert Y.dtype == dtype


def test_dia_conversion_refuses_a_broken_structure() -> None:
    A = poisson2d(5)
    indices = A.indices.copy()
    indices[3] = 99
    with pytest.raises(ValueError, match="column index out of range"):
        _core.Operator.dia(A.data, indices, A.indptr, 25, 32, 1.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [None, "jacobi", "ssor"])
@pytest.mark.parametrize("make", [poisson2d, rotated_diffusion], ids=["5-point", "9-point"])
def test_cg_iterates_are_those_of_the_csr_product(
    make: Any, M: str | None, dtype: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    A = make(40).astype(dtype)
    b = np.random.default_rng(2).standard_normal(A.shape[0]).astype(dtype)
    assert cg_product_storage(A, dtype) == "dia"
    with_dia = rankwise.solve_cg(A, b, rtol=1e-6, M=M)
    monkeypatch.setattr(_cg, "DIA_MAX_DIAGONALS", 0)
    assert cg_product_storage(A, dtype) == "csr"
    with_csr = rankwise.solve_cg(A, b, rtol=1e-6, M=M)
    assert with_dia.converged
    assert with_dia.iterations == with_csr.iterations
    np.testing.assert_array_equal(with_dia.x, with_csr.x)
    np.testing.assert_array_equal(with_dia.residual_norms, with_csr.residual_norms)
    A64 = A.astype(np.float64)
    res = np.linalg.norm(b - A64 @ with_dia.x) / np.linalg.norm(b)
    assert res < 1e-6 * 10 * (1 if dtype == np.float64 else 1e2)


def test_blocks_deflation_and_solver_sequences_with_dia(monkeypatch: pytest.MonkeyPatch) -> None:
    """The paths that multiply blocks (several right-hand sides, the deflated start) and
    CGSolver, which converts once per matrix: solutions to tolerance, as with CSR."""
    A = rotated_diffusion(30)
    n = A.shape[0]
    rng = np.random.default_rng(3)
    B = rng.standard_normal((n, 3))
    W = np.linalg.qr(rng.standard_normal((n, 4)))[0]
    for dia in (True, False):
        if not dia:
            monkeypatch.setattr(_cg, "DIA_MAX_DIAGONALS", 0)
        X, info = rankwise.cg(A, B, rtol=1e-10, M="jacobi")
        assert info == 0
        np.testing.assert_allclose(A @ X, B, atol=1e-8 * np.abs(B).max() * 10)
        res = rankwise.solve_cg(A, B[:, 0], rtol=1e-10, deflation=W)
        assert res.converged
        np.testing.assert_allclose(A @ res.x, B[:, 0], atol=1e-7)
        solver = rankwise.CGSolver(A, M="jacobi", rtol=1e-10)
        assert solver._mat.op.storage == ("dia" if dia else "csr")
        for j in range(3):
            np.testing.assert_allclose(A @ solver.solve(B[:, j]).x, B[:, j], atol=1e-7)


def test_as_matrix_outside_cg_keeps_csr() -> None:
    """The DIA copy is CG's choice only: other functions read the CSR arrays in place."""
    assert as_matrix(poisson2d(10)).op.storage == "csr"


def _dense_from_dia(offsets: list[int], values: np.ndarray) -> np.ndarray:
    """The matrix that DIA values (values[d, i] = A[i, i + offsets[d]]) describe; fails when
    a position outside the matrix holds anything but zero."""
    n = values.shape[1]
    dense = np.zeros((n, n), dtype=values.dtype)
    for d, off in enumerate(offsets):
        rows = np.arange(n)
        inside = (rows + off >= 0) & (rows + off < n)
        assert not values[d, ~inside].any(), f"diagonal {off} holds values outside the matrix"
        dense[rows[inside], rows[inside] + off] = values[d, inside]
    return dense


def _nonsymmetric_banded(n: int, offsets: list[int], seed: int) -> sp.csr_matrix:
    """Entries on `offsets`, about a fifth of them missing (fill), rows 3 and n - 2 empty."""
    rng = np.random.default_rng(seed)
    A = sp.diags([rng.standard_normal(n - abs(k)) for k in offsets], offsets, shape=(n, n))
    A = sp.lil_matrix(A)
    A[3, :] = 0
    A[n - 2, :] = 0
    keep = sp.random(n, n, density=0.8, random_state=rng, format="csr")
    keep.data[:] = 1
    return sp.csr_matrix(A.multiply(keep + sp.diags(np.ones(n))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_gpu_dia_conversion_reproduces_the_matrix(dtype: Any, index_dtype: Any) -> None:
    """The GPU's conversion (python/rankwise/_dia_gpu.py, written over the array module) run
    with NumPy: every stored entry in place, zeros elsewhere, the offsets those with entries."""
    from rankwise._dia_gpu import dia_from_csr

    cases = [
        poisson2d(12),
        rotated_diffusion(9),
        _tridiag(1, 0.0, 3.0, 0.0),
        _nonsymmetric_banded(50, [-49, -6, -1, 0, 3, 49], 2),
    ]
    for A in cases:
        A = sp.csr_matrix(A, dtype=dtype)
        A.indices, A.indptr = A.indices.astype(index_dtype), A.indptr.astype(index_dtype)
        n = A.shape[0]
        expected = sorted(set((A.tocoo().col - A.tocoo().row).tolist()))
        dia = dia_from_csr(np, A.data, A.indices, A.indptr, n, max_fill=10.0)
        assert dia is not None
        offsets, values = dia
        assert offsets == expected
        assert values.dtype == dtype
        assert values.shape == (len(offsets), n)
        np.testing.assert_array_equal(_dense_from_dia(offsets, values), A.toarray())


def test_gpu_dia_conversion_refuses_what_the_cpu_refuses() -> None:
    """More diagonals than allowed, more fill than allowed (DIA_MAX_FILL, counted as the CPU
    counts it: diagonals x n positions), a random sparse matrix, nothing stored."""
    from rankwise._dia_gpu import dia_from_csr

    def convert(A: sp.csr_matrix, **limits: Any) -> Any:
        return dia_from_csr(np, A.data, A.indices, A.indptr, A.shape[0], **limits)

    T = _tridiag(900, -1.0, 2.5, -1.0)
    assert convert(T) is not None
    assert convert(T, max_diagonals=2) is None
    corners = sp.csr_matrix(T + sp.diags([0.5, 0.5], [-899, 899], shape=T.shape))
    assert convert(corners) is None  # 5 x 900 positions for 2700 entries
    assert convert(corners, max_fill=2.0) is not None
    rng = np.random.default_rng(0)
    assert convert(sp.random(300, 300, density=0.02, random_state=rng, format="csr")) is None
    assert convert(sp.csr_matrix((30, 30))) is None
