// The one thing every algorithm needs from a matrix: products with blocks of vectors.
//
// Dense, sparse and user-supplied operators implement this interface; the algorithms in
// algo/ see nothing else of A, so a new input type is a new LinearOp, not a new algorithm.
#pragma once

#include <limits>

#include "rankwise/types.hpp"

namespace rankwise {

template <class T>
class LinearOp {
   public:
    using value_type = T;
    virtual ~LinearOp() = default;
    virtual index_t rows() const = 0;
    virtual index_t cols() const = 0;

    // Y = op(A) X with op(A) = A (Trans::No, X: cols x l, Y: rows x l)
    // or op(A) = A^T (Trans::Yes, X: rows x l, Y: cols x l).  Y is overwritten.
    virtual void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const = 0;

    // Entries a product reads: the stored nonzeros of a sparse matrix, rows x cols otherwise
    // (for work estimates: how many threads a product is worth).
    virtual double entries() const { return double(rows()) * double(cols()); }
    // ||A||_F^2 where it is cheap to know exactly; NaN where it is not (user operators).
    virtual double fro_norm2() const { return std::numeric_limits<double>::quiet_NaN(); }

    // Y = A X and dots[j] = X[:, j] . Y[:, j] (accumulated in double) in one pass, where the
    // operator can fuse the two (CG's q = A p and p.q: p and q are not read again).  dots is
    // in the backend's memory (the CUDA backend's operators leave it on the device, queued,
    // without a sync).  Returns false, having done nothing, where it cannot; the caller then
    // applies and reduces.
    virtual bool apply_dot(ConstMatView<T> /*X*/, MatView<T> /*Y*/, double* /*dots*/) const {
        return false;
    }
    // Y = A A^T X (X, Y: rows x l) in one call, where the operator can keep A^T X in its own
    // layout in between (the SVD update's residual products, update_projection.hpp).
    // Returns false, having done nothing, where it cannot; the caller then applies twice.
    virtual bool apply_normal(ConstMatView<T> /*X*/, MatView<T> /*Y*/) const { return false; }
    // Y = A^T A X (X, Y: cols x l) in one call, the same where the operator can keep A X in
    // its own layout in between (the Lanczos iteration on A^T A, normal_lanczos.hpp).
    // Returns false, having done nothing, where it cannot; the caller then applies twice.
    virtual bool apply_gram(ConstMatView<T> /*X*/, MatView<T> /*Y*/) const { return false; }
    // Y = op(A) X with X and Y row-major, given as the column-major views of their
    // transposes (Xt: l x in, Yt: l x out, contiguous), where the operator works in that
    // layout anyway (the SVD update keeps its factors' rows contiguous).  Returns false,
    // having done nothing, where it cannot; the caller then transposes around apply.
    virtual bool apply_rows(Trans /*t*/, ConstMatView<T> /*Xt*/, MatView<T> /*Yt*/) const {
        return false;
    }
};

}  // namespace rankwise
