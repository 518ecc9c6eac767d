"""CG's product for dense symmetric matrices from their upper triangle (rankwise/symmetric.hpp,
python/rankwise/_cg.py _symmetric): when it is used, that its products are right, and that
CG converges to the same solutions with it as with the whole-matrix product."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
from conftest import cg_product_storage
from rankwise import _cg, _core


def _spd(n: int, dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    G = np.random.default_rng(seed).standard_normal((n, n))
    return (G @ G.T / n + np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_symmetric_dense_matrices_use_the_triangle_product(dtype: Any) -> None:
    A = _spd(50, dtype)
    assert cg_product_storage(np.asfortranarray(A), dtype) == "symmetric"
    assert cg_product_storage(np.ascontiguousarray(A), dtype) == "symmetric"
    assert cg_product_storage(A, dtype, iterations=5) == "dense"  # the check would not pay
    nearly = A.copy()
    nearly[3, 7] = np.nextafter(nearly[3, 7], np.inf)  # symmetric up to one ulp: as SciPy
    assert cg_product_storage(nearly, dtype) == "dense"
    assert (
        cg_product_storage(A[::2, ::2], dtype) == "dense"
    )  # a strided view: copied whole, as before
    assert cg_product_storage(_spd(1, dtype), dtype) == "symmetric"


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 9, 64, 203])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_triangle_products_match_the_whole_matrix(n: int, dtype: Any) -> None:
    """Sizes around the 4-column panels and the 8 triangle parts; both memory orders; the
    lower triangle is never read (garbage there changes nothing once A is accepted)."""
    rng = np.random.default_rng(n)
    A = _spd(n, dtype, seed=n)
    X = np.asfortranarray(rng.standard_normal((n, 3)).astype(dtype))
    ref = A.astype(np.float64) @ X.astype(np.float64)
    scale = np.abs(A).sum(axis=1).max() * np.abs(X).max()
    for arr in (np.asfortranarray(A), np.ascontiguousarray(A)):
        op = _core.Operator.symmetric_dense(arr)
        assert op is not None
        assert op.storage == "symmetric"
        for transpose in (False, True):
            Y = np.asarray(_core.apply(op, X, transpose))
            assert Y.dtype == dtype
            tol = 10 * np.finfo(dtype).eps * max(1.0, np.sqrt(n)) * scale
            np.testing.assert_allclose(Y, ref, rtol=0, atol=tol)
    if n > 1:  # not square
        assert _core.Operator.symmetric_dense(np.asfortranarray(A[:, : n - 1])) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [None, "jacobi"])
def test_cg_converges_as_with_the_whole_matrix(
    dtype: Any, M: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    A = _spd(300, dtype, seed=4) + np.diag(np.linspace(0, 50, 300)).astype(dtype)
    b = np.random.default_rng(5).standard_normal(300).astype(dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    half = rankwise.solve_cg(A, b, rtol=rtol, M=M)
    monkeypatch.setattr(_cg, "DIA_MIN_ITERATIONS", 10**9)
    assert cg_product_storage(A, dtype, iterations=10**6) == "dense"
    whole = rankwise.solve_cg(A, b, rtol=rtol, M=M)
    assert half.converged
    assert whole.converged
    assert abs(half.iterations - whole.iterations) <= 2
    A64 = A.astype(np.float64)
    for res in (half, whole):
        assert np.linalg.norm(b - A64 @ res.x) <= 10 * rtol * np.linalg.norm(b)
    x, info = rankwise.cg(A, np.column_stack([b, 2 * b]), rtol=rtol, M=M)  # a block
    assert info == 0
    np.testing.assert_allclose(x[:, 1], 2 * x[:, 0], rtol=10 * rtol)
