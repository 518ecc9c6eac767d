// Leading singular triplets to a requested accuracy: restarted block Krylov iteration with
// Rayleigh-Ritz, run until the residuals are small (the solver behind rankwise.svds).
//
// Each cycle grows the block Krylov space K = [A V, (A A^T) A V, ..., (A A^T)^(d-1) A V]
// (d blocks of l vectors, each orthonormalized against the previous ones), takes the
// Rayleigh-Ritz approximation on range(K) (from the products A^T K_j), and restarts from its
// leading l right Ritz vectors V.  With d = 1 this is block subspace iteration.  The left residuals
// A^T u_i - s_i v_i vanish by construction, so convergence is judged on
// r_i = ||A v_i - s_i u_i||, from the product A V that starts the next cycle anyway.
// A Krylov space of depth d captures a polynomial of degree 2d - 1 in A^T A, which is why it
// converges much faster than subspace iteration on clustered spectra (Musco & Musco 2015;
// Saad, "Numerical Methods for Large Eigenvalue Problems", 2011, ch. 6); singular values end
// accurate to about r_i^2 / gap, vectors to r_i / gap.
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
    index_t l = 1;           // block size, k <= l
    index_t depth = 1;       // Krylov blocks per cycle, l * depth <= min(m, n)
    double tol = 0;          // stop when max_i r_i <= tol * s_1; 0: to working accuracy
    index_t max_iter = 1000; // cycles
    philox::Key key{0, 0};
};

template <class Backend, class T>
SvdFactors<Backend, T> subspace_iteration(const Backend& be, const LinearOp<T>& A,
                                          const SubspaceIterationOptions& o,
                                          const T* start_vector = nullptr) {
    const index_t m = A.rows(), n = A.cols(), k = o.k, l = o.l, L = o.l * o.depth;
    require(k >= 1 && k <= l && o.depth >= 1 && L <= std::min(m, n))
        << "need 1 <= k <= l and l * depth <= min(m, n); got k = " << k << ", l = " << l
        << ", depth = " << o.depth;
    require(o.max_iter >= 1) << "max_iter must be >= 1";
    constexpr double eps = std::numeric_limits<T>::epsilon();
    // "Working accuracy": the residual of a product computed in floating point is about
    // eps ||A|| sqrt(n); below that nothing can be certified.
    const double floor_tol = 8 * eps * std::sqrt(double(std::max(m, n)));
    const double tol = o.tol > 0 ? std::max(o.tol, floor_tol) : floor_tol;

    auto K = be.template matrix<T>(m, L);
    auto W = be.template matrix<T>(n, L);  // A^T K, block by block as the cycle forms it
    auto Z = be.template matrix<T>(n, l);
    auto block = [&](index_t j) { return K.view().cols_range(j * l, l); };
    auto w_block = [&](index_t j) { return W.view().cols_range(j * l, l); };
    be.fill_normal(Z.view(), o.key, 0);
    if (start_vector != nullptr) {
        be.copy(ConstMatView<T>{start_vector, n, 1, n}, Z.view().cols_range(0, 1));
    }
    A.apply(Trans::No, Z.view(), block(0));  // K_0 = A V

    auto R = be.template matrix<T>(m, k);
    std::vector<double> res(static_cast<std::size_t>(k));
    std::deque<double> recent;  // the last few residuals, to detect stagnation
    SvdFactors<Backend, T> out;
    index_t passes = 1;
    bool converged = false;
    double worst = std::numeric_limits<double>::infinity();
    index_t it = 0;
    while (it < o.max_iter) {
        ++it;
        be.check_interrupt();
        be.orthonormalize(block(0), Ortho::CholQR2);
        for (index_t j = 1; j < o.depth; ++j) {
            A.apply(Trans::Yes, block(j - 1), w_block(j - 1));  // A^T K_{j-1}, kept
            be.copy(ConstMatView<T>(w_block(j - 1)), Z.view());
            be.orthonormalize(Z.view(), Ortho::CholQR2);
            A.apply(Trans::No, Z.view(), block(j));  // K_j = A Z
            orthonormalize_against(be, ConstMatView<T>(K.view().cols_range(0, j * l)), block(j),
                                   Ortho::CholQR2);
        }
        // Rayleigh-Ritz on range(K) from W = A^T K: only its last block is a new product
        // (svd_from_range would form all of it again: (3 depth - 1) l columns per cycle
        // where 2 depth l do)
        A.apply(Trans::Yes, block(o.depth - 1), w_block(o.depth - 1));
        out = svd_of_product(be, ConstMatView<T>(K.view()), W.view(), l, SvdDriver::Gesdd);
        A.apply(Trans::No, out.V.view(), block(0));  // A V: residuals now, K_0 next cycle
        passes += 2 * o.depth;

        // R = s_i u_i - A v_i for the k wanted triplets
        be.scale_columns(ConstMatView<T>(out.U.view().cols_range(0, k)), out.s.data(), R.view());
        be.add_scaled(ConstMatView<T>(block(0).cols_range(0, k)), T(-1), R.view());
        be.column_norms(ConstMatView<T>(R.view()), res.data());
        const double scale = std::max(double(out.s[0]), std::numeric_limits<double>::min());
        worst = *std::max_element(res.begin(), res.end()) / scale;
        if (!std::isfinite(worst)) break;
        if (worst <= tol) {
            converged = true;
            break;
        }
        // At working accuracy (tol = 0): stop once the residual no longer halves in 5 cycles.
        if (o.tol == 0 && worst <= std::sqrt(eps) && recent.size() == 5 &&
            worst > 0.5 * *std::min_element(recent.begin(), recent.end())) {
            converged = true;
            break;
        }
        recent.push_back(worst);
        if (recent.size() > 5) recent.pop_front();
    }
    out.U.truncate_cols(k);
    out.V.truncate_cols(k);
    out.s.resize(static_cast<std::size_t>(k));
    out.passes = passes;
    out.iterations = it;
    out.converged = converged;
    out.relative_error = worst;
    return out;
}

}  // namespace rankwise
