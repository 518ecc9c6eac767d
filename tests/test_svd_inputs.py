"""Input handling of rankwise.svd: validation, dtype rules, immutability, determinism."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import (
    METHODS,
    assert_svd_output,
    check_against_theory,
    effective_l_q,
    make_problem,
    rounding_slack,
    to_sparse,
    with_layout,
)
from numpy.testing import assert_array_equal
from scipy.sparse.linalg import LinearOperator, aslinearoperator

SEED = 4242


def _A(m: int = 40, n: int = 30, dtype=np.float64) -> np.ndarray:
    return np.array(make_problem("exp", m, n).A, dtype=dtype)


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "A",
    [np.float64(3.0), np.ones(5), np.ones((3, 4, 5)), np.ones((1, 3, 4))],
    ids=["0d", "1d", "3d", "3d-leading-1"],
)
def test_not_2d(A) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(A, 1)


@pytest.mark.parametrize(
    "A",
    [
        np.ones((0, 5)),
        np.ones((5, 0)),
        np.ones((0, 0)),
        sp.csr_array((0, 5)),
        sp.csc_array((5, 0)),
    ],
    ids=["0x5", "5x0", "0x0", "csr-0x5", "csc-5x0"],
)
def test_empty(A) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(A, 1)


@pytest.mark.parametrize(
    "A",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.array([[b"a", b"b"], [b"c", b"d"]]),
        np.array([["a", 1.0], [2.0, 3.0]], dtype=object),
        np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object),
    ],
    ids=["str", "bytes", "object-mixed", "object-floats"],
)
def test_non_numeric_dtype(A) -> None:
    with pytest.raises(TypeError):
        rankwise.svd(A, 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.ones((6, 5), dtype=np.complex128),
        lambda: np.ones((6, 5), dtype=np.complex64),
        lambda: sp.csr_array(np.ones((6, 5), dtype=np.complex128)),
        lambda: aslinearoperator(np.ones((6, 5), dtype=np.complex128)),
    ],
    ids=["c128", "c64", "csr-c128", "linop-c128"],
)
def test_complex_rejected(make) -> None:
    with pytest.raises(TypeError):
        rankwise.svd(make(), 1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("fmt", ["dense-C", "dense-F", "csr", "csc"])
def test_nan_inf_rejected(fmt, dtype, bad) -> None:
    A = _A(dtype=dtype)
    A[7, 3] = bad
    inp = {
        "dense-C": lambda: A,
        "dense-F": lambda: np.asfortranarray(A),
        "csr": lambda: sp.csr_array(A),
        "csc": lambda: sp.csc_array(A),
    }[fmt]()
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.svd(inp, 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_rejected_tol_mode(bad) -> None:
    A = _A()
    A[0, 0] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.svd(A, tol=0.1)


@pytest.mark.parametrize("k", [2.0, "3", 1.5, [2]], ids=["float", "str", "frac", "list"])
def test_k_not_integer(k) -> None:
    with pytest.raises(TypeError):
        rankwise.svd(_A(), k)


@pytest.mark.parametrize("k", [0, -1, 31, 100], ids=["0", "-1", "min+1", "100"])
def test_k_out_of_range(k) -> None:
    with pytest.raises(ValueError, match=r"\bk\b"):
        rankwise.svd(_A(40, 30), k)


@pytest.mark.parametrize("k", [np.int64(3), np.int32(3), np.uint8(3)], ids=["i64", "i32", "u8"])
def test_k_numpy_integer_accepted(k) -> None:
    U, s, Vt = rankwise.svd(_A(), k, random_state=SEED)
    assert_svd_output(U, s, Vt, (40, 30), 3, np.float64)
    ref = rankwise.svd(_A(), 3, random_state=SEED)
    for a, b in zip((U, s, Vt), ref, strict=True):
        assert_array_equal(a, b)


def test_oversample_negative() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(_A(), 2, oversample=-1)


@pytest.mark.parametrize("n_iter", [-1, "foo", 1.5, None], ids=["-1", "foo", "1.5", "None"])
def test_n_iter_invalid(n_iter) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(_A(), 2, n_iter=n_iter)


@pytest.mark.parametrize("method", ["foo", "", "krylov"])
def test_method_invalid(method) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(_A(), 2, method=method)


@pytest.mark.parametrize("tol", [0.0, -0.5, 1.0, 3.0])
def test_tol_invalid(tol) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(_A(), tol=tol)


def test_neither_k_nor_tol() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(_A())
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not specified
        rankwise.svd(_A(), None, tol=None)


# --------------------------------------------------------------------------- #
# Valid edge parameters
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layout", ["C", "F", "strided", "negstride"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_one_by_one_views(dtype, layout, method) -> None:
    """A 1 x 1 view with non-unit strides is a valid input (numpy flags it contiguous)."""
    A = with_layout(np.array([[-2.5]], dtype=dtype), layout)
    U, s, Vt = rankwise.svd(A, 1, method=method, random_state=SEED)
    assert_svd_output(U, s, Vt, (1, 1), 1, dtype)
    assert_array_equal(s, [2.5])
    assert_array_equal(U * s * Vt, A)


@pytest.mark.parametrize("method", METHODS)
def test_k_equals_min_dim(method) -> None:
    prob = make_problem("exp", 40, 30)
    U, s, Vt = rankwise.svd(np.array(prob.A), 30, method=method, random_state=SEED)
    assert_svd_output(U, s, Vt, (40, 30), 30, np.float64)
    np.testing.assert_allclose(
        s, prob.s, rtol=0, atol=rounding_slack(np.float64, 40, 30, prob.sigma1)
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_iter", [0, 1])
def test_oversample_zero(method, n_iter) -> None:
    prob = make_problem("gap", 120, 80)
    U, s, Vt = rankwise.svd(
        np.array(prob.A), 10, oversample=0, n_iter=n_iter, method=method, random_state=SEED
    )
    assert_svd_output(U, s, Vt, (120, 80), 10, np.float64)
    # interlacing holds for any sketch: s_j <= sigma_j
    assert np.all(s <= prob.s[:10] + rounding_slack(np.float64, 120, 80, prob.sigma1))


# --------------------------------------------------------------------------- #
# dtype rules
# --------------------------------------------------------------------------- #

INT_LIKE = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.bool_]


def _int_matrix(dtype) -> np.ndarray:
    rng = np.random.default_rng(8)
    if dtype is np.bool_:
        return rng.random((50, 35)) < 0.4
    hi = 2 if np.dtype(dtype).kind == "u" else 1
    lo = 0 if np.dtype(dtype).kind == "u" else -1
    return rng.integers(lo * 100, hi * 100, size=(50, 35)).astype(dtype)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", INT_LIKE, ids=lambda d: np.dtype(d).name)
def test_int_bool_converted_to_float64(dtype, sparse) -> None:
    X = _int_matrix(dtype)
    inp = sp.csr_array(X) if sparse else X
    U, s, Vt = rankwise.svd(inp, 4, random_state=SEED)
    assert_svd_output(U, s, Vt, X.shape, 4, np.float64)
    # same as computing on the float64 conversion
    X64 = X.astype(np.float64)
    U2, s2, Vt2 = rankwise.svd(sp.csr_array(X64) if sparse else X64, 4, random_state=SEED)
    slack = rounding_slack(np.float64, 50, 35, float(s2[0]))
    np.testing.assert_allclose(s, s2, rtol=0, atol=slack)
    np.testing.assert_allclose((U * s) @ Vt, (U2 * s2) @ Vt2, rtol=0, atol=2 * slack)


@pytest.mark.parametrize("kind", ["dense", "csr", "csc", "linop", "tol"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_float_dtype_preserved(dtype, kind) -> None:
    A = _A(dtype=dtype)
    inp = {
        "dense": A,
        "csr": sp.csr_array(A),
        "csc": sp.csc_array(A),
        "linop": aslinearoperator(A),
        "tol": A,
    }[kind]
    if kind == "tol":
        U, s, Vt = rankwise.svd(inp, tol=0.1, random_state=SEED)
    else:
        U, s, Vt = rankwise.svd(inp, 3, random_state=SEED)
    assert_svd_output(U, s, Vt, A.shape, None, dtype)


# --------------------------------------------------------------------------- #
# Inputs are never modified; read-only inputs work
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("tol", [None, 0.05], ids=["fixed-rank", "tol"])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "negstride"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_dense_input_not_modified(dtype, layout, tol) -> None:
    A = with_layout(_A(dtype=dtype), layout)
    before = A.copy()
    flags = (A.flags.c_contiguous, A.flags.f_contiguous, A.flags.writeable, A.strides)
    rankwise.svd(A, None if tol else 4, tol=tol, random_state=SEED)
    assert_array_equal(A, before)
    assert (A.flags.c_contiguous, A.flags.f_contiguous, A.flags.writeable, A.strides) == flags


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64], ids=["i32", "i64"])
def test_sparse_input_not_modified(fmt, index_dtype) -> None:
    S = to_sparse(_A(), fmt, index_dtype)
    snapshot = copy.deepcopy(S)
    rankwise.svd(S, 4, random_state=SEED)
    rankwise.svd(S, tol=0.05, random_state=SEED)
    assert type(S) is type(snapshot)
    assert S.format == snapshot.format
    if fmt in ("csr", "csc"):
        for attr in ("data", "indices", "indptr"):
            before, after = getattr(snapshot, attr), getattr(S, attr)
            assert after.dtype == before.dtype, attr
            assert_array_equal(after, before, err_msg=attr)
    elif fmt == "coo":
        for attr in ("data", "row", "col"):
            assert_array_equal(getattr(S, attr), getattr(snapshot, attr), err_msg=attr)
    assert_array_equal(S.toarray(), snapshot.toarray())


def test_noncanonical_csr_not_canonicalised_in_place() -> None:
    """sort_indices()/sum_duplicates() on the caller's matrix would modify the input."""
    data = np.array([1.0, 2.0, 3.0, 0.5, 4.0, 5.0])
    indices = np.array([2, 0, 1, 2, 0, 1], dtype=np.int32)  # row 0 unsorted; row 0 has a duplicate
    indptr = np.array([0, 4, 6, 6], dtype=np.int32)
    S = sp.csr_array((data, indices, indptr), shape=(3, 3))
    assert not S.has_canonical_format
    dense = S.toarray()
    d0, i0, p0 = S.data.copy(), S.indices.copy(), S.indptr.copy()
    _U, s, _Vt = rankwise.svd(S, 2, random_state=SEED)
    assert_array_equal(S.data, d0)
    assert_array_equal(S.indices, i0)
    assert_array_equal(S.indptr, p0)
    # and the duplicate is summed (scipy semantics): compare with the dense SVD
    np.testing.assert_allclose(s, np.linalg.svd(dense, compute_uv=False)[:2], rtol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_cancelling_duplicates_count_as_their_sum(fmt) -> None:
    """+1e8 and -1e8 stored at one position: ||A||_F from the stored values was 1e8, so
    svds' rounding level was 1e7 times too loose and it stopped at 3e-10 (a review, session
    33); a canonical copy is multiplied and measured now, the caller's matrix untouched."""
    M = sp.random_array((400, 150), density=0.05, rng=2, format="csr")
    M.sort_indices()
    a = M.indptr[1]
    data = np.r_[M.data[:a], 1e8, -1e8, M.data[a:]]
    indices = np.r_[M.indices[:a], 0, 0, M.indices[a:]]
    indptr = M.indptr + np.r_[0, np.full(M.shape[0], 2)]
    S = sp.csr_array((data, indices, indptr), shape=M.shape)
    S = S if fmt == "csr" else sp.csr_array(S.T).T  # CSC with the same duplicates
    assert not S.has_canonical_format
    stored = S.data.copy()
    dense = S.toarray()
    u, s, vh = rankwise.svds(S, k=5, rng=0)
    assert_array_equal(S.data, stored)
    s_ref = np.linalg.svd(dense, compute_uv=False)[:5][::-1]
    np.testing.assert_allclose(s, s_ref, rtol=0, atol=1e-14 * s_ref[-1])
    left = np.linalg.norm(dense.T @ u - vh.T * s, axis=0).max() / s.max()
    assert left <= 64 * np.finfo(float).eps * (1 + np.linalg.norm(dense) / s.max())


def test_integer_duplicates_are_summed_in_floating_point() -> None:
    """int8 100 + 100 stored at one position is 200 (SciPy's products upcast first); the
    canonical copy summed it in int8 (56) on its first version (a review, session 33)."""
    S = sp.csr_array(
        (
            np.array([100, 100, 1, 1], dtype=np.int8),
            np.array([0, 0, 1, 2]),
            np.array([0, 2, 3, 4]),
        ),
        shape=(3, 3),
    )
    stored = S.data.copy()
    assert rankwise.svds(S, k=1, rng=0, return_singular_vectors=False)[0] == pytest.approx(
        200, rel=1e-14
    )
    assert rankwise.svd(S, 1, random_state=0)[1][0] == pytest.approx(200, rel=1e-14)
    assert_array_equal(S.data, stored)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_read_only_dense(layout, method) -> None:
    A = with_layout(_A(), layout)
    ref = rankwise.svd(with_layout(A, layout), 4, method=method, random_state=SEED)
    A.flags.writeable = False
    out = rankwise.svd(A, 4, method=method, random_state=SEED)
    out_tol = rankwise.svd(A, tol=0.05, random_state=SEED)
    assert_svd_output(*out_tol, A.shape, None, np.float64)
    slack = rounding_slack(np.float64, *A.shape, float(ref[1][0]))
    np.testing.assert_allclose(out[1], ref[1], rtol=0, atol=slack)
    np.testing.assert_allclose(
        (out[0] * out[1]) @ out[2], (ref[0] * ref[1]) @ ref[2], rtol=0, atol=2 * slack
    )


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_read_only_sparse(fmt) -> None:
    S = to_sparse(_A(), fmt)
    ref = rankwise.svd(S.copy(), 4, random_state=SEED)
    for arr in (S.data, S.indices, S.indptr):
        arr.flags.writeable = False
    out = rankwise.svd(S, 4, random_state=SEED)
    for a, b in zip(out, ref, strict=True):
        assert_array_equal(a, b)


def test_outputs_do_not_alias_input() -> None:
    A = _A(30, 30)
    before = A.copy()
    U, s, Vt = rankwise.svd(A, 30, random_state=SEED)
    for arr in (U, s, Vt):
        assert not np.shares_memory(arr, A)
    assert_array_equal(A, before)


# --------------------------------------------------------------------------- #
# Determinism
# --------------------------------------------------------------------------- #


def _inputs(kind: str):
    A = _A(120, 90)
    return {
        "dense-C": lambda: A.copy(),
        "dense-F": lambda: np.asfortranarray(A),
        "csr": lambda: sp.csr_array(A),
        "csc": lambda: sp.csc_array(A),
        "linop": lambda: aslinearoperator(A.copy()),
    }[kind]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["dense-C", "dense-F", "csr", "csc", "linop"])
