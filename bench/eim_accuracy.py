"""DEIM accuracy on the function of Chaturantabut & Sorensen (2010, Section 3.3.1):
``python -m bench.eim_accuracy``.

s(x; mu) = (1 - x) cos(3 pi mu (x + 1)) exp(-(1 + x) mu) on 100 points in [-1, 1], 51
training parameters in [1, pi].  For m = 1..20: the POD basis U_m (``rankwise.svd`` of the
snapshots, rank m), the DEIM, Q-DEIM and greedy-EIM interpolants with m terms, and the mean
error ||s - interpolant||_2 over 100 fresh parameters against the mean POD projection error
||s - U_m U_m^T s||_2 (the paper's Figure 3.2 compares the same two quantities).  Writes
``bench/eim_accuracy.png`` and prints the numbers as a Markdown table.  No timing: this
needs no quiet machine.

Second table, noisy values: m = 20 terms, the values at the points carry independent
Gaussian noise of standard deviation sigma (max |s| is about 2); mean ||s - reconstruction||_2
over the 100 fresh parameters x 20 noise draws, for the plain interpolants (DEIM, ODEIM with
40 points, greedy EIM) and the same after ``stabilize(sigma, snapshots)`` (the 51 training
snapshots as the prior), and also with the noise level estimated from the values, pooled
over the 2000 fields of the call: for ODEIM from the least-squares residual
(``stabilize("estimate", snapshots)``), for DEIM and EIM (square: no residual) by maximum
marginal likelihood under the snapshots' prior (``stabilize("ml", snapshots)``).
"""

import argparse
from pathlib import Path

import numpy as np

X = np.linspace(-1, 1, 100)
TRAIN = np.linspace(1, np.pi, 51)
TERMS = range(1, 21)


def s(mu: float) -> np.ndarray:
    return (1 - X) * np.cos(3 * np.pi * mu * (X + 1)) * np.exp(-(1 + X) * mu)


def curves() -> dict[str, np.ndarray]:
    """Mean errors over fresh parameters per method, for m in TERMS."""
    import rankwise

    S = np.stack([s(mu) for mu in TRAIN], axis=1)
    fresh = np.stack([s(mu) for mu in np.random.default_rng(0).uniform(1, np.pi, 100)], axis=1)
    U_all, _, _ = np.linalg.svd(S, full_matrices=False)
    out: dict[str, list[float]] = {"POD projection": [], "DEIM": [], "Q-DEIM": [], "EIM": []}
    ei_full = rankwise.eim(S, max_terms=max(TERMS))
    for m in TERMS:
        U = U_all[:, :m]
        proj = fresh - U @ (U.T @ fresh)
        out["POD projection"].append(float(np.linalg.norm(proj, axis=0).mean()))
        for name, sel in (("DEIM", rankwise.deim(U)), ("Q-DEIM", rankwise.qdeim(U))):
            err = fresh - sel(fresh[sel.points])
            out[name].append(float(np.linalg.norm(err, axis=0).mean()))
        # greedy EIM on the snapshots, first m terms (the greedy is nested)
        ei = rankwise.PointInterpolant(ei_full.basis[:, :m], ei_full.points[:m])
        err = fresh - ei(fresh[ei.points])
        out["EIM"].append(float(np.linalg.norm(err, axis=0).mean()))
    return {k: np.asarray(v) for k, v in out.items()}


NOISE_TERMS = 20
NOISE_LEVELS = (0.0, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
NOISE_DRAWS = 20


def noise_curves() -> dict[str, np.ndarray]:
    """Mean errors with noisy values, plain against stabilized, per sigma in NOISE_LEVELS."""
    import rankwise

    S = np.stack([s(mu) for mu in TRAIN], axis=1)
    fresh = np.stack([s(mu) for mu in np.random.default_rng(0).uniform(1, np.pi, 100)], axis=1)
    fresh = np.repeat(fresh, NOISE_DRAWS, axis=1)
    U = np.linalg.svd(S, full_matrices=False)[0][:, :NOISE_TERMS]
    interpolants = {
        "DEIM": rankwise.deim(U),
        "ODEIM 2m": rankwise.odeim(U, 2 * NOISE_TERMS),
        "EIM": rankwise.eim(S, max_terms=NOISE_TERMS),
    }
    out: dict[str, list[float]] = {}
    for sigma in NOISE_LEVELS:
        for name, plain in interpolants.items():
            noise = np.random.default_rng(1).standard_normal((plain.n_points, fresh.shape[1]))
            values = fresh[plain.points] + sigma * noise
            variants = [("", plain), (" stabilized", plain.stabilize(sigma, S))]
            if plain.n_points > plain.n_basis:  # the noise level estimated from the values
                variants.append((" stabilized, estimated sigma", plain.stabilize("estimate", S)))
            else:  # by maximum marginal likelihood (no residual to estimate it from)
                variants.append((" stabilized, ML sigma", plain.stabilize("ml", S)))
            for label, interp in variants:
                err = np.linalg.norm(interp(values) - fresh, axis=0).mean()
                out.setdefault(name + label, []).append(float(err))
    return {k: np.asarray(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, default=Path(__file__).with_name("eim_accuracy.png"))
    args = parser.parse_args(argv)
    data = curves()
    names = list(data)
    print("| m | " + " | ".join(names) + " |")
    print("| ---: | " + " | ".join("---:" for _ in names) + " |")
    for i, m in enumerate(TERMS):
        print(f"| {m} | " + " | ".join(f"{data[n][i]:.2e}" for n in names) + " |")
    noisy = noise_curves()
    print(f"\nnoisy values, m = {NOISE_TERMS}: mean ||s - reconstruction||_2")
    print("| sigma | " + " | ".join(noisy) + " |")
    print("| ---: | " + " | ".join("---:" for _ in noisy) + " |")
    for i, sigma in enumerate(NOISE_LEVELS):
        print(f"| {sigma:.0e} | " + " | ".join(f"{noisy[n][i]:.2e}" for n in noisy) + " |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, style in zip(names, ("k-", "o-", "s--", "^:"), strict=True):
        ax.semilogy(list(TERMS), data[name], style, label=name, markersize=4)
    ax.set_xlabel("m (basis vectors = interpolation points)")
    ax.set_ylabel("mean ||s - approximation||_2 over 100 fresh mu")
    ax.set_title("Chaturantabut & Sorensen 2010, Section 3.3.1")
    ax.legend()
    levels = np.asarray(NOISE_LEVELS[1:])
    for name, color in zip(("DEIM", "ODEIM 2m", "EIM"), ("C0", "C1", "C2"), strict=True):
        ax2.loglog(levels, noisy[name][1:], "o-", color=color, label=name, markersize=4)
        ax2.loglog(
            levels,
            noisy[name + " stabilized"][1:],
            "s--",
            color=color,
            label=name + " stabilized",
            markersize=4,
        )
    ax2.set_xlabel("noise standard deviation sigma at the points")
    ax2.set_ylabel("mean ||s - reconstruction||_2")
    ax2.set_title(f"noisy values, m = {NOISE_TERMS}")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=80)
    print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
