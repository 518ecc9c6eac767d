"""Drop-in replacements: rankwise.randomized_svd (scikit-learn) and rankwise.svds (SciPy).

rankwise uses its own random stream, so results are never compared bitwise
with scikit-learn; both are checked against the same exact SVD and the same
HMT bounds (conftest.check_against_theory), and must follow the same
conventions (signature, dtypes, shapes, sign flip, transpose).
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
import rankwise
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from conftest import (
    assert_orthonormal,
    assert_sign_convention,
    assert_svd_output,
    check_against_theory,
    eps,
    hmt_bounds,
    make_problem,
    problem_from_matrix,
    resolved_n_iter,
    rounding_slack,
    sketch_size,
)
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse.linalg import aslinearoperator
from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

SEED = 31337


def _params(func) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


# =========================================================================== #
# randomized_svd
# =========================================================================== #


def test_randomized_svd_signature_matches_sklearn() -> None:
    assert _params(rankwise.randomized_svd) == _params(sk_randomized_svd)


def _int_problem(dtype):
    prob = make_problem("gap", 120, 80)
    X = np.rint(200 * np.asarray(prob.A)).astype(dtype)
    return problem_from_matrix(X)


def _rs_problem(dtype):
    if np.dtype(dtype).kind == "i":
        return _int_problem(dtype)
    return make_problem("gap", 120, 80, np.dtype(dtype).name)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(
    "dtype", [np.int32, np.int64, np.float32, np.float64], ids=lambda d: np.dtype(d).name
)
def test_randomized_svd_dtypes_and_accuracy_like_sklearn(dtype, sparse) -> None:
    prob = _rs_problem(dtype)
    X = np.array(prob.A)
    inp = sp.csr_array(X) if sparse else X
    k = 10
    rw = rankwise.randomized_svd(inp, k, random_state=SEED)
    sk = sk_randomized_svd(inp, k, random_state=SEED)
    for a, b, name in zip(rw, sk, ("U", "s", "Vt"), strict=True):
        assert type(a) is np.ndarray
        assert a.dtype == b.dtype, f"{name}.dtype {a.dtype} != sklearn's {b.dtype}"
        assert a.shape == b.shape, f"{name}.shape {a.shape} != sklearn's {b.shape}"
    work = rw[1].dtype
    expected_work = np.float32 if dtype is np.float32 else np.float64
    assert work == expected_work
    m, n = X.shape
    q = resolved_n_iter("auto", k, m, n)
    l = sketch_size(k, 10, m, n)
    # both implementations satisfy the same bounds...
    for U, s, Vt in (rw, sk):
        assert_svd_output(U, s, Vt, (m, n), k, work)
        check_against_theory(prob, U, s, Vt, k=k, l=l, q=q, dtype=work)
    # ...and so agree with each other to the accuracy of the method: both lie in
    # [sigma_j sqrt(1 - eps_Q^2), sigma_j] up to rounding
    slack = rounding_slack(work, m, n, prob.sigma1)
    b = hmt_bounds(prob.s, k, l, q)
    width = prob.s[:k] * (1.0 - math.sqrt(max(0.0, 1.0 - b.eps_Q**2)))
    assert np.all(np.abs(rw[1] - sk[1]) <= width + 2 * slack), (rw[1] - sk[1], width)


@pytest.mark.parametrize("normalizer", ["auto", "QR", "LU", "none"])
@pytest.mark.parametrize("transpose", [False, True, "auto"], ids=["noT", "T", "autoT"])
@pytest.mark.parametrize("shape", [(120, 80), (80, 120)], ids=["tall", "wide"])
def test_randomized_svd_options(shape, transpose, normalizer) -> None:
    prob = make_problem("exp", *shape)
    X = np.array(prob.A)
    n_iter = 2 if normalizer == "none" else 4  # 'none' is unstable for many iterations
    k = 8
    for impl in (rankwise.randomized_svd, sk_randomized_svd):
        U, s, Vt = impl(
            X,
            k,
            n_iter=n_iter,
            power_iteration_normalizer=normalizer,
            transpose=transpose,
            random_state=SEED,
        )
        assert_svd_output(U, s, Vt, shape, k, np.float64)
        check_against_theory(prob, U, s, Vt, k=k, l=k + 10, q=n_iter, dtype=np.float64)


@pytest.mark.parametrize("transpose", [False, True, "auto"], ids=["noT", "T", "autoT"])
@pytest.mark.parametrize("shape", [(10, 8), (8, 10)])
def test_randomized_svd_flip_sign_is_u_based(shape, transpose) -> None:
    """sklearn issue #5608: the flip is based on u irrespective of transpose."""
    mat = np.arange(math.prod(shape), dtype=np.float64).reshape(shape) + np.eye(*shape)
    for impl in (rankwise.randomized_svd, sk_randomized_svd):
        U, _s, _Vt = impl(mat, 3, flip_sign=True, transpose=transpose, random_state=0)
        assert_sign_convention(U)


