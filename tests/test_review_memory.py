"""Findings of session 35's review of memory use against the peers: update_svd's extra copy
of the new factors, CG's copy of a sparse system's index arrays where only its values change
dtype."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from rankwise._validate import with_values_as


def test_update_svd_returns_the_new_factors_without_copying_them() -> None:
    # k = len(s) (the default): the factors were copied once more on return, a second
    # m x k array beside the one the updater had just made (2290 MB against numpy's 763 MB
    # on a 2e6 x 50 U, with the updater's own state)
    rng = np.random.default_rng(0)
    m, n, k = 100_000, 200, 8
    U = np.linalg.qr(rng.standard_normal((m, k)))[0]
    Vt = np.linalg.qr(rng.standard_normal((n, k)))[0].T
    s = np.linspace(2.0, 1.0, k)
    rows = rng.standard_normal((5, k)) @ Vt  # in the row space: the update stays exact
    tracemalloc.start()
    try:
        U2, s2, Vt2 = rankwise.update_svd(U, s, Vt, rows=rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * U.nbytes
    A = np.vstack([U * s @ Vt, rows])
    np.testing.assert_allclose(U2 * s2 @ Vt2, A, atol=1e-10)
    # k < len(s): the leading part, a compact array of its own
    U3, s3, _Vt3 = rankwise.update_svd(U, s, Vt, rows=rows, k=3)
    assert U3.shape == (m + 5, 3)
    assert U3.base is None
    np.testing.assert_array_equal(s3, s2[:3])


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("container", [sp.csr_array, sp.csr_matrix])
def test_a_sparse_system_changes_dtype_without_copying_its_indices(
    fmt: str, container: type
) -> None:
    A = container(sp.random(50, 50, density=0.2, format="csr", dtype=np.float32, rng=0))
    A = A.asformat(fmt)
    B = with_values_as(A, np.dtype(np.float64))
    assert B.dtype == np.float64
    assert B.format == fmt
    assert type(B) is type(A)
    assert np.shares_memory(A.indices, B.indices)
    assert np.shares_memory(A.indptr, B.indptr)
    np.testing.assert_array_equal(B.toarray(), A.toarray().astype(np.float64))
    assert A.dtype == np.float32  # A itself unchanged


def test_cg_float32_system_with_float64_rhs_solves_as_scipy() -> None:
    n = 400
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr", dtype=np.float32)
    A = sp.csr_array(T + 0.1 * sp.eye_array(n, dtype=np.float32))
    b = np.random.default_rng(1).standard_normal(n)
    x, info = rankwise.cg(A, b, rtol=1e-10)
    x_ref, info_ref = spla.cg(A, b, rtol=1e-10)
    assert info == info_ref == 0
    assert x.dtype == x_ref.dtype == np.float64
    np.testing.assert_allclose(x, x_ref, rtol=1e-8, atol=1e-10)
    assert A.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_qdeim_reads_a_row_major_basis_through_its_transpose(dtype: type) -> None:
    # A C-ordered U was copied to column-major and then transposed (two copies of U); its
    # transpose is the column-major U^T the pivoted QR needs: the same points from one copy
    U = np.linalg.qr(np.random.default_rng(3).standard_normal((3000, 25)))[0].astype(dtype)
    C, F = np.ascontiguousarray(U), np.asfortranarray(U)
    before = C.copy()
    np.testing.assert_array_equal(rankwise.qdeim(C).points, rankwise.qdeim(F).points)
    np.testing.assert_array_equal(C, before)
    with pytest.raises(ValueError, match=r"rank-deficient|singular"):
        rankwise.qdeim(np.ascontiguousarray(np.repeat(U[:, :1], 3, axis=1)))


class _RecordingOperator(spla.LinearOperator):
    """A sparse matrix as a LinearOperator that remembers what rmatmat was given and what
    matmat returned last."""

    def __init__(self, A: Any) -> None:
        super().__init__(A.dtype, A.shape)
        self.A = A
        self.last_product: np.ndarray | None = None
        self.adjoint_of_last_product = 0
        self.adjoint_calls = 0

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._matmat(x.reshape(-1, 1)).ravel()

    def _rmatvec(self, y: np.ndarray) -> np.ndarray:
        return self._rmatmat(y.reshape(-1, 1)).ravel()

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        self.last_product = np.asarray(self.A @ X)
        return self.last_product

    def _rmatmat(self, Y: np.ndarray) -> np.ndarray:
        self.adjoint_calls += 1
        if self.last_product is not None and np.array_equal(Y, self.last_product):
            self.adjoint_of_last_product += 1
        return np.asarray(self.A.T @ Y)


def test_svds_of_an_operator_iterates_on_the_short_side() -> None:
    # A LinearOperator ran the bidiagonalization, whose basis lives on the long side (m x L:
    # 1151 MB against arpack's 350 and 272 for the same matrix as CSR, 500000 x 100000); it
    # takes the Lanczos iteration on A^T A as sparse input does: A^T (A V) block by block
    A = sp.csr_array(sp.random(6000, 800, density=0.01, format="csr", rng=4))
    op = _RecordingOperator(A)
    u, s, vt = rankwise.svds(op, k=5, rng=0)
    assert op.adjoint_of_last_product >= 0.8 * op.adjoint_calls
    s_ref = np.linalg.svd(A.toarray(), compute_uv=False)[:5][::-1]
    np.testing.assert_allclose(s, s_ref, rtol=1e-12)
    assert np.linalg.norm(A @ vt.T - u * s) <= 1e-12 * s[-1]
    assert np.linalg.norm(A.T @ u - vt.T * s) <= 1e-12 * s[-1]


# The high-water mark of the resident memory (VmHWM, which clear_refs resets; getrusage's
# ru_maxrss is not reset and keeps the parent's size from the fork)
_PEAK_SCRIPT = """
import sys
import numpy as np, scipy.sparse as sp, rankwise

