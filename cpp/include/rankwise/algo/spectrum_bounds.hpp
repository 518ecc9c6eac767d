// Extreme eigenvalues of a symmetric operator from a few Lanczos steps.
//
// Problem: bounds [lmin, lmax] on the spectrum of an SPD A, cheaply, for the Chebyshev
// preconditioner.  `steps` Lanczos steps from a Gaussian start (no reorthogonalization:
// only the extreme Ritz values are used, and they converge first; Kuczynski & Wozniakowski
// 1992 bound the error of the largest for a random start) give the tridiagonal T, whose
// extreme eigenvalues are found by Sturm-sequence bisection.  Ritz values lie inside the
// spectrum, so the largest is raised by `margin` (relative) to make it an upper bound.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "rankwise/algo/thread_tuner.hpp"
#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

struct SpectrumBounds {
    double lmin = 0, lmax = 0;
    int steps = 0;  // Lanczos steps taken (fewer than asked if an invariant subspace was hit)
};

namespace detail {
// Number of eigenvalues of the symmetric tridiagonal (a, b) below x (Sturm count).
inline int eigenvalues_below(const std::vector<double>& a, const std::vector<double>& b,
                             double x) {
    int count = 0;
    double q = 1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double off = i > 0 ? b[i - 1] * b[i - 1] : 0.0;
        q = a[i] - x - (i > 0 ? off / q : 0.0);
        if (q == 0) q = -1e-300;
        if (q < 0) ++count;
    }
    return count;
}

// The k-th smallest eigenvalue (k = 0 ... m-1) by bisection on a Gershgorin interval.
inline double tridiagonal_eigenvalue(const std::vector<double>& a, const std::vector<double>& b,
                                     int k) {
    double lo = 0, hi = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double r = (i > 0 ? std::abs(b[i - 1]) : 0.0) + (i < b.size() ? std::abs(b[i]) : 0.0);
        lo = i == 0 ? a[i] - r : std::min(lo, a[i] - r);
        hi = i == 0 ? a[i] + r : std::max(hi, a[i] + r);
    }
    for (int it = 0; it < 200 && hi - lo > 1e-15 * std::max(std::abs(lo), std::abs(hi)); ++it) {
        const double mid = (lo + hi) / 2;
        if (eigenvalues_below(a, b, mid) > k) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return (lo + hi) / 2;
}
}  // namespace detail

template <class Backend, class T>
SpectrumBounds lanczos_bounds(const Backend& be, const LinearOp<T>& A, int steps,
                              philox::Key key, double margin = 0.05) {
    const index_t n = A.rows();
    require(A.cols() == n) << "lanczos: A must be square";
    require(steps >= 1) << "lanczos: steps must be >= 1, got " << steps;
    steps = static_cast<int>(std::min<index_t>(steps, n));
    auto v = be.template matrix<T>(n, 1), v_prev = be.template matrix<T>(n, 1),
         w = be.template matrix<T>(n, 1);
    be.fill_normal(v.view(), key, 0);
    auto norm = [&](ConstMatView<T> x) {  // scaled: ||A v|| of 1e160 squared overflowed
        double out = 0;
        be.column_norms(x, &out);
        return out;
    };
    be.axpby(static_cast<T>(1 / norm(ConstMatView<T>(v.view()))), ConstMatView<T>(v.view()),
             T(0), v.view());
    std::vector<double> alpha, beta;
    double beta_prev = 0;
    ThreadTuner<Backend> tuner(be);  // short synchronizing steps, as in CG
    for (int j = 0; j < steps; ++j, tuner.step()) {
        // w = A v - alpha v - beta_prev v_prev
        A.apply(Trans::No, ConstMatView<T>(v.view()), w.view());
        double a = 0;
        be.column_dots(ConstMatView<T>(v.view()), ConstMatView<T>(w.view()), &a);
        require(std::isfinite(a)) << "lanczos: A produced NaN or Inf";
        alpha.push_back(a);
        be.axpby(static_cast<T>(-a), ConstMatView<T>(v.view()), T(1), w.view());
        if (j > 0) {
            be.axpby(static_cast<T>(-beta_prev), ConstMatView<T>(v_prev.view()), T(1),
                     w.view());
        }
        const double b = norm(ConstMatView<T>(w.view()));
        if (j + 1 == steps || !(b > 1e-12 * std::abs(a))) break;  // done, or invariant subspace
        beta.push_back(b);
        beta_prev = b;
        be.axpby(T(1), ConstMatView<T>(v.view()), T(0), v_prev.view());
        be.axpby(static_cast<T>(1 / b), ConstMatView<T>(w.view()), T(0), v.view());
    }
    beta.resize(alpha.size() - 1);
    // The tridiagonal matrix scaled by a power of two to entries below 1: the Sturm
    // sequence squares the betas (1e160 overflowed: lmin came out -3e159 for an SPD A)
    double big = 0;
    for (const double x : alpha) big = std::max(big, std::abs(x));
    for (const double x : beta) big = std::max(big, std::abs(x));
    const int exponent = big > 0 ? std::ilogb(big) + 1 : 0;
    for (double& x : alpha) x = std::ldexp(x, -exponent);
    for (double& x : beta) x = std::ldexp(x, -exponent);
    SpectrumBounds out;
    out.steps = static_cast<int>(alpha.size());
    out.lmin = std::ldexp(detail::tridiagonal_eigenvalue(alpha, beta, 0), exponent);
    out.lmax = std::ldexp(detail::tridiagonal_eigenvalue(alpha, beta, out.steps - 1), exponent) *
               (1 + margin);
    return out;
}

}  // namespace rankwise
