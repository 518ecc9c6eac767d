// Leading singular triplets to a requested accuracy: thick-restarted block Krylov iteration
// (block Lanczos bidiagonalization, Krylov-Schur style) with Rayleigh-Ritz, run until the
// residuals are small (the solver behind rankwise.svds).
//
// The search space is Q = [U_p, F_0, F_1, ...] (left vectors, L = l * depth columns at most):
// the p leading left Ritz vectors kept from the previous cycle, then blocks of l vectors
// F_{j+1} = A Z_j orthonormalized against Q, Z_j = orth(A^T F_j).  The products
// W = A^T Q give the Rayleigh-Ritz approximation of Q Q^T A (an n x L SVD); for the kept
// vectors A^T U_p = V_p S_p exactly (left Ritz vectors have no left residual), so only the
// new blocks cost products.  Every right residual A v - s u of a Ritz triplet lies in the
// span of the block that comes next (A A^T F_last, orthonormalized against Q), so keeping
// U_p and that block keeps everything the space knew about the kept vectors: a thick
// restart (Stathopoulos, Saad & Wu 1998; Stewart's Krylov-Schur, 2001; Baglama & Reichel's
// augmented block Lanczos bidiagonalization, 2005), where discarding all but the leading
// block each cycle (plain restarted block Krylov) converged 3-6x slower per product on
// clustered spectra.  p is about half of L, so each cycle adds about L / 2 vectors;
// small blocks (l = 8 by default) converge faster per product than wide ones.
// Convergence is judged on the true residuals r_i = ||A v_i - s_i u_i|| of the k wanted
// triplets, from an explicit product A V_k each cycle (the left residuals A^T u_i - s_i v_i
// vanish by construction): singular values end accurate to about r_i^2 / gap, vectors to
// r_i / gap.
//
// tol = 0 (or a tol below what rounding lets the residual reach): the iteration stops at
// the floor of the residual, estimated as eps ||A||_F / s_1 (the rounding error of a product
// A v is about eps ||A||_F; ||A||_F from LinearOp::fro_norm2(), or for operators that do
// not know it from the Ritz values, the rest of the spectrum taken as flat at the smallest
// one kept), or once it no longer improves (below sqrt(eps): no 25% improvement in 3
// cycles, and less than a quarter of the gain of the cycles before; see stagnates()):
// rounding, not the iteration, then sets the residual.  There the Rayleigh-Ritz vectors are
// refined by one one-sided Jacobi step each cycle in float64 (refined_ritz.hpp), without
// which the floor is 3-6 times that level instead of 0.2-2.4 (SciPy's arpack: 0.2-1.7).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "rankwise/algo/factors.hpp"
#include "rankwise/algo/refined_ritz.hpp"
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
// A stall further above the rounding level than this factor is not taken for the floor:
// the iteration goes on (a value repeated more often than the block size, with a 0.2% gap
// below it, paused at 1e3-1e5 times the level and then converged to it in 9-10 cycles;
// singular values clustered within 1e-10, whose Ritz vectors mix the cluster, stalled at
// 1e5-1e6 times it and now run to maxiter, as SciPy's arpack does, and raise).  Stalls below
// it (float32 flat tails at about 250, explicit ncv near k at 20-170) are the rounding floor
// of the iteration.  Only where ||A||_F is known (arrays and sparse matrices): a
// LinearOperator's level is an estimate, and its products may be less accurate than a
// matrix's.
inline constexpr double kStallAccept = 1024;

// A worst residual more than this factor above the best of the cycles before it starts a
// new descent, not a fluctuation at a floor (those measured 4-63x, an implicitly centred
// operator's the largest): a value repeated more often than the block holds takes in
// another copy, whose Ritz vector mixes with the converged ones, and the residual jumps
// 1e3-1e10-fold (16-fold value, k = 6: 4.4 -> 8e6 rounding units, then 2688, 18.9, 1.3).
inline constexpr double kNewDescent = 1024;

// Appends a cycle's worst residual to the history the stall tests read (stagnates(),
// stopped_improving()); a new descent (above) starts it afresh, as measured against the
// best before the jump its first cycles, still gaining 100x each, looked like a stall at
// 14-450 rounding units and were reported converged there.  Returns whether it did.
inline bool record_cycle(std::vector<double>& history, double worst) {
    const bool fresh = !history.empty() &&
                       worst > kNewDescent * *std::min_element(history.begin(), history.end());
    if (fresh) history.clear();
    history.push_back(worst);
    return fresh;
}

