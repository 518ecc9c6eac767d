// CPU backend, dense primitives: products, orthonormalization, small SVD, reductions.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <sstream>
#include <vector>

#if defined(__linux__)
#endif

#include "dims.hpp"
#include "parallel.hpp"
#include "recursive_lu.hpp"
#include "tall_skinny.hpp"
#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"

namespace rankwise {

using cpu::blas_int;
using cpu::ld_of;

template <class T>
HostMatrix<T>::HostMatrix(index_t rows, index_t cols) : rows_(rows), cols_(cols) {
    require(rows >= 0 && cols >= 0) << "negative matrix size " << rows << " x " << cols;
    // rows * cols * sizeof(T) must fit in size_t before it is computed.
    const bool fits = cols == 0 || static_cast<std::size_t>(rows) <=
                                       std::numeric_limits<std::size_t>::max() / sizeof(T) /
                                           static_cast<std::size_t>(cols);
    if (fits) {
        const auto n = static_cast<std::size_t>(std::max<index_t>(rows * cols, 1));
        const std::size_t bytes = n * sizeof(T);
        std::size_t capacity = 0;
        void* p = detail::take_host_buffer(bytes, capacity);
        buf_ = HostBuffer<T>(static_cast<T*>(p), detail::HostBufferFree{capacity});
    }
    if (!buf_) {
        std::ostringstream what;
        what << "cannot allocate a " << rows << " x " << cols << " float" << 8 * sizeof(T)
             << " work matrix (" << double(rows) * double(cols) * sizeof(T) / double(1 << 30)
             << " GiB; the machine has " << detail::host_memory_bytes() / double(1 << 30)
             << " GiB of memory and swap)";
        throw AllocationError(what.str());
    }
}

template <class T>
void CpuBackend::gemm(Trans ta, Trans tb, T alpha, ConstMatView<T> A, ConstMatView<T> B, T beta,
                      MatView<T> C) const {
    const index_t k = ta == Trans::No ? A.cols : A.rows;
    require(k == (tb == Trans::No ? B.rows : B.cols)) << "gemm: inner dimensions differ";
    if (C.rows == 0 || C.cols == 0) return;
    switch (cpu::plan_product(C.rows, C.cols, k)) {
        case cpu::Plan::Rows: cpu::gemm_tall_output(ta, tb, alpha, A, B, beta, C, k); break;
        case cpu::Plan::Columns: cpu::gemm_wide_output(ta, tb, alpha, A, B, beta, C, k); break;
        case cpu::Plan::Inner: cpu::gemm_tall_inner(ta, tb, alpha, A, B, beta, C, k); break;
        case cpu::Plan::Serial: {
            const cpu::SerialBlas serial;
            cpu::blas_gemm(ta, tb, alpha, A, B, beta, C, k);
            break;
        }
        case cpu::Plan::Whole: cpu::blas_gemm(ta, tb, alpha, A, B, beta, C, k); break;
    }
}

namespace {

template <class T>
void householder_qr(MatView<T> Y) {
    const int m = blas_int(Y.rows, "rows"), l = blas_int(Y.cols, "columns"), ld = ld_of(Y.ld);
    std::vector<T> tau(std::max(l, 1));
    T query{};
    int info = lapack::geqrf<T>(m, l, Y.data, ld, tau.data(), &query, -1);
    T query2{};
    info |= lapack::orgqr<T>(m, l, l, Y.data, ld, tau.data(), &query2, -1);
    std::vector<T> work(static_cast<std::size_t>(std::max({T(1), query, query2})));
    const int lwork = static_cast<int>(work.size());
    info = lapack::geqrf<T>(m, l, Y.data, ld, tau.data(), work.data(), lwork);
    if (info != 0) throw LapackError("geqrf failed, info = " + std::to_string(info));
    info = lapack::orgqr<T>(m, l, l, Y.data, ld, tau.data(), work.data(), lwork);
    if (info != 0) throw LapackError("orgqr failed, info = " + std::to_string(info));
}

// One Cholesky QR step: G = Y^T Y + shift I, G = R^T R, Y <- Y R^-1.  Returns false (and
// leaves Y unchanged) when the Cholesky factor is too ill-conditioned for the step to keep
// orthogonality (diagonal ratio below `min_ratio`); `max_dev` > 0 additionally requires
// |r_ii - 1| <= max_dev, which certifies that Y was already close to orthonormal.
template <class T>
bool cholesky_qr_step(MatView<T> Y, std::vector<T>& G, double shift, double min_ratio,
                      double max_dev) {
    const int l = blas_int(Y.cols, "columns");
    G.assign(static_cast<std::size_t>(l) * l, T(0));
    cpu::gram_upper<T>(Y, G.data());
    for (int j = 0; j < l; ++j) G[j + j * l] += static_cast<T>(shift);
    if (lapack::potrf<T>('U', l, G.data(), l) != 0) return false;
    double dmin = std::numeric_limits<double>::infinity(), dmax = 0, dev = 0;
    for (int j = 0; j < l; ++j) {
        const double d = std::abs(static_cast<double>(G[j + j * l]));
        dmin = std::min(dmin, d);
        dmax = std::max(dmax, d);
        dev = std::max(dev, std::abs(d - 1.0));
    }
    if (!(dmin > min_ratio * dmax) || !std::isfinite(dmax)) return false;
    if (max_dev > 0 && dev > max_dev) return false;
    cpu::solve_upper_right<T>(G.data(), Y);
    return true;
}

// CholeskyQR2 (Fukaya et al. 2014), shifted CholeskyQR3 (Fukaya, Kannan, Nakatsukasa,
// Yamamoto, Yanagisawa, SISC 2020) when plain CholeskyQR would lose orthogonality, and
// Householder QR when even that fails (e.g. Y numerically rank deficient).  Orthonormal to
// O(eps) in every branch; GEMM-rate (syrk + trsm) in the first two.
template <class T>
void cholesky_qr(MatView<T> Y) {
    constexpr double eps = std::numeric_limits<T>::epsilon();
    const double safe_ratio = 1e2 * std::sqrt(eps);  // cond(Y) well below eps^-1/2
    std::vector<T> G;
    bool ok = cholesky_qr_step(Y, G, 0.0, safe_ratio, 0.0);
    if (!ok) {
        // Shift s = 11 (m l + l (l + 1)) u ||Y||_2^2, with ||Y||_F^2 >= ||Y||_2^2 (SISC 2020,
        // eq. 3.4).
        double fro2 = 0;
        for (index_t j = 0; j < Y.cols; ++j)
            for (index_t i = 0; i < Y.rows; ++i) fro2 += double(Y(i, j)) * double(Y(i, j));
        const double m = double(Y.rows), l = double(Y.cols);
        const double shift = 11.0 * (m * l + l * (l + 1)) * (eps / 2) * fro2;
        ok = fro2 > 0 && cholesky_qr_step(Y, G, shift, 0.0, 0.0) &&
             cholesky_qr_step(Y, G, 0.0, safe_ratio, 0.0);
    }
    // The final pass must find Y already orthonormal to working accuracy.
    ok = ok && cholesky_qr_step(Y, G, 0.0, safe_ratio, 0.1);
    if (!ok) householder_qr(Y);
}

// Y <- P L where Y = P L U (partial pivoting): the power-step normalizer of scikit-learn.
// A block long enough to chunk is factored by the recursive LU, whose GEMMs run on all
// threads; otherwise getrf (on the BLAS's threads, or on this one for a small block).
template <class T>
void lu_basis(MatView<T> Y) {
    const int m = blas_int(Y.rows, "rows"), l = blas_int(Y.cols, "columns"), ld = ld_of(Y.ld);
    std::vector<int> ipiv(std::max(l, 1));
    if (cpu::plan_block(Y.rows, Y.cols) == cpu::Plan::Rows) {
        cpu::recursive_lu(Y, ipiv.data());
    } else {
        const int info = lapack::getrf<T>(m, l, Y.data, ld, ipiv.data());
        if (info < 0) throw LapackError("getrf failed, info = " + std::to_string(info));
    }
    for (index_t j = 0; j < Y.cols; ++j) {
        for (index_t i = 0; i < j; ++i) Y(i, j) = T(0);
        Y(j, j) = T(1);
    }
    lapack::laswp<T>(l, Y.data, ld, 1, l, ipiv.data(), -1);  // undo the swaps, last first
}

}  // namespace

template <class T>
void CpuBackend::orthonormalize(MatView<T> Y, Ortho how) const {
    require(Y.cols <= Y.rows) << "orthonormalize: " << Y.cols << " columns exceed " << Y.rows
                              << " rows";
    if (Y.cols == 0) return;
    switch (how) {
        case Ortho::Householder: householder_qr(Y); break;
        case Ortho::CholQR2: cholesky_qr(Y); break;
        case Ortho::LU: lu_basis(Y); break;
        case Ortho::None: break;
    }
}

template <class T>
void CpuBackend::svd(MatView<T> W, MatView<T> U, T* s, MatView<T> Vt, SvdDriver driver) const {
    const int m = blas_int(W.rows, "rows"), n = blas_int(W.cols, "columns");
    require(m >= n && U.rows == W.rows && U.cols == W.cols && Vt.rows == n && Vt.cols == n)
        << "svd: shapes do not match a thin SVD of a tall matrix";
    if (n == 0) return;
    // A tall W (m >= 4n, long enough to chunk): W = Q R with CholeskyQR2 on row chunks,
    // R = Ur diag(s) Vt by LAPACK on the small n x n matrix, U = Q Ur.  The O(m n^2) work
    // then runs at GEMM speed on all threads, where LAPACK's bidiagonalization of the tall W
    // would run on one (the BLAS is single-threaded inside an SVD call).  R = Q^T W is
    // formed from a copy of W (kept in U, which is written last), so it is exact for the Q
    // that was computed, even when CholeskyQR fell back to Householder QR.  Backward stable:
    // |s_i - sigma_i| = O(eps ||W||).
    if (driver == SvdDriver::Gesdd && m >= 4 * n &&
        cpu::plan_block(W.rows, W.cols) == cpu::Plan::Rows) {
        copy(ConstMatView<T>(W), U);
        orthonormalize(W, Ortho::CholQR2);  // W <- Q
        HostMatrix<T> R(W.cols, W.cols), Ur(W.cols, W.cols);
        gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(W), ConstMatView<T>(U), T(0),
             R.view());
        svd(R.view(), Ur.view(), s, Vt, driver);
        gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(W), ConstMatView<T>(Ur.view()), T(0),
             U);
        return;
    }
    lapack::thin_svd<T>(m, n, W.data, ld_of(W.ld), s, U.data, ld_of(U.ld), Vt.data, ld_of(Vt.ld),
                        driver == SvdDriver::Gesdd);
}

