"""Findings of the review of CUR, ID, empirical interpolation and the updating SVD
(broken sparse structure from matrix_eim's assemble, the pinv core's product on
rank-deficient C or R, eps_or_k = 0 in the ID, the drift estimate at rounding level,
zero-term interpolants, the type kept by oversample / remove_points, complex values, and
the low ones), each checked against a numpy or SciPy reference."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import rankwise
import rankwise.interpolative as rli
import scipy.linalg.interpolative as sli
import scipy.sparse as sp
from conftest import eps, random_orthonormal

# -- 1. matrix_eim refuses a broken compressed structure -------------------------------------


def _broken_csr(indices: list[int], indptr: list[int], mu: float = 1.0) -> sp.csr_matrix:
    return sp.csr_matrix((np.array([1.0, mu]), np.array(indices), np.array(indptr)), shape=(2, 2))


BROKEN = [([0, 10**8], [0, 1, 2]), ([0, 5], [0, 1, 2]), ([0, -1], [0, 1, 2]), ([0, 1], [0, 5, 2])]


@pytest.mark.parametrize(("indices", "indptr"), BROKEN)
def test_matrix_eim_refuses_broken_csr(indices: list[int], indptr: list[int]) -> None:
    with pytest.raises(ValueError, match=r"assemble\(mu\) is a broken csr matrix"):
        rankwise.matrix_eim(lambda mu: _broken_csr(indices, indptr, mu), [1.0, 2.0, 3.0])


@pytest.mark.parametrize(("indices", "indptr"), BROKEN)
def test_matrix_eim_refuses_broken_csr_after_the_first_parameter(
    indices: list[int], indptr: list[int]
) -> None:
    def assemble(mu: float) -> sp.csr_matrix:
        if mu == 1.0:
            return _broken_csr([0, 1], [0, 1, 2], mu)
        return _broken_csr(indices, indptr, mu)

    with pytest.raises(ValueError, match=r"assemble\(2\.0\) is a broken csr matrix"):
        rankwise.matrix_eim(assemble, [1.0, 2.0, 3.0])


def test_spectral_norm_estimates_refuse_broken_csr() -> None:
    B = _broken_csr([0, 10**8], [0, 1, 2])
    with pytest.raises(ValueError, match="A is a broken csr matrix"):
        rli.estimate_spectral_norm(B)
    with pytest.raises(ValueError, match="B is a broken csr matrix"):
        rli.estimate_spectral_norm_diff(sp.eye(2, format="csr"), B)
    good = sp.diags_array([3.0, 1.0]).tocsr()
    assert rli.estimate_spectral_norm(good, rng=0) == pytest.approx(3.0)


# -- 2. the pinv core's products equal C U R when C or R is rank deficient -------------------


def _pinv(M: np.ndarray) -> np.ndarray:
    return np.linalg.pinv(M, rcond=1e-10)


def _check_products_equal_cur(d: rankwise.CURDecomposition, A: np.ndarray) -> None:
    C = d.C.toarray() if sp.issparse(d.C) else np.asarray(d.C)
    R = d.R.toarray() if sp.issparse(d.R) else np.asarray(d.R)
    explicit = C @ d.U @ R
    # U = C^+ A R^+, so C U R is the projection C C^+ A R^+ R.  The cutoff is explicit:
    # NumPy 2.5's default kept a singular value of C at 1e-16 of its largest here (entries
    # of C^+ of 2e14), and its projection was off by 0.8.
    reference = C @ _pinv(C) @ A @ _pinv(R) @ R
    scale = np.linalg.norm(A)
    tol = 1e3 * eps(np.float64) * scale
    np.testing.assert_allclose(explicit, reference, atol=tol)
    np.testing.assert_allclose(d.to_dense(), reference, atol=tol)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((A.shape[1], 3))
    y = rng.standard_normal((2, A.shape[0]))
    np.testing.assert_allclose(d @ x, reference @ x, atol=tol * np.linalg.norm(x))
    np.testing.assert_allclose(y @ d, y @ reference, atol=tol * np.linalg.norm(y))
    true = np.linalg.norm(A - reference)
    est = d.estimate_error(A, n_probes=40, random_state=1)
    assert 0.5 * true < est < 2 * true


@pytest.mark.parametrize("sparse", [False, True])
def test_pinv_core_with_a_zero_column(sparse: bool) -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 5))
    A[:, 4] = 0.0
    d = rankwise.cur(
        sp.csr_matrix(A) if sparse else A, 2, cols=[0, 4], rows=[0, 1, 2], core="pinv"
    )
    _check_products_equal_cur(d, A)
    # the product lies in the span of the selected columns (rank 1)
    assert np.linalg.matrix_rank(np.hstack([A[:, [0]], d.to_dense()])) == 1


def test_pinv_core_of_a_dask_array_with_a_zero_column() -> None:
    """The dask path's Qc (CholeskyQR3, TSQR where C is singular) kept a column outside C's
    range as the in-memory plain QR did; it is cut to C's rank the same way."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 5))
    A[:, 4] = 0.0
    d = rankwise.cur(da.from_array(A, chunks=(20, 5)), 2, cols=[0, 4], rows=[0, 1, 2], core="pinv")
    C, R = A[:, d.cols], A[d.rows]
    reference = C @ _pinv(C) @ A @ _pinv(R) @ R
    tol = 1e3 * eps(np.float64) * np.linalg.norm(A)
    np.testing.assert_allclose(C @ d.U @ R, reference, atol=tol)
    np.testing.assert_allclose(np.asarray(d.to_dense()), reference, atol=tol)
    x = rng.standard_normal(5)
    np.testing.assert_allclose(np.asarray(d @ x), reference @ x, atol=tol * np.linalg.norm(x))


