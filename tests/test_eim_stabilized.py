"""PointInterpolant.stabilize: the linear minimum mean-square error coefficients from noisy
values.  Checked against the method's own theory: over fields drawn like the snapshots and
independent noise of standard deviation sigma, the mean squared reconstruction error is
tr(G (M^{-1} + P^T P / sigma^2)^{-1}) (G = U^T U, M the snapshots' coefficient second
moment, P = U[points]), never above the plain interpolant's sigma^2 tr(G (P^T P)^{-1}) nor
the snapshots' spread tr(G M); measured means must agree with these within five standard
errors of the Monte Carlo average."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
from conftest import eps

X = np.linspace(-1, 1, 100)
MUS = np.linspace(1, np.pi, 51)
# Chaturantabut & Sorensen (2010, Section 3.3.1)
S_CS = np.stack(
    [(1 - X) * np.cos(3 * np.pi * mu * (X + 1)) * np.exp(-(1 + X) * mu) for mu in MUS], axis=1
)
U_POD = np.linalg.svd(S_CS, full_matrices=False)[0]
DRAWS = 40  # noise draws per snapshot


def build(kind: str, m: int, dtype: type = np.float64) -> rankwise.PointInterpolant:
    if kind == "deim":
        return rankwise.deim(U_POD[:, :m].astype(dtype))
    if kind == "odeim":
        return rankwise.odeim(U_POD[:, :m].astype(dtype), m + m // 2)
    return rankwise.eim(S_CS.astype(dtype), max_terms=m)


def theory(interp: rankwise.PointInterpolant, sigma: float) -> tuple[float, float, float]:
    """(plain, stabilized, spread): mean squared errors predicted for fields U c with c
    drawn from the snapshots' coefficients, values with noise of deviation sigma."""
    U = interp.basis.astype(np.float64)
    B = np.linalg.lstsq(U, S_CS, rcond=None)[0]
    M = B @ B.T / B.shape[1]
    G = U.T @ U
    P = interp.interpolation_matrix.astype(np.float64)
    plain = sigma**2 * np.trace(G @ np.linalg.inv(P.T @ P))
    stable = np.trace(G @ np.linalg.inv(np.linalg.inv(M) + P.T @ P / sigma**2))
    return float(plain), float(stable), float(np.trace(G @ M))


def measured(
    interp: rankwise.PointInterpolant, sigma: float, seed: int = 0
) -> tuple[float, float]:
    """Mean squared error over the snapshots (projected on span(U)) x DRAWS noise draws,
    and its standard error (samples treated as independent: conservative)."""
    U = interp.basis.astype(np.float64)
    F = U @ np.linalg.lstsq(U, S_CS, rcond=None)[0]
    F = np.repeat(F, DRAWS, axis=1)
    rng = np.random.default_rng(seed)
    values = F[interp.points] + sigma * rng.standard_normal((interp.n_points, F.shape[1]))
    err = np.sum((interp(values.astype(interp.dtype)) - F) ** 2, axis=0)
    return float(err.mean()), float(err.std() / np.sqrt(err.size))


@pytest.mark.parametrize("kind", ["deim", "odeim", "eim"])
@pytest.mark.parametrize("sigma", [1e-2, 1.0])
def test_mean_error_follows_theory_and_beats_plain(kind: str, sigma: float) -> None:
    plain = build(kind, 20)
    stable = plain.stabilize(sigma, S_CS)
    assert stable.noise == sigma
    assert plain.noise is None
    t_plain, t_stable, spread = theory(plain, sigma)
    # the theorem: never worse than the plain interpolant nor than the spread alone
    assert t_stable <= t_plain * (1 + 1e-10)
    assert t_stable <= spread * (1 + 1e-10)
    m_plain, se_plain = measured(plain, sigma)
    m_stable, se_stable = measured(stable, sigma)
    assert abs(m_plain - t_plain) <= 5 * se_plain
    assert abs(m_stable - t_stable) <= 5 * se_stable
    # a clear gain on this family (ODEIM's least squares already damps some noise): the
    # predicted ratio, and the measured one within error
    ratio = t_stable / t_plain
    assert ratio < (0.7 if sigma < 1.0 else 0.2)
    assert m_stable <= ratio * m_plain + 5 * (se_stable + ratio * se_plain)
    # large noise: plain grows like sigma^2, the stabilized error stays below the spread
    if sigma >= 1.0:
        assert m_stable <= spread + 5 * se_stable
        assert m_plain > 3 * spread


