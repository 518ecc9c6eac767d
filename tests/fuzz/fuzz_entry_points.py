#!/usr/bin/env python3
"""Coverage-guided fuzzing of the public entry points (atheris / libFuzzer).

Where ``tests/test_fuzz.py`` (hypothesis) draws inputs from a fixed menu, this harness builds
them from raw bytes, with libFuzzer keeping the byte strings that reach new lines of the
Python package (``atheris.instrument_imports`` over ``rankwise``): arbitrary float bit
patterns (subnormals, -0.0, the largest finite values, NaN), every numeric dtype including
byte-swapped, float128 and 1-byte integers, strides of any step and sign, zero strides
(``np.broadcast_to``), unaligned buffers, read-only views, 1-D and 3-D arrays, and sparse
matrices built from raw CSR/CSC arrays whose structure may be broken (indices out of range,
indptr decreasing or past the stored entries, trailing unused entries, explicit zeros).

Every input goes through the *same oracles* as the hypothesis tests (their undecorated
bodies, ``test_fuzz.test_*.hypothesis.inner_test``): a correct result against float64
LAPACK, or ``ValueError``/``TypeError``/``MemoryError`` with a message; the input unchanged.
Any other outcome raises, and libFuzzer stops and writes the crashing input.

Run (``pip install atheris``; listed in the ``fuzz`` extra of pyproject.toml)::

    python tests/fuzz/fuzz_entry_points.py -runs=20000 -seed=1 [corpus_dir]
    python tests/fuzz/fuzz_entry_points.py -max_total_time=600 corpus/   # a long session
    python tests/fuzz/fuzz_entry_points.py crash-<sha1>                   # replay one input

``FUZZ_TARGET=<name>`` restricts the run to one entry point (names: ``TARGETS``).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import atheris

with atheris.instrument_imports(include=["rankwise"]):
    import rankwise  # noqa: F401  (instrumented before the oracles import it)

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import test_fuzz as oracles
from test_fuzz import Case

oracles.event = lambda *args, **kwargs: None  # hypothesis statistics: only inside @given

MAX_DIM = 12
SCALES = (0, 0, 0, -300, 300, -310, 307, -20, 20, -40)  # 1e-310: subnormal; 1e307: near overflow
DTYPES = (
    np.float64,
    np.float32,
    np.float16,
    np.int64,
    np.int32,
    np.int8,
    np.uint8,
    np.uint64,
    np.bool_,
    ">f8",
    ">f4",
    np.longdouble,
    np.complex64,
    np.complex128,
    np.object_,
    np.str_,
)
LAYOUTS = ("C", "F", "strided", "broadcast", "readonly", "unaligned", "1d", "3d")


def _values(fdp: atheris.FuzzedDataProvider, m: int, n: int) -> np.ndarray:
    """m x n float64: raw bit patterns, or structured content at a drawn scale."""
    mode = fdp.ConsumeIntInRange(0, 4)
    rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 2**16))
    if mode == 0:  # raw doubles: NaN, Inf, subnormals, -0.0, 1.7e308 ...
        V = np.array([fdp.ConsumeFloat() for _ in range(m * n)], dtype=np.float64)
        return V.reshape(m, n)
    if mode == 1:
        V = rng.standard_normal((m, n))
    elif mode == 2:
        r = fdp.ConsumeIntInRange(0, max(min(m, n), 0))
        V = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    elif mode == 3:
        V = rng.integers(-3, 4, size=(m, n)).astype(np.float64)
    else:
        V = np.zeros((m, n))
        for _ in range(fdp.ConsumeIntInRange(0, 3)):
            if V.size:
                V.flat[fdp.ConsumeIntInRange(0, V.size - 1)] = fdp.ConsumeRegularFloat()
    with np.errstate(over="ignore", under="ignore"):
        V = V * 10.0 ** fdp.PickValueInList(list(SCALES))
    if fdp.ConsumeIntInRange(0, 5) == 0 and V.size:
        V.flat[fdp.ConsumeIntInRange(0, V.size - 1)] = fdp.PickValueInList(
            [np.nan, np.inf, -np.inf]
        )
    return V


def _layout(A: np.ndarray, layout: str, fdp: atheris.FuzzedDataProvider) -> np.ndarray:
    if layout == "F":
        return np.asfortranarray(A)
    if layout == "strided" and A.size:
        si, sj = (fdp.PickValueInList([1, 2, 3, -1, -2]) for _ in range(2))
        big = np.zeros((abs(si) * A.shape[0], abs(sj) * A.shape[1]), dtype=A.dtype)
        view = big[:: abs(si), :: abs(sj)]
        view[...] = A[:: np.sign(si), :: np.sign(sj)]
        return view[:: np.sign(si), :: np.sign(sj)]
    if layout == "broadcast" and A.size:  # zero stride along one axis, read-only
        if fdp.ConsumeBool():
            return np.broadcast_to(A[:1, :], A.shape)
        return np.broadcast_to(A[:, :1], A.shape)
    if layout == "readonly":
        A = A.copy()
        A.flags.writeable = False
        return A
    if layout == "unaligned" and A.dtype.itemsize > 1 and A.dtype.kind != "O":
        buf = np.zeros(A.nbytes + 1, dtype=np.uint8)
        U = np.ndarray(A.shape, dtype=A.dtype, buffer=buf, offset=1, order="F")
        U[...] = A
        return U
    return A


def _dense(fdp: atheris.FuzzedDataProvider, m: int, n: int) -> Case:
    V = _values(fdp, m, n)
    dtype = np.dtype(fdp.PickValueInList(list(DTYPES)))
    layout = fdp.PickValueInList(list(LAYOUTS))
    with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        A = V.astype(str) if dtype.kind == "U" else V.astype(dtype)
    A = _layout(A, layout, fdp)
    real = dtype.kind in "biuf" and dtype != np.longdouble
    work = np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize == 4 else np.dtype("f8")
    case = oracles.dense_case(A, V.shape, real, work)
    if layout in ("1d", "3d") and not real:
        layout = "C"  # (complex input is svds's to pass to SciPy: its errors are SciPy's)
    if layout == "1d":  # wrong number of dimensions: never valid
        return Case(A.ravel(), case.A64, False, work)
    if layout == "3d":
        return Case(A[None], case.A64, False, work)
    return case


def _csr_dense(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: Any) -> Any:
    """The matrix a well-formed compressed structure means (duplicates summed), or None."""
    rows, cols = shape
    if len(indptr) != rows + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        return None
    nnz = int(indptr[-1])
    if nnz > min(len(data), len(indices)):
        return None
    if nnz and (indices[:nnz].min() < 0 or indices[:nnz].max() >= cols):
        return None
    M = np.zeros(shape)
    for i in range(rows):
        for p in range(indptr[i], indptr[i + 1]):
            M[i, indices[p]] += data[p]
    return M


def _sparse(fdp: atheris.FuzzedDataProvider, m: int, n: int) -> Case | None:
    dtype = np.dtype(fdp.PickValueInList([np.float64, np.float32, np.int32, np.int64]))
    with np.errstate(over="ignore", invalid="ignore"):
        V = _values(fdp, m, n).astype(dtype)
    fmt = fdp.PickValueInList(["csr", "csc", "coo", "csr_matrix"])
    if fmt == "coo":
        A = sp.coo_array(V)
        A64 = V.astype(np.float64)
    else:
        M = V if fmt != "csc" else V.T
        data, indices, indptr = [], [], [0]
        for row in M:
            for j in np.flatnonzero(row)[:: fdp.PickValueInList([1, -1])]:
                if fdp.ConsumeIntInRange(0, 3) == 0 and np.isfinite(row[j]):  # duplicate
                    data += [row[j] / 2, row[j] - row[j] / 2]
                    indices += [j, j]
                else:
                    data.append(row[j])
                    indices.append(j)
            indptr.append(len(indices))
        idx = np.dtype(fdp.PickValueInList([np.int32, np.int64]))
        ptr = idx if fdp.ConsumeIntInRange(0, 7) else np.dtype(np.int64)
        data, indices = np.array(data, dtype), np.array(indices, idx)
        indptr = np.array(indptr, ptr)
        broken = fdp.ConsumeIntInRange(0, 9)
        if broken == 1 and indices.size:  # column index out of range or negative
            indices[fdp.ConsumeIntInRange(0, indices.size - 1)] = fdp.PickValueInList(
                [M.shape[1], -1, 2**31 - 1 if idx == np.int32 else 2**40]
            )
        elif broken == 2 and indptr.size > 2:  # indptr decreasing somewhere
            i = fdp.ConsumeIntInRange(1, indptr.size - 2)
            indptr[i] = indptr[-1] + 1
        elif broken == 3:  # indptr[-1] past the stored entries
            indptr[-1] += fdp.ConsumeIntInRange(1, 3)
        elif broken == 4:  # trailing unused entries and an explicit zero (well formed)
            data = np.append(data, np.array([0.0, 7.0], dtype))
            indices = np.append(indices, np.array([0, 0], idx))
        ctor = {"csr": sp.csr_array, "csc": sp.csc_array, "csr_matrix": sp.csr_matrix}[fmt]
        try:
            A = ctor((data, indices, indptr), shape=V.shape)
        except (ValueError, TypeError, IndexError):
            return None  # SciPy refused to build it: nothing for rankwise to see
        D = _csr_dense(data.astype(np.float64), indices, indptr, M.shape)
        if D is None:
            return Case(A, np.full(V.shape, np.nan), False, np.dtype("f8"))
        A64 = D if fmt != "csc" else D.T
    valid = bool(np.all(np.isfinite(A64)))
    work = np.dtype(np.float32) if dtype.itemsize == 4 and dtype.kind == "f" else np.dtype("f8")
    return Case(A, A64, valid, work)


def matrix(fdp: atheris.FuzzedDataProvider, max_dim: int = MAX_DIM, sparse: bool = True) -> Any:
    m, n = fdp.ConsumeIntInRange(0, max_dim), fdp.ConsumeIntInRange(0, max_dim)
    kind = fdp.ConsumeIntInRange(0, 9)
    if sparse and kind >= 7:
        return _sparse(fdp, m, n)
    if sparse and kind == 6 and m and n:
        V = _values(fdp, m, n)
        A64 = V.astype(np.float64)
        top = float(np.abs(A64).max()) if np.isfinite(A64).all() else 1.0
        if top > 1e150 or 0 < top < 1e-150:
            # an operator cannot be rescaled: its products may overflow, or lose their
            # digits in the subnormal range; a clear error or a rougher result is all
            # one can ask
            return None
        return Case(aslinearoperator(V), A64, bool(np.isfinite(A64).all()), np.dtype("f8"))
    return _dense(fdp, m, n)


def rank(fdp: atheris.FuzzedDataProvider) -> Any:
    choice = fdp.ConsumeIntInRange(0, 7)
    if choice <= 4:
        return fdp.ConsumeIntInRange(-2, MAX_DIM + 2)
    return fdp.PickValueInList([2**40, 2**63 - 1, -(2**63), 1.5, 0.5, "3", None, np.int64(2)])


def system(fdp: atheris.FuzzedDataProvider) -> tuple[Any, Any, bool] | None:
    n = fdp.ConsumeIntInRange(0, 10)
    rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 2**16))
    G = rng.standard_normal((n, n))
    kind = fdp.PickValueInList(["spd", "spd", "indefinite", "nonsymmetric", "singular", "diag"])
    A = {
        "spd": G @ G.T + n * np.eye(n),
        "indefinite": G + G.T,
        "nonsymmetric": G,
        "singular": np.zeros((n, n)),
        "diag": np.diag(np.abs(rng.standard_normal(n)) + 1.0),
    }[kind]
    with np.errstate(over="ignore", under="ignore"):
        A = A * 10.0 ** fdp.PickValueInList([0, 0, -300, 300, -310, 20])
    spd = kind in ("spd", "diag") and bool(np.isfinite(A).all()) and bool(np.any(A))
    dtype = np.dtype(fdp.PickValueInList([np.float64, np.float32]))
    b = rng.standard_normal(fdp.PickValueInList([(n,), (n, 1), (n, 2), (n + 1,), (n, 0)]))
    if fdp.ConsumeBool() and b.size:
        b.flat[0] = fdp.ConsumeFloat()
    with np.errstate(over="ignore", under="ignore"):
        A, b = A.astype(dtype), b.astype(dtype)
    spd = spd and bool(np.isfinite(A).all()) and bool(np.any(np.diag(A) > 0))
    if spd:  # float32 rounding or tiny scalings can spoil definiteness: recheck in float64
        spd = bool(np.linalg.eigvalsh(A.astype(np.float64)).min() > 0) if n else True
    if spd and n:  # A^-1 (and a preconditioner's M ~ A^-1) must be representable
        spd = float(np.diag(A).astype(np.float64).min()) > 1e10 / float(np.finfo(dtype).max)
    if spd and n and b.size and b.shape[0] == n and np.isfinite(b).all():
        # A system whose solution is not representable (A ~ 1e-310, b ~ 1) may be refused.
        x = np.linalg.solve(A.astype(np.float64), b.astype(np.float64))
        spd = bool(np.abs(x).max() < float(np.finfo(dtype).max) * 1e-8)
    fmt = fdp.PickValueInList(["dense", "dense", "csr", "csc", "F", "strided"])
    if fmt in ("csr", "csc"):
        A = sp.csr_array(A) if fmt == "csr" else sp.csc_array(A)
    elif fmt == "F":
        A = np.asfortranarray(A)
    elif fmt == "strided" and n:
        big = np.zeros((n, 2 * n), dtype)
        big[:, ::2] = A
        A = big[:, ::2]
    return A, b, spd


# --- targets: (bytes -> arguments) then the hypothesis test's body as the oracle ---------


def _svd(fdp: atheris.FuzzedDataProvider) -> None:
    case = matrix(fdp)
    if case is not None:
        method = fdp.PickValueInList(["subspace", "block_krylov"])
        oracles.test_svd.hypothesis.inner_test(case=case, k=rank(fdp), method=method)


def _svd_block_krylov(fdp: atheris.FuzzedDataProvider) -> None:
    case = matrix(fdp)
    if case is not None:
        oracles.test_svd_block_krylov_passes_and_blocks.hypothesis.inner_test(
            case=case,
            k=fdp.ConsumeIntInRange(1, 6),
            passes=fdp.ConsumeIntInRange(2, 9),
            block=fdp.ConsumeIntInRange(1, 5),
        )


def _randomized_svd(fdp: atheris.FuzzedDataProvider) -> None:
    case = matrix(fdp)
    if case is not None:
        oracles.test_randomized_svd_dropin.hypothesis.inner_test(case=case, k=rank(fdp))


def _svds(fdp: atheris.FuzzedDataProvider) -> None:
    case = matrix(fdp)
    if case is not None:
        oracles.test_svds_dropin.hypothesis.inner_test(case=case, k=rank(fdp))


def _cur(fdp: atheris.FuzzedDataProvider) -> None:
    case = matrix(fdp)
    if case is not None:
        method = fdp.PickValueInList(["deim", "qdeim", "maxvol", "leverage"])
        oracles.test_cur.hypothesis.inner_test(case=case, k=rank(fdp), method=method)


def _interp_decomp(fdp: atheris.FuzzedDataProvider) -> None:
    case = matrix(fdp, sparse=False)
    k = rank(fdp) if fdp.ConsumeBool() else fdp.ConsumeFloat()
    oracles.test_interp_decomp.hypothesis.inner_test(case=case, k=k, rand=fdp.ConsumeBool())


def _point_selection(fdp: atheris.FuzzedDataProvider) -> None:
    if fdp.ConsumeBool():  # mostly tall bases, as DEIM sees them
        n = fdp.ConsumeIntInRange(1, 30)
        m = fdp.ConsumeIntInRange(1, min(n, 8))
        rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 2**16))
        U = rng.standard_normal((n, m))
        if fdp.ConsumeBool():
            U = np.linalg.qr(U)[0]
        if fdp.ConsumeBool() and m > 1:  # a dependent column
            U[:, -1] = U[:, 0] * fdp.PickValueInList([1.0, 1e-300, -2.0])
        with np.errstate(over="ignore", under="ignore"):
            U = U * 10.0 ** fdp.PickValueInList([0, -150, 150, -310, 300])
            dtype = np.dtype(fdp.PickValueInList([np.float64, np.float32]))
            A = _layout(U.astype(dtype), fdp.PickValueInList(list(LAYOUTS[:6])), fdp)
            A64 = np.asarray(A, dtype=np.float64)
        case = Case(A, A64, bool(np.isfinite(A64).all()), dtype)
    else:
        case = matrix(fdp, sparse=False)
    method = fdp.PickValueInList(["deim", "qdeim", "odeim"])
    extra = fdp.ConsumeIntInRange(-1, 3)
    oracles.test_point_selection.hypothesis.inner_test(case=case, method=method, extra=extra)


def _eim(fdp: atheris.FuzzedDataProvider) -> None:
    case = matrix(fdp)
    if case is not None:
        oracles.test_eim_greedy.hypothesis.inner_test(
            case=case,
            max_terms=fdp.ConsumeIntInRange(1, 6),
            norm=fdp.PickValueInList(["linf", "l2"]),
        )


def _cg(fdp: atheris.FuzzedDataProvider) -> None:
    rtol = fdp.PickValueInList([1e-5, 1e-3, 0.0, -1.0, np.nan, 1e-12])
    oracles.test_cg.hypothesis.inner_test(system=system(fdp), rtol=rtol)


def _precond(fdp: atheris.FuzzedDataProvider) -> None:
    which = fdp.PickValueInList(["jacobi", "ssor", "ic0", "block_jacobi", "chebyshev"])
    oracles.test_preconditioners.hypothesis.inner_test(system=system(fdp), which=which)


def _svd_updater(fdp: atheris.FuzzedDataProvider) -> None:
    rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 2**16))
    A = rng.standard_normal((fdp.ConsumeIntInRange(3, 12), fdp.ConsumeIntInRange(3, 12)))
    E = matrix(fdp, max_dim=6)
    if E is None:
        return
    method = fdp.PickValueInList(["zha-simon", "vecharynski-saad", "sparse"])
    oracles.test_svd_updater_add_rows.hypothesis.inner_test(
        update=(A, E, method), k=fdp.ConsumeIntInRange(1, 3)
    )


TARGETS = {
    "svd": _svd,
    "svd_block_krylov": _svd_block_krylov,
    "randomized_svd": _randomized_svd,
    "svds": _svds,
    "cur": _cur,
    "interp_decomp": _interp_decomp,
    "point_selection": _point_selection,
    "eim": _eim,
    "cg": _cg,
    "precond": _precond,
    "svd_updater": _svd_updater,
}
_ONLY = os.environ.get("FUZZ_TARGET")
_ORDER = [TARGETS[_ONLY]] if _ONLY else list(TARGETS.values())


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target = _ORDER[fdp.ConsumeIntInRange(0, len(_ORDER) - 1)]
    with np.errstate(all="ignore"):
        target(fdp)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
