"""rankwise and its peers while other processes keep the cores busy.

``python -m bench.under_load [--busy 0 1 2] [--rounds 3]`` starts that many busy-looping
processes beside the timings and runs each contender in a fresh process: rankwise as
shipped, rankwise with libgomp's default spin-wait (``GOMP_SPINCOUNT=300000``, what it had
before rankwise/_openmp.py shortened it), and the peer a user would otherwise call.  Each
run prints the best of three calls after a warm-up; the table gives the medians over the
rounds (the contenders alternate within a round) in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

LIBGOMP_DEFAULT_SPIN = "300000"
CONTENDERS = ("rankwise", "rankwise, long spin", "peer")


def _problems() -> dict[str, tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """case -> (peer's name, rankwise call, peer call)."""
    import numpy as np
    import rankwise
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    S = sp.random(20000, 5000, density=2e-3, random_state=0, format="csr")
    G = np.random.default_rng(0).standard_normal((1200, 300))
    D = np.random.default_rng(1).standard_normal((4000, 1000))
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(300, 300))
    P = (sp.kron(sp.eye(300), T) + sp.kron(T, sp.eye(300))).tocsr()
    b = np.ones(P.shape[0])
    cases = {
        "svds sparse 20000x5000 k=10": (
            "scipy svds (arpack)",
            lambda: rankwise.svds(S, 10, rng=0),
            lambda: spla.svds(S, 10, rng=0),
        ),
        "svds dense 1200x300 k=10": (
            "scipy svds (arpack)",
            lambda: rankwise.svds(G, 10, rng=0),
            lambda: spla.svds(G, 10, rng=0),
        ),
        "cg Poisson 300x300 rtol=1e-8": (
            "scipy cg",
            lambda: rankwise.cg(P, b, rtol=1e-8),
            lambda: spla.cg(P, b, rtol=1e-8),
        ),
    }
    try:
        from sklearn.utils.extmath import randomized_svd
    except ImportError:
        return cases
    cases["randomized svd dense 4000x1000 k=20"] = (
        "sklearn randomized_svd",
        lambda: rankwise.randomized_svd(D, 20, random_state=0),
        lambda: randomized_svd(D, 20, random_state=0),
    )
    cases["randomized svd sparse 20000x5000 k=20"] = (
        "sklearn randomized_svd",
        lambda: rankwise.randomized_svd(S, 20, random_state=0),
        lambda: randomized_svd(S, 20, random_state=0),
    )
    return cases


def _worker(contender: str) -> None:
    """Times every case for one contender; prints {case: [peer's name, ms]} as JSON."""
    out = {}
    for case, (peer_name, ours, peer) in _problems().items():
        call = peer if contender == "peer" else ours
        call()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        out[case] = [peer_name, 1000 * min(times)]
    print(json.dumps(out))


def _run(contender: str) -> dict[str, list[Any]]:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    if contender == "rankwise, long spin":
        env["GOMP_SPINCOUNT"] = LIBGOMP_DEFAULT_SPIN
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "bench.under_load", "--worker", contender],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.under_load", description=__doc__)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker)
        return
    print(f"{os.cpu_count()} cores; {args.rounds} rounds; best of 3 calls per run, ms\n")
    print(
        "| case | busy processes | rankwise | rankwise, long spin | peer | long / short "
        "spin | rankwise / peer |"
    )
    print("| --- | --: | --: | --: | --: | --: | --: |")
    for busy in args.busy:
        loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
        try:
            time.sleep(0.5)
            runs: dict[str, list[dict[str, list[Any]]]] = {c: [] for c in CONTENDERS}
            for _ in range(args.rounds):
                for contender in CONTENDERS:
                    runs[contender].append(_run(contender))
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
        for case, (peer, _) in runs["peer"][0].items():
            ms = {c: statistics.median(r[case][1] for r in runs[c]) for c in CONTENDERS}
            ours, long_spin, theirs = (ms[c] for c in CONTENDERS)
            print(
                f"| {case} | {busy} | {ours:.0f} | {long_spin:.0f} | {theirs:.0f} ({peer}) | "
                f"{long_spin / ours:.2f} | {ours / theirs:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
