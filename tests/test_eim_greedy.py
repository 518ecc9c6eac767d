"""rankwise.eim: the greedy equals a plain numpy implementation (points, snapshots, errors) in
every norm and memory order, meets its tolerance, reproduces a rank-r matrix with r terms
(cross approximation), and the rectangular extension survives a lost point."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import eps


def greedy_reference(S: np.ndarray, terms: int, norm: object = "linf"):
    """Maday et al. 2009, Algorithm 1, in numpy (float64)."""
    R = S.astype(np.float64).copy()
    points, cols, errors = [], [], []
    for _ in range(terms + 1):
        if isinstance(norm, str) and norm == "linf":
            e = np.abs(R).max(axis=0)
        elif isinstance(norm, str) and norm == "l2":
            e = np.sqrt((R * R).sum(axis=0))
        elif np.ndim(norm) == 1:
            e = np.sqrt((np.asarray(norm)[:, None] * R * R).sum(axis=0))
        else:
            e = np.sqrt(np.maximum((R * (norm @ R)).sum(axis=0), 0))
        j = int(np.argmax(e))
        errors.append(e[j])
        if len(points) == terms:
            break
        i = int(np.argmax(np.abs(R[:, j])))
        q = R[:, j] / R[i, j]
        R -= np.outer(q, R[i])
        points.append(i)
        cols.append(j)
    return np.array(points), np.array(cols), np.array(errors)


def cs_function(x: np.ndarray, mu: float) -> np.ndarray:
    """Chaturantabut & Sorensen 2010, Section 3.3.1."""
    return (1 - x) * np.cos(3 * np.pi * mu * (x + 1)) * np.exp(-(1 + x) * mu)


X = np.linspace(-1, 1, 100)
MUS = np.linspace(1, np.pi, 51)
S_CS = np.stack([cs_function(X, mu) for mu in MUS], axis=1)


def spd_matrix(n: int, rng: np.random.Generator) -> np.ndarray:
    B = rng.standard_normal((n, n))
    return B @ B.T / n + np.eye(n)


@pytest.mark.parametrize("norm", ["linf", "l2", "weights", "matrix"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_greedy_equals_numpy_reference(norm: str, order: str) -> None:
    rng = np.random.default_rng(0)
    S = np.asarray(rng.standard_normal((80, 40)), order=order)
    arg: object = norm
    if norm == "weights":
        arg = rng.uniform(0.5, 2.0, 80)
    elif norm == "matrix":
        arg = spd_matrix(80, rng)
    before = S.copy()
    ei = rankwise.eim(S, max_terms=15, norm=arg)
    np.testing.assert_array_equal(S, before)
    p, c, e = greedy_reference(S, 15, arg)
    np.testing.assert_array_equal(ei.points, p)
    np.testing.assert_array_equal(ei.snapshot_indices, c)
    np.testing.assert_allclose(ei.errors, e, rtol=1e-10)
    assert ei.norm == {"weights": "weighted"}.get(norm, norm)
    # the basis: unit lower triangular at the points, and R_k = S - I_k S
    P = ei.interpolation_matrix
    np.testing.assert_array_equal(np.diag(P), 1.0)
    np.testing.assert_array_equal(np.triu(P, 1), 0.0)
    err = np.abs(S - ei(S[ei.points])).max(axis=0)
    if norm == "linf":
        assert err.max() == pytest.approx(ei.errors[-1], rel=1e-8)


def test_sparse_matrix_norm_and_sparse_snapshots() -> None:
    rng = np.random.default_rng(1)
    S = sp.random(60, 30, density=0.3, random_state=2, format="csr")
    n = 60
    M = sp.diags([np.full(n - 1, -1.0), np.full(n, 4.0), np.full(n - 1, -1.0)], [-1, 0, 1])
    ei = rankwise.eim(S, max_terms=10, norm=M.tocsr())
    p, c, e = greedy_reference(S.toarray(), 10, M.toarray())
    np.testing.assert_array_equal(ei.points, p)
    np.testing.assert_allclose(ei.errors, e, rtol=1e-10)
    np.testing.assert_array_equal(ei.cross_matrix, S.toarray()[np.ix_(p, c)])
    del rng


def test_meets_tolerance_on_cs_function_and_callable_matches_array() -> None:
    ei = rankwise.eim(lambda mu: cs_function(X, mu), MUS, tol=1e-6)
    assert ei.errors[-1] <= 1e-6 * ei.errors[0]
    assert ei.errors[-2] > 1e-6 * ei.errors[0]  # and stops as soon as it does
    assert ei.parameters == [MUS[j] for j in ei.snapshot_indices]
    same = rankwise.eim(S_CS, tol=1e-6)
    np.testing.assert_array_equal(ei.points, same.points)
    # on fresh parameters the interpolant is about as good (smooth dependence on mu)
    for mu in (1.13, 2.22, 3.0):
        f = cs_function(X, mu)
        assert np.abs(ei(f[ei.points]) - f).max() <= 100 * 1e-6 * ei.errors[0]
    # the error trend is downwards (EIM errors need not be monotone term by term)
    assert ei.errors[10] < 0.1 * ei.errors[0]
    assert ei.lebesgue_constant_inf >= 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_symmetric_formulation_reproduces_rank_r(dtype: type, order: str) -> None:
    rng = np.random.default_rng(3)
    r = 6
    A = np.asarray((rng.standard_normal((120, r)) @ rng.standard_normal((r, 90))), order=order)
    A = A.astype(dtype)
    ei = rankwise.eim(A)  # no tol: stops at rounding level after r terms
    assert ei.n_terms == r
    assert ei.basis.dtype == dtype
    I, J = ei.points, ei.snapshot_indices
    np.testing.assert_array_equal(ei.cross_matrix, A[np.ix_(I, J)])
    np.testing.assert_array_equal(ei.selected_snapshots, A[:, J])
    cross = A[:, J] @ np.linalg.solve(A[np.ix_(I, J)], A[I, :])
    tol = 1e3 * eps(dtype) * np.abs(A).max()
    assert np.abs(cross - A).max() <= tol
    beta = ei.snapshot_coefficients(A[I, 5])
    assert np.abs(A[:, J] @ beta - A[:, 5]).max() <= tol
    assert np.abs(ei(A[I]) - A).max() <= tol


def test_rectangular_extension_with_a_lost_point() -> None:
    ei = rankwise.eim(S_CS, max_terms=12)
    rect = ei.oversample(24)
    np.testing.assert_array_equal(rect.points[:12], ei.points)
    rng = np.random.default_rng(4)
    fresh = np.stack([cs_function(X, mu) for mu in rng.uniform(1, np.pi, 20)], axis=1)

    def max_error(interp: rankwise.PointInterpolant) -> float:
        return float(np.abs(interp(fresh[interp.points]) - fresh).max())

    base = max_error(ei)
    lost = rect.remove_points(rect.points[3])  # a broken sensor among the EIM points
    assert lost.n_points == 23
    # the square interpolant cannot lose a point; the rectangular one stays accurate:
    # its error is within the ratio of Lebesgue constants of the square one's
    assert max_error(lost) <= 2.0 * base
    assert lost.lebesgue_constant <= 2.0 * ei.lebesgue_constant
    with pytest.raises(ValueError, match="fewer than"):
        ei.remove_points(ei.points[0])
    with pytest.raises(ValueError, match="not interpolation points"):
        rect.remove_points(int(np.setdiff1d(np.arange(100), rect.points)[0]))


def test_noise_in_values_is_damped_by_oversampling() -> None:
    ei = rankwise.eim(S_CS, max_terms=12)
    rect = ei.oversample(36)
    rng = np.random.default_rng(5)
    f = cs_function(X, 2.0)
    noise = 1e-3 * rng.standard_normal(100)
    e_sq = np.linalg.norm(ei(f[ei.points] + noise[ei.points]) - ei(f[ei.points]))
    e_rect = np.linalg.norm(rect(f[rect.points] + noise[rect.points]) - rect(f[rect.points]))
    assert rect.lebesgue_constant < ei.lebesgue_constant
    assert e_rect <= rect.lebesgue_constant * np.linalg.norm(noise[rect.points]) * 1.0001
    assert e_sq <= ei.lebesgue_constant * np.linalg.norm(noise[ei.points]) * 1.0001


def test_bad_input() -> None:
    rng = np.random.default_rng(6)
    S = rng.standard_normal((20, 10))
    with pytest.raises(ValueError, match="2-D"):
        rankwise.eim(S[:, 0])
    bad = S.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.eim(bad)
    with pytest.raises(ValueError, match="all zero"):
        rankwise.eim(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="training_parameters is required"):
        rankwise.eim(lambda mu: np.ones(3))
    with pytest.raises(ValueError, match="returned shape"):
        rankwise.eim(lambda mu: np.ones(3 if mu < 2 else 4), [1, 2])
    with pytest.raises(ValueError, match="returned shape"):
        rankwise.eim(lambda mu: np.ones((3, 2)), [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        rankwise.eim(lambda mu: np.full(3, np.inf), [1, 2])
    with pytest.raises(ValueError, match="norm"):
        rankwise.eim(S, norm="l1")
    with pytest.raises(ValueError, match="positive"):
        rankwise.eim(S, norm=-np.ones(20))
    with pytest.raises(ValueError, match="positive definite"):
        rankwise.eim(S, norm=-np.eye(20))
    with pytest.raises(ValueError, match="20 x 20"):
        rankwise.eim(S, norm=np.eye(10))
    with pytest.raises(ValueError, match="max_terms"):
        rankwise.eim(S, max_terms=0)
    with pytest.raises(ValueError, match="tol"):
        rankwise.eim(S, tol=-1.0)
    with pytest.raises(ValueError, match="only used"):
        rankwise.eim(S, [1, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deferred_updates_and_bounds_give_the_same_greedy(
    dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The max-norm greedy defers its updates by blocks and evaluates only the row chunks
    that may hold the largest entry: the result is that of one update per term, bit for
    bit (several chunks of rows, duplicated snapshots for ties)."""
    from rankwise import _eim

    rng = np.random.default_rng(5)
    S = rng.standard_normal((5000, 60)).astype(dtype)
    S[:, 41] = S[:, 7]  # equal snapshots: ties between columns go to the first
    S = np.asfortranarray(S)
    got = rankwise.eim(S, max_terms=25)
    monkeypatch.setattr(_eim, "EIM_BLOCK", 1)
    ref = rankwise.eim(S, max_terms=25)
    np.testing.assert_array_equal(got.points, ref.points)
    np.testing.assert_array_equal(got.snapshot_indices, ref.snapshot_indices)
    np.testing.assert_array_equal(got.errors, ref.errors)
    np.testing.assert_array_equal(got.basis, ref.basis)
    assert 41 not in got.snapshot_indices.tolist() or 7 in got.snapshot_indices.tolist()
    p, c, _ = greedy_reference(S, 25)
    np.testing.assert_array_equal(got.points, p)
    np.testing.assert_array_equal(got.snapshot_indices, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm", ["l2", "weighted"])
def test_projected_norms_give_the_same_greedy(
    dtype: type, norm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The (weighted) l2 greedy updates the norms from one product q^T R per term between
    write-backs and evaluates exactly the columns whose rounding bound may reach the
    largest: the result is that of one update per term, bit for bit (equal snapshots for
    ties, several row chunks, a block longer than the run)."""
    from rankwise import _eim

    rng = np.random.default_rng(6)
    S = rng.standard_normal((3000, 50)).astype(dtype)
    S[:, 30] = S[:, 4]
    S[:, :10] *= np.linspace(1.0, 1.0 + 1e-6, 3000)[:, None].astype(dtype)  # near-ties
    S = np.asfortranarray(S)
    w = np.linspace(0.5, 2.0, 3000).astype(dtype)
    kwargs = {"norm": "l2"} if norm == "l2" else {"norm": w}
    monkeypatch.setattr(_eim, "EIM_BLOCK_L2", 1)
    ref = rankwise.eim(S, max_terms=30, **kwargs)
    for block in (3, 16, 64):
        monkeypatch.setattr(_eim, "EIM_BLOCK_L2", block)
        got = rankwise.eim(S, max_terms=30, **kwargs)
        np.testing.assert_array_equal(got.points, ref.points)
        np.testing.assert_array_equal(got.snapshot_indices, ref.snapshot_indices)
        np.testing.assert_array_equal(got.errors, ref.errors)
        np.testing.assert_array_equal(got.basis, ref.basis)