// Whether the worst residual per cycle (`history`, then this cycle's `worst`) has stopped
// improving: the last w cycles gained less than 25% on the best before them, and less than
// a quarter of the gain per cycle of the (up to) 2w cycles before those.  The second test
// keeps a slow but steady convergence going (a space of k + 2 vectors, blocks of one, on a
// flat spectrum: 3% a cycle for hundreds of cycles, where the first test alone stopped at
// 1e-8 and called it working precision); at a floor the gain falls off and both hold.
inline bool stagnates(const std::vector<double>& history, double worst,
                      std::ptrdiff_t w = 3) {
    const auto n = static_cast<std::ptrdiff_t>(history.size());  // >= w
    const auto best_of_first = [&](std::ptrdiff_t count) {
        return *std::min_element(history.begin(), history.begin() + count);
    };
    const double before = best_of_first(n + 1 - w);
    const double recent =
        std::min(worst, *std::min_element(history.end() - (w - 1), history.end()));
    if (recent <= 0.75 * before) return false;
    const std::ptrdiff_t window = std::min<std::ptrdiff_t>(2 * w, n - w);
    const double gain_recent = std::log(before / recent) / double(w);
    const double gain_earlier =
        window > 0 ? std::log(best_of_first(n + 1 - w - window) / before) / double(window) : 0;
    return gain_recent <= 0.25 * gain_earlier;
}

// The search space of a thick restart: `L` vectors in blocks of l (at most `depth` blocks),
// `keep` Ritz vectors kept at a restart (about half the space, whole blocks after them), the
// block after the space fitting beside it among the `space_rows` (one block fewer where
// not).  Not `thick` where the space has no room for k Ritz vectors and a block (k near
// min(m, n)): the restart is then the plain one, from the l leading Ritz vectors (k <= l).
struct RestartShape {
    bool thick;
    index_t L;
    index_t keep;
};

inline RestartShape restart_shape(index_t k, index_t l, index_t depth, index_t space_rows) {
    const index_t fits = l * (depth + 1) <= space_rows ? depth : depth - 1;
    const bool thick = fits >= 1 && k + l <= l * fits;
    const index_t L = l * (thick ? fits : depth);
    const index_t keep =
        thick ? L - l * std::max<index_t>(1, std::min<index_t>(fits / 2, (L - k) / l)) : l;
    return {thick, L, keep};
}

// The rounding level of a relative residual, eps (1 + ||A||_F / s_1) (`scale` = s_1): the
// computed products' errors are about eps ||A||_F, the vectors' own rounding eps s_1.
// ||A||_F^2 is `fro2` where the operator knows it, else (NaN) estimated from the Ritz values
// `s`, the rest of the spectrum (up to min(m, n)) taken as large as the smallest one kept.
template <class T>
double rounding_level(double fro2, const std::vector<T>& s, index_t kept, double min_dim,
                      double scale) {
    if (!(fro2 >= 0) || !std::isfinite(fro2)) {
        fro2 = 0;
        for (const T v : s) fro2 += double(v) * double(v);
        const double last = double(s.back());
        fro2 += std::max(0.0, min_dim - double(kept)) * last * last;
    }
    return double(std::numeric_limits<T>::epsilon()) * (1 + std::sqrt(fro2) / scale);
}

// After a cycle that did not meet tol: whether the worst relative residual (`worst`, after
// the cycles' `history`) has stopped improving where tol asks for more than rounding lets
// it reach (tol below kNearFloor times the rounding level `rounding`, 0 included).  Near
// the rounding level (within kNearFloor of it) that is a cycle that does not halve it (a
// converging cycle gains 10x or more there); above it, stagnates() (below sqrt(eps) and
// `ceiling` times the rounding level only; slow convergence is not stagnation), after 6
// cycles: with fewer, the gain it compares against was the first cycle's, always large, and
// slow steady convergence looked like a stall (float32, 400 values within 1e-3, k = 20:
// stopped after 5 cycles at 126 rounding units, now after 13 at 73; SciPy's arpack: 1).
template <class T>
bool stopped_improving(const std::vector<double>& history, double worst, double rounding,
                       double tol, double ceiling) {
    if (!(tol < kNearFloor * rounding) || history.empty()) return false;
    const double best = *std::min_element(history.begin(), history.end());
    if (worst <= kNearFloor * rounding && worst > 0.5 * best) return true;
    return worst <= std::sqrt(double(std::numeric_limits<T>::epsilon())) &&
           worst <= ceiling * rounding && history.size() >= 6 && stagnates(history, worst);
}