def test_pinv_core_with_duplicated_rows_and_columns() -> None:
    rng = np.random.default_rng(1)
    A = rng.standard_normal((30, 20))
    A[:, 7] = A[:, 3]
    A[12] = 2.0 * A[5]
    d = rankwise.cur(A, 4, cols=[3, 7, 10, 11], rows=[5, 12, 0, 1, 2], core="pinv")
    _check_products_equal_cur(d, A)


@pytest.mark.parametrize("seed", range(3))
def test_pinv_core_on_sparse_samples_with_empty_rows_and_columns(seed: int) -> None:
    S = sp.random(300, 200, density=0.01, random_state=4, format="csr")
    d = rankwise.cur(S, 40, method="uniform", core="pinv", random_state=seed)
    _check_products_equal_cur(d, S.toarray())


# -- 3. eps_or_k = 0 and a precision below the range of eps |R_00| ---------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_interp_decomp_at_zero_precision_gives_the_full_rank(dtype: type) -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((100, 80))
    if dtype == np.complex128:
        A = A + 1j * rng.standard_normal((100, 80))
    k, idx, proj = rli.interp_decomp(A, 0.0, rng=0)
    assert k == sli.interp_decomp(A, 0.0)[0] == 80
    B = rli.reconstruct_matrix_from_id(A[:, idx[:k]], idx, proj)
    np.testing.assert_allclose(B, A, atol=1e-12 * np.linalg.norm(A))
    U, s, V = rli.svd(A, 0.0, rng=0)
    assert s.size == 80
    np.testing.assert_allclose((U * s) @ V.conj().T, A, atol=1e-12 * np.linalg.norm(A))


def test_interp_decomp_tiny_precision_on_a_tiny_matrix() -> None:
    A = np.random.default_rng(0).standard_normal((100, 80)) * 1e-30
    k, idx, proj = rli.interp_decomp(A, 1e-300, rng=0)
    assert k == 80
    B = rli.reconstruct_matrix_from_id(A[:, idx[:k]], idx, proj)
    np.testing.assert_allclose(B, A, atol=1e-12 * np.linalg.norm(A))


# -- 4. the drift estimate at rounding level ---------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tail", [0.0, 1e-10])
def test_drift_is_zero_for_exact_factors_of_a_rank_k_matrix(dtype: type, tail: float) -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 5)) @ rng.standard_normal((5, 30))
    A = (A + tail * np.linalg.norm(A) * rng.standard_normal(A.shape) / 35).astype(dtype)
    up = rankwise.SVDUpdater(5, random_state=0).fit(A)
    U, s, Vt = up.svd()
    best = np.linalg.norm(np.linalg.svd(A.astype(np.float64), compute_uv=False)[5:])
    # the factors are the best rank-5 ones to rounding: the true excess is about 0
    assert np.linalg.norm(A - (U * s) @ Vt) - best < 1e3 * eps(dtype) * np.linalg.norm(A)
    assert up.estimate_drift(A) == 0.0
    assert up.estimate_drift(sp.csr_matrix(A)) == 0.0


