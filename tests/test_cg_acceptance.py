"""CG findings of an acceptance review written from issues 7 and 10 alone (session 40):
right-hand sides whose norm overflows, solutions beyond the float range, the symmetry
checks at extreme scales; and randomized_svd's scikit-learn random state on an
n_components far beyond the matrix.  Each test fails on the previous build."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from rankwise._cg import CGBreakdownError


def _poisson(side: int) -> sp.csr_matrix:
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(side, side))
    return sp.kronsum(T, T, format="csr")


def test_right_hand_side_whose_norm_overflows() -> None:
    """Every entry of b finite, ||b|| beyond the float range: the tolerance rtol ||b|| was
    Inf, and CG returned x = 0 as converged at once (SciPy: NaN with info = maxiter)."""
    x, info = rankwise.cg(2.0 * np.eye(2), np.array([1.5e308, 1.5e308]))
    assert info == 0
    np.testing.assert_allclose(x, [7.5e307, 7.5e307], rtol=1e-15)
    A = (_poisson(12) + 8 * sp.identity(144)).tocsr()  # eigenvalues in [8, 16]: x ~ b / 8
    rng = np.random.default_rng(0)
    b = rng.standard_normal(A.shape[0])
    ref = np.linalg.solve(A.toarray(), b)
    B = np.column_stack([b * (1.7e308 / np.abs(b).max()), b])
    res = rankwise.solve_cg(A, B, rtol=1e-10)
    assert res.converged
    np.testing.assert_allclose(res.x[:, 0] / (1.7e308 / np.abs(b).max()), ref, rtol=1e-8)
    np.testing.assert_allclose(res.x[:, 1], ref, rtol=1e-8)
    solver = rankwise.CGSolver(2.0 * np.eye(2))
    np.testing.assert_allclose(solver.solve(np.array([1.5e308, 1.5e308])).x, 7.5e307)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_a_solution_beyond_the_float_range_is_a_breakdown(sparse: bool) -> None:
    """A = 1e-300 I, b = 1e10 (not scaled: b is ordinary): x = 1e310 came back as Inf with
    info = 0 and converged = True."""
    A = 1e-300 * sp.identity(3, format="csr") if sparse else 1e-300 * np.eye(3)
    b = np.full(3, 1e10)
    with pytest.raises(CGBreakdownError, match="NaN or Inf"):
        rankwise.cg(A, b)
    res = rankwise.solve_cg(A, b)
    assert not res.converged
    assert res.reason == "nonfinite"
    res = rankwise.solve_cg(A, np.column_stack([b, np.full(3, 1e-320)]))
    assert res.column_reasons == ("nonfinite", "converged")


@pytest.mark.parametrize("scale", [1.0, 1e200, 1e-200])
def test_symmetry_checks_do_not_depend_on_the_scale(scale: float) -> None:
    """The same non-symmetric matrix times 1e200 drew NumPy's overflow warnings instead of
    "A is not symmetric", and times 1e-200 no warning; an SPD matrix at 1e300 leaked
    "overflow encountered in dot" from ssor / ic0."""
    A0 = _poisson(10)
    A = ((A0 + 0.3 * sp.triu(A0, 1)) * scale).tocsr()
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    for make in (rankwise.precond.ssor, rankwise.precond.ic0):
        with pytest.warns(RuntimeWarning, match="A is not symmetric"):
            make(A)
    for A_ in (A, A.toarray()):
        with pytest.warns(RuntimeWarning, match="A is not symmetric"):
            rankwise.cg(A_, b, maxiter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rankwise.precond.ssor(A0 * 1e300)
        rankwise.precond.ic0(A0 * 1e300)


@pytest.mark.parametrize("state", ["global", "RandomState"])
def test_randomized_svd_far_beyond_the_matrix_does_not_draw_its_sketch(state: Any) -> None:
    """n_components = 2^31 on a 30 x 20 matrix: the result is clipped to 20 columns, as for
    any n_components beyond min(m, n); the random state is left as it is (reproducing
    scikit-learn's draws of 2^31 x 20 normals took a 16 GiB draw per row, 20 times)."""
    A = np.random.default_rng(0).standard_normal((30, 20))
    rs = np.random.RandomState(5)
    given = None if state == "global" else rs
    state = np.random.get_state if given is None else rs.get_state
    before = state()
    U, s, _ = rankwise.randomized_svd(A, 2**31, random_state=given)
    assert U.shape == (30, 20)
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False), rtol=1e-12)
    after = state()  # (key, position, cached normal: a draw moves the position at least)
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]


def test_randomized_svd_beyond_the_matrix_advances_the_state_as_scikit_learn() -> None:
    """Below that bound the caller's RandomState is left where scikit-learn's draws of
    n x (k + p) normals leave it, drawn in blocks that are not whole rows."""
    A = np.random.default_rng(1).standard_normal((30, 20))
    ours, theirs = np.random.RandomState(7), np.random.RandomState(7)
    rankwise.randomized_svd(A, 300_000, random_state=ours)
    theirs.normal(size=(20, 300_010))
    assert ours.normal() == theirs.normal()