template <class T>
void CpuBackend::copy(ConstMatView<T> X, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "copy: shapes differ";
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t j) {
        std::copy_n(X.col(j), X.rows, Y.col(j));
    });
}

template <class T>
void CpuBackend::fill(MatView<T> X, T value) const {
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t j) {
        std::fill_n(X.col(j), X.rows, value);
    });
}

template <class T>
void CpuBackend::scale_columns(ConstMatView<T> X, const T* scale, MatView<T> Y) const {
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t j) {
        const T* x = X.col(j);
        T* y = Y.col(j);
        for (index_t i = 0; i < X.rows; ++i) y[i] = x[i] * scale[j];
    });
}

template <class T>
void CpuBackend::add_scaled(ConstMatView<T> X, T alpha, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "add_scaled: shapes differ";
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t j) {
        const T* x = X.col(j);
        T* y = Y.col(j);
        for (index_t i = 0; i < X.rows; ++i) y[i] += alpha * x[i];
    });
}

template <class T>
void CpuBackend::column_norms(ConstMatView<T> X, double* out) const {
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t j) {
        const T* x = X.col(j);
        // Scaled accumulation, so that 1e-300 and 1e300 entries neither vanish nor overflow.
        // A NaN entry makes the norm NaN (std::max would pass over it: an all-NaN column
        // read as norm 0, e.g. a perfect fit in estimate_error).
        double scale = 0;
        bool nan = false;
        for (index_t i = 0; i < X.rows; ++i) {
            const double a = std::abs(double(x[i]));
            nan = nan || std::isnan(a);
            scale = std::max(scale, a);
        }
        if (nan || std::isinf(scale)) {
            out[j] = nan ? std::numeric_limits<double>::quiet_NaN() : scale;
            return;
        }
        double sum = 0;
        if (scale > 0) {
            for (index_t i = 0; i < X.rows; ++i) {
                const double v = double(x[i]) / scale;
                sum += v * v;
            }
        }
        out[j] = scale * std::sqrt(sum);
    });
}

