// The first half of every SVD update: split an update block D (N x r) of one side of the
// factorization A ~ W_left diag(s) W_right^T into its part in range(W) and a residual basis,
//     D = W Cd + Q R + (dropped),   Cd = W^T D,   Q orthonormal and orthogonal to W.
//
// Three ways, one per method:
//  * explicit, exact (Zha & Simon, SIAM J. Sci. Comput. 21, 1999, sec. 3): Z = D - W Cd
//    formed densely, Q an orthonormal basis of range(Z) (block Gram-Schmidt twice); nothing
//    is dropped.  O(N r (k + r)) flops and N r memory.
//  * explicit, rank l (Vecharynski & Saad, SIAM J. Sci. Comput. 36, 2014): Z formed
//    densely, Q an l-column basis of its dominant range: randomized subspace iteration with
//    n_iter passes (Halko et al. 2011; "rpi"), or l steps of Golub-Kahan-Lanczos as in the
//    paper ("gkl", krylov_basis below).  O(N r l (1 + 2 n_iter)) or O(N r l) flops.
//  * implicit (Deng et al., "Fast Updating Truncated SVD for Representation Learning with
//    Sparse Matrices", ICLR 2024, sec. 4.1): Q = Z X is never formed.  With W orthonormal,
//    Z^T Z = D^T D - Cd^T Cd =: H, so products with H cost two sparse products with D and
//    O(r k) more, and Q^T Q = X^T H X, Q^T D = X^T H.  Only the |J| rows of W that D touches
//    are read, and nothing of size |J| x k is multiplied by a k x k matrix.  X spans the
//    dominant eigenspace of H (all of it when l >= r, else subspace iteration, or the Krylov
//    space of l GKL steps: Deng et al.'s Alg. 6 and 9 use both), H-orthonormalized through
//    the eigendecomposition of X^T H X, so that directions whose residual norm is at the
//    rounding level of the cancellation in H (about sqrt(eps) ||D||_F) are dropped rather
//    than amplified.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

// D (N x r) given as Dt = D(J, :)^T, the r x |J| operator of its nonzero rows J (ascending,
// distinct, host memory); J == nullptr means all N rows (|J| = N).
template <class T>
struct SideBlock {
    const LinearOp<T>* Dt = nullptr;
    const index_t* J = nullptr;
};

template <class Backend, class T>
struct Projection {
    using Matrix = typename Backend::template Matrix<T>;
    Matrix CdT;      // r x k: D^T W
    index_t p = 0;   // residual basis size
    Matrix Q;        // explicit methods: N x p
    Matrix X;        // implicit method: r x p, Q = (D - W Cd) X
    Matrix RT;       // r x p: D^T Q
    Matrix DtWeT;    // implicit method: (D^T We)^T = We(J, :)^T D(J, :), k x r (CdT = DtWe K)
    double dropped = 0;  // ||D - W Cd - Q Q^T D||_F^2: energy outside range([W Q])
};

template <class Backend, class T>
typename Backend::template Matrix<T> identity(const Backend& be, index_t n) {
    std::vector<T> h(static_cast<std::size_t>(n * n), T(0));
    for (index_t i = 0; i < n; ++i) h[i + i * n] = T(1);
    auto I = be.template matrix<T>(n, n);
    be.from_host(h.data(), I.view());
    return I;
}

// X^T as a new matrix.
template <class Backend, class T>
typename Backend::template Matrix<T> transposed(const Backend& be, ConstMatView<T> X) {
    auto Y = be.template matrix<T>(X.cols, X.rows);
    be.transpose(X, Y.view());
    return Y;
}

// Yt = (op(A) X)^T from Xt = X^T: row-major blocks (the updater keeps its factors so),
// through the operator's own row-major product where it has one, else transposes.
template <class Backend, class T>
void apply_rows(const Backend& be, const LinearOp<T>& A, Trans t, ConstMatView<T> Xt,
                MatView<T> Yt) {
    if (A.apply_rows(t, Xt, Yt)) return;
    auto X = be.template matrix<T>(Xt.cols, Xt.rows);
    be.transpose(Xt, X.view());
    auto Y = be.template matrix<T>(Yt.cols, Yt.rows);
    A.apply(t, ConstMatView<T>(X.view()), Y.view());
    be.transpose(ConstMatView<T>(Y.view()), Yt);
}