// Cycles without gain above sqrt(eps) that end an iteration (stalls_long).
inline constexpr std::ptrdiff_t kLongStall = 6;

// Above sqrt(eps), where stopped_improving lets slow convergence run: whether the worst
// residual has stalled over kLongStall cycles (after 2 kLongStall), a floor set by the
// products rather than by rounding (normal_lanczos.hpp: the squared problem's; an operator
// whose products carry noise, subspace_iteration).
template <class T>
bool stalls_long(const std::vector<double>& history, double worst) {
    return worst > std::sqrt(double(std::numeric_limits<T>::epsilon())) &&
           std::ptrdiff_t(history.size()) >= 2 * kLongStall &&
           stagnates(history, worst, kLongStall);
}

// Whether the Rayleigh-Ritz SVDs are refined (refined_ritz.hpp): where tol asks for the
// rounding floor (tol below kNearFloor times the rounding level, 0 included), in a precision
// where that pays.
template <class T>
bool refines_ritz(double tol, double rounding) {
    return kRitzRefinementPays<T> && tol < kNearFloor * rounding;
}

// The triplets from the SVD of AV = A V_k, V_k = f.V (n x k, orthonormal), into f (SciPy's
// svds ends the same way): Rayleigh-Ritz on range(V_k), with u = A v / s, so A v - s u is
// at rounding level and the residual left is A^T u - s v, at most about ||A^T r|| / s <=
// r s_(L+1) / s for a right residual r reached by a Krylov iteration (r lies outside the
// leading left singular space).  `refine`: the SVD refined to its own scale, the SVD of
// V_k AV^T by refined_ritz_triplets (with LAPACK's alone, its backward error, about 40 eps
// s_1, is the residual: 3-4 rounding units on a 300 x 1200 Gaussian, k = 10).  AV is
// destroyed.
template <class Backend, class T>
void triplets_of_range(const Backend& be, MatView<T> AV, SvdFactors<Backend, T>& f,
                       bool refine) {
    const index_t k = AV.cols;
    if (refine) {  // V_k AV^T = (V_k X) S U^T
        auto g = refined_ritz_triplets(be, ConstMatView<T>(f.V.view()), ConstMatView<T>(AV), k);
        f.U = std::move(g.V);
        f.V = std::move(g.U);
        f.s = std::move(g.s);
        return;
    }
    auto Vt = be.template matrix<T>(k, k);
    auto U = be.template matrix<T>(AV.rows, k);
    std::vector<T> s(static_cast<std::size_t>(k));
    be.svd(AV, U.view(), s.data(), Vt.view(), SvdDriver::Gesdd);
    auto V = be.template matrix<T>(f.V.rows(), k);
    be.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(f.V.view()), ConstMatView<T>(Vt.view()),
            T(0), V.view());
    f.U = std::move(U);
    f.V = std::move(V);
    f.s = std::move(s);
}

// The worst left residual max_i ||A^T u_i - s_i v_i|| / s_1 of triplets whose right
// residuals A v_i - s_i u_i are at rounding level by construction (one product).
template <class Backend, class T>
double worst_left_residual(const Backend& be, const LinearOp<T>& A, SvdFactors<Backend, T>& f) {
    const index_t n = A.cols(), k = f.U.cols();
    auto R = be.template matrix<T>(n, k);
    A.apply(Trans::Yes, ConstMatView<T>(f.U.view()), R.view());
    f.passes += 1;
    auto SV = be.template matrix<T>(n, k);
    be.scale_columns(ConstMatView<T>(f.V.view()), f.s.data(), SV.view());
    be.add_scaled(ConstMatView<T>(SV.view()), T(-1), R.view());
    std::vector<double> res(static_cast<std::size_t>(k));
    be.column_norms(ConstMatView<T>(R.view()), res.data());
    const double scale = std::max(double(f.s[0]), std::numeric_limits<double>::min());
    return *std::max_element(res.begin(), res.end()) / scale;
}

