// Counter-based normal deviates: a function of (key, stream, position) only.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "test_support.hpp"

namespace rankwise::test {
namespace {

const CpuBackend be;

TEST(FillNormal, SameKeySameNumbersWhateverTheLeadingDimensionOrThreads) {
    HostMatrix<double> A(300, 7), B(310, 7);
    be.fill_normal(A.view(), philox::Key{1, 2}, 0);
    const MatView<double> inner{B.data(), 300, 7, 310};  // same shape, ld 310
    be.fill_normal(inner, philox::Key{1, 2}, 0);
    for (index_t j = 0; j < 7; ++j)
        for (index_t i = 0; i < 300; ++i) ASSERT_EQ(A.view()(i, j), inner(i, j));

    const int full = be.max_threads();
    be.set_threads(1);
    HostMatrix<double> C(300, 7);
    be.fill_normal(C.view(), philox::Key{1, 2}, 0);
    be.set_threads(full);
    for (index_t i = 0; i < 300 * 7; ++i) ASSERT_EQ(A.data()[i], C.data()[i]);
}

TEST(FillNormal, KeysAndStreamsGiveDifferentNumbers) {
    HostMatrix<double> A(100, 1), B(100, 1), C(100, 1);
    be.fill_normal(A.view(), philox::Key{1, 2}, 0);
    be.fill_normal(B.view(), philox::Key{1, 3}, 0);
    be.fill_normal(C.view(), philox::Key{1, 2}, 1);
    int same_b = 0, same_c = 0;
    for (index_t i = 0; i < 100; ++i) {
        same_b += A.data()[i] == B.data()[i];
        same_c += A.data()[i] == C.data()[i];
    }
    EXPECT_EQ(same_b, 0);
    EXPECT_EQ(same_c, 0);
}

TEST(FillNormal, MomentsAreThoseOfAStandardNormal) {
    const index_t n = 200000;
    HostMatrix<float> X(n, 1);
    be.fill_normal(X.view(), philox::Key{7, 0}, 0);
    double sum = 0, sum2 = 0, sum4 = 0;
    for (index_t i = 0; i < n; ++i) {
        const double x = X.data()[i];
        ASSERT_TRUE(std::isfinite(x));
        sum += x;
        sum2 += x * x;
        sum4 += x * x * x * x;
    }
    // Standard errors: mean 1/sqrt(n), variance sqrt(2/n), fourth moment sqrt(96/n); 6 sigma.
    EXPECT_LE(std::abs(sum / n), 6 / std::sqrt(double(n)));
    EXPECT_LE(std::abs(sum2 / n - 1), 6 * std::sqrt(2.0 / n));
    EXPECT_LE(std::abs(sum4 / n - 3), 6 * std::sqrt(96.0 / n));
}

}  // namespace
}  // namespace rankwise::test
