// The SVD of the CUDA backend's small factor (cuda/src/small_svd.cu), for dense.cu.
#pragma once

#include <vector>

#include "rankwise/cuda_backend.hpp"

namespace rankwise::cuda {

// R = Ur diag(s) Vt for the contiguous n x n device matrix R (destroyed), Ur with leading
// dimension n, s (host) descending: the way small_svd_way() says (Polar falling back to
// Auto's way, Jacobi to gesvd); record_small_svd says which ran.
template <class T>
void small_svd(const CudaBackend& be, DeviceMatrix<T>& R, MatView<T> Ur, std::vector<T>& s,
               MatView<T> Vt);

// W = U diag(s) Vt for a float32 W (rows x l, rows >= l; U rows x l, Vt l x l, s l values
// on the host, descending) from the eigendecomposition of W^T W formed in float64 (cuSOLVER's
// syevd, or LAPACK's on the host with eig_on_host): Vt = X^T and U = W X diag(1/s) for
// W^T W = X diag(s^2) X^T.  One GEMM of W's size
// and an l x l eigendecomposition, where the route through R takes CholeskyQR2 (in float64
// for such blocks) and an l x l SVD.  Squaring the condition number costs float64's
// accuracy, not float32's, while s_1 / s_l <= 1e3 (small_svd.cu's kGramMaxCond); false
// (nothing written) beyond that, where the float64 copies do not fit, or where syevd fails.
bool gram_svd(const CudaBackend& be, ConstMatView<float> W, MatView<float> U, float* s,
              MatView<float> Vt, bool eig_on_host);

}  // namespace rankwise::cuda
