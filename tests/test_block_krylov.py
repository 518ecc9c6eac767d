"""rankwise.svd(method="block_krylov") with n_passes and block_size: the block Golub-Kahan
iteration keeps every product, so

* an even pass count P is n_iter = P / 2 - 1 (the same computation);
* with the same seed and block size the error never grows with P: an odd P's factors are the
  best rank-k approximation with rows in the right Krylov space range(V), which holds the
  row space of the even P - 1's factors; an even P's are the best with columns in
  range(U) = range(A V), which holds the column space of the odd P - 1's;
* blocks narrower than k recover a matrix of rank <= b floor(P / 2) exactly.

The reference is float64 LAPACK on the exact values rankwise sees (conftest.Problem)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import (
    FLOAT_DTYPES,
    MatmatOnlyOperator,
    check_against_theory,
    make_problem,
    problem_from_matrix,
    rounding_slack,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

M, N, K = 300, 200, 10


def _error(A64: np.ndarray, U: np.ndarray, s: np.ndarray, Vt: np.ndarray) -> float:
    """||A - U diag(s) Vt||_F in float64."""
    return float(np.linalg.norm(A64 - (U.astype(np.float64) * s) @ Vt.astype(np.float64)))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("q", [0, 1, 3])
def test_an_even_pass_count_is_n_iter(dtype, q) -> None:
    A = make_problem("poly", M, N, np.dtype(dtype).name).A
    by_iter = rankwise.svd(A, K, method="block_krylov", n_iter=q, random_state=3)
    by_passes = rankwise.svd(A, K, method="block_krylov", n_passes=2 * q + 2, random_state=3)
    for a, b in zip(by_iter, by_passes, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("k", "passes"), [(K, 8), (19, 8), (20, 6), (40, 6)])
def test_auto_is_about_half_of_subspace_iterations_passes(k, passes) -> None:
    """n_iter="auto": 8 passes where k < 0.1 min(m, n) (200 here), else 6."""
    A = make_problem("poly", M, N).A
    auto = rankwise.svd(A, k, method="block_krylov", random_state=1)
    explicit = rankwise.svd(A, k, method="block_krylov", n_passes=passes, random_state=1)
    for a, b in zip(auto, explicit, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(M, N), (N, M)], ids=["tall", "wide"])
@pytest.mark.parametrize("block", [K + 10, K // 2, 3])
@pytest.mark.parametrize("spec", ["poly", "gap"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_the_error_never_grows_with_the_passes(dtype, spec, block, shape) -> None:
    prob = make_problem(spec, *shape, np.dtype(dtype).name)
    slack = rounding_slack(dtype, *shape, prob.sigma1)
    first = 2 * -(-K // block)  # the fewest passes whose floor(P / 2) blocks hold k columns
    errors, values = [], []
    for P in range(max(first, 2), 12):
        U, s, Vt = rankwise.svd(
            prob.A, K, method="block_krylov", n_passes=P, block_size=block, random_state=11
        )
        errors.append(_error(prob.A64, U, s, Vt))
        values.append(s.astype(np.float64))
    for P, (before, after) in enumerate(itertools.pairwise(errors), start=max(first, 2) + 1):
        assert after <= before + np.sqrt(K) * slack, f"{P} passes: {after} > {before}"
    # the singular values grow towards A's (interlacing: s_j(A V) <= sigma_j)
    for before, after in itertools.pairwise(values):
        assert np.all(after >= before - slack)
        assert np.all(after <= prob.s[:K] + slack)
    assert errors[-1] < errors[0]


@pytest.mark.parametrize("spec", ["gap", "exp", "poly"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("q", [0, 1, 2])
def test_odd_passes_meet_the_bound_of_the_even_count_below(q, dtype, spec) -> None:
    """2q + 3 passes do at least as well as 2q + 2, which meets the HMT bound for q power
    iterations: the Frobenius error and the singular values are held to it (the other
    checks of check_against_theory are for a left projection U U^T A)."""
    prob = make_problem(spec, M, N, np.dtype(dtype).name)
    U, s, Vt = rankwise.svd(prob.A, K, method="block_krylov", n_passes=2 * q + 3, random_state=5)
    assert U.dtype == s.dtype == Vt.dtype == dtype
    tol = 50 * np.finfo(dtype).eps
    np.testing.assert_allclose(U.T.astype(float) @ U, np.eye(K), atol=tol)
    np.testing.assert_allclose(Vt.astype(float) @ Vt.T, np.eye(K), atol=tol)
    below = rankwise.svd(prob.A, K, method="block_krylov", n_iter=q, random_state=5)
    check_against_theory(prob, *below, k=K, l=K + 10, q=q, dtype=dtype)
    slack = rounding_slack(dtype, M, N, prob.sigma1)
    assert _error(prob.A64, U, s, Vt) <= _error(prob.A64, *below) + np.sqrt(K) * slack
    assert np.all(s >= below[1].astype(np.float64) - slack)
    assert np.all(s <= prob.s[:K] + slack)


@pytest.mark.parametrize(("block", "passes"), [(1, 12), (1, 13), (2, 6), (2, 7), (3, 4), (6, 3)])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_narrow_blocks_recover_a_matrix_of_low_rank(dtype, block, passes) -> None:
    """Rank 6 with distinct singular values: floor(P / 2) blocks of 1, 2, 3 or 6 vectors
    hold 6 columns of the Krylov space [A W, (A A^T) A W, ...], which then spans A's range
    (and its rows, [A^T A W, ...], A's row space), so the factors are exact."""
    prob = make_problem("lowrank", M, N, np.dtype(dtype).name)
    U, s, Vt = rankwise.svd(
        prob.A, 6, method="block_krylov", n_passes=passes, block_size=block, random_state=2
    )
    slack = rounding_slack(dtype, M, N, prob.sigma1)
    np.testing.assert_allclose(s, prob.s[:6], atol=10 * slack)
    assert _error(prob.A64, U, s, Vt) <= 10 * slack


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_every_input_kind_gives_the_dense_result(dtype) -> None:
    prob = make_problem("poly", M, N, np.dtype(dtype).name)
    A = prob.A

    def run(X):
        return rankwise.svd(X, K, method="block_krylov", n_passes=7, block_size=4, random_state=9)

    ref = run(np.ascontiguousarray(A))
    slack = rounding_slack(dtype, M, N, prob.sigma1)
    for X in (
        np.asfortranarray(A),
        sp.csr_array(A),
        sp.csc_matrix(A),
        MatmatOnlyOperator(A),
    ):
        U, s, Vt = run(X)
        np.testing.assert_allclose(s, ref[1], atol=10 * slack)
        np.testing.assert_allclose((U * s) @ Vt, (ref[0] * ref[1]) @ ref[2], atol=10 * slack)
    np.testing.assert_array_equal(A, prob.A)  # not modified


def test_a_space_wider_than_the_matrix_gives_the_exact_factors() -> None:
    prob = problem_from_matrix(np.random.default_rng(4).standard_normal((40, 12)))
    U, s, Vt = rankwise.svd(prob.A, 3, method="block_krylov", n_passes=5, random_state=0)
    np.testing.assert_allclose(s, prob.s[:3], rtol=1e-12)
    assert _error(prob.A64, U, s, Vt) <= prob.tail_fro(3) * (1 + 1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_passes": 1}, "n_passes must satisfy 2 <= n_passes"),
        ({"n_passes": 2.5}, "n_passes must be an integer"),
        ({"n_passes": True}, "n_passes must be an integer"),
        ({"block_size": 0}, "block_size must satisfy 1 <= block_size"),
        ({"n_passes": 3, "n_iter": 1}, "n_iter or n_passes, not both"),
        ({"n_passes": 5, "block_size": 4}, "fewer than k = 10 columns"),
        ({"n_passes": 3, "method": "subspace"}, "for method='block_krylov'"),
        ({"block_size": 8, "method": "subspace"}, "for method='block_krylov'"),
        ({"n_passes": 4, "tol": 0.1, "method": "subspace"}, "not for tol"),
        ({"tol": 0.1}, "method='block_krylov' is for fixed-rank mode"),
    ],
)
def test_bad_pass_and_block_options_are_refused(kwargs, message) -> None:
    A = make_problem("poly", 60, 40).A
    kwargs = {"method": "block_krylov", **kwargs}
    k = None if "tol" in kwargs else K
    with pytest.raises((ValueError, TypeError), match=message):
        rankwise.svd(A, k, **kwargs)


