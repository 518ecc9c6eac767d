"""Fuzzing of the public entry points (hypothesis): every case returns a correct result or
raises a clear Python exception, and the input is left exactly as it was.

Inputs are drawn adversarially: shapes from 0 x 0 up, dtypes from bool to complex and
object, C/F/strided/negative-stride/read-only layouts, NaN and Inf, entries scaled by
1e-300 and 1e300, ranks that are negative, zero, too large or not integers, and sparse
matrices whose CSR/CSC arrays have unsorted or duplicate indices with int32 or int64
index arrays (built from raw arrays, so scipy has not canonicalized them).

"Clear" means: ValueError, TypeError or MemoryError (LinAlgError and CGBreakdownError are
ValueErrors) with a non-empty message.  Anything else (IndexError, KeyError, ZeroDivision,
a crash) is a defect.  "Correct" is checked against float64 LAPACK on the same values.
The example count per test is FUZZ_EXAMPLES (default 40: the whole file runs in seconds;
set it higher for a long fuzzing session).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.linalg
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CLEAR = (ValueError, TypeError, MemoryError)
REAL_DTYPES = (np.float64, np.float32, np.int64, np.int32, np.bool_, np.float16)
ODD_DTYPES = (np.complex128, np.object_, np.str_)


@dataclass
class Case:
    """An input as the user passes it, and what rankwise should see in float64."""

    A: Any
    A64: np.ndarray  # float64 values (NaN where non-numeric)
    valid: bool  # real numeric dtype, every value finite
    work: np.dtype  # dtype results must have when valid

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.A64.shape[0]), int(self.A64.shape[1]))


def snapshot(A: Any) -> Any:
    """Everything about A that rankwise must not change."""
    if sp.issparse(A):
        arrays = {
            name: getattr(A, name)
            for name in ("data", "indices", "indptr", "row", "col")
            if hasattr(A, name)
        }
        return (
            "sparse",
            A.format,
            A.shape,
            {k: (v.copy(), v.dtype, v.flags.writeable) for k, v in arrays.items()},
        )
    a = np.asarray(A)
    return ("dense", a.copy(), a.dtype, a.strides, a.flags.writeable)


def assert_unchanged(A: Any, before: Any) -> None:
    after = snapshot(A)
    assert after[0] == before[0]
    if before[0] == "sparse":
        assert after[1:3] == before[1:3], "sparse format or shape changed"
        for name, (v, dtype, writeable) in before[3].items():
            w = after[3][name]
            assert w[1] == dtype, f"{name} dtype changed"
            assert w[2] == writeable, f"{name} writeable flag changed"
            np.testing.assert_array_equal(w[0], v, err_msg=f"sparse {name} modified")
    else:
        assert after[2:] == before[2:], "dtype, strides or writeable flag changed"
        assert after[1].tobytes() == before[1].tobytes(), "input modified"


@st.composite
def values(draw: Any, m: int, n: int, extreme: bool = False) -> np.ndarray:
    """m x n float64 values: Gaussian, low rank, integers or zeros, scaled by 10^e, with
    NaN or Inf sprinkled in sometimes.  ``extreme``: also scaled to within 10x of the float
    maximum (1e307) and to the subnormal range (1e-310)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    content = draw(st.sampled_from(["gaussian", "lowrank", "integers", "zeros", "onerow"]))
    if content == "gaussian":
        V = rng.standard_normal((m, n))
    elif content == "lowrank":
        r = max(1, min(m, n) // 2)
        V = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    elif content == "integers":
        V = rng.integers(-2, 3, size=(m, n)).astype(np.float64)
    elif content == "onerow":
        V = np.zeros((m, n))
        if m:
            V[rng.integers(m)] = rng.standard_normal(n)
    else:
        V = np.zeros((m, n))
    exponents = [0, 0, 0, -300, 300, -20, 20] + ([307, -310, 36, -40] if extreme else [])
    e = draw(st.sampled_from(exponents))
    V *= 10.0 ** (e // 2)  # in two factors: 10^307 and 10^-310 alone are not exact
    V *= 10.0 ** (e - e // 2)
    bad = draw(st.sampled_from([None, None, None, np.nan, np.inf, -np.inf]))
    if bad is not None and V.size:
        V.flat[rng.integers(V.size)] = bad
    return V


def dense_input(V: np.ndarray, dtype: Any, layout: str) -> np.ndarray:
    if dtype is np.str_:
        A = V.astype(str)
    elif dtype is np.object_:
        A = V.astype(object)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            A = V.astype(dtype)
    if layout == "F":
        A = np.asfortranarray(A)
    elif layout == "strided" and A.size:
        big = np.zeros((2 * A.shape[0], 3 * A.shape[1]), dtype=A.dtype)
        big[::2, ::3] = A
        A = big[::2, ::3]
    elif layout == "negstride":
        A = np.ascontiguousarray(A[::-1, ::-1])[::-1, ::-1]
    elif layout == "readonly":
        A = A.copy()
        A.flags.writeable = False
    return A


def raw_sparse(V: np.ndarray, fmt: str, index_dtype: Any, rng: np.random.Generator) -> Any:
    """CSR/CSC built from raw arrays with shuffled indices and split (duplicate) entries."""
    M = V if fmt == "csr" else V.T
    data, indices, indptr = [], [], [0]
    for row in M:
        nz = np.flatnonzero(row)
        rng.shuffle(nz)
        for j in nz:
            if rng.random() < 0.3 and np.isfinite(row[j]):  # two duplicates summing to it
                part = row[j] * 0.25
                data += [part, row[j] - part]
                indices += [j, j]
            else:
                data.append(row[j])
                indices.append(j)
        indptr.append(len(indices))
    arrays = (
        np.array(data, dtype=V.dtype),
        np.array(indices, dtype=index_dtype),
        np.array(indptr, dtype=index_dtype),
    )
    ctor = sp.csr_array if fmt == "csr" else sp.csc_array
    return ctor(arrays, shape=V.shape)


def dense_case(A: Any, shape: tuple[int, ...], real: bool, work: np.dtype) -> Case:
    """The Case of a dense input A: its float64 values (NaN where A has no real values:
    strings, complex, long double) and whether a call must accept it (real and finite)."""
    if real:
        with np.errstate(invalid="ignore", over="ignore"):
            A64 = np.asarray(A, dtype=np.float64)
    else:
        A64 = np.full(shape, np.nan)
    return Case(A, A64, real and bool(np.all(np.isfinite(A64))), work)


@st.composite
def matrices(draw: Any, max_dim: int = 12, sparse: bool = True, extreme: bool = False) -> Case:
    m = draw(st.integers(0, max_dim))
    n = draw(st.integers(0, max_dim))
    V = draw(values(m, n, extreme))
    kind = draw(st.sampled_from(["dense"] * 3 + (["csr", "csc", "coo"] if sparse else [])))
    if kind == "dense":
        dtype = draw(st.sampled_from(REAL_DTYPES + ODD_DTYPES))
        layout = draw(st.sampled_from(["C", "F", "strided", "negstride", "readonly"]))
        A = dense_input(V, dtype, layout)
        work = np.dtype(np.float32) if dtype is np.float32 else np.dtype(np.float64)
        return dense_case(A, V.shape, dtype in REAL_DTYPES, work)
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    with np.errstate(over="ignore"):
        V = V.astype(dtype)  # 1e300 overflows float32 to Inf: an invalid case then
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "coo":
        A = sp.coo_array(V)
    else:
        A = raw_sparse(V, kind, draw(st.sampled_from([np.int32, np.int64])), rng)
    A64 = V.astype(np.float64)
    return Case(A, A64, bool(np.all(np.isfinite(A64))), np.dtype(dtype))


RANKS = st.one_of(st.integers(-2, 14), st.sampled_from([2**40, 1.5, "3", None, np.int64(2)]))


def call(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, BaseException | None]:
    """fn(*args, **kwargs) with warnings silenced; a clear exception is returned, anything
    else propagates (and fails the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs), None
        except CLEAR as e:
            err = e
    assert str(err).strip(), f"{type(err).__name__} without a message"
    return None, err


def valid_rank(k: Any, upper: int) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 1 <= k <= upper


def slack(case: Case, scale: float) -> float:
    m, n = case.shape
    return 50 * float(np.finfo(case.work).eps) * math.sqrt(m + n + 1) * scale


def beyond_range(case: Case) -> bool:
    """True when A's largest singular value exceeds half the work dtype's maximum: its SVD
    (or a CUR core of its size) is then not representable, and a refusal is right."""
    scale = float(np.abs(case.A64).max(initial=0.0))
    if not scale > 0:
        return False
    sigma1 = float(scipy.linalg.svdvals(case.A64 / scale)[0])
    return math.log2(sigma1) + math.log2(scale) > math.log2(float(np.finfo(case.work).max)) - 1


def core_beyond_range(case: Case) -> bool:
    """True when a CUR core U ~ 1 / |A| can overflow: max |a_ij| below 1e4 / (eps max)
    (float64: 2.5e-289), since U's entries reach 1 / (eps max |a_ij|) for a selection
    that is singular to working precision."""
    scale = float(np.abs(case.A64).max(initial=0.0))
    info = np.finfo(case.work)
    return scale * float(info.eps) * float(info.max) < 1e4


def check_refusal(case: Case, err: BaseException) -> None:
    """A valid call refused: only where the result is not representable (python/rankwise/
    _scale.py scales every other input by a power of two), with a message that says so."""
    assert "exceed the" in str(err), f"valid input refused: {err!r}"
    assert beyond_range(case), f"valid input refused: {err!r}"


def check_svd_factors(case: Case, U: Any, s: Any, Vt: Any, k: int, exact: bool = True) -> None:
    """Valid factors of A; with ``exact`` the optimal ones (the sketch spans A's range), else
    those of a projection (U U^T A or A V V^T, truncated): the part of A left out is then
    orthogonal to the part kept, ||A - U S Vt||^2 = ||A||^2 - sum s^2."""
    m, n = case.shape
    assert (U.shape, s.shape, Vt.shape) == ((m, k), (k,), (k, n))
    for X in (U, s, Vt):
        assert X.dtype == case.work
        assert np.all(np.isfinite(X))
    # Compare in units of max |a_ij|, so that entries of 1e300 do not overflow the checks.
    scale = float(np.abs(case.A64).max(initial=0.0)) or 1.0
    A64 = case.A64 / scale
    sigma = scipy.linalg.svdvals(A64)
    tol = slack(case, float(sigma[0]) if sigma.size else 0.0)
    # subnormal entries (sparse or operator input is used unscaled): products of them keep
    # only the digits above the subnormal spacing
    tol += 1e3 * (m + n) * float(np.finfo(case.work).smallest_subnormal) / scale
    u64, s64, vt64 = (np.asarray(X, dtype=np.float64) for X in (U, s, Vt))
    s64 = s64 / scale
    orth = 100 * float(np.finfo(case.work).eps) * math.sqrt(max(m, n))
    assert np.abs(u64.T @ u64 - np.eye(k)).max() <= orth or s64[-1] <= tol
    assert np.abs(vt64 @ vt64.T - np.eye(k)).max() <= orth or s64[-1] <= tol
    assert np.all(np.diff(s64) <= tol), "singular values not descending"
    assert np.all(s64 >= 0)
    assert np.all(s64 <= sigma[:k] + tol), "singular values above the exact ones"
    err = np.linalg.norm(A64 - (u64 * s64) @ vt64)
    if exact:  # with the default oversampling the sketch spans the whole range here
        assert err <= np.linalg.norm(sigma[k:]) + math.sqrt(k) * tol + tol
    else:
        left_out = math.sqrt(max(float(np.sum(sigma**2) - np.sum(s64**2)), 0.0))
        assert abs(err - left_out) <= math.sqrt(k) * tol + tol + math.sqrt(k * tol * sigma[0])


@SETTINGS
@given(case=matrices(extreme=True), k=RANKS, method=st.sampled_from(["subspace", "block_krylov"]))
def test_svd(case: Case, k: Any, method: str) -> None:
    before = snapshot(case.A)
    out, err = call(rankwise.svd, case.A, k, method=method, random_state=0)
    assert_unchanged(case.A, before)
    if case.valid and valid_rank(k, min(case.shape)):
        if err is not None:
            check_refusal(case, err)
            return
        check_svd_factors(case, *out, int(k))
    elif err is None:
        pytest.fail(f"accepted an invalid call (valid={case.valid}, k={k!r})")


@SETTINGS
@given(
    case=matrices(extreme=True),
    k=st.integers(1, 6),
    passes=st.integers(2, 9),
    block=st.integers(1, 5),
)
def test_svd_block_krylov_passes_and_blocks(case: Case, k: int, passes: int, block: int) -> None:
    """Block Krylov with any pass count and narrow blocks, on every kind of input: either
    refused as the space cannot hold k columns, or valid projection factors."""
    before = snapshot(case.A)
    kwargs = {"method": "block_krylov", "n_passes": passes, "block_size": block}
    out, err = call(rankwise.svd, case.A, k, random_state=0, **kwargs)
    assert_unchanged(case.A, before)
    if case.valid and valid_rank(k, min(case.shape)) and block * (passes // 2) >= k:
        if err is not None:
            check_refusal(case, err)
            return
        check_svd_factors(case, *out, k, exact=False)
        event("factors checked")
    elif err is None:
        pytest.fail(f"accepted an invalid call (valid={case.valid}, k={k}, {kwargs})")


@SETTINGS
@given(case=matrices(extreme=True), k=RANKS)
def test_randomized_svd_dropin(case: Case, k: Any) -> None:
    before = snapshot(case.A)
    out, err = call(rankwise.randomized_svd, case.A, k, random_state=0)
    assert_unchanged(case.A, before)
    dtype = getattr(case.A, "dtype", None)
    long_float = dtype is not None and dtype.kind == "f" and dtype.itemsize > 8
    if isinstance(case.A, np.ndarray) and (dtype == np.dtype(object) or long_float):
        # scikit-learn (and the drop-in) take an object array of numbers and long doubles
        # as float64
        with np.errstate(over="ignore"):
            A64 = np.asarray(case.A, dtype=np.float64)
        case = Case(case.A, A64, bool(np.all(np.isfinite(A64))), np.dtype(np.float64))
    # scikit-learn's convention: n_components above min(m, n) gives min(m, n) components
    if case.valid and valid_rank(k, 2**63 - 1) and min(case.shape) > 0:
        if err is not None:
            check_refusal(case, err)
            return
        check_svd_factors(case, *out, min(int(k), min(case.shape)))
    elif err is None:
        pytest.fail(f"accepted an invalid call (valid={case.valid}, k={k!r})")


@SETTINGS
@given(case=matrices(extreme=True), k=RANKS)
def test_svds_dropin(case: Case, k: Any) -> None:
    before = snapshot(case.A)
    out, err = call(rankwise.svds, case.A, k, random_state=0)
    assert_unchanged(case.A, before)
    dtype = np.asarray(case.A).dtype
    finite = dtype.kind == "c" and bool(np.isfinite(np.asarray(case.A)).all())
    if finite and valid_rank(k, min(case.shape) - 1):  # svds takes complex input too
        assert err is None, f"valid complex input refused: {err!r}"
        sigma = scipy.linalg.svdvals(np.asarray(case.A))
        atol = (1e-10 if dtype == np.complex128 else 1e-5) * float(sigma[0])  # complex64: 1e-5
        np.testing.assert_allclose(np.sort(out[1])[::-1], sigma[: int(k)], atol=atol, rtol=0)
        return
    # SciPy's svds takes integer and floating dtypes but refuses bool; so does the drop-in.
    if case.valid and valid_rank(k, min(case.shape) - 1) and np.asarray(case.A).dtype != bool:
        if err is not None:
            check_refusal(case, err)
            return
        # in units of max |a_ij| (entries of 1e307 do not overflow the check)
        scale = float(np.abs(case.A64).max(initial=0.0)) or 1.0
        s = np.asarray(out[1], dtype=np.float64) / scale
        assert out[1].dtype == case.work
        assert np.all(np.isfinite(out[1]))
        sigma = scipy.linalg.svdvals(case.A64 / scale)
        tol = slack(case, float(sigma[0])) * 10 + 1e-4 * float(sigma[0]) * (
            case.work == np.float32
        )
        # singular values in the subnormal range keep the digits above its spacing only
        tol += 1e3 * float(np.finfo(case.work).smallest_subnormal) / scale
        np.testing.assert_allclose(np.sort(s)[::-1], sigma[: int(k)], atol=tol, rtol=0)
    elif err is None and not (case.valid and valid_rank(k, min(case.shape) - 1)):
        pytest.fail(f"accepted an invalid call (valid={case.valid}, k={k!r})")


@SETTINGS
@given(
    case=matrices(extreme=True),
    k=RANKS,
    method=st.sampled_from(["deim", "qdeim", "maxvol", "leverage"]),
)
def test_cur(case: Case, k: Any, method: str) -> None:
    before = snapshot(case.A)
    out, err = call(rankwise.cur, case.A, k, method=method, random_state=1)
    assert_unchanged(case.A, before)
    if err is not None:
        # A valid call may still be refused when the selected block is singular (e.g. a
        # matrix of rank < k), or where the core U ~ 1 / |A| of entries near the subnormal
        # range is not representable, and must say so.
        assert (
            not (case.valid and valid_rank(k, min(case.shape)))
            or "singular" in str(err)
            or "rank" in str(err)
            or ("overflows" in str(err) and core_beyond_range(case))
        ), f"valid input refused: {err!r}"
        return
    assert case.valid, "accepted an invalid matrix"
    assert valid_rank(k, min(case.shape)), f"accepted k = {k!r}"
    C = out.C.toarray() if sp.issparse(out.C) else np.asarray(out.C)
    R = out.R.toarray() if sp.issparse(out.R) else np.asarray(out.R)
    np.testing.assert_array_equal(C.astype(np.float64), case.A64[:, out.cols].astype(case.work))
    np.testing.assert_array_equal(R.astype(np.float64), case.A64[out.rows, :].astype(case.work))
    dense = out.to_dense()
    assert dense.dtype == case.work
    # C U R is finite unless its entries (or the partial sums of its product) exceed the
    # float range, which an approximation of entries near the maximum can do: bounded in
    # float64 in units of max |a_ij|
    scale = float(np.abs(case.A64).max(initial=0.0)) or 1.0
    factors, log2_units = [], -math.log2(scale)
    for X in (out.product.left, out.product.middle, out.product.right):
        X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        top = float(np.abs(X).max(initial=0.0)) or 1.0
        factors.append(X / top)
        log2_units += math.log2(top)
    units = 2.0 ** min(log2_units, 1100.0)  # C U R in units of max |a_ij|
    Ln, Mn, Rn = factors
    bound = float((np.abs(Ln) @ np.abs(Mn) @ np.abs(Rn)).max(initial=0.0)) * units
    if bound < float(np.finfo(case.work).max) / scale / 4:
        assert np.all(np.isfinite(dense))
    if method == "leverage":
        return  # sampling may miss the rows that matter: no error bound to check
    # A of numerical rank <= k (zeros, one row, integers of low rank, k = min(m, n)) is
    # reproduced by a deterministic selection (the rows and columns interpolate the leading
    # singular vectors, so C and R have A's rank): the stabilized core's error is then
    # rounding, relative to max |a_ij|.
    A64 = case.A64.astype(case.work).astype(np.float64) / scale
    sigma = scipy.linalg.svdvals(A64)
    tol = slack(case, float(sigma[0]) if sigma.size else 0.0)
    tol += 1e3 * (sum(case.shape)) * float(np.finfo(case.work).smallest_subnormal) / scale
    if sigma.size <= int(k) or sigma[int(k)] <= tol:
        err_fro = float(np.linalg.norm(Ln @ Mn @ Rn * units - A64))
        assert err_fro <= 1e3 * tol * max(case.shape) + tol, f"CUR error {err_fro:.3g}"


@SETTINGS
@given(case=matrices(sparse=False), k=RANKS, rand=st.booleans())
def test_interp_decomp(case: Case, k: Any, rand: bool) -> None:
    before = snapshot(case.A)
    out, err = call(rankwise.interp_decomp, case.A, k, rand, rng=np.random.default_rng(2))
    assert_unchanged(case.A, before)
    ok_k = valid_rank(k, min(case.shape)) or (
        isinstance(k, float) and 0 < k < 1 and min(case.shape) > 0
    )
    # scipy.linalg.interpolative takes float64 (and complex128) only; so does the drop-in.
    if not (case.valid and ok_k and np.asarray(case.A).dtype == np.float64):
        return  # refused or answered like scipy.linalg.interpolative; either is fine
    assert err is None, f"valid input refused: {err!r}"
    idx, proj = out[-2:]  # (k, idx, proj) for a precision eps_or_k < 1
    n = case.shape[1]
    assert sorted(idx.tolist()) == list(range(n))
    r = proj.shape[0]
    # Near the float maximum the check scales A by a power of two (the skeleton and proj do
    # not depend on it): B @ proj of columns at 1.8e308 rounds one ulp up to Inf, and so did
    # svdvals (atheris, session 41).  Entries below 2^-1074 of the scale lose bits: nothing
    # against the bound.
    top = float(np.abs(case.A64).max(initial=0.0))
    A64 = (
        np.ldexp(case.A64, -max(math.frexp(top)[1] - 1000, 0)) if math.isfinite(top) else case.A64
    )
    B = A64[:, idx[:r]]
    approx = np.hstack([B, B @ np.asarray(proj, dtype=np.float64)])[:, np.argsort(idx)]
    sigma = scipy.linalg.svdvals(A64)
    tail = float(sigma[r]) if r < sigma.size else 0.0
    # Interpolative decomposition bound (Cheng, Gimbutas, Martinsson, Rokhlin 2005):
    # ||A - B P|| <= sqrt(1 + k (n - k)) sigma_{k+1} for a strong RRQR; generous factor.
    bound = 20 * math.sqrt(1 + r * (n - r)) * tail + slack(case, float(sigma[0])) * 10
    assert np.linalg.norm(A64 - approx, 2) <= bound


@st.composite
def systems(draw: Any) -> tuple[Any, Any, bool]:
    """(A, b, spd): SPD, symmetric indefinite or non-symmetric A, dense or sparse."""
    n = draw(st.integers(0, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    G = rng.standard_normal((n, n))
    kind = draw(st.sampled_from(["spd", "spd", "indefinite", "nonsymmetric", "singular"]))
    if kind == "spd":
        A = G @ G.T + n * np.eye(n)
    elif kind == "indefinite":
        A = G + G.T
    elif kind == "singular":
        A = np.zeros((n, n))
    else:
        A = G
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    b = rng.standard_normal(draw(st.sampled_from([(n,), (n, 1), (n, 2), (n + 1,)])))
    if draw(st.booleans()) and b.size:
        b.flat[0] = draw(st.sampled_from([np.nan, np.inf, 1.0]))
    fmt = draw(st.sampled_from(["dense", "csr", "csc"]))
    A = A.astype(dtype)
    if fmt != "dense":
        A = raw_sparse(A, fmt, draw(st.sampled_from([np.int32, np.int64])), rng)
    b = b.astype(dtype)
    return A, b, kind == "spd"


@SETTINGS
@given(system=systems(), rtol=st.sampled_from([1e-5, 1e-3, 0.0, -1.0, np.nan]))
def test_cg(system: tuple[Any, Any, bool], rtol: float) -> None:
    A, b, spd = system
    before_A, before_b = snapshot(A), snapshot(b)
    out, err = call(rankwise.cg, A, b, rtol=rtol, maxiter=200)
    assert_unchanged(A, before_A)
    assert_unchanged(b, before_b)
    n = A.shape[0]
    # (n = 0: the empty solution, as SciPy returns it; b of shape (n, 0) is refused)
    well_posed = n == b.shape[0] and (b.ndim == 1 or b.shape[1] > 0)
    well_posed = well_posed and bool(np.all(np.isfinite(b))) and rtol >= 0
    if err is not None:
        assert not (spd and well_posed and rtol > 0), f"valid system refused: {err!r}"
        return
    x, info = out
    # SciPy's convention: b of shape (n, 1) is a vector and x comes back as (n,)
    assert x.shape == (b.shape if b.ndim == 1 or b.shape[1] > 1 else (n,))
    assert np.all(np.isfinite(x)) or info != 0
    if info == 0 and well_posed and n > 0:
        A64 = A.toarray() if sp.issparse(A) else np.asarray(A)
        x64 = x.astype(np.float64).reshape(b.shape)
        eps = float(np.finfo(b.dtype).eps)
        # in units of max |b_i| (entries up to 1e308 do not overflow the residual)
        unit = float(np.abs(b).max()) or 1.0
        r = b.astype(np.float64) / unit - A64.astype(np.float64) @ (x64 / unit)
        bnorm, rnorm = np.linalg.norm(b / unit), np.linalg.norm(r)
        bound = rtol * bnorm * 10 + 100 * eps * (bnorm + 1 / unit) * n
        assert rnorm <= bound, "info == 0 but the residual is not small"
    assert spd or info != 0 or well_posed


@SETTINGS
@given(
    system=systems(), which=st.sampled_from(["jacobi", "ssor", "ic0", "block_jacobi", "chebyshev"])
)
def test_preconditioners(system: tuple[Any, Any, bool], which: str) -> None:
    A, _, spd = system
    before = snapshot(A)
    args = {"block_jacobi": (2,)}.get(which, ())
    M, err = call(getattr(rankwise.precond, which), A, *args)
    assert_unchanged(A, before)
    if err is not None or A.shape[0] == 0:
        return
    # Built: it must be a usable SPD-looking operator of the right size.
    n = A.shape[0]
    z = np.asarray(M @ np.ones(n, dtype=A.dtype))
    assert z.shape == (n,)
    if spd:
        assert np.all(np.isfinite(z))
        assert float(np.ones(n) @ z) > 0


@st.composite
def row_updates(draw: Any) -> tuple[np.ndarray, Case, str]:
    """(A, a batch E of new rows drawn like every other input, method)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m, n = draw(st.integers(3, 12)), draw(st.integers(3, 12))
    A = rng.standard_normal((m, n))
    E = draw(matrices(max_dim=6))
    method = draw(st.sampled_from(["zha-simon", "vecharynski-saad", "sparse"]))
    return A, E, method


@SETTINGS
@given(update=row_updates(), k=st.integers(1, 3))
def test_svd_updater_add_rows(update: tuple[np.ndarray, Case, str], k: int) -> None:
    A, E, method = update
    up = rankwise.SVDUpdater(k, method=method, random_state=0).fit(A)
    before_state = up.svd()
    before = snapshot(E.A)
    _, err = call(up.add_rows, E.A)
    assert_unchanged(E.A, before)
    fits = E.shape[1] == A.shape[1] and E.shape[0] > 0 and E.work == np.float64
    if err is not None or not (E.valid and fits):
        if err is None:
            pytest.fail(f"accepted an invalid batch (valid={E.valid}, shape={E.shape})")
        for got, want in zip(up.svd(), before_state, strict=True):  # state unchanged
            np.testing.assert_array_equal(got, want)
        return
    U, s, Vt = up.svd()
    stacked = np.vstack([A, E.A64])
    assert U.shape == (stacked.shape[0], k)
    assert Vt.shape == (k, stacked.shape[1])
    np.testing.assert_allclose(U.T @ U, np.eye(k), atol=1e-8)
    # The update is the SVD of diag(P, I) [A; E] with P a projector: s_i <= sigma_i([A; E]).
    sigma = scipy.linalg.svdvals(stacked)
    # (to rounding relative to sigma_1: the update is backward stable, not relatively
    # accurate in the small values when the batch dominates)
    assert np.all(s <= sigma[:k] * (1 + 1e-10) + 1e-10 * max(float(sigma[0]), 1.0))


@st.composite
def bases(draw: Any) -> Case:
    """Mostly tall, mostly valid bases (orthonormal or not), and every adversarial input of
    :func:`matrices` a quarter of the time."""
    if draw(st.integers(0, 3)) == 0:
        return draw(matrices(sparse=False))
    n = draw(st.integers(1, 40))
    m = draw(st.integers(1, min(n, 8)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # 1e-40: subnormal in float32; 1e-310 and 1e307: subnormal / near the maximum in float64
    scale = 10.0 ** draw(st.sampled_from([0, -150, 150, -40, -310, 307]))
    with np.errstate(under="ignore"):
        U = rng.standard_normal((n, m)) * scale
    if draw(st.booleans()):
        U = np.linalg.qr(U)[0]
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    layout = draw(st.sampled_from(["C", "F", "strided", "readonly"]))
    with np.errstate(over="ignore", under="ignore"):
        A = dense_input(U, dtype, layout)
        A64 = np.asarray(A, dtype=np.float64)
    return Case(A, A64, bool(np.all(np.isfinite(A64))), np.dtype(dtype))


@SETTINGS
@given(
    case=bases(),
    method=st.sampled_from(["deim", "qdeim", "odeim"]),
    extra=st.integers(-1, 3),
)
def test_point_selection(case: Case, method: str, extra: int) -> None:
    """deim/qdeim/odeim on any basis: a clear error, or distinct points at which the
    interpolant of a field in span(U) reproduces the field."""
    before = snapshot(case.A)
    n_points = case.shape[1] + extra
    fn = getattr(rankwise, method)
    args = (case.A, n_points) if method == "odeim" else (case.A,)
    out, err = call(fn, *args)
    assert_unchanged(case.A, before)
    event("refused" if err is not None else "accepted")
    if err is not None:
        return  # refused with a message (rank-deficient, too many points, NaN, dtype...)
    n, m = case.shape
    assert case.valid, "accepted an invalid basis"
    assert m >= 1, "accepted an empty basis"
    points = np.asarray(out.points)
    expected = n_points if method == "odeim" else m
    assert points.shape == (expected,)
    assert len(set(points.tolist())) == expected
    assert points.min() >= 0
    assert points.max() < n
    # A field in span(U) is reproduced from its values at the points (to rounding amplified
    # by the conditioning of U[points]).
    U = case.A64
    f = U @ np.linspace(1.0, 2.0, m)
    if not np.isfinite(f).all():
        return  # entries near the float maximum: the test field itself overflows
    scale = float(np.abs(f).max(initial=0.0)) or 1.0
    eps = float(np.finfo(np.asarray(out.basis).dtype).eps)
    cond = (
        float(np.linalg.cond(U[points]))
        if expected == m
        else 1
        / max(
            float(scipy.linalg.svdvals(U[points])[-1]) / max(float(np.abs(U).max()), 1e-300),
            1e-300,
        )
    )
    err_f = float(np.abs(np.asarray(out(f[points]), dtype=np.float64) - f).max())
    # a subnormal field cannot be closer than its spacing (the values at the points, then
    # each of the m terms of the reconstruction, round to it)
    spacing = float(np.finfo(np.asarray(out.basis).dtype).smallest_subnormal)
    assert err_f <= 100 * eps * cond * scale * math.sqrt(n * m) + 10 * m * cond * spacing


@SETTINGS
@given(case=matrices(), max_terms=st.integers(1, 6), norm=st.sampled_from(["linf", "l2"]))
def test_eim_greedy(case: Case, max_terms: int, norm: str) -> None:
    """eim on any snapshot matrix: a clear error, or an interpolant that reproduces the
    snapshots at its points."""
    before = snapshot(case.A)
    out, err = call(rankwise.eim, case.A, max_terms=max_terms, norm=norm)
    assert_unchanged(case.A, before)
    event("refused" if err is not None else "accepted")
    if err is not None:
        return
    assert case.valid, "accepted invalid snapshots"
    points = np.asarray(out.points)
    M = points.size
    assert 0 <= M <= max_terms
    assert len(set(points.tolist())) == M
    if M == 0:
        return
    S = case.A64
    scale = float(np.abs(S).max(initial=0.0)) or 1.0
    recon = np.asarray(out(S[points, :]), dtype=np.float64)
    eps = float(np.finfo(case.work).eps)
    np.testing.assert_allclose(recon[points], S[points, :], atol=1e3 * eps * scale * M, rtol=0)
