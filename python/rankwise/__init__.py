"""rankwise: low-rank and iterative linear algebra with a native core.

numpy and scipy.sparse in, numpy out, computed by a C++ core that uses the BLAS/LAPACK
SciPy loaded and OpenMP for its own kernels.

Randomized truncated SVD
    svd             fixed rank (subspace iteration, block Krylov) or fixed precision (tol=)
    randomized_svd  scikit-learn's ``sklearn.utils.extmath.randomized_svd`` signature
    svds            SciPy's ``scipy.sparse.linalg.svds`` signature, rankwise solver by default
    estimate_error  a-posteriori error estimate of a low-rank approximation

Preconditioned conjugate gradient
    cg              SciPy's ``scipy.sparse.linalg.cg`` signature; blocks of right-hand sides
    solve_cg        the same solver returning a CGResult (history, reason, iteration counts)
    precond         native preconditioners (jacobi)
"""

from . import precond
from ._cg import CGBreakdownError, CGResult, cg, solve_cg
from ._config import config, show_config
from ._errors import AccuracyWarning
from ._scipy_compat import svds
from ._sklearn_compat import randomized_svd
from ._svd import estimate_error, svd

__version__ = "0.1.0"

__all__ = [
    "AccuracyWarning",
    "CGBreakdownError",
    "CGResult",
    "cg",
    "config",
    "estimate_error",
    "precond",
    "randomized_svd",
    "show_config",
    "solve_cg",
    "svd",
    "svds",
]
