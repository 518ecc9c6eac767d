// CUDA backend, selection primitives (algo/selection.hpp: DEIM, Q-DEIM, maxvol): LU with
// partial pivoting and LU solves (cuSOLVER's 64-bit getrf / getrs), the column pivots of a
// pivoted QR (own loop: cuSOLVER has no geqp3), transposes, row gathers, argmax.
// The pivots are the primitives' results and come back to the host; within the pivoted QR
// each step reads back its pivot and that column (k values), nothing else.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include <math_constants.h>

#include "kernels.cuh"
#include "rankwise/cuda_backend.hpp"

namespace rankwise {

using cuda::check;
using cuda::data_type;
using cuda::SolverParams;

namespace {

// A = P L U in place (cusolverDnXgetrf, m x n, any m and n), pivots (1-based, LAPACK's
// sequential row swaps) into the device array ipiv (min(m, n) entries).  Returns getrf's
// info (> 0: U(info - 1, info - 1) is exactly zero; the factorization is still complete).
// Synchronizes (to read info).
template <class T>
int getrf(const CudaBackend& be, const SolverParams& params, MatView<T> A, std::int64_t* ipiv) {
    const auto& lib = cuda::libraries(be.stream());
    std::size_t device_bytes = 0, host_bytes = 0;
    check(cusolverDnXgetrf_bufferSize(lib.solver, params.get(), A.rows, A.cols, data_type<T>(),
                                      A.data, A.ld, data_type<T>(), &device_bytes, &host_bytes),
          "cusolverDnXgetrf_bufferSize");
    auto work = be.matrix<char>(static_cast<index_t>(std::max<std::size_t>(device_bytes, 1)), 1);
    std::vector<char> host_work(std::max<std::size_t>(host_bytes, 1));
    auto info = be.matrix<int>(1, 1);
    check(cusolverDnXgetrf(lib.solver, params.get(), A.rows, A.cols, data_type<T>(), A.data, A.ld,
                           ipiv, data_type<T>(), work.data(), device_bytes, host_work.data(),
                           host_bytes, info.data()),
          "cusolverDnXgetrf");
    const int status = be.to_host(info.data(), 1)[0];  // synchronizes: host_work is done with
    if (status < 0)
        throw LapackError("getrf failed on the device, info = " + std::to_string(status));
    return status;
}

// The diagonal of a square block A, in host memory (synchronizes).
template <class T>
std::vector<T> diagonal_to_host(const CudaBackend& be, ConstMatView<T> A) {
    const index_t n = std::min(A.rows, A.cols);
    std::vector<T> d(static_cast<std::size_t>(n));
    if (n == 0) return d;
    const auto pitch = sizeof(T) * static_cast<std::size_t>(A.ld + 1);
    check(cudaMemcpy2DAsync(d.data(), sizeof(T), A.data, pitch, sizeof(T),
                            static_cast<std::size_t>(n), cudaMemcpyDeviceToHost, be.stream()),
          "cudaMemcpy2DAsync (diagonal)");
    be.synchronize();
    return d;
}

// ||x||_2 of n values x[0], x[stride], ..., scaled as LAPACK's dnrm2 (no overflow or
// underflow for entries anywhere in the float range), in double.
template <class T>
__device__ double scaled_norm(const T* x, index_t n, index_t stride) {
    double scale = 0, ssq = 1;
    for (index_t i = 0; i < n; ++i) {
        const double a = fabs(double(x[i * stride]));
        if (a == 0) continue;
        if (scale < a) {
            const double r = scale / a;
            ssq = 1 + ssq * r * r;
            scale = a;
        } else {
            const double r = a / scale;
            ssq += r * r;
        }
    }
    return scale * sqrt(ssq);
}

// Y = X^T through 32 x 32 tiles in shared memory, so that both the reads of X and the
// writes of Y are coalesced (blocks of 32 x 8 threads; grid-stride over the tiles).
constexpr int kTile = 32, kTileRows = 8;

template <class T>
__global__ void transpose_kernel(ConstMatView<T> X, MatView<T> Y) {
    __shared__ T tile[kTile][kTile + 1];  // + 1: no shared-memory bank conflicts
    const index_t tiles_i = (X.rows + kTile - 1) / kTile, tiles_j = (X.cols + kTile - 1) / kTile;
    for (index_t bj = blockIdx.y; bj < tiles_j; bj += gridDim.y) {
        for (index_t bi = blockIdx.x; bi < tiles_i; bi += gridDim.x) {
            const index_t i0 = bi * kTile, j0 = bj * kTile;
            for (int jj = threadIdx.y; jj < kTile; jj += kTileRows) {
                const index_t i = i0 + threadIdx.x, j = j0 + jj;
                if (i < X.rows && j < X.cols) tile[jj][threadIdx.x] = X(i, j);
            }
            __syncthreads();
            for (int ii = threadIdx.y; ii < kTile; ii += kTileRows) {
                const index_t j = j0 + threadIdx.x, i = i0 + ii;
                if (i < X.rows && j < X.cols) Y(j, i) = tile[threadIdx.x][ii];
            }
            __syncthreads();
        }
    }
}

// Row r of X (X.cols values) into host memory (synchronizes).
template <class T>
std::vector<T> row_to_host(const CudaBackend& be, ConstMatView<T> X, index_t r) {
    std::vector<T> out(static_cast<std::size_t>(X.cols));
    if (X.cols == 0) return out;
    const std::size_t pitch = sizeof(T) * static_cast<std::size_t>(X.ld);
    if (X.cols == 1 || pitch > 0x7fffffff) {  // one value per column (past the pitch limit)
        for (index_t j = 0; j < X.cols; ++j)
            check(cudaMemcpyAsync(&out[j], X.data + r + j * X.ld, sizeof(T),
                                  cudaMemcpyDeviceToHost, be.stream()),
                  "cudaMemcpyAsync (row)");
    } else {
        check(cudaMemcpy2DAsync(out.data(), sizeof(T), X.data + r, pitch, sizeof(T),
                                static_cast<std::size_t>(X.cols), cudaMemcpyDeviceToHost,
                                be.stream()),
              "cudaMemcpy2DAsync (row)");
    }
    be.synchronize();
    return out;
}

}  // namespace

template <class T>
std::vector<index_t> CudaBackend::lu_partial_pivoting(MatView<T> V) const {
    const index_t m = V.rows, k = V.cols;
    require(m >= k) << "lu_partial_pivoting: " << k << " columns exceed " << m << " rows";
    std::vector<index_t> perm(static_cast<std::size_t>(m));
    std::iota(perm.begin(), perm.end(), index_t(0));
    if (k == 0) return perm;
    const SolverParams params;
    auto ipiv = matrix<std::int64_t>(k, 1);
    // info > 0 (an exactly zero pivot) still leaves a valid P L U; the callers detect the
    // degenerate selection themselves (as on the CPU).
    getrf(*this, params, V, ipiv.data());
    const auto piv = to_host(ipiv.data(), k);
    // getrf swaps row r with row ipiv[r] - 1, in order; L's rows are already permuted.
    for (index_t r = 0; r < k; ++r) std::swap(perm[r], perm[piv[r] - 1]);
    // L written out: unit diagonal, zeros above it (U is discarded, as on the CPU).
    const MatView<T> L = V;
    cuda::for_each_entry(stream_, k, k, [=] __device__(index_t i, index_t j) {
        if (i < j) L(i, j) = T(0);
        if (i == j) L(i, j) = T(1);
    });
    return perm;
}

// Businger-Golub column pivoting by explicit residuals: at step j the pivot is the
// not-yet-chosen column of largest residual norm (recomputed from the residual, not
// downdated), its residual normalized is q_j (reorthogonalized on the host against
// q_1..q_{j-1}, classical Gram-Schmidt twice), and W <- W - q_j (q_j^T W) (two cuBLAS
// products).  In exact arithmetic these are the pivots of Householder QR with column
// pivoting (LAPACK geqp3); the order of the columns not chosen follows geqp3's swaps.
// Ties go to the smallest column index (geqp3: the first in its current order).
// The residual is kept as Wt = W^T (n x k, a copy): the norms of its rows are then read
// coalesced, one thread per row.  Work: 4 k n per step, k steps: the k^2 n flops of geqp3.
template <class T>
std::vector<index_t> CudaBackend::qr_column_pivots(MatView<T> W) const {
    const index_t k = W.rows, n = W.cols, steps = std::min(k, n);
    std::vector<index_t> order(static_cast<std::size_t>(n)), position(order.size());
    std::iota(order.begin(), order.end(), index_t(0));
    std::iota(position.begin(), position.end(), index_t(0));
    if (steps == 0) return order;
    auto Wt = matrix<T>(n, k);
    transpose(ConstMatView<T>(W), Wt.view());
    auto taken = matrix<unsigned char>(n, 1);
    check(cudaMemsetAsync(taken.data(), 0, static_cast<std::size_t>(n), stream_),
          "cudaMemsetAsync");
    auto q = matrix<T>(k, 1), t = matrix<T>(n, 1);
    std::vector<double> Q(static_cast<std::size_t>(k * steps));  // q_1.. q_j, host, k x j
    std::vector<double> w(static_cast<std::size_t>(k));
    std::vector<T> qt(static_cast<std::size_t>(k));
    const T* wd = Wt.data();
    const index_t ld = Wt.view().ld;
    const unsigned char* tk = taken.data();
    for (index_t j = 0; j < steps; ++j) {
        if (j % 16 == 0) check_interrupt();
        const auto best = cuda::argmax(stream_, n, [=] __device__(index_t c) -> double {
            return tk[c] ? -1.0 : scaled_norm(wd + c, k, ld);
        });
        const index_t p = best.first;
        require(p < n) << "qr_column_pivots: NaN in the residual at step " << j;
        // geqp3's exchange of positions j and position[p]
        const index_t displaced = order[j], at = position[p];
        order[j] = p;
        order[at] = displaced;
        position[displaced] = at;
        position[p] = j;
        check(cudaMemsetAsync(taken.data() + p, 1, 1, stream_), "cudaMemsetAsync");
        const auto col = row_to_host(*this, ConstMatView<T>(Wt.view()), p);
        double wmax = 0;
        for (const T v : col) wmax = std::max(wmax, std::abs(double(v)));
        if (!(wmax > 0)) continue;  // residual zero: nothing left to remove from W
        for (index_t i = 0; i < k; ++i) w[i] = double(col[i]) / wmax;
        for (int pass = 0; pass < 2; ++pass) {
            for (index_t c = 0; c < j; ++c) {
                const double* qc = Q.data() + c * k;
                double dot = 0;
                for (index_t i = 0; i < k; ++i) dot += qc[i] * w[i];
                for (index_t i = 0; i < k; ++i) w[i] -= dot * qc[i];
            }
        }
        double norm = 0;
        for (index_t i = 0; i < k; ++i) norm += w[i] * w[i];
        norm = std::sqrt(norm);
        if (!(norm > 0)) continue;
        double* qj = Q.data() + j * k;
        for (index_t i = 0; i < k; ++i) {
            qj[i] = w[i] / norm;
            qt[i] = static_cast<T>(qj[i]);
        }
        from_host(qt.data(), q.view());
        // t = Wt q (n x 1), Wt <- Wt - t q^T
        gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(Wt.view()), ConstMatView<T>(q.view()),
             T(0), t.view());
        gemm(Trans::No, Trans::Yes, T(-1), ConstMatView<T>(t.view()), ConstMatView<T>(q.view()),
             T(1), Wt.view());
    }
    return order;
}

