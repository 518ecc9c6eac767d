// Leading singular triplets of a tall A (m >= n) from a thick-restarted block Lanczos
// iteration on A^T A, whose basis lives on the short side (R^n), then a check of the true
// residuals that hands over to the bidiagonalization (subspace_iteration.hpp) where they
// fall short.
//
// The Krylov space K(A^T A, V_0) is the right space of the block Lanczos bidiagonalization
// from the same block, so both converge alike per product; but the bidiagonalization also
// keeps and orthonormalizes the left basis (m x L), and for a sparse A that, not the
// products, is most of its time (bench/RESULTS.md, session 31: 0.74 s of 1.13 s).  Here only
// V = [V_p, G_0, G_1, ...] (n x L, orthonormal) and W = A^T A V are kept; the Rayleigh-Ritz
// approximation is the eigendecomposition of H = V^T W (L x L), the thick restart keeps the
// `keep` leading Ritz vectors V C and their products W C, with the next block G, which holds
// every Ritz residual W C - V C Theta (Wu & Simon's thick-restart Lanczos, 2000; SciPy's
// svds with ARPACK works on A^T A as well).
//
// Squaring costs accuracy where s_i << s_1: theta = s^2 carries errors of about eps s_1^2,
// and a residual delta_i = ||A^T A v_i - theta_i v_i|| is a residual delta_i / s_i of the
// triplet (u = A v / s_i).  The iteration stops once max_i delta_i / (s_1 s_i) is within tol
// or at the rounding level (subspace_iteration's rules), once the delta_i reach the rounding
// level of A^T A itself or stall there (the squared problem's floor), after 6 cycles without
// gain above sqrt(eps), or at once where s_k is below 64 sqrt(eps) s_1 (a rank below k:
// measured 30-300 rounding units where the bidiagonalization reaches 2-4).  The triplets come
// from the SVD of A V_k as in subspace_iteration, and their residual max_i ||A^T u_i - s_i
// v_i|| (one product) is checked against what the bidiagonalization would stop at (8
// rounding units, or tol); where it is larger (fast decays, low-rank float32 matrices, small
// spaces), the bidiagonalization runs from the start, within maxiter cycles of its own.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <vector>

#include "rankwise/algo/factors.hpp"
#include "rankwise/algo/subspace_iteration.hpp"
#include "rankwise/error.hpp"

