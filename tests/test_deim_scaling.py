"""deim / qdeim / odeim on bases of extreme magnitude (fuzzing findings): a basis of subnormal
entries (float32 ~1e-40, float64 ~1e-310) or of entries near the float maximum is worked on
scaled by one power of two, so the points are those of the exactly rescaled basis and the
interpolant reproduces fields of span(U) to rounding (before: O(1) errors without an error
for subnormals, NaN from ODEIM near 1e307, NaN or 0 Lebesgue constants)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rankwise
from conftest import random_orthonormal

# (dtype, scale): subnormal float32 / float64, below the float32 square-root range, near the
# float32 / float64 maximum
EXTREME = [
    (np.float32, 1e-40),
    (np.float32, 1e-20),
    (np.float32, 1e37),
    (np.float64, 1e-310),
    (np.float64, 1e-300),
    (np.float64, 1e307),
]


def call(method: str, U: np.ndarray) -> rankwise.PointSelection:
    return rankwise.odeim(U, U.shape[1] + 3) if method == "odeim" else getattr(rankwise, method)(U)


def extreme_basis(dtype: type, scale: float, n: int = 120, m: int = 7) -> np.ndarray:
    Q = random_orthonormal(np.random.default_rng(5), n, m)
    with np.errstate(under="ignore"):
        return (Q * scale).astype(dtype)


@pytest.mark.parametrize("method", ["deim", "qdeim", "odeim"])
@pytest.mark.parametrize(("dtype", "scale"), EXTREME)
@pytest.mark.parametrize("order", ["C", "F"])
def test_extreme_bases_are_scaled(method: str, dtype: type, scale: float, order: str) -> None:
    A = extreme_basis(dtype, scale)
    A = np.asfortranarray(A) if order == "F" else np.ascontiguousarray(A)
    before = A.copy()
    e = -int(np.frexp(float(np.abs(A).max()))[1])
    normal = np.ldexp(A, e).astype(dtype)  # exactly A * 2^e, entries of order 1
    assert np.array_equal(np.ldexp(normal, -e).astype(dtype), A)
    sel, ref = call(method, A), call(method, normal)
    np.testing.assert_array_equal(A, before)
    assert sel.basis is A
    # the points do not depend on a global scale of U
    np.testing.assert_array_equal(sel.points, ref.points)
    assert math.isclose(sel.lebesgue_constant, ref.lebesgue_constant, rel_tol=1e-4)
    assert math.isclose(sel.lebesgue_constant_inf, ref.lebesgue_constant_inf, rel_tol=1e-4)
    # a field of span(U) from its values at the points: its coefficients, and the field to
    # rounding (plus half the subnormal spacing of the float output, the most any result
    # in that dtype can hold)
    U = A.astype(np.float64)
    c_true = np.linspace(1.0, 2.0, U.shape[1])
    f = U @ c_true
    eps = float(np.finfo(dtype).eps)
    c = sel.coefficients(f[sel.points])
    assert c.dtype == dtype
    # (f itself is rounded to the float64 subnormal spacing when U is subnormal)
    tiny64 = float(np.finfo(np.float64).smallest_subnormal)
    np.testing.assert_allclose(c, c_true, rtol=1e3 * (eps + tiny64 / scale))
    rec = sel(f[sel.points])
    assert rec.dtype == dtype
    cond = float(np.linalg.cond(U[sel.points])) if method != "odeim" else 10.0
    tol = 100 * eps * cond * float(np.abs(f).max()) * math.sqrt(U.size)
    tol += float(np.finfo(dtype).smallest_subnormal)
    assert float(np.abs(rec.astype(np.float64) - f).max()) <= tol


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_of_extreme_magnitude_on_a_normal_basis(dtype: type) -> None:
    """Values far smaller or larger than the basis: scaled before the cast to the work
    dtype, so their digits survive (coefficients in range)."""
    sel = rankwise.deim(extreme_basis(dtype, 1.0, 60, 4))
    P = sel.interpolation_matrix.astype(np.float64)
    c_true = np.array([1.0, -2.0, 0.5, 3.0])
    for scale in (
        1e-40 if dtype == np.float32 else 1e-310,
        1e30 if dtype == np.float32 else 1e300,
    ):
        c = sel.coefficients(P @ (c_true * scale))
        np.testing.assert_allclose(c.astype(np.float64) / scale, c_true, rtol=1e-4)


def test_unrepresentable_coefficients_overflow_to_inf() -> None:
    """A subnormal float32 basis with values of order 1: the coefficients (~1e40) exceed
    float32; they are Inf, not a silently wrong finite number."""
    sel = rankwise.deim(extreme_basis(np.float32, 1e-40, 60, 4))
    c = sel.coefficients(np.ones(4))
    assert c.dtype == np.float32
    assert np.isinf(c).any()


def test_rank_deficient_extreme_basis_still_refused() -> None:
    A = extreme_basis(np.float64, 1e-310, 50, 4)
    A[:, 3] = A[:, 0]
    for method in ("deim", "qdeim", "odeim"):
        with pytest.raises(ValueError, match="rank-deficient"):
            call(method, A)


@pytest.mark.parametrize("method", ["deim", "qdeim"])
def test_columns_of_very_different_scales_are_no_rank_loss(method: str) -> None:
    """Orthonormal columns scaled by 1 ... 1e-200 (found by review): the rank check's column
    norms underflowed to 0 for the 1e-160 and 1e-200 columns, and qdeim / odeim refused the
    basis as rank-deficient; the points are Q-DEIM's (LAPACK's pivoted QR of U^T) and
    interpolate well (U[p] with the scales taken out is far from singular)."""
    import scipy.linalg

    Q = random_orthonormal(np.random.default_rng(0), 50, 6)
    U = Q * np.logspace(0, -200, 6)
    points = getattr(rankwise, method)(U).points
    expected = scipy.linalg.qr(U.T, pivoting=True)[2][:6]
    if method == "qdeim":
        np.testing.assert_array_equal(np.sort(points), np.sort(expected))
    assert np.linalg.svd(Q[points], compute_uv=False)[-1] > 1e-3
    assert rankwise.odeim(U, 8).points.size == 8


@pytest.mark.parametrize("tiny", [1e-200, 1e-300])
def test_odeim_points_of_a_tiny_column_as_of_a_small_one(tiny: float) -> None:
    """An orthonormal basis with its last column scaled by 1e-200 (found by review): the
    bound's squares (w_m^T u)^2 underflowed to 0 on every row, and the points odeim added
    were the first free rows, 0, 1, 2, ...; the scores are now taken relative to sigma_m,
    and the points are those of the column scaled by 1e-100 (where nothing underflows)."""
    Q = random_orthonormal(np.random.default_rng(0), 200, 4)
    points = rankwise.odeim(Q * np.array([1, 1, 1, tiny]), 10).points
    reference = rankwise.odeim(Q * np.array([1, 1, 1, 1e-100]), 10).points
    np.testing.assert_array_equal(points, reference)
    assert not np.isin(np.arange(6), points).all()
