"""rankwise.interpolative against scipy.linalg.interpolative: same conventions, accuracy at
least as good (up to a small factor), bad input rejected as SciPy rejects it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.linalg
import scipy.linalg.interpolative as sli
from conftest import random_orthonormal
from rankwise import interpolative as rli
from scipy.sparse.linalg import aslinearoperator

DTYPES = (np.float64, np.complex128)


def decaying(m: int, n: int, dtype: type, rate: float = 4.0, seed: int = 0) -> np.ndarray:
    """U diag(exp(-j / rate)) V^H with Haar U, V (complex Haar for complex dtype)."""
    rng = np.random.default_rng(seed)
    r = min(m, n)
    s = np.exp(-np.arange(r) / rate)
    U, V = random_orthonormal(rng, m, r), random_orthonormal(rng, n, r)
    if np.dtype(dtype).kind == "c":
        U = U * np.exp(2j * np.pi * rng.random(r))
        V = V * np.exp(2j * np.pi * rng.random(r))
    return ((U * s) @ V.conj().T).astype(dtype)


def id_error(A: np.ndarray, k: int, idx: np.ndarray, proj: np.ndarray) -> float:
    B = rli.reconstruct_matrix_from_id(A[:, idx[:k]], idx, proj)
    return float(np.linalg.norm(A - B, 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rand", [False, True])
@pytest.mark.parametrize("k", [1, 10, 30])
def test_fixed_rank_accuracy_like_scipy(dtype: type, rand: bool, k: int) -> None:
    A = decaying(150, 120, dtype)
    idx, proj = rli.interp_decomp(A, k, rand=rand, rng=0)
    assert idx.shape == (120,)
    assert sorted(idx.tolist()) == list(range(120))
    assert proj.shape == (k, 120 - k)
    assert proj.dtype == dtype
    ours = id_error(A, k, idx, proj)
    sidx, sproj = sli.interp_decomp(A, k, rand=rand, rng=0)
    theirs = id_error(A, k, sidx, sproj)
    sigma = scipy.linalg.svdvals(A)
    # an ID is within a modest factor of sigma_{k+1} (Cheng et al. 2005: sqrt(1 + k(n - k))
    # for a strong RRQR; pivoted QR and sketches are as good in practice)
    assert ours <= np.sqrt(1 + k * (120 - k)) * sigma[k] * 10
    # the same pivoted QR as SciPy's (on A, or on Q^H A of a 2k-column range sketch):
    # measured ours / theirs = 1.000 over 5 matrices x 5 seeds
    assert ours <= 1.1 * theirs + 1e-13


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [4.0, 30.0])
def test_fixed_rank_randomized_as_accurate_as_pivoted_qr_of_a(dtype: type, rate: float) -> None:
    # the randomized fixed-rank ID pivots on Q^H A (Q a basis of A Omega, 2k columns): where
    # the rank-2k range is exact to working precision (fast decay) it picks the columns of
    # pivoted QR on A itself; on slow decay it stays close (a plain sketch Omega A of the
    # same size was 1.6x worse on the first matrix)
    A = decaying(400, 300, dtype, rate=rate, seed=3)
    k = 40
    idx, proj = rli.interp_decomp(A, k, rand=True, rng=0)
    didx, dproj = sli.interp_decomp(A, k, rand=False)
    fro = {}
    for name, (i, p) in {"ours": (idx, proj), "pivoted QR": (didx, dproj)}.items():
        B = rli.reconstruct_matrix_from_id(A[:, i[:k]], i, p)
        fro[name] = np.linalg.norm(A - B)
    assert fro["ours"] <= (1.01 if rate == 4.0 else 1.3) * fro["pivoted QR"]
    if rate == 4.0:
        assert set(idx[:k].tolist()) == set(didx[:k].tolist())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rand", [False, True])
@pytest.mark.parametrize("eps", [1e-3, 1e-8, 1e-12])
def test_fixed_precision(dtype: type, rand: bool, eps: float) -> None:
    A = decaying(200, 160, dtype, rate=3.0)
    k, idx, proj = rli.interp_decomp(A, eps, rand=rand, rng=1)
    s = scipy.linalg.svdvals(A)
    # rank close to the numerical rank at eps, error close to eps ||A||
    assert k >= np.count_nonzero(s > eps * s[0]) - 2
    assert k <= np.count_nonzero(s > eps * s[0] / 1e3) + 2
    assert id_error(A, k, idx, proj) <= 100 * np.sqrt(160) * eps * s[0]
    sk = sli.interp_decomp(A, eps, rand=rand, rng=1)[0]
    assert abs(k - sk) <= 5


def test_sketch_growth_follows_the_decay() -> None:
    # exp(-j / 5) crosses 1e-8 at j = 92.1: the 32-row step predicts it and asks for
    # 92 + _OVERSAMPLE + _MARGIN rows; growth is kept within [1.25 l, 4 l]
    d = np.exp(-np.arange(32) / 5.0)
    assert rli._next_rows(d, 32, 32, 1e-8) == 92 + rli._OVERSAMPLE + rli._MARGIN
    assert rli._next_rows(d, 32, 32, 1e-30) == 4 * 32
    assert rli._next_rows(np.ones(32), 32, 32, 1e-8) == 4 * 32  # no decay seen: the cap
    assert rli._next_rows(np.exp(-np.arange(64) / 0.5), 64, 50, 1e-8) == 80  # >= 1.25 l


@pytest.mark.parametrize("eps", [1e-4, 3e-5, 1e-5])
def test_fixed_precision_rank_near_n(eps: float) -> None:
    # tall A with few columns and a rank within _OVERSAMPLE of n: the sketch outgrows n
    # (its pivoted QR has only n pivots) before A itself is factored
    rng = np.random.default_rng(0)
    m, n = 300, 40
    s = np.exp(-np.arange(n) / 3.0)
    A = (random_orthonormal(rng, m, n) * s) @ random_orthonormal(rng, n, n).T
    k, idx, proj = rli.interp_decomp(A, eps, rng=0)
    assert k >= np.count_nonzero(s > eps * s[0]) - 2
    assert id_error(A, k, idx, proj) <= 100 * np.sqrt(n) * eps * s[0]


@pytest.mark.parametrize(("m", "n", "rank"), [(20000, 5, 4), (20000, 30, 25)])
def test_fixed_precision_sketch_stops_growing_past_n(m: int, n: int, rank: int) -> None:
    # a rank within _OVERSAMPLE of n never left _OVERSAMPLE of min(l, n) pivots spare: the
    # sketch grew to about m rows (an m x m Gaussian matrix: 983 MB at m = 20000, n = 5);
    # n + _OVERSAMPLE rows see all of A's row space
    import tracemalloc

    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    tracemalloc.start()
    try:
        k, idx, proj = rli.interp_decomp(A, 1e-10, rng=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert k == rank
    assert id_error(A, k, idx, proj) <= 1e-12 * np.linalg.norm(A)
    assert peak <= 20 * A.nbytes


@pytest.mark.parametrize(("decay", "eps"), [("exp", 1e-4), ("exp", 1e-8), ("power", 1e-2)])
def test_fixed_precision_sketch_finds_the_pivoted_qr_rank(decay: str, eps: float) -> None:
    # |R_kk| / |R_00| of a Gaussian sketch with l rows is the residual's ratio shrunk by about
    # sqrt((l - k) / l): the rule taken as it is stopped early (exp(-j/10), eps = 1e-4: ranks
    # 92-94 where pivoted QR of A has 104, errors up to 11 eps; (1+j)^-1 at 1e-2: 240-252
    # against 400; load_digits at 1e-3: 58-60 of its 61 with errors up to 2.1 eps)
    rng = np.random.default_rng(0)
    m, n = 2000, 400
    j = np.arange(n)
    s = np.exp(-j / 10) if decay == "exp" else 1 / (1 + j)
    A = (random_orthonormal(rng, m, n) * s) @ random_orthonormal(rng, n, n).T
    k_qr = sli.interp_decomp(A, eps, rand=False)[0]
    for seed in range(3):
        k, idx, proj = rli.interp_decomp(A, eps, rng=seed)
        assert k >= k_qr - 4
        assert id_error(A, k, idx, proj) <= 8 * eps * s[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_fixed_precision_algebraic_decay(dtype: type) -> None:
    # sigma_j = (1 + j)^-3: the extrapolation from the first steps underestimates the rank,
    # so the sketch grows several times; the result must still reach eps
    rng = np.random.default_rng(3)
    m, n, eps = 400, 300, 1e-6
    s = (1.0 + np.arange(n)) ** -3.0
    U, V = random_orthonormal(rng, m, n), random_orthonormal(rng, n, n)
    A = ((U * s) @ V.T).astype(dtype)
    k, idx, proj = rli.interp_decomp(A, eps, rng=0)
    assert k >= np.count_nonzero(s > eps * s[0]) - 2
    assert id_error(A, k, idx, proj) <= 100 * np.sqrt(n) * eps * s[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_operator_input(dtype: type) -> None:
    A = decaying(90, 70, dtype, rate=1.0)
    L = aslinearoperator(A)
    k, idx, proj = rli.interp_decomp(L, 1e-9, rng=0)
    assert id_error(A, k, idx, proj) < 1e-7
    U, S, V = rli.svd(L, 12, rng=0)
    assert U.shape == (90, 12)
    assert V.shape == (70, 12)
    s = scipy.linalg.svdvals(A)
    np.testing.assert_allclose(S, s[:12], rtol=0, atol=10 * s[12])


@pytest.mark.parametrize("dtype", DTYPES)
def test_svd_and_id_to_svd(dtype: type) -> None:
    A = decaying(80, 60, dtype, rate=1.0)
    for rand in (False, True):
        U, S, V = rli.svd(A, 20, rand=rand, rng=0)
        np.testing.assert_allclose(U.conj().T @ U, np.eye(20), atol=1e-12)
        np.testing.assert_allclose(V.conj().T @ V, np.eye(20), atol=1e-12)
        assert np.all(np.diff(S) <= 0)
        assert np.linalg.norm(A - U * S @ V.conj().T, 2) < 1e-6
    idx, proj = rli.interp_decomp(A, 20, rand=False)
    U, S, V = rli.id_to_svd(A[:, idx[:20]], idx, proj)
    P = rli.reconstruct_interp_matrix(idx, proj)
    B = rli.reconstruct_skel_matrix(A, 20, idx)
    np.testing.assert_allclose(U * S @ V.conj().T, B @ P, atol=1e-12)


def test_reconstructions_match_scipy() -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((7, 9))
    idx = rng.permutation(9)
    proj = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(
        rli.reconstruct_interp_matrix(idx, proj), sli.reconstruct_interp_matrix(idx, proj)
    )
    np.testing.assert_array_equal(
        rli.reconstruct_skel_matrix(A, 4, idx), sli.reconstruct_skel_matrix(A, 4, idx)
    )
    B = A[:, idx[:4]]
    np.testing.assert_allclose(
        rli.reconstruct_matrix_from_id(B, idx, proj), sli.reconstruct_matrix_from_id(B, idx, proj)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_spectral_norm_estimates(dtype: type) -> None:
    A = decaying(60, 50, dtype, rate=1.0)
    s = scipy.linalg.svdvals(A)
    np.testing.assert_allclose(rli.estimate_spectral_norm(A, rng=0), s[0], rtol=1e-8)
    B = A.copy()
    B[:, 3] *= 1.5
    d = scipy.linalg.svdvals(A - B)[0]
    np.testing.assert_allclose(rli.estimate_spectral_norm_diff(A, B, rng=0), d, rtol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_estimate_rank(dtype: type) -> None:
    A = decaying(300, 250, dtype, rate=3.0)
    s = scipy.linalg.svdvals(A)
    for eps in (1e-4, 1e-9):
        exact = int(np.count_nonzero(s > eps * s[0]))
        for X in (A, aslinearoperator(A)):
            r = rli.estimate_rank(X, eps, rng=0)
            assert exact <= r <= exact + 6


def test_inputs_not_modified() -> None:
    for dtype in DTYPES:
        A = decaying(40, 30, dtype)
        saved = A.copy()
        rli.interp_decomp(A, 1e-6, rand=False)
        rli.interp_decomp(A, 5, rng=0)
        rli.svd(A, 5, rng=0)
        rli.estimate_rank(A, 1e-6, rng=0)
        np.testing.assert_array_equal(A, saved)


def test_bad_input() -> None:
    A = decaying(10, 8, np.float64)
    with pytest.raises(ValueError, match="dtype"):
        rli.interp_decomp(A.astype(np.float32), 1e-6)
    with pytest.raises(ValueError, match="rank"):
        rli.svd(A, 9)
    with pytest.raises(ValueError, match="rank"):
        rli.interp_decomp(A, 9)
    B = A.copy()
    B[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rli.interp_decomp(B, 3)
    with pytest.raises(TypeError, match="type"):
        rli.interp_decomp([[1.0, 2.0]], 1)
    with pytest.raises(ValueError, match="non-negative"):
        rli.interp_decomp(A, -1.0)
    with pytest.raises(ValueError, match="its"):
        rli.estimate_spectral_norm(A, its=-3)
    with pytest.raises(TypeError, match="its"):
        rli.estimate_spectral_norm_diff(A, A, its=2.5)


def test_zero_matrix_has_rank_zero() -> None:
    k, _, proj = rli.interp_decomp(np.zeros((5, 4)), 1e-6, rand=False)
    assert k == 0
    assert proj.shape == (0, 4)
    assert rli.estimate_rank(np.zeros((5, 4)), 1e-6) == 0


def test_interp_decomp_at_tolerances_near_rounding_is_as_accurate_as_scipy() -> None:
    """sigma_j = exp(-j/5), 300 x 200 (found by review): coefficients from a least-squares
    solve (taken wherever a pivot was below k eps |R_00|) gave 2.7e-14 at eps = 1e-14 and
    7.5e-15 at k = 190, where SciPy's triangular solve on the same pivots gives 6.5e-15 and
    4.1e-16."""
    rng = np.random.default_rng(0)
    U = np.linalg.qr(rng.standard_normal((300, 200)))[0]
    V = np.linalg.qr(rng.standard_normal((200, 200)))[0]
    A = (U * np.exp(-np.arange(200) / 5)) @ V.T

    def error(idx: np.ndarray, proj: np.ndarray, k: int) -> float:
        B = rli.reconstruct_matrix_from_id(A[:, idx[:k]], idx, proj)
        return float(np.linalg.norm(A - B, 2) / np.linalg.norm(A, 2))

    for eps in (1e-14, 3e-15):
        k, idx, proj = rli.interp_decomp(A, eps, rand=False)
        k_ref, idx_ref, proj_ref = sli.interp_decomp(A, eps, rand=False)
        # The rank is where a pivot of R falls below eps |R_00|; at these tolerances the
        # pivots are rounding noise and the rank can differ by one with the BLAS's kernels
        # (AMD EPYC, OpenBLAS SkylakeX kernels: 173 where SciPy chose 174 at 1e-14, with an
        # error of 6.5e-15 against SciPy's 4.3e-15).  The least-squares coefficients of the
        # defect gave 2.7e-14 at eps = 1e-14: above both bounds.
        assert abs(k - k_ref) <= 1
        assert error(idx, proj, k) <= 1.5 * max(error(idx_ref, proj_ref, k_ref), eps) + 1e-16
    idx, proj = rli.interp_decomp(A, 190, rand=False)
    assert error(idx, proj, 190) <= 1.5 * error(*sli.interp_decomp(A, 190, rand=False), 190)


@pytest.mark.parametrize(
    "call",
    [
        lambda op: rli.interp_decomp(op, 3, rng=0),
        lambda op: rli.interp_decomp(op, 1e-6, rng=0),
        lambda op: rli.svd(op, 3, rng=0),
        lambda op: rli.estimate_spectral_norm(op, rng=0),
    ],
)
def test_an_operator_without_adjoint_is_named_as_such(call: Any) -> None:
    """A LinearOperator from a matvec alone: SciPy's exception type, NotImplementedError,
    with a message naming the missing rmatvec (the calls raised TypeError: 'NoneType'
    object is not callable)."""
    from scipy.sparse.linalg import LinearOperator

    rng = np.random.default_rng(0)
    A = rng.standard_normal((80, 5)) @ rng.standard_normal((5, 60))
    op = LinearOperator(A.shape, matvec=lambda x: A @ x, dtype=np.float64)
    with pytest.raises(NotImplementedError, match="without rmatvec or rmatmat"):
        call(op)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_np_matrix_input(dtype: Any) -> None:
    """np.matrix (csr_matrix(A).todense() gives one) raised TypeError in the scaling code
    (found by review); SciPy takes it."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((40, 6)), rng.standard_normal((6, 30))
    if dtype == np.complex128:
        X = X + 1j * rng.standard_normal((40, 6))
    A = X @ Y
    M = np.asmatrix(A)
    for rand in (False, True):
        k, idx, proj = rli.interp_decomp(M, 1e-10, rand=rand)
        assert k == 6
        B = A[:, idx[:k]]
        assert np.linalg.norm(rli.reconstruct_matrix_from_id(B, idx, proj) - A) < 1e-8
    S = rli.svd(M, 6)[1]
    np.testing.assert_allclose(S, np.linalg.svd(A, compute_uv=False)[:6], rtol=1e-10)
    assert rli.estimate_rank(M, 1e-10) == 6


