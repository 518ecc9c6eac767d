"""Updating truncated SVD family: Deng et al.'s experiment (ICLR 2024) on generated graphs.

A power-law graph (Chung-Lu: node i has expected degree proportional to
(i + 1)^-1/2, node labels shuffled, symmetric 0/1 adjacency, float64 CSR) of N
nodes. The initial rank-k SVD is taken of the top-left block of N/2 nodes (the
same factors for every contender, from ``rankwise.svd``); the other nodes then
arrive as new rows in 10 batches and new columns in 10 batches ("rows+cols"
cases), or as new rows only ("rows" cases, where scikit-learn's
``IncrementalPCA.partial_fit`` also fits the problem), or, starting from the whole
graph, 10 low-rank corrections A + B C^T that each add new edges (B, C sparse unit
columns; IncSVD's ``update_weight``) ("A+BC^T" cases). Each contender call runs
all batches, so the time is the total update time (per batch: divide by the
batch count).

Contenders (timed round-robin in one run): rankwise's three methods, recomputing
``rankwise.svd`` after every batch, and the authors' package IncSVD
(``EvolvingMatrix``, sparse RPI with l = 10, t = 3, started from the same
factors; it seeds from the global ``np.random``, which is seeded before each
call, and its prints are silenced). IncSVD's sparse Zha-Simon (a pure-Python QR
loop, ~35 s per batch at 20000 nodes) is not run.

Metrics on the final matrix, against its top-k singular values from
``rankwise.svds`` (to working accuracy): ``err/opt`` = ||A - U S Vt||_F /
||A - A_k||_F (1 is optimal), ``sv err`` = max_i |s_i - sigma_i| / sigma_i,
``orth`` = max(||U^T U - I||_F, ||V^T V - I||_F). ``python -m bench.update_trace``
records accuracy and cumulative time after every batch (plot and table).

The floor is the time to read the update batches and write the final factors
once at memory bandwidth: a lower bound that no update method can beat.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import rankwise
import scipy.sparse as sp

from .case import Assessment, Case, Contender, Metric, Mode, Skip, SpeedupTarget, Workload
from .machine import Limits, bandwidth_probe

PACKAGES = ("rankwise", "scipy", "IncSVD", "scikit-learn")

SEED = 0
BATCHES = 10
L_PARAM, T_PARAM = 10, 3  # IncSVD's RPI parameters, used by rankwise's methods too
BASELINE = "rankwise sparse l=10 t=3"

METRICS = (Metric("err_opt", "err/opt", "||A - U S Vt||_F / ||A - A_k||_F (1 is optimal)", ".4f"),)
"""The speed targets compare err/opt (the issue's "accuracy"); the singular values' error
(sv = max_i |s_i - sigma_i| / sigma_i over the top k) and the loss of orthogonality
(orth = max(||U^T U - I||_F, ||V^T V - I||_F)) are reported in the note column."""


def _assessment(metrics: dict[str, float]) -> Assessment:
    note = f"sv {metrics['sv_err']:.1e}, orth {metrics['orth']:.0e}"
    return Assessment({"err_opt": metrics["err_opt"]}, note)


Factors = tuple[np.ndarray, np.ndarray, np.ndarray]
AfterBatch = Callable[[int, Callable[[], Factors] | None], None]
"""Called after batch i with a function returning the current factors (bench.update_trace)."""


@lru_cache(maxsize=1)
def power_law_graph(nodes: int, edges: int, seed: int = SEED) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency (float64 CSR) of a Chung-Lu graph with ``edges``
    sampled edges (self-loops dropped, repeats merged) and shuffled labels."""
    rng = np.random.default_rng(seed)
    w = (np.arange(nodes) + 1.0) ** -0.5
    p = w / w.sum()
    src = rng.choice(nodes, edges, p=p)
    dst = rng.choice(nodes, edges, p=p)
    perm = rng.permutation(nodes)
    src, dst = perm[src], perm[dst]
    keep = src != dst
    a = sp.coo_matrix(
        (np.ones(2 * keep.sum()), (np.r_[src[keep], dst[keep]], np.r_[dst[keep], src[keep]])),
        shape=(nodes, nodes),
    ).tocsr()
    a.sum_duplicates()
    a.data[:] = 1.0
    return a


@dataclass(frozen=True)
class Stream:
    """The batches of one scenario, and the matrix after each of them."""

    initial: sp.csr_matrix
    rows: list[sp.csr_matrix]  # each r x n0
    cols: list[sp.csc_matrix]  # each m x r
    after: list[sp.csr_matrix]  # the matrix after each batch
    final: sp.csr_matrix
    corrections: tuple[tuple[sp.csc_matrix, sp.csc_matrix], ...] = ()  # (B, C): A + B C^T


def make_corrections(nodes: int, edges: int, per_batch: int) -> Stream:
    """The whole graph, then BATCHES low-rank corrections A + B C^T, each adding
    ``per_batch`` new edges (B = unit columns at the sources, C at the targets: sparse)."""
    a = power_law_graph(nodes, edges)
    rng = np.random.default_rng(SEED + 2)
    corrections, after, cur = [], [], a.copy()
    cols = np.arange(per_batch)
    for _ in range(BATCHES):
        src, dst = rng.integers(0, nodes, per_batch), rng.integers(0, nodes, per_batch)
        b = sp.csc_matrix((np.ones(per_batch), (src, cols)), shape=(nodes, per_batch))
        c = sp.csc_matrix((np.ones(per_batch), (dst, cols)), shape=(nodes, per_batch))
        corrections.append((b, c))
        cur = sp.csr_matrix(cur + b @ c.T)
        after.append(cur)
    return Stream(a, [], [], after, after[-1], tuple(corrections))


def make_stream(nodes: int, edges: int, with_columns: bool) -> Stream:
    a = power_law_graph(nodes, edges)
    h = nodes // 2
    cuts = np.linspace(h, nodes, BATCHES + 1).astype(int)
    rows = [sp.csr_matrix(a[i:j, :h]) for i, j in itertools.pairwise(cuts)]
    after = [sp.csr_matrix(a[:j, :h]) for j in cuts[1:]]
    cols: list[sp.csc_matrix] = []
    if with_columns:
        ac = sp.csc_matrix(a)
        cols = [sp.csc_matrix(ac[:, i:j]) for i, j in itertools.pairwise(cuts)]
        after += [sp.csr_matrix(a[:, :j]) for j in cuts[1:]]
    return Stream(sp.csr_matrix(a[:h, :h]), rows, cols, after, after[-1])


def initial_factors(stream: Stream, k: int) -> Factors:
    return rankwise.svd(stream.initial, k, random_state=SEED)


def reference_sigma(a: sp.csr_matrix, k: int) -> np.ndarray:
    s = rankwise.svds(a, k, return_singular_vectors=False, rng=SEED + 1)
    return np.sort(s)[::-1]


def accuracy(a: sp.csr_matrix, sigma: np.ndarray, out: Factors) -> dict[str, float]:
    """err/opt from ||A - L R||^2 = ||A||^2 - 2 <L, A R^T> + <L^T L, R R^T>; sv err; orth."""
    u, s, vt = (np.asarray(x, dtype=np.float64) for x in out)
    frob2 = float(np.sum(a.data**2))
    left = u * s
    res2 = (
        frob2 - 2 * float(np.sum(left * (a @ vt.T))) + float(np.sum((left.T @ left) * (vt @ vt.T)))
    )
    opt2 = max(frob2 - float(np.sum(sigma**2)), np.finfo(float).tiny)
    k = len(s)
    eye = np.eye(k)
    orth = max(np.linalg.norm(u.T @ u - eye), np.linalg.norm(vt @ vt.T - eye))
    return {
        "err_opt": math.sqrt(max(res2, 0.0) / opt2),
        "sv_err": float(np.max(np.abs(np.sort(s)[::-1] - sigma[:k]) / sigma[:k])),
        "orth": float(orth),
    }


# -- contenders: each returns a function that runs every batch from the same start -----------
def rankwise_run(
    stream: Stream, start: Factors, method: str, **kw: int
) -> Callable[[AfterBatch | None], Factors]:
    k = len(start[1])

    def run(after_batch: AfterBatch | None = None) -> Factors:
        up = rankwise.SVDUpdater(k, method=method, random_state=SEED, **kw)
        up.from_factors(*start)
        for i, e in enumerate(stream.rows):
            up.add_rows(e)
            if after_batch is not None:
                after_batch(i, up.svd)
        for j, f in enumerate(stream.cols):
            up.add_columns(f)
            if after_batch is not None:
                after_batch(len(stream.rows) + j, up.svd)
        for j, (b, c) in enumerate(stream.corrections):
            up.update(b, c)
            if after_batch is not None:
                after_batch(j, up.svd)
        return up.svd()

    return run


def recompute_run(stream: Stream, start: Factors) -> Callable[..., Factors]:
    k = len(start[1])

    def run(after_batch: AfterBatch | None = None) -> Factors:
        out = start
        for i, a in enumerate(stream.after):
            out = rankwise.svd(a, k, random_state=SEED)
            if after_batch is not None:
                after_batch(i, lambda out=out: out)
        return out

    return run


def incsvd_run(stream: Stream, start: Factors) -> Callable[..., Factors]:
    from IncSVD.EvolvingMatrix import EvolvingMatrix

    u0, s0, vt0 = start
    k = len(s0)

    def run(after_batch: AfterBatch | None = None) -> Factors:
        # EvolvingMatrix's constructor computes its own svds; start it from ours instead
        em = EvolvingMatrix.__new__(EvolvingMatrix)
        em._m, em._n = u0.shape[0], vt0.shape[1]
        em._sparse, em._method_dict, em._method = True, {"ZhaSimon": 1, "GKL": 2, "RPI": 3}, 3
        em._k_dim = k
        em._Uk, em._sigmak, em._Vk = u0.copy(), s0.copy(), vt0.T.copy()
        em._Ku, em._Kv = np.eye(k), np.eye(k)
        em._inverted_index = [0] * max(em._m, em._n)
        np.random.seed(SEED)  # noqa: NPY002 - IncSVD draws from the global generator
        with contextlib.redirect_stdout(io.StringIO()):
            for i, e in enumerate(stream.rows):
                em.add_row(e, l=L_PARAM, t=T_PARAM)
                if after_batch is not None:
                    after_batch(i, lambda: (em.Uk, em.Sigmak, em.Vk.T))
            for j, f in enumerate(stream.cols):
                em.add_column(f, l=L_PARAM, t=T_PARAM)
                if after_batch is not None:
                    after_batch(len(stream.rows) + j, lambda: (em.Uk, em.Sigmak, em.Vk.T))
            for j, (b, c) in enumerate(stream.corrections):
                em.update_weight(b, c, l=L_PARAM, t=T_PARAM)
                if after_batch is not None:
                    after_batch(j, lambda: (em.Uk, em.Sigmak, em.Vk.T))
        return em.Uk, em.Sigmak, em.Vk.T

    return run


def ipca_run(stream: Stream, start: Factors) -> Callable[..., Factors]:
    """scikit-learn IncrementalPCA.partial_fit on the rows, as dense batches (it needs
    them).  It cannot start from given factors, so its call includes partial_fit of the
    initial block.  Its result is the projection of the final matrix onto its components
    (uncentered, which favours it in err/opt)."""
    from sklearn.decomposition import IncrementalPCA

    k = len(start[1])

    def run(after_batch: AfterBatch | None = None) -> Factors:
        ipca = IncrementalPCA(n_components=k)
        ipca.partial_fit(stream.initial.toarray())
        for i, e in enumerate(stream.rows):
            ipca.partial_fit(e.toarray())
            if after_batch is not None:
                after_batch(i, None)  # IncrementalPCA: no SVD of the current matrix
        vt = ipca.components_
        # U S = A V for the final matrix (projection onto the components)
        a = stream.final
        left = np.asarray(a @ vt.T)
        q, r = np.linalg.qr(left)
        uu, s, wt = np.linalg.svd(r @ vt, full_matrices=False)
        return q @ uu[:, :k], s[:k], wt[:k]

    return run


def _contender_runs(
    stream: Stream, start: Factors, rows_only: bool, dense_peers: bool = True
) -> dict[str, Callable]:
    k = len(start[1])
    runs: dict[str, Callable] = {
        BASELINE: rankwise_run(stream, start, "sparse", rank=L_PARAM, n_iter=T_PARAM),
        f"rankwise sparse l={k} t=2": rankwise_run(stream, start, "sparse", rank=k, n_iter=2),
    }
    if dense_peers:
        runs["rankwise zha-simon"] = rankwise_run(stream, start, "zha-simon")
        runs["rankwise vecharynski-saad l=10 t=3"] = rankwise_run(
            stream, start, "vecharynski-saad", rank=L_PARAM, n_iter=T_PARAM
        )
    runs["recompute rankwise.svd"] = recompute_run(stream, start)
    with contextlib.suppress(ImportError):
        runs["IncSVD RPI l=10 t=3"] = incsvd_run(stream, start)
    if rows_only:
        with contextlib.suppress(ImportError):
            runs["sklearn IncrementalPCA"] = ipca_run(stream, start)
    return runs


@dataclass(frozen=True)
class Scenario:
    nodes: int
    edges: int
    k: int
    rows_only: bool
    dense_peers: bool = True  # the methods that densify the residual (nodes/2 x batch)
    corrections: int = 0  # > 0: low-rank corrections of this many new edges per batch

    def prepare(self, limits: Limits) -> Workload:
        if self.corrections:
            stream = make_corrections(self.nodes, self.edges, self.corrections)
        else:
            stream = make_stream(self.nodes, self.edges, not self.rows_only)
        start = initial_factors(stream, self.k)
        sigma = reference_sigma(stream.final, self.k)
        runs = _contender_runs(stream, start, self.rows_only, self.dense_peers)
        skipped = []
        if not self.dense_peers:
            size = self.nodes * (self.nodes // 2 // BATCHES) * 8 / 1e9
            for name in ("rankwise zha-simon", "rankwise vecharynski-saad"):
                skipped.append(Skip(name, f"dense residual of {size:.1f} GB per batch"))
        if "IncSVD RPI l=10 t=3" not in runs:
            skipped.append(Skip("IncSVD", "not installed (pip install IncSVD)"))
        contenders = [Contender(name, run) for name, run in runs.items()]
        batches = stream.rows + stream.cols + [x for bc in stream.corrections for x in bc]
        data = sum(b.data.nbytes + b.indices.nbytes + b.indptr.nbytes for b in batches)
        m, n = stream.final.shape
        factors = (m + n) * self.k * 8
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=lambda out: _assessment(accuracy(stream.final, sigma, out)),
            work=float(data + factors),
            work_text=f"batches {data / 1e6:.3g} MB + factors {factors / 1e6:.3g} MB",
            rate=limits.bandwidth,
            probe=bandwidth_probe(limits.cores),
            block_bytes=factors,
        )


def _case(
    nodes: int,
    edges: int,
    k: int,
    rows_only: bool,
    headline: bool,
    dense_peers: bool = True,
    corrections: int = 0,
) -> Case:
    spec = Scenario(nodes, edges, k, rows_only, dense_peers, corrections)
    what = "rows" if rows_only else "rows+cols"
    batches = f"{BATCHES} batches of {nodes // 2 // BATCHES} nodes each way"
    if corrections:
        what = f"A+BC^T r={corrections}"
        batches = f"{BATCHES} corrections of {corrections} new edges (rank {corrections})"
    targets = ()
    if headline:
        targets = (
            *((SpeedupTarget("rankwise zha-simon", 10.0, slack=1.01, tol=1e-3),) * dense_peers),
            SpeedupTarget("IncSVD RPI l=10 t=3", 3.0, slack=1.0, tol=1e-3),
            SpeedupTarget("recompute rankwise.svd", 1.0, slack=1.02, tol=1e-2),
        )
    return Case(
        family="update",
        name=f"graph {nodes} nodes {edges} edges k={k} {what}",
        series=f"graph k={k} {what}",
        size=float(edges),
        size_label="sampled edges",
        params=f"k={k}, {batches}",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=METRICS,
        targets=targets,
        prepare=spec.prepare,
        baseline=BASELINE,
    )


def cases(mode: Mode) -> list[Case]:
    """Quick (within the suite's two minutes): a 4000-node graph (k = 32), rows then
    columns.  Full: a 2000-node graph with rows only (for IncrementalPCA, which works on
    dense batches), low-rank corrections (new edges as A + B C^T) of a 3000-node graph,
    20000 nodes with every method, and the issue's sizes, 80000 nodes with 0.9M edges
    (Slashdot-like) at k = 64."""
    if mode == "quick":
        return [_case(4000, 40_000, 32, rows_only=False, headline=True)]
    return [
        _case(2000, 20_000, 32, rows_only=True, headline=False),
        _case(3000, 30_000, 32, rows_only=False, headline=False, corrections=30),
        _case(20_000, 300_000, 64, rows_only=False, headline=False),
        _case(80_000, 900_000, 64, rows_only=False, headline=True, dense_peers=False),
        _case(80_000, 900_000, 64, rows_only=True, headline=False, dense_peers=False),
        _case(80_000, 900_000, 64, False, headline=False, dense_peers=False, corrections=400),
    ]