// D as a dense N x r matrix (explicit methods densify the update by design).
template <class Backend, class T>
typename Backend::template Matrix<T> densify(const Backend& be, SideBlock<T> D, index_t N) {
    const index_t r = D.Dt->rows(), nJ = D.Dt->cols();
    auto I = identity<Backend, T>(be, r);
    auto Dc = be.template matrix<T>(nJ, r);
    D.Dt->apply(Trans::Yes, I.view(), Dc.view());
    if (D.J == nullptr) return Dc;
    auto Dn = be.template matrix<T>(N, r);
    be.fill(Dn.view(), T(0));
    be.scatter_add_rows(ConstMatView<T>(Dc.view()), D.J, Dn.view());
    return Dn;
}

// The right vectors of l steps of Golub-Kahan-Lanczos bidiagonalization of Z (Golub & Kahan
// 1965) from a random unit start x: span{x, H x, ..., H^(l-1) x} with H = Z^T Z (r x r)
// applied by apply_h(X, Y): Y = H X.  Orthonormal, with full reorthogonalization (two
// classical Gram-Schmidt passes per step); fewer than l columns when the Krylov space
// becomes invariant (the new direction is at the rounding level of H x_j).
template <class Backend, class T, class ApplyH>
typename Backend::template Matrix<T> krylov_basis(const Backend& be, ApplyH&& apply_h, index_t r,
                                                  index_t l, philox::Key key,
                                                  std::uint64_t stream) {
    auto X = be.template matrix<T>(r, l);
    if (l == 0) return X;
    be.fill_normal(X.view().cols_range(0, 1), key, stream);
    auto y = be.template matrix<T>(r, 1);
    auto c = be.template matrix<T>(l, 1);
    double nrm = 0;
    be.column_norms(ConstMatView<T>(X.view().cols_range(0, 1)), &nrm);
    T inv = T(1.0 / nrm);
    be.scale_columns(ConstMatView<T>(X.view().cols_range(0, 1)), &inv, X.view().cols_range(0, 1));
    index_t j = 1;
    for (; j < l; ++j) {
        be.check_interrupt();
        apply_h(ConstMatView<T>(X.view().cols_range(j - 1, 1)), y.view());
        double before = 0;
        be.column_norms(ConstMatView<T>(y.view()), &before);
        const ConstMatView<T> Xj = ConstMatView<T>(X.view()).cols_range(0, j);
        for (int pass = 0; pass < 2; ++pass) {
            be.gemm(Trans::Yes, Trans::No, T(1), Xj, ConstMatView<T>(y.view()), T(0),
                    c.view().rows_range(0, j));
            be.gemm(Trans::No, Trans::No, T(-1), Xj, ConstMatView<T>(c.view().rows_range(0, j)),
                    T(1), y.view());
        }
        be.column_norms(ConstMatView<T>(y.view()), &nrm);
        if (!(nrm > 100.0 * std::numeric_limits<T>::epsilon() * before)) break;
        inv = T(1.0 / nrm);
        be.scale_columns(ConstMatView<T>(y.view()), &inv, X.view().cols_range(j, 1));
    }
    X.truncate_cols(j);
    return X;
}

// Columns of Q whose largest magnitude lies outside [sqrt(min), sqrt(max)] of T (their Gram
// matrix would underflow to zero or overflow: a batch of rows near 1e-310, found by fuzzing,
// gave NaN factors) times the power of two that brings it near 1 (at most 2^+-1000 at a
// time).  Exact, and the span is the same: Q is orthonormalized next and R formed from D.
template <class Backend, class T>
void scale_columns_into_range(const Backend& be, MatView<T> Q) {
    const auto c = static_cast<std::size_t>(Q.cols);
    std::vector<index_t> rows(c);
    std::vector<T> top(c), scale(c, T(1));
    be.column_argmax_abs(ConstMatView<T>(Q), rows.data(), top.data());
    const T lo = std::sqrt(std::numeric_limits<T>::min());
    const T hi = std::sqrt(std::numeric_limits<T>::max());
    bool any = false;
    for (std::size_t j = 0; j < c; ++j) {
        const T a = std::abs(top[j]);
        if (!std::isfinite(a) || a == T(0) || (a >= lo && a <= hi)) continue;
        int e = 0;
        std::frexp(a, &e);  // a = f 2^e, f in [0.5, 1)
        scale[j] = std::ldexp(T(1), std::clamp(-e, -1000, 1000));
        any = true;
    }
    if (any) be.scale_columns(ConstMatView<T>(Q), scale.data(), Q);
}

