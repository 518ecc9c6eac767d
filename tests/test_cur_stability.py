"""The CUR cores under rounding: the decomposition's products (@, to_dense, estimate_error)
go through an orthonormal factor (Park & Nakatsukasa 2024), so that a selected C or R that is
ill-conditioned to working precision does not cost the accuracy the selection allows, and
they agree with C @ U @ R wherever that product is itself accurate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import eps, random_orthonormal


def decaying(m: int, n: int, rate: float, dtype: Any, seed: int = 0) -> tuple[np.ndarray, Any]:
    """A = W diag(exp(-j / rate)) Z^T, with its singular values."""
    rng = np.random.default_rng(seed)
    s = np.exp(-np.arange(n) / rate)
    A = (random_orthonormal(rng, m, n) * s) @ random_orthonormal(rng, n, n).T
    return A.astype(dtype), s


def relative_to_attainable(A: np.ndarray, s: np.ndarray, k: int, approx: np.ndarray) -> float:
    """||A - approx||_F over the optimal rank-k error plus the rounding floor eps ||A||_F."""
    attainable = np.sqrt(np.sum(s[k:] ** 2)) + eps(A.dtype) * np.sqrt(np.sum(s**2))
    return float(np.linalg.norm(A.astype(np.float64) - approx.astype(np.float64)) / attainable)


def explicit(d: rankwise.CURDecomposition) -> np.ndarray:
    C = d.C.toarray() if sp.issparse(d.C) else d.C
    R = d.R.toarray() if sp.issparse(d.R) else d.R
    return C @ d.U @ R


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("oversample", [(12, 0), (0, 12)])
@pytest.mark.parametrize("core", ["pinv", "stabilized"])
def test_stable_product_keeps_accuracy_past_working_precision(
    dtype: type, oversample: tuple[int, int], core: str
) -> None:
    # sigma_j = exp(-j/2): sigma_60 = 1e-13, so C and R are singular to working precision
    # (both dtypes) and C @ U @ R as written is off by orders of magnitude (by how many
    # depends on the BLAS's rounding: 597x the stable product's error with OpenBLAS's
    # SkylakeX kernels in float32, above 1000x with its Haswell ones); the stable product
    # stays within a small factor of the attainable error
    A, s = decaying(500, 240, 2.0, dtype)
    k = 60
    d = rankwise.cur(A, k, core=core, oversample=oversample, random_state=0)
    stable = relative_to_attainable(A, s, k, d.to_dense())
    assert stable < 40
    assert relative_to_attainable(A, s, k, explicit(d)) > 1e2 * stable


@pytest.mark.parametrize("core", ["pinv", "cross", "stabilized"])
@pytest.mark.parametrize("oversample", [0, (5, 0), (0, 5)])
@pytest.mark.parametrize("sparse", [False, True])
def test_products_equal_c_u_r_when_well_conditioned(
    core: str, oversample: Any, sparse: bool
) -> None:
    if core == "cross" and (oversample != 0 or sparse):
        # a square intersection, nonsingular: a sparse A[I, J] often has an empty column
        pytest.skip("the cross core needs a square nonsingular intersection")
    rng = np.random.default_rng(3)
    if sparse:
        A = sp.random_array((300, 200), density=0.3, rng=rng, format="csr")
        dense = A.toarray()
    else:
        dense = A = rng.standard_normal((300, 200))
    d = rankwise.cur(A, 10, core=core, oversample=oversample, random_state=0)
    reference = explicit(d)
    scale = np.linalg.norm(reference)
    np.testing.assert_allclose(d.to_dense(), reference, atol=1e-10 * scale)
    x = rng.standard_normal(200)
    y = rng.standard_normal((2, 300))
    np.testing.assert_allclose(d @ x, reference @ x, atol=1e-10 * scale * np.linalg.norm(x))
    np.testing.assert_allclose(y @ d, y @ reference, atol=1e-10 * scale * np.linalg.norm(y))
    # the stable error estimate sees the same matrix
    est = d.estimate_error(dense, n_probes=30, random_state=1)
    true = np.linalg.norm(dense - reference)
    assert 0.5 * true < est < 2 * true


@pytest.mark.parametrize("core", ["pinv", "stabilized"])
def test_dask_cur_uses_the_stable_product(core: str) -> None:
    da = pytest.importorskip("dask.array")
    A, s = decaying(600, 120, 2.0, np.float64)
    k = 80  # sigma_80 = 4e-18
    d = rankwise.cur(da.from_array(A, chunks=(150, 120)), k, core=core, random_state=0)
    # no oversampling (the dask path has none yet): weaker than oversampled, still stable
    assert relative_to_attainable(A, s, k, np.asarray(d.to_dense())) < 1e3
    assert relative_to_attainable(A, s, k, np.asarray(explicit_dask(d))) > 1e8


def explicit_dask(d: rankwise.CURDecomposition) -> np.ndarray:
    return np.asarray(d.C.compute()) @ d.U @ d.R


@pytest.mark.parametrize("core", ["pinv", "cross", "stabilized"])
def test_core_that_would_overflow_is_refused(core: str) -> None:
    # U scales like 1 / |A|: representable down to |A| ~ 1e-300, not for subnormal entries
    A, s = decaying(60, 40, 8.0, np.float64)
    k = 5
    d = rankwise.cur(A * 1e-300, k, core=core, random_state=0)
    assert np.isfinite(d.U).all()
    assert relative_to_attainable(A, s, k, d.to_dense() * 1e300) < 20
    with pytest.raises(ValueError, match="core matrix U overflows"):
        rankwise.cur(A * 1e-310, k, core=core, random_state=0)


@pytest.mark.parametrize("core", ["cross", "stabilized"])
@pytest.mark.parametrize("sparse", [False, True])
def test_products_of_entries_near_the_float_maximum_stay_finite(core: str, sparse: bool) -> None:
    # C U R of a rank-4 A with entries up to 1.26e308 is representable, but the product of
    # C with a core of size ~2 overflowed in its partial sums (to_dense and @ gave Inf, and
    # estimate_error raised "U contains NaN or Inf" about a U the user never passed)
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 4)) @ rng.standard_normal((4, 20))
    A *= 1.26e308 / np.abs(A).max()
    d = rankwise.cur(sp.csr_matrix(A) if sparse else A, 4, core=core, random_state=0)
    x = 1e-3 * rng.standard_normal((20, 2))
    y = 1e-3 * rng.standard_normal((2, 30))
    with np.errstate(all="raise"):
        dense = d.to_dense()
        assert np.abs(dense - A).max() < 1e-13 * 1.26e308
        assert np.abs(d @ x - A @ x).max() < 1e-13 * np.abs(A @ x).max()
        assert np.abs(y @ d - y @ A).max() < 1e-13 * np.abs(y @ A).max()
        error = d.estimate_error(A, random_state=0)
    assert error < 1e-13 * 1.26e308
