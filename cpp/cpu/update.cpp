// CPU backend, primitives of the updating truncated SVD (algo/svd_update.hpp).
#include <omp.h>

#include <algorithm>

#include "parallel.hpp"
#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"

namespace rankwise {

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

#define RANKWISE_INSTANTIATE_UPDATE(T) \
    template void CpuBackend::scatter_add_rows<T>(ConstMatView<T>, const index_t*, MatView<T>) \
        const;                                                                                 \
    template void CpuBackend::from_host<T>(const T*, MatView<T>) const;

RANKWISE_INSTANTIATE_UPDATE(float)
RANKWISE_INSTANTIATE_UPDATE(double)
#undef RANKWISE_INSTANTIATE_UPDATE

}  // namespace rankwise
