// What the SVD drivers return, and the step they all end with: from an orthonormal basis Q
// of (approximately) the range of A to the SVD of Q Q^T A.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"
#include "rankwise/philox.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

template <class Backend, class T>
struct SvdFactors {
    using Matrix = typename Backend::template Matrix<T>;
    Matrix U;          // m x r, orthonormal columns
    std::vector<T> s;  // r singular values, descending (host memory)
    Matrix V;          // n x r, orthonormal columns (its storage is V^T in row-major order)
    index_t passes = 0;  // products with A or A^T, each with a block of vectors
    // Fixed-precision and iterative drivers: relative error reached and whether the
    // requested accuracy was met.
    double relative_error = std::numeric_limits<double>::quiet_NaN();
    bool converged = true;
    index_t iterations = 0;
};

// The SVD of Q W^T, Q (p x L) with orthonormal columns, W (t x L), L <= t: with the thin SVD
// W = Uw diag(s) Xt, Q W^T = (Q Xt^T) diag(s) Uw^T.  The leading r triplets are kept:
// U = Q Xt(0:r, :)^T (p x r), V = Uw(:, 0:r) (t x r).  W is destroyed.
template <class Backend, class T>
SvdFactors<Backend, T> svd_of_product(const Backend& be, ConstMatView<T> Q, MatView<T> W,
                                      index_t r, SvdDriver driver) {
    const index_t L = Q.cols;
    SvdFactors<Backend, T> out;
    out.V = be.template matrix<T>(W.rows, L);
    auto Xt = be.template matrix<T>(L, L);
    std::vector<T> s(static_cast<std::size_t>(L));
    be.svd(W, out.V.view(), s.data(), Xt.view(), driver);
    out.V.truncate_cols(r);
    out.U = be.template matrix<T>(Q.rows, r);
    be.gemm(Trans::No, Trans::Yes, T(1), Q, ConstMatView<T>(Xt.view().rows_range(0, r)), T(0),
            out.U.view());
    s.resize(static_cast<std::size_t>(r));
    out.s = std::move(s);
    return out;
}

// The same SVD where the columns of W lie in range(E), E (t x L') with orthonormal columns,
// L' >= L (a Krylov basis holding the products): W = E C with C = E^T W, so Q W^T =
// (Q C^T) E^T, and the SVD of Q C^T (above: an L' x L SVD) gives V = E Uc.  One t x L' x L
// product and a small SVD instead of the QR of the tall W; only r columns of E Uc are formed.
template <class Backend, class T>
SvdFactors<Backend, T> svd_of_product_in(const Backend& be, ConstMatView<T> Q,
                                         ConstMatView<T> W, ConstMatView<T> E, index_t r,
                                         SvdDriver driver) {
    auto C = be.template matrix<T>(E.cols, Q.cols);
    be.gemm(Trans::Yes, Trans::No, T(1), E, W, T(0), C.view());
    auto out = svd_of_product(be, Q, C.view(), r, driver);
    auto V = be.template matrix<T>(E.rows, r);
    be.gemm(Trans::No, Trans::No, T(1), E, ConstMatView<T>(out.V.view()), T(0), V.view());
    out.V = std::move(V);
    return out;
}

// Rayleigh-Ritz on the left subspace: Q Q^T A = Q W^T with W = A^T Q, one pass (Halko,
// Martinsson, Tropp 2011, Algorithm 5.1).  Q is m x L with L <= n; W (n x L) is storage for
// A^T Q, destroyed; the leading r triplets.
template <class Backend, class T>
SvdFactors<Backend, T> svd_from_range(const Backend& be, const LinearOp<T>& A,
                                      ConstMatView<T> Q, MatView<T> W, index_t r,
                                      SvdDriver driver) {
    A.apply(Trans::Yes, Q, W);  // one pass: W = A^T Q
    auto out = svd_of_product(be, Q, W, r, driver);
    out.passes = 1;
    return out;
}

