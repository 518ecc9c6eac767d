"""rankwise.svds on CuPy input (dense, cupyx.scipy.sparse CSR/CSC or a cupyx LinearOperator):
the rankwise solver (restarted block Krylov, algo/subspace_iteration.hpp) on the CUDA
backend, with the CPU's argument checks, defaults, start block (same seed or v0: the same
sketch) and SciPy's return convention; CuPy out.  solver="arpack" / "lobpcg" / "propack",
which="SM" and complex input are not on the GPU (NotImplementedError)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _gpu, _scale
from ._random import philox_key
from ._scipy_compat import (
    _SOLVERS,
    _rng_to_random_state,
    check_svds_options,
    start_vector,
    svds_result,
)


def _not_yet(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"rankwise.svds on the GPU: {what} is not available on the GPU yet (the GPU runs "
        "solver='rankwise' with which='LM' on real input); pass A.get() to compute on the CPU"
    )


def svds_gpu(
    A: Any,
    k: Any,
    ncv: Any,
    tol: Any,
    which: Any,
    v0: Any,
    maxiter: Any,
    return_singular_vectors: Any,
    solver: Any,
    rng: Any,
    random_state: Any,
) -> Any:
    """The body of rankwise.svds for CuPy A (see there)."""
    cuda = _gpu.cuda_module()
    cp = _gpu._cupy()
    solver_name = str(solver).lower()
    if solver_name not in _SOLVERS:
        raise ValueError(f"solver must be one of {set(_SOLVERS)}.")
    if solver_name != "rankwise":
        raise _not_yet(f"solver={solver!r}")
    which_name = str(which).upper()
    if which_name == "SM":
        raise _not_yet("which='SM'")
    if which_name != "LM":
        raise ValueError("`which` must be in {'LM', 'SM'}.")
    if np.dtype(A.dtype).kind == "c":
        raise _not_yet("complex input")
    if len(A.shape) != 2 or 0 in A.shape:
        raise ValueError("`A` must not be empty.")
    key = philox_key(*_rng_to_random_state(rng, random_state))
    transposed = A.shape[0] < A.shape[1]
    mat = _gpu.as_device_operator(A.T if transposed else A)  # the tall side, as on the CPU
    mat, e = _gpu.within_range(mat)  # as checked_core on the CPU
    k, l, depth, maxiter = check_svds_options(
        k, ncv, tol, maxiter, return_singular_vectors, mat.min_dim
    )
    start = None
    if v0 is not None:
        v = v0.get() if _gpu.is_device_array(v0) else np.asarray(v0)
        v, key = start_vector(v, mat.min_dim, mat.dtype)  # as on the CPU
        start = cp.asarray(v)
    out = cuda.subspace_iteration(
        mat.operand,
        k,
        l,
        depth,
        float(tol),
        maxiter,
        int(start.data.ptr) if start is not None else 0,
        *key,
        _gpu.current_stream(),
    )
    U_buf, s, V_buf, info, (u_shape, vt_shape) = out
    U = _gpu.wrap(U_buf, u_shape, mat.dtype, "F")
    Vt = _gpu.wrap(V_buf, vt_shape, mat.dtype, "C")
    s = cp.asarray(_scale.unscale_values(s, e))
    return svds_result(U, s, Vt, info, tol, maxiter, transposed, return_singular_vectors)
