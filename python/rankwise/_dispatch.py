"""Which backend runs a call: chosen from the type of the input array."""

from __future__ import annotations

from typing import Any


def _module_of(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def require_cpu_input(A: Any, name: str = "A") -> None:
    """Raise a clear error for array types that this function does not take.

    CuPy arrays are taken by rankwise.svd, randomized_svd, cg and solve_cg (the CUDA
    backend, python/rankwise/_gpu.py), dask arrays by rankwise.svd, randomized_svd and cur
    (python/rankwise/_dask.py).  Elsewhere both are refused with an explanation: silently
    copying device or distributed data to host memory would hide a large cost.
    """
    root = _module_of(A)
    if root in ("cupy", "cupyx"):
        raise TypeError(
            f"{name} is a CuPy array; rankwise.svd, randomized_svd, cg and solve_cg run on the "
            f"GPU, this function does not yet: pass {name}.get() to compute on the CPU"
        )
    if root == "dask":
        raise TypeError(
            f"{name} is a dask array; rankwise.svd, randomized_svd and cur take dask arrays, "
            "this function does not yet: "
            f"pass {name}.compute() to compute in memory"
        )