// +1 or -1 per column of U: the sign of its entry of largest magnitude (the first, on a tie;
// +1 for a zero or all-NaN column), so that U diag(signs) and V diag(signs) are the factors
// with scikit-learn's svd_flip(u_based_decision=True) convention.  One pass over U.
template <class Backend, class T>
std::vector<T> largest_entry_signs(const Backend& be, ConstMatView<T> U) {
    const auto k = static_cast<std::size_t>(U.cols);
    std::vector<index_t> rows(k);
    std::vector<T> top(k), signs(k, T(1));
    be.column_argmax_abs(U, rows.data(), top.data());
    for (std::size_t j = 0; j < k; ++j)
        if (top[j] < T(0)) signs[j] = T(-1);
    return signs;
}

// U diag(signs) and V diag(signs) in place, signs = largest_entry_signs(U): the sign
// convention of rankwise.svd.  One scaling pass per factor, and none where no sign flips.
template <class Backend, class T>
void flip_signs(const Backend& be, MatView<T> U, MatView<T> V) {
    const std::vector<T> signs = largest_entry_signs(be, ConstMatView<T>(U));
    if (std::all_of(signs.begin(), signs.end(), [](T x) { return x > T(0); })) return;
    be.scale_columns(ConstMatView<T>(U), signs.data(), U);
    be.scale_columns(ConstMatView<T>(V), signs.data(), V);
}

// The eigendecomposition of G (l x l), a symmetric positive semidefinite matrix up to
// rounding: G is symmetrized (destroyed) and decomposed by its SVD, which for a
// semidefinite matrix is its eigendecomposition (a rounding-level negative eigenvalue comes
// back as its magnitude, with its eigenvector in P).  P (l x l): eigenvectors; lambda (l
// values, descending).
template <class Backend, class T>
void semidefinite_eig(const Backend& be, MatView<T> G, MatView<T> P, T* lambda) {
    const index_t l = G.rows;
    auto Gt = be.template matrix<T>(l, l);
    be.transpose(ConstMatView<T>(G), Gt.view());
    be.axpby(T(0.5), ConstMatView<T>(Gt.view()), T(0.5), G);
    auto Pt = be.template matrix<T>(l, l);  // (the SVD's right factor: P again)
    be.svd(G, P, lambda, Pt.view(), SvdDriver::Gesdd);
}

// The eigendecomposition of the Rayleigh quotient X^T H X of a symmetric positive
// semidefinite H, given X (t x l, orthonormal columns) and HX = H X (semidefinite_eig of
// X^T HX, which rounding leaves slightly unsymmetric).
template <class Backend, class T>
void rayleigh_quotient_eig(const Backend& be, ConstMatView<T> X, ConstMatView<T> HX,
                           MatView<T> P, T* lambda) {
    const index_t l = X.cols;
    auto G = be.template matrix<T>(l, l);
    be.gemm(Trans::Yes, Trans::No, T(1), X, HX, T(0), G.view());
    semidefinite_eig(be, G.view(), P, lambda);
}

// Whether Y, with G = Y^T Y (l x l, column-major, on the host), is well enough conditioned
// that orthonormalizing it (Y R^{-1}, G = R^T R) magnifies what it still holds of another
// space at most `bound` times: the Cholesky factor exists and ||R^{-1}||_F <= bound (an upper
// bound on ||R^{-1}||_2).  In double, whatever T.
template <class T>
bool orthonormalizing_magnifies_at_most(const std::vector<T>& G, index_t l, double bound) {
    const auto at = [l](index_t i, index_t j) { return static_cast<std::size_t>(i + j * l); };
    std::vector<double> R(static_cast<std::size_t>(l * l), 0.0);
    for (index_t j = 0; j < l; ++j) {
        for (index_t i = 0; i <= j; ++i) {
            double v = double(G[at(i, j)]);
            for (index_t p = 0; p < i; ++p) v -= R[at(p, i)] * R[at(p, j)];
            if (i < j) {
                R[at(i, j)] = v / R[at(i, i)];
            } else {
                if (!(v > 0)) return false;
                R[at(j, j)] = std::sqrt(v);
            }
        }
    }
    // ||R^{-1}||_F^2, column by column of R^{-1} (back substitution on the unit vectors).
    double sum = 0;
    std::vector<double> x(static_cast<std::size_t>(l));
    for (index_t c = 0; c < l; ++c) {
        for (index_t i = l - 1; i >= 0; --i) {
            double v = i == c ? 1.0 : 0.0;
            for (index_t p = i + 1; p < l; ++p) v -= R[at(i, p)] * x[static_cast<std::size_t>(p)];
            x[static_cast<std::size_t>(i)] = v / R[at(i, i)];
            sum += x[static_cast<std::size_t>(i)] * x[static_cast<std::size_t>(i)];
        }
        if (!(sum <= bound * bound)) return false;
    }
    return true;
}