def test_randomized_svd_flip_sign_false_still_valid() -> None:
    prob = make_problem("gap", 120, 80)
    U, s, Vt = rankwise.randomized_svd(np.array(prob.A), 10, flip_sign=False, random_state=SEED)
    assert_svd_output(U, s, Vt, (120, 80), 10, np.float64, sign=False)
    check_against_theory(prob, U, s, Vt, k=10, l=20, q=4, dtype=np.float64)


def test_randomized_svd_sign_flip_deterministic_across_seeds() -> None:
    a = np.array([[2.0, 0.0], [0.0, 1.0]])
    u1, _s1, v1 = rankwise.randomized_svd(a, 2, flip_sign=True, random_state=41)
    for seed in range(5):
        u2, s2, v2 = rankwise.randomized_svd(a, 2, flip_sign=True, random_state=seed)
        assert_allclose(u1, u2, atol=10 * eps(np.float64))
        assert_allclose(v1, v2, atol=10 * eps(np.float64))
        assert_allclose((u2 * s2) @ v2, a, atol=10 * eps(np.float64))


@pytest.mark.parametrize(("n", "m", "k"), [(50, 100, 10), (300, 50, 20), (100, 100, 50)])
def test_randomized_svd_lapack_drivers_agree(n, m, k) -> None:
    X = np.random.default_rng(n + m + k).random((n, m))
    u1, s1, vt1 = rankwise.randomized_svd(X, k, svd_lapack_driver="gesdd", random_state=0)
    u2, s2, vt2 = rankwise.randomized_svd(X, k, svd_lapack_driver="gesvd", random_state=0)
    slack = rounding_slack(np.float64, n, m, float(s1[0]))
    assert_allclose(s1, s2, rtol=0, atol=slack)
    assert_allclose((u1 * s1) @ vt1, (u2 * s2) @ vt2, rtol=0, atol=math.sqrt(k) * slack)


def test_randomized_svd_random_state_kinds() -> None:
    X = np.array(make_problem("poly", 120, 80).A)
    r1 = rankwise.randomized_svd(X, 5, n_iter=0, random_state=3)
    r2 = rankwise.randomized_svd(X, 5, n_iter=0, random_state=3)
    for a, b in zip(r1, r2, strict=True):
        assert_array_equal(a, b)
    r3 = rankwise.randomized_svd(X, 5, n_iter=0, random_state=np.random.RandomState(3))
    r4 = rankwise.randomized_svd(X, 5, n_iter=0, random_state=np.random.RandomState(3))
    for a, b in zip(r3, r4, strict=True):
        assert_array_equal(a, b)
    assert_svd_output(*rankwise.randomized_svd(X, 5, random_state=None), (120, 80), 5, np.float64)


