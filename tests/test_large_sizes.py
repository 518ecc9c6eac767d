"""64-bit sizes without the memory: views whose strides pass 2^31 elements (backed by an
anonymous memory map of which only a few pages are ever touched), operators and sparse
matrices with huge shapes, and a clear MemoryError naming the size when the work
matrices cannot be allocated."""

from __future__ import annotations

import mmap
import sys

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

BIG = 2**31 + 17  # elements: an offset past the int32 range
# Linux's MAP_NORESERVE (Python < 3.13 does not export it): address space without a
# commitment of memory, so that the overcommit heuristic does not refuse 26 GB.
NORESERVE = 0x4000 if sys.platform.startswith("linux") else 0


@pytest.fixture(scope="module")
def huge_buffer() -> np.ndarray:
    """A float32 array of 3 * BIG entries (26 GB of address space, no memory until used)."""
    try:
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", NORESERVE)
        mm = mmap.mmap(-1, 3 * BIG * 4, flags=flags)
    except (OSError, ValueError, OverflowError) as e:  # 32-bit or a strict overcommit policy
        pytest.skip(f"cannot reserve the address space: {e}")
    return np.frombuffer(mm, dtype=np.float32)


def _view_with_huge_stride(buf: np.ndarray, m: int, n: int, seed: int) -> np.ndarray:
    """m x n float32 view whose columns are BIG elements apart (column-major)."""
    A = np.lib.stride_tricks.as_strided(buf, shape=(m, n), strides=(4, 4 * BIG))
    values = np.random.default_rng(seed).standard_normal((m, n)).astype(np.float32)
    A[...] = values  # touches n pages
    return A


def test_svd_of_a_view_with_strides_past_int32(huge_buffer: np.ndarray) -> None:
    A = _view_with_huge_stride(huge_buffer, 6, 3, seed=1)
    dense = np.array(A)
    U, s, Vt = rankwise.svd(A, 3, random_state=0)
    np.testing.assert_allclose(s, np.linalg.svd(dense.astype(np.float64))[1], rtol=1e-5)
    np.testing.assert_allclose((U * s) @ Vt, dense, atol=1e-5)
    np.testing.assert_array_equal(A, dense)  # read, never written


def test_cur_and_cg_on_views_with_strides_past_int32(huge_buffer: np.ndarray) -> None:
    A = _view_with_huge_stride(huge_buffer, 8, 3, seed=2)
    res = rankwise.cur(A, 2)
    np.testing.assert_array_equal(res.C, np.array(A)[:, res.cols])
    G = np.lib.stride_tricks.as_strided(huge_buffer, shape=(3, 3), strides=(4, 4 * BIG))
    G[...] = np.array([[4, 1, 0], [1, 3, 1], [0, 1, 2]], dtype=np.float32)
    b = np.ones(3, dtype=np.float32)
    x, info = rankwise.cg(G, b, rtol=1e-6)
    assert info == 0
    np.testing.assert_allclose(np.array(G) @ x, b, atol=1e-5)


def test_work_matrices_too_large_give_a_memory_error_naming_the_size() -> None:
    rows = 2**40
    op = LinearOperator((rows, 5), matvec=lambda x: np.zeros(rows), dtype=np.float64)
    with pytest.raises(MemoryError, match=r"1099511627776 x \d+ float64"):
        rankwise.svd(op, 2, random_state=0)


def test_sparse_matrix_with_a_huge_shape_and_few_nonzeros() -> None:
    """int64 indices past 2^31: validated without overflow, then a clear MemoryError for
    the (n x l) work matrix that does not fit; the input is untouched."""
    n = 2**33
    A = sp.csr_array(
        (
            np.ones(3),
            np.array([0, 2**32 + 5, n - 1], dtype=np.int64),
            np.array([0, 1, 2, 3], dtype=np.int64),
        ),
        shape=(3, n),
    )
    before = A.indices.copy()
    with pytest.raises(MemoryError, match=r"8589934592 x \d+ float64"):
        rankwise.svd(A, 1, random_state=0)
    np.testing.assert_array_equal(A.indices, before)
