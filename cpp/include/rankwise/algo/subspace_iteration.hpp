// Leading singular triplets to a requested accuracy: thick-restarted block Lanczos
// bidiagonalization (block Golub-Kahan, Krylov-Schur style restarts) with Rayleigh-Ritz, run
// until the residuals are small (the solver behind rankwise.svds).
//
// On A (m x n, m <= n: a tall A is run as A^T) the search space is K = [U_p, F_0, F_1, ...]
// (m x L, L = l * depth at most): the p leading left Ritz vectors kept from the previous
// cycle, then blocks of l vectors F_{j+1} = A Z_j orthonormalized against all of K, with
// Z_j = orth(A^T F_j) orthonormalized against the block before it only (Z_{j-1}, or V_p for
// the first new block).  The block Lanczos recurrence makes A^T F_j orthogonal to E's older
// blocks, so E = [V_p, Z_0, Z_1, ...] is orthonormal to working accuracy and A^T K = E C
// with C (L x L) of block bidiagonal shape plus the restart's arrowhead: the Rayleigh-Ritz
// approximation K K^T A = K C^T E^T comes from the SVD of the small C.  Only the short side
// is reorthogonalized in full (one-sided reorthogonalization: Simon & Zha 2000; Baglama &
// Reichel's augmented block Lanczos bidiagonalization, 2005-2006): on a 100000 x 20000
// sparse matrix the n-long vectors cost O(n L l) a cycle instead of O(n L^2).  Where the
// recurrence cannot keep E orthogonal (a block's new part below sqrt(eps) s_1: A of low
// numerical rank, an exhausted Krylov space; or the wanted right Ritz vectors off
// orthogonal by sqrt(eps)), Z_j is orthogonalized against all of E from then on.
// For the kept vectors A^T U_p = V_p S_p exactly, so only the new blocks cost products.
// Every right residual A v - s u of a Ritz triplet lies in the span of the block that comes
// next (A Z_last, orthonormalized against K), so keeping U_p and that block keeps everything
// the space knew about the kept vectors: a thick restart (Stathopoulos, Saad & Wu 1998;
// Stewart's Krylov-Schur, 2001), where discarding all but the leading block each cycle
// (plain restarted block Krylov) converged 3-6x slower per product on clustered spectra.
// p is about half of L, so each cycle adds about L / 2 vectors; small blocks (l = 8 by
// default, 3 for sparse A) converge faster per product than wide ones.
// Convergence is judged on the true residuals r_i = max(||A v_i - s_i u_i||,
// ||A^T u_i - s_i v_i||) of the k wanted triplets, from explicit products A V_k and A^T U_k
// each cycle: singular values end accurate to about r_i^2 / gap, vectors to r_i / gap.
//
// tol = 0 (or a tol below what rounding lets the residual reach): the iteration stops at
// the floor of the residual, estimated as eps ||A||_F / s_1 (the rounding error of a product
// A v is about eps ||A||_F; ||A||_F from LinearOp::fro_norm2(), or for operators that do
// not know it from the Ritz values, the rest of the spectrum taken as flat at the smallest
// one kept), or once it no longer improves (below sqrt(eps), no 25% improvement in 3
// cycles): rounding, not the iteration, then sets the residual.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

struct SubspaceIterationOptions {
    index_t k = 1;
    index_t l = 1;           // block size: k + l <= l * depth (thick restart) or k <= l
    index_t depth = 1;       // blocks in the search space, l * depth <= min(m, n)
    double tol = 0;          // stop when max_i r_i <= tol * s_1; 0: to working accuracy
    index_t max_iter = 1000; // cycles (restarts)
    philox::Key key{0, 0};
};

// The residual stagnates within this factor of eps (1 + ||A||_F / s_1) (measured: 2-8x on
// Gaussian, random sparse and decaying spectra, float32 and float64).
inline constexpr double kNearFloor = 32;
// ... and is accepted at once within this factor (a cycle more gains at most this much; a
// decaying spectrum is often there after its first cycle).
inline constexpr double kAtFloor = 4;