@pytest.mark.parametrize("normalizer", ["auto", "none", "LU", "QR"])
@pytest.mark.parametrize("transpose", ["auto", True, False])
@pytest.mark.parametrize(("dtype", "sparse"), [(np.float64, False), (np.float32, True)])
def test_randomized_svd_equals_sklearn_for_the_same_random_state(
    normalizer, transpose, dtype, sparse
) -> None:
    # scikit-learn's Gaussian draws for an int or a RandomState: the same algorithm on the
    # same test matrix, so the same factors up to rounding (signs included).  The spectrum
    # decays slowly (sigma_j = j^-1/2), so that the factors depend on the draws: a
    # different sketch misses by far more than the tolerance (the last assertion).
    rng = np.random.default_rng(7)
    G, _ = np.linalg.qr(rng.standard_normal((90, 90)))
    H, _ = np.linalg.qr(rng.standard_normal((140, 90)))
    X = ((G * np.arange(1, 91) ** -0.5) @ H.T).astype(dtype)
    M = sp.csr_matrix(X) if sparse else X
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for n_iter in (0, 2):
        kw = {"n_iter": n_iter, "power_iteration_normalizer": normalizer, "transpose": transpose}
        for seed in (0, np.random.RandomState(11)):
            mine = rankwise.randomized_svd(M, 6, random_state=seed, **kw)
            if isinstance(seed, np.random.RandomState):
                seed = np.random.RandomState(11)  # the same state again for scikit-learn
            theirs = sk_randomized_svd(M, 6, random_state=seed, **kw)
            assert [a.dtype for a in mine] == [b.dtype for b in theirs]
            assert_allclose(mine[1], theirs[1], rtol=tol)
            for a, b in ((mine[0], theirs[0]), (mine[2], theirs[2])):
                assert_allclose(a, b, rtol=0, atol=tol)
    kw["n_iter"] = 0
    other = rankwise.randomized_svd(M, 6, random_state=np.random.default_rng(0), **kw)
    theirs = sk_randomized_svd(M, 6, random_state=0, **kw)
    assert np.abs(other[1] - theirs[1]).max() > 100 * tol


def test_randomized_svd_random_state_none_draws_from_numpy_global_state() -> None:
    X = np.array(make_problem("poly", 60, 40).A)
    np.random.seed(5)  # noqa: NPY002 - scikit-learn's None is NumPy's global RandomState
    theirs = sk_randomized_svd(X, 4, n_iter=2)
    after_theirs = np.random.random()  # noqa: NPY002
    np.random.seed(5)  # noqa: NPY002
    mine = rankwise.randomized_svd(X, 4, n_iter=2)
    assert np.random.random() == after_theirs  # noqa: NPY002 - advanced alike
    assert_allclose(mine[1], theirs[1], rtol=1e-12)


def test_randomized_svd_generators_and_large_seeds_use_rankwise_generator() -> None:
    # scikit-learn takes neither: rankwise's Philox sketch, reproducible per seed.
    X = np.array(make_problem("exp", 70, 50).A)
    for seed in (2**32, 2**40 + 3):
        a = rankwise.randomized_svd(X, 4, random_state=seed)
        b = rankwise.randomized_svd(X, 4, random_state=seed)
        assert_array_equal(a[1], b[1])
    g = rankwise.randomized_svd(X, 4, random_state=np.random.default_rng(1))
    h = rankwise.randomized_svd(X, 4, random_state=np.random.default_rng(1))
    assert_array_equal(g[0], h[0])
    _, s_exact, _ = np.linalg.svd(X)
    assert_allclose(g[1], s_exact[:4], rtol=1e-6)


def test_rsvd_core_checks_a_given_sketch() -> None:
    from rankwise import _core
    from rankwise._validate import as_matrix

    op = as_matrix(np.ones((20, 10)), "M").op
    args = (op, 2, 4, 1, "subspace", "lu", "cholqr2", "gesdd", 0, 0)
    good = np.asfortranarray(np.ones((10, 4)))
    assert _core.rsvd(*args, good)[1].shape == (2,)
    for bad in (np.ones((10, 3), order="F"), np.ones((10, 4)).astype(np.float32, order="F")):
        with pytest.raises(ValueError, match="omega"):
            _core.rsvd(*args, bad)
    with pytest.raises(ValueError, match="omega"):
        _core.rsvd(*args, np.ascontiguousarray(np.ones((4, 10)).T.copy(order="C")))
    krylov = (op, 2, 4, 1, "block_krylov", "lu", "cholqr2", "gesdd", 0, 0)
    with pytest.raises(ValueError, match="subspace"):
        _core.rsvd(*krylov, good)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"power_iteration_normalizer": "foo"},
        {"transpose": "sometimes"},
        {"svd_lapack_driver": "gesvj"},
        {"n_oversamples": -1},
        {"n_iter": -1},
        {"random_state": "abc"},
        {"flip_sign": "no"},
    ],
    ids=lambda d: next(iter(d)),
)
def test_randomized_svd_invalid_parameters_like_sklearn(kwargs) -> None:
    X = np.array(make_problem("exp", 30, 20).A)
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        sk_randomized_svd(X, 3, **kwargs)
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.randomized_svd(X, 3, **kwargs)


