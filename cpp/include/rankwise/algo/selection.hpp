// Row selection on a basis: DEIM, Q-DEIM and maxvol.
//
// Problem: given V (n x k, n >= k, full column rank; in practice k leading singular vectors),
// choose k distinct rows p such that V(p, :) is well conditioned, i.e. the interpolatory
// projector V (V(p, :))^{-1} applied to a row selection has a small norm eta.  The same
// kernels pick the rows of a CUR decomposition (on U) and its columns (on V), and the
// interpolation points of empirical interpolation (DEIM of Chaturantabut & Sorensen 2010).
//
// * DEIM: Sorensen & Embree, SIAM J. Sci. Comput. 2016 (arXiv:1407.5516), Algorithm 1:
//   p_1 = argmax |v_1|, then p_j = argmax |r_j| with r_j = v_j - V_{<j} V(p, <j)^{-1} v_j(p).
//   r_j restricted to the unchosen rows is column j of the Schur complement after j - 1 steps
//   of Gaussian elimination, so the greedy choice is exactly the pivot sequence of LU with
//   partial pivoting of V (ibid., Section 3): one BLAS-3 getrf, O(n k^2).
//   Bound: eta = ||V(p, :)^{-1}||_2 < sqrt(n k / 3) 2^k (Lemma 4.2); small in practice.
// * Q-DEIM: Drmac & Gugercin, SIAM J. Sci. Comput. 2016 (arXiv:1505.00370): the first k column
//   pivots of the column-pivoted QR of V^T.  eta <= sqrt(n - k + 1) sqrt(4^k + 6k - 1) / 3.
// * maxvol: Goreinov, Oseledets, Savostyanov, Tyrtyshnikov, Zamarashkin, "How to find a good
//   submatrix" (2010): from a start set, swap rows while some entry of B = V V(p, :)^{-1}
//   exceeds 1 + tol in magnitude; each swap multiplies |det V(p, :)| by that entry.  At the
//   end |B_ij| <= 1 + tol, hence eta <= sqrt(1 + (1 + tol)^2 k (n - k)).
// * strong RRQR (Gu & Eisenstat 1996) of V^T with parameter f: maxvol with tol = f - 1 from
//   the Q-DEIM start (see maxvol_from).
#pragma once

#include <cmath>
#include <utility>
#include <vector>

#include "rankwise/error.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

namespace detail {
inline void require_tall(index_t n, index_t k, const char* what) {
    require(k >= 1 && n >= k) << what << ": the basis must have 1 <= k <= n columns; got " << n
                              << " x " << k;
}
}  // namespace detail

// DEIM indices of V (n x k): k distinct rows, in the order the greedy algorithm picks them.
template <class Backend, class T>
std::vector<index_t> deim_select(const Backend& be, ConstMatView<T> V) {
    detail::require_tall(V.rows, V.cols, "DEIM");
    auto W = be.template matrix<T>(V.rows, V.cols);
    be.copy(V, W.view());
    auto perm = be.lu_partial_pivoting(W.view());
    perm.resize(static_cast<std::size_t>(V.cols));
    return perm;
}

// Q-DEIM indices of V (n x k): the first k column pivots of the pivoted QR of V^T.  With
// `transposed`, the view holds V^T (k x n) itself (a row-major V seen column-major): it is
// copied once for the QR to overwrite, where V would be copied to column-major and then
// transposed.
template <class Backend, class T>
std::vector<index_t> qdeim_select(const Backend& be, ConstMatView<T> V, bool transposed = false) {
    const index_t n = transposed ? V.cols : V.rows, k = transposed ? V.rows : V.cols;
    detail::require_tall(n, k, "Q-DEIM");
    auto Vt = be.template matrix<T>(k, n);
    if (transposed) {
        be.copy(V, Vt.view());
    } else {
        be.transpose(V, Vt.view());
    }
    auto order = be.qr_column_pivots(Vt.view());
    order.resize(static_cast<std::size_t>(k));
    return order;
}

struct MaxvolResult {
    std::vector<index_t> rows;  // k distinct rows
    index_t swaps = 0;          // row exchanges made
    double max_coefficient = 0;  // max |B_ij| at the end: <= 1 + tol once converged
};

