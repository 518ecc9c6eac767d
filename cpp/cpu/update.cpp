// CPU backend, primitives of the updating truncated SVD (algo/svd_update.hpp).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "dims.hpp"
#include "parallel.hpp"
#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"
#include "tall_skinny.hpp"

namespace rankwise {

using cpu::blas_int;
using cpu::ld_of;

namespace {

// The columns that gather_cols and scatter_add_cols visit are scattered over a matrix larger
// than the caches (a row-major factor's touched rows): each is a short contiguous run that
// the hardware prefetcher cannot foresee, so the one kPrefetchAhead columns ahead is
// requested while the current one is copied (20000-node benchmark, k = 64: the scatter's
// share of an update 7% -> 3%).
constexpr index_t kPrefetchAhead = 8;

template <class T>
void prefetch_column(const T* col, index_t n) {
    constexpr index_t line = 64 / sizeof(T);
    for (index_t i = 0; i < n; i += line) __builtin_prefetch(col + i);
}

}  // namespace

template <class T>
void CpuBackend::scatter_add_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const {
    require(X.cols == Y.cols) << "scatter_add_rows: column counts differ";
    require_indices_in_range(rows, X.rows, Y.rows, "scatter_add_rows", "row");
    // Columns split over the threads: each output entry has one writer (rows are distinct).
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t j) {
        const T* x = X.col(j);
        T* y = Y.col(j);
        for (index_t r = 0; r < X.rows; ++r) y[rows[r]] += x[r];
    });
}

template <class T>
void CpuBackend::gather_cols(ConstMatView<T> X, const index_t* cols, MatView<T> Y) const {
    require(X.rows == Y.rows) << "gather_cols: row counts differ";
    require_indices_in_range(cols, Y.cols, X.cols, "gather_cols", "column");
    cpu::parallel_for(Y.cols, cpu::worth_parallel(Y.rows * Y.cols), [&](index_t c) {
        if (c + kPrefetchAhead < Y.cols) prefetch_column(X.col(cols[c + kPrefetchAhead]), X.rows);
        std::copy_n(X.col(cols[c]), X.rows, Y.col(c));
    });
}

template <class T>
void CpuBackend::scatter_add_cols(ConstMatView<T> X, const index_t* cols, MatView<T> Y) const {
    require(X.rows == Y.rows) << "scatter_add_cols: row counts differ";
    require_indices_in_range(cols, X.cols, Y.cols, "scatter_add_cols", "column");
    const index_t k = X.rows;
    // Columns split over the threads: each output entry has one writer (cols are distinct).
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t c) {
        if (c + kPrefetchAhead < X.cols) prefetch_column(Y.col(cols[c + kPrefetchAhead]), k);
        const T* x = X.col(c);
        T* y = Y.col(cols[c]);
#pragma omp simd
        for (index_t i = 0; i < k; ++i) y[i] += x[i];
    });
}

template <class T>
void CpuBackend::gram_rows(ConstMatView<T> Wt, MatView<T> G) const {
    const index_t k = Wt.rows;
    require(G.rows == k && G.cols == k) << "gram_rows: G must be k x k";
    if (k == 0) return;
    std::vector<T> upper(static_cast<std::size_t>(k * k), T(0));
    if (Wt.cols > 0) cpu::gram_upper<T>(Wt, upper.data(), true);
    for (index_t j = 0; j < k; ++j)
        for (index_t i = 0; i < k; ++i) G(i, j) = i <= j ? upper[i + j * k] : upper[j + i * k];
}

template <class T>
void CpuBackend::from_host(const T* values, MatView<T> Y) const {
    for (index_t j = 0; j < Y.cols; ++j) std::copy_n(values + j * Y.rows, Y.rows, Y.col(j));
}

template <class T>
void CpuBackend::singular_values(MatView<T> W, T* s) const {
    const int n = blas_int(W.cols, "columns");
    require(W.rows == W.cols) << "singular_values: W must be square";
    if (n == 0) return;
    std::vector<int> iwork(8 * static_cast<std::size_t>(n));
    T query{};
    lapack::gesdd<T>('N', n, n, W.data, ld_of(W.ld), s, nullptr, 1, nullptr, 1, &query, -1,
                     iwork.data());
    std::vector<T> work(static_cast<std::size_t>(std::max(T(1), query)));
    const int info = lapack::gesdd<T>('N', n, n, W.data, ld_of(W.ld), s, nullptr, 1, nullptr, 1,
                                      work.data(), static_cast<int>(work.size()), iwork.data());
    if (info != 0)
        throw LapackError("singular values did not converge (gesdd info = " +
                          std::to_string(info) + ")");
}

