// The refined Rayleigh-Ritz step of svds (algo/refined_ritz.hpp): triplets of Q W^T whose
// right vectors are accurate to their own scale, where LAPACK's SVD of W leaves errors of
// about 40 eps s_1 in them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "rankwise/algo/refined_ritz.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class RefinedRitz : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(RefinedRitz, Precisions);

const CpuBackend be;

template <class T>
HostMatrix<T> identity(index_t n) {
    HostMatrix<T> I(n, n);
    for (index_t j = 0; j < n; ++j)
        for (index_t i = 0; i < n; ++i) I.view()(i, j) = T(i == j ? 1 : 0);
    return I;
}

// max_j ||W^T v_j - s_j x_j|| and max_j ||W x_j - s_j v_j||, over s_1, in double
template <class T>
std::pair<double, double> residuals(ConstMatView<T> W, ConstMatView<T> X, ConstMatView<T> V,
                                    const std::vector<T>& s) {
    double left = 0, right = 0;
    for (index_t j = 0; j < X.cols; ++j) {
        double l2 = 0, r2 = 0;
        for (index_t a = 0; a < W.cols; ++a) {  // (W^T v_j)_a - s_j x_aj
            double d = -double(s[j]) * X(a, j);
            for (index_t i = 0; i < W.rows; ++i) d += double(W(i, a)) * V(i, j);
            l2 += d * d;
        }
        for (index_t i = 0; i < W.rows; ++i) {  // (W x_j)_i - s_j v_ij
            double d = -double(s[j]) * V(i, j);
            for (index_t a = 0; a < W.cols; ++a) d += double(W(i, a)) * X(a, j);
            r2 += d * d;
        }
        left = std::max(left, std::sqrt(l2));
        right = std::max(right, std::sqrt(r2));
    }
    return {left / double(s[0]), right / double(s[0])};
}

TYPED_TEST(RefinedRitz, TripletsAreAccurateToTheirOwnScale) {
    using T = TypeParam;
    const index_t n = 340, L = 96, r = 10;
    const auto W = random_matrix<T>(n, L, 51);
    const auto Q = identity<T>(L);  // U = Q X = X
    const auto f = refined_ritz_triplets(be, ConstMatView<T>(Q.view()), ConstMatView<T>(W.view()),
                                         r);
    ASSERT_EQ(f.U.cols(), r);
    ASSERT_EQ(f.V.cols(), r);
    EXPECT_TRUE(std::is_sorted(f.s.rbegin(), f.s.rend()));
    const auto [left, right] = residuals<T>(ConstMatView<T>(W.view()), ConstMatView<T>(f.U.view()),
                                            ConstMatView<T>(f.V.view()), f.s);
    // v = W x / ||W x||, so W x - s v is rounding in that product (2.4-3.2 eps measured;
    // LAPACK's gesdd vectors alone: 9.6-9.7 eps, OpenBLAS).  W^T v - s x is the accuracy of
    // x as an eigenvector of W^T W: the Gram matrix's rounding, about sqrt(n) eps (8-9 eps
    // measured, gesdd's 9-11).  In svds these are the left residual A^T u - s v (u = Q x)
    // and the error along the directions a restart discards.
    EXPECT_LE(right, 5 * eps<T>());
    EXPECT_LE(left, 20 * eps<T>());
    EXPECT_LE(orthonormality_error<T>(ConstMatView<T>(f.U.view())), 8 * eps<T>());
    EXPECT_LE(orthonormality_error<T>(ConstMatView<T>(f.V.view())), 8 * eps<T>());
}

TYPED_TEST(RefinedRitz, SmallValuesKeepTheSvdsOrthonormalVectors) {
    // rank 5, r = 10: the values below s_1 / 16 (here rounding) are not refined, and their
    // vectors stay orthonormal (v = W x / s of a value at rounding level would not be)
    using T = TypeParam;
    const index_t n = 200, L = 40, r = 10;
    const auto W = matrix_with_spectrum<T>(be, n, L, {5, 4, 3, 2, 1}, 52);
    const auto Q = identity<T>(L);
    const auto f = refined_ritz_triplets(be, ConstMatView<T>(Q.view()), ConstMatView<T>(W.view()),
                                         r);
    EXPECT_LE(orthonormality_error<T>(ConstMatView<T>(f.U.view())), 8 * eps<T>());
    EXPECT_LE(orthonormality_error<T>(ConstMatView<T>(f.V.view())), 8 * eps<T>());
    const std::vector<double> sigma{5, 4, 3, 2, 1};
    for (std::size_t j = 0; j < sigma.size(); ++j) EXPECT_NEAR(f.s[j], sigma[j], 40 * eps<T>());
    for (std::size_t j = sigma.size(); j < f.s.size(); ++j) EXPECT_LE(f.s[j], 40 * eps<T>());
}

TYPED_TEST(RefinedRitz, ZeroMatrixGivesZeroValuesAndOrthonormalVectors) {
    using T = TypeParam;
    HostMatrix<T> W(30, 8);
    be.fill(W.view(), T(0));
    const auto Q = identity<T>(8);
    const auto f = refined_ritz_triplets(be, ConstMatView<T>(Q.view()), ConstMatView<T>(W.view()),
                                         3);
    for (T v : f.s) EXPECT_EQ(v, T(0));
    EXPECT_LE(orthonormality_error<T>(ConstMatView<T>(f.V.view())), 8 * eps<T>());
}

}  // namespace
}  // namespace rankwise::test