// Explicit methods: W = We (N x k, orthonormal), given as Wt = W^T (k x N: the updater keeps
// its factors row-major).  rank = 0: exact (Zha-Simon).
template <class Backend, class T>
Projection<Backend, T> project_explicit(const Backend& be, ConstMatView<T> Wt, SideBlock<T> Db,
                                        index_t rank, int n_iter, bool krylov, philox::Key key,
                                        std::uint64_t stream) {
    const index_t N = Wt.cols, k = Wt.rows, r = Db.Dt->rows();
    Projection<Backend, T> pr;
    auto D = densify(be, Db, N);
    pr.CdT = be.template matrix<T>(r, k);  // D^T W
    be.gemm(Trans::Yes, Trans::Yes, T(1), ConstMatView<T>(D.view()), Wt, T(0), pr.CdT.view());
    // Z = D - W Cd
    auto Z = be.template matrix<T>(N, r);
    be.copy(ConstMatView<T>(D.view()), Z.view());
    be.gemm(Trans::Yes, Trans::Yes, T(-1), Wt, ConstMatView<T>(pr.CdT.view()), T(1), Z.view());
    const double z2 = be.sum_squares(ConstMatView<T>(Z.view()));
    const index_t room = N - k;  // directions orthogonal to W
    if (rank == 0) {
        pr.p = std::min(r, room);
        pr.Q = be.template matrix<T>(N, pr.p);
        if (pr.p == r) {
            be.copy(ConstMatView<T>(Z.view()), pr.Q.view());
        } else {  // r > N - k: [W Q] spans everything; any basis of W's complement will do
            be.fill_normal(pr.Q.view(), key, stream);
        }
    } else if (krylov) {  // Q = Z X, X the right GKL vectors of Z
        auto apply_h = [&](ConstMatView<T> X, MatView<T> Y) {
            auto ZX = be.template matrix<T>(N, X.cols);
            be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(Z.view()), X, T(0), ZX.view());
            be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(Z.view()),
                    ConstMatView<T>(ZX.view()), T(0), Y);
        };
        auto X = krylov_basis<Backend, T>(be, apply_h, r, std::min({rank, r, room}), key, stream);
        pr.p = X.cols();
        pr.Q = be.template matrix<T>(N, pr.p);
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(Z.view()), ConstMatView<T>(X.view()),
                T(0), pr.Q.view());
    } else {
        pr.p = std::min({rank, r, room});
        pr.Q = be.template matrix<T>(N, pr.p);
        auto Om = be.template matrix<T>(r, pr.p);
        be.fill_normal(Om.view(), key, stream);
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(Z.view()),
                ConstMatView<T>(Om.view()), T(0), pr.Q.view());  // Y = Z Omega
        for (int it = 0; it < n_iter && pr.p > 0; ++it) {
            be.check_interrupt();
            be.orthonormalize(pr.Q.view(), Ortho::CholQR2);
            be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(Z.view()),
                    ConstMatView<T>(pr.Q.view()), T(0), Om.view());  // Z^T Y
            be.orthonormalize(Om.view(), Ortho::CholQR2);
            be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(Z.view()),
                    ConstMatView<T>(Om.view()), T(0), pr.Q.view());  // Y = Z (Z^T Y)
        }
    }
    if (pr.p > 0) {
        scale_columns_into_range(be, pr.Q.view());
        orthonormalize_against(be, Wt, pr.Q.view(), Ortho::CholQR2, Trans::Yes);
    }
    pr.RT = be.template matrix<T>(r, pr.p);
    be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(D.view()), ConstMatView<T>(pr.Q.view()),
            T(0), pr.RT.view());
    pr.dropped = std::max(0.0, z2 - be.sum_squares(ConstMatView<T>(pr.RT.view())));
    return pr;
}

