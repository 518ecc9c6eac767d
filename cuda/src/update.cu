// CUDA backend, primitives of the updating truncated SVD (algo/svd_update.hpp) that the other
// families do not already provide: the scatter of the rows a sparse update touches, the
// singular values of a small square factor (its condition check), and the Cholesky right
// solve of the re-orthonormalization.  Contracts as in CpuBackend (cpu_backend.hpp).
#include <algorithm>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels.cuh"
#include "rankwise/cuda_backend.hpp"

namespace rankwise {

using cuda::check;
using cuda::solver_int;

template <class T>
void CudaBackend::scatter_add_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const {
    require(X.cols == Y.cols) << "scatter_add_rows: column counts differ";
    require_indices_in_range(rows, X.rows, Y.rows, "scatter_add_rows", "row");
    if (X.rows == 0 || X.cols == 0) return;
    // The rows are distinct (contract): each entry of Y has one writer, no atomics needed.
    const cuda::DeviceCopy<index_t> at(rows, X.rows, stream_);
    const index_t* r = at.get();
    cuda::for_each_entry(stream_, X.rows, X.cols,
                         [=] __device__(index_t i, index_t j) { Y(r[i], j) += X(i, j); });
}

template <class T>
void CudaBackend::gather_cols(ConstMatView<T> X, const index_t* cols, MatView<T> Y) const {
    require(X.rows == Y.rows) << "gather_cols: row counts differ";
    require_indices_in_range(cols, Y.cols, X.cols, "gather_cols", "column");
    if (Y.rows == 0 || Y.cols == 0) return;
    const cuda::DeviceCopy<index_t> at(cols, Y.cols, stream_);
    const index_t* c = at.get();
    cuda::for_each_entry(stream_, Y.rows, Y.cols,
                         [=] __device__(index_t i, index_t j) { Y(i, j) = X(i, c[j]); });
}

template <class T>
void CudaBackend::scatter_add_cols(ConstMatView<T> X, const index_t* cols, MatView<T> Y) const {
    require(X.rows == Y.rows) << "scatter_add_cols: row counts differ";
    require_indices_in_range(cols, X.cols, Y.cols, "scatter_add_cols", "column");
    if (X.rows == 0 || X.cols == 0) return;
    // The columns are distinct (contract): each entry of Y has one writer, no atomics needed.
    const cuda::DeviceCopy<index_t> at(cols, X.cols, stream_);
    const index_t* c = at.get();
    cuda::for_each_entry(stream_, X.rows, X.cols,
                         [=] __device__(index_t i, index_t j) { Y(i, c[j]) += X(i, j); });
}

template <class T>
void CudaBackend::singular_values(MatView<T> W, T* s) const {
    require(W.rows == W.cols) << "singular_values: W must be square";
    const int n = solver_int(W.cols, "columns"), ld = solver_int(W.ld, "rows (leading dimension)");
    if (n == 0) return;
    const auto& lib = cuda::libraries(stream_);
    int lw = 0;
    if constexpr (std::is_same<T, float>::value) {
        check(cusolverDnSgesvd_bufferSize(lib.solver, n, n, &lw), "gesvd_bufferSize");
    } else {
        check(cusolverDnDgesvd_bufferSize(lib.solver, n, n, &lw), "gesvd_bufferSize");
    }
    auto work = matrix<T>(std::max(lw, 1), 1);
    auto sd = matrix<T>(n, 1);
    auto info = matrix<int>(1, 1);
    // jobu = jobvt = 'N': values only (U and Vt are not referenced; their leading dimensions
    // are given as n, valid whichever bound the library checks)
    if constexpr (std::is_same<T, float>::value) {
        check(cusolverDnSgesvd(lib.solver, 'N', 'N', n, n, W.data, ld, sd.data(), nullptr, n,
                               nullptr, n, work.data(), lw, nullptr, info.data()),
              "gesvd");
    } else {
        check(cusolverDnDgesvd(lib.solver, 'N', 'N', n, n, W.data, ld, sd.data(), nullptr, n,
                               nullptr, n, work.data(), lw, nullptr, info.data()),
              "gesvd");
    }
    // devInfo and the values (the copies to pageable memory wait for the stream)
    int status = 0;
    std::vector<T> sv(static_cast<std::size_t>(n));
    check(cudaMemcpyAsync(&status, info.data(), sizeof(int), cudaMemcpyDeviceToHost, stream_),
          "cudaMemcpyAsync (devInfo)");
    check(cudaMemcpyAsync(sv.data(), sd.data(), sizeof(T) * sv.size(), cudaMemcpyDeviceToHost,
                          stream_),
          "cudaMemcpyAsync (singular values)");
    synchronize();
    if (status != 0)
        throw LapackError("singular values did not converge on the device (gesvd info = " +
                          std::to_string(status) + ")");
    std::copy(sv.begin(), sv.end(), s);
}

template <class T>
bool CudaBackend::solve_right_cholesky(MatView<T> G, MatView<T> B) const {
    require(G.rows == G.cols && B.cols == G.rows) << "solve_right_cholesky: shapes differ";
    const int l = solver_int(G.rows, "columns"), ld = solver_int(G.ld, "rows (leading dimension)");
    if (l == 0) return true;
    const auto& lib = cuda::libraries(stream_);
    int lw = 0;
    if constexpr (std::is_same<T, float>::value) {
        check(cusolverDnSpotrf_bufferSize(lib.solver, CUBLAS_FILL_MODE_UPPER, l, G.data, ld, &lw),
              "potrf_bufferSize");
    } else {
        check(cusolverDnDpotrf_bufferSize(lib.solver, CUBLAS_FILL_MODE_UPPER, l, G.data, ld, &lw),
              "potrf_bufferSize");
    }
    auto work = matrix<T>(std::max(lw, 1), 1);
    auto info = matrix<int>(1, 1);
    if constexpr (std::is_same<T, float>::value) {
        check(cusolverDnSpotrf(lib.solver, CUBLAS_FILL_MODE_UPPER, l, G.data, ld, work.data(), lw,
                               info.data()),
              "potrf");
    } else {
        check(cusolverDnDpotrf(lib.solver, CUBLAS_FILL_MODE_UPPER, l, G.data, ld, work.data(), lw,
                               info.data()),
              "potrf");
    }
    const int status = to_host(info.data(), 1)[0];  // devInfo: the result the contract names
    if (status < 0)
        throw LapackError("Cholesky factorization failed on the device (potrf info = " +
                          std::to_string(status) + ")");
    if (status > 0) return false;  // not positive definite: B unchanged, as on the CPU
    if (B.rows == 0) return true;
    const T one = 1;
    if constexpr (std::is_same<T, float>::value) {
        check(cublasStrsm_64(lib.blas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                             CUBLAS_DIAG_NON_UNIT, B.rows, l, &one, G.data, G.ld, B.data, B.ld),
              "trsm");
    } else {
        check(cublasDtrsm_64(lib.blas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                             CUBLAS_DIAG_NON_UNIT, B.rows, l, &one, G.data, G.ld, B.data, B.ld),
              "trsm");
    }
    return true;
}

#define RANKWISE_INSTANTIATE_UPDATE(T)                                                         \
    template void CudaBackend::scatter_add_rows<T>(ConstMatView<T>, const index_t*, MatView<T>) \
        const;                                                                                 \
    template void CudaBackend::gather_cols<T>(ConstMatView<T>, const index_t*, MatView<T>)     \
        const;                                                                                 \
    template void CudaBackend::scatter_add_cols<T>(ConstMatView<T>, const index_t*, MatView<T>) \
        const;                                                                                 \
    template void CudaBackend::singular_values<T>(MatView<T>, T*) const;                       \
    template bool CudaBackend::solve_right_cholesky<T>(MatView<T>, MatView<T>) const;

RANKWISE_INSTANTIATE_UPDATE(float)
RANKWISE_INSTANTIATE_UPDATE(double)
#undef RANKWISE_INSTANTIATE_UPDATE

}  // namespace rankwise
