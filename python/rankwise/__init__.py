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
    CGSolver        a sequence of systems: keeps M, recycles a deflation space, learns omega
    precond         native preconditioners (jacobi, ssor, ic0, block_jacobi, chebyshev, nystrom)

CUR decomposition (keep actual rows and columns)
    cur              A ~ C U R by DEIM, Q-DEIM, maxvol, leverage, pivotal or uniform selection
    leverage_scores  rank-k leverage scores of rows and columns (exact or sketched)
    interpolative    scipy.linalg.interpolative's functions (interp_decomp, svd, ...)
    interp_decomp    SciPy's ``scipy.linalg.interpolative.interp_decomp`` signature

Updating truncated SVD (rows, columns, low-rank corrections; no stored matrix)
    SVDUpdater      zha-simon, vecharynski-saad, sparse (Deng et al. 2024); drift monitor
    update_svd      one-off update of given factors
Empirical interpolation (hyper-reduction, sensor placement)
    deim, qdeim     interpolation points on a basis U and the interpolation operator
    odeim           oversampled DEIM: more points than basis vectors, least squares
    eim             greedy EIM on snapshots (dense, sparse, callable), norms, cross form
    matrix_eim      A(mu) ~ sum_m beta_m(mu) A(mu_m) from the assembly routine only
"""

# _openmp first: it loads the native core, and with it OpenMP's spin-wait setting.
from . import _openmp, interpolative, precond  # noqa: F401
from ._cg import CGBreakdownError, CGResult, cg, solve_cg
from ._cg_solver import CGSolver
from ._config import config, show_config
from ._cur import CURDecomposition, cur, leverage_scores
from ._deim import PointInterpolant, PointSelection, deim, odeim, qdeim
from ._eim import EmpiricalInterpolant, eim
from ._errors import AccuracyWarning
from ._matrix_eim import MatrixEIM, matrix_eim
from ._scipy_compat import svds
from ._sklearn_compat import randomized_svd
from ._svd import estimate_error, svd
from ._update import SVDUpdater, update_svd
from .interpolative import interp_decomp

__version__ = "0.1.0"

__all__ = [
    "AccuracyWarning",
    "CGBreakdownError",
    "CGResult",
    "CGSolver",
    "CURDecomposition",
    "EmpiricalInterpolant",
    "MatrixEIM",
    "PointInterpolant",
    "PointSelection",
    "SVDUpdater",
    "cg",
    "config",
    "cur",
    "deim",
    "eim",
    "estimate_error",
    "interp_decomp",
    "interpolative",
    "leverage_scores",
    "matrix_eim",
    "odeim",
    "precond",
    "qdeim",
    "randomized_svd",
    "show_config",
    "solve_cg",
    "svd",
    "svds",
    "update_svd",
]
