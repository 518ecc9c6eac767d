"""DEIM accuracy on the function of Chaturantabut & Sorensen (2010, Section 3.3.1):
``python -m bench.eim_accuracy``.

s(x; mu) = (1 - x) cos(3 pi mu (x + 1)) exp(-(1 + x) mu) on 100 points in [-1, 1], 51
training parameters in [1, pi].  For m = 1..20: the POD basis U_m (``rankwise.svd`` of the
snapshots, rank m), the DEIM, Q-DEIM and greedy-EIM interpolants with m terms, and the mean
error ||s - interpolant||_2 over 100 fresh parameters against the mean POD projection error
||s - U_m U_m^T s||_2 (the paper's Figure 3.2 compares the same two quantities).  Writes
``bench/eim_accuracy.png`` and prints the numbers as a Markdown table.  No timing: this
needs no quiet machine.
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, style in zip(names, ("k-", "o-", "s--", "^:"), strict=True):
        ax.semilogy(list(TERMS), data[name], style, label=name, markersize=4)
    ax.set_xlabel("m (basis vectors = interpolation points)")
    ax.set_ylabel("mean ||s - approximation||_2 over 100 fresh mu")
    ax.set_title("Chaturantabut & Sorensen 2010, Section 3.3.1")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=80)
    print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