namespace rankwise {

// The triplets are accepted within this factor of eps (1 + ||A||_F / s_1); the
// bidiagonalization itself ends at 1-10 times it (subspace_iteration.hpp).
inline constexpr double kNormalAccept = 8;
// s_k below this factor of sqrt(eps) s_1 is left to the bidiagonalization.
inline constexpr double kUnresolvable = 64;
// Cycles without gain above sqrt(eps) that end the iteration (see the loop).
inline constexpr std::ptrdiff_t kLongStall = 6;

// A single projection onto the whole basis suffices once the local one has been taken out
// where it leaves each column at least this fraction of its norm (Daniel, Gragg, Kaufman &
// Stewart 1976; ARPACK's test: the computed projection's error, eps times the norm before,
// stays at rounding level relative to the norm after).
inline constexpr double kOneProjectionEnough = 0.7071067811865476;

// Orthonormalizes the Krylov block Y = A^T A V_c (V_c = V's columns [c, c + l), V = the basis
// up to and including it, p kept Ritz vectors at its front) against V.  In exact arithmetic Y
// has components only along V_c and the block before it (the Lanczos recurrence; the
// restart's first block, c = p, along every kept Ritz vector too): these are taken out first,
// then one projection onto the whole of V removes what rounding left along the rest, and a
// second (orthonormalize_against from the start, on `product`, the block Y was copied from)
// only where that one took more than the test above allows or the block is not well
// conditioned.  Block CGS2 on every block read V four times where this reads it twice (the
// sparse svds spent about 65% of its time there; 0.70-0.85 of the time with this, session
// 33).  Returns orthonormalize_against's answer (whether random directions went in), false on
// the single-projection path.
template <class Backend, class T>
bool orthonormalize_lanczos_block(const Backend& be, ConstMatView<T> V, index_t c, index_t l,
                                  index_t p, ConstMatView<T> product, MatView<T> Y) {
    const index_t n = Y.rows;
    if (c == p || Y.cols > kCheckFreeMaxCols || n < kCheckFreeMinRows) {
        return orthonormalize_against(be, V, Y, Ortho::CholQR2);
    }
    const auto project_out = [&](ConstMatView<T> Q) {
        auto C = be.template matrix<T>(Q.cols, Y.cols);
        be.gemm(Trans::Yes, Trans::No, T(1), Q, ConstMatView<T>(Y), T(0), C.view());
        be.gemm(Trans::No, Trans::No, T(-1), Q, ConstMatView<T>(C.view()), T(1), Y);
    };
    project_out(V.cols_range(c - l, 2 * l));
    std::vector<double> given(static_cast<std::size_t>(Y.cols)), before(given.size()),
        after(given.size());
    be.column_norms(product, given.data());
    be.column_norms(ConstMatView<T>(Y), before.data());
    project_out(V);
    be.column_norms(ConstMatView<T>(Y), after.data());
    // a column left at the rounding level of the product it came from lay inside the basis:
    // orthonormalize_against's test, which puts a random direction in its place
    const double noise = kInsideSpan * orthogonality_level<T>(n);
    std::vector<T> inverse(before.size());
    bool enough = true;
    for (std::size_t j = 0; j < before.size(); ++j) {
        enough = enough && after[j] > kOneProjectionEnough * before[j] &&
                 after[j] > noise * given[j];
        if (enough) inverse[j] = T(1 / after[j]);
    }
    if (enough) {
        be.scale_columns(ConstMatView<T>(Y), inverse.data(), Y);
        if (well_conditioned_for_orthonormalizing(be, ConstMatView<T>(Y))) {
            be.orthonormalize(Y, Ortho::CholQR2);
            return false;
        }
    }
    be.copy(product, Y);
    return orthonormalize_against(be, V, Y, Ortho::CholQR2);
}

// Whether the Lanczos iteration on A^T A can run with these options: a thick restart on
// the short side (n) of the tall A.
inline bool normal_lanczos_fits(index_t k, index_t l, index_t depth, index_t n) {
    return restart_shape(k, l, depth, n).thick;
}

// The iteration alone (see above): f.V holds the Ritz vectors V_k, f.s the Ritz values
// sqrt(theta), f.relative_error the worst delta_i / (s_1 s_i) (infinite where s_k is out of
// reach), f.converged whether that met its test.
template <class Backend, class T>
SvdFactors<Backend, T> normal_lanczos_ritz(const Backend& be, const LinearOp<T>& A,
                                           const SubspaceIterationOptions& o,
                                           const T* start_vector) {
    const index_t m = A.rows(), n = A.cols(), k = o.k, l = o.l;
    const auto [thick, L, keep] = restart_shape(k, l, o.depth, n);
    require(thick && m >= n && o.max_iter >= 1)
        << "the Lanczos iteration on A^T A needs a tall A and room for a thick restart; got k = "
        << k << ", l = " << l << ", depth = " << o.depth;
    const double fro2 = A.fro_norm2();
    constexpr double eps = std::numeric_limits<T>::epsilon();

    auto V = be.template matrix<T>(n, L);  // [V_p, G_0, G_1, ...]
    auto W = be.template matrix<T>(n, L);  // A^T A V
    auto G = be.template matrix<T>(n, l);  // the block after the space: the restart's G_0
    auto AVc = be.template matrix<T>(m, l);
    auto X = be.template matrix<T>(L, L);  // eigenvectors of V^T W
    auto Vr = be.template matrix<T>(n, keep);
    auto Wr = be.template matrix<T>(n, keep);
    std::vector<T> theta(static_cast<std::size_t>(L));
    auto R = be.template matrix<T>(n, k);  // the Ritz residuals
    std::vector<double> delta(static_cast<std::size_t>(k));
    be.fill_normal(V.view().cols_range(0, l), o.key, 0);
    if (start_vector != nullptr) {
        be.copy(ConstMatView<T>{start_vector, n, 1, n}, V.view().cols_range(0, 1));
    }
    be.orthonormalize(V.view().cols_range(0, l), Ortho::CholQR2);

    SvdFactors<Backend, T> out;
    out.converged = false;
    std::vector<double> history;          // worst delta_i / (s_1 s_i) per cycle
    std::vector<double> largest_history;  // max_i delta_i per cycle
    double worst = std::numeric_limits<double>::infinity();
    index_t p = 0;  // kept Ritz vectors at the front of V and W
    index_t it = 0;
    while (it < o.max_iter) {
        ++it;
        be.check_interrupt();
        bool replaced = false;  // a block fell into the space: random columns took its place
        for (index_t c = p; c < L; c += l) {
            auto Vc = ConstMatView<T>(V.view().cols_range(c, l));
            auto Wc = W.view().cols_range(c, l);
            if (!A.apply_gram(Vc, Wc)) {
                A.apply(Trans::No, Vc, AVc.view());
                A.apply(Trans::Yes, ConstMatView<T>(AVc.view()), Wc);
            }
            out.passes += 2;
            auto next = c + l < L ? V.view().cols_range(c + l, l) : G.view();
            be.copy(ConstMatView<T>(Wc), next);
            replaced |= orthonormalize_lanczos_block(
                be, ConstMatView<T>(V.view().cols_range(0, c + l)), c, l, p, ConstMatView<T>(Wc),
                next);
        }
        // Rayleigh-Ritz: the eigendecomposition of V^T A^T A V = V^T W
        rayleigh_quotient_eig(be, ConstMatView<T>(V.view()), ConstMatView<T>(W.view()), X.view(),
                              theta.data());
        auto C = ConstMatView<T>(X.view().cols_range(0, keep));
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(V.view()), C, T(0), Vr.view());
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(W.view()), C, T(0), Wr.view());
        // delta_i = ||A^T A v_i - theta_i v_i||
        be.scale_columns(ConstMatView<T>(Vr.view().cols_range(0, k)), theta.data(), R.view());
        be.add_scaled(ConstMatView<T>(Wr.view().cols_range(0, k)), T(-1), R.view());
        be.column_norms(ConstMatView<T>(R.view()), delta.data());

