"""rankwise.CGSolver: a sequence of systems (kept preconditioner, recycled deflation subspace,
learned SSOR omega / Chebyshev degree)."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from rankwise._bandit import TsallisInf


def poisson(m: int, scale: np.ndarray | None = None) -> sp.csr_array:
    """2-D Poisson on an m x m grid, optionally with a positive diagonal scaling D A D."""
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    A = sp.csr_array(sp.kronsum(T, T, format="csr"))
    if scale is not None:
        D = sp.diags(scale)
        A = sp.csr_array(D @ A @ D)
    A.sort_indices()
    return A


def true_residual(A: sp.csr_array, x: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


@pytest.mark.parametrize("M", [None, "jacobi", "ssor", "ic0", "chebyshev"])
def test_without_recycling_the_iterates_are_solve_cg(M: str | None) -> None:
    A = poisson(20)
    rng = np.random.default_rng(0)
    solver = rankwise.CGSolver(A, M=M, rtol=1e-9)
    ref_M = None if M is None else getattr(rankwise.precond, M)(A)
    for _ in range(3):
        b = rng.standard_normal(400)
        res = solver.solve(b)
        ref = rankwise.solve_cg(A, b, rtol=1e-9, M=ref_M)
        assert res.iterations == ref.iterations
        np.testing.assert_array_equal(res.x, ref.x)
        np.testing.assert_array_equal(res.residual_norms, ref.residual_norms)
    assert solver.preconditioner_builds == (0 if M is None else 1)
    assert solver.solves == 3


def test_block_x0_float32_and_the_preconditioner_is_kept() -> None:
    A = poisson(15).astype(np.float32)
    B = np.random.default_rng(1).standard_normal((225, 3)).astype(np.float32)
    x0 = np.ones((225, 3), np.float32)
    solver = rankwise.CGSolver(A, M="ic0", rtol=1e-4)
    M = solver.preconditioner
    res = solver.solve(B, x0=x0)
    ref = rankwise.solve_cg(A, B, x0=x0, rtol=1e-4, M=rankwise.precond.ic0(A))
    assert res.x.dtype == np.float32
    assert res.x.shape == (225, 3)
    np.testing.assert_array_equal(res.x, ref.x)
    solver.solve(B[:, 0])
    assert solver.preconditioner is M or M is None
    assert solver.preconditioner_builds == 1
    np.testing.assert_array_equal(x0, 1)  # inputs unchanged


def spd_with_small_eigenvalues(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SPD A with d isolated tiny eigenvalues (1e-4 ... 1e-2), the rest in [1, 10]."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    ev = np.r_[np.geomspace(1e-4, 1e-2, d), np.linspace(1, 10, n - d)]
    A = (Q * ev) @ Q.T
    return (A + A.T) / 2, ev


def test_recycling_reduces_iterations_and_stays_correct() -> None:
    # d isolated tiny eigenvalues: the more W captures their eigenvectors, the fewer
    # iterations (kappa ~ 10 once it spans them)
    dtype = np.float64
    n, d = 300, 5
    A, ev = spd_with_small_eigenvalues(n, d, seed=5)
    A = A.astype(dtype)
    A_copy = A.copy()
    B = np.random.default_rng(2).standard_normal((n, 10)).astype(dtype)
    B_copy = B.copy()
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    plain = rankwise.CGSolver(A, rtol=rtol)
    rec = rankwise.CGSolver(A, rtol=rtol, recycle=d)
    its_plain, its_rec = [], []
    for j in range(B.shape[1]):
        r0 = plain.solve(B[:, j])
        r1 = rec.solve(B[:, j])
        assert r1.converged
        assert r1.x.dtype == dtype
        x_ref = np.linalg.solve(A.astype(np.float64), B[:, j].astype(np.float64))
        err = np.linalg.norm(r1.x - x_ref) / np.linalg.norm(x_ref)
        err0 = np.linalg.norm(r0.x - x_ref) / np.linalg.norm(x_ref)
        assert err <= 10 * err0 + (1e-9 if dtype == np.float64 else 1e-3)
        its_plain.append(r0.iterations)
        its_rec.append(r1.iterations)
    np.testing.assert_array_equal(B, B_copy)
    np.testing.assert_array_equal(A, A_copy)
    assert its_rec[0] == its_plain[0]  # nothing recycled yet
    assert sum(its_rec[3:]) < 0.75 * sum(its_plain[3:])
    W = rec.deflation_space
    assert W is not None
    assert W.shape == (n, d)
    ritz = rec.ritz_values
    assert ritz is not None
    # Ritz values are Rayleigh quotients of A (>= lambda_min); the smallest lies in the
    # isolated cluster (<= 1e-2), far below the bulk (>= 1).  (How close it comes to
    # lambda_min itself depends on rounding: 1.2x to 41x over 8 matrices, with either the
    # whole-matrix or the upper-triangle product.)  A W = the kept product
    assert np.all(ritz >= ev[0] * (1 - 1e-6))
    assert ritz[0] <= ev[d - 1]
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(W.T @ A @ W)), np.sort(ritz), rtol=1e-6)


def test_float32_recycling_on_an_ill_conditioned_matrix_still_solves() -> None:
    # kappa = 1e5 in float32: the deflated iteration may lose definiteness; then the solve
    # is redone without W (counted), never returned unconverged or raised
    n, d = 300, 5
    A64, _ = spd_with_small_eigenvalues(n, d, seed=5)
    A = A64.astype(np.float32)
    B = np.random.default_rng(2).standard_normal((n, 10)).astype(np.float32)
    rec = rankwise.CGSolver(A, rtol=1e-5, recycle=d, maxiter=2000)
    for j in range(B.shape[1]):
        res = rec.solve(B[:, j])
        assert res.converged
        assert res.x.dtype == np.float32
        x_ref = np.linalg.solve(A64, B[:, j].astype(np.float64))
        assert np.linalg.norm(res.x - x_ref) <= 0.05 * np.linalg.norm(x_ref)
    assert rec.solves == B.shape[1]
    assert rec.recycling_resets <= 2
    assert rec.recycle in (0, d)
    assert (rec.recycle == 0) == (rec.recycling_resets == 2)


@pytest.mark.parametrize("M", ["jacobi", "ic0"])
def test_recycling_with_a_preconditioner_on_poisson(M: str) -> None:
    m = 24
    A = poisson(m)
    B = np.random.default_rng(3).standard_normal((m * m, 8))
    plain = rankwise.CGSolver(A, M=M, rtol=1e-10)
    rec = rankwise.CGSolver(A, M=M, rtol=1e-10, recycle=6, harvest=16)
    its_plain, its_rec = [], []
    for j in range(B.shape[1]):
        its_plain.append(plain.solve(B[:, j]).iterations)
        res = rec.solve(B[:, j])
        assert true_residual(A, res.x, B[:, j]) <= 1e-8
        its_rec.append(res.iterations)
    assert sum(its_rec[4:]) < 0.9 * sum(its_plain[4:])
    if M == "ic0":
        return
    d = A.diagonal()
    ev = np.linalg.eigvalsh((A.toarray() / np.sqrt(d)[:, None]) / np.sqrt(d)[None, :])
    ritz = rec.ritz_values
    assert ritz is not None
    assert np.all(ritz >= ev[0] * (1 - 1e-8))
    # float32: recycled solves stay correct
    A32, b32 = A.astype(np.float32), B[:, :4].astype(np.float32)
    rec32 = rankwise.CGSolver(A32, M=M, rtol=1e-5, recycle=4)
    for j in range(4):
        res = rec32.solve(b32[:, j])
        assert res.converged
        assert res.x.dtype == np.float32
        assert true_residual(A, res.x.astype(np.float64), B[:, j]) <= 1e-4


def test_update_keeps_the_subspace_and_rebuilds_the_preconditioner() -> None:
    m = 20
    x = np.linspace(0, 1, m * m)
    mats = [poisson(m, 1 + 0.5 * np.sin(2 * np.pi * x + 0.05 * t)) for t in range(8)]
    rng = np.random.default_rng(3)
    plain = rankwise.CGSolver(mats[0], M="ic0", rtol=1e-10)
    rec = rankwise.CGSolver(mats[0], M="ic0", rtol=1e-10, recycle=5)
    total_plain = total_rec = 0
    for t, A in enumerate(mats):
        if t:
            plain.update(A)
            rec.update(A)
        b = rng.standard_normal(m * m)
        r0, r1 = plain.solve(b), rec.solve(b)
        assert true_residual(A, r1.x, b) <= 1e-8
        ref = rankwise.solve_cg(A, b, rtol=1e-10, M=rankwise.precond.ic0(A))
        assert r0.iterations == ref.iterations  # the rebuilt M is A's own IC(0)
        total_plain += r0.iterations
        total_rec += r1.iterations
    assert rec.preconditioner_builds == len(mats)
    assert total_rec < 0.85 * total_plain
    # a Preconditioner object is kept by update unless a new one is given
    M0 = rankwise.precond.jacobi(mats[0])
    fixed = rankwise.CGSolver(mats[0], M=M0)
    fixed.update(mats[1])
    assert fixed.preconditioner is M0
    M1 = rankwise.precond.jacobi(mats[1])
    fixed.update(mats[1], M=M1)
    assert fixed.preconditioner is M1
    with pytest.raises(ValueError, match="shape"):
        rec.update(poisson(m + 1))
    with pytest.raises(ValueError, match="rebuilt"):
        rec.update(mats[0], M=M1)


def test_harvests_stop_once_the_subspace_stops_paying() -> None:
    A = poisson(20)
    B = np.random.default_rng(6).standard_normal((400, 12))
    rec = rankwise.CGSolver(A, M="ic0", rtol=1e-10, recycle=6)
    its = [rec.solve(B[:, j]).iterations for j in range(12)]
    assert rec.harvests < rec.solves == 12
    assert its[-1] < its[0]


def test_recycling_with_a_block_x0_and_a_learned_omega() -> None:
    A = poisson(16)
    rng = np.random.default_rng(7)
    solver = rankwise.CGSolver(
        A, M="ssor", omega="learn", grid=(1.2, 1.6), rtol=1e-10, recycle=4, random_state=3
    )
    for _ in range(4):
        B = rng.standard_normal((256, 3))
        X0 = rng.standard_normal((256, 3))
        X0_copy = X0.copy()
        res = solver.solve(B, x0=X0)
        np.testing.assert_array_equal(X0, X0_copy)
        assert res.converged
        assert res.x.shape == (256, 3)
        for j in range(3):
            assert true_residual(A, res.x[:, j], B[:, j]) <= 1e-8
        assert solver.parameter in (1.2, 1.6)
    assert solver.deflation_space is not None
    # "Mb" start and a b of shape (n, 1) keep SciPy's conventions
    res = solver.solve(np.ones((256, 1)), x0="Mb")
    assert res.x.shape == (256, 1)
    assert true_residual(A, res.x[:, 0], np.ones(256)) <= 1e-8


def test_bandit_finds_the_clearly_best_arm() -> None:
    # arm 3 costs 10, every other arm 30 (deterministic costs): it must dominate soon
    bandit = TsallisInf(list(range(6)), seed=0)
    for _ in range(200):
        arm = bandit.choose()
        bandit.observe(arm, 10.0 if arm == 3 else 30.0)
    assert bandit.best() == 3
    assert bandit.probabilities()[3] > 0.8
    assert bandit.pulls[3] > 100
    # deterministic given the seed
    again = TsallisInf(list(range(6)), seed=0)
    for _ in range(200):
        arm = again.choose()
        again.observe(arm, 10.0 if arm == 3 else 30.0)
    np.testing.assert_array_equal(again.pulls, bandit.pulls)


def test_learned_omega_prefers_the_good_values_and_is_deterministic() -> None:
    # 1-D Poisson: SSOR with omega near 2 needs far fewer iterations than omega = 1
    n = 300
    A = sp.csr_array(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)))
    b = np.random.default_rng(4).standard_normal(n)
    grid = (1.0, 1.9)
    its = {w: rankwise.solve_cg(A, b, rtol=1e-8, M=rankwise.precond.ssor(A, w)).iterations
           for w in grid}  # fmt: skip
    assert its[1.9] < its[1.0] / 2
    runs = []
    for _ in range(2):
        solver = rankwise.CGSolver(A, M="ssor", omega="learn", grid=grid, rtol=1e-8)
        used = [solver.solve(b) and solver.parameter for _ in range(40)]
        runs.append(used)
        assert solver.pulls is not None
        assert solver.pulls[1] > solver.pulls[0]
        assert solver.probabilities is not None
        assert solver.probabilities[1] > 0.7
        assert solver.preconditioner_builds == 2  # one per grid value
    assert runs[0] == runs[1]


def test_learned_degree_counts_products() -> None:
    A = poisson(12)
    b = np.ones(144)
    solver = rankwise.CGSolver(A, M="chebyshev", degree="learn", grid=(0, 2, 40), rtol=1e-8)
    for _ in range(30):
        res = solver.solve(b)
        assert res.converged
    costs = {d: rankwise.solve_cg(A, b, rtol=1e-8, M=rankwise.precond.chebyshev(A, d))
             .iterations * (d + 1) for d in (0, 2, 40)}  # fmt: skip
    assert costs[40] > costs[2]
    pulls = solver.pulls
    assert pulls is not None
    assert pulls[2] == min(pulls)


def test_bad_input() -> None:
    A = poisson(8)
    with pytest.raises(ValueError, match="square"):
        rankwise.CGSolver(np.ones((3, 4)))
    with pytest.raises(ValueError, match="M must be one of"):
        rankwise.CGSolver(A, M="amg")
    with pytest.raises(TypeError, match="M must be"):
        rankwise.CGSolver(A, M=np.eye(64))
    with pytest.raises(ValueError, match="needs M='ssor'"):
        rankwise.CGSolver(A, M="ic0", omega="learn")
    with pytest.raises(ValueError, match="omega"):
        rankwise.CGSolver(A, M="ssor", omega=2.5)
    with pytest.raises(ValueError, match="omega"):
        rankwise.CGSolver(A, M="ssor", omega="auto")
    with pytest.raises(ValueError, match="grid"):
        rankwise.CGSolver(A, M="ssor", omega="learn", grid=(1.0, 2.0))
    with pytest.raises(ValueError, match="grid"):
        rankwise.CGSolver(A, M="ssor", grid=(1.0,))
    with pytest.raises(ValueError, match="recycle"):
        rankwise.CGSolver(A, recycle=64)
    with pytest.raises(ValueError, match="rtol"):
        rankwise.CGSolver(A, rtol=-1)
    solver = rankwise.CGSolver(A, recycle=2)
    with pytest.raises(ValueError, match="incompatible"):
        solver.solve(np.ones(63))
    with pytest.raises(ValueError, match="NaN"):
        solver.solve(np.full(64, np.nan))
    # not SPD: a clear error, and nothing harvested from the broken solve
    bad = sp.csr_array(sp.diags(np.r_[np.ones(63), -1.0]))
    broken = rankwise.CGSolver(bad, recycle=2)
    with pytest.raises(rankwise.CGBreakdownError, match="not positive definite") as exc:
        broken.solve(np.ones(64))
    assert exc.value.result.reason == "A_not_spd"
    assert broken.deflation_space is None
    assert broken.solves == 0


def test_a_rejected_call_leaves_the_learning_as_it_was() -> None:
    """A solve refused for its x0 drew from the bandit first (found by review): every
    later omega differed from the run without that call."""
    A = poisson(20)
    rng = np.random.default_rng(0)
    rhs = [rng.standard_normal(A.shape[0]) for _ in range(8)]
    runs = []
    for bad_call in (False, True):
        solver = rankwise.CGSolver(A, M="ssor", omega="learn", random_state=0)
        used = []
        for i, b in enumerate(rhs):
            if bad_call and i == 3:
                for x0 in (np.zeros(A.shape[0] + 1), np.full(A.shape[0], np.nan), "M"):
                    with pytest.raises(ValueError, match="x0"):
                        solver.solve(b, x0=x0)
            solver.solve(b)
            used.append(solver.parameter)
        runs.append((used, solver.solves, solver.preconditioner_builds))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("M", [None, "jacobi", "ic0"])
def test_deflation_space_is_orthonormal_as_documented(M: str | None) -> None:
    A = poisson(20)
    solver = rankwise.CGSolver(A, M=M, recycle=4)
    rng = np.random.default_rng(1)
    for _ in range(3):
        solver.solve(rng.standard_normal(A.shape[0]))
    W = solver.deflation_space
    assert W is not None
    gram = {None: W.T @ W, "jacobi": W.T @ (A.diagonal()[:, None] * W), "ic0": W.T @ (A @ W)}
    np.testing.assert_allclose(gram[M], np.eye(W.shape[1]), atol=1e-10)


def test_pickling_and_copying_are_refused_with_a_clear_error() -> None:
    """(pickle raised "cannot pickle '_thread.lock' object" and "cannot pickle
    'rankwise._core.Preconditioner' object")"""
    import copy
    import pickle

    A = poisson(10)
    solver = rankwise.CGSolver(A, M="ic0")
    solver.solve(np.ones(A.shape[0]))
    for obj, name in ((solver, "CGSolver"), (rankwise.precond.ic0(A), "ic0 preconditioner")):
        for action in (pickle.dumps, copy.deepcopy, copy.copy):
            with pytest.raises(TypeError, match=f"{name} cannot be pickled or copied"):
                action(obj)


def test_a_subspace_that_never_pays_is_dropped() -> None:
    """2-D Poisson 60^2 without a preconditioner, r = 4: the deflated solves took 190-211
    iterations against 185 without W, solve after solve, and W was refreshed and kept.  It is
    now dropped after three such solves in a row (a recycling reset), harvested again, and
    after the second reset recycling stops; on 40^2, where W pays from the third deflated
    solve on, it is kept."""
    for side, expected_resets in ((60, 2), (40, 0)):
        A = poisson(side)
        rng = np.random.default_rng(0)
        plain = rankwise.CGSolver(A, rtol=1e-8)
        solver = rankwise.CGSolver(A, rtol=1e-8, recycle=4)
        its, base = [], []
        for _ in range(10):
            b = rng.standard_normal(A.shape[0])
            its.append(solver.solve(b).iterations)
            base.append(plain.solve(b).iterations)
        assert solver.recycling_resets == expected_resets
        if expected_resets == 2:
            assert solver.recycle == 0
            assert its[-1] <= base[-1] + 2  # plain CG again
        else:
            assert np.mean(its[-4:]) < 0.95 * np.mean(base[-4:])
