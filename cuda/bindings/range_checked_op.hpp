// A dense matrix whose NaN/Inf and range scan is judged from its first product.
//
// rankwise.svd scans A before it computes (NaN/Inf refused; entries near the float maximum or
// the subnormals scaled by a power of two first, python/rankwise/_scale.py): one read of A,
// 0.5 ms of a 21 ms randomized SVD of 32768 x 16384 float32 on an H200 and 1.05 of 17.2 ms in
// float64 (bench/RESULTS.md, session 22).  The first product Y = A X (or A^T X) tells as much
// where it is unremarkable: a NaN or Inf entry of A makes the entries of Y that it enters NaN
// or Inf (a product with it is NaN or +-Inf, whatever the other factor, and so is any sum
// with it), and the size of Y bounds A's largest entry a from both sides:
// - below, always: |y_ij| <= a ||x_j||_1 <= a sqrt(n) ||x_j||_2 (n: X's rows), so
//   max |y| >= low sqrt(n) max_j ||x_j||_2 gives a >= low;
// - above, with probability 1 - (0.8 t)^l for a Gaussian X (the sketch; an orthonormalized
//   one likewise): the row of Y through a is Gaussian with a standard deviation of at least
//   a ||x_j||_2 / sqrt(n), so it exceeds t times that in one of the l columns, and
//   max |y| <= high t min_j ||x_j||_2 / sqrt(n) gives a <= high, with t = 2^-30.
// Where both hold, the computation goes on without the scan; otherwise A itself is scanned
// here (what the scan before the call would have cost) and the computation goes on where its
// entries are finite and in range, and stops with OutOfRange where they are not: the caller
// then scans and scales as before, and starts again.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "rankwise/cuda_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"

namespace rankwise::cuda_bindings {

// A's entries are not finite or not in the range the algorithms take as they are.
class OutOfRange : public Error {
    using Error::Error;
};

template <class T>
class RangeCheckedOp final : public LinearOp<T> {
   public:
    // inner: the product of the dense matrix whose stored form is `stored`; [low, high]: the
    // range of its largest entry that needs no scaling.
    RangeCheckedOp(const CudaBackend& be, const LinearOp<T>& inner, ConstMatView<T> stored,
                   double low, double high)
        : be_(be), inner_(inner), stored_(stored), low_(low), high_(high) {}
    index_t rows() const override { return inner_.rows(); }
    index_t cols() const override { return inner_.cols(); }
    double entries() const override { return inner_.entries(); }
    double fro_norm2() const override { return inner_.fro_norm2(); }
    void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const override {
        inner_.apply(t, X, Y);
        if (!checked_) check(X, ConstMatView<T>(Y));
    }

   private:
    // 2^-30: the chance that every column of a Gaussian X stays below it, (0.8 t)^l
    static constexpr double kTail = 1.0 / 1073741824.0;

    void check(ConstMatView<T> X, ConstMatView<T> Y) const {
        checked_ = true;
        if (X.cols == 0 || Y.rows == 0) return;
        std::vector<double> norms(static_cast<std::size_t>(X.cols));
        be_.column_norms(X, norms.data());
        const double xmax = *std::max_element(norms.begin(), norms.end());
        const double xmin = *std::min_element(norms.begin(), norms.end());
        const double root_n = std::sqrt(double(X.rows));
        const double ymax = be_.finite_abs_max(Y);  // +Inf where NaN or Inf
        if (std::isfinite(ymax) && ymax >= low_ * root_n * xmax &&
            ymax <= high_ * kTail * xmin / root_n)
            return;
        const double amax = scan();
        if (std::isfinite(amax) && (amax == 0 || (amax >= low_ && amax <= high_))) return;
        throw OutOfRange("A's entries are not finite, or not in the range taken as it is");
    }

    // max |a_ij| (+Inf where one is NaN or Inf), one column when the storage is contiguous
    double scan() const {
        if (stored_.ld == stored_.rows)
            return be_.finite_abs_max(
                ConstMatView<T>{stored_.data, stored_.rows * stored_.cols, 1,
                                std::max<index_t>(stored_.rows * stored_.cols, 1)});
        return be_.finite_abs_max(stored_);
    }

    const CudaBackend& be_;
    const LinearOp<T>& inner_;
    ConstMatView<T> stored_;
    double low_, high_;
    mutable bool checked_ = false;
};

}  // namespace rankwise::cuda_bindings
