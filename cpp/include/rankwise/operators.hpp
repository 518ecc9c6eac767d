// LinearOp implementations over a backend: dense matrices and CSR/CSC sparse matrices.
#pragma once

#include "rankwise/linear_op.hpp"

namespace rankwise {

// A dense matrix.  `stored` is column-major; for a row-major (C-order) array, `stored` is
// the column-major view of A^T and `transposed` is true, so no copy is ever made.
template <class Backend, class T>
class DenseOp final : public LinearOp<T> {
   public:
    DenseOp(const Backend& be, ConstMatView<T> stored, bool transposed)
        : be_(be), a_(stored), transposed_(transposed) {}
    index_t rows() const override { return transposed_ ? a_.cols : a_.rows; }
    index_t cols() const override { return transposed_ ? a_.rows : a_.cols; }
    void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const override {
        be_.gemm(transposed_ ? flip(t) : t, Trans::No, T(1), a_, X, T(0), Y);
    }
    double fro_norm2() const override { return be_.sum_squares(a_); }

   private:
    const Backend& be_;
    ConstMatView<T> a_;
    bool transposed_;
};

// A CSR matrix, or a CSC matrix given as the CSR view of its transpose (transposed = true).
template <class Backend, class T, class I>
class SparseOp final : public LinearOp<T> {
   public:
    SparseOp(const Backend& be, CsrView<T, I> csr, bool transposed)
        : be_(be), a_(csr), transposed_(transposed) {}
    index_t rows() const override { return transposed_ ? a_.cols : a_.rows; }
    index_t cols() const override { return transposed_ ? a_.rows : a_.cols; }
    void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const override {
        be_.csr_mm(a_, transposed_ ? flip(t) : t, X, Y);
    }
    double fro_norm2() const override { return be_.sum_squares(a_); }
    double entries() const override { return double(be_.csr_entries(a_)); }
    bool apply_dot(ConstMatView<T> X, MatView<T> Y, double* dots) const override {
        if (transposed_ || X.cols != 1 || a_.rows != a_.cols) return false;
        be_.csr_mv_dot(a_, X.data, Y.data, dots);
        return true;
    }
    bool apply_normal(ConstMatView<T> X, MatView<T> Y) const override {
        if (transposed_) return false;
        be_.csr_normal_mm(a_, X, Y);
        return true;
    }
    bool apply_gram(ConstMatView<T> X, MatView<T> Y) const override {
        if (!transposed_) return false;
        be_.csr_normal_mm(a_, X, Y);  // (a^T)^T a^T X
        return true;
    }
    bool apply_rows(Trans t, ConstMatView<T> Xt, MatView<T> Yt) const override {
        if constexpr (Backend::kSparseRowMajor) {
            be_.csr_mm_rows(a_, transposed_ ? flip(t) : t, Xt, Yt);
            return true;
        } else {
            return false;
        }
    }

   private:
    const Backend& be_;
    CsrView<T, I> a_;
    bool transposed_;
};

}  // namespace rankwise
