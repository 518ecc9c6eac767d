// LU with partial pivoting of a tall block whose BLAS-3 work runs on all threads.
//
// Inside an SVD call the BLAS is single-threaded (rankwise/blas_threads.hpp), so LAPACK's
// getrf of an m x l block (the power-step normalizer) would run on one core.  This is
// LAPACK's recursive LU (dgetrf2; Toledo, SIAM J. Matrix Anal. Appl. 18(4), 1997):
// factor the left half of the columns, apply its row swaps and L11^-1 to the right half,
// subtract L21 U12 from the rest (one GEMM with m - n1 rows, chunked over the OpenMP
// threads by CpuBackend::gemm), factor the right half, and apply its swaps to the left
// half.  Blocks of at most `leaf_cols` columns go to getrf on the calling thread.  Same
// output as getrf: L (unit lower, implicit diagonal) and U packed in Y, 1-based pivots.
// The pivots are those of partial pivoting; only the order of the floating-point updates
// differs from getrf's, so they agree up to rounding (and up to ties between candidates).
#pragma once

#include <algorithm>
#include <string>

#include "dims.hpp"
#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"

namespace rankwise::cpu {

// Columns per getrf leaf: narrow enough that the serial leaves are a small share of the
// O(m l^2) work, wide enough that the chunked GEMMs are BLAS-3 calls worth making.
inline constexpr index_t kLuLeafCols = 32;

namespace detail {

// Factors columns [c, c + n) of Y, rows [c, m): pivots ipiv[c..c+n) (1-based, global rows).
// Returns the first zero pivot's global column + 1, or 0 (getrf's info > 0 convention).
template <class T>
int lu_columns(const CpuBackend& be, MatView<T> Y, int* ipiv, index_t c, index_t n,
               index_t leaf_cols) {
    const index_t m = Y.rows;
    const int ld = ld_of(Y.ld);
    if (n <= leaf_cols) {
        const int info = lapack::getrf<T>(blas_int(m - c, "rows"), blas_int(n, "columns"),
                                          &Y(c, c), ld, ipiv + c);
        if (info < 0) throw LapackError("getrf failed, info = " + std::to_string(info));
        for (index_t j = c; j < c + n; ++j) ipiv[j] += static_cast<int>(c);
        return info > 0 ? info + static_cast<int>(c) : 0;
    }
    const index_t n1 = n / 2, n2 = n - n1, c2 = c + n1;
    const int info1 = lu_columns(be, Y, ipiv, c, n1, leaf_cols);
    // Right half: the left half's swaps, then U12 = L11^-1 A12, A22 -= L21 U12.
    lapack::laswp<T>(blas_int(n2, "columns"), &Y(0, c2), ld, blas_int(c + 1, "row"),
                     blas_int(c2, "row"), ipiv, 1);
    lapack::trsm<T>('L', 'L', 'N', 'U', blas_int(n1, "rows"), blas_int(n2, "columns"), T(1),
                    &Y(c, c), ld, &Y(c, c2), ld);
    const MatView<T> below = Y.rows_range(c2, m - c2);  // m - c2 >= n2 >= 1 rows
    be.gemm(Trans::No, Trans::No, T(-1), ConstMatView<T>(below.cols_range(c, n1)),
            ConstMatView<T>(Y.rows_range(c, n1).cols_range(c2, n2)), T(1),
            below.cols_range(c2, n2));
    const int info2 = lu_columns(be, Y, ipiv, c2, n2, leaf_cols);
    // Left half: the right half's swaps.
    lapack::laswp<T>(blas_int(n1, "columns"), &Y(0, c), ld, blas_int(c2 + 1, "row"),
                     blas_int(c + n, "row"), ipiv, 1);
    return info1 != 0 ? info1 : info2;
}

}  // namespace detail

// Y (m x l, l <= m) = P L U in place, as getrf(m, l, Y, ipiv) would leave it; ipiv has l
// entries.  Returns getrf's info (0, or j > 0 when U(j, j) is exactly zero).
template <class T>
int recursive_lu(const CpuBackend& be, MatView<T> Y, int* ipiv,
                 index_t leaf_cols = kLuLeafCols) {
    require(Y.cols <= Y.rows && leaf_cols >= 1)
        << "recursive_lu: need cols <= rows and leaf_cols >= 1, got a " << Y.rows << " x "
        << Y.cols << " block and leaf_cols = " << leaf_cols;
    if (Y.cols == 0) return 0;
    return detail::lu_columns(be, Y, ipiv, 0, Y.cols, leaf_cols);
}

}  // namespace rankwise::cpu