def test_an_operator_of_one_dimensional_vectors() -> None:
    """A LinearOperator whose matvec / rmatvec take 1-D vectors only (np.convolve):
    SciPy calls them one vector at a time; rankwise handed them (n, 1) columns through
    LinearOperator's default matmat and failed (found by review)."""
    from scipy.sparse.linalg import LinearOperator

    rng = np.random.default_rng(0)
    kernel = rng.standard_normal(5)
    n = 60
    op = LinearOperator(
        (n + 4, n),
        matvec=lambda x: np.convolve(x, kernel),
        rmatvec=lambda y: np.correlate(y, kernel, mode="valid"),
        dtype=np.float64,
    )
    A = np.column_stack([np.convolve(e, kernel) for e in np.eye(n)])
    k, idx, proj = rli.interp_decomp(op, 1e-10, rng=0)
    assert np.linalg.norm(rli.reconstruct_matrix_from_id(A[:, idx[:k]], idx, proj) - A) < 1e-8
    idx, proj = rli.interp_decomp(op, 10, rng=0)
    assert idx.shape == (n,)
    S = rli.svd(op, 1e-12, rng=0)[1]
    np.testing.assert_allclose(S, np.linalg.svd(A, compute_uv=False), rtol=1e-8)
    assert rli.estimate_rank(op, 1e-10, rng=0) == n


