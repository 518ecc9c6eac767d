// LU with partial pivoting of a tall block whose BLAS-3 work runs on all threads.
//
// Inside an SVD call the BLAS is single-threaded (rankwise/blas_threads.hpp), so LAPACK's
// getrf of an m x l block (the power-step normalizer) would run on one core.  This is
// LAPACK's recursive LU (dgetrf2; Toledo, SIAM J. Matrix Anal. Appl. 18(4), 1997):
// factor the left half of the columns, apply its row swaps and L11^-1 to the right half,
// subtract L21 U12 from the rest (one GEMM with m - n1 rows), factor the right half, and
// apply its swaps to the left half.  Blocks of at most `leaf_cols` columns go to getrf on
// one thread.  Same output as getrf: L (unit lower, implicit diagonal) and U packed in Y,
// 1-based pivots.  The pivots are those of partial pivoting; only the order of the
// floating-point updates differs from getrf's, so they agree up to rounding (and up to
// ties between pivot candidates).
//
// The whole factorization is one OpenMP region: one thread walks the recursion and hands
// the row chunks of each GEMM out as tasks, then waits for those tasks only (taskwait),
// running them itself if the other threads are busy.  A region per GEMM would end in a
// barrier each, and on cores shared with other processes every barrier waits for a
// descheduled thread (cpu/parallel.hpp): on the loaded 2-core development machine that
// made the 8000 x 210 float LU (seven GEMMs) five times slower than getrf on one thread.
#pragma once

#include <omp.h>

#include <string>

#include "dims.hpp"
#include "rankwise/blas_threads.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"
#include "tall_skinny.hpp"

namespace rankwise::cpu {

// Columns per getrf leaf: narrow enough that the serial leaves are a small share of the
// O(m l^2) work, wide enough that the GEMMs are BLAS-3 calls worth making.
inline constexpr index_t kLuLeafCols = 32;

namespace detail {

// A22 -= L21 U12, in row chunks as tasks (when `tasks`), else in one BLAS call.
template <class T>
void subtract_product(ConstMatView<T> L21, ConstMatView<T> U12, MatView<T> A22, bool tasks) {
    const index_t rows = A22.rows, k = L21.cols;
    const auto part = [&](index_t r0, index_t n) {
        blas_gemm(Trans::No, Trans::No, T(-1), L21.rows_range(r0, n), U12, T(1),
                  A22.rows_range(r0, n), k);
    };
    if (!tasks || plan_product(rows, A22.cols, k) != Plan::Rows) return part(0, rows);
    const RowChunks chunks = row_chunks(rows, chunk_min_rows(k));
    for (index_t c = 0; c < chunks.count; ++c) {
#pragma omp task firstprivate(c) shared(part, chunks)
        part(chunks.begin(c), chunks.size(c));
    }
#pragma omp taskwait
}

// Factors columns [c, c + n) of Y, rows [c, m): pivots ipiv[c..c+n) (1-based, global rows).
// Returns getrf's info for those columns in global numbering (first zero pivot's column
// + 1, or 0; negative for an invalid argument).  Throws nothing (it runs in an OpenMP
// region); the caller has checked that every size fits the BLAS's int.
template <class T>
int lu_columns(MatView<T> Y, int* ipiv, index_t c, index_t n, index_t leaf_cols, bool tasks) {
    const int m = static_cast<int>(Y.rows), ld = static_cast<int>(Y.ld);
    const int ci = static_cast<int>(c), ni = static_cast<int>(n);
    if (n <= leaf_cols) {
        const int info = lapack::getrf<T>(m - ci, ni, &Y(c, c), ld, ipiv + c);
        for (int j = ci; j < ci + ni; ++j) ipiv[j] += ci;
        return info > 0 ? info + ci : info;
    }
    const int n1 = ni / 2, n2 = ni - n1, c2 = ci + n1;
    const int info1 = lu_columns(Y, ipiv, c, n1, leaf_cols, tasks);
    // Right half: the left half's swaps, then U12 = L11^-1 A12, A22 -= L21 U12.
    lapack::laswp<T>(n2, &Y(0, c2), ld, ci + 1, c2, ipiv, 1);
    lapack::trsm<T>('L', 'L', 'N', 'U', n1, n2, T(1), &Y(c, c), ld, &Y(c, c2), ld);
    const MatView<T> below = Y.rows_range(c2, m - c2);  // m - c2 >= n2 >= 1 rows
    subtract_product(ConstMatView<T>(below.cols_range(c, n1)),
                     ConstMatView<T>(Y.rows_range(c, n1).cols_range(c2, n2)),
                     below.cols_range(c2, n2), tasks);
    const int info2 = lu_columns(Y, ipiv, c2, n2, leaf_cols, tasks);
    // Left half: the right half's swaps.
    lapack::laswp<T>(n1, &Y(0, c), ld, c2 + 1, ci + ni, ipiv, 1);
    return info1 != 0 ? info1 : info2;
}

}  // namespace detail

// Y (m x l, l <= m) = P L U in place, as getrf(m, l, Y, ipiv) would leave it; ipiv has l
// entries.  Returns getrf's info (0, or j > 0 when U(j, j) is exactly zero).  Chunked over
// the OpenMP threads where the BLAS thread count can be set (else whole BLAS calls).
template <class T>
int recursive_lu(MatView<T> Y, int* ipiv, index_t leaf_cols = kLuLeafCols) {
    require(Y.cols <= Y.rows && leaf_cols >= 1)
        << "recursive_lu: need cols <= rows and leaf_cols >= 1, got a " << Y.rows << " x "
        << Y.cols << " block and leaf_cols = " << leaf_cols;
    blas_int(Y.rows, "rows");
    ld_of(Y.ld);
    if (Y.cols == 0) return 0;
    int info = 0;
    if (!serial_blas_available()) {
        info = detail::lu_columns(Y, ipiv, 0, Y.cols, leaf_cols, false);
    } else {
        const SerialBlas serial;
#pragma omp parallel
#pragma omp single
        info = detail::lu_columns(Y, ipiv, 0, Y.cols, leaf_cols, true);
    }
    if (info < 0) throw LapackError("getrf failed, info = " + std::to_string(info));
    return info;
}

}  // namespace rankwise::cpu
