"""Findings of session 39's review of the interpolants on inputs of extreme scale: results
that do not depend on a scale (of the fields, of the basis vectors, of the snapshots) came
out as NaN, 0, inf or wrong, silently.  Each test states the invariance and the old
result."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise


def _setup() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((200, 5)))[0]
    c = rng.standard_normal(5)
    S = Q @ rng.standard_normal((5, 40))
    return Q, c, Q @ c, S


def test_each_field_is_scaled_on_its_own() -> None:
    """Fields of 1e200 and 1e-150 in one call: one power of two for both zeroed the small
    one (its coefficients came out 0, its reconstruction off by 100%)."""
    Q, c, f, _ = _setup()
    sel = rankwise.deim(Q)
    p = sel.points
    V = np.column_stack([f[p] * 1e200, f[p] * 1e-150])
    np.testing.assert_allclose(sel.coefficients(V), np.column_stack([c * 1e200, c * 1e-150]),
                               rtol=1e-12)  # fmt: skip
    rec = sel(V)
    np.testing.assert_allclose(rec[:, 1], f * 1e-150, rtol=0, atol=1e-163)
    np.testing.assert_allclose(rec[:, 0], f * 1e200, rtol=0, atol=1e187)


@pytest.mark.parametrize("g", [1e-300, 1e-160, 1e160, 1e300])
def test_noise_estimates_scale_with_the_values(g: float) -> None:
    """estimate_noise squared the residual unscaled (inf at 1e160, 0 at 1e-160), and the
    maximum-likelihood estimate squared values and singular values (0 at both)."""
    Q, _, f, S = _setup()
    ov = rankwise.deim(Q).oversample(12)
    q = ov.points
    v = f[q] + 0.01 * np.random.default_rng(1).standard_normal(12)
    assert ov.estimate_noise(v * g) / g == pytest.approx(ov.estimate_noise(v), rel=1e-12)
    ml = ov.stabilize("ml", S).estimate_noise(v, "ml")
    assert ml > 0
    assert ov.stabilize("ml", S * g).estimate_noise(v * g, "ml") / g == pytest.approx(ml, rel=1e-9)


@pytest.mark.parametrize("g", [1e-300, 1e-200, 1e200, 1e300])
def test_stabilized_interpolant_scales_with_noise_snapshots_and_values(g: float) -> None:
    """s / (s^2 + sigma^2) under- or overflowed: NaN at 1e-200, 0 at 1e200."""
    Q, _, f, S = _setup()
    sel = rankwise.deim(Q)
    p = sel.points
    ref = sel.stabilize(1.0, S)(f[p])
    np.testing.assert_allclose(sel.stabilize(g, S * g)(f[p] * g) / g, ref, rtol=0, atol=1e-14)


@pytest.mark.parametrize("g", [1e-300, 1e300])
def test_noise_amplification_of_a_scaled_basis(g: float) -> None:
    """The Gram matrix of the basis, squared unscaled: 0.0 for U * 1e-300, LinAlgError
    ("Eigenvalues did not converge") for U * 1e300."""
    Q, _, _, S = _setup()
    ref = rankwise.deim(Q).stabilize(0.01, S).noise_amplification
    got = rankwise.deim(Q * g).stabilize(0.01, S).noise_amplification
    assert got == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize(
    ("scales", "dtype"),
    [((1e8, 1e-8, 1, 1, 1), np.float64), ((1, 1e-3, 1e3, 1, 1), np.float32)],
)
def test_stabilize_takes_basis_vectors_of_any_scale(scales: tuple, dtype: type) -> None:
    """The snapshots' coefficients scale with 1 / the basis vectors' scales, and their rank
    was judged unscaled: "do not span its 5 directions" (float32: for a spread of 1e6)."""
    Q, _, f, S = _setup()
    sel = rankwise.deim(Q)
    p = sel.points
    st = rankwise.deim((Q * np.array(scales)).astype(dtype)).stabilize(0.01, S.astype(dtype))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(st(f[p].astype(dtype)), sel.stabilize(0.01, S)(f[p]), atol=tol)
    ref = sel.stabilize(0.01, S).noise_amplification
    assert st.noise_amplification == pytest.approx(ref, rel=10 * tol)


@pytest.mark.parametrize(("g", "dtype"), [(1e-305, np.float64), (1e-37, np.float32)])
def test_eim_snapshot_coefficients_of_tiny_snapshots(g: float, dtype: type) -> None:
    """The cross matrix S[I, J] was factored unscaled: its later pivots (1e-10 of the first)
    fell into the subnormals and beta was off by up to 13 (float32 at 1e-37: the
    reconstruction off by 0.77 of the field)."""
    x = np.linspace(-1, 1, 200)
    mus = np.linspace(1, np.pi, 41)
    S = np.stack(
        [(1 - x) * np.cos(3 * np.pi * mu * (x + 1)) * np.exp(-(1 + x) * mu) for mu in mus], 1
    )
    tol = 1e-10 if dtype == np.float64 else 1e-4
    ref = rankwise.eim(S.astype(dtype), tol=tol)
    small = rankwise.eim((S * g).astype(dtype), tol=tol)
    np.testing.assert_array_equal(small.points, ref.points)
    f = S[:, 7]
    b_ref = ref.snapshot_coefficients(f[ref.points].astype(dtype))
    b = small.snapshot_coefficients((f[small.points] * g).astype(dtype))
    err = np.abs(small.selected_snapshots.astype(np.float64) @ b - f * g).max() / g
    err_ref = np.abs(ref.selected_snapshots.astype(np.float64) @ b_ref - f).max()
    assert err <= 10 * err_ref + (1e-12 if dtype == np.float64 else 1e-5)


def test_oversample_points_do_not_depend_on_the_basis_vectors_scales() -> None:
    """The points are added on an orthonormal basis of span(U), from the QR of U scaled by
    one power of two: columns of 1e200 and 1e-200 left the small one at zero, and other
    points came out (Lebesgue constant 3.80 for 3.66)."""
    Q, _, _, _ = _setup()
    ref = rankwise.deim(Q).oversample(12)
    got = rankwise.deim(Q * np.array([1e200, 1e-200, 1, 1, 1])).oversample(12)
    np.testing.assert_array_equal(got.points, ref.points)
    assert got.lebesgue_constant == pytest.approx(ref.lebesgue_constant, rel=1e-12)
