"""Types shared by the public signatures.

The entry points return NumPy arrays for host input (NumPy arrays, SciPy sparse matrices
and arrays, SciPy LinearOperators) and CuPy or dask arrays for CuPy or dask input.  Their
``typing.overload``s say so: a ``HostMatrix`` argument gives NumPy types; any other argument
(CuPy, dask, array-likes, which type checkers see as such or as ``Any``) gives ``Any``.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

HostMatrix: TypeAlias = np.ndarray | sp.spmatrix | sp.sparray | LinearOperator