template <class T>
void CudaBackend::transpose(ConstMatView<T> X, MatView<T> Y) const {
    require(Y.rows == X.cols && Y.cols == X.rows) << "transpose: shapes do not match";
    if (X.rows == 0 || X.cols == 0) return;
    const index_t tiles_i = (X.rows + kTile - 1) / kTile, tiles_j = (X.cols + kTile - 1) / kTile;
    const dim3 grid(static_cast<unsigned>(std::min<index_t>(tiles_i, 1 << 20)),
                    static_cast<unsigned>(std::min<index_t>(tiles_j, cuda::kMaxGridY)));
    transpose_kernel<T><<<grid, dim3(kTile, kTileRows), 0, stream_>>>(X, Y);
    check(cudaGetLastError(), "transpose kernel launch");
}

template <class T>
void CudaBackend::solve_right_unit_lower(ConstMatView<T> L, MatView<T> B) const {
    require(L.rows == L.cols && L.cols == B.cols) << "solve_right_unit_lower: shapes differ";
    if (B.rows == 0 || B.cols == 0) return;
    const auto& lib = cuda::libraries(stream_);
    const T one = 1;
    cublasStatus_t status;
    if constexpr (std::is_same<T, float>::value) {
        status = cublasStrsm_64(lib.blas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                                CUBLAS_DIAG_UNIT, B.rows, B.cols, &one, L.data, L.ld, B.data,
                                B.ld);
    } else {
        status = cublasDtrsm_64(lib.blas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                                CUBLAS_DIAG_UNIT, B.rows, B.cols, &one, L.data, L.ld, B.data,
                                B.ld);
    }
    check(status, "trsm");
}

