"""Nonintrusive reduction of a diffusion problem with a non-affine coefficient: matrix_eim.

    -div(k(x, y; mu) grad u) = 1   on the unit square, u = 0 on the boundary,
    k(x, y; mu) = 1 + mu_0 exp(-((x - mu_1)^2 + (y - 0.5)^2) / 0.02),

mu in [1, 20] x [0.2, 0.8], finite differences (5-point stencil, face coefficients at the
midpoints) on a 99 x 99 interior grid.  ``rankwise.matrix_eim`` sees only the assembly
routine, and online only the entries it asks for (``entry_function``): it returns
A(mu) ~ sum_m beta_m(mu) A(mu_m), whose projections V^T A(mu_m) V on a POD basis V of
solutions (``rankwise.svd``) give a reduced model assembled in O(M k^2) per parameter.
Reported: the number of terms against the tolerance, the error of the approximated matrix,
the reduced solution against the full solve (bounded below by the POD projection error of
the basis), and the online times: forming A(mu) from the expansion against assembling it,
and the reduced solve against the full one.

Run from the repository root: ``python examples/matrix_eim_diffusion.py`` (about 20 s);
``--grid 447 --positions 61`` gives a matrix of 1e6 nonzeros (a few minutes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rankwise
import scipy.sparse as sp
import scipy.sparse.linalg as spla

_parser = argparse.ArgumentParser(description="matrix_eim on a diffusion problem")
_parser.add_argument("--grid", type=int, default=99, help="interior points per direction")
_parser.add_argument("--positions", type=int, default=121, help="training values of mu_1")
_ARGS = _parser.parse_args()
GRID = _ARGS.grid
H = 1.0 / (GRID + 1)


def coefficient(x: np.ndarray, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    return 1 + mu[0] * np.exp(-((x - mu[1]) ** 2 + (y - 0.5) ** 2) / 0.02)


def _coords(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.divmod(index, GRID)
    return (i + 1) * H, (j + 1) * H


def entries(mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A(mu)[rows, cols] from the coefficient alone (no assembly)."""
    xr, yr = _coords(rows)
    out = np.empty(rows.shape)
    diag = rows == cols
    # diagonal: the sum of the four face coefficients around the node
    xd, yd = xr[diag], yr[diag]
    out[diag] = (
        coefficient(xd + H / 2, yd, mu)
        + coefficient(xd - H / 2, yd, mu)
        + coefficient(xd, yd + H / 2, mu)
        + coefficient(xd, yd - H / 2, mu)
    ) / H**2
    xc, yc = _coords(cols[~diag])
    # off-diagonal: minus the coefficient at the face between the two nodes
    out[~diag] = -coefficient((xr[~diag] + xc) / 2, (yr[~diag] + yc) / 2, mu) / H**2
    return out


def _pattern() -> tuple[np.ndarray, np.ndarray]:
    n = GRID * GRID
    idx = np.arange(n)
    i, j = np.divmod(idx, GRID)
    rows, cols = [idx], [idx]
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ok = (i + di >= 0) & (i + di < GRID) & (j + dj >= 0) & (j + dj < GRID)
        rows.append(idx[ok])
        cols.append(((i + di) * GRID + j + dj)[ok])
    return np.concatenate(rows), np.concatenate(cols)


ROWS, COLS = _pattern()


def assemble(mu: np.ndarray) -> sp.csr_matrix:
    n = GRID * GRID
    return sp.csr_matrix((entries(mu, ROWS, COLS), (ROWS, COLS)), shape=(n, n))


def main() -> None:
    rng = np.random.default_rng(0)
    # POD on 36 full solves; matrix_eim on a finer set (assembly only, no solves): the
    # bump's position mu_1 enters non-affinely and needs many samples
    pod_train = [np.array([a, b]) for a in np.linspace(1, 20, 6) for b in np.linspace(0.2, 0.8, 6)]
    train = [np.array([a, b]) for a in (1.0, 20.0) for b in np.linspace(0.2, 0.8, _ARGS.positions)]
    test = [np.array([rng.uniform(1, 20), rng.uniform(0.2, 0.8)]) for _ in range(10)]
    b = np.ones(GRID * GRID)
    start = time.perf_counter()
    U = np.stack([spla.spsolve(assemble(mu).tocsc(), b) for mu in pod_train], axis=1)
    V, _, _ = rankwise.svd(U, 30, random_state=0)
    print(
        f"A(mu): {GRID**2} x {GRID**2}, {assemble(train[0]).nnz} nonzeros; "
        f"{len(pod_train)} training solves + POD in {time.perf_counter() - start:.1f} s"
    )
    print(
        f"{'tol':>8} {'terms':>5} {'matrix err':>11} {'ROM err':>9} {'POD err':>8} "
        f"{'offline s':>9} {'expand ms':>9} {'assemble ms':>11} {'ROM ms':>7} {'full ms':>8}"
    )
    for tol in (1e-2, 1e-3, 1e-4, 1e-6):
        start = time.perf_counter()
        approx = rankwise.matrix_eim(assemble, train, tol=tol, entry_function=entries)
        reduced = approx.project(V)  # M x k x k
        Fr = V.T @ b
        offline = time.perf_counter() - start
        mat_err, rom_err, pod_err = [], [], []
        t_exp = t_asm = t_rom = t_full = 0.0
        for mu in test:
            t0 = time.perf_counter()
            A_approx = approx.assemble(mu)
            t1 = time.perf_counter()
            A = assemble(mu)
            t2 = time.perf_counter()
            a = np.linalg.solve(np.tensordot(approx.beta(mu), reduced, 1), Fr)
            t3 = time.perf_counter()
            u = spla.spsolve(A.tocsc(), b)
            t4 = time.perf_counter()
            t_exp, t_asm, t_rom, t_full = (
                t_exp + t1 - t0,
                t_asm + t2 - t1,
                t_rom + t3 - t2,
                t_full + t4 - t3,
            )
            mat_err.append(abs(A_approx - A).max() / abs(A).max())
            rom_err.append(np.linalg.norm(V @ a - u) / np.linalg.norm(u))
            pod_err.append(np.linalg.norm(V @ (V.T @ u) - u) / np.linalg.norm(u))
        n = len(test)
        print(
            f"{tol:>8.0e} {approx.n_terms:>5} {max(mat_err):>11.1e} {max(rom_err):>9.1e} "
            f"{max(pod_err):>8.1e} {offline:>9.2f} {t_exp / n * 1e3:>9.2f} "
            f"{t_asm / n * 1e3:>11.2f} {t_rom / n * 1e3:>7.3f} {t_full / n * 1e3:>8.1f}"
        )


if __name__ == "__main__":
    main()
