"""rankwise.precond: each preconditioner is the operator it claims to be (against dense
formulas), symmetric positive definite, reduces CG iterations on the problems it is meant
for, and rejects bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def poisson1d(n: int) -> sp.csr_array:
    return sp.csr_array(
        sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1])
    )


def poisson2d(m: int) -> sp.csr_array:
    T = poisson1d(m)
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def random_spd_sparse(n: int, seed: int) -> sp.csr_array:
    """Random sparse SPD (not an M-matrix: off-diagonal entries of both signs)."""
    rng = np.random.default_rng(seed)
    B = sp.random_array((n, n), density=4 / n, rng=rng, format="csr")
    B.data = rng.standard_normal(B.nnz)
    S = B + B.T
    shift = np.abs(S).sum(axis=1).max() * 0.3 + 1.0
    A = S + shift * sp.eye_array(n)
    ev = np.linalg.eigvalsh(A.toarray())
    if ev[0] <= 0:
        A = A + (1 - ev[0]) * sp.eye_array(n)
    assert (A.toarray() < 0).any()  # not an M-matrix
    return sp.csr_array(A)


def dense_of(M: Any, n: int, dtype: Any = np.float64) -> np.ndarray:
    return np.asarray(M @ np.eye(n, dtype=dtype), dtype=np.float64)


def assert_spd(Md: np.ndarray, rtol: float) -> None:
    asym = np.abs(Md - Md.T).max()
    assert asym <= rtol * np.abs(Md).max(), f"not symmetric: max |M - M^T| = {asym:.3e}"
    ev = np.linalg.eigvalsh((Md + Md.T) / 2)
    assert ev[0] > 0, f"not positive definite: smallest eigenvalue {ev[0]:.3e}"


KERSHAW = np.array(
    [[3.0, -2.0, 0.0, 2.0], [-2.0, 3.0, -2.0, 0.0], [0.0, -2.0, 3.0, -2.0], [2.0, 0.0, -2.0, 3.0]]
)
"""SPD, yet IC(0) breaks down on it (Kershaw 1978)."""


# --------------------------------------------------------------------------- #
# the operators themselves
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("omega", [0.5, 1.0, 1.7])
def test_ssor_matches_dense_formula(omega: float) -> None:
    A = random_spd_sparse(40, seed=1)
    Ad = A.toarray()
    D = np.diag(np.diag(Ad))
    L, U = np.tril(Ad, -1), np.triu(Ad, 1)
    ref = omega * (2 - omega) * np.linalg.solve(D + omega * U, D @ np.linalg.inv(D + omega * L))
    Md = dense_of(rankwise.precond.ssor(A, omega), 40)
    np.testing.assert_allclose(Md, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    assert_spd(Md, 1e-12)


def test_ic0_reproduces_A_on_its_pattern() -> None:
    A = poisson2d(8)
    M = rankwise.precond.ic0(A)
    assert M.info["shift"] == 0.0  # an M-matrix: IC(0) exists
    LLt = np.linalg.inv(dense_of(M, 64))
    Ad = A.toarray()
    pattern = Ad != 0
    np.testing.assert_allclose(LLt[pattern], Ad[pattern], rtol=1e-10, atol=1e-12)
    assert_spd(dense_of(M, 64), 1e-10)


def test_ic0_of_tridiagonal_is_exact() -> None:
    A = poisson1d(200)
    res = rankwise.solve_cg(A, np.arange(200.0), rtol=1e-10, M=rankwise.precond.ic0(A))
    assert res.iterations == 1


def test_ic0_shift_fallback() -> None:
    A = sp.csr_array(KERSHAW)
    assert np.linalg.eigvalsh(KERSHAW)[0] > 0
    M = rankwise.precond.ic0(A)
    assert M.info["shift"] > 0
    assert_spd(dense_of(M, 4), 1e-12)
    res = rankwise.solve_cg(A, np.ones(4), rtol=1e-12, M=M)
    assert res.converged
    np.testing.assert_allclose(res.x, np.linalg.solve(KERSHAW, np.ones(4)), rtol=1e-10)


def test_ic0_unsorted_and_duplicate_input_not_modified() -> None:
    A = poisson2d(5).tocoo()
    # duplicates: split every entry in two halves; shuffled order
    rng = np.random.default_rng(2)
    rows = np.r_[A.row, A.row]
    cols = np.r_[A.col, A.col]
    vals = np.r_[A.data / 2, A.data / 2]
    perm = rng.permutation(rows.size)
    C = sp.csr_matrix((vals[perm], (rows[perm], cols[perm])), shape=A.shape)
    C.has_sorted_indices = False
    before = (C.data.copy(), C.indices.copy(), C.indptr.copy())
    M1 = dense_of(rankwise.precond.ic0(C), 25)
    M2 = dense_of(rankwise.precond.ic0(poisson2d(5)), 25)
    np.testing.assert_allclose(M1, M2, rtol=1e-12)
    for got, want in zip((C.data, C.indices, C.indptr), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_chebyshev_is_the_chebyshev_polynomial() -> None:
    A = random_spd_sparse(30, seed=3)
    Ad = A.toarray()
    ev, V = np.linalg.eigh(Ad)
    lmin, lmax = ev[0] * 0.9, ev[-1] * 1.1
    degree = 5
    M = rankwise.precond.chebyshev(A, degree, bounds=(lmin, lmax))
    # p(x) = (1 - T_{k}(y(x)) / T_{k}(y(0))) / x with y(x) = (lmax + lmin - 2x) / (lmax - lmin)
    k = degree + 1
    y = (lmax + lmin - 2 * ev) / (lmax - lmin)
    y0 = (lmax + lmin) / (lmax - lmin)
    p = (1 - np.cos(k * np.arccos(y)) / np.cosh(k * np.arccosh(y0))) / ev
    ref = (V * p) @ V.T
    np.testing.assert_allclose(dense_of(M, 30), ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    assert_spd(dense_of(M, 30), 1e-10)


def test_chebyshev_estimates_bounds() -> None:
    A = poisson2d(12)
    ev = np.linalg.eigvalsh(A.toarray())
    M = rankwise.precond.chebyshev(A, 6, lanczos_steps=30, random_state=1)
    info = M.info
    # Ritz values lie inside the spectrum; lmax is raised by 5%
    assert ev[0] <= info["lmin"] < info["lmax"]
    assert ev[-1] <= info["lmax"] <= 1.05 * ev[-1] * (1 + 1e-12)
    assert info["degree"] == 6
    assert_spd(dense_of(M, 144), 1e-10)


# --------------------------------------------------------------------------- #
# fewer iterations where they are meant to help
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("name", "factor"),
    [("ssor", 1.5), ("ic0", 2.0), ("chebyshev", 3.0)],
)
def test_fewer_iterations_on_poisson(name: str, factor: float) -> None:
    A = poisson2d(40)
    b = np.random.default_rng(4).standard_normal(A.shape[0])
    plain = rankwise.solve_cg(A, b, rtol=1e-8)
    M = {
        "ssor": lambda: rankwise.precond.ssor(A, 1.5),
        "ic0": lambda: rankwise.precond.ic0(A),
        "chebyshev": lambda: rankwise.precond.chebyshev(A, 6),
    }[name]()
    res = rankwise.solve_cg(A, b, rtol=1e-8, M=M)
    assert res.converged
    assert res.iterations * factor <= plain.iterations, (res.iterations, plain.iterations)
    assert np.linalg.norm(A @ res.x - b) <= 1.01e-8 * np.linalg.norm(b)


@pytest.mark.parametrize("name", ["ssor", "ic0", "chebyshev"])
def test_same_iterations_as_scipy_with_same_preconditioner(name: str) -> None:
    A = poisson2d(20)
    b = np.random.default_rng(5).standard_normal(A.shape[0])
    M = getattr(rankwise.precond, name)(A)
    count = [0]
    _, info = spla.cg(A, b, rtol=1e-8, M=M, callback=lambda _: count.__setitem__(0, count[0] + 1))
    res = rankwise.solve_cg(A, b, rtol=1e-8, M=M)
    assert info == 0
    assert abs(res.iterations - count[0]) <= 2


@pytest.mark.parametrize("name", ["ssor", "ic0", "chebyshev"])
def test_float32_and_blocks(name: str) -> None:
    A = poisson2d(16).astype(np.float32)
    B = np.random.default_rng(6).standard_normal((256, 3)).astype(np.float32)
    M = getattr(rankwise.precond, name)(A)
    assert M.dtype == np.float32
    res = rankwise.solve_cg(A, B, rtol=1e-4, M=M)
    assert res.converged
    assert res.x.dtype == np.float32
    for j in range(3):
        one = rankwise.solve_cg(A, B[:, j], rtol=1e-4, M=M)
        assert one.iterations == res.column_iterations[j]
        np.testing.assert_allclose(one.x, res.x[:, j], rtol=1e-4, atol=1e-6)


def test_string_names_and_operator_input() -> None:
    A = poisson2d(10)
    b = np.ones(100)
    for name in ("ssor", "ic0", "chebyshev"):
        assert rankwise.solve_cg(A, b, M=name).converged
    op = spla.aslinearoperator(A)
    assert rankwise.solve_cg(op, b, M="chebyshev").converged
    assert rankwise.solve_cg(op, b, M=rankwise.precond.chebyshev(op, 3)).converged


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #


def test_bad_preconditioner_arguments() -> None:
    A = poisson2d(4)
    for omega in (0.0, 2.0, -1.0, True, "1"):
        with pytest.raises(ValueError, match="omega"):
            rankwise.precond.ssor(A, omega)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shift"):
        rankwise.precond.ic0(A, shift=0.0)
    with pytest.raises(ValueError, match="degree"):
        rankwise.precond.chebyshev(A, -1)
    with pytest.raises(ValueError, match="bounds"):
        rankwise.precond.chebyshev(A, 3, bounds=(2.0, 1.0))
    with pytest.raises(TypeError, match="LinearOperator"):
        rankwise.precond.ssor(spla.aslinearoperator(A))
    with pytest.raises(ValueError, match="square"):
        rankwise.precond.ic0(np.ones((3, 4)))
    Ad = A.toarray()
    Ad[2, 2] = 0.0
    with pytest.raises(ValueError, match="diagonal"):
        rankwise.precond.ic0(Ad)
    with pytest.raises(ValueError, match="diagonal"):
        rankwise.precond.ssor(Ad)
    Ad[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rankwise.precond.ic0(Ad)
    with pytest.raises(ValueError, match="positive definite"):
        rankwise.precond.chebyshev(-A)


# --------------------------------------------------------------------------- #
# block Jacobi
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("bs", [1, 3, 7, 64])
@pytest.mark.parametrize("dense", [False, True])
def test_block_jacobi_matches_dense_formula(bs: int, dense: bool) -> None:
    A = random_spd_sparse(64, seed=7)
    Ad = A.toarray()
    ref = np.zeros_like(Ad)
    for i0 in range(0, 64, bs):
        blk = slice(i0, min(i0 + bs, 64))
        ref[blk, blk] = np.linalg.inv(Ad[blk, blk])
    M = rankwise.precond.block_jacobi(Ad if dense else A, bs)
    Md = dense_of(M, 64)
    np.testing.assert_allclose(Md, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    assert_spd(Md, 1e-10)
    if bs == 64:  # the whole matrix: an exact solve
        assert rankwise.solve_cg(A, np.ones(64), rtol=1e-10, M=M).iterations == 1


def test_block_jacobi_lines_beat_points_on_anisotropic() -> None:
    m = 30
    T = poisson1d(m)
    # strong coupling along x (consecutive unknowns), weak along y
    A = sp.csr_array(sp.kron(sp.eye_array(m), T) + 1e-2 * sp.kron(T, sp.eye_array(m)))
    b = np.random.default_rng(8).standard_normal(m * m)
    point = rankwise.solve_cg(A, b, rtol=1e-8, M="jacobi")
    line = rankwise.solve_cg(A, b, rtol=1e-8, M=rankwise.precond.block_jacobi(A, m))
    assert line.converged
    assert 3 * line.iterations <= point.iterations, (line.iterations, point.iterations)


def test_block_jacobi_float32_and_bad_input() -> None:
    A = poisson2d(8).astype(np.float32)
    M = rankwise.precond.block_jacobi(A, 8)
    assert M.dtype == np.float32
    assert rankwise.solve_cg(A, np.ones(64, np.float32), rtol=1e-4, M=M).converged
    for bs in (0, 65, 2.5, True):
        with pytest.raises(ValueError, match="block_size"):
            rankwise.precond.block_jacobi(A, bs)  # type: ignore[arg-type]
    B = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="block 1"):
        rankwise.precond.block_jacobi(B, 2)


def test_shared_preconditioner_in_concurrent_solves() -> None:
    from concurrent.futures import ThreadPoolExecutor

    A = poisson2d(60)
    rng = np.random.default_rng(9)
    bs = [rng.standard_normal(A.shape[0]) for _ in range(4)]
    for name in ("chebyshev", "ic0", "jacobi"):
        M = getattr(rankwise.precond, name)(A)
        serial = [rankwise.solve_cg(A, b, rtol=1e-10, M=M).x for b in bs]
        with ThreadPoolExecutor(4) as pool:
            parallel = list(
                pool.map(lambda b, M=M: rankwise.solve_cg(A, b, rtol=1e-10, M=M).x, bs)
            )
        for s, p in zip(serial, parallel, strict=True):
            np.testing.assert_array_equal(s, p)


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_spectrum_estimates_of_matrices_of_extreme_size(scale: float) -> None:
    """A = 1e160 (tridiag(-1, 2, -1) + 0.1 I) (found by review): Lanczos' squared norms
    overflowed ("A produced NaN or Inf"), then the Sturm sequence's squared betas (a
    negative lmin, "not positive definite"), and the Nystrom sketch's squared norm; the
    norms are now scaled, the tridiagonal matrix too.  Plain CG converged all along."""
    n = 200
    A = (sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) + 0.1 * sp.eye(n)).tocsr()
    A = A * scale
    b = np.ones(n) * scale
    for M in (
        rankwise.precond.chebyshev(A),
        "chebyshev",
        rankwise.precond.nystrom(A, 10, mu=1e-3 * scale, random_state=0),
    ):
        result = rankwise.solve_cg(A, b, rtol=1e-8, M=M)
        assert result.converged
        assert np.linalg.norm((b - A @ result.x) / scale) <= 1e-7 * np.linalg.norm(b / scale)
    bounds = rankwise.precond.chebyshev(A).info
    eig = np.linalg.eigvalsh(A.toarray() / scale) * scale
    assert bounds["lmin"] > 0
    assert bounds["lmax"] >= eig[-1] * (1 - 1e-6)


def test_nystrom_of_the_zero_matrix_is_the_identity_preconditioner() -> None:
    """nystrom(0, rank, mu) (found by review): the stabilizing shift of a zero sketch was
    subnormal and the Cholesky factorization failed ("not positive semidefinite")."""
    n = 400
    M = rankwise.precond.nystrom(np.zeros((n, n)), 5, mu=1.0, random_state=0)
    np.testing.assert_array_equal(M.info["eigenvalues"], 0.0)
    b = np.random.default_rng(0).standard_normal(n)
    np.testing.assert_allclose(M @ b, b, rtol=1e-12)
