// DEIM points of a tall basis by blocks of columns, reading U in place (left-looking).
//
// Problem: the DEIM points of U (n x m, n >> m; Chaturantabut & Sorensen 2010), which are the
// row pivots of LU with partial pivoting of U (Sorensen & Embree 2016, Section 3), without a
// working copy of U: for n = 1e6, m = 100 that copy is 800 MB, whose first touch alone costs
// more than the factorization on machines with slow page faults.
//
// For a block of columns J = [j0, j0 + b), with the points p chosen for the columns before it,
//   W = U[:, J] - U[:, :j0] U[p, :j0]^{-1} U[p, J]      (one GEMM, n x b x j0)
// is the interpolation residual of U[:, J] on the points so far, i.e. the columns J of the
// Schur complement after j0 steps of Gaussian elimination, zero on the rows p (set exactly to
// zero here, as elimination leaves them).  Partial pivoting continued on W picks the same
// rows as partial pivoting of U would: the next b points are the pivots of LU of W (n x b).
// The LU of the panel W is itself a DEIM problem (its points are W's LU pivots), so it can
// be solved the same way with the next, smaller block size; the last level is LU with
// partial pivoting (on the 2-core development machine one level of 16 was fastest at
// 1e6 x 100: the extra copies of a second level cost more than they save).
// Work: n m^2 flops as for LU of U; extra memory: n x (sum of the block sizes).
//
// A row-major U (numpy's default order) is read as its transpose Ut (m x n column-major,
// the same memory): a block's columns are copied out of Ut by a transpose, the GEMM reads
// Ut[:j0, :] transposed and the selected rows of U are columns of Ut, so that neither
// order needs an n x m copy.  Only the outermost level reads U; the panels are
// column-major.
#pragma once

#include <algorithm>
#include <vector>

#include "rankwise/algo/selection.hpp"
#include "rankwise/algo/thread_tuner.hpp"
#include "rankwise/error.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

namespace detail {
// U (n x m), or its transpose when `transposed` (then U.rows = m, U.cols = n).
template <class Backend, class T>
std::vector<index_t> deim_blocked_level(const Backend& be, ConstMatView<T> U,
                                        const index_t* blocks, index_t levels,
                                        bool transposed = false) {
    const index_t n = transposed ? U.cols : U.rows, m = transposed ? U.rows : U.cols;
    const index_t b = std::min(blocks[0], m);
    std::vector<index_t> points;
    points.reserve(static_cast<std::size_t>(m));
    auto Up = be.template matrix<T>(m, m);  // row r: U[points[r], :]
    auto W = be.template matrix<T>(n, b);
    for (index_t j0 = 0; j0 < m; j0 += b) {
        const index_t bj = std::min(b, m - j0);
        auto Wv = W.view().cols_range(0, bj);
        if (transposed) {
            be.transpose(U.rows_range(j0, bj), Wv);
        } else {
            be.copy(U.cols_range(j0, bj), Wv);
        }
        if (j0 > 0) {
            // C = U[p, :j0]^{-1} U[p, J];  W -= U[:, :j0] C
            auto A = be.template matrix<T>(j0, j0);
            auto C = be.template matrix<T>(j0, bj);
            be.copy(ConstMatView<T>(Up.view().rows_range(0, j0).cols_range(0, j0)), A.view());
            be.copy(ConstMatView<T>(Up.view().rows_range(0, j0).cols_range(j0, bj)), C.view());
            be.solve(A.view(), C.view(), "U[points, :]");
            if (transposed) {
                be.gemm(Trans::Yes, Trans::No, T(-1), U.rows_range(0, j0),
                        ConstMatView<T>(C.view()), T(1), Wv);
            } else {
                be.gemm(Trans::No, Trans::No, T(-1), U.cols_range(0, j0),
                        ConstMatView<T>(C.view()), T(1), Wv);
            }
            be.zero_rows(Wv, points.data(), j0);
        }
        // the next bj points: the LU pivots of the panel W
        std::vector<index_t> next;
        if (levels > 1 && blocks[1] < bj) {
            next = deim_blocked_level(be, ConstMatView<T>(Wv), blocks + 1, levels - 1);
        } else {
            next = be.lu_partial_pivoting(Wv);
            next.resize(static_cast<std::size_t>(bj));
        }
        points.insert(points.end(), next.begin(), next.end());
        if (transposed) {  // row p of U is column p of Ut
            for (index_t r = j0; r < j0 + bj; ++r)
                be.transpose(U.cols_range(points[r], 1), Up.view().rows_range(r, 1));
        } else {
            be.gather_rows(U, points.data() + j0, Up.view().rows_range(j0, bj));
        }
        be.check_interrupt();
    }
    return points;
}
}  // namespace detail

// DEIM points of U (n x m) with block sizes blocks[0] > blocks[1] > ... (levels entries);
// with `transposed`, U is given as Ut = U^T (m x n), e.g. a row-major U's own memory.
template <class Backend, class T>
std::vector<index_t> deim_select_blocked(const Backend& be, ConstMatView<T> U,
                                         const index_t* blocks, index_t levels,
                                         bool transposed = false) {
    if (transposed) {
        detail::require_tall(U.cols, U.rows, "DEIM");
    } else {
        detail::require_tall(U.rows, U.cols, "DEIM");
    }
    require(levels >= 1) << "DEIM: no block sizes";
    for (index_t l = 0; l < levels; ++l)
        require(blocks[l] >= 1) << "DEIM: block sizes must be >= 1, got " << blocks[l];
    // small problems finish faster than a parallel region takes to gather a team
    const OneThreadIf<Backend> serial(be, U.rows * U.cols < (index_t{1} << 20));
    return detail::deim_blocked_level(be, U, blocks, levels, transposed);
}

}  // namespace rankwise
