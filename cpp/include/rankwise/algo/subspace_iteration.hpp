// Leading singular triplets to a requested accuracy: block subspace iteration with
// Rayleigh-Ritz, run until the residuals are small (the solver behind rankwise.svds).
//
// Each iteration: Q = orth(A V), W = A^T Q, W = Uw diag(s) Vwt, U = Q Vwt^T, V = Uw.  The
// left residuals A^T u_i - s_i v_i vanish by construction (Rayleigh-Ritz on range(Q)), so
// convergence is judged on r_i = ||A v_i - s_i u_i||, computed from the product A V that
// the next iteration needs anyway.  Convergence of triplet i is linear with ratio
// (s_{l+1} / s_i)^2 per iteration (Saad, "Numerical Methods for Large Eigenvalue Problems",
// 2011, Thm 5.2, on A^T A); singular values are accurate to about r_i^2 / gap.
#pragma once

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <vector>

#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

struct SubspaceIterationOptions {
    index_t k = 1;
    index_t l = 1;           // block size, k <= l <= min(m, n)
    double tol = 0;          // stop when max_i r_i <= tol * s_1; 0: to working accuracy
    index_t max_iter = 1000;
    philox::Key key{0, 0};
};

template <class Backend, class T>
SvdFactors<Backend, T> subspace_iteration(const Backend& be, const LinearOp<T>& A,
                                          const SubspaceIterationOptions& o,
                                          const T* start_vector = nullptr) {
    const index_t m = A.rows(), n = A.cols(), k = o.k, l = o.l;
    require(k >= 1 && k <= l && l <= std::min(m, n))
        << "need 1 <= k <= l <= min(m, n); got k = " << k << ", l = " << l;
    require(o.max_iter >= 1) << "max_iter must be >= 1";
    constexpr double eps = std::numeric_limits<T>::epsilon();
    // "Working accuracy": the residual of a product computed in floating point is about
    // eps ||A|| sqrt(n); below that nothing can be certified.
    const double floor_tol = 8 * eps * std::sqrt(double(std::max(m, n)));
    const double tol = o.tol > 0 ? std::max(o.tol, floor_tol) : floor_tol;

    auto V = be.template matrix<T>(n, l);
    be.fill_normal(V.view(), o.key, 0);
    if (start_vector != nullptr) {
        be.copy(ConstMatView<T>{start_vector, n, 1, n}, V.view().cols_range(0, 1));
    }
    be.orthonormalize(V.view(), Ortho::CholQR2);
    auto Y = be.template matrix<T>(m, l);
    auto Q = be.template matrix<T>(m, l);
    auto U = be.template matrix<T>(m, l);
    auto W = be.template matrix<T>(n, l);
    auto Vwt = be.template matrix<T>(l, l);
    auto R = be.template matrix<T>(m, k);
    std::vector<T> s(static_cast<std::size_t>(l));
    std::vector<double> res(static_cast<std::size_t>(k));
    std::deque<double> recent;  // the last few max residuals, for stagnation
    A.apply(Trans::No, V.view(), Y.view());

    SvdFactors<Backend, T> out;
    out.passes = 1;
    out.converged = false;
    for (index_t it = 1; it <= o.max_iter; ++it) {
        be.check_interrupt();
        be.copy(ConstMatView<T>(Y.view()), Q.view());
        be.orthonormalize(Q.view(), Ortho::CholQR2);
        A.apply(Trans::Yes, Q.view(), W.view());
        be.svd(W.view(), V.view(), s.data(), Vwt.view(), SvdDriver::Gesdd);
        be.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(Q.view()),
                ConstMatView<T>(Vwt.view()), T(0), U.view());
        A.apply(Trans::No, V.view(), Y.view());
        out.passes += 2;
        out.iterations = it;

        // R = A v_i - s_i u_i for the k wanted triplets
        be.scale_columns(ConstMatView<T>(U.view().cols_range(0, k)), s.data(), R.view());
        be.add_scaled(ConstMatView<T>(Y.view().cols_range(0, k)), T(-1), R.view());
        be.column_norms(ConstMatView<T>(R.view()), res.data());
        const double scale = std::max(double(s[0]), std::numeric_limits<double>::min());
        const double worst = *std::max_element(res.begin(), res.end()) / scale;
        out.relative_error = worst;
        if (!std::isfinite(worst)) break;
        if (worst <= tol) {
            out.converged = true;
            break;
        }
        // At working accuracy (tol = 0): stop once the residual no longer halves in 5 steps.
        if (o.tol == 0 && worst <= std::sqrt(eps) && recent.size() == 5 &&
            worst > 0.5 * *std::min_element(recent.begin(), recent.end())) {
            out.converged = true;
            break;
        }
        recent.push_back(worst);
        if (recent.size() > 5) recent.pop_front();
    }
    U.truncate_cols(k);
    V.truncate_cols(k);
    s.resize(static_cast<std::size_t>(k));
    out.U = std::move(U);
    out.V = std::move(V);
    out.s = std::move(s);
    return out;
}

}  // namespace rankwise
