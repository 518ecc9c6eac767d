// Fixed-rank randomized SVD: randomized subspace iteration and randomized block Krylov.
//
// Problem: given A (m x n) through products with A and A^T, a target rank k and l >= k
// sketch columns, find U (m x k), s, V (n x k) with A ~ U diag(s) V^T close to optimal.
//
// Subspace iteration: Halko, Martinsson, Tropp, SIAM Review 2011 (arXiv:0909.4061),
// Algorithms 4.3/4.4 + 5.1, with the basis renormalized between passes.
// Block Krylov: Musco & Musco, NeurIPS 2015 (arXiv:1504.05477), Algorithm 2, run as block
// Golub-Kahan (rsvd_block_krylov below says how).
#pragma once

#include <algorithm>
#include <utility>

#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

struct RsvdOptions {
    index_t k = 1;                 // rank returned
    index_t l = 1;                 // sketch columns, k <= l <= min(m, n); block Krylov: the
                                   // block size, k <= l floor(passes / 2) and
                                   // l ceil(passes / 2) <= min(m, n)
    int n_iter = 0;                // power iterations q
    int passes = 0;                // block Krylov: passes over A (>= 2); 0: 2 q + 2
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
// Memory: (m + n) l for the blocks, plus (n + l) l in the final step (the factor V).
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
    // the last pass, A^T Q, written over Z (n x l, no longer needed)
    auto out = svd_from_range(be, A, ConstMatView<T>(Y.view()), Z.view(), o.k, o.driver);
    out.passes += 1 + 2 * o.n_iter;
    return out;
}

// Block Krylov iteration as block Golub-Kahan bidiagonalization with full
// reorthogonalization.  From V_0 = orth(Omega) (n x b), P passes alternate
//   A V_i,   U_i = A V_i orthonormalized against U_0 .. U_{i-1},
//   A^T U_i, V_{i+1} = A^T U_i orthonormalized against V_0 .. V_i,
// so that range(U) = [A Omega, (A A^T) A Omega, ...] (Musco & Musco's Krylov space) and
// range(V) = [Omega, (A^T A) Omega, ...].  Every product is kept, so the Rayleigh-Ritz step
// costs no further pass (Musco & Musco's Algorithm 2 spends one more, of l (q + 1) columns,
// on Q^T A, which is made of the products A^T U_i already formed):
// - P even (the last pass is A^T U_j): the factors of U U^T A = U (A^T U)^T;
// - P odd (the last pass is A V_j): the factors of A V V^T = (A V) V^T, the best
//   approximation of rank k whose rows lie in range(V) (Tropp & Webber 2023,
//   arXiv:2306.12418, Sec. 11).  One pass fewer than P + 1, one block more than P - 1.
// P = 2q + 2 is Musco & Musco's method with q iterations.  The block size b may be below k
// (Chen, Epperly, Meyer, Musco & Rao 2025, arXiv:2508.06486) as long as the floor(P / 2)
// blocks of U have k columns: V_0 = orth(Omega) lies mostly outside A's row space, so the
// odd finish's extra block adds little of A (a rank-6 A needs 3 blocks of 2 in U either way).
// Memory: (m + n) b (floor(P / 2) + 1) for the bases, (m or n) b ceil(P / 2) for the products
// kept.
template <class Backend, class T>
SvdFactors<Backend, T> rsvd_block_krylov(const Backend& be, const LinearOp<T>& A,
                                         const RsvdOptions& o) {
    const index_t m = A.rows(), n = A.cols(), b = o.l;
    require(o.n_iter >= 0) << "n_iter must be >= 0, got " << o.n_iter;
    const int P = o.passes > 0 ? o.passes : 2 * o.n_iter + 2;
    require(P >= 2) << "block Krylov needs at least 2 passes over A, got " << o.passes;
    const bool odd = P % 2 == 1;
    const index_t right_blocks = (P + 1) / 2, left_blocks = P / 2;
    const index_t L = b * right_blocks;  // the factors' space: ceil(P / 2) blocks
    require(b >= 1 && o.k >= 1 && o.k <= b * left_blocks && L <= std::min(m, n))
        << "need 1 <= k <= (block size) floor(passes / 2) and (block size) ceil(passes / 2) "
        << "<= min(m, n); got k = " << o.k << ", block size " << b << ", " << P
        << " passes for a " << m << " x " << n << " matrix";
    require(o.final_ortho == Ortho::Householder || o.final_ortho == Ortho::CholQR2)
        << "the Krylov basis must be orthonormal (Householder or CholQR2)";
    // The factors' SVD needs an orthonormal basis of the last products too (svd_of_product_in):
    // one block more on the side the iteration did not reach, U_j = A V_j (odd) or
    // V_j = A^T U_{j-1} (even) orthonormalized against its side, where it fits.
    const bool extend = odd || b * (right_blocks + 1) <= n;
    auto V = be.template matrix<T>(n, b * (right_blocks + (!odd && extend ? 1 : 0)));
    auto U = be.template matrix<T>(m, b * (left_blocks + (odd ? 1 : 0)));
    auto AV = be.template matrix<T>(m, odd ? L : b);  // every A V_i for the odd finish
    auto AtU = be.template matrix<T>(n, odd ? b : L);  // every A^T U_i for the even one
    auto v = [&](index_t i) { return V.view().cols_range(i * b, b); };
    auto u = [&](index_t i) { return U.view().cols_range(i * b, b); };
    auto next_u = [&](index_t i, ConstMatView<T> av) {  // U_i from A V_i
        be.copy(av, u(i));
        orthonormalize_against(be, ConstMatView<T>(U.view().cols_range(0, i * b)), u(i),
                               o.final_ortho);
    };
    auto next_v = [&](index_t i, ConstMatView<T> atu) {  // V_i from A^T U_{i-1}
        be.copy(atu, v(i));
        orthonormalize_against(be, ConstMatView<T>(V.view().cols_range(0, i * b)), v(i),
                               o.final_ortho);
    };
    be.fill_normal(v(0), o.key, 0);
    be.orthonormalize(v(0), o.final_ortho);
    int passes = 0;
    for (index_t i = 0;; ++i) {
        be.check_interrupt();
        auto av = AV.view().cols_range(odd ? i * b : 0, b);
        A.apply(Trans::No, ConstMatView<T>(v(i)), av);
        next_u(i, ConstMatView<T>(av));
        if (++passes == P) break;
        be.check_interrupt();
        auto atu = AtU.view().cols_range(odd ? 0 : i * b, b);
        A.apply(Trans::Yes, ConstMatView<T>(u(i)), atu);
        const bool last = ++passes == P;
        if (!last || extend) next_v(i + 1, ConstMatView<T>(atu));
        if (last) break;
    }
    SvdFactors<Backend, T> out;
    if (odd) {  // A V V^T is the transpose of V (A V)^T, with A V in range(U)
        out = svd_of_product_in(be, ConstMatView<T>(V.view()), ConstMatView<T>(AV.view()),
                                ConstMatView<T>(U.view()), o.k, o.driver);
        std::swap(out.U, out.V);
    } else if (extend) {  // U (A^T U)^T, with A^T U in range(V)
        out = svd_of_product_in(be, ConstMatView<T>(U.view()), ConstMatView<T>(AtU.view()),
                                ConstMatView<T>(V.view()), o.k, o.driver);
    } else {  // V has no room for another block: the QR of A^T U
        out = svd_of_product(be, ConstMatView<T>(U.view()), AtU.view(), o.k, o.driver);
    }
    out.passes = P;
    return out;
}

}  // namespace rankwise
