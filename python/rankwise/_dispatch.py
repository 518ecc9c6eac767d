"""Which backend runs a call: chosen from the type of the input array."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core


def _module_of(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def require_cpu_input(A: Any, name: str = "A") -> None:
    """Raise a clear error for array types that this function does not take.

    CuPy arrays are taken by rankwise.svd, randomized_svd, svds, cg, solve_cg, deim, qdeim,
    odeim, cur, SVDUpdater and update_svd (the CUDA backend, python/rankwise/_gpu.py), dask
    arrays by rankwise.svd,
    randomized_svd and cur (python/rankwise/_dask.py).  Elsewhere both are refused with an
    explanation: silently copying device or distributed data to host memory would hide a
    large cost.

    CSR/CSC matrices built from raw arrays (SciPy checks only their lengths) are checked for
    a broken structure (:func:`check_compressed`) before SciPy or the core read them.
    """
    check_compressed(A, name)
    refuse_device_or_dask(A, name)


def refuse_device_or_dask(A: Any, name: str = "A") -> None:
    """The CuPy and dask refusals of :func:`require_cpu_input` without its structure check,
    for callers that hand A to :func:`rankwise._validate.as_matrix` (which checks it) before
    anything reads its indices."""
    root = _module_of(A)
    if root in ("cupy", "cupyx"):
        raise TypeError(
            f"{name} is a CuPy array; rankwise.svd, randomized_svd, svds, cg, solve_cg, deim, "
            f"qdeim, odeim, cur, SVDUpdater and update_svd run on the GPU, this function does "
            f"not yet: pass {name}.get() to compute on the CPU"
        )
    if root == "dask":
        raise TypeError(
            f"{name} is a dask array; rankwise.svd, randomized_svd and cur take dask arrays, "
            "this function does not yet: "
            f"pass {name}.compute() to compute in memory"
        )


def check_compressed(A: Any, name: str = "A") -> None:
    """ValueError naming the problem when a CSR/CSC matrix has indptr not starting at 0 or
    decreasing, indptr[-1] past the stored entries, or an index out of range.  SciPy does
    not check these when the matrix is built from (data, indices, indptr), and its own
    routines (toarray, slicing) then read and write out of bounds (found by fuzzing: a
    CSC with a row index of -1 corrupted the heap in rankwise.eim).  Unsorted and
    duplicate indices are valid and pass."""
    fmt = getattr(A, "format", None)
    if fmt not in ("csr", "csc") or len(getattr(A, "shape", ())) != 2:
        return
    major, minor = A.shape if fmt == "csr" else A.shape[::-1]
    what = "column" if fmt == "csr" else "row"
    indptr, indices = np.asarray(A.indptr), np.asarray(A.indices)
    if indptr.ndim != 1 or indptr.size != major + 1:
        raise ValueError(
            f"{name} is a broken {fmt} matrix: indptr has {indptr.size} entries, expected "
            f"{major + 1}"
        )
    stored = min(indices.size, np.asarray(A.data).size)
    problem = _structure_problem(indptr, indices, minor, stored)
    if problem == 1:
        raise ValueError(
            f"{name} is a broken {fmt} matrix: indptr must start at 0 and be non-decreasing"
        )
    if problem == 2:
        raise ValueError(
            f"{name} is a broken {fmt} matrix: indptr[-1] = {int(indptr[-1])} exceeds the "
            f"{stored} stored entries"
        )
    if problem == 3:
        raise ValueError(
            f"{name} is a broken {fmt} matrix: a {what} index is out of range [0, {minor})"
        )


def native_index_arrays(indptr: np.ndarray, indices: np.ndarray) -> bool:
    """Whether the core's CSR scans (csr_structure_problem, csr_has_duplicates) read these
    index arrays as they are: 1-D, contiguous, one dtype, int32 or int64."""
    return (
        indices.ndim == 1
        and indptr.dtype == indices.dtype
        and indptr.dtype in (np.int32, np.int64)
        and indptr.flags.c_contiguous
        and indices.flags.c_contiguous
    )


def _structure_problem(indptr: np.ndarray, indices: np.ndarray, minor: int, stored: int) -> int:
    """_core.csr_structure_problem's code (0 sound, 1 indptr, 2 overrun, 3 index): one
    vectorized native pass where the index arrays allow it, else numpy's."""
    if native_index_arrays(indptr, indices):
        return int(_core.csr_structure_problem(indptr, indices, minor, stored))
    if indptr[0] != 0 or (indptr[1:] < indptr[:-1]).any():
        return 1
    nnz = int(indptr[-1])
    if nnz > stored:
        return 2
    if nnz and not (indices[:nnz].min() >= 0 and indices[:nnz].max() < minor):
        return 3
    return 0
