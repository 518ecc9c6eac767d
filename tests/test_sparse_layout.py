"""A sparse matrix whose index arrays run over its long side (a wide CSR, a tall CSC) is
re-stored the other way round before its products (_validate._short_side_indexed)."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from rankwise._validate import _short_side_indexed


def wide_csr(m: int, n: int, per_column: float, seed: int = 0) -> sp.csr_array:
    return sp.csr_array(sp.random(m, n, density=per_column / m, format="csr", rng=seed))


@pytest.mark.parametrize("shape", [(40, 2000), (2000, 40)])
def test_long_side_indexed_input_gives_the_bits_of_the_other_format(
    shape: tuple[int, int],
) -> None:
    # the products of a wide CSR and of its CSC now run on the same storage: the same
    # factors to the bit, for the randomized SVD and for svds (before: equal to rounding)
    m, n = shape
    A = sp.csr_array(sp.random(m, n, density=4 / min(m, n), format="csr", rng=1))
    other = A.tocsc()
    for run in (
        lambda B: rankwise.svd(B, 5, random_state=0),
        lambda B: rankwise.svds(B, k=5, rng=0),
    ):
        for x, y in zip(run(A), run(other), strict=True):
            np.testing.assert_array_equal(x, y)
    s_ref = np.linalg.svd(A.toarray(), compute_uv=False)[:5]
    np.testing.assert_allclose(rankwise.svd(A, 5, random_state=0)[1], s_ref, rtol=0.1)
    np.testing.assert_allclose(np.sort(rankwise.svds(A, k=5, rng=0)[1])[::-1], s_ref, rtol=1e-10)


def test_restored_where_the_long_side_is_indexed() -> None:
    A = wide_csr(100, 1000, per_column=5)
    before = (A.data.copy(), A.indices.copy(), A.indptr.copy())
    B = _short_side_indexed(A, np.dtype(np.float64))
    assert B.format == "csc"
    assert B.has_sorted_indices
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    for x, y in zip((A.data, A.indices, A.indptr), before, strict=True):  # A itself untouched
        np.testing.assert_array_equal(x, y)
    C = _short_side_indexed(A.T.tocsc(), np.dtype(np.float64))  # a tall CSC: to CSR
    assert C.format == "csr"
    np.testing.assert_array_equal(C.toarray(), A.T.toarray())


@pytest.mark.parametrize(
    ("A", "why"),
    [
        (wide_csr(400, 1000, per_column=5), "the long side is less than 4 times the other"),
        (wide_csr(100, 1000, per_column=0.5), "fewer nonzeros than long-side lines"),
        (wide_csr(100, 1000, per_column=40), "the copy would outweigh 32 long vectors"),
        (wide_csr(100, 1000, per_column=5).T.tocsr(), "a tall CSR is indexed by its short side"),
    ],
)
def test_kept_as_it_is(A: sp.sparray, why: str) -> None:
    assert _short_side_indexed(A, np.dtype(np.float64)) is A, why