        const double s1 = std::sqrt(std::max(double(theta[0]), 0.0));
        const double scale = std::max(s1, std::numeric_limits<double>::min());
        out.s.resize(static_cast<std::size_t>(keep));
        for (index_t i = 0; i < keep; ++i) {
            out.s[std::size_t(i)] = T(std::sqrt(std::max(double(theta[std::size_t(i)]), 0.0)));
        }
        // theta carries errors of about eps s_1^2: s_k much below sqrt(eps) s_1 (a rank
        // below k, a fast decay in float32) is out of the squared problem's reach, unless tol
        // asks for no more than that (a residual of about eps s_1 / s_k)
        const double sk = double(out.s[std::size_t(k - 1)]);
        if (!(sk > kUnresolvable * std::sqrt(eps) * scale) &&
            !(o.tol * sk >= kUnresolvable * eps * scale)) {
            worst = std::numeric_limits<double>::infinity();
            break;
        }
        // The triplets' residuals to come, ||A^T u_i - s_i v_i|| = delta_i / s_i, over s_1
        worst = 0;
        for (std::size_t i = 0; i < std::size_t(k); ++i) {
            worst = std::max(worst, delta[i] / (scale * double(out.s[i])));
        }
        if (!std::isfinite(worst)) break;
        const double rounding = rounding_level<T>(fro2, out.s, keep, double(n), scale);
        if (worst <= std::max(o.tol, kAtFloor * rounding)) {
            out.converged = true;
            break;
        }
        // Triplet residuals above what the check accepts, with every delta_i at the rounding
        // level of A^T A itself, about eps s_1 (s_1 + ||A||_F), or the largest no longer
        // falling (stagnates(): it sat at 48 times that level from the first cycle on, 1/i^3,
        // k = 20): the squared problem's floor, which no cycle lowers (polynomial decays,
        // k = 20-40: up to 10 more cycles before the stall tests below ended them); the check
        // decides.  (Below the acceptance, on flat spectra, the cycles go on to the rounding
        // level.)
        const double largest = *std::max_element(delta.begin(), delta.end());
        if (worst > kNormalAccept * rounding &&
            (largest <= kAtFloor * rounding * scale * scale ||
             (largest_history.size() >= 3 && stagnates(largest_history, largest)))) {
            break;
        }
        largest_history.push_back(largest);
        // No longer improving, whatever tol asks (the squared problem's floor can lie above
        // tol), at any height (a stall here ends in the check of the triplets, which hands
        // over where it falls short, not in a result); the check decides.  Above sqrt(eps),
        // where the rules let slow convergence run, a longer stall as well: the squared
        // problem's floor can lie there (float32, a numerically low-rank A^T A: 1000 cycles
        // at 4e-4 where the bidiagonalization converged in 2); the window is 6 cycles, as an
        // 8-fold value in blocks of 4 paused 4 cycles on its way down.
        if (stopped_improving<T>(history, worst, rounding, 0.0,
                                 std::numeric_limits<double>::infinity()) ||
            (worst > std::sqrt(eps) && std::ptrdiff_t(history.size()) >= 2 * kLongStall &&
             stagnates(history, worst, kLongStall))) {
            break;
        }
        history.push_back(worst);
        if (it == o.max_iter) break;
        // Restart: V = [V C, G], W = [W C]
        p = keep;
        be.copy(ConstMatView<T>(Vr.view()), V.view().cols_range(0, p));
        be.copy(ConstMatView<T>(Wr.view()), W.view().cols_range(0, p));
        if (replaced) {
            // The random columns broke the Krylov relation that puts every Ritz residual in
            // G (A^T A of numerically low rank: the residuals left the space, and the
            // iteration crept at 0.1-1% a cycle or never converged, where the
            // bidiagonalization needed 1-2 cycles): the largest residuals themselves go into
            // the next block, G's first columns where there are fewer than l.
            std::vector<index_t> order(static_cast<std::size_t>(k));
            std::iota(order.begin(), order.end(), index_t(0));
            std::sort(order.begin(), order.end(), [&](index_t a, index_t b) {
                return delta[std::size_t(a)] > delta[std::size_t(b)];
            });
            for (index_t j = 0; j < std::min(k, l); ++j) {
                be.copy(ConstMatView<T>(R.view().cols_range(order[std::size_t(j)], 1)),
                        G.view().cols_range(j, 1));
            }
            orthonormalize_against(be, ConstMatView<T>(Vr.view()), G.view(), Ortho::CholQR2);
        }
        be.copy(ConstMatView<T>(G.view()), V.view().cols_range(p, l));
    }
    // V_k drifts from orthonormality by rounding at each restart (V C, never orthonormalized
    // again: 30-120 eps after 8-26 cycles, and the singular values from A V_k with it)
    out.V = be.template matrix<T>(n, k);
    be.copy(ConstMatView<T>(Vr.view().cols_range(0, k)), out.V.view());
    be.orthonormalize(out.V.view(), Ortho::CholQR2);
    out.iterations = it;
    out.relative_error = worst;
    return out;
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

