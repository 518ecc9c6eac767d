"""Updating truncated SVD family: Deng et al.'s experiment (ICLR 2024) on generated data.

Matrices: a power-law graph (Chung-Lu: node i has expected degree proportional to
(i + 1)^-1/2, node labels shuffled, symmetric 0/1 adjacency, float64 CSR) of N nodes,
or a TF-IDF document-term matrix (Zipf-distributed words, ``term_document``).  The
initial rank-k SVD is taken of the top-left block of half the rows and columns (the
same factors for every contender, from ``rankwise.svd``); the other rows then arrive in
10 or 100 batches and the other columns in as many ("rows+cols", "docs+terms"), or the
rows only ("rows": the graph's first half of the columns; "docs": documents over the
whole vocabulary, where scikit-learn's ``IncrementalPCA.partial_fit`` and gensim's
``LsiModel.add_documents`` fit the problem), or, starting from the whole graph, low-rank
corrections A + B C^T that each add new edges (B, C sparse unit columns; IncSVD's
``update_weight``) ("A+BC^T").  Each contender call runs all batches, so the time is the
total update time (per batch: divide by the batch count).

Contenders (timed round-robin in one run): rankwise's three methods (the sparse one also
with l Golub-Kahan-Lanczos steps, "gkl", and with the whole residual, "exact", where the
batches are small: IncSVD's GKL and ZhaSimon methods), recomputing
``rankwise.svd`` after every batch, and the authors' package IncSVD (``EvolvingMatrix``,
sparse, started from the same factors) with its three methods: RPI (l = 10, t = 3, the
parameters rankwise's baseline uses), GKL (l = 10) and ZhaSimon (exact; its QR is a
pure-Python loop of r^2 / 2 steps per batch of r, so it runs only where batches are
small).  IncSVD seeds from the global ``np.random``, which is seeded before each call;
its prints are silenced.  Which contenders a case runs is its ``Peers``.

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
from .optional import optional_import

PACKAGES = ("rankwise", "scipy", "IncSVD", "scikit-learn", "gensim")

SEED = 0
BATCHES = 10
L_PARAM, T_PARAM = 10, 3  # IncSVD's RPI parameters, used by rankwise's methods too
BASELINE = "rankwise sparse l=10 t=3"
GKL_NAME = f"rankwise sparse gkl l={L_PARAM}"  # IncSVD GKL's method and parameter

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


@lru_cache(maxsize=1)
def term_document(docs: int, terms: int, tokens: int, seed: int = SEED) -> sp.csr_matrix:
    """TF-IDF document-term matrix (docs x terms, float64 CSR) of generated documents:
    lengths log-normal around ``tokens`` words, words drawn from a Zipf law (exponent 1.1)
    over the vocabulary with shuffled term labels; sublinear tf (1 + log count), smoothed
    idf and unit-norm rows, as scikit-learn's ``TfidfTransformer(sublinear_tf=True)``."""
    rng = np.random.default_rng(seed + 3)
    p = (np.arange(terms) + 1.0) ** -1.1
    p /= p.sum()
    lengths = np.maximum(1, rng.lognormal(math.log(tokens), 0.6, docs).astype(np.int64))
    words = rng.permutation(terms)[rng.choice(terms, int(lengths.sum()), p=p)]
    doc_of = np.repeat(np.arange(docs), lengths)
    a = sp.coo_matrix((np.ones(len(words)), (doc_of, words)), shape=(docs, terms)).tocsr()
    a.sum_duplicates()
    df = np.bincount(a.indices, minlength=terms)
    idf = np.log((1.0 + docs) / (1.0 + df)) + 1.0
    a.data = (1.0 + np.log(a.data)) * idf[a.indices]
    norms = np.sqrt(np.asarray(a.multiply(a).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-300)) @ a)


