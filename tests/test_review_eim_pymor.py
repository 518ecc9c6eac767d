"""Findings of session 34's review of the empirical interpolation family against pyMOR
(whose DEIM and EIM pick the same points as rankwise's wherever there are no ties): DEIM on
a basis whose columns differ in scale, one message for a rank-deficient basis, EIM on
snapshots near the ends of the float range, its norm argument, matrix_eim's messages."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import random_orthonormal


def _snapshots() -> np.ndarray:
    x = np.linspace(-1, 1, 200)
    mus = np.linspace(1, np.pi, 51)
    return np.stack(
        [(1 - x) * np.cos(3 * np.pi * mu * (x + 1)) * np.exp(-(1 + x) * mu) for mu in mus], 1
    )


@pytest.mark.parametrize(("n", "m"), [(50, 3), (200, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deim_points_do_not_depend_on_the_columns_scales(n: int, m: int, dtype: type) -> None:
    # DEIM's points are LU's row pivots: scaling a column does not move them.  A column of
    # scale 1e-9 (float32) / 1e-18 (float64) was refused as rank-deficient (m = 40: by the
    # core's solve between blocks).
    Q = random_orthonormal(np.random.default_rng(n), n, m).astype(dtype)
    d = np.ones(m)
    d[m // 2] = 1e-9 if dtype == np.float32 else 1e-18
    U = (Q * d).astype(dtype)
    sel = rankwise.deim(U)
    np.testing.assert_array_equal(sel.points, rankwise.deim(Q).points)
    f = U.astype(np.float64) @ np.ones(m)
    np.testing.assert_allclose(sel(f[sel.points]), f, atol=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("column", [3, 18])
def test_a_dependent_column_is_named_rank_deficient_wherever_it_is(column: int) -> None:
    U = random_orthonormal(np.random.default_rng(1), 100, 20)
    U[:, column] = U[:, 0]
    with pytest.raises(ValueError, match="U is numerically rank-deficient"):
        rankwise.deim(U)


@pytest.mark.parametrize("norm", ["linf", "l2", "weights"])
@pytest.mark.parametrize("scale", [1e-170, 1e-160, 1e160, 1e-310])
def test_eim_on_snapshots_near_the_ends_of_the_range(norm: str, scale: float) -> None:
    # l2: squares underflowed ("all zero"), overflowed ("overflow in the input?") or picked
    # other points (1e-160); subnormals: 1 / pivot overflowed in every norm
    S = _snapshots()
    chosen = np.linspace(0.5, 2, 200) if norm == "weights" else norm
    ref = rankwise.eim(S, norm=chosen, max_terms=6)
    got = rankwise.eim(S * scale, norm=chosen, max_terms=6)
    np.testing.assert_array_equal(got.points, ref.points)
    np.testing.assert_allclose(got.errors, ref.errors * scale, rtol=1e-6)
    np.testing.assert_allclose(got.basis, ref.basis, rtol=1e-6, atol=1e-12)


def test_eim_names_the_norms_it_takes() -> None:
    S = _snapshots()
    for bad in (None, 2.0):
        with pytest.raises(TypeError, match="norm must be 'linf', 'l2'"):
            rankwise.eim(S, norm=bad)
    M = np.eye(200)
    M[0, 5] = 5.0  # not symmetric: not SPD
    with pytest.raises(ValueError, match="norm matrix must be symmetric"):
        rankwise.eim(S, norm=M)
    with pytest.raises(ValueError, match="norm matrix must be symmetric"):
        rankwise.eim(S, norm=sp.csr_array(M))


def test_eim_works_in_the_widest_dtype_its_callable_returns() -> None:
    # the first snapshot's float32 fixed the buffer: later float64 ones were rounded
    def f(mu: float) -> np.ndarray:
        if mu == 0:
            return np.ones(4, np.float32)
        return np.array([1.0, 1.0 + 1e-9 * mu, 3.0, 4.0 * mu])

    interp = rankwise.eim(f, [0, 1, 2])
    assert interp.dtype == np.float64
    np.testing.assert_array_equal(interp.selected_snapshots[:, 0], f(interp.parameters[0]))


@pytest.mark.parametrize(
    ("assemble", "message"),
    [
        (lambda mu: sp.csr_matrix((3, 3)), r"assemble\(1.0\) returned a matrix with no entries"),
        (lambda mu: np.eye(3) * np.nan, r"assemble\(1.0\) returned a matrix containing NaN"),
        (lambda mu: np.zeros((3, 3)), r"assemble\(mu\) returned the zero matrix"),
    ],
)
def test_matrix_eim_names_assemble_not_snapshots(assemble: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rankwise.matrix_eim(assemble, [1.0, 2.0])


def test_eim_leaves_a_sparse_norm_matrix_with_duplicates_as_given() -> None:
    # the symmetry check's norms summed the caller's duplicate entries in place
    n = 20
    M = sp.csr_matrix((np.ones(2 * n), np.repeat(np.arange(n), 2), np.arange(0, 2 * n + 1, 2)))
    before = (M.data.copy(), M.indices.copy(), M.indptr.copy())
    S = np.random.default_rng(0).standard_normal((n, 6))
    ref = rankwise.eim(S, norm=2 * sp.eye(n, format="csr"))
    got = rankwise.eim(S, norm=M)
    for was, now in zip(before, (M.data, M.indices, M.indptr), strict=True):
        np.testing.assert_array_equal(now, was)
    np.testing.assert_array_equal(got.points, ref.points)
