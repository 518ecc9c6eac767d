"""POD + DEIM reduction of a parametrized nonlinear reaction-diffusion problem.

The full model (Grepl, Maday, Nguyen & Patera 2007; Chaturantabut & Sorensen 2010):

    -Laplace(u) + g(u; mu) = f   on the unit square, u = 0 on the boundary,
    g(u; mu) = mu_0 / mu_1 (exp(mu_1 u) - 1),   f = 100 sin(2 pi x) sin(2 pi y),

with mu in [0.01, 10]^2, discretized by finite differences on a 79 x 79 interior grid and
solved by Newton's method with a sparse LU per step.  The reduced model solves for the
coefficients of the solution in a POD basis V (``rankwise.svd`` of solution snapshots) and
evaluates the nonlinear term only at the DEIM points of a POD basis W of g-snapshots
(``rankwise.deim``): the online cost no longer depends on the grid size.  Reported over
fresh parameters: the error of the POD-DEIM model against the full model, the error of
POD-Galerkin with the exact nonlinear term (the best DEIM can do), and the online speedup.

Run from the repository root: ``python examples/deim_reaction_diffusion.py`` (about 15 s).
"""

from __future__ import annotations

import time

import numpy as np
import rankwise
import scipy.sparse as sp
import scipy.sparse.linalg as spla

GRID = 79  # interior points per direction
RANKS = (4, 8, 12, 16)  # POD and DEIM dimensions compared


def laplacian(n: int) -> sp.csc_matrix:
    h = 1.0 / (n + 1)
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]) / h**2
    eye = sp.eye(n)
    return (sp.kron(T, eye) + sp.kron(eye, T)).tocsc()


K = laplacian(GRID)
xs = np.linspace(0, 1, GRID + 2)[1:-1]
X, Y = np.meshgrid(xs, xs, indexing="ij")
F = (100 * np.sin(2 * np.pi * X) * np.sin(2 * np.pi * Y)).ravel()


def g(u: np.ndarray, mu: np.ndarray) -> np.ndarray:
    return mu[0] / mu[1] * np.expm1(mu[1] * u)


def dg(u: np.ndarray, mu: np.ndarray) -> np.ndarray:
    return mu[0] * np.exp(mu[1] * u)


def full_solve(mu: np.ndarray) -> np.ndarray:
    u = np.zeros(K.shape[0])
    for _ in range(30):
        r = K @ u + g(u, mu) - F
        if np.linalg.norm(r) <= 1e-10 * np.linalg.norm(F):
            break
        u -= spla.splu((K + sp.diags(dg(u, mu))).tocsc()).solve(r)
    return u


class ReducedModel:
    """Galerkin projection on V; the nonlinear term by DEIM on W (or exactly)."""

    def __init__(self, V: np.ndarray, W: np.ndarray | None) -> None:
        self.V = V
        self.Kr = V.T @ (K @ V)
        self.Fr = V.T @ F
        if W is None:
            self.points = None
            return
        sel = rankwise.deim(W)
        self.points = sel.points
        self.Vp = V[sel.points]  # V at the points: all the online model sees of the grid
        self.P = V.T @ W @ np.linalg.inv(sel.interpolation_matrix)  # k x m, offline

    def solve(self, mu: np.ndarray) -> np.ndarray:
        a = np.zeros(self.V.shape[1])
        for _ in range(30):
            if self.points is None:  # exact nonlinear term: O(n) per step
                u = self.V @ a
                r = self.Kr @ a + self.V.T @ g(u, mu) - self.Fr
                J = self.Kr + self.V.T @ (dg(u, mu)[:, None] * self.V)
            else:  # DEIM: m point evaluations per step
                up = self.Vp @ a
                r = self.Kr @ a + self.P @ g(up, mu) - self.Fr
                J = self.Kr + self.P @ (dg(up, mu)[:, None] * self.Vp)
            step = np.linalg.solve(J, r)
            a -= step
            if np.linalg.norm(step) <= 1e-12 * max(np.linalg.norm(a), 1.0):
                break
        return a


def main() -> None:
    grid = np.linspace(0.01, 10, 6)
    train = [np.array([a, b]) for a in grid for b in grid]
    start = time.perf_counter()
    U = np.stack([full_solve(mu) for mu in train], axis=1)
    G = np.stack([g(U[:, j], mu) for j, mu in enumerate(train)], axis=1)
    offline = time.perf_counter() - start
    rng = np.random.default_rng(1)
    test = [rng.uniform(0.01, 10, 2) for _ in range(20)]
    start = time.perf_counter()
    truth = [full_solve(mu) for mu in test]
    t_full = (time.perf_counter() - start) / len(test)
    print(
        f"full model: {K.shape[0]} unknowns, {t_full * 1e3:.1f} ms per solve; "
        f"{len(train)} training solves in {offline:.1f} s"
    )
    print(
        f"{'k = m':>6} {'POD-DEIM rel. error':>20} {'POD exact-g error':>18} "
        f"{'DEIM solve ms':>14} {'speedup':>8}"
    )
    Vall, _, _ = rankwise.svd(U, max(RANKS), random_state=0)
    Wall, _, _ = rankwise.svd(G, max(RANKS), random_state=0)
    for k in RANKS:
        deim_model = ReducedModel(Vall[:, :k], Wall[:, :k])
        exact_model = ReducedModel(Vall[:, :k], None)
        errs, errs_exact = [], []
        start = time.perf_counter()
        coeffs = [deim_model.solve(mu) for mu in test]
        t_rom = (time.perf_counter() - start) / len(test)
        for mu, u, a in zip(test, truth, coeffs, strict=True):
            errs.append(np.linalg.norm(deim_model.V @ a - u) / np.linalg.norm(u))
            ue = exact_model.V @ exact_model.solve(mu)
            errs_exact.append(np.linalg.norm(ue - u) / np.linalg.norm(u))
        print(
            f"{k:>6} {np.mean(errs):>20.2e} {np.mean(errs_exact):>18.2e} "
            f"{t_rom * 1e3:>14.3f} {t_full / t_rom:>8.0f}x"
        )


if __name__ == "__main__":
    main()