@dataclass(frozen=True)
class Stream:
    """The batches of one scenario; ``after(i)`` is the matrix after batch i (sliced on
    demand: 200 stored copies of a large matrix would not fit)."""

    source: sp.csr_matrix
    initial: sp.csr_matrix
    rows: list[sp.csr_matrix]  # each r x n0
    cols: list[sp.csc_matrix]  # each m x r
    row_cuts: tuple[int, ...]  # rows of the matrix after each row batch
    col_cuts: tuple[int, ...]  # columns after each column batch
    width: int  # columns while rows arrive
    corrections: tuple[tuple[sp.csc_matrix, sp.csc_matrix], ...] = ()  # (B, C): A + B C^T
    corrected: tuple[sp.csr_matrix, ...] = ()  # the matrix after each correction

    @property
    def batches(self) -> int:
        return len(self.rows) + len(self.cols) + len(self.corrections)

    def after(self, i: int) -> sp.csr_matrix:
        if self.corrections:
            return self.corrected[i]
        if i < len(self.rows):
            return sp.csr_matrix(self.source[: self.row_cuts[i], : self.width])
        return sp.csr_matrix(self.source[:, : self.col_cuts[i - len(self.rows)]])

    @property
    def final(self) -> sp.csr_matrix:
        return self.after(self.batches - 1)

    @property
    def largest_batch(self) -> int:
        sizes = [b.shape[0] for b in self.rows] + [c.shape[1] for c in self.cols]
        return max(sizes + [b.shape[1] for b, _ in self.corrections])


def make_corrections(nodes: int, edges: int, per_batch: int, batches: int = 10) -> Stream:
    """The whole graph, then ``batches`` low-rank corrections A + B C^T, each adding
    ``per_batch`` new edges (B = unit columns at the sources, C at the targets: sparse)."""
    a = power_law_graph(nodes, edges)
    rng = np.random.default_rng(SEED + 2)
    corrections, after, cur = [], [], a.copy()
    cols = np.arange(per_batch)
    for _ in range(batches):
        src, dst = rng.integers(0, nodes, per_batch), rng.integers(0, nodes, per_batch)
        b = sp.csc_matrix((np.ones(per_batch), (src, cols)), shape=(nodes, per_batch))
        c = sp.csc_matrix((np.ones(per_batch), (dst, cols)), shape=(nodes, per_batch))
        corrections.append((b, c))
        cur = sp.csr_matrix(cur + b @ c.T)
        after.append(cur)
    return Stream(
        a, a, [], [], (), (), nodes, corrections=tuple(corrections), corrected=tuple(after)
    )


def make_stream(
    a: sp.csr_matrix, with_columns: bool, batches: int = 10, full_width: bool = False
) -> Stream:
    """Initial block: the first half of the rows and of the columns (all columns with
    ``full_width``); the other rows arrive in ``batches`` batches, then (``with_columns``)
    the other columns in ``batches`` batches."""
    m, n = a.shape
    hm = m // 2
    hn = n if full_width else n // 2
    rcuts = np.linspace(hm, m, batches + 1).astype(int)
    rows = [sp.csr_matrix(a[i:j, :hn]) for i, j in itertools.pairwise(rcuts)]
    cols: list[sp.csc_matrix] = []
    ccuts = np.linspace(hn, n, batches + 1).astype(int)
    if with_columns:
        ac = sp.csc_matrix(a)
        cols = [sp.csc_matrix(ac[:, i:j]) for i, j in itertools.pairwise(ccuts)]
    return Stream(
        a,
        sp.csr_matrix(a[:hm, :hn]),
        rows,
        cols,
        tuple(int(x) for x in rcuts[1:]),
        tuple(int(x) for x in ccuts[1:]) if with_columns else (),
        hn,
    )


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
    stream: Stream, start: Factors, method: str, **kw: int | str
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
    """``rankwise.svd`` of the matrix after every batch (the time includes slicing it out
    of the whole matrix, which is small next to the SVD)."""
    k = len(start[1])

    def run(after_batch: AfterBatch | None = None) -> Factors:
        out = start
        for i in range(stream.batches):
            out = rankwise.svd(stream.after(i), k, random_state=SEED)
            if after_batch is not None:
                after_batch(i, lambda out=out: out)
        return out

    return run