// Orthogonality to Q within this level of a column's norm is rounding (q_rows: Q's rows).
template <class T>
double orthogonality_level(index_t q_rows) {
    return 4 * double(std::numeric_limits<T>::epsilon()) * std::sqrt(double(q_rows));
}
// A column that one projection onto Q leaves below this fraction of its norm lay inside
// range(Q): the projection of such a column leaves 2-4 eps of it, whatever the rows
// (float32, Q of 96 columns on 300 to 1e5 rows, measured 2026-11-28), so 32 eps leaves a
// margin of 8 or more.  The level was 64 orthogonality_level (256 eps sqrt(rows)): 4.5e-4
// in float32 on 220 rows, 0.008 on 1e6, where genuine directions lie (the Krylov blocks of
// a near-isometry add 3e-4 of their norm: svds on 200 singular values within 1e-3 stalled
// at 25-45 rounding units on 220 rows and 130-140 on 3000, now 1-3).
template <class T>
double inside_span_level() {
    return 32 * double(std::numeric_limits<T>::epsilon());
}

// The check below costs a read of Q; it is skipped where the block that the second projection
// leaves is well conditioned (orthonormalizing it magnifies its rounding-level components
// along Q at most kCheckFreeMagnification times: far below `tiny` on the rows below) and
// narrow (kCheckFreeMaxCols: a wider orthonormal block's ||R^{-1}||_F, sqrt(l), is already
// above the bound).  A sparse svds spends about 65% of its time in this function; without
// the check it took 3-7% less (the check fired on none of 2400 blocks of 4).
inline constexpr double kCheckFreeMagnification = 4;
inline constexpr index_t kCheckFreeMaxCols = 16;
inline constexpr index_t kCheckFreeMinRows = 1024;

// orthonormalizing_magnifies_at_most(Y^T Y, ..., kCheckFreeMagnification), the Gram matrix
// formed by the backend and read on the host.
template <class Backend, class T>
bool well_conditioned_for_orthonormalizing(const Backend& be, ConstMatView<T> Y) {
    auto G = be.template matrix<T>(Y.cols, Y.cols);
    be.gemm(Trans::Yes, Trans::No, T(1), Y, Y, T(0), G.view());
    return orthonormalizing_magnifies_at_most(be.to_host(G.data(), Y.cols * Y.cols), Y.cols,
                                              kCheckFreeMagnification);
}

