// Fixed-rank randomized SVD: randomized subspace iteration and randomized block Krylov.
//
// Problem: given A (m x n) through products with A and A^T, a target rank k and l >= k
// sketch columns, find U (m x k), s, V (n x k) with A ~ U diag(s) V^T close to optimal.
//
// Subspace iteration: Halko, Martinsson, Tropp, SIAM Review 2011 (arXiv:0909.4061),
// Algorithms 4.3/4.4 + 5.1, with the basis renormalized between passes.
// Block Krylov: Musco & Musco, NeurIPS 2015 (arXiv:1504.05477), Algorithm 2.
#pragma once

#include <algorithm>

#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

struct RsvdOptions {
    index_t k = 1;                 // rank returned
    index_t l = 1;                 // sketch columns, k <= l <= min(m, n)
    int n_iter = 0;                // power iterations q
    Ortho power_ortho = Ortho::CholQR2;  // normalizer between passes
    Ortho final_ortho = Ortho::CholQR2;  // must give an orthonormal basis
    SvdDriver driver = SvdDriver::Gesdd;
    philox::Key key{0, 0};
};

inline void check_rsvd_options(const RsvdOptions& o, index_t m, index_t n) {
    require(o.k >= 1 && o.k <= o.l && o.l <= std::min(m, n))
        << "need 1 <= k <= l <= min(m, n); got k = " << o.k << ", l = " << o.l << " for a " << m
        << " x " << n << " matrix";
    require(o.n_iter >= 0) << "n_iter must be >= 0, got " << o.n_iter;
    require(o.final_ortho == Ortho::Householder || o.final_ortho == Ortho::CholQR2)
        << "the final basis must be orthonormal (Householder or CholQR2)";
}

// 2q + 2 passes over A: Y = A Omega, then q times (Z = A^T Y, Y = A Z), then B = Q^T A.
// Memory: (m + n) l for the blocks, plus (n + l) l in the final step.
// `omega`: the n x l Gaussian test matrix in host memory (column-major), where the caller
// draws it (rankwise.randomized_svd draws scikit-learn's); nullptr: drawn from o.key.
template <class Backend, class T>
SvdFactors<Backend, T> rsvd_subspace(const Backend& be, const LinearOp<T>& A,
                                     const RsvdOptions& o, const T* omega = nullptr) {
    const index_t m = A.rows(), n = A.cols();
    check_rsvd_options(o, m, n);
    auto Z = be.template matrix<T>(n, o.l);
    auto Y = be.template matrix<T>(m, o.l);
    if (omega != nullptr) {
        be.from_host(omega, Z.view());
    } else {
        be.fill_normal(Z.view(), o.key, 0);
    }
    A.apply(Trans::No, Z.view(), Y.view());  // Y = A Omega
    for (int i = 0; i < o.n_iter; ++i) {
        be.check_interrupt();
        be.orthonormalize(Y.view(), o.power_ortho);
        A.apply(Trans::Yes, Y.view(), Z.view());  // Z = A^T Y
        be.orthonormalize(Z.view(), o.power_ortho);
        A.apply(Trans::No, Z.view(), Y.view());  // Y = A Z
    }
    be.check_interrupt();
    be.orthonormalize(Y.view(), o.final_ortho);  // Q
    auto out = svd_from_range(be, A, ConstMatView<T>(Y.view()), o.k, o.driver);
    out.passes += 1 + 2 * o.n_iter;
    return out;
}

// Krylov space K = [A Omega, (A A^T) A Omega, ..., (A A^T)^q A Omega] of l (q + 1) <= min(m, n)
// columns, each block orthonormalized against the previous ones as it is formed (block
// Lanczos-style, without the three-term recurrence, for stability), then Rayleigh-Ritz.
// 2q + 2 passes; the last one has l (q + 1) columns.
template <class Backend, class T>
SvdFactors<Backend, T> rsvd_block_krylov(const Backend& be, const LinearOp<T>& A,
                                         const RsvdOptions& o) {
    const index_t m = A.rows(), n = A.cols();
    check_rsvd_options(o, m, n);
    const index_t L = o.l * (o.n_iter + 1);
    require(L <= std::min(m, n)) << "block Krylov space of " << L << " columns exceeds min(m, n)";
    auto K = be.template matrix<T>(m, L);
    auto Z = be.template matrix<T>(n, o.l);
    be.fill_normal(Z.view(), o.key, 0);
    auto block = [&](int j) { return K.view().cols_range(j * o.l, o.l); };
    A.apply(Trans::No, Z.view(), block(0));
    be.orthonormalize(block(0), o.final_ortho);
    for (int j = 1; j <= o.n_iter; ++j) {
        be.check_interrupt();
        A.apply(Trans::Yes, block(j - 1), Z.view());  // Z = A^T K_{j-1}
        be.orthonormalize(Z.view(), o.power_ortho);
        A.apply(Trans::No, Z.view(), block(j));  // K_j = A Z
        orthonormalize_against(be, ConstMatView<T>(K.view().cols_range(0, j * o.l)), block(j),
                               o.final_ortho);
    }
    be.check_interrupt();
    auto out = svd_from_range(be, A, ConstMatView<T>(K.view()), o.k, o.driver);
    out.passes += 1 + 2 * o.n_iter;
    return out;
}

}  // namespace rankwise