INCSVD_METHODS = {"ZhaSimon": 1, "GKL": 2, "RPI": 3}


def incsvd_name(method: str) -> str:
    return {
        "ZhaSimon": "IncSVD ZhaSimon",
        "GKL": f"IncSVD GKL l={L_PARAM}",
        "RPI": f"IncSVD RPI l={L_PARAM} t={T_PARAM}",
    }[method]


def incsvd_run(stream: Stream, start: Factors, method: str = "RPI") -> Callable[..., Factors]:
    """IncSVD's sparse ``EvolvingMatrix`` with ``method`` (ZhaSimon: exact, no parameter;
    GKL: l Lanczos steps; RPI: l directions, t iterations), started from ``start``."""
    from IncSVD.EvolvingMatrix import EvolvingMatrix

    u0, s0, vt0 = start
    k = len(s0)
    kw = {"ZhaSimon": {}, "GKL": {"l": L_PARAM}, "RPI": {"l": L_PARAM, "t": T_PARAM}}[method]

    def run(after_batch: AfterBatch | None = None) -> Factors:
        # EvolvingMatrix's constructor computes its own svds; start it from ours instead
        em = EvolvingMatrix.__new__(EvolvingMatrix)
        em._m, em._n = u0.shape[0], vt0.shape[1]
        em._sparse, em._method_dict = True, dict(INCSVD_METHODS)
        em._method = INCSVD_METHODS[method]
        em._k_dim = k
        em._Uk, em._sigmak, em._Vk = u0.copy(), s0.copy(), vt0.T.copy()
        em._Ku, em._Kv = np.eye(k), np.eye(k)
        em._inverted_index = [0] * max(em._m, em._n)
        np.random.seed(SEED)  # noqa: NPY002 - IncSVD draws from the global generator
        with contextlib.redirect_stdout(io.StringIO()):
            for i, e in enumerate(stream.rows):
                em.add_row(e, **kw)
                if after_batch is not None:
                    after_batch(i, lambda: (em.Uk, em.Sigmak, em.Vk.T))
            for j, f in enumerate(stream.cols):
                em.add_column(f, **kw)
                if after_batch is not None:
                    after_batch(len(stream.rows) + j, lambda: (em.Uk, em.Sigmak, em.Vk.T))
            for j, (b, c) in enumerate(stream.corrections):
                em.update_weight(b, c, **kw)
                if after_batch is not None:
                    after_batch(j, lambda: (em.Uk, em.Sigmak, em.Vk.T))
        return em.Uk, em.Sigmak, em.Vk.T

    return run


def _projected(a: sp.csr_matrix, vt: np.ndarray) -> Factors:
    """The best factors of ``a`` with right singular subspace range(vt^T): ``a V V^T``,
    for peers that track one side only (its SVD through a QR of ``a V``)."""
    k = vt.shape[0]
    q, r = np.linalg.qr(np.asarray(a @ vt.T))
    uu, s, wt = np.linalg.svd(r @ vt, full_matrices=False)
    return q @ uu[:, :k], s[:k], wt[:k]


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
        return _projected(stream.final, ipca.components_)

    return run


def gensim_run(stream: Stream, start: Factors) -> Callable[..., Factors]:
    """gensim ``LsiModel.add_documents`` (rows = documents, one chunk per batch, decay 1:
    no forgetting; its defaults otherwise: 2 power iterations, 100 extra samples), started
    from our factors of the initial block (its ``projection`` holds the term side, V, and
    s).  It keeps no document vectors, so its result is the projection of the final
    matrix onto its term subspace, as for IncrementalPCA."""
    from gensim.matutils import Sparse2Corpus
    from gensim.models import LsiModel

    _, s0, vt0 = start
    k, n = len(s0), vt0.shape[1]
    id2word = {i: str(i) for i in range(n)}

    def run(after_batch: AfterBatch | None = None) -> Factors:
        lsi = LsiModel(num_topics=k, id2word=id2word, decay=1.0, random_seed=SEED)
        lsi.projection.u = vt0.T.copy()
        lsi.projection.s = s0.copy()
        lsi.docs_processed = stream.initial.shape[0]
        for i, e in enumerate(stream.rows):
            lsi.add_documents(Sparse2Corpus(e, documents_columns=False), chunksize=e.shape[0])
            if after_batch is not None:
                after_batch(i, None)
        return _projected(stream.final, lsi.projection.u[:, :k].T)

    return run