def test_deterministic_same_seed(kind, method) -> None:
    make = _inputs(kind)
    runs = [rankwise.svd(make(), 6, n_iter=2, method=method, random_state=11) for _ in range(3)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            assert_array_equal(a, b)


class CountingOperator(LinearOperator):
    def __init__(self, A: np.ndarray) -> None:
        self._A = A
        super().__init__(dtype=A.dtype, shape=A.shape)

    def _matmat(self, X):
        return self._A @ X

    def _rmatmat(self, X):
        return self._A.T @ X


@pytest.mark.parametrize("method", METHODS)
def test_custom_linear_operator_matches_dense(method) -> None:
    prob = make_problem("gap", 120, 90)
    A = np.array(prob.A)
    U, s, Vt = rankwise.svd(CountingOperator(A), 10, n_iter=3, method=method, random_state=SEED)
    assert_svd_output(U, s, Vt, A.shape, 10, np.float64)
    l, q = effective_l_q(method, 3, 20, 120, 90)
    check_against_theory(prob, U, s, Vt, k=10, l=l, q=q, dtype=np.float64)


def test_operator_without_adjoint_gets_a_clear_error() -> None:
    A = np.random.default_rng(0).standard_normal((30, 20))
    op = LinearOperator((30, 20), matvec=lambda x: A @ x, dtype=np.float64)
    for call in (lambda: rankwise.svd(op, 5), lambda: rankwise.cur(op, 5, random_state=0)):
        with pytest.raises(TypeError, match="without rmatvec or rmatmat"):
            call()

    # a user's own TypeError inside rmatvec is not relabelled
    def bad_rmatvec(y: np.ndarray) -> np.ndarray:
        raise TypeError("user bug")

    op2 = LinearOperator((30, 20), matvec=lambda x: A @ x, rmatvec=bad_rmatvec, dtype=float)
    with pytest.raises(TypeError, match="user bug"):
        rankwise.svd(op2, 5)


def test_the_transpose_of_an_operator_without_adjoint_gets_a_clear_error() -> None:
    """svds and randomized_svd transpose a wide A; for A = B.T, B built from a matvec
    alone, that is (B.T).T, whose missing product raised SciPy's raw "'NoneType' object
    is not callable" (an acceptance review, session 44)."""
    B = np.random.default_rng(0).standard_normal((30, 20))
    wide = LinearOperator(B.shape, matvec=lambda x: B @ x, dtype=np.float64).T
    for call in (
        lambda: rankwise.svds(wide, 3),
        lambda: rankwise.randomized_svd(wide, 3),
        lambda: rankwise.svd(wide, 3),
    ):
        with pytest.raises(TypeError, match="without rmatvec or rmatmat"):
            call()


def test_an_operator_whose_products_are_sparse_matrices() -> None:
    """A matmat returning a scipy.sparse matrix is taken as its array (it raised NumPy's
    "ufunc 'isfinite' not supported")."""
    A = np.random.default_rng(0).standard_normal((30, 20))
    op = LinearOperator(
        A.shape,
        matvec=lambda x: A @ x,
        rmatvec=lambda y: A.T @ y,
        matmat=lambda X: sp.csr_matrix(A @ X),
        rmatmat=lambda Y: sp.csr_matrix(A.T @ Y),
        dtype=np.float64,
    )
    s_ref = np.linalg.svd(A, compute_uv=False)[:3]
    np.testing.assert_allclose(np.sort(rankwise.svds(op, 3)[1])[::-1], s_ref, rtol=1e-12)
    np.testing.assert_allclose(rankwise.svd(op, 3, n_iter=8, random_state=0)[1], s_ref,
                               rtol=1e-3)  # fmt: skip


def test_an_operator_beyond_the_iterations_range_is_named_not_blamed() -> None:
    """At 1e-310 the iteration's own vectors became NaN, and the error said the operator
    returned NaN or Inf, which it cannot from finite input."""
    A = np.random.default_rng(0).standard_normal((30, 20)) * 1e-310
    with pytest.raises(ValueError, match="vectors multiplied by A became NaN or Inf"):
        rankwise.svds(aslinearoperator(A), 3)


def test_huge_iteration_counts_are_taken_or_refused_by_name() -> None:
    A = np.random.default_rng(0).standard_normal((30, 20))
    s_ref = np.linalg.svd(A, compute_uv=False)[:3]
    np.testing.assert_allclose(np.sort(rankwise.svds(A, 3, maxiter=2**63)[1])[::-1], s_ref,
                               rtol=1e-12)  # fmt: skip
    U, s, Vt = rankwise.svd(A, 3, random_state=0)
    with pytest.raises(ValueError, match="n_probes"):
        rankwise.estimate_error(A, U, s, Vt, n_probes=2**63)