template <class T>
bool CpuBackend::top_svd_by_gram(ConstMatView<T> M, index_t k, MatView<T> U, T* s,
                                 MatView<T> V, double max_ratio2) const {
    const index_t m = M.rows, n = M.cols;
    require(m >= n && k >= 1 && k <= n && U.rows == m && U.cols == k && V.rows == n &&
            V.cols == k)
        << "top_svd_by_gram: shapes do not match the top k of a tall M";
    const int mi = blas_int(m, "rows"), ni = blas_int(n, "columns"), ki = blas_int(k, "k");
    // M in double (float: a copy; the Gram matrix of a float M in float would lose the
    // singular values below sqrt(eps_float) sigma_1 = 2.4e-4 sigma_1)
    std::vector<double> copy;
    const double* md = nullptr;
    int ldm = mi;
    if constexpr (std::is_same_v<T, double>) {
        md = M.data;
        ldm = ld_of(M.ld);
    } else {
        copy.resize(static_cast<std::size_t>(m * n));
        for (index_t j = 0; j < n; ++j)
            for (index_t i = 0; i < m; ++i) copy[static_cast<std::size_t>(i + j * m)] = M(i, j);
        md = copy.data();
    }
    std::vector<double> G(static_cast<std::size_t>(n * n)), w(static_cast<std::size_t>(n));
    lapack::syrk<double>('L', 'T', ni, mi, 1.0, md, ldm, 0.0, G.data(), ni);
    if (lapack::syevd_vectors<double>('L', ni, G.data(), ni, w.data()) != 0) return false;
    const double top = w[static_cast<std::size_t>(n - 1)];
    const double kth = w[static_cast<std::size_t>(n - k)];  // ascending eigenvalues
    if (!(std::isfinite(top) && top > 0 && kth * max_ratio2 >= top)) return false;
    // V = the eigenvectors, largest first; U = M V diag(sigma)^-1
    std::vector<double> Vd(static_cast<std::size_t>(n * k)), Ud(static_cast<std::size_t>(m * k));
    for (index_t c = 0; c < k; ++c)
        std::copy_n(G.data() + (n - 1 - c) * n, n, Vd.data() + c * n);
    lapack::gemm<double>('N', 'N', mi, ki, ni, 1.0, md, ldm, Vd.data(), ni, 0.0, Ud.data(), mi);
    for (index_t i = 0; i < n; ++i)
        s[i] = T(std::sqrt(std::max(w[static_cast<std::size_t>(n - 1 - i)], 0.0)));
    for (index_t c = 0; c < k; ++c) {
        const double inv = 1.0 / std::sqrt(w[static_cast<std::size_t>(n - 1 - c)]);
        for (index_t i = 0; i < m; ++i) U(i, c) = T(Ud[static_cast<std::size_t>(i + c * m)] * inv);
        for (index_t i = 0; i < n; ++i) V(i, c) = T(Vd[static_cast<std::size_t>(i + c * n)]);
    }
    return true;
}

#define RANKWISE_INSTANTIATE_UPDATE(T) \
    template void CpuBackend::scatter_add_rows<T>(ConstMatView<T>, const index_t*, MatView<T>) \
        const;                                                                                 \
    template void CpuBackend::gather_cols<T>(ConstMatView<T>, const index_t*, MatView<T>) const; \
    template void CpuBackend::scatter_add_cols<T>(ConstMatView<T>, const index_t*, MatView<T>)  \
        const;                                                                                 \
    template void CpuBackend::gram_rows<T>(ConstMatView<T>, MatView<T>) const;              \
    template void CpuBackend::from_host<T>(const T*, MatView<T>) const;                    \
    template void CpuBackend::singular_values<T>(MatView<T>, T*) const;                    \
    template bool CpuBackend::top_svd_by_gram<T>(ConstMatView<T>, index_t, MatView<T>, T*,    \
                                                 MatView<T>, double) const;

RANKWISE_INSTANTIATE_UPDATE(float)
RANKWISE_INSTANTIATE_UPDATE(double)
#undef RANKWISE_INSTANTIATE_UPDATE

}  // namespace rankwise