def test_dask_arrays_refuse_pass_and_block_options() -> None:
    da = pytest.importorskip("dask.array")
    D = da.from_array(make_problem("poly", 60, 40).A, chunks=(20, 40))
    with pytest.raises(ValueError, match="not for dask arrays"):
        rankwise.svd(D, 5, n_passes=4)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    m=st.integers(1, 30),  # derandomized, as the other property tests
    n=st.integers(1, 30),
    k=st.integers(1, 12),
    passes=st.integers(0, 14),
    block=st.integers(0, 14),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_pass_count_and_block(m, n, k, passes, block, dtype, seed) -> None:
    """Every (n_passes, block_size): refused with a message where the space cannot hold k
    columns (or the values are out of range), else orthonormal factors whose error is what
    either finish gives, ||A - U S Vt||_F^2 = ||A||_F^2 - sum s_i^2 (A V V^T truncated, or
    U U^T A truncated: the part of A left out is orthogonal to the part kept)."""
    A = (np.random.default_rng(seed).standard_normal((m, n)) * 3.0 ** -np.arange(n)).astype(dtype)
    kwargs = {"method": "block_krylov", "n_passes": passes, "block_size": block}
    valid_k = k <= min(m, n)
    if not valid_k or passes < 2 or block < 1 or block * (passes // 2) < k:
        with pytest.raises(ValueError, match=r"k must|n_passes must|block_size must|fewer than k"):
            rankwise.svd(A, k, **kwargs)
        return
    U, s, Vt = rankwise.svd(A, k, random_state=seed, **kwargs)
    A64 = A.astype(np.float64)
    tol = 50 * float(np.finfo(dtype).eps) * max(m, n)
    norm = float(np.linalg.norm(A64))
    np.testing.assert_allclose(U.T.astype(float) @ U, np.eye(k), atol=tol)
    np.testing.assert_allclose(Vt.astype(float) @ Vt.T, np.eye(k), atol=tol)
    sigma = np.linalg.svd(A64, compute_uv=False)
    assert np.all(np.diff(s) <= tol * norm)
    assert np.all(s <= sigma[:k] + tol * norm)
    err2 = _error(A64, U, s, Vt) ** 2
    assert abs(err2 - (norm**2 - float(np.sum(s.astype(float) ** 2)))) <= tol * norm**2
