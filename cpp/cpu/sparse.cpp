// CPU backend, sparse primitives: CSR times a block of vectors, multithreaded.
//
// Dense blocks are column-major; the kernels read and accumulate l-vectors (one row of a
// block) contiguously, so that the inner loop runs over l entries.  Scratch is O(n l) for
// the side that is accessed at random (never O(nnz), never the long side when it can be
// avoided, since fresh pages of large buffers cost page faults on every pass):
//   Y = A X:    X is copied to row-major once (random rows j are read); each thread
//               accumulates one output row in a small buffer and writes it to Y.
//   Y = A^T X:  rows x_i of X are gathered in order (cache friendly); the scatter into
//               Y^T goes to a row-major buffer per thread (O(threads n l), no atomics),
//               summed and transposed into Y at the end.
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

// Y = A X with Xr the row-major copy of X
template <class T, class I>
void csr_times(const CsrView<T, I>& A, const T* Xr, MatView<T> Y) {
    const index_t l = Y.cols;
#pragma omp parallel
    {
        std::vector<T> acc(static_cast<std::size_t>(l));
#pragma omp for schedule(dynamic, 512)
        for (index_t i = 0; i < A.rows; ++i) {
            std::fill(acc.begin(), acc.end(), T(0));
            T* y = acc.data();
            for (index_t p = A.indptr[i]; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
                const T a = A.data[p];
                const T* x = Xr + static_cast<index_t>(A.indices[p]) * l;
#pragma omp simd
                for (index_t j = 0; j < l; ++j) y[j] += a * x[j];
            }
            for (index_t j = 0; j < l; ++j) Y(i, j) = y[j];
        }
    }
}

// Y = A^T X
template <class T, class I>
void csr_transpose_times(const CsrView<T, I>& A, ConstMatView<T> X, MatView<T> Y) {
    const index_t n = A.cols, l = X.cols;
    const int threads = omp_get_max_threads();
    std::vector<T> Yr(static_cast<std::size_t>(n) * l, T(0));  // thread 0's accumulator
    std::vector<std::vector<T>> priv(static_cast<std::size_t>(std::max(threads - 1, 0)));
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        T* acc = Yr.data();
        if (t > 0) {
            priv[t - 1].assign(static_cast<std::size_t>(n) * l, T(0));
            acc = priv[t - 1].data();
        }
        // Contiguous row ranges balanced by nonzeros.
        const index_t nnz = A.indptr[A.rows];
        const I* begin = A.indptr;
        const I* end = A.indptr + A.rows;
        const auto first_row = [&](int part) -> index_t {
            if (part >= nt) return A.rows;
            return std::lower_bound(begin, end, static_cast<I>(nnz * part / nt)) - begin;
        };
        const index_t r0 = first_row(t), r1 = first_row(t + 1);
        std::vector<T> x(static_cast<std::size_t>(l));
        for (index_t i = r0; i < r1; ++i) {
            if (A.indptr[i] == A.indptr[i + 1]) continue;
            for (index_t j = 0; j < l; ++j) x[j] = X(i, j);
            for (index_t p = A.indptr[i]; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
                const T a = A.data[p];
                T* y = acc + static_cast<index_t>(A.indices[p]) * l;
#pragma omp simd
                for (index_t j = 0; j < l; ++j) y[j] += a * x[j];
            }
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (index_t r = 0; r < n; ++r) {
            for (index_t j = 0; j < l; ++j) {
                T s = Yr[r * l + j];
                for (const auto& b : priv)
                    if (!b.empty()) s += b[r * l + j];
                Y(r, j) = s;
            }
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
    if (X.cols == 0 || out_rows == 0) return;
    if (t == Trans::No && X.cols == 1) {
        csr_mv(A, X.data, Y.data);  // one column: no row-major copy, no per-row scratch
    } else if (t == Trans::No) {
        const std::vector<T> Xr = to_row_major(X);
        csr_times(A, Xr.data(), Y);
    } else {
        csr_transpose_times(A, X, Y);
    }
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