def test_no_spurious_refresh_on_an_exactly_rank_k_stream() -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 5)) @ rng.standard_normal((5, 30))
    current = {"A": A}
    up = rankwise.SVDUpdater(
        5,
        method="zha-simon",
        refresh_threshold=1.0,
        current=lambda: current["A"],
        random_state=0,
    ).fit(A)
    for i in range(4):
        E = 2.0 * A[i : i + 3]
        current["A"] = np.vstack([current["A"], E])
        up.add_rows(E)
        assert up.last_drift == 0.0
    assert up.n_refreshes == 0


def test_drift_stays_a_lower_bound_on_decaying_spectra() -> None:
    rng = np.random.default_rng(0)
    for _ in range(12):
        m, n, k = int(rng.integers(20, 120)), int(rng.integers(20, 120)), int(rng.integers(1, 9))
        sig = np.exp(-np.arange(min(m, n)) * rng.uniform(0.01, 1.0))
        A = (random_orthonormal(rng, m, sig.size) * sig) @ random_orthonormal(rng, n, sig.size).T
        up = rankwise.SVDUpdater(k, random_state=0).fit(A[: m // 2])
        up.add_rows(A[m // 2 :])
        U, s, Vt = up.svd()
        true = np.linalg.norm(A - (U * s) @ Vt) / np.sqrt(np.sum(sig[k:] ** 2)) - 1
        assert up.estimate_drift(A) <= true + 1e-6
        assert up.estimate_drift(sp.csr_matrix(A)) <= true + 1e-6


def test_drift_still_sees_factors_of_another_matrix() -> None:
    rng = np.random.default_rng(2)
    A = rng.standard_normal((60, 4)) @ rng.standard_normal((4, 50))
    B = A + 0.5 * np.linalg.norm(A) / 50 * rng.standard_normal(A.shape)
    up = rankwise.SVDUpdater(4, random_state=0).fit(A)
    U, s, Vt = up.svd()
    sB = np.linalg.svd(B, compute_uv=False)
    true = np.linalg.norm(B - (U * s) @ Vt) / np.linalg.norm(sB[4:]) - 1
    assert 0.0 < up.estimate_drift(B) <= true + 1e-6


# -- 5. no zero-term interpolants ---------------------------------------------------------


def _snapshots() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((50, 4)) @ rng.standard_normal((4, 30))


@pytest.mark.parametrize("tol", [1.0, 2.5])
def test_eim_refuses_tol_of_one_or_more(tol: float) -> None:
    with pytest.raises(ValueError, match="tol must be < 1"):
        rankwise.eim(_snapshots(), tol=tol)
    with pytest.raises(ValueError, match="tol must be < 1"):
        rankwise.matrix_eim(lambda mu: np.eye(3) * mu + 1, [1.0, 2.0, 3.0], tol=tol)


def test_eim_refuses_atol_above_the_largest_snapshot_norm() -> None:
    S = _snapshots()
    largest = np.abs(S).max()
    with pytest.raises(ValueError, match="atol"):
        rankwise.eim(S, atol=largest)
    ei = rankwise.eim(S, atol=0.999 * largest)
    assert ei.n_terms >= 1
    assert ei.lebesgue_constant >= 1.0
    assert rankwise.eim(S, tol=0.999).n_terms >= 1


# -- 6. oversample / remove_points keep the class and its attributes ------------------------


def test_oversampled_eim_keeps_its_snapshots() -> None:
    S = _snapshots()
    ei = rankwise.eim(S)
    over = ei.oversample(8)
    assert isinstance(over, rankwise.EmpiricalInterpolant)
    assert over.n_points == 8
    assert over.n_terms == ei.n_terms
    np.testing.assert_array_equal(over.points[: ei.n_terms], ei.points)
    np.testing.assert_array_equal(over.selected_snapshots, ei.selected_snapshots)
    np.testing.assert_array_equal(over.errors, ei.errors)
    np.testing.assert_array_equal(over.cross_matrix, ei.cross_matrix)
    # the snapshots lie in the span: least-squares coefficients reproduce them
    beta = over.snapshot_coefficients(S[over.points])
    np.testing.assert_allclose(
        ei.selected_snapshots @ beta, S, atol=1e3 * eps(np.float64) * np.abs(S).max()
    )
    np.testing.assert_allclose(
        over.snapshot_coefficients(ei.selected_snapshots[over.points]),
        np.eye(ei.n_terms),
        atol=1e-10,
    )
    fewer = over.remove_points(over.points[[0, 2]])
    assert isinstance(fewer, rankwise.EmpiricalInterpolant)
    np.testing.assert_allclose(
        ei.selected_snapshots @ fewer.snapshot_coefficients(S[fewer.points]),
        S,
        atol=1e3 * eps(np.float64) * np.abs(S).max(),
    )
    # truncate describes the greedy, whatever the points
    t = fewer.truncate(2)
    np.testing.assert_array_equal(t.points, ei.points[:2])
    np.testing.assert_array_equal(t.basis, ei.truncate(2).basis)
    assert "n_points=8" in repr(over)


def test_oversampled_eim_stabilizes_with_its_default_snapshots() -> None:
    S = _snapshots()
    ei = rankwise.eim(S)
    by_default = ei.oversample(8).stabilize(0.1)
    explicit = ei.oversample(8).stabilize(0.1, ei.selected_snapshots)
    v = S[by_default.points]
    np.testing.assert_allclose(by_default.coefficients(v), explicit.coefficients(v))
    assert isinstance(by_default, rankwise.EmpiricalInterpolant)


def test_point_selection_oversample_keeps_its_method() -> None:
    U = random_orthonormal(np.random.default_rng(0), 60, 4)
    sel = rankwise.deim(U)
    over = sel.oversample(7)
    assert type(over) is type(sel)
    assert over.method == "deim"
    assert over.remove_points(over.points[-1]).method == "deim"
    # the cached factorization of the original points is not reused
    f = U @ np.arange(1.0, 5.0)
    np.testing.assert_allclose(over(f[over.points]), f, atol=1e-12)
    np.testing.assert_allclose(over.lebesgue_constant, 1 / np.linalg.svd(U[over.points])[1][-1])


# -- 7. complex values --------------------------------------------------------------------


def test_complex_values_are_refused_not_truncated() -> None:
    U = random_orthonormal(np.random.default_rng(0), 50, 3)
    s = rankwise.deim(U)
    v = U[s.points] @ np.array([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="values must be real"):
        s.coefficients(v + 1j * v)
    with pytest.raises(TypeError, match="values must be real"):
        s(v + 1j * v)
    ei = rankwise.eim(_snapshots())
    with pytest.raises(TypeError, match="values must be real"):
        ei.snapshot_coefficients(np.ones(ei.n_points, dtype=complex))
    np.testing.assert_allclose(s.coefficients(v), [1.0, 2.0, 3.0])


# -- 8. the low ones --------------------------------------------------------------------


@pytest.mark.parametrize("select", [rankwise.deim, rankwise.qdeim, lambda U: rankwise.odeim(U, 5)])
def test_sparse_basis_is_refused_clearly(select: Any) -> None:
    U = sp.csr_matrix(random_orthonormal(np.random.default_rng(0), 40, 3))
    with pytest.raises(TypeError, match=r"sparse.*toarray"):
        select(U)


@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csc_array, sp.coo_matrix])
def test_cur_products_with_sparse_operands(kind: Any) -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 30))
    d = rankwise.cur(A, 5, random_state=0)
    D = d.to_dense()
    X = kind(sp.random(30, 4, density=0.3, random_state=1).toarray())
    Y = kind(sp.random(3, 40, density=0.3, random_state=2).toarray())
    np.testing.assert_allclose(d @ X, D @ X.toarray(), atol=1e-12 * np.linalg.norm(D))
    np.testing.assert_allclose(Y @ d, Y.toarray() @ D, atol=1e-12 * np.linalg.norm(D))
    with pytest.raises(ValueError, match="x is a broken csr matrix"):
        d @ sp.csr_matrix((np.ones(1), np.array([99]), np.array([0] + [1] * 30)), shape=(30, 1))


def test_remove_no_points_is_a_copy() -> None:
    U = random_orthonormal(np.random.default_rng(0), 40, 3)
    sel = rankwise.odeim(U, 5)
    same = sel.remove_points([])
    np.testing.assert_array_equal(same.points, sel.points)
    assert same.method == "odeim"


def test_eim_norm_as_nested_lists_is_the_array_form() -> None:
    S = _snapshots()
    rng = np.random.default_rng(3)
    G = rng.standard_normal((50, 50))
    M = G @ G.T + 50 * np.eye(50)
    from_list = rankwise.eim(S, norm=M.tolist())
    from_array = rankwise.eim(S, norm=M)
    np.testing.assert_array_equal(from_list.points, from_array.points)
    np.testing.assert_array_equal(from_list.errors, from_array.errors)


@pytest.mark.parametrize("value", [np.float32(1e4), np.int64(10000), np.float64(1e4)])
def test_updater_takes_numpy_scalars(value: Any) -> None:
    up = rankwise.SVDUpdater(3, method="sparse", max_cond=value)
    assert up.max_cond == 1e4
    up = rankwise.SVDUpdater(3, refresh_threshold=value * 1e-5, current=lambda: None)
    assert up.refresh_threshold == pytest.approx(0.1)
    for bad in (np.bool_(True), np.float64(np.nan), np.float32(0.5), np.inf):
        with pytest.raises(ValueError, match="max_cond"):
            rankwise.SVDUpdater(3, max_cond=bad)


def test_odeim_with_repeated_singular_values_warns_nothing() -> None:
    # (pytest's filterwarnings = error turns a RuntimeWarning into a failure)
    U = np.eye(6, 3)
    sel = rankwise.odeim(U, 6)
    np.testing.assert_array_equal(np.sort(sel.points), np.arange(6))
    f = U @ np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(sel(f[sel.points]), f)


def test_stabilize_on_a_subnormal_basis_is_a_clear_error() -> None:
    rng = np.random.default_rng(0)
    S = rng.standard_normal((50, 3)) @ rng.standard_normal((3, 20))
    U = np.linalg.svd(S, full_matrices=False)[0][:, :3]
    sel = rankwise.deim(U * 1e-310)
    with pytest.raises(ValueError, match="coefficients in the basis overflow"):
        sel.stabilize(0.1, S)


@pytest.mark.parametrize("kind", [sp.csr_array, sp.csr_matrix])
def test_matrix_eim_keeps_the_sparse_type(kind: Any) -> None:
    n = 20
    K = sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1])

    def A(mu: float) -> Any:
        return kind(K + np.exp(mu) * sp.eye_array(n))

    approx = rankwise.matrix_eim(A, np.linspace(0, 1, 11))
    assert all(type(M) is kind for M in approx.matrices)
    assembled = approx.assemble(0.37)
    assert type(assembled) is kind
    np.testing.assert_allclose(assembled.toarray(), A(0.37).toarray(), atol=1e-12)


