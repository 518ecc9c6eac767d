// Leading singular triplets of a tall A (m >= n) from a thick-restarted block Lanczos
// iteration on A^T A, whose basis lives on the short side (R^n), then a check of the true
// residuals that hands over to the bidiagonalization (subspace_iteration.hpp) where they
// fall short.
//
// The Krylov space K(A^T A, V_0) is the right space of the block Lanczos bidiagonalization
// from the same block, so both converge alike per product; but the bidiagonalization also
// keeps and orthonormalizes the left basis (m x L), and for a sparse A that, not the
// products, is most of its time (bench/RESULTS.md, session 31: 0.74 s of 1.13 s).  Here only
// V = [V_p, G_0, G_1, ...] (n x L, orthonormal) is kept; the Rayleigh-Ritz approximation is
// the eigendecomposition of H = V^T A^T A V (L x L), whose entries are the coefficients that
// orthonormalizing each block against V computes anyway, the thick restart keeps the `keep`
// leading Ritz vectors V X with the next block G, which holds every Ritz residual (Wu &
// Simon's thick-restart Lanczos, 2000; SciPy's svds with ARPACK works on A^T A as well).
//
// Squaring costs accuracy where s_i << s_1: theta = s^2 carries errors of about eps s_1^2,
// and a residual delta_i = ||A^T A v_i - theta_i v_i|| is a residual delta_i / s_i of the
// triplet (u = A v / s_i).  The iteration stops once max_i delta_i / (s_1 s_i) is within tol
// or at the rounding level (subspace_iteration's rules), once the delta_i reach the rounding
// level of A^T A itself or stall there (the squared problem's floor), after 6 cycles without
// gain above sqrt(eps), or at once where s_k is below 64 sqrt(eps) s_1 (measured 30-300
// rounding units where the bidiagonalization reaches 2-4) unless the Ritz vectors of those
// values are null vectors of A (a rank below k: exact triplets).  The triplets come
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
#include <utility>
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

// A single projection onto the whole basis suffices once the local one has been taken out
// where it leaves each column at least this fraction of its norm (Daniel, Gragg, Kaufman &
// Stewart 1976; ARPACK's test: the computed projection's error, eps times the norm before,
// stays at rounding level relative to the norm after).
inline constexpr double kOneProjectionEnough = 0.7071067811865476;

// Orthonormalizes the Krylov block Y = A^T A V_c (V_c = V's columns [c, c + l), V = the basis
// up to and including it, p kept Ritz vectors at its front) against V, and writes H = V^T Y
// of the block as given (`product`, which Y was copied from), the Rayleigh quotient's columns
// [c, c + l), from the projections' own coefficients.  In exact arithmetic Y has components
// only along V_c and the block before it (the Lanczos recurrence; the restart's first block,
// c = p, along every kept Ritz vector too): these are taken out first, then one projection
// onto the whole of V removes what rounding left along the rest, and a second
// (orthonormalize_against from the start, on `product`) only where that one took more than
// the test above allows or the block is not well conditioned.  Block CGS2 on every block read
// V four times where this reads it twice (the sparse svds spent about 65% of its time there;
// 0.70-0.85 of the time with this, session 33).  Returns orthonormalize_against's answer
// (whether random directions went in), false on the single-projection path.
template <class Backend, class T>
bool orthonormalize_lanczos_block(const Backend& be, ConstMatView<T> V, index_t c, index_t l,
                                  index_t p, ConstMatView<T> product, MatView<T> Y,
                                  MatView<T> H) {
    const index_t n = Y.rows;
    if (c == p || Y.cols > kCheckFreeMaxCols || n < kCheckFreeMinRows) {
        return orthonormalize_against(be, V, Y, Ortho::CholQR2, Trans::No, H);
    }
    // Y -= Q C with C = Q^T Y
    const auto project_out = [&](ConstMatView<T> Q, MatView<T> C) {
        be.gemm(Trans::Yes, Trans::No, T(1), Q, ConstMatView<T>(Y), T(0), C);
        be.gemm(Trans::No, Trans::No, T(-1), Q, ConstMatView<T>(C), T(1), Y);
    };
    auto local = be.template matrix<T>(2 * l, l);
    project_out(V.cols_range(c - l, 2 * l), local.view());
    std::vector<double> given(static_cast<std::size_t>(Y.cols)), before(given.size()),
        after(given.size());
    be.column_norms(product, given.data());
    be.column_norms(ConstMatView<T>(Y), before.data());
    project_out(V, H);
    be.column_norms(ConstMatView<T>(Y), after.data());
    // a column left at the rounding level of the product it came from lay inside the basis:
    // orthonormalize_against's test, which puts a random direction in its place
    const double noise = inside_span_level<T>();
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
            // V^T product = V^T (Y_1 + V_loc C_loc) = C_full + C_loc on the local rows,
            // up to V's rounding-level loss of orthogonality
            be.add_scaled(ConstMatView<T>(local.view()), T(1), H.rows_range(c - l, 2 * l));
            return false;
        }
    }
    be.copy(product, Y);
    return orthonormalize_against(be, V, Y, Ortho::CholQR2, Trans::No, H);
}

