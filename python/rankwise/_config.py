"""rankwise.show_config: what the core runs on (BLAS, threads, backends)."""

from __future__ import annotations

from typing import Any

from . import _core, _openmp


def _cuda_backend() -> list[str]:
    """["cuda (N devices)"] where rankwise._cuda was built, else []."""
    try:
        from . import _cuda  # type: ignore[attr-defined]
    except ImportError:
        return []
    return [f"cuda ({_cuda.device_count()} devices visible)"]


def config() -> dict[str, Any]:
    """The build and run-time configuration as a dict (see :func:`show_config`).

    Examples
    --------
    >>> import rankwise
    >>> info = rankwise.config()
    >>> "cpu" in info["backends"]
    True
    >>> info["openmp_max_threads"] >= 1
    True
    """
    info: dict[str, Any] = {
        "backends": ["cpu", *_cuda_backend()],
        "blas": "resolved from scipy.linalg.cython_blas / cython_lapack",
        "openmp_max_threads": _core.openmp_max_threads(),
        # How long a waiting OpenMP thread spins before it sleeps (rankwise/_openmp.py).
        "openmp_wait": _openmp.WAIT_SETTING,
        # Products split into chunks on the core's OpenMP threads, each a single-threaded BLAS
        # call, the BLAS kept on one thread during an SVD call; needs the BLAS's thread-count
        # setter (rankwise/blas_threads.hpp).
        "blas_chunked_tall_skinny": _core.blas_chunked_tall_skinny(),
    }
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["threadpools"] = "install threadpoolctl to list the BLAS and OpenMP pools"
    else:
        info["threadpools"] = [
            {
                key: pool.get(key)
                for key in (
                    "user_api",
                    "internal_api",
                    "version",
                    "architecture",
                    "num_threads",
                    "filepath",
                )
            }
            for pool in threadpool_info()
        ]
    return info


def show_config() -> None:
    """Print which backends are built, which BLAS the CPU backend calls and how many threads.

    Examples
    --------
    >>> import rankwise
    >>> rankwise.show_config()  # doctest: +ELLIPSIS
    rankwise ...
    """
    from . import __version__

    info = config()
    print(f"rankwise {__version__}")
    print(f"  backends: {', '.join(info['backends'])}")
    print(f"  BLAS/LAPACK: {info['blas']}")
    print(f"  OpenMP threads (core loops): {info['openmp_max_threads']}")
    print(f"  OpenMP spin-wait: {info['openmp_wait']}")
    chunked = "yes" if info["blas_chunked_tall_skinny"] else "no (the BLAS has no thread setter)"
    print(f"  products in chunks on the core's threads, BLAS on one thread: {chunked}")
    pools = info["threadpools"]
    if isinstance(pools, str):
        print(f"  thread pools: {pools}")
        return
    for pool in pools:
        print(
            f"  {pool['user_api']}: {pool['internal_api']} {pool['version'] or ''} "
            f"{pool['architecture'] or ''} threads={pool['num_threads']} ({pool['filepath']})"
        )
