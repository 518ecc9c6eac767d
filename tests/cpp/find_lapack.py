"""Print the BLAS/LAPACK library SciPy uses and its symbol prefix, as "path;prefix".

The C++ tests of the core call the same BLAS/LAPACK as the Python package does (SciPy's),
loaded with dlopen; this finds it by importing scipy.linalg and looking through the shared
objects the process has mapped for the one that defines dgemm.  Linux only (/proc).
"""

from __future__ import annotations

import ctypes
import sys

import scipy.linalg  # noqa: F401  (maps SciPy's BLAS/LAPACK into the process)


def main() -> int:
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if ".so" in line.split()[-1]})
    for path in paths:
        if "blas" not in path.lower() and "lapack" not in path.lower():
            continue
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_", ""):
            if hasattr(lib, f"{prefix}dgemm_") and hasattr(lib, f"{prefix}dgesdd_"):
                print(f"{path};{prefix}", end="")
                return 0
    print("no BLAS/LAPACK library defining dgemm_ found", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
