// The Rayleigh-Ritz step of a restarted iteration, with its right singular vectors refined
// to their own scale: what rankwise.svds needs to reach arpack's residual floor at tol = 0.
//
// LAPACK's SVD of W = A^T Q (n x L) is backward stable in norm only: it is the exact SVD of
// W + E with ||E|| about 40 eps ||W||_2 (gesdd on 340 x 96, measured; gesvd 25-40).  That
// puts errors of about 40 eps s_1 / (s_i - s_j) into the coefficients of the Ritz vector x_i
// along every other x_j.  A thick restart keeps U_p = Q X_p, so the errors along the
// discarded directions (j > p) stay in the kept vectors and are never removed again (those
// directions are no longer in the space): they accumulate over the restarts, and held the
// true residual of converged triplets at 3-6 times the rounding level eps (1 + ||A||_F /
// s_1) on Gaussian, decaying and clustered spectra, where SciPy's arpack (whose Rayleigh-Ritz
// is a tridiagonal eigenproblem, backward stable to eps ||T||) reaches 0.2-0.4.
//
// The cure is the accuracy of one-sided Jacobi (Demmel & Veselic 1992; Drmac & Veselic
// 2008): the Gram matrix of G = W X, computed from G's columns, is diag(s_j^2) up to errors
// of about eps s_i s_j, so one first-order Jacobi step,
//     x_j += sum_{i != j} x_i (g_i^T g_j) / (s_j^2 - s_i^2)
// (the eigenvector perturbation of a nearly diagonal symmetric matrix, Golub & Van Loan,
// 4th ed., 8.1.2), leaves errors of that order.  No products with A: beside the SVD, an
// n x L x L product, two n x L x r ones, small ones and two n x L copies (svds, dense
// 1000 x 1000, k = 50: 5 ms more per cycle of 44; fewer cycles to the floor made the whole
// call as fast).  Used in float64 only (kRitzRefinementPays).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"

