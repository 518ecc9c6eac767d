// A dense matrix whose NaN/Inf and range scan is judged from its first product.
//
// rankwise.svd scans A before it computes (NaN/Inf refused; entries near the float maximum or
// the subnormals scaled by a power of two first, python/rankwise/_scale.py): one read of A,
// 0.5 ms of a 21 ms randomized SVD of 32768 x 16384 float32 on an H200 and 1.05 of 17.2 ms in
// float64 (bench/RESULTS.md, session 22).  The first product Y = A X tells as much where it
// is unremarkable (a its largest entry |a_pq|, n = X's rows, l = its columns):
// - a NaN or Inf entry of A makes the entries of Y that it enters NaN or Inf (its product
//   with any other factor is NaN or +-Inf, and so is any sum with it);
// - below, always: |y_ij| <= a ||x_j||_1 <= a sqrt(n) ||x_j||_2, so max |y| >=
//   low sqrt(n) max_j ||x_j||_2 gives a >= low;
// - above, for the sketches of algo/rsvd.hpp (X Gaussian, or Gaussian orthonormalized): in
//   row p, y_pj = A_p x_j with ||A_p|| >= a, and A_p x_j / ||A_p|| is Gaussian (or a
//   coordinate of a random unit vector) of scale ||x_j|| / sqrt(n), below t times that with
//   probability at most 0.8 t, and in all l columns with probability at most (0.8 t)^l
//   (checked by Monte Carlo for both kinds of X, down to n = l + 1, session 43), so
//   max |y| <= high t min_j ||x_j|| / sqrt(n) gives a <= high but for that chance.  t =
//   min(0.5, 2^(-30 / l)) keeps it at 2^-30 or below: at l = 74, t = 0.5 and the chance is
//   0.4^74 (with t = 2^-30 for every l, float32 entries above about 100 failed the bound).
// Where both bounds hold, the computation goes on without the scan; otherwise A itself is
// scanned here (what the scan before the call would have cost) and the computation goes on
// where its entries are finite and in range, and stops with OutOfRange where they are not:
// the caller then scans and scales as before, and starts again.  last_range_check says
// which happened, for the tests.
#pragma once

#include <algorithm>
#include <atomic>
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

// How the last first-product check of the process ended: "product" (the bounds settled
// it), "scan" (A scanned, in range), "out of range", or "" before the first.
inline std::atomic<const char*> last_range_check{""};  // string literals only

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
    void check(ConstMatView<T> X, ConstMatView<T> Y) const {
        checked_ = true;
        if (X.cols == 0 || Y.rows == 0) return;
        std::vector<double> norms(static_cast<std::size_t>(X.cols));
        be_.column_norms(X, norms.data());
        const double xmax = *std::max_element(norms.begin(), norms.end());
        const double xmin = *std::min_element(norms.begin(), norms.end());
        const double root_n = std::sqrt(double(X.rows));
        // (0.8 t)^l <= 2^-30: the chance that the upper bound is wrong
        const double t = std::min(0.5, std::exp2(-30.0 / double(X.cols)));
        const double ymax = be_.finite_abs_max(Y);  // +Inf where NaN or Inf
        if (std::isfinite(ymax) && ymax >= low_ * root_n * xmax &&
            ymax <= high_ * t * xmin / root_n) {
            last_range_check = "product";
            return;
        }
        const double amax = scan();
        if (std::isfinite(amax) && (amax == 0 || (amax >= low_ && amax <= high_))) {
            last_range_check = "scan";
            return;
        }
        last_range_check = "out of range";
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