def test_randomized_svd_input_not_modified() -> None:
    X = np.asfortranarray(np.array(make_problem("exp", 60, 40).A))
    before = X.copy()
    rankwise.randomized_svd(X, 5, random_state=0, transpose=True)
    assert_array_equal(X, before)
    S = sp.csr_array(X)
    d, i, p = S.data.copy(), S.indices.copy(), S.indptr.copy()
    rankwise.randomized_svd(S, 5, random_state=0)
    assert_array_equal(S.data, d)
    assert_array_equal(S.indices, i)
    assert_array_equal(S.indptr, p)


# =========================================================================== #
# svds
# =========================================================================== #


def test_svds_signature_matches_scipy() -> None:
    """scipy's parameters, in scipy's order, kinds and defaults (solver: 'rankwise')."""
    ours = _params(rankwise.svds)
    theirs = _params(sla.svds)
    assert [p[0] for p in ours[: len(theirs)]] == [p[0] for p in theirs]
    for (name, kind, default), (_, our_kind, our_default) in zip(theirs, ours, strict=False):
        assert our_kind == kind, name
        assert our_default == ("rankwise" if name == "solver" else default), name
    names = [p[0] for p in ours]
    assert "random_state" in names
    assert {p[0]: p[1] for p in ours}["random_state"] is inspect.Parameter.KEYWORD_ONLY


def _exact(A: np.ndarray, k: int):
    """Exact top-k triplets in ASCENDING order (scipy's svds convention)."""
    U, s, Vt = scipy.linalg.svd(A, full_matrices=False)
    return U[:, :k][:, ::-1], s[:k][::-1], Vt[:k][::-1]


def _svds_inputs(A: np.ndarray, kind: str):
    return {
        "dense": lambda: A.copy(),
        "dense-F": lambda: np.asfortranarray(A),
        "csr": lambda: sp.csr_array(A),
        "csc": lambda: sp.csc_matrix(A),
        "linop": lambda: aslinearoperator(A.copy()),
    }[kind]()


@pytest.mark.parametrize("kind", ["dense", "dense-F", "csr", "csc", "linop"])
@pytest.mark.parametrize("shape", [(120, 80), (80, 120)], ids=["tall", "wide"])
@pytest.mark.parametrize("k", [1, 6, 10])
def test_svds_rankwise_solver_machine_precision(k, shape, kind) -> None:
    """tol=0: converged to near machine precision (compare with dense LAPACK)."""
    prob = make_problem("gap", *shape)
    A = np.array(prob.A)
    u, s, vh = rankwise.svds(_svds_inputs(A, kind), k=k, random_state=SEED)
    assert u.shape == (shape[0], k)
    assert s.shape == (k,)
    assert vh.shape == (k, shape[1])
    assert u.dtype == s.dtype == vh.dtype == np.float64
    assert np.all(np.diff(s) >= 0), f"svds must return ascending singular values: {s}"
    ue, se, vhe = _exact(A, k)
    assert_allclose(s, se, rtol=1e-10)
    assert_allclose(np.abs(u), np.abs(ue), atol=1e-8)
    assert_allclose(np.abs(vh), np.abs(vhe), atol=1e-8)
    assert_orthonormal(u, np.float64, name="u")
    assert_orthonormal(vh, np.float64, rows=True, name="vh")
    res_tol = rounding_slack(np.float64, *shape, prob.sigma1)
    r1 = np.linalg.norm(A @ vh.T - u * s, axis=0).max()
    r2 = np.linalg.norm(A.T @ u - vh.T * s, axis=0).max()
    assert r1 <= res_tol, f"max ||A v - s u|| = {r1:.3e} > {res_tol:.3e}"
    assert r2 <= res_tol, f"max ||A^T u - s v|| = {r2:.3e} > {res_tol:.3e}"