// Whether the Lanczos iteration on A^T A can run with these options: a thick restart on
// the short side (n) of the tall A.
inline bool normal_lanczos_fits(index_t k, index_t l, index_t depth, index_t n) {
    return restart_shape(k, l, depth, n).thick;
}

// A^T A X into Y (X, Y: n columns wide).
template <class T>
void apply_normal(const LinearOp<T>& A, ConstMatView<T> X, MatView<T> AX, MatView<T> Y) {
    if (!A.apply_gram(X, Y)) {
        A.apply(Trans::No, X, AX);
        A.apply(Trans::Yes, ConstMatView<T>(AX), Y);
    }
}

// The true residuals R = A^T A V_k - V_k diag(theta) of Ritz pairs (V_k: n x k) and their
// norms (delta), from products on blocks as wide as AV (m x l scratch: no m x k array beside
// the iteration's).  Returns the passes over A.
template <class Backend, class T>
index_t ritz_residuals(const Backend& be, const LinearOp<T>& A, ConstMatView<T> Vk,
                       const T* theta, MatView<T> AV, MatView<T> R, std::vector<double>& delta) {
    index_t passes = 0;
    for (index_t j = 0; j < Vk.cols; j += AV.cols) {
        const index_t w = std::min(AV.cols, Vk.cols - j);
        apply_normal(A, Vk.cols_range(j, w), AV.cols_range(0, w), R.cols_range(j, w));
        passes += 2;
    }
    auto VT = be.template matrix<T>(Vk.rows, Vk.cols);
    be.scale_columns(Vk, theta, VT.view());
    be.add_scaled(ConstMatView<T>(VT.view()), T(-1), R);
    be.column_norms(ConstMatView<T>(R), delta.data());
    return passes;
}

// The min(k, l) largest residuals (R: n x k, their norms delta) into the first columns of
// G (n x l), which the restart orthonormalizes against the kept Ritz vectors.
template <class Backend, class T>
void largest_residuals_into(const Backend& be, ConstMatView<T> R,
                            const std::vector<double>& delta, MatView<T> G) {
    const index_t k = R.cols;
    std::vector<index_t> order(static_cast<std::size_t>(k));
    std::iota(order.begin(), order.end(), index_t(0));
    std::sort(order.begin(), order.end(), [&](index_t a, index_t b) {
        return delta[std::size_t(a)] > delta[std::size_t(b)];
    });
    for (index_t j = 0; j < std::min(k, G.cols); ++j) {
        be.copy(R.cols_range(order[std::size_t(j)], 1), G.cols_range(j, 1));
    }
}

// max_i ||A V x_i|| over the columns x_i of X (one product with A).
template <class Backend, class T>
double largest_image(const Backend& be, const LinearOp<T>& A, ConstMatView<T> V,
                     ConstMatView<T> X) {
    auto VX = be.template matrix<T>(V.rows, X.cols);
    be.gemm(Trans::No, Trans::No, T(1), V, X, T(0), VX.view());
    auto AVX = be.template matrix<T>(A.rows(), X.cols);
    A.apply(Trans::No, ConstMatView<T>(VX.view()), AVX.view());
    std::vector<double> norms(static_cast<std::size_t>(X.cols));
    be.column_norms(ConstMatView<T>(AVX.view()), norms.data());
    return *std::max_element(norms.begin(), norms.end());
}

