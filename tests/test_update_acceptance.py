"""SVDUpdater findings of an acceptance review written from issue 4 alone (session 40): the
sparse method on blocks of tiny magnitude, the drift estimate's scale, the state after a
refused first update, and byte-swapped input.  Each test fails on the previous build."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp


def _factors(seed: int, m: int = 12, n: int = 9, k: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    U, s, Vt = np.linalg.svd(rng.standard_normal((m, n)), full_matrices=False)
    return U[:, :k], s[:k], Vt[:k], rng.standard_normal((3, n))


@pytest.mark.parametrize("scale", [1e-140, 1e-152, 1e-170, 1e-300])
def test_sparse_method_refuses_blocks_whose_squares_underflow(scale: float) -> None:
    """The sparse method forms E^T E - Cd^T Cd: at 1e-170 those squares underflowed and the
    residual directions were dropped without a word (singular values 3e-2 off).  Blocks
    whose norm squared is a normal number keep the result exact; smaller ones are refused by
    name, as blocks whose squares overflow are; Zha-Simon is exact at every scale."""
    U, s, Vt, E = _factors(13)
    ref = np.linalg.svd(np.vstack([(U * s) @ Vt, E]), compute_uv=False)[:4]
    exact = rankwise.SVDUpdater(4, method="zha-simon").from_factors(U, s * scale, Vt)
    exact.add_rows(E * scale)
    np.testing.assert_allclose(exact.s / scale, ref, rtol=1e-12)
    up = rankwise.SVDUpdater(4, method="sparse").from_factors(U, s * scale, Vt)
    if scale > 2.4e-153:
        up.add_rows(sp.csr_matrix(E * scale))
        np.testing.assert_allclose(up.s / scale, ref, rtol=1e-12)
        return
    with pytest.raises(ValueError, match="E is too small for the sparse method"):
        up.add_rows(sp.csr_matrix(E * scale))
    np.testing.assert_array_equal(up.s, s * scale)  # refused: unchanged
    B = np.zeros((12, 1))
    B[3] = scale
    with pytest.raises(ValueError, match="B is too small for the sparse method"):
        up.update(B, np.ones((9, 1)))
    up.add_rows(np.zeros((1, 9)))  # a zero block is no underflow


@pytest.mark.parametrize("scale", [1e-160, 1e-200, 1e-300, 1e160, 1e300])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_drift_estimate_does_not_depend_on_the_scale(scale: float, sparse: bool) -> None:
    """estimate_drift of factors and matrix scaled together: the estimate at scale 1 (it was
    0 at 1e-160, where ||A||_F^2 underflowed, and at 1e160 raised a message saying A must be
    dense or sparse).  A is not modified."""
    rng = np.random.default_rng(14)
    A = rng.standard_normal((40, 30))
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    drifted = np.linalg.qr(U[:, :4] + 0.3 * rng.standard_normal((40, 4)))[0]
    expected = rankwise.SVDUpdater(4).from_factors(drifted, s[:4], Vt[:4]).estimate_drift(A)
    assert expected > 0.3
    scaled = A * scale
    given = sp.csr_matrix(scaled) if sparse else scaled
    before = given.copy()
    up = rankwise.SVDUpdater(4).from_factors(drifted, s[:4] * scale, Vt[:4])
    assert up.estimate_drift(given) == pytest.approx(expected, rel=1e-10)
    if sparse:
        np.testing.assert_array_equal(given.toarray(), before.toarray())
    else:
        np.testing.assert_array_equal(given, before)


def test_a_refused_first_update_leaves_the_method_open() -> None:
    """method="auto" is fixed by the first update; a first update that is refused (a sparse
    batch too large for the sparse method) fixed it all the same, and the next, dense,
    updates ran through "sparse" where a fresh updater uses "zha-simon"."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 20))
    up = rankwise.SVDUpdater(4, random_state=0).fit(A)
    with pytest.raises(ValueError, match="too large for the sparse method"):
        up.add_rows(sp.csr_matrix(np.full((2, 20), 1e300)))
    assert up.resolved_method is None
    assert up.shape == (30, 20)
    up.add_rows(np.ones((1, 20)))
    assert up.resolved_method == "zha-simon"


@pytest.mark.parametrize("dtype", [">f8", ">f4"])
def test_byte_swapped_input_is_read_as_its_values(dtype: Any) -> None:
    """'>f8' (big-endian, as read from some files) holds float64 values: fit and svd read
    it, and so do every update, from_factors, update_svd and estimate_drift (they said
    "convert it explicitly (no silent up- or downcast)")."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 20))
    native = np.dtype(dtype).newbyteorder("=")
    E, F = rng.standard_normal((2, 20)), rng.standard_normal((32, 3))
    B, C = rng.standard_normal((32, 1)), rng.standard_normal((23, 1))

    def run(convert: Any) -> rankwise.SVDUpdater:
        up = rankwise.SVDUpdater(5, random_state=0).fit(convert(A))
        up.add_rows(convert(E)).add_columns(convert(F)).update(convert(B), convert(C))
        return up

    swapped = run(lambda x: x.astype(dtype))
    plain = run(lambda x: x.astype(native))
    np.testing.assert_array_equal(swapped.s, plain.s)
    assert swapped.dtype == native
    U, s, Vt = plain.svd()
    again = rankwise.SVDUpdater(5).from_factors(U.astype(dtype), s.astype(dtype), Vt.astype(dtype))
    np.testing.assert_array_equal(again.s, s)
    current = np.vstack([A, E])
    current = np.hstack([current, F]) + B @ C.T
    assert np.isfinite(swapped.estimate_drift(current.astype(dtype)))
    rows = np.ones((1, 23), dtype=dtype)
    _, s2, _ = rankwise.update_svd(U.astype(dtype), s, Vt.astype(dtype), rows=rows)
    assert s2.dtype == native


def test_an_interruption_after_the_first_update_applied_keeps_its_method() -> None:
    """Ctrl-C in the automatic drift check that follows the first update (the update itself
    applied): the method it fixed stays, and the next updates run (the method was reset
    while the native state had counted the update, and every later update was refused)."""
    rng = np.random.default_rng(0)
    A, E = rng.standard_normal((30, 20)), rng.standard_normal((2, 20))
    calls = {"n": 0}

    def current() -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return np.vstack([A, E])

    up = rankwise.SVDUpdater(4, random_state=0, refresh_threshold=0.5, current=current).fit(A)
    with pytest.raises(KeyboardInterrupt):
        up.add_rows(E)
    assert up.resolved_method == "zha-simon"
    up.refresh_threshold = None  # (current() knows the first update only)
    up.add_rows(rng.standard_normal((1, 20)))
    assert up.shape == (33, 20)