def test_svds_default_k_is_6() -> None:
    A = np.array(make_problem("gap", 60, 40).A)
    _u, s, _vh = rankwise.svds(A, random_state=0)
    assert s.shape == (6,)
    assert_allclose(s, _exact(A, 6)[1], rtol=1e-10)


def test_svds_rankwise_solver_poly_spectrum() -> None:
    """Slow decay, no gap beyond the 2% of consecutive values: still converges with tol=0."""
    prob = make_problem("poly", 120, 80)
    A = np.array(prob.A)
    s = rankwise.svds(A, k=5, return_singular_vectors=False, random_state=SEED)
    assert_allclose(s, _exact(A, 5)[1], rtol=1e-10)


@pytest.mark.parametrize("rsv", [True, False, "u", "vh"], ids=str)
@pytest.mark.parametrize("shape", [(50, 70), (60, 60), (70, 50)])
def test_svds_return_singular_vectors(shape, rsv) -> None:
    prob = make_problem("gap", *shape)
    A = np.array(prob.A)
    k = 4
    ue, se, vhe = _exact(A, k)
    M, N = shape
    res = rankwise.svds(A, k=k, return_singular_vectors=rsv, random_state=SEED)
    if rsv is False:
        assert isinstance(res, np.ndarray)
        assert_allclose(res, se, rtol=1e-10)
        return
    u, s, vh = res
    assert_allclose(s, se, rtol=1e-10)
    # scipy: 'u' returns vh=None when M <= N ('vh': u=None when M > N), else may compute both
    if rsv == "u" and M <= N:
        assert vh is None
    if rsv == "vh" and M > N:
        assert u is None
    if rsv in (True, "u"):
        assert u is not None
    if rsv in (True, "vh"):
        assert vh is not None
    if u is not None:
        assert_allclose(np.abs(u), np.abs(ue), atol=1e-8)
    if vh is not None:
        assert_allclose(np.abs(vh), np.abs(vhe), atol=1e-8)


def _record(func, *args, **kwargs):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = func(*args, **kwargs)
    return out, sorted((type(w.message).__name__, str(w.message)[:40]) for w in rec)


def _assert_same_svds(ours, theirs, atol: float) -> None:
    if isinstance(theirs, np.ndarray):
        assert_allclose(ours, theirs, rtol=1e-10, atol=atol)
        return
    for a, b in zip(ours, theirs, strict=True):
        if b is None:
            assert a is None
        else:
            assert a.dtype == b.dtype
            assert_allclose(np.abs(a), np.abs(b), rtol=1e-10, atol=atol)


@pytest.mark.parametrize("kind", ["dense", "csr", "linop"])
@pytest.mark.parametrize("solver", ["arpack", "lobpcg", "propack"])
def test_svds_scipy_solvers_delegate(solver, kind) -> None:
    prob = make_problem("gap", 120, 80)
    A = np.array(prob.A)
    kw = {"k": 6, "solver": solver, "rng": 0}
    if solver == "lobpcg":
        kw["maxiter"] = 200
    theirs, w_theirs = _record(sla.svds, _svds_inputs(A, kind), **kw)
    ours, w_ours = _record(rankwise.svds, _svds_inputs(A, kind), **kw)
    _assert_same_svds(ours, theirs, atol=1e-12)
    assert w_ours == w_theirs


@pytest.mark.parametrize("solver", ["rankwise", "arpack"])
def test_svds_which_sm_delegates_to_arpack(solver) -> None:
    A = np.random.default_rng(5).standard_normal((60, 40))  # smallest values well away from 0
    theirs = sla.svds(A, k=3, which="SM", solver="arpack", rng=0)
    ours = rankwise.svds(A, k=3, which="SM", solver=solver, rng=0)
    _assert_same_svds(ours, theirs, atol=1e-12)