@pytest.mark.parametrize("eps_or_k", [np.array(1e-8), np.array(5), True, np.float64(1e-8)])
def test_eps_or_k_as_scipy_takes_it(eps_or_k: Any) -> None:
    """0-d arrays and bools (found by review: TypeError)."""
    A = np.random.default_rng(0).standard_normal((30, 20))
    got = rli.interp_decomp(A, eps_or_k, rand=False)
    expected = sli.interp_decomp(A, eps_or_k, rand=False)
    assert len(got) == len(expected)
    k = got[0] if len(got) == 3 else int(eps_or_k)
    assert k == (expected[0] if len(expected) == 3 else k)
    # the same ID (the columns after the k skeleton ones come in another order)
    (idx, proj), (sidx, sproj) = got[-2:], expected[-2:]
    np.testing.assert_array_equal(np.sort(idx[:k]), np.sort(sidx[:k]))
    np.testing.assert_allclose(
        sli.reconstruct_matrix_from_id(A[:, idx[:k]], idx, proj),
        sli.reconstruct_matrix_from_id(A[:, sidx[:k]], sidx, sproj),
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "options",
    [
        {"method": "uniform", "core": "cross"},
        {"method": "uniform", "core": "pinv"},
        {"method": "deim", "core": "stabilized"},
        {"rows": np.arange(5), "cols": np.arange(5), "core": "cross"},
        {"rows": np.arange(5), "cols": np.arange(5), "core": "pinv"},
    ],
)
def test_cur_of_an_operator_without_adjoint_says_so(options: dict) -> None:
    """rankwise.cur reads A's rows through A^T: an operator from a matvec (and matmat) alone
    gets the MissingAdjointError naming rmatvec on every path (uniform sampling and given
    rows raised TypeError: 'NoneType' object is not callable)."""
    from rankwise._errors import MissingAdjointError
    from scipy.sparse.linalg import LinearOperator

    A = np.random.default_rng(0).standard_normal((50, 40))
    op = LinearOperator(A.shape, matvec=lambda x: A @ x, matmat=lambda X: A @ X, dtype=float)
    with pytest.raises(MissingAdjointError, match="define rmatvec"):
        rankwise.cur(op, 5, random_state=0, **options)