template <class T>
std::pair<std::pair<index_t, index_t>, T> CudaBackend::argmax_abs(ConstMatView<T> X) const {
    require(X.rows > 0 && X.cols > 0) << "argmax_abs of an empty matrix";
    // Flat column-major index: ties go to the first entry in that order (as on the CPU).
    const index_t rows = X.rows;
    const auto best = cuda::argmax(stream_, X.rows * X.cols, [=] __device__(index_t e) {
        return fabs(double(X(e % rows, e / rows)));
    });
    require(best.first < X.rows * X.cols) << "argmax_abs: the matrix holds only NaN";
    const index_t i = best.first % rows, j = best.first / rows;
    const T value = to_host(X.data + i + j * X.ld, 1)[0];
    return {{i, j}, value};
}

template <class T>
void CudaBackend::column_argmax_abs(ConstMatView<T> X, index_t* rows, T* values) const {
    if (X.cols == 0) return;
    if (X.rows == 0) {
        std::fill(rows, rows + X.cols, index_t(0));
        std::fill(values, values + X.cols, T(0));
        return;
    }
    // Each column's largest magnitude (MaxOp passes over NaN), then the first row holding
    // it, with its sign: the smallest 2 i + (x_ij < 0) over the rows where |x_ij| is that
    // maximum (exact in double for i < 2^52).
    const auto top = cuda::reduce_columns<cuda::MaxOp>(
        stream_, X.rows, X.cols, [=] __device__(index_t i, index_t j) {
            const double v = fabs(double(X(i, j)));
            return isnan(v) ? 0.0 : v;
        });
    const cuda::DeviceCopy<double> maxima(top.data(), X.cols, stream_);
    const double* m = maxima.get();
    const auto first = cuda::reduce_columns<cuda::MinOp>(
        stream_, X.rows, X.cols, [=] __device__(index_t i, index_t j) {
            const double x = X(i, j);
            return fabs(x) == m[j] ? 2.0 * double(i) + (x < 0 ? 1.0 : 0.0) : CUDART_INF;
        });
    for (index_t j = 0; j < X.cols; ++j) {
        if (!(first[j] < std::numeric_limits<double>::infinity())) {  // every entry NaN
            rows[j] = 0;
            values[j] = to_host(X.data + j * X.ld, 1)[0];
            continue;
        }
        const double code = first[j];
        rows[j] = static_cast<index_t>(code / 2);
        const bool negative = code - 2.0 * double(rows[j]) > 0.5;
        values[j] = negative ? T(-top[j]) : T(top[j]);
    }
}