def status_mib(field):
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith(field)) / 1024

fmt, m, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
A = sp.random(m, n, density=24 / min(m, n), format=fmt, dtype=np.float64, rng=1)
rankwise.svd(A[:2000, :2000].asformat(fmt), k, random_state=0)  # threads and caches up
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the high-water mark starts again from here
start = status_mib("VmRSS")
U, s, Vt = rankwise.svd(A, k, random_state=0)
print(status_mib("VmHWM") - start)
"""


@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's clear_refs"
)
@pytest.mark.parametrize(("fmt", "m", "n"), [("csr", 5_000, 120_000), ("csc", 120_000, 5_000)])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_sparse_svd_holds_two_long_blocks_at_its_peak(
    fmt: str, m: int, n: int, threads: str
) -> None:
    # A wide CSR (or a tall CSC: the same kernel, for A^T X or A X) held the test block,
    # A^T Q, the factor V and a copy of A^T Q in the tall SVD at once, and the threaded A^T X
    # held scratch accumulators beside its output (961 MB against scikit-learn's 740 on a
    # 2e5 x 1e6 CSR; 3 to 5 long blocks here).  Now A^T Q is written over the test block, the
    # tall SVD keeps its copy in the factor it returns, and one thread accumulates in the
    # output block: two long blocks, and one scratch accumulator more in a team of two.
    # (24 nonzeros per long line: A^T X takes 6 parts, and the input is not re-stored the
    # other way round, which would cost more than 32 long vectors.)
    k = 20
    long_block_mib = max(m, n) * (k + 10) * 8 / 2**20  # l = k + 10: the default oversampling
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, fmt, str(m), str(n), str(k)],
        env={**os.environ, "OMP_NUM_THREADS": threads},
        capture_output=True,
        text=True,
        check=True,
    )
    peak_mib = float(out.stdout.split()[-1])
    assert peak_mib < (1.5 + int(threads)) * long_block_mib, (peak_mib, long_block_mib)


def _shuffled_rows(A: sp.csr_array, seed: int) -> sp.csr_array:
    """A with the entries of each row stored in a random order (unsorted, no duplicates)."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    order = np.argsort(rows + rng.random(A.nnz))
    return sp.csr_array((A.data[order], A.indices[order], A.indptr), shape=A.shape)


def test_cg_reads_an_unsorted_csr_without_a_canonical_copy() -> None:
    # Unsorted indices alone made a canonical copy of values and indices (313 MB against
    # SciPy's 76 in the memory review); only duplicates need one
    n = 50_000
    B = sp.random(n, n, density=4 / n, format="csr", rng=2)
    A = sp.csr_array(B + B.T + sp.diags_array(np.full(n, 16.0)))
    U = _shuffled_rows(A, seed=3)
    assert not U.has_canonical_format
    b = np.ones(n)
    tracemalloc.start()
    try:
        x, info = rankwise.cg(U, b, rtol=1e-12)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info == 0
    assert peak < 0.25 * (U.data.nbytes + U.indices.nbytes), peak
    assert np.linalg.norm(A @ x - b) <= 1e-11 * np.linalg.norm(b)
    np.testing.assert_allclose(x, spla.cg(A, b, rtol=1e-12)[0], rtol=1e-9)
    # with a duplicate (an entry split in two), the canonical copy sums it as before
    D = sp.csr_array(
        (
            np.concatenate([[0.0], U.data]),  # row 0's first index once more, with 0
            np.concatenate([U.indices[:1], U.indices]),
            np.concatenate([[0], U.indptr[1:] + 1]),
        ),
        shape=U.shape,
    )
    np.testing.assert_allclose(rankwise.cg(D, b, rtol=1e-12)[0], x, rtol=1e-9)


@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_duplicate_scan_of_a_csr_structure(index: type) -> None:
    from rankwise import _core

    def dups(indptr: list[int], indices: list[int], minor: int) -> bool:
        return bool(
            _core.csr_has_duplicates(
                np.array(indptr, dtype=index), np.array(indices, dtype=index), minor
            )
        )

    assert not dups([0, 2, 4], [1, 0, 0, 1], 2)  # the same index in two rows
    assert dups([0, 3, 3], [1, 0, 1], 2)  # twice in one row, apart
    assert dups([0, 0, 2], [1, 1], 2)  # after an empty row
    assert not dups([0, 0, 0], [], 3)
    with pytest.raises(ValueError, match="sound CSR"):
        dups([0, 1], [5], 2)