// Implicit method: W = We(0:N) K with W^T W = I (the caller keeps it so); We row-major,
// given as WeT = We(0:N)^T (k x N), so that the touched rows We(J, :) are contiguous.
template <class Backend, class T>
Projection<Backend, T> project_implicit(const Backend& be, ConstMatView<T> WeT, ConstMatView<T> K,
                                        SideBlock<T> Db, index_t rank, int n_iter, bool krylov,
                                        philox::Key key, std::uint64_t stream) {
    const LinearOp<T>& Dt = *Db.Dt;
    const index_t r = Dt.rows(), nJ = Dt.cols(), k = K.cols;
    Projection<Backend, T> pr;
    ConstMatView<T> WeJT = WeT;
    typename Backend::template Matrix<T> gathered;
    if (Db.J != nullptr) {
        gathered = be.template matrix<T>(k, nJ);
        be.gather_cols(WeT, Db.J, gathered.view());
        WeJT = gathered.view();
    }
    // D^T W = (D(J, :)^T We(J, :)) K: r x k products, where W(J, :) = We(J, :) K first
    // would cost a |J| x k x k one (|J| is thousands, r a batch); D^T We serves the
    // tracked Gram matrix's update too (SvdUpdate::rotate)
    pr.DtWeT = be.template matrix<T>(k, r);
    apply_rows(be, Dt, Trans::No, WeJT, pr.DtWeT.view());
    pr.CdT = be.template matrix<T>(r, k);
    be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(pr.DtWeT.view()), K, T(0),
            pr.CdT.view());
    const ConstMatView<T> CdT = pr.CdT.view();

    // Y = H X = D^T (D X) - Cd^T (Cd X), X and Y r x c
    auto apply_h = [&](ConstMatView<T> X, MatView<T> Y) {
        if (!Dt.apply_normal(X, Y)) {
            auto DX = be.template matrix<T>(nJ, X.cols);
            Dt.apply(Trans::Yes, X, DX.view());
            Dt.apply(Trans::No, DX.view(), Y);
        }
        auto CX = be.template matrix<T>(k, X.cols);
        be.gemm(Trans::Yes, Trans::No, T(1), CdT, X, T(0), CX.view());
        be.gemm(Trans::No, Trans::No, T(-1), CdT, ConstMatView<T>(CX.view()), T(1), Y);
    };

    index_t l = rank == 0 ? r : std::min(rank, r);
    typename Backend::template Matrix<T> X;
    if (l == r) {
        X = identity<Backend, T>(be, r);  // the whole residual: exact
    } else if (krylov) {
        X = krylov_basis<Backend, T>(be, apply_h, r, l, key, stream);
        l = X.cols();
    } else {
        X = be.template matrix<T>(r, l);
        be.fill_normal(X.view(), key, stream);
        be.orthonormalize(X.view(), Ortho::CholQR2);
        auto Y = be.template matrix<T>(r, l);
        for (int it = 0; it < n_iter; ++it) {  // subspace iteration on H = Z^T Z
            be.check_interrupt();
            apply_h(X.view(), Y.view());
            be.copy(ConstMatView<T>(Y.view()), X.view());
            be.orthonormalize(X.view(), Ortho::CholQR2);
        }
    }
    auto HX = be.template matrix<T>(r, l);
    apply_h(X.view(), HX.view());
    // X^T H X = P diag(lambda) P^T
    auto P = be.template matrix<T>(l, l);
    std::vector<T> lam(static_cast<std::size_t>(l));
    rayleigh_quotient_eig(be, ConstMatView<T>(X.view()), ConstMatView<T>(HX.view()), P.view(),
                          lam.data());
    // H is formed with cancellation: entries are exact to about eps ||D||_F^2.
    const double d2 = Dt.fro_norm2();
    const double c2 = be.sum_squares(CdT);
    const double floor = 100.0 * std::numeric_limits<T>::epsilon() * d2;
    index_t p = 0;
    std::vector<T> inv_sqrt;
    while (p < l && double(lam[p]) > floor) {
        inv_sqrt.push_back(T(1.0 / std::sqrt(double(lam[p]))));
        ++p;
    }
    pr.p = p;
    auto Pp = be.template matrix<T>(l, p);
    be.scale_columns(ConstMatView<T>(P.view().cols_range(0, p)), inv_sqrt.data(), Pp.view());
    pr.X = be.template matrix<T>(r, p);
    be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(X.view()), ConstMatView<T>(Pp.view()),
            T(0), pr.X.view());
    pr.RT = be.template matrix<T>(r, p);  // D^T Q = H X P Lambda^-1/2
    be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(HX.view()), ConstMatView<T>(Pp.view()),
            T(0), pr.RT.view());
    pr.dropped = std::max(0.0, d2 - c2 - be.sum_squares(ConstMatView<T>(pr.RT.view())));
    return pr;
}

}  // namespace rankwise
