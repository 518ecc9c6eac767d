// Dense symmetric products from the upper triangle (rankwise/symmetric.hpp).
#include "rankwise/symmetric.hpp"

#include <algorithm>
#include <cmath>

#include "rankwise/error.hpp"
#include "isa.hpp"
#include "parallel.hpp"

namespace rankwise {
namespace {

// Columns [j0, j1) of the upper triangle: y[0:j] += A[0:j, j] x[j] and
// y[j] += A[0:j, j] . x[0:j] + A[j, j] x[j], each element of the triangle read once.  By
// panels of four columns, so that the rows above a panel load and store y once for four
// columns (one column at a time, the read-modify-write of y bounded the loop: 11 ms on
// one core for n = 4000 against the whole-matrix gemv's 6.3 ms).
template <class T>
inline __attribute__((always_inline)) void upper_columns_body(ConstMatView<T> A,
                                                              const T* __restrict x,
                                                              T* __restrict y, index_t j0,
                                                              index_t j1) {
    index_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const T* __restrict a0 = A.col(j);
        const T* __restrict a1 = A.col(j + 1);
        const T* __restrict a2 = A.col(j + 2);
        const T* __restrict a3 = A.col(j + 3);
        const T x0 = x[j], x1 = x[j + 1], x2 = x[j + 2], x3 = x[j + 3];
        T d0 = 0, d1 = 0, d2 = 0, d3 = 0;
#pragma omp simd reduction(+ : d0, d1, d2, d3)
        for (index_t i = 0; i < j; ++i) {  // the rows above the panel
            const T xi = x[i];
            y[i] += a0[i] * x0 + a1[i] * x1 + a2[i] * x2 + a3[i] * x3;
            d0 += a0[i] * xi;
            d1 += a1[i] * xi;
            d2 += a2[i] * xi;
            d3 += a3[i] * xi;
        }
        // the panel's own triangle: rows j .. j + 3
        const T* cols[4] = {a0, a1, a2, a3};
        T dots[4] = {d0, d1, d2, d3};
        for (index_t c = 0; c < 4; ++c) {
            const index_t jc = j + c;
            for (index_t i = j; i < jc; ++i) {
                y[i] += cols[c][i] * x[jc];
                dots[c] += cols[c][i] * x[i];
            }
            y[jc] += dots[c] + cols[c][jc] * x[jc];
        }
    }
    for (; j < j1; ++j) {
        const T* __restrict a = A.col(j);
        const T xj = x[j];
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (index_t i = 0; i < j; ++i) {
            y[i] += a[i] * xj;
            dot += a[i] * x[i];
        }
        y[j] += dot + a[j] * xj;
    }
}

#define RANKWISE_SYMMETRIC_KERNELS(T)                                                        \
    RANKWISE_ISA_CLONES void upper_columns(ConstMatView<T> A, const T* x, T* y, index_t j0, \
                                           index_t j1) {                                    \
        upper_columns_body(A, x, y, j0, j1);                                                 \
    }
RANKWISE_SYMMETRIC_KERNELS(float)
RANKWISE_SYMMETRIC_KERNELS(double)
#undef RANKWISE_SYMMETRIC_KERNELS

// First column of part p of `parts` when the upper triangle is cut into parts of about
// equal area (column j holds j + 1 entries): n sqrt(p / parts).
index_t triangle_split(index_t n, index_t p, index_t parts) {
    if (p >= parts) return n;
    const double at = double(n) * std::sqrt(double(p) / double(parts));
    return std::min(n, static_cast<index_t>(std::llround(at)));
}

// The parts of the triangle (fixed, so the sums below do not depend on the thread count).
constexpr index_t kParts = 8;

}  // namespace

namespace cpu {

template <class T>
bool is_symmetric(ConstMatView<T> A) {
    require(A.rows == A.cols) << "is_symmetric: A must be square";
    const index_t n = A.rows;
    constexpr index_t tile = 64;  // compare tile (I, J) with tile (J, I): both in cache
    bool symmetric = true;
#pragma omp parallel for schedule(dynamic, 1) reduction(&& : symmetric) if (worth_parallel(n * n))
    for (index_t J = 0; J < n; J += tile) {
        for (index_t I = 0; I <= J && symmetric; I += tile) {
            const index_t i1 = std::min(n, I + tile), j1 = std::min(n, J + tile);
            for (index_t j = J; j < j1; ++j)
                for (index_t i = I; i < std::min(i1, j); ++i)
                    symmetric = symmetric && A(i, j) == A(j, i);
        }
    }
    return symmetric;
}

template <class T>
void symmetric_upper_mm(ConstMatView<T> A, ConstMatView<T> X, MatView<T> Y) {
    const index_t n = A.rows;
    require(A.cols == n && X.rows == n && Y.rows == n && X.cols == Y.cols)
        << "symmetric product: shapes differ";
    // Part p (columns [bound[p], bound[p + 1])) accumulates rows [0, bound[p + 1]) into
    // its own n-vector; the parts are added in order.
    index_t bound[kParts + 1];
    for (index_t p = 0; p <= kParts; ++p) bound[p] = triangle_split(n, p, kParts);
    std::vector<T> partial(static_cast<std::size_t>(kParts * n));
    for (index_t c = 0; c < X.cols; ++c) {
        const T* x = X.col(c);
#pragma omp parallel for schedule(dynamic, 1) if (worth_parallel(n * n / 2))
        for (index_t p = 0; p < kParts; ++p) {
            T* y = partial.data() + p * n;
            std::fill(y, y + bound[p + 1], T(0));
            upper_columns(A, x, y, bound[p], bound[p + 1]);
        }
        T* out = Y.col(c);
        cpu::parallel_for(n, worth_parallel(n * kParts), [&](index_t i) {
            T sum = 0;
            for (index_t p = 0; p < kParts; ++p)
                if (i < bound[p + 1]) sum += partial[p * n + i];
            out[i] = sum;
        });
    }
}

template bool is_symmetric<float>(ConstMatView<float>);
template bool is_symmetric<double>(ConstMatView<double>);
template void symmetric_upper_mm<float>(ConstMatView<float>, ConstMatView<float>,
                                        MatView<float>);
template void symmetric_upper_mm<double>(ConstMatView<double>, ConstMatView<double>,
                                         MatView<double>);

}  // namespace cpu
}  // namespace rankwise
