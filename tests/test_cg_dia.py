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
    varying = A.copy()
    varying.data = varying.data * np.random.default_rng(2).uniform(1, 2, A.nnz)
    assert cg_product_storage(varying) == "csr"  # beyond the cache-sized limit
    assert cg_product_storage(A) == "dia"  # two values: coded, at any size
    monkeypatch.setattr(_cg, "DIA_MAX_CODES", 1)
    assert cg_product_storage(A) == "csr"
    assert (
        cg_product_storage(A.toarray()) == "symmetric"
    )  # dense: the triangle product (test_cg_symmetric)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("max_codes", [0, 256])
def test_dia_products_match_the_dense_matrix(dtype: Any, transpose: bool, max_codes: int) -> None:
    """Nonsymmetric, with empty rows and an entry on the last diagonal only (n - 1); plain,
    and coded (its 180 values, a byte per position)."""
    rng = np.random.default_rng(1)
    n = 40
    offsets = [-7, -1, 0, 2, 5]
    A = sp.diags([rng.standard_normal(n - abs(k)) for k in offsets], offsets, shape=(n, n))
    A = sp.lil_matrix(A)
    A[3, :] = 0
    A[0, n - 1] = 2.5
    A = sp.csr_matrix(A).astype(dtype)
    A.sort_indices()
    plain_bytes = np.inf if max_codes == 0 else 0.0  # coded: never plain
    op = _core.Operator.dia(A.data, A.indices, A.indptr, n, 32, 10.0, max_codes, plain_bytes)
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
        _core.Operator.dia(A.data, indices, A.indptr, 25, 32, 1.5, 256, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [None, "jacobi", "ssor"])
