"""Benchmark suite of rankwise: ``python -m bench quick`` or ``python -m bench full``.

Each family of algorithms has one module that defines ``PACKAGES`` (the
distributions whose versions the report names) and ``cases(mode)`` (see
:class:`bench.case.Family`). To add a family, write ``bench/<family>.py``
and register it in :data:`FAMILIES`.
"""

import importlib

from .case import Family

FAMILIES: dict[str, str] = {
    "svd": "bench.svd",
    "cg": "bench.cg",
    "cur": "bench.cur",
    "dask": "bench.dask_svd",
    "update": "bench.update",
    "eim": "bench.eim",
    "gpu": "bench.gpu",
}
"""Family name -> module implementing it, imported only when selected."""


def load(name: str) -> Family:
    """Import the module of family ``name``."""
    module: Family = importlib.import_module(FAMILIES[name])  # type: ignore[assignment]
    return module