// Y <- Y - Q (Q^T Y) twice, then orthonormalize, again until Q^T Y is at rounding level
// (block classical Gram-Schmidt with reorthogonalization, "twice is enough" in the usual case:
// Giraud, Langou & Rozloznik 2005; checked by a third product unless the block is well
// conditioned, above).
// A column that the first projection leaves at the rounding level of its norm lay inside
// range(Q) (a Krylov block of an exactly low-rank A, an update inside the factor's span):
// what is left of it is rounding noise, which can keep pointing along Q however often it is
// projected (a 12 x 12 rank-1 A gave K = [q, q], found by fuzzing), so a random direction
// takes its place.  Between the two projections the columns are only scaled to unit norm
// (their norms are at hand; one orthonormalization per block instead of two: the sparse
// block Krylov 10% faster, svds 5%); a block still not orthogonal to Q after the second (an
// ill-conditioned one, whose orthonormalization amplified what the projections left) goes
// round again.  Y ends orthonormal and orthogonal to Q.  With `q_layout` Trans::Yes the view
// holds Q^T (a row-major Q, as the SVD updater keeps its factors).  Where `projection` is
// given (Q's columns x Y's), it receives Q^T Y of the Y passed in.  Returns whether random
// directions took the place of any of Y's.
template <class Backend, class T>
bool orthonormalize_against(const Backend& be, ConstMatView<T> Q, MatView<T> Y, Ortho how,
                            Trans q_layout = Trans::No, MatView<T> projection = {}) {
    const bool qt = q_layout == Trans::Yes;
    const index_t q_rows = qt ? Q.cols : Q.rows, q_cols = qt ? Q.rows : Q.cols;
    if (q_cols == 0) {
        be.orthonormalize(Y, how);
        return false;
    }
    require(projection.data == nullptr ||
            (projection.rows == q_cols && projection.cols == Y.cols))
        << "orthonormalize_against: the projection's shape differs from Q^T Y's";
    // C = Q^T Y and Y -= Q C, whichever layout holds Q
    const Trans q_t = qt ? Trans::No : Trans::Yes, q_n = qt ? Trans::Yes : Trans::No;
    const double tiny = orthogonality_level<T>(q_rows), inside = inside_span_level<T>();
    auto C = be.template matrix<T>(q_cols, Y.cols);
    std::vector<double> before(static_cast<std::size_t>(Y.cols)), after(before.size());
    be.column_norms(ConstMatView<T>(Y), before.data());
    be.gemm(q_t, Trans::No, T(1), Q, ConstMatView<T>(Y), T(0), C.view());
    if (projection.data != nullptr) be.copy(ConstMatView<T>(C.view()), projection);
    be.gemm(q_n, Trans::No, T(-1), Q, ConstMatView<T>(C.view()), T(1), Y);
    be.column_norms(ConstMatView<T>(Y), after.data());
    // The stream depends on Q's width too: a later call (the next Krylov block) must not
    // draw the directions that an earlier one drew, which are in its Q by now.
    const auto first = static_cast<std::uint64_t>(q_cols) << 32;
    std::vector<T> inverse(static_cast<std::size_t>(Y.cols));
    bool replaced = false;
    for (index_t j = 0; j < Y.cols; ++j) {
        // (also a zero column: nothing to keep)
        if (!(after[j] > inside * before[j])) {
            be.fill_normal(Y.cols_range(j, 1), philox::Key{0x6f7274686f676f6eULL, 0},
                           first + static_cast<std::uint64_t>(j));
            replaced = true;
        } else {
            inverse[static_cast<std::size_t>(j)] = T(1 / after[j]);
        }
    }
    if (replaced) {
        be.orthonormalize(Y, how);
    } else {
        be.scale_columns(ConstMatView<T>(Y), inverse.data(), Y);
    }
    for (int pass = 1; pass < 8; ++pass) {
        be.gemm(q_t, Trans::No, T(1), Q, ConstMatView<T>(Y), T(0), C.view());
        if (pass >= 2) {  // Y orthonormal here: stop once it is orthogonal to Q as well
            const auto c = be.to_host(C.data(), q_cols * Y.cols);
            double worst = 0;
            for (const T v : c) worst = std::max(worst, std::abs(double(v)));
            if (worst <= tiny) return replaced;
            if (pass == 4) {
                // Still not orthogonal: the projected block is rank deficient (its columns
                // dependent among themselves, e.g. a Krylov block of a rank-deficient A),
                // and the directions its orthonormalization adds fall back along Q each
                // time.  A random block in their place.
                be.fill_normal(Y, philox::Key{0x6f7274686f676f6eULL, 1}, first);
                replaced = true;
            }
        }
        be.gemm(q_n, Trans::No, T(-1), Q, ConstMatView<T>(C.view()), T(1), Y);
        const bool check_free = pass == 1 && Y.cols <= kCheckFreeMaxCols &&
                                q_rows >= kCheckFreeMinRows &&
                                well_conditioned_for_orthonormalizing(be, ConstMatView<T>(Y));
        be.orthonormalize(Y, how);
        if (check_free) return replaced;
    }
    return replaced;
}

}  // namespace rankwise
