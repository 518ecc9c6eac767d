"""rankwise.cg / solve_cg: accuracy against direct solves, agreement with SciPy's cg
(iterates and counts), inputs, blocks, float32, callbacks and every bad input."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import rankwise
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from interrupt_support import interrupt_inside_core
from rankwise import CGBreakdownError
from scipy.sparse.linalg import LinearOperator

# --------------------------------------------------------------------------- #
# problems
# --------------------------------------------------------------------------- #


def poisson2d(m: int) -> sp.csr_array:
    """5-point Laplacian on an m x m grid (n = m^2), SPD."""
    T = sp.diags_array([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], offsets=[-1, 0, 1])
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def varcoef2d(m: int, seed: int = 0, contrast: float = 1e3) -> sp.csr_array:
    """D^1/2 L D^1/2 + diag: a Poisson matrix badly scaled by a random diagonal."""
    rng = np.random.default_rng(seed)
    d = np.exp(rng.uniform(0, np.log(contrast), m * m))
    D = sp.diags_array(np.sqrt(d))
    return sp.csr_array(D @ poisson2d(m) @ D + sp.diags_array(1e-2 * d))


def dense_spd(n: int, cond: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.geomspace(1.0, cond, n)
    return (Q * ev) @ Q.T


def eps(dtype: Any) -> float:
    return float(np.finfo(dtype).eps)


def true_rel_residual(A: Any, x: np.ndarray, b: np.ndarray) -> float:
    A64 = A.astype(np.float64) if hasattr(A, "astype") else A
    x64 = np.asarray(x, np.float64)
    b64 = np.asarray(b, np.float64)
    return float(np.linalg.norm(b64 - A64 @ x64) / np.linalg.norm(b64))


def scipy_counts(A: Any, b: np.ndarray, **kw: Any) -> tuple[np.ndarray, int, int]:
    calls = [0]

    def cb(_: np.ndarray) -> None:
        calls[0] += 1

    x, info = spla.cg(A, b, callback=cb, **kw)
    return x, info, calls[0]


# --------------------------------------------------------------------------- #
# accuracy and agreement with SciPy
# --------------------------------------------------------------------------- #


def test_matches_direct_solve_sparse() -> None:
    A = varcoef2d(20, seed=1)
    rng = np.random.default_rng(2)
    b = rng.standard_normal(A.shape[0])
    x_ref = spla.spsolve(A.tocsc(), b)
    rtol = 1e-10
    x, info = rankwise.cg(A, b, rtol=rtol, M=rankwise.precond.jacobi(A))
    assert info == 0
    assert true_rel_residual(A, x, b) <= 1.01 * rtol
    # forward error <= cond(A) * relative residual
    ev = np.linalg.eigvalsh(A.toarray())
    cond = ev[-1] / ev[0]
    err = np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref)
    assert err <= cond * 1.01 * rtol


def test_matches_direct_solve_dense() -> None:
    A = dense_spd(120, 1e4, seed=3)
    b = np.random.default_rng(4).standard_normal(120)
    x_ref = sla.solve(A, b, assume_a="pos")
    x, info = rankwise.cg(A, b, rtol=1e-12)
    assert info == 0
    assert np.linalg.norm(x - x_ref) <= 1e4 * 1.01e-12 * np.linalg.norm(x_ref)


@pytest.mark.parametrize("precond", [None, "jacobi"])
def test_same_iterates_and_counts_as_scipy(precond: str | None) -> None:
    A = varcoef2d(24, seed=5, contrast=50.0)
    b = np.random.default_rng(6).standard_normal(A.shape[0])
    M_sp = sp.diags_array(1.0 / A.diagonal()) if precond else None
    M_rw = rankwise.precond.jacobi(A) if precond else None
    x_sp, info_sp, it_sp = scipy_counts(A, b, rtol=1e-8, M=M_sp)
    calls = [0]

    def cb(_: np.ndarray) -> None:
        calls[0] += 1

    x_rw, info_rw = rankwise.cg(A, b, rtol=1e-8, M=M_rw, callback=cb)
    res = rankwise.solve_cg(A, b, rtol=1e-8, M=M_rw)
    assert info_rw == info_sp == 0
    # Same recurrence: only the summation order of the dot products differs.
    assert abs(calls[0] - it_sp) <= 2
    assert abs(res.iterations - it_sp) <= 2
    assert np.linalg.norm(x_rw - x_sp) <= 1e-6 * np.linalg.norm(x_sp)


def test_history_and_result_fields() -> None:
    A = poisson2d(16)
    b = np.ones(A.shape[0])
    rtol = 1e-9
    res = rankwise.solve_cg(A, b, rtol=rtol)
    assert res.converged
    assert res.reason == "converged"
    assert res.info == 0
    h = res.residual_norms
    assert h.shape == (res.iterations + 1,)
    assert h[0] == pytest.approx(np.linalg.norm(b), rel=1e-14)
    assert h[-1] < rtol * np.linalg.norm(b) <= h[-2]
    assert res.column_reasons == ("converged",)
    assert res.column_iterations.tolist() == [res.iterations]


def test_maxiter_reports_not_converged() -> None:
    A = poisson2d(16)
    b = np.ones(A.shape[0])
    x, info = rankwise.cg(A, b, rtol=1e-12, maxiter=3)
    assert info == 3
    res = rankwise.solve_cg(A, b, rtol=1e-12, maxiter=3)
    assert not res.converged
    assert res.reason == "maxiter"
    assert res.iterations == 3
    assert np.array_equal(res.x, x)


# --------------------------------------------------------------------------- #
# input kinds and dtypes
# --------------------------------------------------------------------------- #


def _kinds(A: sp.csr_array) -> dict[str, Any]:
    dense = A.toarray()
    csr64 = A.copy()
    csr64.indices = csr64.indices.astype(np.int64)
    csr64.indptr = csr64.indptr.astype(np.int64)
    return {
        "csr": A,
        "csr_int64": csr64,
        "csc": A.tocsc(),
        "csr_matrix": sp.csr_matrix(A),
        "coo": A.tocoo(),
        "dense_c": dense,
        "dense_f": np.asfortranarray(dense),
        "dense_strided": np.zeros((dense.shape[0], 2 * dense.shape[1]))[:, ::2],
        "linear_operator": spla.aslinearoperator(A),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "csr",
        "csr_int64",
        "csc",
        "csr_matrix",
        "coo",
        "dense_c",
        "dense_f",
        "dense_strided",
        "linear_operator",
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_input_kinds(kind: str, dtype: Any) -> None:
    A = varcoef2d(10, seed=7, contrast=10.0).astype(dtype)
    kinds = _kinds(A)
    if kind == "dense_strided":
        kinds[kind] = kinds[kind].astype(dtype)
        kinds[kind][...] = A.toarray()
    Ain = kinds[kind]
    b = np.random.default_rng(8).standard_normal(A.shape[0]).astype(dtype)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    before = Ain.copy() if hasattr(Ain, "copy") else None
    b_before = b.copy()
    x, info = rankwise.cg(Ain, b, rtol=rtol)
    assert info == 0
    assert x.dtype == np.dtype(dtype)
    assert x.shape == b.shape
    assert true_rel_residual(A, x, b) <= 10 * rtol
    np.testing.assert_array_equal(b, b_before)
    if isinstance(before, np.ndarray):
        np.testing.assert_array_equal(Ain, before)


def test_dtype_coercion_as_scipy() -> None:
    A = poisson2d(8).astype(np.float32)
    b32 = np.ones(A.shape[0], np.float32)
    assert rankwise.cg(A, b32)[0].dtype == np.float32
    assert rankwise.cg(A, b32.astype(np.float64))[0].dtype == np.float64
    assert rankwise.cg(A.astype(np.float64), b32)[0].dtype == np.float64
    assert rankwise.cg(A, np.ones(A.shape[0], dtype=int))[0].dtype == np.float64
    Ai = sp.csr_array(poisson2d(8).astype(np.int64))
    x, info = rankwise.cg(Ai, np.ones(64), rtol=1e-10)
    assert info == 0
    assert x.dtype == np.float64


def test_float32_accuracy_and_work_dtype() -> None:
    A = varcoef2d(20, seed=9, contrast=20.0).astype(np.float32)
    b = np.random.default_rng(10).standard_normal(A.shape[0]).astype(np.float32)
    rtol = 100 * eps(np.float32)
    res = rankwise.solve_cg(A, b, rtol=rtol, M=rankwise.precond.jacobi(A))
    assert res.converged
    assert res.x.dtype == np.float32
    # recursive vs true residual differ by O(eps kappa); kappa is modest here
    assert true_rel_residual(A, res.x, b) <= 20 * rtol


# --------------------------------------------------------------------------- #
# blocks of right-hand sides
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_block_equals_columnwise(dtype: Any) -> None:
    A = varcoef2d(14, seed=11, contrast=30.0).astype(dtype)
    B = np.random.default_rng(12).standard_normal((A.shape[0], 4)).astype(dtype)
    B[:, 2] *= 1e-3  # different scales converge at different iterations
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    M = rankwise.precond.jacobi(A)
    res = rankwise.solve_cg(A, B, rtol=rtol, M=M)
    assert res.converged
    assert res.x.shape == B.shape
    assert res.x.dtype == np.dtype(dtype)
    assert res.residual_norms.shape == (res.iterations + 1, 4)
    for j in range(4):
        one = rankwise.solve_cg(A, B[:, j], rtol=rtol, M=M)
        assert one.iterations == res.column_iterations[j]
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert np.linalg.norm(one.x - res.x[:, j]) <= tol * np.linalg.norm(one.x)


def test_block_with_zero_column_and_cg_shapes() -> None:
    A = poisson2d(8)
    B = np.ones((64, 3))
    B[:, 1] = 0
    x, info = rankwise.cg(A, B, rtol=1e-10, x0=np.ones((64, 3)))
    assert info == 0
    assert x.shape == (64, 3)
    np.testing.assert_array_equal(x[:, 1], 0)
    x1, _ = rankwise.cg(A, np.ones((64, 1)))
    assert x1.shape == (64,)  # SciPy ravels (n, 1)
    assert rankwise.solve_cg(A, np.ones((64, 1))).x.shape == (64, 1)


# --------------------------------------------------------------------------- #
# x0, callback, preconditioners given as matrices / operators / callables
# --------------------------------------------------------------------------- #


def test_x0_used_and_not_modified() -> None:
    A = poisson2d(12)
    b = np.random.default_rng(13).standard_normal(144)
    x_exact = spla.spsolve(A.tocsc(), b)
    x0 = x_exact.copy()
    res = rankwise.solve_cg(A, b, x0=x0, rtol=1e-6)
    assert res.iterations == 0
    assert res.converged
    np.testing.assert_array_equal(x0, x_exact)
    x0 = np.ones(144)
    x, info = rankwise.cg(A, b, x0=x0, rtol=1e-10)
    assert info == 0
    assert true_rel_residual(A, x, b) <= 1.01e-10
    np.testing.assert_array_equal(x0, np.ones(144))


def test_x0_Mb() -> None:
    A = varcoef2d(10, seed=14)
    b = np.ones(100)
    M = rankwise.precond.jacobi(A)
    res = rankwise.solve_cg(A, b, x0="Mb", M=M, rtol=1e-10)
    assert res.converged
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(b - A @ (M @ b)), rel=1e-10)


def test_callback_sees_each_iterate() -> None:
    A = poisson2d(10)
    b = np.ones(100)
    seen: list[np.ndarray] = []
    res = rankwise.solve_cg(A, b, rtol=1e-8, callback=lambda xk: seen.append(xk.copy()))
    assert len(seen) == res.iterations
    assert seen[-1].shape == (100,)
    np.testing.assert_array_equal(seen[-1], res.x)
    # residuals of the iterates are those in the history (up to rounding drift)
    for k in (0, len(seen) // 2):
        r = np.linalg.norm(b - A @ seen[k])
        assert r == pytest.approx(res.residual_norms[k + 1], rel=1e-6)


def test_callback_exception_propagates() -> None:
    A = poisson2d(10)

    def cb(_: np.ndarray) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        rankwise.cg(A, np.ones(100), callback=cb)


@pytest.mark.parametrize("form", ["sparse", "dense", "operator", "callable", "string", "native"])
def test_preconditioner_forms_agree(form: str) -> None:
    A = varcoef2d(12, seed=15, contrast=100.0)
    d = A.diagonal()
    b = np.random.default_rng(16).standard_normal(144)
    forms: dict[str, Any] = {
        "sparse": sp.diags_array(1 / d, format="csr"),
        "dense": np.diag(1 / d),
        "operator": LinearOperator(A.shape, matvec=lambda x: x.ravel() / d, dtype=np.float64),
        "callable": lambda x: x.ravel() / d,
        "string": "jacobi",
        "native": rankwise.precond.jacobi(A),
    }
    ref = rankwise.solve_cg(A, b, rtol=1e-8, M=forms["native"])
    res = rankwise.solve_cg(A, b, rtol=1e-8, M=forms[form])
    assert res.converged
    assert abs(res.iterations - ref.iterations) <= 1
    assert np.linalg.norm(res.x - ref.x) <= 1e-7 * np.linalg.norm(ref.x)


def test_exact_inverse_preconditioner_one_step() -> None:
    A = poisson2d(8)
    Ainv = np.linalg.inv(A.toarray())
    res = rankwise.solve_cg(A, np.arange(64.0), rtol=1e-8, M=Ainv)
    assert res.converged
    assert res.iterations == 1


def test_psolve_attribute_used_as_M() -> None:
    A = varcoef2d(10, seed=17, contrast=1e3)
    d = A.diagonal()
    op = spla.aslinearoperator(A)
    op.psolve = lambda x: x / d
    x, info = rankwise.cg(op, np.ones(100), rtol=1e-10)
    plain = rankwise.solve_cg(A, np.ones(100), rtol=1e-10)
    jac = rankwise.solve_cg(A, np.ones(100), rtol=1e-10, M="jacobi")
    assert info == 0
    assert jac.iterations < plain.iterations
    assert np.linalg.norm(x - jac.x) <= 1e-8 * np.linalg.norm(jac.x)


def test_zero_rhs_returns_zero() -> None:
    A = poisson2d(6)
    x, info = rankwise.cg(A, np.zeros(36), x0=np.ones(36))
    assert info == 0
    np.testing.assert_array_equal(x, 0)


def test_complex_goes_to_scipy() -> None:
    rng = np.random.default_rng(18)
    G = rng.standard_normal((9, 9)) + 1j * rng.standard_normal((9, 9))
    A = G @ G.conj().T + 9 * np.eye(9)
    b = np.arange(9.0) + 0j
    x, info = rankwise.cg(A, b, rtol=1e-10)
    x_sp, info_sp = spla.cg(A, b, rtol=1e-10)
    assert info == info_sp == 0
    np.testing.assert_array_equal(x, x_sp)


# --------------------------------------------------------------------------- #
# Jacobi
# --------------------------------------------------------------------------- #


def test_jacobi_is_spd_and_helps_badly_scaled() -> None:
    A = varcoef2d(16, seed=19, contrast=1e4)
    M = rankwise.precond.jacobi(A)
    Md = M @ np.eye(256)
    np.testing.assert_allclose(Md, Md.T, rtol=0, atol=0)
    assert np.linalg.eigvalsh(Md).min() > 0
    np.testing.assert_allclose(np.diag(Md), 1 / A.diagonal(), rtol=1e-15)
    b = np.ones(256)
    plain = rankwise.solve_cg(A, b, rtol=1e-8)
    jac = rankwise.solve_cg(A, b, rtol=1e-8, M=M)
    assert jac.converged
    assert jac.iterations < 0.5 * plain.iterations


def test_jacobi_float32_and_in_scipy() -> None:
    A = varcoef2d(8, seed=20).astype(np.float32)
    M = rankwise.precond.jacobi(A)
    assert M.dtype == np.float32
    assert M.kind == "jacobi"
    _x, info = spla.cg(A, np.ones(64, np.float32), M=M, rtol=1e-4)
    assert info == 0


def test_jacobi_rejects_nonpositive_diagonal() -> None:
    A = poisson2d(4).toarray()
    A[3, 3] = 0.0
    with pytest.raises(ValueError, match=r"A\[3, 3\]"):
        rankwise.precond.jacobi(A)
    A[3, 3] = -1.0
    with pytest.raises(ValueError, match="positive"):
        rankwise.solve_cg(A, np.ones(16), M="jacobi")
    with pytest.raises(TypeError, match="diagonal"):
        rankwise.precond.jacobi(spla.aslinearoperator(np.eye(3)))


@pytest.mark.parametrize("factory", ["jacobi", "ic0"])
def test_preconditioner_of_the_other_precision_applies_as_in_scipy(factory: str) -> None:
    # M built from a float32 A, a float64 b: the solve is float64 (SciPy's coercion) and M is
    # applied in its own precision, as SciPy's cg applies it (this raised before)
    A32 = poisson2d(20).astype(np.float32)
    b = np.random.default_rng(0).standard_normal(400)
    M = getattr(rankwise.precond, factory)(A32)
    counts = {}
    for name, solve in (("rankwise", rankwise.cg), ("scipy", spla.cg)):
        calls = []
        x, info = solve(A32, b, M=M, rtol=1e-8, callback=calls.append)
        assert info == 0
        assert x.dtype == np.float64
        assert np.linalg.norm(b - A32.astype(np.float64) @ x) <= 1.01e-8 * np.linalg.norm(b)
        counts[name] = len(calls)
    assert abs(counts["rankwise"] - counts["scipy"]) <= 1


# --------------------------------------------------------------------------- #
# breakdown and bad input
# --------------------------------------------------------------------------- #


def test_not_spd_matrix() -> None:
    A = -poisson2d(6)
    with pytest.raises(CGBreakdownError, match="A is not positive definite") as exc:
        rankwise.cg(A, np.ones(36))
    assert exc.value.result.reason == "A_not_spd"
    assert np.isfinite(exc.value.result.x).all()
    indefinite = sp.diags_array(np.r_[np.ones(10), -np.ones(10)]).tocsr()
    res = rankwise.solve_cg(indefinite, np.ones(20))
    assert res.reason == "A_not_spd"
    assert not res.converged
    assert res.info == -1


def test_not_spd_preconditioner() -> None:
    A = poisson2d(6)
    with pytest.raises(CGBreakdownError, match="preconditioner M is not positive definite"):
        rankwise.cg(A, np.ones(36), M=-np.eye(36))
    res = rankwise.solve_cg(A, np.ones(36), M=sp.diags_array(np.r_[np.zeros(18), np.ones(18)]))
    # M singular with r in its null space at some step -> r.Mr = 0
    assert res.reason == "M_not_spd"
    assert res.info < 0
    assert not res.converged
    assert np.isfinite(res.x).all()


def test_nonfinite_inputs() -> None:
    A = poisson2d(4)
    Ad = A.toarray()
    Ad[1, 2] = np.nan
    with pytest.raises(ValueError, match="A contains NaN or Inf"):
        rankwise.cg(Ad, np.ones(16))
    As = A.copy()
    As.data[0] = np.inf
    with pytest.raises(ValueError, match="A contains NaN or Inf"):
        rankwise.cg(As, np.ones(16))
    b = np.ones(16)
    b[3] = np.nan
    with pytest.raises(ValueError, match="b contains NaN or Inf"):
        rankwise.cg(A, b)
    with pytest.raises(ValueError, match="x0 contains NaN or Inf"):
        rankwise.cg(A, np.ones(16), x0=np.full(16, np.inf))
    bad_op = LinearOperator((16, 16), matvec=lambda x: np.full(16, np.nan), dtype=np.float64)
    with pytest.raises(ValueError, match="NaN or Inf"):
        rankwise.cg(bad_op, np.ones(16))


def test_overflow_is_reported() -> None:
    A = sp.diags_array(np.full(10, 1e300)).tocsr()
    res = rankwise.solve_cg(A, np.full(10, 1e300), rtol=1e-30)
    # b is scaled by a power of two (_rhs_scale): r.r does not overflow, x = 1 exactly
    assert res.reason == "converged"
    np.testing.assert_allclose(res.x, 1.0, rtol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"A": np.ones((3, 4)), "b": np.ones(3)}, ValueError, "square"),
        ({"b": np.ones(5)}, ValueError, "incompatible"),
        ({"b": np.ones((16, 2, 1))}, ValueError, "incompatible"),
        ({"x0": np.ones(5)}, ValueError, "x0"),
        ({"x0": "M"}, ValueError, "x0"),
        ({"atol": -1.0}, ValueError, "atol"),
        ({"atol": None}, ValueError, "atol"),
        ({"atol": "legacy"}, ValueError, "atol"),
        ({"rtol": -1.0}, ValueError, "rtol"),
        ({"maxiter": -1}, ValueError, "maxiter"),
        ({"maxiter": 2.5}, ValueError, "maxiter"),
        ({"M": np.eye(5)}, ValueError, "different shapes"),
        ({"M": "ilu"}, ValueError, "jacobi"),
        ({"b": np.array(["a"] * 16)}, TypeError, "b must be"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"A": poisson2d(4), "b": np.ones(16)}
    args.update(kwargs)
    A, b = args.pop("A"), args.pop("b")
    with pytest.raises(exc, match=match):
        rankwise.cg(A, b, **args)


def test_positional_rtol_rejected() -> None:
    with pytest.raises(TypeError):
        rankwise.cg(poisson2d(4), np.ones(16), None, 1e-5)  # type: ignore[misc]


def test_cupy_matrix_with_host_vector_refused() -> None:
    class FakeCupy:
        __module__ = "cupy._core"
        shape = (4, 4)

    with pytest.raises(TypeError, match="both be CuPy"):
        rankwise.cg(FakeCupy(), np.ones(4))


def test_ctrl_c_interrupts_long_solve() -> None:
    A = poisson2d(300)  # n = 90 000: about a millisecond per iteration
    b = np.ones(A.shape[0])
    with interrupt_inside_core(0.3) as record, pytest.raises(KeyboardInterrupt):
        # rtol = atol = 0: never converges; without Ctrl-C this runs all 20 000 iterations
        rankwise.cg(A, b, rtol=0.0, atol=0.0, maxiter=20_000)
    assert record.inside_core  # the native loop checks (every 0.1 s), not only its end
    x, info = rankwise.cg(poisson2d(8), np.ones(64), rtol=1e-10)  # the module still works
    assert info == 0
    assert true_rel_residual(poisson2d(8), x, np.ones(64)) <= 1.01e-10


def test_result_independent_of_thread_count() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    A = poisson2d(120)  # large enough for the parallel kernels
    B = np.random.default_rng(21).standard_normal((A.shape[0], 2))
    ref = rankwise.solve_cg(A, B, rtol=1e-8, M="jacobi")
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        one = rankwise.solve_cg(A, B, rtol=1e-8, M="jacobi")
    np.testing.assert_array_equal(one.x, ref.x)
    np.testing.assert_array_equal(one.residual_norms, ref.residual_norms)


def test_non_convergence_on_a_non_symmetric_matrix_names_the_cause() -> None:
    """CG assumes A = A^T; when it runs out of iterations on an explicitly non-symmetric A
    the warning says so (dense and sparse), and nothing is said for a symmetric A that just
    needs more iterations or one symmetric up to rounding."""
    rng = np.random.default_rng(5)
    n = 60
    F = rng.standard_normal((n, n))
    S = F @ F.T + 1e-3 * np.eye(n)
    G = S + (F - F.T)  # p^T G p = p^T S p > 0: no breakdown, but no convergence either
    b = rng.standard_normal(n)
    for A in (G, sp.csr_array(G), G.tolist()):  # (a nested list is a dense A to cg)
        with pytest.warns(RuntimeWarning, match="not symmetric"):
            _, info = rankwise.cg(A, b, maxiter=30)
        assert info == 30
        with pytest.warns(RuntimeWarning, match="not symmetric"):
            res = rankwise.solve_cg(A, b, maxiter=30)
        assert not res.converged
    # a CGSolver says it once per matrix
    solver = rankwise.CGSolver(G, maxiter=30)
    with pytest.warns(RuntimeWarning, match="not symmetric"):
        assert not solver.solve(b).converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solver.solve(b)
    S_rounded = S + 1e-15 * np.abs(S).max() * rng.standard_normal((n, n))
    for A in (S, sp.csr_array(S), S_rounded):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _, info = rankwise.cg(A, b, maxiter=2)
        assert info == 2