@dataclass(frozen=True)
class Peers:
    """Which contenders a scenario runs (the ones that are too slow at a size are off)."""

    dense: bool = True  # rankwise zha-simon / vecharynski-saad: dense N x r residual
    recompute: bool = True
    incsvd: tuple[str, ...] = ("RPI", "GKL")  # IncSVD methods (ZhaSimon: a Python QR loop)
    exact: bool = False  # rankwise sparse with the whole residual (l = r): IncSVD ZhaSimon's
    rows_only_peers: bool = False  # IncrementalPCA, gensim LsiModel (rows = documents)


def _contender_runs(
    stream: Stream, start: Factors, peers: Peers
) -> tuple[dict[str, Callable], list[Skip]]:
    """The contenders' runs, and the peers that cannot be imported."""
    k = len(start[1])
    runs: dict[str, Callable] = {
        BASELINE: rankwise_run(stream, start, "sparse", rank=L_PARAM, n_iter=T_PARAM),
        f"rankwise sparse l={k} t=2": rankwise_run(stream, start, "sparse", rank=k, n_iter=2),
    }
    if "GKL" in peers.incsvd:  # IncSVD GKL's method and parameter
        runs[GKL_NAME] = rankwise_run(stream, start, "sparse", rank=L_PARAM, basis="gkl")
    if peers.exact:  # IncSVD ZhaSimon's method
        runs["rankwise sparse exact"] = rankwise_run(
            stream, start, "sparse", rank=stream.largest_batch
        )
    if peers.dense:
        runs["rankwise zha-simon"] = rankwise_run(stream, start, "zha-simon")
        runs["rankwise vecharynski-saad l=10 t=3"] = rankwise_run(
            stream, start, "vecharynski-saad", rank=L_PARAM, n_iter=T_PARAM
        )
    if peers.recompute:
        runs["recompute rankwise.svd"] = recompute_run(stream, start)
    missing: list[Skip] = []
    wanted = [("IncSVD.EvolvingMatrix", "IncSVD", bool(peers.incsvd))]
    wanted += [
        ("sklearn.decomposition", "sklearn IncrementalPCA", peers.rows_only_peers),
        ("gensim.models", "gensim LsiModel", peers.rows_only_peers),
    ]
    found = {}
    for module, name, want in wanted:
        got = optional_import(module) if want else "not run"
        found[name] = not isinstance(got, str)
        if want and isinstance(got, str):
            missing.append(Skip(name, got))
    if found["IncSVD"]:
        for method in peers.incsvd:
            runs[incsvd_name(method)] = incsvd_run(stream, start, method)
    if found["sklearn IncrementalPCA"]:
        runs["sklearn IncrementalPCA"] = ipca_run(stream, start)
    if found["gensim LsiModel"]:
        runs["gensim LsiModel"] = gensim_run(stream, start)
    return runs, missing