@pytest.mark.parametrize("solver", ["arpack", "propack"])
def test_svds_float32_dtype_like_scipy(solver) -> None:
    A = np.array(make_problem("gap", 60, 40, "float32").A)
    theirs = sla.svds(A, k=3, solver=solver, rng=0)
    ours = rankwise.svds(A, k=3, solver=solver, rng=0)
    _assert_same_svds(ours, theirs, atol=1e-5)


def test_svds_rankwise_solver_float32() -> None:
    prob = make_problem("gap", 60, 40, "float32")
    A = np.array(prob.A)
    _u, s, _vh = rankwise.svds(A, k=3, random_state=0)
    assert s.dtype == sla.svds(A, k=3, solver="arpack", rng=0)[1].dtype
    assert_allclose(
        s, _exact(prob.A64, 3)[1], rtol=0, atol=rounding_slack(np.float32, 60, 40, prob.sigma1)
    )


@pytest.mark.parametrize("use", ["rng", "random_state"])
def test_svds_rankwise_solver_deterministic(use) -> None:
    A = np.array(make_problem("poly", 80, 60).A)
    r1 = rankwise.svds(A, k=5, **{use: 7})
    r2 = rankwise.svds(A, k=5, **{use: 7})
    for a, b in zip(r1, r2, strict=True):
        assert_array_equal(a, b)


BAD_SVDS = [
    ({"k": 0}, "k=0"),
    ({"k": -1}, "k=-1"),
    ({"k": 11}, "k>min"),
    ({"k": 10}, "k=min"),
    ({"k": 1.5}, "k=1.5"),
    ({"k": "1"}, "k='1'"),
    ({"k": []}, "k=[]"),
    ({"which": "LA"}, "which=LA"),
    ({"which": "ekki"}, "which=ekki"),
    ({"solver": "ekki"}, "solver=ekki"),
    ({"return_singular_vectors": "ekki"}, "rsv=ekki"),
    ({"tol": -1}, "tol=-1"),
    ({"tol": np.inf}, "tol=inf"),
    ({"maxiter": 0}, "maxiter=0"),
    ({"tol": []}, "tol=[]"),
    ({"tol": "hi"}, "tol='hi'"),
]


@pytest.mark.parametrize("kwargs", [b[0] for b in BAD_SVDS], ids=[b[1] for b in BAD_SVDS])
def test_svds_validation_like_scipy(kwargs) -> None:
    A = np.array(make_problem("exp", 12, 10).A)
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - compare the type scipy raises
        sla.svds(A, **{"k": 2, **kwargs, "solver": kwargs.get("solver", "arpack")}, rng=0)
    with pytest.raises(type(theirs.value)):
        rankwise.svds(A, **{"k": 2, **kwargs}, rng=0)


@pytest.mark.parametrize(
    "A",
    [
        np.ones((0, 4)),
        np.asarray([[]]),
        np.ones((2, 3, 4)),
        np.array([["a", "b"], ["c", "d"]], dtype=object),
        "hi",
    ],
    ids=["empty", "empty_row", "3d", "object", "string"],
)
def test_svds_bad_A_like_scipy(A) -> None:
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - compare the type scipy raises
        sla.svds(A, k=1, rng=0)
    with pytest.raises(type(theirs.value)):
        rankwise.svds(A, k=1, rng=0)


def test_svds_input_not_modified() -> None:
    A = np.array(make_problem("exp", 60, 40).A)
    S = sp.csr_array(A)
    d, i, p = S.data.copy(), S.indices.copy(), S.indptr.copy()
    before = A.copy()
    rankwise.svds(A, k=3, random_state=0)
    rankwise.svds(S, k=3, random_state=0)
    assert_array_equal(A, before)
    assert_array_equal(S.data, d)
    assert_array_equal(S.indices, i)
    assert_array_equal(S.indptr, p)


