// CUDA backend, dense primitives: products (cuBLAS), orthonormalization and the small SVD
// (cuSOLVER), element-wise steps and reductions (kernels.cuh).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <math_constants.h>

#include "kernels.cuh"
#include "small_svd.cuh"
#include "rankwise/cuda_backend.hpp"

namespace rankwise {

using cuda::check;
using cuda::read_info;
using cuda::solver_int;

namespace {

cublasOperation_t op(Trans t) { return t == Trans::No ? CUBLAS_OP_N : CUBLAS_OP_T; }


// --- typed entry points of cuBLAS and cuSOLVER (float / double)

cublasStatus_t gemm64(cublasHandle_t h, cublasOperation_t a, cublasOperation_t b, int64_t m,
                      int64_t n, int64_t k, const float* alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, const float* beta, float* C, int64_t ldc) {
    return cublasSgemm_64(h, a, b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t gemm64(cublasHandle_t h, cublasOperation_t a, cublasOperation_t b, int64_t m,
                      int64_t n, int64_t k, const double* alpha, const double* A, int64_t lda,
                      const double* B, int64_t ldb, const double* beta, double* C, int64_t ldc) {
    return cublasDgemm_64(h, a, b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
// G = Y^T Y (l x l, all of it) as a GEMM: cuBLAS's syrk runs one thread block for a tall Y
// with few columns (seen on an H200: 44 ms for 1e6 x 74 in float32, 90% of a sparse rsvd),
// while its GEMM splits the long inner dimension over the GPU.  Twice the flops of syrk, on
// a product that is bandwidth-bound anyway.
template <class T>
cublasStatus_t gram64(cublasHandle_t h, int64_t l, int64_t rows, const T* Y, int64_t ld, T* G) {
    const T one = 1, zero = 0;
    return gemm64(h, CUBLAS_OP_T, CUBLAS_OP_N, l, l, rows, &one, Y, ld, Y, ld, &zero, G, l);
}
// B <- B R^-1, R upper triangular
cublasStatus_t trsm_right_upper(cublasHandle_t h, int64_t m, int64_t n, const float* R,
                                int64_t ldr, float* B, int64_t ldb) {
    const float one = 1;
    return cublasStrsm_64(h, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                          CUBLAS_DIAG_NON_UNIT, m, n, &one, R, ldr, B, ldb);
}
cublasStatus_t trsm_right_upper(cublasHandle_t h, int64_t m, int64_t n, const double* R,
                                int64_t ldr, double* B, int64_t ldb) {
    const double one = 1;
    return cublasDtrsm_64(h, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                          CUBLAS_DIAG_NON_UNIT, m, n, &one, R, ldr, B, ldb);
}

cusolverStatus_t potrf_size(cusolverDnHandle_t h, int n, float* A, int lda, int* lwork) {
    return cusolverDnSpotrf_bufferSize(h, CUBLAS_FILL_MODE_UPPER, n, A, lda, lwork);
}
cusolverStatus_t potrf_size(cusolverDnHandle_t h, int n, double* A, int lda, int* lwork) {
    return cusolverDnDpotrf_bufferSize(h, CUBLAS_FILL_MODE_UPPER, n, A, lda, lwork);
}
cusolverStatus_t potrf(cusolverDnHandle_t h, int n, float* A, int lda, float* w, int lw,
                       int* info) {
    return cusolverDnSpotrf(h, CUBLAS_FILL_MODE_UPPER, n, A, lda, w, lw, info);
}
cusolverStatus_t potrf(cusolverDnHandle_t h, int n, double* A, int lda, double* w, int lw,
                       int* info) {
    return cusolverDnDpotrf(h, CUBLAS_FILL_MODE_UPPER, n, A, lda, w, lw, info);
}
cusolverStatus_t geqrf_size(cusolverDnHandle_t h, int m, int n, float* A, int lda, int* lwork) {
    return cusolverDnSgeqrf_bufferSize(h, m, n, A, lda, lwork);
}
cusolverStatus_t geqrf_size(cusolverDnHandle_t h, int m, int n, double* A, int lda, int* lwork) {
    return cusolverDnDgeqrf_bufferSize(h, m, n, A, lda, lwork);
}
cusolverStatus_t geqrf(cusolverDnHandle_t h, int m, int n, float* A, int lda, float* tau,
                       float* w, int lw, int* info) {
    return cusolverDnSgeqrf(h, m, n, A, lda, tau, w, lw, info);
}
cusolverStatus_t geqrf(cusolverDnHandle_t h, int m, int n, double* A, int lda, double* tau,
                       double* w, int lw, int* info) {
    return cusolverDnDgeqrf(h, m, n, A, lda, tau, w, lw, info);
}
cusolverStatus_t orgqr_size(cusolverDnHandle_t h, int m, int n, const float* A, int lda,
                            const float* tau, int* lwork) {
    return cusolverDnSorgqr_bufferSize(h, m, n, n, A, lda, tau, lwork);
}
cusolverStatus_t orgqr_size(cusolverDnHandle_t h, int m, int n, const double* A, int lda,
                            const double* tau, int* lwork) {
    return cusolverDnDorgqr_bufferSize(h, m, n, n, A, lda, tau, lwork);
}
cusolverStatus_t orgqr(cusolverDnHandle_t h, int m, int n, float* A, int lda, const float* tau,
                       float* w, int lw, int* info) {
    return cusolverDnSorgqr(h, m, n, n, A, lda, tau, w, lw, info);
}
cusolverStatus_t orgqr(cusolverDnHandle_t h, int m, int n, double* A, int lda, const double* tau,
                       double* w, int lw, int* info) {
    return cusolverDnDorgqr(h, m, n, n, A, lda, tau, w, lw, info);
}
template <class T>
void householder_qr(const CudaBackend& be, MatView<T> Y) {
    const int m = solver_int(Y.rows, "rows"), l = solver_int(Y.cols, "columns");
    const int ld = solver_int(Y.ld, "rows (leading dimension)");
    const auto& lib = cuda::libraries(be.stream());
    auto tau = be.matrix<T>(l, 1);
    int lw1 = 0, lw2 = 0;
    check(geqrf_size(lib.solver, m, l, Y.data, ld, &lw1), "geqrf_bufferSize");
    check(orgqr_size(lib.solver, m, l, Y.data, ld, tau.data(), &lw2), "orgqr_bufferSize");
    auto work = be.matrix<T>(std::max({lw1, lw2, 1}), 1);
    auto info = be.matrix<int>(2, 1);
    const int lw = static_cast<int>(work.rows());
    check(geqrf(lib.solver, m, l, Y.data, ld, tau.data(), work.data(), lw, info.data()), "geqrf");
    check(orgqr(lib.solver, m, l, Y.data, ld, tau.data(), work.data(), lw, info.data() + 1),
          "orgqr");
    const auto status = be.to_host(info.data(), 2);
    if (status[0] != 0 || status[1] != 0)
        throw LapackError("Householder QR failed on the device, info = " +
                          std::to_string(status[0]) + ", " + std::to_string(status[1]));
}

// Y <- Y R^-1 for the upper triangle R of the l x l matrix at r (l = Y.cols): the explicit
// inverse (a trsm on the l x l identity), then GEMMs over chunks of rows through a scratch
// block of about 64 MiB.  cuBLAS's trsm on a tall Y ran at a tenth of the memory bandwidth
// (1.7 ms for 1e6 x 74 float32 on an H200, ncu 2026-11-26), the GEMM at the GEMM rate.  The
// Cholesky step only gets here with a well-conditioned R (its diagonal ratio is checked), and
// the second CholeskyQR pass removes what the inverse adds to the loss of orthogonality.
// Where the scratch block cannot be allocated, the trsm runs in place.
template <class T>
void times_inverse_upper(const CudaBackend& be, const T* r, MatView<T> Y) {
    const index_t l = Y.cols;
    const auto& lib = cuda::libraries(be.stream());
    const index_t target_rows = index_t(64) * 1024 * 1024 / (index_t(sizeof(T)) * l);
    const index_t chunk = std::min<index_t>(Y.rows, std::max<index_t>(target_rows, 1024));
    std::optional<DeviceMatrix<T>> W;
    try {
        W.emplace(chunk, l, be.stream());
    } catch (const AllocationError&) {
        check(trsm_right_upper(lib.blas, Y.rows, l, r, l, Y.data, Y.ld), "trsm");
        return;
    }
    auto inv = be.matrix<T>(l, l);
    T* v = inv.data();
    cuda::for_each_entry(be.stream(), l, l, [=] __device__(index_t i, index_t j) {
        v[i + j * l] = i == j ? T(1) : T(0);
    });
    check(trsm_right_upper(lib.blas, l, l, r, l, v, l), "trsm (inverse of R)");
    const T one = 1, zero = 0;
    for (index_t i0 = 0; i0 < Y.rows; i0 += chunk) {
        const index_t rows = std::min(chunk, Y.rows - i0);
        check(gemm64(lib.blas, CUBLAS_OP_N, CUBLAS_OP_N, rows, l, l, &one, Y.data + i0, Y.ld, v,
                     l, &zero, W->data(), chunk),
              "gemm (Y R^-1)");
        check(cudaMemcpy2DAsync(Y.data + i0, sizeof(T) * Y.ld, W->data(), sizeof(T) * chunk,
                                sizeof(T) * rows, l, cudaMemcpyDeviceToDevice, be.stream()),
              "cudaMemcpy2DAsync (Y R^-1)");
    }
}

// One Cholesky QR step, as in cpu/dense.cpp: G = Y^T Y + shift I = R^T R, Y <- Y R^-1;
// false (Y unchanged) when R is too ill-conditioned (diagonal ratio below min_ratio) or,
// with max_dev > 0, when some |r_ii - 1| > max_dev.
template <class T>
bool cholesky_qr_step(const CudaBackend& be, MatView<T> Y, DeviceMatrix<T>& G, double shift,
                      double min_ratio, double max_dev) {
    const index_t l = Y.cols;
    const int li = solver_int(l, "columns");
    const auto& lib = cuda::libraries(be.stream());
    check(gram64(lib.blas, l, Y.rows, Y.data, Y.ld, G.data()), "Gram matrix (gemm)");
    T* g = G.data();
    if (shift > 0) {
        const T sh = static_cast<T>(shift);
        cuda::for_each_entry(be.stream(), l, 1, [=] __device__(index_t i, index_t) {
            g[i + i * l] += sh;
        });
    }
    int lw = 0;
    check(potrf_size(lib.solver, li, g, li, &lw), "potrf_bufferSize");
    auto work = be.matrix<T>(std::max(lw, 1), 1);
    auto info = be.matrix<int>(1, 1);
    check(potrf(lib.solver, li, g, li, work.data(), lw, info.data()), "potrf");
    std::vector<T> diag(static_cast<std::size_t>(l));
    check(cudaMemcpy2DAsync(diag.data(), sizeof(T), g, sizeof(T) * (l + 1), sizeof(T), l,
                            cudaMemcpyDeviceToHost, be.stream()),
          "cudaMemcpy2DAsync (Cholesky diagonal)");
    if (read_info(info, be.stream()) != 0) return false;
    double dmin = std::numeric_limits<double>::infinity(), dmax = 0, dev = 0;
    for (const T v : diag) {
        const double d = std::abs(static_cast<double>(v));
        dmin = std::min(dmin, d);
        dmax = std::max(dmax, d);
        dev = std::max(dev, std::abs(d - 1.0));
    }
    if (!(dmin > min_ratio * dmax) || !std::isfinite(dmax)) return false;
    if (max_dev > 0 && dev > max_dev) return false;
    times_inverse_upper(be, g, Y);
    return true;
}

template <class T>
void cholesky_qr(const CudaBackend& be, MatView<T> Y);

// A float32 Y that plain CholeskyQR refuses, orthonormalized in float64 and rounded back:
// CholeskyQR2 in float64 takes cond(Y) up to about 1e6 where float32's takes about 30
// (the ratio check), and the rounding leaves Y orthonormal to float32 accuracy.  The
// shifted CholeskyQR3 that the CPU tries next does not help here: its shift,
// 11 (m l + l (l + 1)) u ||Y||_F^2, exceeds ||Y||_2^2 once m l u > 0.1 (32768 x 74 in float32),
// and Householder QR then ran - the benchmark's dense float32 matrix (singular values 1/j,
// so cond 74 for k + p = 74) took 29 ms where float64 took 18 ms (H200, 2026-11-27).  false
// (Y unchanged) for float64, or where the float64 copy does not fit.
template <class T>
bool orthonormalize_in_double(const CudaBackend& be, MatView<T> Y) {
    if constexpr (!std::is_same_v<T, float>) {
        return false;
    } else {
        std::optional<DeviceMatrix<double>> Yd;
        try {
            Yd.emplace(Y.rows, Y.cols, be.stream());
        } catch (const AllocationError&) {
            return false;
        }
        double* d = Yd->data();
        const index_t ld = Y.rows;
        cuda::for_each_entry(be.stream(), Y.rows, Y.cols, [=] __device__(index_t i, index_t j) {
            d[i + j * ld] = double(Y(i, j));
        });
        cholesky_qr(be, Yd->view());
        cuda::for_each_entry(be.stream(), Y.rows, Y.cols, [=] __device__(index_t i, index_t j) {
            Y(i, j) = float(d[i + j * ld]);
        });
        return true;
    }
}

// CholeskyQR2, shifted CholeskyQR3, Householder: the CPU's cholesky_qr (cpu/dense.cpp), with
// a float64 pass for float32 blocks before the shifted one.
template <class T>
void cholesky_qr(const CudaBackend& be, MatView<T> Y) {
    constexpr double eps = std::numeric_limits<T>::epsilon();
    const double safe_ratio = 1e2 * std::sqrt(eps);
    auto G = be.matrix<T>(Y.cols, Y.cols);
    bool ok = cholesky_qr_step(be, Y, G, 0.0, safe_ratio, 0.0);
    if (!ok && orthonormalize_in_double(be, Y)) return;
    if (!ok) {
        // Shift s = 11 (m l + l (l + 1)) u ||Y||_F^2 (Fukaya et al., SISC 2020, eq. 3.4).
        const double fro2 = be.sum_squares(ConstMatView<T>(Y));
        const double m = double(Y.rows), l = double(Y.cols);
        const double shift = 11.0 * (m * l + l * (l + 1)) * (eps / 2) * fro2;
        ok = fro2 > 0 && std::isfinite(fro2) && cholesky_qr_step(be, Y, G, shift, 0.0, 0.0) &&
             cholesky_qr_step(be, Y, G, 0.0, safe_ratio, 0.0);
    }
    ok = ok && cholesky_qr_step(be, Y, G, 0.0, safe_ratio, 0.1);
    if (!ok) householder_qr(be, Y);
}

// The power-step normalizer (Ortho::LU): one Cholesky QR step where R's diagonal ratio
// exceeds 10 sqrt(eps) (cond(Y) up to about 300 in float32), which leaves Y orthonormal to
// O(cond(Y)^2 eps) <= 1e-2 (Yamamoto et al., ETNA 2015) - a well-conditioned basis, all that
// the next product needs, at half the cost of CholeskyQR2 (one Gram matrix, one host round
// trip, one Y R^-1); the full cholesky_qr otherwise.
template <class T>
void normalize_basis(const CudaBackend& be, MatView<T> Y) {
    constexpr double eps = std::numeric_limits<T>::epsilon();
    auto G = be.matrix<T>(Y.cols, Y.cols);
    if (!cholesky_qr_step(be, Y, G, 0.0, 10 * std::sqrt(eps), 0.0)) cholesky_qr(be, Y);
}

}  // namespace

template <class T>
void CudaBackend::gemm(Trans ta, Trans tb, T alpha, ConstMatView<T> A, ConstMatView<T> B, T beta,
                       MatView<T> C) const {
    const index_t k = ta == Trans::No ? A.cols : A.rows;
    require(k == (tb == Trans::No ? B.rows : B.cols)) << "gemm: inner dimensions differ";
    if (C.rows == 0 || C.cols == 0) return;
    if (k == 0) {  // C = beta C (cuBLAS would too; said here so that A and B are not read)
        if (beta == T(0)) {
            fill(C, T(0));
        } else {
            cuda::for_each_entry(stream_, C.rows, C.cols,
                                 [=] __device__(index_t i, index_t j) { C(i, j) *= beta; });
        }
        return;
    }
    const auto& lib = cuda::libraries(stream_);
    check(gemm64(lib.blas, op(ta), op(tb), C.rows, C.cols, k, &alpha, A.data, A.ld, B.data, B.ld,
                 &beta, C.data, C.ld),
          "gemm");
}

template <class T>
void CudaBackend::orthonormalize(MatView<T> Y, Ortho how) const {
    require(Y.cols <= Y.rows) << "orthonormalize: " << Y.cols << " columns exceed " << Y.rows
                              << " rows";
    if (Y.cols == 0) return;
    switch (how) {
        case Ortho::Householder: householder_qr(*this, Y); break;
        case Ortho::CholQR2: cholesky_qr(*this, Y); break;
        case Ortho::LU: normalize_basis(*this, Y); break;
        case Ortho::None: break;
    }
}

template <class T>
void CudaBackend::svd(MatView<T> W, MatView<T> U, T* s, MatView<T> Vt, SvdDriver) const {
    require(W.rows >= W.cols && U.rows == W.rows && U.cols == W.cols && Vt.rows == W.cols &&
            Vt.cols == W.cols)
        << "svd: shapes do not match a thin SVD of a tall matrix";
    const index_t n = W.cols;
    if (n == 0) return;
    if constexpr (std::is_same_v<T, float>) {
        const cuda::SmallSvd way = cuda::small_svd_way();
        const bool gram = way == cuda::SmallSvd::Gram || way == cuda::SmallSvd::GramHost;
        if (gram && cuda::gram_svd(*this, ConstMatView<T>(W), U, s, Vt,
                                   way == cuda::SmallSvd::GramHost)) {
            cuda::record_small_svd(way == cuda::SmallSvd::Gram ? "gram" : "gram_host");
            return;
        }
    }
    // W = Q R with R = Q^T W0 formed from a copy, so it is exact for the Q computed even
    // where CholeskyQR fell back to Householder; then the n x n SVD (small_svd.cu).
    auto W0 = matrix<T>(W.rows, n);
    copy(ConstMatView<T>(W), W0.view());
    orthonormalize(W, Ortho::CholQR2);
    auto R = matrix<T>(n, n), Ur = matrix<T>(n, n);
    gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(W), ConstMatView<T>(W0.view()), T(0),
         R.view());
    std::vector<T> sv;
    cuda::small_svd(*this, R, Ur.view(), sv, Vt);
    std::copy(sv.begin(), sv.end(), s);
    gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(W), ConstMatView<T>(Ur.view()), T(0), U);
}

template <class T>
void CudaBackend::copy(ConstMatView<T> X, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "copy: shapes differ";
    if (X.rows == 0 || X.cols == 0) return;
    if ((X.ld == X.rows && Y.ld == Y.rows) || X.cols == 1) {  // no pitch limit (2^31 bytes)
        check(cudaMemcpyAsync(Y.data, X.data, sizeof(T) * static_cast<std::size_t>(X.rows * X.cols),
                              cudaMemcpyDeviceToDevice, stream_),
              "cudaMemcpyAsync (device to device)");
        return;
    }
    if (sizeof(T) * std::max(X.ld, Y.ld) > 0x7fffffff) {  // past the pitch limit: by column
        for (index_t j = 0; j < X.cols; ++j)
            check(cudaMemcpyAsync(Y.col(j), X.col(j), sizeof(T) * static_cast<std::size_t>(X.rows),
                                  cudaMemcpyDeviceToDevice, stream_),
                  "cudaMemcpyAsync (device to device)");
        return;
    }
    check(cudaMemcpy2DAsync(Y.data, sizeof(T) * Y.ld, X.data, sizeof(T) * X.ld,
                            sizeof(T) * X.rows, X.cols, cudaMemcpyDeviceToDevice, stream_),
          "cudaMemcpy2DAsync (device to device)");
}

template <class T>
void CudaBackend::fill(MatView<T> X, T value) const {
    if (X.rows == 0 || X.cols == 0) return;
    if (value == T(0) && (X.ld == X.rows || X.cols == 1)) {  // contiguous: no pitch limit
        check(cudaMemsetAsync(X.data, 0, sizeof(T) * static_cast<std::size_t>(X.rows * X.cols),
                              stream_),
              "cudaMemsetAsync");
        return;
    }
    if (value == T(0) && sizeof(T) * X.ld <= 0x7fffffff) {
        check(cudaMemset2DAsync(X.data, sizeof(T) * X.ld, 0, sizeof(T) * X.rows, X.cols, stream_),
              "cudaMemset2DAsync");
        return;
    }
    cuda::for_each_entry(stream_, X.rows, X.cols,
                         [=] __device__(index_t i, index_t j) { X(i, j) = value; });
}

template <class T>
void CudaBackend::scale_columns(ConstMatView<T> X, const T* scale, MatView<T> Y) const {
    const cuda::DeviceCopy<T> d(scale, X.cols, stream_);
    const T* sc = d.get();
    cuda::for_each_entry(stream_, X.rows, X.cols,
                         [=] __device__(index_t i, index_t j) { Y(i, j) = X(i, j) * sc[j]; });
}

template <class T>
void CudaBackend::add_scaled(ConstMatView<T> X, T alpha, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "add_scaled: shapes differ";
    cuda::for_each_entry(stream_, X.rows, X.cols,
                         [=] __device__(index_t i, index_t j) { Y(i, j) += alpha * X(i, j); });
}

template <class T>
void CudaBackend::column_norms(ConstMatView<T> X, double* out) const {
    if (std::is_same<T, float>::value) {
        // Squares of floats cannot overflow or underflow in double.
        const auto sums = cuda::reduce_columns<cuda::SumOp>(
            stream_, X.rows, X.cols, [=] __device__(index_t i, index_t j) {
                const double v = X(i, j);
                return v * v;
            });
        for (index_t j = 0; j < X.cols; ++j) out[j] = std::sqrt(sums[j]);
        return;
    }
    // Scaled by the largest magnitude, so that 1e-300 and 1e300 entries neither vanish
    // nor overflow; as on the CPU, NaN where an entry is NaN, else Inf where one is Inf.
    // Divided by the scale (its inverse overflows below 2^-1024).
    std::vector<double> scale(static_cast<std::size_t>(X.cols));
    column_abs_max(X, scale.data());
    const cuda::DeviceCopy<double> d(scale.data(), X.cols, stream_);
    const double* w = d.get();
    const auto sums = cuda::reduce_columns<cuda::SumOp>(
        stream_, X.rows, X.cols, [=] __device__(index_t i, index_t j) {
            const double x = X(i, j), s = w[j];
            // a finite positive scale divides; otherwise only a NaN entry counts (its NaN)
            const double v = (s > 0 && isfinite(s)) ? x / s : (isnan(x) ? x : 0.0);
            return v * v;
        });
    for (index_t j = 0; j < X.cols; ++j) {
        if (std::isinf(scale[j]))
            out[j] = std::isnan(sums[j]) ? std::numeric_limits<double>::quiet_NaN() : scale[j];
        else
            out[j] = scale[j] * std::sqrt(sums[j]);
    }
}

template <class T>
bool CudaBackend::all_finite(ConstMatView<T> X) const {
    const auto bad = cuda::reduce_columns<cuda::MaxOp>(
        stream_, X.rows, X.cols,
        [=] __device__(index_t i, index_t j) { return isfinite(X(i, j)) ? 0.0 : 1.0; });
    return std::all_of(bad.begin(), bad.end(), [](double b) { return b == 0.0; });
}

template <class T>
void CudaBackend::column_abs_max(ConstMatView<T> X, double* out) const {
    const auto m = cuda::reduce_columns<cuda::MaxOp>(
        stream_, X.rows, X.cols,
        [=] __device__(index_t i, index_t j) {
            const double v = X(i, j);  // NaN compares false in MaxOp: mapped to +Inf first
            return isnan(v) ? CUDART_INF : fabs(v);
        });
    for (index_t j = 0; j < X.cols; ++j) out[j] = m[j];
}

template <class T>
double CudaBackend::finite_abs_max(ConstMatView<T> X) const {
    // the largest of the columns' maxima, which are +Inf where NaN or Inf is
    std::vector<double> m(static_cast<std::size_t>(X.cols));
    column_abs_max(X, m.data());
    double top = 0;
    for (const double v : m) top = std::max(top, v);
    return top;
}

template <class T>
double CudaBackend::sum_squares(ConstMatView<T> X) const {
    const auto sums = cuda::reduce_columns<cuda::SumOp>(
        stream_, X.rows, X.cols, [=] __device__(index_t i, index_t j) {
            const double v = X(i, j);
            return v * v;
        });
    double total = 0;
    for (const double v : sums) total += v;
    return total;
}

#define RANKWISE_INSTANTIATE_DENSE(T)                                                          \
    template void CudaBackend::gemm<T>(Trans, Trans, T, ConstMatView<T>, ConstMatView<T>, T,   \
                                       MatView<T>) const;                                      \
    template void CudaBackend::orthonormalize<T>(MatView<T>, Ortho) const;                     \
    template void CudaBackend::svd<T>(MatView<T>, MatView<T>, T*, MatView<T>, SvdDriver) const; \
    template void CudaBackend::copy<T>(ConstMatView<T>, MatView<T>) const;                     \
    template void CudaBackend::fill<T>(MatView<T>, T) const;                                   \
    template void CudaBackend::scale_columns<T>(ConstMatView<T>, const T*, MatView<T>) const;  \
    template void CudaBackend::add_scaled<T>(ConstMatView<T>, T, MatView<T>) const;            \
    template void CudaBackend::column_norms<T>(ConstMatView<T>, double*) const;                \
    template void CudaBackend::column_abs_max<T>(ConstMatView<T>, double*) const;              \
    template bool CudaBackend::all_finite<T>(ConstMatView<T>) const;                           \
    template double CudaBackend::finite_abs_max<T>(ConstMatView<T>) const;                     \
    template double CudaBackend::sum_squares<T>(ConstMatView<T>) const;

RANKWISE_INSTANTIATE_DENSE(float)
RANKWISE_INSTANTIATE_DENSE(double)
#undef RANKWISE_INSTANTIATE_DENSE

}  // namespace rankwise
