// CPU backend, sparse primitives: CSR times a block of vectors, multithreaded.
//
// The block is transposed into row-major scratch so that the inner loop runs over the l
// contiguous entries of one row (vectorizable, one cache line per nonzero for small l);
// scratch is O((m + n) l), never O(nnz).
//   Y = A X:    rows of A split among threads, no conflicts.
//   Y = A^T X:  a scatter; each thread accumulates into its own n x l buffer, then the
//               buffers are summed (O(threads * n * l) scratch, no atomics).
#include <omp.h>

#include <algorithm>
#include <vector>

#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"

namespace rankwise {
namespace {

template <class T>
std::vector<T> to_row_major(ConstMatView<T> X) {
    std::vector<T> R(static_cast<std::size_t>(X.rows) * X.cols);
    const index_t l = X.cols;
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < X.rows; ++i)
        for (index_t j = 0; j < l; ++j) R[i * l + j] = X(i, j);
    return R;
}

template <class T>
void from_row_major(const T* R, MatView<T> Y) {
    const index_t l = Y.cols;
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < Y.rows; ++i)
        for (index_t j = 0; j < l; ++j) Y(i, j) = R[i * l + j];
}

// Yr (m x l, row-major) = A Xr (n x l, row-major)
template <class T, class I>
void csr_times_rows(const CsrView<T, I>& A, const T* Xr, index_t l, T* Yr) {
#pragma omp parallel for schedule(dynamic, 256)
    for (index_t i = 0; i < A.rows; ++i) {
        T* y = Yr + i * l;
        std::fill(y, y + l, T(0));
        for (index_t p = A.indptr[i]; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
            const T a = A.data[p];
            const T* x = Xr + static_cast<index_t>(A.indices[p]) * l;
#pragma omp simd
            for (index_t j = 0; j < l; ++j) y[j] += a * x[j];
        }
    }
}

// Yr (n x l, row-major) = A^T Xr (m x l, row-major)
template <class T, class I>
void csr_transpose_times_rows(const CsrView<T, I>& A, const T* Xr, index_t l, T* Yr) {
    const index_t n = A.cols;
    const int threads = omp_get_max_threads();
    // Thread 0 accumulates straight into Yr; the others into private buffers.
    std::vector<std::vector<T>> priv(static_cast<std::size_t>(std::max(threads - 1, 0)));
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        T* acc = Yr;
        if (t > 0) {
            priv[t - 1].assign(static_cast<std::size_t>(n) * l, T(0));
            acc = priv[t - 1].data();
        } else {
            std::fill(Yr, Yr + n * l, T(0));
        }
        // Contiguous row ranges balanced by nonzeros.
        const index_t nnz = A.indptr[A.rows];
        const index_t lo_target = nnz * t / nt, hi_target = nnz * (t + 1) / nt;
        const I* begin = A.indptr;
        const I* end = A.indptr + A.rows;
        const index_t r0 = std::lower_bound(begin, end, static_cast<I>(lo_target)) - begin;
        const index_t r1 =
            t == nt - 1 ? A.rows : std::lower_bound(begin, end, static_cast<I>(hi_target)) - begin;
        for (index_t i = r0; i < r1; ++i) {
            const T* x = Xr + i * l;
            for (index_t p = A.indptr[i]; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
                const T a = A.data[p];
                T* y = acc + static_cast<index_t>(A.indices[p]) * l;
#pragma omp simd
                for (index_t j = 0; j < l; ++j) y[j] += a * x[j];
            }
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (index_t e = 0; e < n * l; ++e) {
            T s = Yr[e];
            for (const auto& b : priv)
                if (!b.empty()) s += b[e];
            Yr[e] = s;
        }
    }
}

}  // namespace

template <class T, class I>
void CpuBackend::csr_mm(const CsrView<T, I>& A, Trans t, ConstMatView<T> X, MatView<T> Y) const {
    const index_t in_rows = t == Trans::No ? A.cols : A.rows;
    const index_t out_rows = t == Trans::No ? A.rows : A.cols;
    require(X.rows == in_rows && Y.rows == out_rows && X.cols == Y.cols)
        << "csr_mm: block shapes do not match the sparse matrix";
    const index_t l = X.cols;
    if (l == 0 || out_rows == 0) return;
    const std::vector<T> Xr = to_row_major(X);
    std::vector<T> Yr(static_cast<std::size_t>(out_rows) * l);
    if (t == Trans::No) {
        csr_times_rows(A, Xr.data(), l, Yr.data());
    } else {
        csr_transpose_times_rows(A, Xr.data(), l, Yr.data());
    }
    from_row_major(Yr.data(), Y);
}

template <class T, class I>
double CpuBackend::sum_squares(const CsrView<T, I>& A) const {
    const index_t nnz = A.indptr[A.rows] - A.indptr[0];
    const T* d = A.data + A.indptr[0];
    double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (index_t p = 0; p < nnz; ++p) total += double(d[p]) * double(d[p]);
    return total;
}

#define RANKWISE_INSTANTIATE_SPARSE(T, I)                                                   \
    template void CpuBackend::csr_mm<T, I>(const CsrView<T, I>&, Trans, ConstMatView<T>,    \
                                           MatView<T>) const;                               \
    template double CpuBackend::sum_squares<T, I>(const CsrView<T, I>&) const;

RANKWISE_INSTANTIATE_SPARSE(float, std::int32_t)
RANKWISE_INSTANTIATE_SPARSE(float, std::int64_t)
RANKWISE_INSTANTIATE_SPARSE(double, std::int32_t)
RANKWISE_INSTANTIATE_SPARSE(double, std::int64_t)
#undef RANKWISE_INSTANTIATE_SPARSE

}  // namespace rankwise
