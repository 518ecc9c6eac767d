"""Edges of the empirical-interpolation contracts that an acceptance review (session 44)
found open: a complex norm cast to real in silence, an assemble returning a nested list,
entry_function's errors naming an argument the user never passed, sparse or non-numeric
values, and remove_points flattening a 2-D argument."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp


def _snapshots() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((20, 10))


@pytest.mark.parametrize(
    "norm",
    [
        np.eye(20) * (1 + 1j),
        sp.eye(20, dtype=complex, format="csr"),
        np.ones(20) + 0j,
        (np.eye(20) + 0j).tolist(),
    ],
)
def test_eim_refuses_a_complex_norm(norm: object) -> None:
    """The interpolation families refuse complex input with a TypeError (README); a
    complex norm was cast to real with only NumPy's ComplexWarning."""
    with pytest.raises(TypeError, match="must be real"):
        rankwise.eim(_snapshots(), norm=norm)


def test_matrix_eim_reads_nested_lists_from_assemble() -> None:
    """The first parameter's list was read as an array, every later one raised
    AttributeError; A(mu) = [[1, mu], [mu^2, 2]] is spanned by three matrices."""
    mus = [1.0, 2.0, 3.0, 4.0]
    approx = rankwise.matrix_eim(lambda m: [[1.0, m], [m * m, 2.0]], mus)
    np.testing.assert_allclose(approx.assemble(2.5), [[1.0, 2.5], [6.25, 2.0]], rtol=1e-12)


def test_entry_function_errors_name_entry_function() -> None:
    def assemble(m: float) -> np.ndarray:
        return np.array([[1.0, m], [m * m, 2.0]])

    for bad, error in [(np.nan, ValueError), (1j, TypeError), ("x", TypeError)]:
        approx = rankwise.matrix_eim(
            assemble, [1.0, 2.0, 3.0], entry_function=lambda m, r, c, v=bad: np.full(r.shape, v)
        )
        with pytest.raises(error, match=r"entry_function\(2.0, ...\)"):
            approx.beta(2.0)


def test_interpolant_values_must_be_a_dense_numeric_array() -> None:
    U = np.linalg.qr(np.random.default_rng(1).standard_normal((30, 4)))[0]
    sel = rankwise.deim(U)
    with pytest.raises(TypeError, match="dense array"):
        sel(sp.csr_array(np.ones((4, 1))))
    with pytest.raises(TypeError, match="real numeric array"):
        sel(np.array(["1", "2", "3", "4"]))
    approx = rankwise.matrix_eim(lambda m: np.array([[1.0, m], [m, 2.0]]), [1.0, 2.0])
    with pytest.raises(TypeError, match="dense array"):
        approx.matvec(1.5, sp.csr_array(np.ones((2, 1))))
    np.testing.assert_allclose(approx.matvec(1.5, np.ones(2)), [2.5, 3.5], rtol=1e-12)


def test_remove_points_takes_a_1d_array_as_the_constructor() -> None:
    U = np.linalg.qr(np.random.default_rng(1).standard_normal((30, 4)))[0]
    over = rankwise.deim(U).oversample(6)
    with pytest.raises(ValueError, match="1-D array"):
        over.remove_points([[over.points[0]]])
    assert over.remove_points(over.points[0]).n_points == 5  # a scalar is one point


def test_points_cannot_be_changed_in_place_behind_the_cached_factorization() -> None:
    """Editing sel.points in place left U[points] and its cached factorization stale, so
    the interpolant silently mixed two selections; the arrays are read-only now (copies:
    the caller's own points stay writeable)."""
    U = np.linalg.qr(np.random.default_rng(1).standard_normal((30, 4)))[0]
    mine = np.array([0, 5, 9, 17], dtype=np.int64)
    for sel in (
        rankwise.deim(U),
        rankwise.deim(U).oversample(6),
        rankwise.PointInterpolant(U, mine),
    ):
        with pytest.raises(ValueError, match="read-only"):
            sel.points[0] = 1
        with pytest.raises(ValueError, match="read-only"):
            sel.interpolation_matrix[0, 0] = 1.0
    mine[0] = 1


def test_an_eim_basis_is_read_only_as_its_points() -> None:
    """EIM's basis and cross matrix are its own; edited in place, the interpolant's cached
    factors went stale (the points were made read-only before; acceptance review)."""
    interp = rankwise.eim(_snapshots())
    for name in ("basis", "cross_matrix", "points"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(interp, name)[0] = 1.0
    assert interp.truncate(2).n_terms == 2


def test_a_0d_integer_array_is_taken_for_an_integer() -> None:
    """np.array(5) has __index__ and scikit-learn takes it for n_components; svds and cg
    took it, svd, cur and the others refused it."""
    A = _snapshots()
    assert rankwise.svd(A, np.array(5), random_state=0)[1].shape == (5,)
    assert rankwise.randomized_svd(A, np.array(4), random_state=0)[1].shape == (4,)
    assert rankwise.cur(A, np.array(3), random_state=0).rows.shape == (3,)
    assert rankwise.eim(A, max_terms=np.array(3)).n_terms == 3