namespace detail {

// The iteration on an operator with rows <= cols (subspace_iteration transposes a tall one):
// K, the basis reorthogonalized in full, has the short side's length.
template <class Backend, class T>
SvdFactors<Backend, T> bidiagonalization_cycles(const Backend& be, const LinearOp<T>& A,
                                                const SubspaceIterationOptions& o,
                                                const T* start_vector) {
    const index_t m = A.rows(), n = A.cols(), k = o.k, l = o.l;
    require(k >= 1 && l >= 1 && o.depth >= 1 && (k + l <= l * o.depth || k <= l) &&
            l * o.depth <= std::min(m, n))
        << "need k >= 1, k + l <= l * depth or k <= l, and l * depth <= min(m, n); got k = "
        << k << ", l = " << l << ", depth = " << o.depth;
    require(o.max_iter >= 1) << "max_iter must be >= 1";
    constexpr double eps = std::numeric_limits<T>::epsilon();
    // Ritz vectors kept at a restart: about half the space, whole blocks after them.  Where
    // the space has no room for k of them and a block (k near min(m, n)), the restart is
    // the plain one: from orth(A V_l), the l leading right Ritz vectors (k <= l).
    // The block after the space must fit beside it in R^m: one block fewer where not.
    const index_t depth = l * (o.depth + 1) <= m ? o.depth : o.depth - 1;
    const bool thick = depth >= 1 && k + l <= l * depth;
    const index_t L = l * (thick ? depth : o.depth);
    const index_t keep =
        thick ? L - l * std::max<index_t>(1, std::min<index_t>(depth / 2, (L - k) / l)) : l;
    require(thick || k <= l) << "k = " << k << " needs blocks of at least k vectors here (l = "
                             << l << ", depth = " << o.depth << ", " << m << " rows)";
    const double fro2 = A.fro_norm2();
    const double min_dim = double(m);

    auto K = be.template matrix<T>(m, L);  // [U_p, F_0, F_1, ...], orthonormal
    auto E = be.template matrix<T>(n, L);  // [V_p, Z_0, Z_1, ...], A^T K = E C
    auto C = be.template matrix<T>(L, L);
    auto W = be.template matrix<T>(n, l);  // A^T F_j
    auto F = be.template matrix<T>(m, l);  // the block after the space: the restart's F_0
    auto Rjj = be.template matrix<T>(l, l);
    auto V = be.template matrix<T>(n, keep);  // right Ritz vectors, E Y
    auto AV = be.template matrix<T>(m, k);
    auto P = be.template matrix<T>(n, k);  // A^T U_k
    auto left = be.template matrix<T>(n, k);
    auto G = be.template matrix<T>(k, k);
    be.fill_normal(K.view().cols_range(0, l), o.key, 0);
    if (start_vector != nullptr) {
        be.copy(ConstMatView<T>{start_vector, m, 1, m}, K.view().cols_range(0, 1));
    }
    be.orthonormalize(K.view().cols_range(0, l), Ortho::CholQR2);

    std::vector<double> res(static_cast<std::size_t>(k)), left_res(res.size());
    std::vector<double> norms(static_cast<std::size_t>(l));
    std::vector<double> vnorm(static_cast<std::size_t>(keep));
    std::vector<T> sigma(static_cast<std::size_t>(keep)), inverse(sigma.size());
    std::vector<T> rjj(static_cast<std::size_t>(l)), kept_block;
    std::vector<double> history;  // worst residual per cycle, for the stagnation test
    SvdFactors<Backend, T> out;
    index_t passes = 0;
    bool converged = false;
    // Z_j orthogonalized against all of E instead of its neighbour only: from the first block
    // the neighbour alone does not keep orthogonal (below) to the end of the call.
    bool full = false;
    double sigma_est = 0;  // the largest ||A^T k|| seen: a lower bound of s_1
    double worst = std::numeric_limits<double>::infinity();
    index_t p = 0;  // kept Ritz vectors at the front of K and E
    index_t it = 0;
    while (it < o.max_iter) {
        ++it;
        be.check_interrupt();
        be.fill(C.view(), T(0));
        if (p > 0) be.from_host(kept_block.data(), C.view().rows_range(0, p).cols_range(0, p));
        for (index_t c = p; c < L; c += l) {
            A.apply(Trans::Yes, ConstMatView<T>(K.view().cols_range(c, l)), W.view());
            passes += 1;
            be.column_norms(ConstMatView<T>(W.view()), norms.data());
            for (const double v : norms) sigma_est = std::max(sigma_est, v);
            auto Zc = E.view().cols_range(c, l);
            // Z_c = orth(A^T F_c) against E's columns from `first`, and C's block column
            // c = E[:, first:c+l]^T A^T F_c (the rows above `first` stay 0).
            auto next_z = [&](index_t first) {
                be.copy(ConstMatView<T>(W.view()), Zc);
                orthonormalize_against(be, ConstMatView<T>(E.view().cols_range(first, c - first)),
                                       Zc, Ortho::CholQR2);
                be.gemm(Trans::Yes, Trans::No, T(1),
                        ConstMatView<T>(E.view().cols_range(first, c + l - first)),
                        ConstMatView<T>(W.view()), T(0),
                        C.view().rows_range(first, c + l - first).cols_range(c, l));
            };
            // The block Lanczos recurrence: A^T F_c is orthogonal to all of E but the block
            // before it (the kept V_p for the first new block: the restart's arrowhead), as
            // A Z_i lies in span(F_0..F_{i+1}), orthogonal to F_c for i < c - 1.
            next_z(full || c == p ? 0 : c - l);
            if (!full) {
                // ... up to rounding of size eps s_1, which Z_c's orthonormalization divides
                // by the singular values of R_cc = Z_c^T A^T F_c: below sqrt(eps) s_1 the
                // recurrence no longer keeps E semi-orthogonal (a Krylov space exhausted: A
                // of low numerical rank), and E is orthogonalized in full from here on.
                be.copy(ConstMatView<T>(C.view().rows_range(c, l).cols_range(c, l)), Rjj.view());
                be.singular_values(Rjj.view(), rjj.data());
                if (double(rjj.back()) < std::sqrt(eps) * sigma_est) {
                    full = true;
                    next_z(0);
                }
            }
            if (!thick && c + l >= L) break;  // plain restart: no block after the space
            auto next = c + l < L ? K.view().cols_range(c + l, l) : F.view();
            A.apply(Trans::No, ConstMatView<T>(Zc), next);
            orthonormalize_against(be, ConstMatView<T>(K.view().cols_range(0, c + l)), next,
                                   Ortho::CholQR2);
            passes += 1;
        }
        // Rayleigh-Ritz: K K^T A = K W^T = (K X) S (E Y)^T from the SVD C^T = X S Y^T (C
        // destroyed); the leading `keep` triplets.  V = E Y, normalized (E is orthonormal
        // to working accuracy, so its norms are 1 up to rounding), s_i scaled to match:
        // A^T u_i = s_i E y_i exactly, whatever E's orthogonality.
        out = svd_of_product(be, ConstMatView<T>(K.view()), C.view(), keep, SvdDriver::Gesdd);
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(E.view()),
                ConstMatView<T>(out.V.view()), T(0), V.view());
        be.column_norms(ConstMatView<T>(V.view()), vnorm.data());
        for (std::size_t i = 0; i < sigma.size(); ++i) {
            sigma[i] = T(double(out.s[i]) * vnorm[i]);
            inverse[i] = vnorm[i] > 0 ? T(1 / vnorm[i]) : T(0);
        }
        be.scale_columns(ConstMatView<T>(V.view()), inverse.data(), V.view());
        // AV = A V_k (plain restart: A V_l, which starts the next cycle, in K's first
        // block) and the residuals s_i u_i - A v_i in free space: K's first columns (thick:
        // K is refilled at the restart), or F (plain: no next block is kept; k <= l).
        if (thick) {
            A.apply(Trans::No, ConstMatView<T>(V.view().cols_range(0, k)), AV.view());
        } else {
            A.apply(Trans::No, ConstMatView<T>(V.view()), K.view().cols_range(0, l));
            be.copy(ConstMatView<T>(K.view().cols_range(0, k)), AV.view());
        }
        auto R = (thick ? K.view() : F.view()).cols_range(0, k);
        be.scale_columns(ConstMatView<T>(out.U.view().cols_range(0, k)), sigma.data(), R);
        be.add_scaled(ConstMatView<T>(AV.view()), T(-1), R);
        be.column_norms(ConstMatView<T>(R), res.data());
        // ... and A^T u_i - s_i v_i, which vanish only as far as E is orthogonal (the
        // recurrence leaves out E's older blocks); P = A^T U_k also ends the call.
        A.apply(Trans::Yes, ConstMatView<T>(out.U.view().cols_range(0, k)), P.view());
        passes += 2;
        be.scale_columns(ConstMatView<T>(V.view().cols_range(0, k)), sigma.data(), left.view());
        be.add_scaled(ConstMatView<T>(P.view()), T(-1), left.view());
        be.column_norms(ConstMatView<T>(left.view()), left_res.data());
        for (index_t i = 0; i < k; ++i) res[i] = std::max(res[i], left_res[i]);
        const double s1 = double(sigma[0]);
        const double scale = std::max(s1, std::numeric_limits<double>::min());
        worst = *std::max_element(res.begin(), res.end()) / scale;
        if (!std::isfinite(worst)) break;
        if (!full) {
            // Semi-orthogonality of E (Simon 1984), checked on the wanted vectors: where
            // V_k^T V_k is off I by more than sqrt(eps), orthogonalize in full from here on.
            be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(V.view().cols_range(0, k)),
                    ConstMatView<T>(V.view().cols_range(0, k)), T(0), G.view());
            const auto g = be.to_host(G.data(), k * k);
            for (index_t j = 0; j < k * k; ++j) {
                const double off = double(g[j]) - (j % (k + 1) == 0 ? 1.0 : 0.0);
                if (!(std::abs(off) <= std::sqrt(eps))) full = true;
            }
        }
        // The rounding level of the residual, eps (1 + ||A||_F / s_1): ||A||_F where the
        // operator knows it, else from the Ritz values with the rest of the spectrum as
        // large as the smallest one kept (the computed products' errors are about
        // eps ||A||_F, the vectors' own rounding eps s_1).
        double fro_est2 = fro2;
        if (!(fro_est2 >= 0) || !std::isfinite(fro_est2)) {
            fro_est2 = 0;
            for (const T s : sigma) fro_est2 += double(s) * double(s);
            const double last = double(sigma.back());
            fro_est2 += std::max(0.0, min_dim - double(keep)) * last * last;
        }
        const double rounding = eps * (1 + std::sqrt(fro_est2) / scale);
        if (worst <= std::max(o.tol, kAtFloor * rounding)) {
            converged = true;
            break;
        }
        // A tol below what rounding lets the residual reach (0 included): stop once it no
        // longer improves.  Near the rounding level (within kNearFloor of it) that is a
        // cycle that does not halve it (a converging cycle gains 10x or more there); above
        // it, 3 cycles without a 25% gain (below sqrt(eps) only: slow convergence is not
        // stagnation).  Converged then means working precision, which is what a tol below
        // the rounding level asks for; a tol above it that stagnation keeps out of reach is
        // not met, and said so (svds raises ArpackNoConvergence with the partial results).
        if (o.tol < kNearFloor * rounding && !history.empty()) {
            const double best = *std::min_element(history.begin(), history.end());
            if (worst <= kNearFloor * rounding && worst > 0.5 * best) {
                converged = o.tol < rounding;
                break;
            }
            if (worst <= std::sqrt(eps) && history.size() >= 3) {
                const double before = *std::min_element(history.begin(), history.end() - 2);
                const double recent = std::min({worst, history.end()[-1], history.end()[-2]});
                if (recent > 0.75 * before) {
                    converged = o.tol < rounding;
                    break;
                }
            }
        }
        history.push_back(worst);
        if (it == o.max_iter) break;
        if (!thick) {  // plain restart: K_0 = orth(A V_l)
            be.orthonormalize(K.view().cols_range(0, l), Ortho::CholQR2);
            continue;
        }
        // Restart: K = [U_p, F], E = [V_p], C's leading block diag(s_p)
        p = keep;
        be.copy(ConstMatView<T>(out.U.view()), K.view().cols_range(0, p));
        be.copy(ConstMatView<T>(F.view()), K.view().cols_range(p, l));
        be.copy(ConstMatView<T>(V.view()), E.view().cols_range(0, p));
        kept_block.assign(static_cast<std::size_t>(p * p), T(0));
        for (index_t i = 0; i < p; ++i) kept_block[static_cast<std::size_t>(i * (p + 1))] = sigma[i];
    }
    out.U.truncate_cols(k);
    if (std::isfinite(worst)) {
        // The triplets from the SVD of P = A^T U_k (SciPy's svds ends the same way, on its
        // side): Rayleigh-Ritz on range(U_k), orthonormal by construction, with v = A^T u / s,
        // so A^T u - s v is at rounding level and the residual left is A v - s u, at most
        // about the residuals r reached above (P destroyed).
        auto Yt = be.template matrix<T>(k, k);
        auto Vk = be.template matrix<T>(n, k);
        std::vector<T> s(static_cast<std::size_t>(k));
        be.svd(P.view(), Vk.view(), s.data(), Yt.view(), SvdDriver::Gesdd);
        auto U = be.template matrix<T>(m, k);
        be.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(out.U.view()),
                ConstMatView<T>(Yt.view()), T(0), U.view());
        out.U = std::move(U);
        out.V = std::move(Vk);
        out.s = std::move(s);
    } else {
        out.V = std::move(V);
        out.V.truncate_cols(k);
        out.s.assign(sigma.begin(), sigma.begin() + k);
    }
    out.passes = passes;
    out.iterations = it;
    out.converged = converged;
    out.relative_error = worst;
    return out;
}

}  // namespace detail

// Leading k singular triplets of A to tol (see above); start_vector, where given, of length
// min(m, n): the first column of the starting block in the short side's space.
template <class Backend, class T>
SvdFactors<Backend, T> subspace_iteration(const Backend& be, const LinearOp<T>& A,
                                          const SubspaceIterationOptions& o,
                                          const T* start_vector = nullptr) {
    if (A.rows() <= A.cols()) return detail::bidiagonalization_cycles(be, A, o, start_vector);
    auto f = detail::bidiagonalization_cycles(be, TransposedOp<T>(A), o, start_vector);
    std::swap(f.U, f.V);
    return f;
}

}  // namespace rankwise