template <class T>
double CpuBackend::sum_squares(ConstMatView<T> X) const {
    // one sum per column, added in column order: the same bits on any number of threads
    std::vector<double> column(static_cast<std::size_t>(X.cols));
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t j) {
        const T* x = X.col(j);
        double s = 0;
        for (index_t i = 0; i < X.rows; ++i) s += double(x[i]) * double(x[i]);
        column[j] = s;
    });
    double total = 0;
    for (const double s : column) total += s;
    return total;
}

#define RANKWISE_INSTANTIATE_DENSE(T)                                                         \
    template class HostMatrix<T>;                                                             \
    template void CpuBackend::gemm<T>(Trans, Trans, T, ConstMatView<T>, ConstMatView<T>, T,   \
                                      MatView<T>) const;                                      \
    template void CpuBackend::orthonormalize<T>(MatView<T>, Ortho) const;                     \
    template void CpuBackend::svd<T>(MatView<T>, MatView<T>, T*, MatView<T>, SvdDriver) const; \
    template void CpuBackend::copy<T>(ConstMatView<T>, MatView<T>) const;                     \
    template void CpuBackend::fill<T>(MatView<T>, T) const;                                   \
    template void CpuBackend::scale_columns<T>(ConstMatView<T>, const T*, MatView<T>) const;  \
    template void CpuBackend::add_scaled<T>(ConstMatView<T>, T, MatView<T>) const;            \
    template void CpuBackend::column_norms<T>(ConstMatView<T>, double*) const;                \
    template double CpuBackend::sum_squares<T>(ConstMatView<T>) const;

RANKWISE_INSTANTIATE_DENSE(float)
RANKWISE_INSTANTIATE_DENSE(double)
#undef RANKWISE_INSTANTIATE_DENSE

}  // namespace rankwise
