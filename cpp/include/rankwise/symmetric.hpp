// Products with a dense symmetric matrix that read one triangle of it: CG's dense SPD
// systems (kernel matrices with a ridge term) are bound by streaming A once per iteration,
// and the upper triangle is half the bytes of the whole matrix (Level-2 BLAS symv; here
// with the project's threads and a reduction order that does not depend on them).
#pragma once

#include <vector>

#include "rankwise/linear_op.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

namespace cpu {
// Whether the square column-major A equals its transpose exactly (one blocked pass).
template <class T>
bool is_symmetric(ConstMatView<T> A);
// Y = A X for symmetric A, reading its upper triangle (diagonal included) only.
template <class T>
void symmetric_upper_mm(ConstMatView<T> A, ConstMatView<T> X, MatView<T> Y);
}  // namespace cpu

// A dense symmetric matrix (a view: the caller keeps the array alive), products from its
// upper triangle.  Symmetric, so A^T products are A products.
template <class T>
class SymmetricDenseOp final : public LinearOp<T> {
   public:
    explicit SymmetricDenseOp(ConstMatView<T> a) : a_(a) {}
    index_t rows() const override { return a_.rows; }
    index_t cols() const override { return a_.rows; }
    void apply(Trans, ConstMatView<T> X, MatView<T> Y) const override {
        cpu::symmetric_upper_mm(a_, X, Y);
    }

   private:
    ConstMatView<T> a_;
};

}  // namespace rankwise