namespace rankwise {

// A first-order correction larger than this factor of sqrt(eps) between two Ritz vectors is
// not made: its second-order error (which also costs the corrected vectors their
// orthogonality) would exceed 1e-4 eps, and the pair is closer than the correction resolves
// (a cluster, kept or discarded together).  Measured on float32 with 200 values within 1e-3
// (k = 5; the SVD's own vectors: 26-44 rounding units): 27-51 with this factor, 58-69 with
// 0.125, and 63 with 1e-3 / sqrt(eps) on 12 values within 1e-3 (own vectors: 1.8).  (These
// float32 figures predate session 40, which found that those 26-44 units came from
// orthonormalize_against discarding Krylov directions: 1-3 units since, unrefined.)
inline constexpr double kMaxRitzCorrection = 0.01;
// Only the Ritz vectors of values above this fraction of the largest are refined: v = W x /
// s carries W's rounding divided by s, which below it costs v its orthogonality to the
// others (a rank-5 matrix, k = 10: 0.66 off in V^T V); the rest keep the SVD's vectors.
inline constexpr double kRefinedRange = 1.0 / 16;

// Whether the refinement pays in precision T.  float64 gained everywhere (svds at tol = 0,
// rounding units, 16 cases: median 3.7 -> 1.35, max 6.0 -> 2.3; geometric spectra 2.3-8.2
// -> 1.0-2.6).  float32, measured in session 40 on those cases and 4 more (flat and
// geometric spectra), once orthonormalize_against no longer discarded Krylov directions
// there: median 1.32 -> 0.95, max 2.1 -> 2.0, for 5-9% more time on dense calls (340 x 413
// to 2000 x 1000): not made (session 39's mixed float32 figures came from that defect).
template <class T>
inline constexpr bool kRitzRefinementPays = std::numeric_limits<T>::digits > 24;

// The first-order Jacobi coefficients Z (L x r, host, column-major): z_jj = 1, and for the
// refined columns j < refined, z_ij = g_i^T g_j / (s_j^2 - s_i^2) where that is at most
// kMaxRitzCorrection sqrt(eps).  `gram` holds the normalized g_i^T g_j (L x refined), `norm`
// the ||g_i||.  In terms of t = s_i / s_j: z_ij = c_ij t / ((1 - t)(1 + t)).  Among the
// refined columns Z is made exactly antisymmetric (z_ji = -z_ij from the mean of c_ij and
// c_ji, one decision per pair), so X (E_r + Z) stays orthonormal to second order: the two
// computed products differ by rounding, which over a close pair's gap was a first-order
// loss (U^T U off by 1e-10 on five values 1e-7 apart).  The returned columns that are not
// refined (i in [refined, r)) take no part, for the same reason.  The discarded columns
// (i >= r) are corrected along: that is the error the thick restart would keep.
template <class T>
std::vector<T> jacobi_correction(const std::vector<T>& gram, const std::vector<double>& norm,
                                 index_t refined, index_t r) {
    const auto L = static_cast<index_t>(norm.size());
    const double largest =
        kMaxRitzCorrection * std::sqrt(double(std::numeric_limits<T>::epsilon()));
    const auto at = [L](index_t i, index_t j) { return std::size_t(i + j * L); };
    const auto coefficient = [&](double c, index_t i, index_t j) {  // 0 where not made
        const double t = norm[std::size_t(i)] / norm[std::size_t(j)];
        const double zij = c * t / ((1 - t) * (1 + t));
        return std::isfinite(zij) && std::abs(zij) <= largest ? zij : 0.0;
    };
    std::vector<T> z(static_cast<std::size_t>(L * r), T(0));
    for (index_t j = 0; j < r; ++j) z[at(j, j)] = T(1);
    for (index_t j = 0; j < refined; ++j) {
        for (index_t i = 0; i < j; ++i) {  // refined pairs, once each
            const double c = (double(gram[at(i, j)]) + double(gram[at(j, i)])) / 2;
            const double zij = coefficient(c, i, j);
            z[at(i, j)] = T(zij);
            z[at(j, i)] = T(-zij);
        }
        for (index_t i = r; i < L; ++i) z[at(i, j)] = T(coefficient(double(gram[at(i, j)]), i, j));
    }
    return z;
}

// The leading r Rayleigh-Ritz triplets of Q Q^T A = Q W^T (Q: m x L with orthonormal
// columns, W = A^T Q: n x L, L <= n), as svd_of_product gives them, with the right vectors
// of the values within kRefinedRange of the largest refined (above).  W is not modified.
template <class Backend, class T>
SvdFactors<Backend, T> refined_ritz_triplets(const Backend& be, ConstMatView<T> Q,
                                             ConstMatView<T> W, index_t r) {
    const index_t n = W.rows, L = W.cols;
    require(0 < r && r <= L && L <= n && Q.cols == L)
        << "refined_ritz_triplets: need 0 < r <= L <= n; got r = " << r << ", W " << n << " x "
        << L << ", Q with " << Q.cols << " columns";
    auto G = be.template matrix<T>(n, L);
    auto Uw = be.template matrix<T>(n, L);
    auto Xt = be.template matrix<T>(L, L);
    std::vector<T> sw(static_cast<std::size_t>(L));
    be.copy(W, G.view());
    be.svd(G.view(), Uw.view(), sw.data(), Xt.view(), SvdDriver::Gesdd);  // G destroyed
    // the refined values are a leading range (sw is descending)
    index_t refined = 0;
    while (refined < r && sw[std::size_t(refined)] > 0 &&
           sw[std::size_t(refined)] >= kRefinedRange * sw[0]) {
        ++refined;
    }
    // G = W X and its columns' norms
    std::vector<double> norm(static_cast<std::size_t>(L));
    if (refined > 0) {
        be.gemm(Trans::No, Trans::Yes, T(1), W, ConstMatView<T>(Xt.view()), T(0), G.view());
        be.column_norms(ConstMatView<T>(G.view()), norm.data());
        if (!std::all_of(norm.begin(), norm.begin() + refined, [](double v) { return v > 0; })) {
            refined = 0;  // W X lost a value the SVD found (rounding): keep the SVD's
        }
    }
    // the values not refined keep the SVD's vectors (Uw's storage is free after this)
    auto Vr = be.template matrix<T>(n, r);
    if (refined < r) {
        be.copy(ConstMatView<T>(Uw.view().cols_range(refined, r - refined)),
                Vr.view().cols_range(refined, r - refined));
    }
    // the Gram matrix of G's normalized columns (no overflow where W's entries are large),
    // its first `refined` columns, with the normalized G in Uw's storage
    std::vector<T> gram;
    if (refined > 0) {
        std::vector<T> inverse(norm.size());
        for (std::size_t j = 0; j < norm.size(); ++j) {
            inverse[j] = norm[j] > 0 ? T(1 / norm[j]) : T(0);
        }
        auto& Gn = Uw;
        be.scale_columns(ConstMatView<T>(G.view()), inverse.data(), Gn.view());
        auto C = be.template matrix<T>(L, refined);
        be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(Gn.view()),
                ConstMatView<T>(Gn.view().cols_range(0, refined)), T(0), C.view());
        gram = be.to_host(C.data(), L * refined);
    }
    const std::vector<T> z = jacobi_correction<T>(gram, norm, refined, r);
    auto Z = be.template matrix<T>(L, r);
    be.from_host(z.data(), Z.view());
    // X_r = X (E_r + Z) and V_r = W X_r = G (E_r + Z), normalized: s = ||V_r|| / ||X_r||
    auto Xr = be.template matrix<T>(L, r);
    be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(Xt.view()), ConstMatView<T>(Z.view()),
            T(0), Xr.view());
    std::vector<double> nx(static_cast<std::size_t>(r), 1.0), nv(nx.size(), 1.0);
    if (refined > 0) {
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(G.view()),
                ConstMatView<T>(Z.view().cols_range(0, refined)), T(0),
                Vr.view().cols_range(0, refined));
        be.column_norms(ConstMatView<T>(Xr.view().cols_range(0, refined)), nx.data());
        be.column_norms(ConstMatView<T>(Vr.view().cols_range(0, refined)), nv.data());
    }
    SvdFactors<Backend, T> out;
    out.s.assign(sw.begin(), sw.begin() + r);
    std::vector<T> sx(nx.size(), T(1)), sv(nx.size(), T(1));
    for (std::size_t j = 0; j < std::size_t(refined); ++j) {
        sx[j] = T(1 / nx[j]);
        sv[j] = T(1 / nv[j]);
        out.s[j] = T(nv[j] / nx[j]);
    }
    be.scale_columns(ConstMatView<T>(Xr.view()), sx.data(), Xr.view());
    be.scale_columns(ConstMatView<T>(Vr.view()), sv.data(), Vr.view());
    // descending again (a correction can reorder values equal to rounding)
    std::vector<index_t> order(static_cast<std::size_t>(r));
    std::iota(order.begin(), order.end(), index_t(0));
    std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
        return out.s[std::size_t(a)] > out.s[std::size_t(b)];
    });
    if (!std::is_sorted(order.begin(), order.end())) {
        auto Xs = be.template matrix<T>(L, r);
        be.gather_cols(ConstMatView<T>(Xr.view()), order.data(), Xs.view());
        Xr = std::move(Xs);
        auto Vs = be.template matrix<T>(n, r);
        be.gather_cols(ConstMatView<T>(Vr.view()), order.data(), Vs.view());
        Vr = std::move(Vs);
        std::vector<T> s(out.s.size());
        for (std::size_t j = 0; j < s.size(); ++j) s[j] = out.s[std::size_t(order[j])];
        out.s = std::move(s);
    }
    out.U = be.template matrix<T>(Q.rows, r);
    be.gemm(Trans::No, Trans::No, T(1), Q, ConstMatView<T>(Xr.view()), T(0), out.U.view());
    out.V = std::move(Vr);
    return out;
}

}  // namespace rankwise