@pytest.mark.parametrize("kind", ["deim", "odeim", "eim"])
def test_noise_amplification_bounds(kind: str) -> None:
    plain = build(kind, 16)
    assert plain.noise_amplification == plain.lebesgue_constant
    U = plain.basis.astype(np.float64)
    proj = U @ np.linalg.lstsq(U, S_CS, rcond=None)[0]
    spread = np.linalg.norm(proj, 2) / np.sqrt(S_CS.shape[1])  # ||U L||_2
    for sigma in (1e-3, 1e-1, 10.0):
        stable = plain.stabilize(sigma, S_CS)
        amp = stable.noise_amplification
        assert amp <= plain.lebesgue_constant * (1 + 1e-10)
        assert amp <= spread / (2 * sigma) * (1 + 1e-10)
        # the noise part of the error, for one noise vector, obeys the amplification
        e = np.random.default_rng(1).standard_normal(stable.n_points) * sigma
        assert np.linalg.norm(stable(e)) <= amp * np.linalg.norm(e) * (1 + 1e-10)


@pytest.mark.parametrize("kind", ["deim", "odeim", "eim"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_noise_is_the_plain_interpolant(kind: str, dtype: type) -> None:
    plain = build(kind, 12, dtype)
    stable = plain.stabilize(0.0, S_CS.astype(dtype))
    rng = np.random.default_rng(2)
    V = rng.standard_normal((plain.n_points, 5)).astype(dtype)  # any values, not in span
    c_plain = plain.coefficients(V)
    c_stable = stable.coefficients(V)
    assert c_stable.dtype == dtype
    assert stable(V).dtype == dtype
    cond = np.linalg.cond(plain.interpolation_matrix.astype(np.float64))
    tol = 100 * eps(dtype) * cond * np.abs(c_plain).max()
    np.testing.assert_allclose(c_stable, c_plain, atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_equals_float64(dtype: type) -> None:
    ref = build("deim", 12).stabilize(0.1, S_CS)
    got = build("deim", 12, dtype).stabilize(0.1, S_CS.astype(dtype))
    V = np.random.default_rng(3).standard_normal((12, 4))
    out = got(V.astype(dtype))
    assert out.dtype == dtype
    scale = np.abs(ref(V)).max()
    assert np.abs(out - ref(V)).max() <= 1e3 * eps(dtype) * scale


def test_removed_points_and_oversampling_keep_the_stabilization() -> None:
    sigma = 0.1
    plain = build("odeim", 16)
    stable = plain.stabilize(sigma, S_CS)
    V = np.random.default_rng(4).standard_normal((30, 3))
    # remove_points: same as stabilizing the interpolant without those points
    drop = plain.points[[2, 7]]
    lost = stable.remove_points(drop)
    assert lost.noise == sigma
    assert lost.n_points == plain.n_points - 2
    ref = plain.remove_points(drop).stabilize(sigma, S_CS)
    np.testing.assert_allclose(lost(V[:22]), ref(V[:22]), rtol=1e-10, atol=1e-12)
    t_plain, t_stable, _ = theory(lost, sigma)
    m_stable, se = measured(lost, sigma)
    assert abs(m_stable - t_stable) <= 5 * se
    assert t_stable < 0.5 * t_plain
    # oversample: same as stabilizing the oversampled interpolant
    more = stable.oversample(30)
    assert more.noise == sigma
    np.testing.assert_allclose(
        more(V), plain.oversample(30).stabilize(sigma, S_CS)(V), rtol=1e-10, atol=1e-12
    )
    # and the square EIM, extended then stabilized, loses a point without rebuilding
    ei = build("eim", 16).oversample(24).stabilize(sigma, S_CS)
    assert ei.remove_points(ei.points[0]).noise == sigma


def test_eim_default_prior_and_snapshot_coefficients() -> None:
    ei = build("eim", 10)
    stable = ei.stabilize(1e-2)
    same = ei.stabilize(1e-2, ei.selected_snapshots)
    v = S_CS[ei.points, 7] + 1e-2 * np.random.default_rng(5).standard_normal(10)
    np.testing.assert_array_equal(stable.coefficients(v), same.coefficients(v))
    beta = stable.snapshot_coefficients(v)
    np.testing.assert_allclose(
        stable.selected_snapshots @ beta, stable(v), atol=1e-10 * np.abs(S_CS).max()
    )
    # with zero noise the symmetric form is the plain one
    np.testing.assert_allclose(
        ei.stabilize(0.0).snapshot_coefficients(v), ei.snapshot_coefficients(v), rtol=1e-8
    )
    assert "noise=0.01" in repr(stable)


def test_bad_parameters() -> None:
    sel = build("deim", 6)
    S = S_CS.copy()
    with pytest.raises(ValueError, match="snapshots is required"):
        sel.stabilize(0.1)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="noise"):
            sel.stabilize(bad, S)
    with pytest.raises(ValueError, match="estimate"):
        sel.stabilize("gcv", S)
    for bad in (True, None, [0.1]):
        with pytest.raises(TypeError, match="noise"):
            sel.stabilize(bad, S)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        sel.stabilize(0.1, S[:50])
    with pytest.raises(ValueError, match="do not span"):
        sel.stabilize(0.1, S[:, :3])  # 3 snapshots, 6 basis vectors
    bad = S.copy()
    bad[4, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sel.stabilize(0.1, bad)
    with pytest.raises(TypeError, match="real"):
        sel.stabilize(0.1, S.astype(complex))
    np.testing.assert_array_equal(S, S_CS)  # not modified
    stable = sel.stabilize(0.1, S)
    with pytest.raises(ValueError, match="values must have shape"):
        stable(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        stable(np.full(6, np.nan))


@pytest.mark.parametrize("sigma", [1e-3, 1e-1])
def test_estimated_noise(sigma: float) -> None:
    """sigma^2 estimate from the least-squares residual: (n_points - m) k degrees of
    freedom, so the ratio to sigma^2 is chi^2_dof / dof: within 5 sqrt(2 / dof) of 1."""
    plain = build("odeim", 16)  # 24 points, 16 basis vectors
    U = plain.basis
    F = U @ (U.T @ S_CS)
    values = F[plain.points] + sigma * np.random.default_rng(6).standard_normal((24, 51))
    est = plain.estimate_noise(values)
    dof = (24 - 16) * 51
    assert abs(est**2 / sigma**2 - 1) <= 5 * np.sqrt(2 / dof)
    stable = plain.stabilize("estimate", S_CS)
    assert stable.noise == "estimate"
    assert "noise='estimate'" in repr(stable)
    np.testing.assert_allclose(
        stable.coefficients(values), plain.stabilize(est, S_CS).coefficients(values), rtol=1e-12
    )
    assert stable.noise_amplification == plain.lebesgue_constant
    # noise-free fields in span(U): the estimate is at rounding level, the result plain
    np.testing.assert_allclose(stable(F[plain.points]), F, atol=1e-10 * np.abs(F).max())
    # the estimate needs a residual: refused on a square interpolant, before and after
    with pytest.raises(ValueError, match="more points than basis vectors"):
        build("deim", 16).stabilize("estimate", S_CS)
    square = stable.remove_points(plain.points[16:])
    with pytest.raises(ValueError, match="more points than basis vectors"):
        square(values[:16])


def test_sparse_snapshots_and_integer_noise() -> None:
    import scipy.sparse as sp

    sel = build("deim", 8)
    V = np.random.default_rng(7).standard_normal((8, 2))
    dense = sel.stabilize(1, S_CS)
    assert dense.noise == 1.0
    np.testing.assert_allclose(
        sel.stabilize(1, sp.csr_matrix(S_CS))(V), dense(V), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("kind", ["deim", "eim", "odeim"])
@pytest.mark.parametrize("sigma", [1e-4, 1e-2, 1.0])
def test_marginal_likelihood_noise(kind: str, sigma: float) -> None:
    """noise='ml': the estimate of sigma^2 is within 5 / sqrt(Fisher information) of the
    truth, I = (k/2) sum_i (s_i^2 + sigma^2)^-2 + k (n_points - m) / (2 sigma^4) for k
    fields (s_i the singular values of P L), also for square interpolants."""
    plain = build(kind, 16)
    stable = plain.stabilize("ml", S_CS)
    assert stable.noise == "ml"
    U = plain.basis.astype(np.float64)
    F = U @ np.linalg.lstsq(U, S_CS, rcond=None)[0]
    k = F.shape[1]
    values = F[plain.points] + sigma * np.random.default_rng(8).standard_normal(
        (plain.n_points, k)
    )
    est = stable.estimate_noise(values, method="ml")
    s = stable._whitened_svd[1]
    info = 0.5 * k * np.sum((s**2 + sigma**2) ** -2.0)
    info += 0.5 * k * (plain.n_points - 16) / sigma**4
    assert abs(est**2 - sigma**2) <= 5 / np.sqrt(info)
    np.testing.assert_allclose(
        stable.coefficients(values), plain.stabilize(est, S_CS).coefficients(values), rtol=1e-12
    )
    # noise-free values: no evidence of noise, the plain interpolant
    np.testing.assert_allclose(stable(F[plain.points]), F, atol=1e-8 * np.abs(F).max())
    with pytest.raises(ValueError, match="needs the prior"):
        plain.estimate_noise(values, method="ml")
    with pytest.raises(ValueError, match="method"):
        stable.estimate_noise(values, method="gcv")
