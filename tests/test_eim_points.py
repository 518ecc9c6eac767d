"""rankwise.deim / qdeim / odeim: points equal plain numpy references of the greedy rules,
interpolation is exact at the points and on span(U), the error bound of the Lebesgue
constant holds, and bad input is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rankwise
from conftest import eps, random_orthonormal


def deim_reference(U: np.ndarray) -> np.ndarray:
    """Chaturantabut & Sorensen 2010, Algorithm 1, as written (float64)."""
    U = U.astype(np.float64)
    p = [int(np.argmax(np.abs(U[:, 0])))]
    for j in range(1, U.shape[1]):
        c = np.linalg.solve(U[p, :j], U[p, j])
        p.append(int(np.argmax(np.abs(U[:, j] - U[:, :j] @ c))))
    return np.array(p)


def odeim_reference(U: np.ndarray, start: np.ndarray, k: int) -> np.ndarray:
    """Peherstorfer, Drmac & Gugercin 2020, Algorithm 3, as printed (MATLAB-like)."""
    p = list(start)
    for _ in range(len(p), k):
        _, S, Wt = np.linalg.svd(U[p], full_matrices=False)
        g = S[-2] ** 2 - S[-1] ** 2
        Ub = Wt @ U.T
        r = g + np.sum(Ub**2, axis=0)
        r = r - np.sqrt(r**2 - 4 * g * Ub[-1] ** 2)
        for i in np.argsort(-r, kind="stable"):
            if i not in p:
                p.append(int(i))
                break
    return np.array(p)


SHAPES = [(60, 1), (300, 8), (1000, 40)]


@pytest.mark.parametrize(("n", "m"), SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_deim_points_equal_numpy_greedy(n: int, m: int, seed: int) -> None:
    U = random_orthonormal(np.random.default_rng(seed), n, m)
    sel = rankwise.deim(U)
    np.testing.assert_array_equal(sel.points, deim_reference(U))
    assert sel.points.dtype == np.int64
    np.testing.assert_array_equal(sel.interpolation_matrix, U[sel.points])


@pytest.mark.parametrize("method", ["deim", "qdeim", "odeim"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_at_points_and_on_span(method: str, dtype: type) -> None:
    rng = np.random.default_rng(3)
    n, m = 400, 12
    U = random_orthonormal(rng, n, m).astype(dtype)
    before = U.copy()
    sel = rankwise.odeim(U, 2 * m) if method == "odeim" else getattr(rankwise, method)(U)
    np.testing.assert_array_equal(U, before)  # input not modified
    tol = 100 * eps(dtype) * sel.lebesgue_constant
    # a field in span(U), one and several at once
    C = rng.standard_normal((m, 3)).astype(dtype)
    F = U @ C
    got = sel(F[sel.points])
    assert got.dtype == dtype
    assert np.abs(got - F).max() <= tol * np.abs(F).max()
    np.testing.assert_allclose(sel.coefficients(F[sel.points, 0]), C[:, 0], atol=tol * 10)
    # any field: interpolation (square case) is exact at the points
    f = rng.standard_normal(n).astype(dtype)
    if method != "odeim":
        np.testing.assert_allclose(
            sel(f[sel.points])[sel.points], f[sel.points], atol=tol * np.abs(f).max()
        )


@pytest.mark.parametrize("method", ["deim", "qdeim", "odeim"])
def test_error_bound_of_lebesgue_constant(method: str) -> None:
    """||f - U c|| <= eta ||f - U U^T f|| (C&S 2010 Lemma 3.2; PDG 2020 Lemma 3.1)."""
    rng = np.random.default_rng(4)
    n, m = 500, 10
    U = random_orthonormal(rng, n, m)
    sel = rankwise.odeim(U, 15) if method == "odeim" else getattr(rankwise, method)(U)
    eta = 1.0 / np.linalg.svd(U[sel.points], compute_uv=False)[-1]
    assert sel.lebesgue_constant == pytest.approx(eta, rel=1e-8)
    for _ in range(5):
        f = rng.standard_normal(n)
        err = np.linalg.norm(f - sel(f[sel.points]))
        best = np.linalg.norm(f - U @ (U.T @ f))
        assert err <= sel.lebesgue_constant * best * (1 + 1e-10)
    # Q-DEIM bound (Drmac & Gugercin 2016, Theorem 2.1)
    if method == "qdeim":
        assert eta <= math.sqrt(n - m + 1) * math.sqrt(4.0**m + 6 * m - 1) / 3


def test_lebesgue_constant_non_orthonormal_basis() -> None:
    rng = np.random.default_rng(5)
    U = rng.standard_normal((200, 6)) * np.array([1, 10, 100, 1, 1, 1e-2])
    sel = rankwise.deim(U)
    ref = np.linalg.norm(U @ np.linalg.inv(U[sel.points]), 2)
    assert sel.lebesgue_constant == pytest.approx(ref, rel=1e-8)


def test_odeim_points_equal_printed_algorithm_and_shrink_eta() -> None:
    rng = np.random.default_rng(6)
    U = random_orthonormal(rng, 300, 8)
    sel = rankwise.odeim(U, 20)
    start = rankwise.qdeim(U).points
    np.testing.assert_array_equal(sel.points[:8], start)
    np.testing.assert_array_equal(sel.points, odeim_reference(U, start, 20))
    assert np.unique(sel.points).size == 20
    assert sel.lebesgue_constant <= rankwise.qdeim(U).lebesgue_constant
    assert rankwise.odeim(U, 8).lebesgue_constant == pytest.approx(
        rankwise.qdeim(U).lebesgue_constant
    )


def test_odeim_single_vector_adds_largest_entries() -> None:
    u = np.array([[0.1], [0.5], [-0.9], [0.3], [-0.2]])
    np.testing.assert_array_equal(rankwise.odeim(u, 3).points, [2, 1, 3])


def test_all_rows_selected() -> None:
    U = random_orthonormal(np.random.default_rng(7), 9, 3)
    sel = rankwise.odeim(U, 9)
    assert sorted(sel.points.tolist()) == list(range(9))
    assert sel.lebesgue_constant == pytest.approx(1.0)


@pytest.mark.parametrize("fn", ["deim", "qdeim", "odeim"])
def test_bad_input(fn: str) -> None:
    call = (lambda U: rankwise.odeim(U, U.shape[-1])) if fn == "odeim" else getattr(rankwise, fn)
    rng = np.random.default_rng(8)
    U = random_orthonormal(rng, 50, 5)
    with pytest.raises(ValueError, match="more basis vectors"):
        call(U[:4])
    with pytest.raises(ValueError, match="2-D"):
        call(U[:, 0])
    bad = U.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        call(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        call(bad)
    deficient = U.copy()
    deficient[:, 4] = deficient[:, 0] - 2 * deficient[:, 1]
    with pytest.raises(ValueError, match="rank-deficient"):
        call(deficient)
    with pytest.raises(ValueError, match="rank-deficient"):
        call(np.zeros((10, 2)))
    with pytest.raises(TypeError, match="complex"):
        call(U.astype(complex))


def test_odeim_point_count_checked() -> None:
    U = random_orthonormal(np.random.default_rng(9), 20, 4)
    with pytest.raises(ValueError, match="exceeds the number of rows"):
        rankwise.odeim(U, 21)
    with pytest.raises(ValueError, match="n_points"):
        rankwise.odeim(U, 3)
    with pytest.raises(TypeError, match="n_points"):
        rankwise.odeim(U, 5.0)


def test_values_checked() -> None:
    U = random_orthonormal(np.random.default_rng(10), 20, 4)
    sel = rankwise.deim(U)
    with pytest.raises(ValueError, match="values must have shape"):
        sel.coefficients(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        sel(np.array([1.0, np.nan, 0, 0]))


def test_layouts_and_integer_input() -> None:
    rng = np.random.default_rng(11)
    U = random_orthonormal(rng, 100, 5)
    ref = rankwise.deim(U).points
    np.testing.assert_array_equal(rankwise.deim(np.asfortranarray(U)).points, ref)
    np.testing.assert_array_equal(rankwise.deim(np.ascontiguousarray(U)).points, ref)
    big = np.zeros((200, 10))
    big[::2, ::2] = U
    np.testing.assert_array_equal(rankwise.deim(big[::2, ::2]).points, ref)
    ints = np.array([[1, 0], [0, 3], [2, 1]])
    assert rankwise.deim(ints).basis.dtype == np.float64


@pytest.mark.parametrize("blocks", [[1], [3], [16], [200], [16, 4], [8, 3, 1]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["F", "C"])
def test_blocked_deim_equals_lu_pivots(blocks: list[int], dtype: type, order: str) -> None:
    """The left-looking blocked DEIM (U read in place, a C-order U as its transpose) picks
    the LU pivots."""
    from rankwise import _core

    U = random_orthonormal(np.random.default_rng(12), 700, 45).astype(dtype)
    U = np.asfortranarray(U) if order == "F" else np.ascontiguousarray(U)
    before = U.copy()
    got = np.asarray(_core.deim_blocked(U, blocks))
    np.testing.assert_array_equal(got, _core.deim_select(U))
    np.testing.assert_array_equal(U, before)
    np.testing.assert_array_equal(rankwise.deim(U).points, got)
    np.testing.assert_array_equal(got, deim_reference(U))


def test_blocked_deim_refuses_bad_blocks() -> None:
    from rankwise import _core

    U = np.asfortranarray(random_orthonormal(np.random.default_rng(13), 50, 5))
    with pytest.raises(ValueError, match="block sizes must be >= 1"):
        _core.deim_blocked(U, [4, 0])
    with pytest.raises(ValueError, match="block"):
        _core.deim_blocked(U, [])


def test_point_interpolant_built_from_given_points() -> None:
    """rankwise.PointInterpolant(basis, points) from a user's points: exact on span(U) and
    the deim result's operator at deim's points; points that cannot interpolate (repeated,
    too few, outside the rows, not integers) and points at which the basis is rank-deficient
    are refused by name (they gave NaN, or a wrong field with a finite Lebesgue constant)."""
    rng = np.random.default_rng(22)
    Q = np.linalg.qr(rng.standard_normal((80, 6)))[0]
    f = Q @ rng.standard_normal(6)
    sel = rankwise.deim(Q)
    interp = rankwise.PointInterpolant(Q, sel.points.tolist())
    np.testing.assert_allclose(interp(f[sel.points]), f, atol=1e-13)
    assert interp.lebesgue_constant == pytest.approx(sel.lebesgue_constant, rel=1e-12)
    wide = rankwise.PointInterpolant(Q, np.arange(0, 80, 8))  # oversampled: least squares
    np.testing.assert_allclose(wide(f[wide.points]), f, atol=1e-13)
    for points, error, match in [
        ([0, 0, 2, 3, 4, 5], ValueError, "distinct"),
        ([0, 1, 2], ValueError, "at least as many points"),
        ([], ValueError, "0 point"),
        ([0, 1, 2, 3, 4, 500], ValueError, r"\[0, 80\)"),
        ([-1, 1, 2, 3, 4, 5], ValueError, r"\[0, 80\)"),
        ([0.0, 1, 2, 3, 4, 5], TypeError, "integers"),
        ([[0, 1, 2, 3, 4, 5]], ValueError, "1-D"),
    ]:
        with pytest.raises(error, match=match):
            rankwise.PointInterpolant(Q, points)
    U = Q.copy()
    U[:6, 5] = 0.0  # the last basis vector vanishes at rows 0-5
    with pytest.raises(ValueError, match="rank-deficient"):
        rankwise.PointInterpolant(U, np.arange(6))
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.PointInterpolant(np.full((10, 2), np.nan), [0, 1])