def test_svds_v0_takes_precedence_over_rng() -> None:
    A = np.random.default_rng(0).random((100, 100))
    v0a, v0b = np.random.default_rng(1).random((2, 100))
    first = rankwise.svds(A, 1, v0=v0a, rng=0)
    for a, b in zip(first, rankwise.svds(A, 1, v0=v0a, rng=1), strict=True):
        assert_array_equal(a, b)
    other = rankwise.svds(A, 1, v0=v0b, rng=0)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert_allclose(first[1], np.linalg.svd(A, compute_uv=False)[:1], rtol=1e-13)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (4, 2)])
@pytest.mark.parametrize("kind", ["dense", "csc", "linop"])
@pytest.mark.parametrize("which", ["LM", "SM"])
def test_svds_small_complex_matches_lapack(shape, kind, which) -> None:
    rng = np.random.default_rng(2)
    A = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    k = min(shape) - 1
    u, s, vh = rankwise.svds(_svds_inputs(A, kind), k=k, which=which, rng=0)
    exact = np.linalg.svd(A, compute_uv=False)
    expected = np.sort(exact[:k] if which == "LM" else exact[-k:])
    assert_allclose(np.sort(s), expected, rtol=1e-12)
    assert_allclose(u.conj().T @ A @ vh.conj().T, np.diag(s), atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4), (4, 4), (4, 2)])
def test_svds_complex_zero_matrix(shape) -> None:
    u, s, vh = rankwise.svds(np.zeros(shape, dtype=complex), k=1, rng=0)
    assert_array_equal(s, 0)
    assert_allclose(np.abs(u.conj().T @ u), np.eye(1), atol=1e-14)
    assert_allclose(np.abs(vh @ vh.conj().T), np.eye(1), atol=1e-14)


@pytest.mark.parametrize(
    "bad",
    [
        {"n_components": 5.0},
        {"n_components": 0},
        {"n_oversamples": -1},
        {"n_iter": -2},
        {"power_iteration_normalizer": "qr"},
        {"transpose": "yes"},
    ],
)
def test_randomized_svd_bad_options_are_value_and_type_errors_as_in_sklearn(bad: dict) -> None:
    # scikit-learn raises InvalidParameterError (both): `except ValueError:` written for it
    # missed rankwise's TypeError for a float n_components
    from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

    X = np.random.default_rng(0).standard_normal((30, 20))
    options = {"n_components": 5, **bad}
    for fn in (rankwise.randomized_svd, sk_randomized_svd):
        with pytest.raises(ValueError, match=r"\w") as caught:
            fn(X, random_state=0, **options)
        assert isinstance(caught.value, TypeError)


@pytest.mark.parametrize(
    ("dtype", "shape", "k", "rtol"),
    [(np.float32, (12, 8), 4, 1e-5), (np.float64, (40, 30), 25, 1e-12),
     (np.float64, (30, 40), 25, 1e-12), (np.float64, (300, 30), 25, 1e-12)],
)  # fmt: skip
@pytest.mark.parametrize("sparse", [False, True])
def test_randomized_svd_exact_where_the_sketch_exceeds_min_dim(dtype, shape, k, rtol, sparse):
    """k + p > min(m, n): scikit-learn's basis then has more columns than min(m, n) and
    keeps what the unnormalized power iterations pushed below rounding; rankwise's sketch
    of min(m, n) columns lost it (found by review: float32 12 x 8, k = 4, cond 1e3,
    singular values off by 5.9e-3 where scikit-learn's are exact to 6.8e-7)."""
    from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

    rng = np.random.default_rng(1)
    m, n = shape
    r = min(m, n)
    U0 = np.linalg.qr(rng.standard_normal((m, r)))[0]
    V0 = np.linalg.qr(rng.standard_normal((n, r)))[0]
    s0 = np.logspace(0, -3, r)
    A = ((U0 * s0) @ V0.T).astype(dtype)
    M = sp.csr_matrix(A) if sparse else A
    U, s, Vt = rankwise.randomized_svd(M, k, n_oversamples=10, n_iter=2, random_state=0)
    assert U.dtype == s.dtype == Vt.dtype == dtype
    np.testing.assert_allclose(s, s0[:k], rtol=rtol)
    Us = sk_randomized_svd(M, k, n_oversamples=10, n_iter=2, random_state=0)[0]
    np.testing.assert_allclose(U[:, :3], Us[:, :3], atol=1e-3)  # the same signs