@pytest.mark.parametrize("make", [poisson2d, rotated_diffusion], ids=["5-point", "9-point"])
@pytest.mark.parametrize("coded", [False, True], ids=["plain", "coded"])
def test_cg_iterates_are_those_of_the_csr_product(
    make: Any, M: str | None, dtype: Any, coded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain DIA storage (in the cache) and coded (beyond DIA_MAX_BYTES, here 0): the
    iterates of the CSR product, to the bit."""
    A = make(40).astype(dtype)
    b = np.random.default_rng(2).standard_normal(A.shape[0]).astype(dtype)
    if coded:
        monkeypatch.setattr(_cg, "DIA_MAX_BYTES", 0)
    assert cg_product_storage(A, dtype) == "dia"
    with_dia = rankwise.solve_cg(A, b, rtol=1e-6, M=M)
    monkeypatch.setattr(_cg, "DIA_MAX_CODES", 0)
    assert cg_product_storage(A, dtype) == ("csr" if coded else "dia")
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


def _distinct_values(A: sp.csr_matrix) -> int:
    """How many distinct values (by their bits) A's DIA form holds, the fill's 0 counted."""
    bits = A.data.view(np.int32 if A.dtype == np.float32 else np.int64)
    return int(np.unique(np.concatenate([bits, [0]])).size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("max_codes", [0, 256])
def test_gpu_dia_conversion_reproduces_the_matrix(
    dtype: Any, index_dtype: Any, max_codes: int
) -> None:
    """The GPU's conversion (python/rankwise/_dia_gpu.py, written over the array module) run
    with NumPy: every stored entry in place, zeros (+0.0) elsewhere, the offsets those with
    entries; coded (a byte per position) exactly where the matrix has at most max_codes
    values, and decoded to the same bits."""
    from rankwise._dia_gpu import dia_from_csr

    cases = [
        poisson2d(12),
        rotated_diffusion(9),
        _tridiag(1, 0.0, 3.0, 0.0),
        _nonsymmetric_banded(50, [-49, -6, -1, 0, 3, 49], 2),
        _nonsymmetric_banded(300, [-1, 0, 1], 3),  # about 800 distinct values
    ]
    for A in cases:
        A = sp.csr_matrix(A, dtype=dtype)
        A.indices, A.indptr = A.indices.astype(index_dtype), A.indptr.astype(index_dtype)
        n = A.shape[0]
        expected = sorted(set((A.tocoo().col - A.tocoo().row).tolist()))
        dia = dia_from_csr(np, A.data, A.indices, A.indptr, n, max_fill=10.0, max_codes=max_codes)
        assert dia is not None
        assert dia.offsets == expected
        coded = _distinct_values(A) <= max_codes
        assert (dia.values is None) == coded
        values = dia.dense_values()
        if coded:
            assert dia.codes.dtype == np.uint8
            assert dia.codes.shape == (len(expected), n)
            assert dia.nbytes == dia.codes.nbytes + dia.table.nbytes
        assert values.dtype == dtype
        assert values.shape == (len(expected), n)
        np.testing.assert_array_equal(_dense_from_dia(dia.offsets, values), A.toarray())
        bits = values.view(np.int32 if dtype == np.float32 else np.int64)
        dense_bits = np.zeros_like(bits)  # the stored entries' bits at their positions
        coo = A.tocoo()
        d = np.searchsorted(expected, coo.col - coo.row)
        dense_bits[d, coo.row] = coo.data.view(bits.dtype)
        np.testing.assert_array_equal(bits, dense_bits)


def _assert_dia_holds(offsets: list[int], values: np.ndarray, A: sp.csr_matrix) -> None:
    """The DIA values hold A's entries at their positions and zeros elsewhere (sparse)."""
    n = A.shape[0]
    rows = np.arange(n)
    B = sp.lil_matrix(A.shape, dtype=A.dtype)
    for d, off in enumerate(offsets):
        inside = (rows + off >= 0) & (rows + off < n)
        assert not values[d, ~inside].any()
        B[rows[inside], rows[inside] + off] = values[d, inside]
    assert (sp.csr_matrix(B) != A).nnz == 0


def test_gpu_dia_conversion_completes_a_table_the_sample_missed() -> None:
    """Values the sampled table misses (three entries of a 2-D Poisson matrix, off the
    sampled positions): the coded fill counts them missed, the table is completed and the
    fill runs once more; a matrix with too many values goes plain."""
    from rankwise._dia_gpu import _ArrayKernels, dia_from_csr

    class Counting(_ArrayKernels):
        fills = 0

        def fill(self, *args: Any) -> int:
            Counting.fills += 1
            return super().fill(*args)

    A = poisson2d(100)
    bits = A.data.view(np.int64)
    step = A.nnz // 4096
    rare = [p for p in range(5000, A.nnz, 7919) if p % step][:3]
    A.data[rare] = [7.0, 8.0, 9.0]
    dia = dia_from_csr(np, A.data, A.indices, A.indptr, A.shape[0], kernels=Counting(np))
    assert dia is not None
    assert dia.values is None
    assert Counting.fills == 2
    assert {7.0, 8.0, 9.0} <= set(dia.table.tolist())
    _assert_dia_holds(dia.offsets, dia.dense_values(), A)

    Counting.fills = 0
    A.data[::3] = np.arange(bits[::3].size)  # a sixth of the values distinct: too many missed
    dia = dia_from_csr(np, A.data, A.indices, A.indptr, A.shape[0], kernels=Counting(np))
    assert dia is not None
    assert dia.codes is None
    assert Counting.fills == 1
    _assert_dia_holds(dia.offsets, dia.dense_values(), A)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_codes_reproduce_the_bits(dtype: Any) -> None:
    """value_codes (the coded DIA storage's table): table[codes] equals the data bit for bit
    (-0.0 apart from 0.0, NaN and Inf kept, 0.0 always in the table); at most max_codes
    values, counting 0.0; values the first sample misses (a few entries far from the
    sampled ones) found by the second pass; too many missed values, or too many values, give
    None."""
    from rankwise._dia_gpu import value_codes

    int_type = np.int32 if dtype == np.float32 else np.int64
    rng = np.random.default_rng(7)
    stencil = np.tile(np.array([-1.0, -1.0, 4.0, -1.0, -1.0], dtype=dtype), 40000)
    specials = np.array([-0.0, np.nan, np.inf, -np.inf, 1e-45, 5e-324], dtype=dtype)
    cases = {
        "stencil": stencil,
        "specials": np.concatenate([stencil[:100], specials]),
        "rare": stencil.copy(),
    }
    rare = rng.choice(stencil.size, 50, replace=False)
    cases["rare"][rare] = np.arange(3, 53, dtype=dtype)
    for name, data in cases.items():
        out = value_codes(np, data)
        assert out is not None, name
        table, codes = out
        assert codes.dtype == np.uint8
        assert table.dtype == dtype
        np.testing.assert_array_equal(table[codes].view(int_type), data.view(int_type))
        assert 0 in table.view(int_type)
        assert table.size == np.unique(np.concatenate([data.view(int_type), [0]])).size

    values = np.arange(1, 256, dtype=dtype)  # with 0.0, 256 values: the most a byte codes
    assert value_codes(np, np.repeat(values, 3)) is not None
    assert value_codes(np, np.arange(1, 257, dtype=dtype)) is None
    assert value_codes(np, np.repeat(values, 3), max_codes=255) is None
    assert value_codes(np, np.repeat(values, 3), max_codes=0) is None
    assert value_codes(np, rng.standard_normal(100000).astype(dtype)) is None
    # the sample sees -1 and 4 only; a quarter of the entries take 200 other values
    many = np.tile(np.array([-1.0, 4.0], dtype=dtype), 50000)
    many[rng.choice(many.size, many.size // 4, replace=False)] = rng.integers(5, 205, 25000)
    many[: 2 * 4096] = -1.0
    many[:: max(1, many.size // 4096)] = 4.0
    assert value_codes(np, many) is None


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