template <class T>
void CudaBackend::gather_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const {
    require(Y.cols == X.cols) << "gather_rows: column counts differ";
    require_indices_in_range(rows, Y.rows, X.rows, "gather_rows", "row");
    const cuda::DeviceCopy<index_t> at(rows, Y.rows, stream_);
    const index_t* r = at.get();
    cuda::for_each_entry(stream_, Y.rows, Y.cols,
                         [=] __device__(index_t i, index_t j) { Y(i, j) = X(r[i], j); });
}

template <class T>
void CudaBackend::solve(MatView<T> A, MatView<T> B, const char* what) const {
    require(A.rows == A.cols && B.rows == A.rows) << "solve: shapes do not match";
    if (A.rows == 0 || B.cols == 0) return;
    const index_t n = A.rows;
    const SolverParams params;
    auto ipiv = matrix<std::int64_t>(n, 1);
    const int info = getrf(*this, params, A, ipiv.data());
    require(info == 0) << what << " is singular";
    // Exact zeros are rare in floating point (dependent rows leave rounding-size pivots):
    // judge the pivots against the largest one (as on the CPU).
    double umax = 0, umin = std::numeric_limits<double>::infinity();
    for (const T v : diagonal_to_host(*this, ConstMatView<T>(A))) {
        umax = std::max(umax, std::abs(double(v)));
        umin = std::min(umin, std::abs(double(v)));
    }
    require(umin > double(n) * std::numeric_limits<T>::epsilon() * umax)
        << what << " is singular to working precision (smallest LU pivot " << umin
        << ", largest " << umax << ")";
    const auto& lib = cuda::libraries(stream_);
    auto status = matrix<int>(1, 1);
    check(cusolverDnXgetrs(lib.solver, params.get(), CUBLAS_OP_N, n, B.cols, data_type<T>(),
                           A.data, A.ld, ipiv.data(), data_type<T>(), B.data, B.ld,
                           status.data()),
          "cusolverDnXgetrs");
    const int solved = to_host(status.data(), 1)[0];
    if (solved != 0)
        throw LapackError("getrs failed on the device, info = " + std::to_string(solved));
}

#define RANKWISE_INSTANTIATE_SELECTION(T)                                                      \
    template std::vector<index_t> CudaBackend::lu_partial_pivoting<T>(MatView<T>) const;      \
    template std::vector<index_t> CudaBackend::qr_column_pivots<T>(MatView<T>) const;         \
    template void CudaBackend::transpose<T>(ConstMatView<T>, MatView<T>) const;               \
    template void CudaBackend::solve_right_unit_lower<T>(ConstMatView<T>, MatView<T>) const;  \
    template std::pair<std::pair<index_t, index_t>, T> CudaBackend::argmax_abs<T>(            \
        ConstMatView<T>) const;                                                               \
    template void CudaBackend::column_argmax_abs<T>(ConstMatView<T>, index_t*, T*) const;     \
    template void CudaBackend::gather_rows<T>(ConstMatView<T>, const index_t*, MatView<T>)    \
        const;                                                                                \
    template void CudaBackend::solve<T>(MatView<T>, MatView<T>, const char*) const;

RANKWISE_INSTANTIATE_SELECTION(float)
RANKWISE_INSTANTIATE_SELECTION(double)
#undef RANKWISE_INSTANTIATE_SELECTION

}  // namespace rankwise