def test_randomized_svd_leaves_the_random_state_where_sklearn_does():
    """With k + p > min(m, n) and a sketch beyond 2**22 draws, the caller's RandomState
    (and NumPy's global one, for None) was left elsewhere (found by review)."""
    from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

    A = np.random.default_rng(0).standard_normal((50, 100000))
    after = []
    for fn in (sk_randomized_svd, rankwise.randomized_svd):
        state = np.random.RandomState(7)
        fn(A, 45, n_oversamples=10, transpose=False, random_state=state)
        np.random.seed(0)  # noqa: NPY002 (the global state is what is tested)
        fn(A[:, :300], 45, n_oversamples=10, random_state=None)
        after.append((state.rand(), np.random.rand()))  # noqa: NPY002
    assert after[0] == after[1]


def test_randomized_svd_data_like_sklearn():
    """Long doubles are taken as float64 (rankwise refused them); complex and string data
    and non-numbers are ValueErrors (also TypeErrors), as scikit-learn's; a bool
    n_components / n_iter is an int to scikit-learn (found by review)."""
    from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

    A = np.random.default_rng(0).standard_normal((20, 10))
    for M in (A.astype(np.longdouble), sp.csr_matrix(A).astype(np.longdouble)):
        U, s, _ = rankwise.randomized_svd(M, 3, random_state=0)
        assert U.dtype == np.float64
        with warnings.catch_warnings():  # SciPy 1.18 deprecates scikit-learn's lu of them
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = sk_randomized_svd(M, 3, random_state=0)[1]
        np.testing.assert_allclose(s, expected)
    for bad in (A + 1j * A, np.full((4, 3), "a"), np.array([[object()] * 3] * 4)):
        for fn in (rankwise.randomized_svd, sk_randomized_svd):
            with pytest.raises((ValueError, TypeError), match=r"\w") as caught:
                fn(bad, 2, random_state=0)
            if fn is rankwise.randomized_svd:  # whichever scikit-learn raised, it is caught
                assert isinstance(caught.value, ValueError)
                assert isinstance(caught.value, TypeError)
    got = rankwise.randomized_svd(A, True, n_iter=False, random_state=0)[1]
    np.testing.assert_allclose(got, sk_randomized_svd(A, True, n_iter=False, random_state=0)[1])


@pytest.mark.parametrize(
    "rng",
    [np.random.PCG64(0), np.random.SeedSequence(0), np.random.Philox(0), True],
    ids=["PCG64", "SeedSequence", "Philox", "True"],
)
def test_svds_rng_takes_what_default_rng_takes(rng) -> None:
    """SciPy hands rng to numpy.random.default_rng; rankwise refused these (found by
    review)."""
    A = np.random.default_rng(0).standard_normal((60, 40))
    s = rankwise.svds(A, k=3, rng=rng, return_singular_vectors=False)
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[2::-1], rtol=1e-10)


def test_svds_errors_of_scipy_classes() -> None:
    """A bad legacy random_state is a ValueError, a matvec-only operator a
    NotImplementedError, a long double array a ValueError, as SciPy's (found by review:
    TypeError each)."""
    A = np.random.default_rng(0).standard_normal((50, 30))
    with pytest.raises(ValueError, match="neither a NumPy Generator"):
        rankwise.svds(A, k=3, random_state=1.5)
    matvec_only = sla.LinearOperator(A.shape, matvec=lambda x: A @ x, dtype=float)
    for fn in (sla.svds, rankwise.svds):
        with pytest.raises(NotImplementedError, match="rmatvec"):
            fn(matvec_only, k=3, rng=0)
        with pytest.raises(ValueError, match=r"\w"):
            fn(A.astype(np.longdouble), k=3, rng=0)
