"""rankwise.matrix_eim: an affinely parametrized matrix is reproduced exactly with as many
terms as it has affine terms, a non-affine one to the greedy's tolerance; online values come
from a handful of entries; a changing sparsity pattern or shape is refused."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp

N = 60
LAPLACE = sp.diags([-np.ones(N - 1), 2 * np.ones(N), -np.ones(N - 1)], [-1, 0, 1]).tocsr()
MASS = sp.diags([np.ones(N - 1), 4 * np.ones(N), np.ones(N - 1)], [-1, 0, 1]).tocsr() / 6
ADVECT = sp.diags([-np.ones(N - 1), np.ones(N - 1)], [-1, 1]).tocsr()
TRAIN = [np.array([a, b]) for a in np.linspace(0.1, 2, 6) for b in np.linspace(-1, 1, 5)]


def affine(mu: np.ndarray) -> sp.csr_matrix:
    return (LAPLACE + mu[0] * MASS + np.sin(mu[1]) * ADVECT).tocsr()


def test_affine_matrix_reproduced_exactly_with_three_terms() -> None:
    approx = rankwise.matrix_eim(affine, TRAIN)
    assert approx.n_terms == 3
    assert len(approx.matrices) == 3
    rng = np.random.default_rng(0)
    for _ in range(4):
        mu = np.array([rng.uniform(0, 3), rng.uniform(-2, 2)])  # also outside the training set
        exact = affine(mu)
        got = approx.assemble(mu)
        assert sp.issparse(got)
        assert abs(got - exact).max() <= 1e-12 * abs(exact).max()
        x = rng.standard_normal(N)
        np.testing.assert_allclose(approx.matvec(mu, x), exact @ x, atol=1e-12)
    # a vector of another length is named (numpy's matmul message was all there was)
    with pytest.raises(ValueError, match=rf"x must have shape \({N},\)"):
        approx.matvec(mu, np.ones(N + 1))
    # the expansion in the selected matrices
    mu = np.array([0.7, 0.3])
    beta = approx.beta(mu)
    total = sum(b * A for b, A in zip(beta, approx.matrices, strict=True))
    assert abs(total - affine(mu)).max() <= 1e-12
    # reduced matrices
    V = np.linalg.qr(rng.standard_normal((N, 5)))[0]
    red = approx.project(V)
    assert red.shape == (3, 5, 5)
    np.testing.assert_allclose(np.tensordot(beta, red, 1), V.T @ (affine(mu) @ V), atol=1e-12)


def test_entry_function_avoids_assembly() -> None:
    calls = []

    def assemble(mu: np.ndarray) -> sp.csr_matrix:
        calls.append(mu)
        return affine(mu)

    def entries(mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.asarray(affine(mu)[rows, cols]).ravel()

    approx = rankwise.matrix_eim(assemble, TRAIN, entry_function=entries)
    n_offline = len(calls)
    # offline: the pattern, one call per training parameter, one per selected parameter
    assert n_offline == 1 + len(TRAIN) + 3
    mu = np.array([1.3, -0.4])
    got = approx.assemble(mu)
    assert len(calls) == n_offline  # online: no assembly
    assert abs(got - affine(mu)).max() <= 1e-12
    rows, cols = approx.entries
    assert rows.shape == (3,)
    assert cols.shape == (3,)


def test_non_affine_dense_to_tolerance() -> None:
    x = np.linspace(0, 1, 30)

    def A(mu: float) -> np.ndarray:
        return np.exp(-mu * np.abs(x[:, None] - x[None, :]))

    train = np.linspace(1, 5, 40)
    approx = rankwise.matrix_eim(A, train, tol=1e-8)
    assert approx.interpolant.errors[-1] <= 1e-8
    assert approx.n_terms < 20
    for mu in (1.37, 2.9, 4.41):
        assert np.abs(approx.assemble(mu) - A(mu)).max() <= 1e-6


def test_bad_input() -> None:
    def changing(mu: float) -> sp.csr_matrix:
        A = LAPLACE.copy() if mu < 1 else (LAPLACE + sp.eye(N, k=3)).tocsr()
        return A * mu

    with pytest.raises(ValueError, match="sparsity pattern"):
        rankwise.matrix_eim(changing, [0.5, 1.5])
    with pytest.raises(ValueError, match="shape"):
        rankwise.matrix_eim(lambda mu: np.ones((3, 3 + int(mu))), [0, 1])
    with pytest.raises(ValueError, match="dense"):
        rankwise.matrix_eim(lambda mu: LAPLACE if mu else LAPLACE.toarray(), [1, 0])
    with pytest.raises(ValueError, match="empty"):
        rankwise.matrix_eim(affine, [])
    with pytest.raises(ValueError, match="NaN"):
        rankwise.matrix_eim(lambda mu: np.full((2, 2), np.nan), [0, 1])
    # named as the user's function, not eim's snapshots (a review, session 33)
    with pytest.raises(TypeError, match=r"assemble\(0\) returned a complex matrix"):
        rankwise.matrix_eim(lambda mu: LAPLACE * (1 + 1j * mu), [0, 1])


def test_truncate_equals_a_shorter_greedy() -> None:
    def bump(mu: np.ndarray) -> sp.csr_matrix:
        x = np.linspace(0, 1, N)
        k = 1 + mu[0] * np.exp(-((x - 0.5 * (mu[1] + 1)) ** 2) / 0.02)
        return (LAPLACE + sp.diags(k)).tocsr()

    full = rankwise.matrix_eim(bump, TRAIN, max_terms=5)  # 6 terms reach rounding level
    assert full.n_terms == 5
    for k in (1, 3, 5):
        short = full.truncate(k)
        ref = rankwise.matrix_eim(bump, TRAIN, max_terms=k)
        assert short.n_terms == k
        assert short.parameters == ref.parameters
        np.testing.assert_array_equal(short.entries[0], ref.entries[0])
        np.testing.assert_array_equal(short.entries[1], ref.entries[1])
        np.testing.assert_array_equal(short.interpolant.errors, ref.interpolant.errors)
        mu = np.array([1.3, 0.2])
        np.testing.assert_allclose(short.beta(mu), ref.beta(mu), rtol=1e-10)
        assert abs(short.assemble(mu) - ref.assemble(mu)).max() <= 1e-12 * abs(bump(mu)).max()
    with pytest.raises(ValueError, match="exceeds"):
        full.truncate(6)
    with pytest.raises(ValueError, match="n_terms"):
        full.interpolant.truncate(0)


def test_results_own_their_index_arrays() -> None:
    """Every assembled matrix shared the object's CSR index arrays (found by review): one
    in-place call on a result, eliminate_zeros on its explicit zeros, changed every later
    assemble, matrices and project silently (with entry_function) or made assemble blame
    the user's routine for a changed pattern."""

    def with_zeros(mu: np.ndarray) -> sp.csr_matrix:
        A = affine(mu)
        A.data[::7] *= mu[1] != 0.0  # explicit zeros at mu[1] = 0, kept in the pattern
        return A

    def entries(mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.asarray(with_zeros(mu)[rows, cols]).ravel()

    for entry_function in (None, entries):
        approx = rankwise.matrix_eim(with_zeros, TRAIN, entry_function=entry_function)
        mu = np.array([0.7, 0.3])
        expected = approx.assemble(mu).toarray()
        matrices = [M.toarray() for M in approx.matrices]
        V = np.linalg.qr(np.random.default_rng(0).standard_normal((N, 4)))[0]
        reduced = approx.project(V)
        user = approx.assemble(np.array([0.5, 0.0]))
        user.eliminate_zeros()
        user.indices[:] = 0  # anything the user does to their own matrix
        np.testing.assert_array_equal(approx.assemble(mu).toarray(), expected)
        for M, before in zip(approx.matrices, matrices, strict=True):
            np.testing.assert_array_equal(M.toarray(), before)
        np.testing.assert_array_equal(approx.project(V), reduced)