@dataclass(frozen=True)
class Scenario:
    matrix: Callable[[], sp.csr_matrix]
    k: int
    rows_only: bool
    batches: int = BATCHES
    peers: Peers = Peers()
    full_width: bool = False  # rows-only: the new rows have all columns (documents)
    corrections: tuple[int, int, int] = (0, 0, 0)  # nodes, edges, edges per correction

    def stream(self) -> Stream:
        nodes, edges, per_batch = self.corrections
        if per_batch:
            return make_corrections(nodes, edges, per_batch, self.batches)
        return make_stream(self.matrix(), not self.rows_only, self.batches, self.full_width)

    def prepare(self, limits: Limits) -> Workload:
        stream = self.stream()
        start = initial_factors(stream, self.k)
        final = stream.final
        sigma = reference_sigma(final, self.k)
        runs, skipped = _contender_runs(stream, start, self.peers)
        if not self.peers.dense:
            size = final.shape[1] * stream.largest_batch * 8 / 1e9
            for name in ("rankwise zha-simon", "rankwise vecharynski-saad"):
                skipped.append(Skip(name, f"dense residual of {size:.1f} GB per batch"))
        if not self.peers.recompute:
            skipped.append(Skip("recompute rankwise.svd", "too slow at this size"))
        if "ZhaSimon" not in self.peers.incsvd and any(n.startswith("IncSVD") for n in runs):
            skipped.append(
                Skip(
                    "IncSVD ZhaSimon",
                    "its QR is a Python loop, O(r^2) steps per batch "
                    f"(r = {stream.largest_batch})",
                )
            )
        contenders = [Contender(name, run) for name, run in runs.items()]
        batches = stream.rows + stream.cols + [x for bc in stream.corrections for x in bc]
        data = sum(b.data.nbytes + b.indices.nbytes + b.indptr.nbytes for b in batches)
        m, n = final.shape
        factors = (m + n) * self.k * 8
        return Workload(
            contenders=contenders,
            skipped=skipped,
            assess=lambda out: _assessment(accuracy(final, sigma, out)),
            work=float(data + factors),
            work_text=f"batches {data / 1e6:.3g} MB + factors {factors / 1e6:.3g} MB",
            rate=limits.bandwidth,
            probe=bandwidth_probe(limits.cores),
            block_bytes=factors,
        )


def _targets(peers: Peers) -> tuple[SpeedupTarget, ...]:
    out = []
    if peers.dense:
        out.append(SpeedupTarget("rankwise zha-simon", 10.0, slack=1.01, tol=1e-3))
    for method in peers.incsvd:  # the same method as IncSVD's (ZhaSimon: r x r QR, not timed)
        if method != "ZhaSimon":
            ours = GKL_NAME if method == "GKL" else None  # RPI: the baseline
            out.append(SpeedupTarget(incsvd_name(method), 3.0, slack=1.0, tol=1e-3, ours=ours))
    if peers.recompute:
        out.append(SpeedupTarget("recompute rankwise.svd", 1.0, slack=1.02, tol=1e-2))
    return tuple(out)


def graph_case(
    nodes: int,
    edges: int,
    k: int,
    rows_only: bool = False,
    headline: bool = False,
    batches: int = BATCHES,
    peers: Peers = Peers(),
    corrections: int = 0,
) -> Case:
    if corrections:
        spec = Scenario(
            lambda: power_law_graph(nodes, edges),
            k,
            rows_only=False,
            batches=batches,
            peers=peers,
            corrections=(nodes, edges, corrections),
        )
        what = f"A+BC^T r={corrections}"
        text = f"{batches} corrections of {corrections} new edges (rank {corrections})"
    else:
        spec = Scenario(lambda: power_law_graph(nodes, edges), k, rows_only, batches, peers)
        what = "rows only" if rows_only else "rows+cols"
        text = f"{batches} batches of {nodes // 2 // batches} nodes"
        text += " (rows)" if rows_only else " each way"
    tail = "" if batches == BATCHES else f" {batches} batches"
    return Case(
        family="update",
        name=f"graph {nodes} nodes {edges} edges k={k} {what}{tail}",
        series=f"graph k={k} {what}{tail}",
        size=float(edges),
        size_label="sampled edges",
        params=f"k={k}, {text}",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=METRICS,
        targets=_targets(peers) if headline else (),
        prepare=spec.prepare,
        baseline=BASELINE,
    )