template <class Backend, class T>
SvdFactors<Backend, T> subspace_iteration(const Backend& be, const LinearOp<T>& A,
                                          const SubspaceIterationOptions& o,
                                          const T* start_vector = nullptr) {
    const index_t m = A.rows(), n = A.cols(), k = o.k, l = o.l;
    require(k >= 1 && l >= 1 && o.depth >= 1 && (k + l <= l * o.depth || k <= l) &&
            l * o.depth <= std::min(m, n))
        << "need k >= 1, k + l <= l * depth or k <= l, and l * depth <= min(m, n); got k = "
        << k << ", l = " << l << ", depth = " << o.depth;
    require(o.max_iter >= 1) << "max_iter must be >= 1";
    const auto [thick, L, keep] = restart_shape(k, l, o.depth, m);
    require(thick || k <= l) << "k = " << k << " needs blocks of at least k vectors here (l = "
                             << l << ", depth = " << o.depth << ", " << m << " rows)";
    const double fro2 = A.fro_norm2();
    const double min_dim = double(std::min(m, n));
    // An operator that does not know ||A||_F has its rounding level estimated from the Ritz
    // values, and its products may carry more error than a matrix's (an implicitly centred
    // one: its floor lay above kStallAccept): any stall there is its floor, as before.
    const double stall_ceiling =
        fro2 >= 0 ? kStallAccept : std::numeric_limits<double>::infinity();

    auto K = be.template matrix<T>(m, L);  // Q = [U_p, F_0, F_1, ...]
    auto W = be.template matrix<T>(n, L);  // A^T Q
    auto Z = be.template matrix<T>(n, l);
    auto F = be.template matrix<T>(m, l);  // the block after the space: the restart's F_0
    be.fill_normal(Z.view(), o.key, 0);
    if (start_vector != nullptr) {
        be.copy(ConstMatView<T>{start_vector, n, 1, n}, Z.view().cols_range(0, 1));
    }
    A.apply(Trans::No, Z.view(), K.view().cols_range(0, l));  // F_0 = orth(A V_0)
    be.orthonormalize(K.view().cols_range(0, l), Ortho::CholQR2);

    auto AV = be.template matrix<T>(m, k);
    std::vector<double> res(static_cast<std::size_t>(k));
    std::vector<double> history;  // worst residual per cycle, for the stagnation test
    SvdFactors<Backend, T> out;
    index_t passes = 1;
    bool converged = false;
    double worst = std::numeric_limits<double>::infinity();
    double rounding = 0;  // the last cycle's rounding level
    // ... before the first cycle, the largest it can be (||A||_F <= sqrt(min(m, n)) s_1)
    const double largest_level =
        double(std::numeric_limits<T>::epsilon()) * (1 + std::sqrt(min_dim));
    index_t p = 0;        // kept Ritz vectors at the front of K and W
    index_t it = 0;
    while (it < o.max_iter) {
        ++it;
        be.check_interrupt();
        // Expand: K[:, c:c+l] is in place (F_0 after the kept vectors); each block's A^T
        // product is kept in W and its next block formed from it.
        for (index_t c = p; c < L; c += l) {
            auto Kc = K.view().cols_range(c, l);
            auto Wc = W.view().cols_range(c, l);
            A.apply(Trans::Yes, ConstMatView<T>(Kc), Wc);
            passes += 1;
            if (!thick && c + l >= L) break;  // plain restart: no block after the space
            be.copy(ConstMatView<T>(Wc), Z.view());
            be.orthonormalize(Z.view(), Ortho::CholQR2);
            auto next = c + l < L ? K.view().cols_range(c + l, l) : F.view();
            A.apply(Trans::No, Z.view(), next);
            orthonormalize_against(be, ConstMatView<T>(K.view().cols_range(0, c + l)), next,
                                   Ortho::CholQR2);
            passes += 1;
        }
        // Rayleigh-Ritz: the SVD of Q W^T, the leading `keep` triplets; refined to their own
        // scale where tol asks for the rounding floor (refined_ritz.hpp: otherwise the
        // thick restarts accumulate the SVD's backward error and hold the floor at 3-6
        // rounding units), as they are (W destroyed) where tol is above it.
        if (refines_ritz<T>(o.tol, rounding > 0 ? rounding : largest_level)) {
            out = refined_ritz_triplets(be, ConstMatView<T>(K.view()), ConstMatView<T>(W.view()),
                                        keep);
        } else {
            out = svd_of_product(be, ConstMatView<T>(K.view()), W.view(), keep,
                                 SvdDriver::Gesdd);
        }
        // AV = A V_k (plain restart: A V_l, which starts the next cycle, in K's first
        // block) and the residuals s_i u_i - A v_i in free space: K's first columns (thick:
        // K is refilled at the restart), or F (plain: no next block is kept; k <= l)
        if (thick) {
            A.apply(Trans::No, ConstMatView<T>(out.V.view().cols_range(0, k)), AV.view());
        } else {
            A.apply(Trans::No, ConstMatView<T>(out.V.view()), K.view().cols_range(0, l));
            be.copy(ConstMatView<T>(K.view().cols_range(0, k)), AV.view());
        }
        passes += 1;
        auto R = (thick ? K.view() : F.view()).cols_range(0, k);
        be.scale_columns(ConstMatView<T>(out.U.view().cols_range(0, k)), out.s.data(), R);
        be.add_scaled(ConstMatView<T>(AV.view()), T(-1), R);
        be.column_norms(ConstMatView<T>(R), res.data());
        const double s1 = double(out.s[0]);
        const double scale = std::max(s1, std::numeric_limits<double>::min());
        worst = *std::max_element(res.begin(), res.end()) / scale;
        if (!std::isfinite(worst)) break;
        rounding = rounding_level<T>(fro2, out.s, keep, min_dim, scale);
        if (worst <= std::max(o.tol, kAtFloor * rounding)) {
            converged = true;
            break;
        }
        // A tol below what rounding lets the residual reach (0 included): stop once it no
        // longer improves.  Converged then means working precision, which is what a tol
        // below the rounding level asks for, where the stall is within kStallAccept of it,
        // and what any tol asks for that the floor itself (within kNearFloor of the level,
        // 1-10x measured) keeps out of reach (340 x 413 Gaussian, k = 1: a floor at 4.7x,
        // where a tol of 2-4x raised while tol = 0 converged); a tol above the level that
        // stagnation higher up keeps out of reach is not met, and said so (svds raises
        // ArpackNoConvergence with the partial results).
        // An operator's products may carry noise far above rounding (an inverse applied by
        // an iterative solver, float32 products declared float64: residuals stalled at
        // 1e-7 to 3e-8 and the iteration ran its 1000 cycles): a long stall there is its
        // floor too, as SciPy's arpack, whose Ritz estimates do not see the noise, stops.
        const bool operator_floor = stall_ceiling == std::numeric_limits<double>::infinity() &&
                                    o.tol < kNearFloor * rounding &&
                                    stalls_long<T>(history, worst);
        if (operator_floor ||
            stopped_improving<T>(history, worst, rounding, o.tol, stall_ceiling)) {
            converged = o.tol < rounding || worst <= kNearFloor * rounding;
            break;
        }
        record_cycle(history, worst);
        if (it == o.max_iter) break;
        if (!thick) {  // plain restart: K_0 = orth(A V_l)
            be.orthonormalize(K.view().cols_range(0, l), Ortho::CholQR2);
            continue;
        }
        // Restart: K = [U_p, F], W = [V_p S_p]
        p = keep;
        be.copy(ConstMatView<T>(out.U.view()), K.view().cols_range(0, p));
        be.scale_columns(ConstMatView<T>(out.V.view()), out.s.data(), W.view().cols_range(0, p));
        be.copy(ConstMatView<T>(F.view()), K.view().cols_range(p, l));
    }
    out.passes = passes;
    out.V.truncate_cols(k);
    if (std::isfinite(worst)) {
        triplets_of_range(be, AV.view(), out, refines_ritz<T>(o.tol, rounding));
        // Short of tol (a stall, or max_iter): the triplets returned, u = A v / s, are
        // judged by their own residual A^T u - s v before failure is reported; it can lie
        // below the cycle's, which measured the Ritz pair (340 x 413 Gaussian, k = 1:
        // 1.1e-14 against 1.25e-14).
        if (!converged) {
            const double final_worst = worst_left_residual(be, A, out);
            if (final_worst <= std::max(o.tol, kAtFloor * rounding)) {
                converged = true;
                worst = final_worst;
            }
        }
    } else {
        out.U.truncate_cols(k);
        out.s.resize(static_cast<std::size_t>(k));
    }
    out.iterations = it;
    out.converged = converged;
    out.relative_error = worst;
    return out;
}

}  // namespace rankwise
