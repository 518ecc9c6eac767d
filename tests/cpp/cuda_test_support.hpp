// What the CUDA C++ tests share: a typed fixture that skips where no GPU is visible and
// moves matrices between host and device, and a relative difference of two host matrices.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "rankwise/cuda_backend.hpp"
#include "test_support.hpp"

namespace rankwise::test {

template <class T>
class CudaFixture : public ::testing::Test {
   protected:
    void SetUp() override {
        if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    }
    const CudaBackend gpu{nullptr};  // the legacy default stream

    DeviceMatrix<T> upload(const HostMatrix<T>& A) const {
        auto D = gpu.matrix<T>(A.rows(), A.cols());
        gpu.from_host(A.data(), D.view());
        return D;
    }
    HostMatrix<T> download(ConstMatView<T> D) const {
        HostMatrix<T> A(D.rows, D.cols);
        for (index_t j = 0; j < D.cols; ++j) {
            const auto col = gpu.to_host(D.col(j), D.rows);
            for (index_t i = 0; i < D.rows; ++i) A.view()(i, j) = col[i];
        }
        return A;
    }
    static double tol() { return std::is_same_v<T, float> ? 1e-5 : 1e-13; }
};

// max |x_ij - y_ij| / max(1, max |y_ij|)
template <class T>
double max_rel_diff(ConstMatView<T> X, ConstMatView<T> Y) {
    double d = 0, scale = 1;
    for (index_t j = 0; j < X.cols; ++j)
        for (index_t i = 0; i < X.rows; ++i) {
            d = std::max(d, std::abs(double(X(i, j)) - double(Y(i, j))));
            scale = std::max(scale, std::abs(double(Y(i, j))));
        }
    return d / scale;
}

}  // namespace rankwise::test