// The iteration alone (see above): f.V holds the Ritz vectors V_k (orthonormalized), f.s the
// Ritz values sqrt(theta), f.relative_error the worst delta_i / (s_1 s_i) (infinite where s_k
// is out of reach), f.converged whether that met its test.
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

    // The Lanczos relation A^T A V = V H + G B E^T (E: the last l columns of the identity)
    // holds up to rounding while V stays orthonormal: the Rayleigh quotient H = V^T A^T A V
    // is the orthonormalization's coefficients, and the residual of a Ritz vector V x is
    // G B x_last, of norm ||B x_last|| (Wu & Simon 2000; ARPACK's estimate): no basis of
    // products A^T A V is kept (it cost a third of the time in Rayleigh-Ritz gemms, session
    // 34, and n x L memory).
    auto V = be.template matrix<T>(n, L);  // [V_p, G_0, G_1, ...]
    auto G = be.template matrix<T>(n, l);  // the block after the space: the restart's G_0
    auto P = be.template matrix<T>(n, l);  // A^T A V_c
    auto AVc = be.template matrix<T>(m, l);
    auto H = be.template matrix<T>(L, L);  // V^T A^T A V
    auto S = be.template matrix<T>(L, L);  // H's copy for its eigendecomposition
    auto X = be.template matrix<T>(L, L);  // eigenvectors of H
    auto B = be.template matrix<T>(l, l);  // G^T A^T A V_last
    auto Bx = be.template matrix<T>(l, k);
    auto Vr = be.template matrix<T>(n, keep);
    auto HX = be.template matrix<T>(L, keep);
    auto Vk = be.template matrix<T>(n, k);  // the Ritz vectors, orthonormalized
    auto R = be.template matrix<T>(n, k);  // their true residuals
    std::vector<T> theta(static_cast<std::size_t>(L));
    std::vector<double> delta(static_cast<std::size_t>(k));
    be.fill_normal(V.view().cols_range(0, l), o.key, 0);
    if (start_vector != nullptr) {
        be.copy(ConstMatView<T>{start_vector, n, 1, n}, V.view().cols_range(0, 1));
    }
    be.orthonormalize(V.view().cols_range(0, l), Ortho::CholQR2);

    // V_k = V X[:, 0:k], orthonormalized: it drifts from orthonormality by rounding at each
    // restart (V X, never orthonormalized again: 30-120 eps after 8-26 cycles, and the
    // singular values from A V_k with it)
    const auto orthonormal_ritz_vectors = [&] {
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(V.view()),
                ConstMatView<T>(X.view().cols_range(0, k)), T(0), Vk.view());
        be.orthonormalize(Vk.view(), Ortho::CholQR2);
    };

    SvdFactors<Backend, T> out;
    out.converged = false;
    std::vector<double> history;          // worst delta_i / (s_1 s_i) per cycle
    std::vector<double> largest_history;  // max_i delta_i per cycle
    double worst = std::numeric_limits<double>::infinity();
    index_t p = 0;  // kept Ritz vectors at the front of V, H[0:p, 0:p] their Rayleigh quotient
    bool exact_residuals = false;  // every cycle measures the true residuals
    bool out_of_reach_are_null = false;  // found once: their Ritz vectors are null vectors
    index_t it = 0;
    while (it < o.max_iter) {
        ++it;
        be.check_interrupt();
        bool replaced = false;  // a block fell into the space: random columns took its place
        for (index_t c = p; c < L; c += l) {
            apply_normal(A, ConstMatView<T>(V.view().cols_range(c, l)), AVc.view(), P.view());
            out.passes += 2;
            auto next = c + l < L ? V.view().cols_range(c + l, l) : G.view();
            be.copy(ConstMatView<T>(P.view()), next);
            auto Hc = H.view().rows_range(0, c + l).cols_range(c, l);
            replaced |= orthonormalize_lanczos_block(
                be, ConstMatView<T>(V.view().cols_range(0, c + l)), c, l, p,
                ConstMatView<T>(P.view()), next, Hc);
            // H is symmetric: the rows of these columns above the block, mirrored (the
            // block's own l x l part is symmetrized with the whole below)
            be.transpose(ConstMatView<T>(Hc.rows_range(0, c)),
                         H.view().rows_range(c, l).cols_range(0, c));
        }
        be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(G.view()),
                ConstMatView<T>(P.view()), T(0), B.view());
        // Rayleigh-Ritz: the eigendecomposition of H
        be.copy(ConstMatView<T>(H.view()), S.view());
        semidefinite_eig(be, S.view(), X.view(), theta.data());
        // delta_i = ||A^T A v_i - theta_i v_i|| = ||B x_i,last||
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(B.view()),
                ConstMatView<T>(X.view().rows_range(L - l, l).cols_range(0, k)), T(0),
                Bx.view());
        be.column_norms(ConstMatView<T>(Bx.view()), delta.data());
        const auto kept_ritz_vectors = [&] {  // V X[:, 0:keep] into Vr
            be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(V.view()),
                    ConstMatView<T>(X.view().cols_range(0, keep)), T(0), Vr.view());
        };
        // The true residuals instead, from 2 more products, which also start the next
        // block (its first min(k, l) columns): where random columns broke the Lanczos
        // relation (the parts of the products that fell inside the space, dropped, are
        // left out of every G B x: A^T A of numerically low rank, where the residuals left
        // the space and the iteration crept at 0.1-1% a cycle or never converged, while the
        // bidiagonalization needed 1-2 cycles), and after the estimates once claimed a
        // convergence that the true residuals did not confirm (below).
        const auto true_residuals = [&] {
            kept_ritz_vectors();
            out.passes += ritz_residuals(be, A, ConstMatView<T>(Vr.view().cols_range(0, k)),
                                         theta.data(), AVc.view(), R.view(), delta);
            largest_residuals_into(be, ConstMatView<T>(R.view()), delta, G.view());
        };
        const bool ritz_ready = replaced || exact_residuals;
        bool residuals_in_G = ritz_ready;
        if (ritz_ready) true_residuals();

        const double s1 = std::sqrt(std::max(double(theta[0]), 0.0));
        const double scale = std::max(s1, std::numeric_limits<double>::min());
        out.s.resize(static_cast<std::size_t>(keep));
        for (index_t i = 0; i < keep; ++i) {
            out.s[std::size_t(i)] = T(std::sqrt(std::max(double(theta[std::size_t(i)]), 0.0)));
        }
        // theta carries errors of about eps s_1^2: s_i much below sqrt(eps) s_1 (a rank
        // below k, a fast decay in float32) is out of the squared problem's reach, unless tol
        // asks for no more than that (a residual of about eps s_1 / s_i).  Where the Ritz
        // vectors of those values are null vectors of A to rounding (a rank below k, its
        // range already in the space), the iteration runs on the leading values within
        // reach, and the check of the triplets decides on the rest (the SVD of A V_k gives
        // the null directions; 400000 x 2000 of rank 4, k = 6: 21x faster than the
        // bidiagonalization it handed over to at once); otherwise (values merely small, or
        // Ritz vectors not yet converged) the bidiagonalization takes over now.
        const auto reachable = [&](double si) {
            return si > kUnresolvable * std::sqrt(eps) * scale ||
                   o.tol * si >= kUnresolvable * eps * scale;
        };
        const double rounding = rounding_level<T>(fro2, out.s, keep, double(n), scale);
        index_t scored = 0;  // the leading values within reach
        while (scored < k && reachable(double(out.s[std::size_t(scored)]))) ++scored;
        if (scored < k && !out_of_reach_are_null) {
            out_of_reach_are_null = scored > 0 &&
                                    largest_image(be, A, ConstMatView<T>(V.view()),
                                                  ConstMatView<T>(X.view().cols_range(
                                                      scored, k - scored))) <=
                                        kNormalAccept * rounding * scale;
            out.passes += 1;
            if (!out_of_reach_are_null) {
                worst = std::numeric_limits<double>::infinity();
                break;
            }
        }
        // The triplets' residuals to come, ||A^T u_i - s_i v_i|| = delta_i / s_i, over s_1
        const auto worst_triplet = [&] {
            double w = 0;
            for (std::size_t i = 0; i < std::size_t(scored); ++i) {
                w = std::max(w, delta[i] / (scale * double(out.s[i])));
            }
            return w;
        };
        worst = worst_triplet();
        if (!std::isfinite(worst)) break;
        const double wanted = std::max(o.tol, kAtFloor * rounding);
        enum class Next { Go, Converged, Stop };
        const auto decide = [&](double largest) {
            if (worst <= wanted) return Next::Converged;
            // Triplet residuals above what the check accepts, with every delta_i at the
            // rounding level of A^T A itself, about eps s_1 (s_1 + ||A||_F), or the largest
            // no longer falling (stagnates(): it sat at 48 times that level from the first
            // cycle on, 1/i^3, k = 20): the squared problem's floor, which no cycle lowers
            // (polynomial decays, k = 20-40: up to 10 more cycles before the stall tests
            // below ended them); the check decides.  (Below the acceptance, on flat spectra,
            // the cycles go on to the rounding level.)
            if (worst > kNormalAccept * rounding &&
                (largest <= kAtFloor * rounding * scale * scale ||
                 (largest_history.size() >= 3 && stagnates(largest_history, largest)))) {
                return Next::Stop;
            }
            // No longer improving, whatever tol asks (the squared problem's floor can lie
            // above tol), at any height (a stall here ends in the check of the triplets,
            // which hands over where it falls short, not in a result); the check decides.
            // Above sqrt(eps), where the rules let slow convergence run, a longer stall as
            // well: the squared problem's floor can lie there (float32, a numerically
            // low-rank A^T A: 1000 cycles at 4e-4 where the bidiagonalization converged in
            // 2); the window is 6 cycles, as an 8-fold value in blocks of 4 paused 4 cycles
            // on its way down.
            if (stopped_improving<T>(history, worst, rounding, 0.0,
                                     std::numeric_limits<double>::infinity()) ||
                stalls_long<T>(history, worst)) {
                return Next::Stop;
            }
            return Next::Go;
        };
        double largest = *std::max_element(delta.begin(), delta.end());
        Next next = decide(largest);
        if (next != Next::Go && !residuals_in_G) {
            // The estimates leave out what the relation lost to rounding, which builds up
            // over the restarts, and they fall below the squared problem's floor, which the
            // true residuals do not (a 4-fold repeated spectrum, k = 40: the floor test
            // fired on the estimates, the check failed and the bidiagonalization ran from
            // the start, 1.9x the products): whatever ends the iteration is decided on the
            // true residuals of the orthonormalized Ritz vectors (those returned), and they
            // are measured every cycle from then on.
            orthonormal_ritz_vectors();
            out.passes += ritz_residuals(be, A, ConstMatView<T>(Vk.view()), theta.data(),
                                         AVc.view(), R.view(), delta);
            worst = worst_triplet();
            largest = *std::max_element(delta.begin(), delta.end());
            next = decide(largest);
            if (next != Next::Go) {
                out.V = std::move(Vk);
            } else {
                exact_residuals = true;
                largest_residuals_into(be, ConstMatView<T>(R.view()), delta, G.view());
                residuals_in_G = true;
            }
        }
        if (next == Next::Converged) out.converged = true;
        if (next != Next::Go) break;
        if (record_cycle(history, worst)) largest_history.clear();
        largest_history.push_back(largest);
        if (it == o.max_iter) break;
        // Restart: V = [V X_keep, G], H[0:p, 0:p] = X_keep^T H X_keep (theta, but for
        // rounding)
        if (!ritz_ready) kept_ritz_vectors();
        auto Xk = ConstMatView<T>(X.view().cols_range(0, keep));
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(H.view()), Xk, T(0), HX.view());
        be.gemm(Trans::Yes, Trans::No, T(1), Xk, ConstMatView<T>(HX.view()), T(0),
                H.view().rows_range(0, keep).cols_range(0, keep));
        p = keep;
        be.copy(ConstMatView<T>(Vr.view()), V.view().cols_range(0, p));
        if (residuals_in_G) {
            orthonormalize_against(be, ConstMatView<T>(Vr.view()), G.view(), Ortho::CholQR2);
        }
        be.copy(ConstMatView<T>(G.view()), V.view().cols_range(p, l));
    }
    if (out.V.cols() != k) {  // (not taken above)
        orthonormal_ritz_vectors();
        out.V = std::move(Vk);
    }
    out.iterations = it;
    out.relative_error = worst;
    return out;
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
    const auto level = [&] {
        const double scale = std::max(double(f.s[0]), std::numeric_limits<double>::min());
        return rounding_level<T>(A.fro_norm2(), f.s, k, double(n), scale);
    };
    triplets_of_range(be, AV.view(), f, refines_ritz<T>(o.tol, level()));
    const double worst = worst_left_residual(be, A, f);
    const double rounding = level();
    if (!(std::isfinite(worst) && worst <= std::max(o.tol, kNormalAccept * rounding))) {
        return bidiagonalization();
    }
    f.relative_error = worst;
    f.converged = true;
    return f;
}

}  // namespace rankwise