def test_updater_refresh_check_that_cannot_run_warns_after_applying_the_update() -> None:
    """current() still returning the matrix before the update raised out of add_rows with the
    rows already added: a caller retrying the call would have added them twice."""
    A0 = np.random.default_rng(0).standard_normal((40, 30))
    state = {"A": A0}
    up = rankwise.SVDUpdater(5, refresh_threshold=0.05, current=lambda: state["A"]).fit(A0)
    E = np.random.default_rng(1).standard_normal((3, 30))
    with pytest.warns(RuntimeWarning, match="the update was applied"):
        up.add_rows(E)
    assert up.shape == (43, 30)
    assert up.n_updates == 1
    # current() giving the updated matrix (set before the call): the check runs silently
    state["A"] = np.vstack([A0, E, np.zeros((1, 30))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        up.add_rows(np.zeros((1, 30)))
    assert up.last_drift is not None


def test_updater_fit_and_interp_decomp_refuse_dask_arrays_clearly() -> None:
    """SVDUpdater.fit computed the dask SVD and then failed in the binding with pybind11's
    signature dump; interp_decomp said "invalid input type" without naming dask."""
    da = pytest.importorskip("dask.array")
    D = da.from_array(np.random.default_rng(0).standard_normal((60, 20)), chunks=(20, 20))
    with pytest.raises(TypeError, match="dask array"):
        rankwise.SVDUpdater(3).fit(D)
    with pytest.raises(TypeError, match="dask array"):
        rli.interp_decomp(D, 3)
