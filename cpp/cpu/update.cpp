// CPU backend, primitives of the updating truncated SVD (algo/svd_update.hpp).
#include <omp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dims.hpp"
#include "parallel.hpp"
#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"

namespace rankwise {

using cpu::blas_int;
using cpu::ld_of;

template <class T>
void CpuBackend::scatter_add_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const {
    require(X.cols == Y.cols) << "scatter_add_rows: column counts differ";
    for (index_t r = 0; r < X.rows; ++r)
        require(rows[r] >= 0 && rows[r] < Y.rows)
            << "scatter_add_rows: row " << rows[r] << " out of range [0, " << Y.rows << ")";
    // Columns split over the threads: each output entry has one writer (rows are distinct).
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(X.rows * X.cols))
    for (index_t j = 0; j < X.cols; ++j) {
        const T* x = X.col(j);
        T* y = Y.col(j);
        for (index_t r = 0; r < X.rows; ++r) y[rows[r]] += x[r];
    }
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

#define RANKWISE_INSTANTIATE_UPDATE(T) \
    template void CpuBackend::scatter_add_rows<T>(ConstMatView<T>, const index_t*, MatView<T>) \
        const;                                                                                 \
    template void CpuBackend::from_host<T>(const T*, MatView<T>) const;                    \
    template void CpuBackend::singular_values<T>(MatView<T>, T*) const;

RANKWISE_INSTANTIATE_UPDATE(float)
RANKWISE_INSTANTIATE_UPDATE(double)
#undef RANKWISE_INSTANTIATE_UPDATE

}  // namespace rankwise