// Leading triplets of a tall A (m >= n): the Lanczos iteration on A^T A where it fits and
// its triplets' residuals pass, else the bidiagonalization from the start (see above).
template <class Backend, class T>
SvdFactors<Backend, T> leading_triplets_short_side(const Backend& be, const LinearOp<T>& A,
                                                   const SubspaceIterationOptions& o,
                                                   const T* start_vector = nullptr) {
    const index_t m = A.rows(), n = A.cols(), k = o.k;
    if (m < n || !normal_lanczos_fits(k, o.l, o.depth, n)) {
        return subspace_iteration(be, A, o, start_vector);
    }
    auto f = normal_lanczos_ritz(be, A, o, start_vector);
    // iterations: those of the solver whose triplets are returned, within maxiter
    const auto bidiagonalization = [&] {
        auto g = subspace_iteration(be, A, o, start_vector);
        g.passes += f.passes;
        return g;
    };
    if (!std::isfinite(f.relative_error)) return bidiagonalization();
    auto AV = be.template matrix<T>(m, k);
    A.apply(Trans::No, ConstMatView<T>(f.V.view()), AV.view());
    f.passes += 1;
    triplets_of_range(be, AV.view(), f);
    const double worst = worst_left_residual(be, A, f);
    const double scale = std::max(double(f.s[0]), std::numeric_limits<double>::min());
    const double rounding = rounding_level<T>(A.fro_norm2(), f.s, k, double(n), scale);
    if (!(std::isfinite(worst) && worst <= std::max(o.tol, kNormalAccept * rounding))) {
        return bidiagonalization();
    }
    f.relative_error = worst;
    f.converged = true;
    return f;
}

}  // namespace rankwise