def termdoc_case(
    docs: int,
    terms: int,
    tokens: int,
    k: int,
    rows_only: bool = False,
    headline: bool = False,
    batches: int = BATCHES,
    peers: Peers = Peers(),
) -> Case:
    """Documents (rows) of a TF-IDF matrix: rows+cols as the graphs (new documents over
    the first half of the vocabulary, then the new terms as columns), or rows only (new
    documents over the whole vocabulary: where IncrementalPCA and gensim apply)."""
    spec = Scenario(
        lambda: term_document(docs, terms, tokens), k, rows_only, batches, peers, rows_only
    )
    what = "docs" if rows_only else "docs+terms"
    tail = "" if batches == BATCHES else f" {batches} batches"
    text = f"{batches} batches of {docs // 2 // batches} documents"
    if not rows_only:
        text += f", then {batches} of {terms // 2 // batches} terms"
    return Case(
        family="update",
        name=f"tf-idf {docs} docs {terms} terms k={k} {what}{tail}",
        series=f"tf-idf k={k} {what}{tail}",
        size=float(docs) * tokens,
        size_label="tokens",
        params=f"k={k}, ~{tokens} words per document, {text}",
        limit="bandwidth",
        gemm_shapes=(),
        metrics=METRICS,
        targets=_targets(peers) if headline else (),
        prepare=spec.prepare,
        baseline=BASELINE,
    )


BIG = Peers(dense=False, incsvd=("RPI", "GKL"))
"""80000 nodes: no dense-residual methods (1.3 GB per batch each)."""
BIG_NO_RECOMPUTE = Peers(dense=False, recompute=False, incsvd=("RPI", "GKL"))
"""80000 nodes, k = 128 or 100 + 100 batches: recomputing (8 s per batch at k = 64 on 2
cores, more at k = 128) would take 5 to 30 minutes; the 10-batch k = 64 case measures it."""


def cases(mode: Mode) -> list[Case]:
    """Quick (within the suite's two minutes): a 4000-node graph (k = 32), rows then
    columns, every method.  Full: the issue's scenarios, from small cases with every peer
    to the issue's sizes (80000 nodes with 0.9M edges, Slashdot-like, at k = 64 and 128),
    in 10 and 100 batches, TF-IDF matrices, rows only (IncrementalPCA, gensim), and
    low-rank corrections A + B C^T (10 and 100 of them).  The Flickr-like size (12M edges) is
    ``python -m bench.update_big``: the runner's reference SVD would take hours there."""
    if mode == "quick":
        return [graph_case(4000, 40_000, 32, headline=True)]
    every = Peers(incsvd=("RPI", "GKL", "ZhaSimon"), exact=True)
    return [
        # small: every peer, IncSVD's three methods beside ours
        graph_case(4000, 40_000, 32, headline=True, batches=100, peers=every),
        graph_case(2000, 20_000, 32, rows_only=True, peers=Peers(rows_only_peers=True)),
        graph_case(3000, 30_000, 32, corrections=30, headline=True, peers=every),
        graph_case(3000, 30_000, 32, corrections=30, headline=True, batches=100, peers=every),
        termdoc_case(8000, 8000, 80, 32, rows_only=True, peers=Peers(rows_only_peers=True)),
        termdoc_case(20_000, 20_000, 100, 64, headline=True),
        # mid-size, every method; 100 batches
        graph_case(20_000, 300_000, 64),
        graph_case(20_000, 300_000, 64, headline=True, batches=100, peers=every),
        # the sizes
        graph_case(80_000, 900_000, 64, headline=True, peers=BIG),
        graph_case(80_000, 900_000, 128, headline=True, peers=BIG_NO_RECOMPUTE),
        graph_case(80_000, 900_000, 64, headline=True, batches=100, peers=BIG_NO_RECOMPUTE),
        graph_case(80_000, 900_000, 64, rows_only=True, peers=BIG),
        graph_case(80_000, 900_000, 64, corrections=400, headline=True, peers=BIG),
    ]
