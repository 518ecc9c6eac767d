// CPU backend, the primitives of row/column selection (DEIM, Q-DEIM, maxvol): pivoted
// factorizations from LAPACK, and the small loops around them.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <limits>
#include <vector>

#include "dims.hpp"
#include "parallel.hpp"
#include "recursive_lu.hpp"
#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"

namespace rankwise {

using cpu::blas_int;
using cpu::ld_of;

template <class T>
std::vector<index_t> CpuBackend::lu_partial_pivoting(MatView<T> V) const {
    const int m = blas_int(V.rows, "rows"), k = blas_int(V.cols, "columns");
    require(m >= k) << "lu_partial_pivoting: " << k << " columns exceed " << m << " rows";
    std::vector<int> ipiv(std::max(k, 1));
    // A block long enough to chunk: the recursive LU, whose GEMMs run on all threads (the
    // BLAS may be single-threaded here, rankwise/blas_threads.hpp); else getrf.
    // info > 0 (an exactly zero pivot) still leaves a valid P L U; the callers detect the
    // degenerate selection themselves.
    if (cpu::plan_block(V.rows, V.cols) == cpu::Plan::Rows) {
        cpu::recursive_lu(V, ipiv.data());
    } else {
        const int info = lapack::getrf<T>(m, k, V.data, ld_of(V.ld), ipiv.data());
        if (info < 0) throw LapackError("getrf failed, info = " + std::to_string(info));
    }
    // getrf swaps row r with row ipiv[r] - 1, in order; L's rows are already permuted.
    std::vector<index_t> perm(static_cast<std::size_t>(m));
    std::iota(perm.begin(), perm.end(), index_t(0));
    for (int r = 0; r < k; ++r) std::swap(perm[r], perm[ipiv[r] - 1]);
    for (index_t j = 0; j < V.cols; ++j) {
        for (index_t i = 0; i < j; ++i) V(i, j) = T(0);
        V(j, j) = T(1);
    }
    return perm;
}

template <class T>
std::vector<index_t> CpuBackend::qr_column_pivots(MatView<T> W) const {
    const int k = blas_int(W.rows, "rows"), n = blas_int(W.cols, "columns");
    std::vector<int> jpvt(std::max(n, 1), 0);  // 0: every column is free to move
    std::vector<T> tau(std::max(std::min(k, n), 1));
    T query{};
    int info = lapack::geqp3<T>(k, n, W.data, ld_of(W.ld), jpvt.data(), tau.data(), &query, -1);
    std::vector<T> work(static_cast<std::size_t>(std::max(T(1), query)));
    info = lapack::geqp3<T>(k, n, W.data, ld_of(W.ld), jpvt.data(), tau.data(), work.data(),
                            static_cast<int>(work.size()));
    if (info != 0) throw LapackError("geqp3 failed, info = " + std::to_string(info));
    std::vector<index_t> order(static_cast<std::size_t>(n));
    for (int j = 0; j < n; ++j) order[j] = jpvt[j] - 1;
    return order;
}

template <class T>
void CpuBackend::transpose(ConstMatView<T> X, MatView<T> Y) const {
    require(Y.rows == X.cols && Y.cols == X.rows) << "transpose: shapes do not match";
    // 64 x 64 tiles, handed out over both dimensions: a factor (N x k, k <= 64) is one
    // column of tiles, and split by columns alone it ran on one thread
    constexpr index_t tile = 64;
    const index_t row_tiles = (X.rows + tile - 1) / tile, col_tiles = (X.cols + tile - 1) / tile;
    cpu::parallel_for(row_tiles * col_tiles, cpu::worth_parallel(X.rows * X.cols), [&](index_t t) {
        const index_t i0 = (t % row_tiles) * tile, i1 = std::min(i0 + tile, X.rows);
        const index_t j0 = (t / row_tiles) * tile, j1 = std::min(j0 + tile, X.cols);
        for (index_t i = i0; i < i1; ++i)
            for (index_t j = j0; j < j1; ++j) Y(j, i) = X(i, j);
    });
}

template <class T>
void CpuBackend::solve_right_unit_lower(ConstMatView<T> L, MatView<T> B) const {
    require(L.rows == L.cols && L.cols == B.cols) << "solve_right_unit_lower: shapes differ";
    if (B.rows == 0 || B.cols == 0) return;
    lapack::trsm<T>('R', 'L', 'N', 'U', blas_int(B.rows, "rows"), blas_int(B.cols, "columns"),
                    T(1), L.data, ld_of(L.ld), B.data, ld_of(B.ld));
}

template <class T>
void CpuBackend::column_argmax_abs(ConstMatView<T> X, index_t* rows, T* values) const {
    cpu::parallel_for(X.cols, cpu::worth_parallel(X.rows * X.cols), [&](index_t j) {
        const T* x = X.col(j);
        index_t bi = 0;
        double bv = -1;  // below every magnitude: NaN entries never win
        for (index_t i = 0; i < X.rows; ++i) {
            const double v = std::abs(double(x[i]));
            if (v > bv) {
                bv = v;
                bi = i;
            }
        }
        rows[j] = bi;
        values[j] = X.rows > 0 ? x[bi] : T(0);
    });
}

template <class T>
std::pair<std::pair<index_t, index_t>, T> CpuBackend::argmax_abs(ConstMatView<T> X) const {
    require(X.rows > 0 && X.cols > 0) << "argmax_abs of an empty matrix";
    // Per column first (threads), then across columns in order: ties go to the first entry.
    std::vector<index_t> at(static_cast<std::size_t>(X.cols));
    std::vector<T> top(at.size());
    column_argmax_abs(X, at.data(), top.data());
    const auto magnitude = [&](index_t j) {  // an all-NaN column loses to every other
        return std::isnan(double(top[j])) ? -1.0 : std::abs(double(top[j]));
    };
    index_t bj = 0;
    for (index_t j = 1; j < X.cols; ++j)
        if (magnitude(j) > magnitude(bj)) bj = j;
    return {{at[bj], bj}, top[bj]};
}

template <class T>
void CpuBackend::gather_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const {
    require(Y.cols == X.cols) << "gather_rows: column counts differ";
    require_indices_in_range(rows, Y.rows, X.rows, "gather_rows", "row");
    for (index_t j = 0; j < X.cols; ++j)
        for (index_t r = 0; r < Y.rows; ++r) Y(r, j) = X(rows[r], j);
}

template <class T>
void CpuBackend::solve(MatView<T> A, MatView<T> B, const char* what) const {
    require(A.rows == A.cols && B.rows == A.rows) << "solve: shapes do not match";
    if (A.rows == 0 || B.cols == 0) return;
    const int n = blas_int(A.rows, "rows");
    std::vector<int> ipiv(static_cast<std::size_t>(n));
    const int info = lapack::gesv<T>(n, blas_int(B.cols, "columns"), A.data, ld_of(A.ld),
                                     ipiv.data(), B.data, ld_of(B.ld));
    if (info < 0) throw LapackError("gesv failed, info = " + std::to_string(info));
    require(info == 0) << what << " is singular";
    // Exact zeros are rare in floating point (dependent rows leave rounding-size pivots):
    // judge the pivots against the largest one.
    double umax = 0, umin = std::numeric_limits<double>::infinity();
    for (index_t i = 0; i < A.rows; ++i) {
        const double u = std::abs(double(A(i, i)));
        umax = std::max(umax, u);
        umin = std::min(umin, u);
    }
    require(umin > double(n) * std::numeric_limits<T>::epsilon() * umax)
        << what << " is singular to working precision (smallest LU pivot " << umin
        << ", largest " << umax << ")";
}

template <class T>
SwapBest CpuBackend::swap_search(ConstMatView<T> Bc, ConstMatView<T> Et, ConstMatView<T> sEt,
                                 ConstMatView<T> At, ConstMatView<T> Pt, const T* w,
                                 const T* gain, double noise2, double* best_per_cand) const {
    const index_t L = Bc.rows, r = Bc.cols, k = At.cols;
    require(Et.rows == L && sEt.rows == L && At.rows == L && Pt.rows == L && Et.cols == r &&
            sEt.cols == r && Pt.cols == k)
        << "swap_search: shapes do not match";
    const double eps = std::numeric_limits<T>::epsilon();
    const double span_tol = (double(r) * eps) * (double(r) * eps), den_tol = double(r) * eps;
    // per candidate: its best position and delta; combined in index order afterwards
    std::vector<index_t> best_j(static_cast<std::size_t>(L), 0);
    cpu::parallel_for(L, cpu::worth_parallel(L * (r + k)), [&](index_t i) {
        double d = 0, si = 0, nb = 0;
        for (index_t t = 0; t < r; ++t) {
            const double e = Et(i, t), b = Bc(i, t);
            d += e * e;
            si += double(sEt(i, t)) * e;
            nb += b * b;
        }
        const bool in_span = d <= std::max(span_tol * nb, noise2);
        if (in_span) d = si = 0;
        double bv = std::numeric_limits<double>::infinity();
        index_t bj = 0;
        for (index_t j = 0; j < k; ++j) {
            const double a = double(At(i, j)) / double(w[j]);
            const double p = in_span ? 0.0 : double(Pt(i, j)) / double(w[j]);
            const double g = gain[j], den = d + a * a;
            const double removed =
                den > std::max(den_tol * nb, noise2) ? (si + 2 * a * p + a * a * g) / den : 0.0;
            const double delta = g - removed;
            if (delta < bv) {
                bv = delta;
                bj = j;
            }
        }
        best_per_cand[i] = bv;
        best_j[i] = bj;
    });
    // smallest delta; ties to the smallest position j, then the smallest candidate i
    SwapBest best{0, 0, std::numeric_limits<double>::infinity()};
    for (index_t i = 0; i < L; ++i) {
        const double v = best_per_cand[i];
        if (v < best.delta || (v == best.delta && best_j[i] < best.position)) {
            best = SwapBest{best_j[i], i, v};
        }
    }
    return best;
}

#define RANKWISE_INSTANTIATE_SELECTION(T)                                                      \
    template std::vector<index_t> CpuBackend::lu_partial_pivoting<T>(MatView<T>) const;        \
    template std::vector<index_t> CpuBackend::qr_column_pivots<T>(MatView<T>) const;           \
    template void CpuBackend::transpose<T>(ConstMatView<T>, MatView<T>) const;                 \
    template void CpuBackend::solve_right_unit_lower<T>(ConstMatView<T>, MatView<T>) const;    \
    template std::pair<std::pair<index_t, index_t>, T> CpuBackend::argmax_abs<T>(              \
        ConstMatView<T>) const;                                                                \
    template void CpuBackend::column_argmax_abs<T>(ConstMatView<T>, index_t*, T*) const;      \
    template void CpuBackend::gather_rows<T>(ConstMatView<T>, const index_t*, MatView<T>) const; \
    template void CpuBackend::solve<T>(MatView<T>, MatView<T>, const char*) const;             \
    template SwapBest CpuBackend::swap_search<T>(ConstMatView<T>, ConstMatView<T>,              \
                                                 ConstMatView<T>, ConstMatView<T>,              \
                                                 ConstMatView<T>, const T*, const T*, double, \
                                                 double*) const;

RANKWISE_INSTANTIATE_SELECTION(float)
RANKWISE_INSTANTIATE_SELECTION(double)
#undef RANKWISE_INSTANTIATE_SELECTION

}  // namespace rankwise