namespace detail {
// The maxvol exchanges on B = V V(p, :)^{-1} (n x k), whose rows position[j] hold e_j^T:
// while some |B_ij| > 1 + tol, row i replaces the j-th selected row.
template <class Backend, class T>
MaxvolResult maxvol_swaps(const Backend& be, MatView<T> B, std::vector<index_t> position,
                          double tol, index_t max_swaps) {
    const index_t n = B.rows, k = B.cols;
    auto c = be.template matrix<T>(n, 1);
    auto r = be.template matrix<T>(1, k);
    MaxvolResult out;
    for (;;) {
        const auto [at, b] = be.argmax_abs(ConstMatView<T>(B));
        out.max_coefficient = std::abs(double(b));
        if (out.max_coefficient <= 1 + tol || out.swaps >= max_swaps) break;
        if (out.swaps % 64 == 0) be.check_interrupt();
        const auto [i, j] = at;
        // B <- B - B(:, j) (B(i, :) - e_j^T) / b, after which B(i, :) = e_j^T.
        be.copy(ConstMatView<T>(B.cols_range(j, 1)), c.view());
        be.copy(ConstMatView<T>(B.rows_range(i, 1)), r.view());
        be.gemm(Trans::No, Trans::No, T(-1) / b, ConstMatView<T>(c.view()),
                ConstMatView<T>(r.view()), T(1), B);
        be.add_scaled(ConstMatView<T>(c.view()), T(1) / b, B.cols_range(j, 1));
        position[j] = i;
        ++out.swaps;
    }
    out.rows = std::move(position);
    return out;
}
}  // namespace detail

// maxvol from the DEIM (= LU pivoting) start, at most `max_swaps` exchanges.
template <class Backend, class T>
MaxvolResult maxvol_select(const Backend& be, ConstMatView<T> V, double tol, index_t max_swaps) {
    detail::require_tall(V.rows, V.cols, "maxvol");
    require(tol >= 0) << "maxvol: tol must be >= 0, got " << tol;
    const index_t n = V.rows, k = V.cols;
    // B = P^T V V(p, :)^{-1} = L L_1^{-1} with P V = L U: the rows of B are in pivoted order,
    // so its first k rows are the identity and the selected positions are 0..k-1.
    auto B = be.template matrix<T>(n, k);
    be.copy(V, B.view());
    const auto perm = be.lu_partial_pivoting(B.view());
    {
        auto L1 = be.template matrix<T>(k, k);
        be.copy(ConstMatView<T>(B.view().rows_range(0, k)), L1.view());
        be.solve_right_unit_lower(ConstMatView<T>(L1.view()), B.view());
    }
    std::vector<index_t> position(static_cast<std::size_t>(k));
    for (index_t j = 0; j < k; ++j) position[j] = j;
    auto out = detail::maxvol_swaps(be, B.view(), std::move(position), tol, max_swaps);
    for (auto& row : out.rows) row = perm[row];
    return out;
}

// maxvol from given start rows (k distinct rows of V with V(start, :) nonsingular).
// With tol = f - 1 this is the strong rank-revealing QR of Gu & Eisenstat (SISC 1996,
// Algorithm 4) applied to V^T: for a k x n matrix of full row rank, R22 is empty and their
// swap test |(R11^{-1} R12)_ij| > f is the maxvol test on B^T = (V V(p, :)^{-1})^T.
template <class Backend, class T>
MaxvolResult maxvol_from(const Backend& be, ConstMatView<T> V, const std::vector<index_t>& start,
                         double tol, index_t max_swaps) {
    detail::require_tall(V.rows, V.cols, "maxvol");
    require(tol >= 0) << "maxvol: tol must be >= 0, got " << tol;
    const index_t n = V.rows, k = V.cols;
    require(static_cast<index_t>(start.size()) == k)
        << "maxvol: " << start.size() << " start rows for a basis of " << k << " columns";
    // B^T = V(p, :)^{-T} V^T: one LU solve with n right-hand sides
    auto Vp = be.template matrix<T>(k, k);
    be.gather_rows(V, start.data(), Vp.view());
    auto VpT = be.template matrix<T>(k, k);
    be.transpose(ConstMatView<T>(Vp.view()), VpT.view());
    auto X = be.template matrix<T>(k, n);
    be.transpose(V, X.view());
    be.solve(VpT.view(), X.view(), "V[start, :]");
    auto B = be.template matrix<T>(n, k);
    be.transpose(ConstMatView<T>(X.view()), B.view());
    return detail::maxvol_swaps(be, B.view(), start, tol, max_swaps);
}

}  // namespace rankwise
