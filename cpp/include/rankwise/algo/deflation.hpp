// Deflated preconditioned CG (Saad, Yeung, Erhel & Guyomarc'h, "A deflated version of the
// conjugate gradient algorithm", SISC 21 (2000), Algorithm 2.2) as a preconditioner of the
// plain PCG loop (algo/cg.hpp).  With W (n x d) spanning the deflation subspace and
// E = W^T A W = C^T C (Cholesky, factored once), Saad et al.'s search directions are
// p_{j+1} = z_{j+1} + beta_j p_j - W E^-1 (A W)^T z_{j+1}: the same recurrence as PCG with
// the operator z = (I - W E^-1 (AW)^T) M r, provided the start satisfies W^T r_0 = 0
// (x_0 <- x_0 + W E^-1 W^T r_0, done by the caller); the residuals then stay orthogonal to
// W.  The residual is projected too (apply() below: the DEF2 form P^T M P of Tang, Nabben,
// Vuik & Erlangga 2009, equal in exact arithmetic), which keeps it so in floating point.
// The factors are kept as G = W C^-1 and F = (AW) C^-1, so W E^-1 (AW)^T = G F^T and
// W E^-1 W^T = G G^T.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

#include "rankwise/algo/precond.hpp"
#include "rankwise/error.hpp"

namespace rankwise {

template <class Backend, class T>
class DeflatedPrecond final : public Preconditioner<T> {
   public:
    // inner: M (nullptr: none); G, F: n x d backend matrices as above (taken over).
    DeflatedPrecond(const Backend& be, std::shared_ptr<Preconditioner<T>> inner,
                    typename Backend::template Matrix<T> G, typename Backend::template Matrix<T> F)
        : be_(be), inner_(std::move(inner)), g_(std::move(G)), f_(std::move(F)) {
        require(g_.rows() == f_.rows() && g_.cols() == f_.cols() && g_.cols() >= 1)
            << "deflation: G and F must both be n x d with d >= 1";
        require(!inner_ || inner_->size() == g_.rows())
            << "deflation: the preconditioner and W have different sizes";
    }
    index_t size() const override { return g_.rows(); }

    // Z = P^T M P R with P = I - A W E^-1 W^T = I - F G^T (P^T = I - G F^T).  For W^T R = 0
    // (exact arithmetic) P R = R and this is Saad et al.'s z; projecting R as well keeps
    // rounding drift of the residuals out of range(W) from accumulating, and makes the
    // operator symmetric positive semidefinite (r^T z = (P r)^T M (P r)).
    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        std::lock_guard<std::mutex> guard(lock_);  // one workspace: concurrent solves queue
        const index_t s = R.cols;
        if (w_.rows() != g_.cols() || w_.cols() != s) {  // (a first block of no columns too)
            w_ = be_.template matrix<T>(g_.cols(), s);
            y_ = be_.template matrix<T>(g_.rows(), s);
        }
        const ConstMatView<T> G(g_.view()), F(f_.view()), W(w_.view()), Y(y_.view());
        be_.gemm(Trans::Yes, Trans::No, T(1), G, R, T(0), w_.view());
        be_.axpby(T(1), R, T(0), y_.view());
        be_.gemm(Trans::No, Trans::No, T(-1), F, W, T(1), y_.view());  // Y = P R
        if (inner_) {
            inner_->apply(Y, Z);
        } else {
            be_.axpby(T(1), Y, T(0), Z);
        }
        be_.gemm(Trans::Yes, Trans::No, T(1), F, ConstMatView<T>(Z), T(0), w_.view());
        be_.gemm(Trans::No, Trans::No, T(-1), G, W, T(1), Z);  // Z = P^T M P R
    }

   private:
    const Backend& be_;
    std::shared_ptr<Preconditioner<T>> inner_;
    typename Backend::template Matrix<T> g_, f_;
    mutable std::mutex lock_;
    mutable typename Backend::template Matrix<T> w_, y_;
};

}  // namespace rankwise
