"""Feasibility run of the update family at the Flickr-like size (80000 nodes, 12M sampled
edges): what two cores allow, outside the runner (its reference ``svds`` and the peers'
full runs would take hours there).

``python -m bench.update_big [--nodes N] [--edges E] [--k K]`` builds the graph stream of
``bench.update`` (rows then columns, 10 batches each way), runs rankwise's sparse method
(l = 10, t = 3) through all batches, and reports per-batch times, the drift estimate
(``SVDUpdater.estimate_drift``: a lower bound on err/opt - 1 from two passes over the final
matrix, instead of a reference SVD) and ||U^T U - I||; then times, for comparison, one
``rankwise.svd`` of the final matrix (what recomputing costs per batch at the end) and
IncSVD's RPI (same l, t) on the first row batch only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time

import rankwise

from .update import L_PARAM, SEED, T_PARAM, incsvd_run, make_stream, power_law_graph


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.update_big")
    parser.add_argument("--nodes", type=int, default=80_000)
    parser.add_argument("--edges", type=int, default=12_000_000)
    parser.add_argument("--k", type=int, default=64)
    args = parser.parse_args()
    t0 = time.perf_counter()
    a = power_law_graph(args.nodes, args.edges)
    stream = make_stream(a, with_columns=True)
    print(f"graph {a.shape}, nnz {a.nnz}: {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    start = rankwise.svd(stream.initial, args.k, random_state=SEED)
    print(f"initial rankwise.svd of {stream.initial.shape}: {time.perf_counter() - t0:.1f} s")
    up = rankwise.SVDUpdater(
        args.k, method="sparse", rank=L_PARAM, n_iter=T_PARAM, random_state=SEED
    ).from_factors(*start)
    times = []
    steps = [(up.add_rows, e) for e in stream.rows] + [(up.add_columns, f) for f in stream.cols]
    for add, batch in steps:
        t0 = time.perf_counter()
        add(batch)
        times.append(time.perf_counter() - t0)
    print(
        f"sparse l={L_PARAM} t={T_PARAM}: {sum(times):.1f} s for {len(times)} batches "
        f"(per batch {min(times):.2f}-{max(times):.2f} s)"
    )
    final = stream.final
    t0 = time.perf_counter()
    drift = up.estimate_drift(final)
    print(
        f"estimate_drift: {drift:.2e} ({time.perf_counter() - t0:.1f} s); "
        f"orthogonality {up.orthogonality():.0e}"
    )
    t0 = time.perf_counter()
    rankwise.svd(final, args.k, random_state=SEED)
    print(f"one rankwise.svd of the final {final.shape}: {time.perf_counter() - t0:.1f} s")
    with contextlib.suppress(ImportError):
        one = dataclasses.replace(stream, rows=stream.rows[:1], cols=[])
        t0 = time.perf_counter()
        incsvd_run(one, start, "RPI")()
        print(
            f"IncSVD RPI l={L_PARAM} t={T_PARAM}, first row batch only: "
            f"{time.perf_counter() - t0:.1f} s (ours: {times[0]:.2f} s)"
        )


if __name__ == "__main__":
    main()
