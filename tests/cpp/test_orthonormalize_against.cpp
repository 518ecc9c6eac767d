// orthonormalize_against (algo/factors.hpp): Y ends orthonormal and orthogonal to Q to
// rounding level, on the path that skips the check (a well-conditioned block after the second
// projection) and on the paths that keep it (ill-conditioned, rank-deficient, inside range(Q)),
// on both product paths of the CPU backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "rankwise/algo/factors.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class OrthonormalizeAgainst : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(OrthonormalizeAgainst, Precisions);

const CpuBackend be;

// max_ij |(Q^T Y)_ij|, in double
template <class T>
double largest_overlap(ConstMatView<T> Q, ConstMatView<T> Y) {
    double worst = 0;
    for (index_t a = 0; a < Q.cols; ++a)
        for (index_t b = 0; b < Y.cols; ++b) {
            double dot = 0;
            for (index_t i = 0; i < Q.rows; ++i) dot += double(Q(i, a)) * double(Y(i, b));
            worst = std::max(worst, std::abs(dot));
        }
    return worst;
}

// Y ends orthonormal and orthogonal to Q, within the function's own target (4 eps sqrt(m)).
template <class T>
void expect_orthonormal_against(ConstMatView<T> Q, MatView<T> Y, Ortho how, const char* what) {
    orthonormalize_against(be, Q, Y, how);
    const double tiny = 4 * eps<T>() * std::sqrt(double(Q.rows));
    EXPECT_LE(largest_overlap<T>(Q, ConstMatView<T>(Y)), tiny) << what;
    EXPECT_LE(orthonormality_error<T>(ConstMatView<T>(Y)), 200 * eps<T>()) << what;
}

TYPED_TEST(OrthonormalizeAgainst, EveryKindOfBlockEndsOrthonormalAndOrthogonalToQ) {
    using T = TypeParam;
    for (bool chunked : {false, true}) {
        const BlasPath path(chunked);
        for (index_t m : {300, 4000}) {  // below and above the rows where the check can go
            const auto Q = random_orthonormal<T>(be, m, 40, 1);
            const ConstMatView<T> Qv(Q.view());
            for (index_t l : {1, 4, 16, 24}) {
                for (Ortho how : {Ortho::CholQR2, Ortho::Householder}) {
                    auto Y = random_matrix<T>(m, l, 2);
                    expect_orthonormal_against<T>(Qv, Y.view(), how, "random block");

                    // Mostly inside range(Q): the first projection cancels 1 - 1e-4 of it.
                    auto near = random_matrix<T>(m, l, 3);
                    const auto coef = random_matrix<T>(40, l, 4);
                    be.gemm(Trans::No, Trans::No, T(1), Qv, ConstMatView<T>(coef.view()),
                            T(1e-4), near.view());
                    expect_orthonormal_against<T>(Qv, near.view(), how, "near range(Q)");

                    // Two columns that differ by 1e-5 outside range(Q): an ill-conditioned
                    // block after the projections, whose orthonormalization magnifies.
                    auto close = random_matrix<T>(m, l, 5);
                    if (l > 1) {
                        const auto bump = random_matrix<T>(m, 1, 6);
                        for (index_t i = 0; i < m; ++i)
                            close.view()(i, 1) = close.view()(i, 0) + T(1e-5) * bump.view()(i, 0);
                    }
                    expect_orthonormal_against<T>(Qv, close.view(), how, "ill conditioned");

                    // Exactly inside range(Q): random directions take its place.
                    auto inside = random_matrix<T>(m, l, 7);
                    be.gemm(Trans::No, Trans::No, T(1), Qv, ConstMatView<T>(coef.view()), T(0),
                            inside.view());
                    expect_orthonormal_against<T>(Qv, inside.view(), how, "inside range(Q)");
                }
            }
        }
    }
}

TEST(OrthonormalizingMagnifies, BoundsTheInverseCholeskyFactor) {
    // G = Y^T Y of an orthonormal block: R = I, ||R^{-1}||_F = sqrt(l).
    const auto identity = [](index_t l) {
        std::vector<double> G(static_cast<std::size_t>(l * l), 0.0);
        for (index_t i = 0; i < l; ++i) G[static_cast<std::size_t>(i + i * l)] = 1;
        return G;
    };
    EXPECT_TRUE(orthonormalizing_magnifies_at_most(identity(4), 4, 4.0));
    EXPECT_TRUE(orthonormalizing_magnifies_at_most(identity(16), 16, 4.0));
    EXPECT_FALSE(orthonormalizing_magnifies_at_most(identity(17), 17, 4.0));
    // Columns of norm 1 at an angle theta: R = [1 c; 0 s], R^{-1} = [1 -c/s; 0 1/s], so
    // ||R^{-1}||_F^2 = 1 + (1 + c^2) / s^2.
    const double c = std::cos(0.3), s2 = 1 - c * c, frobenius = std::sqrt(1 + (1 + c * c) / s2);
    const std::vector<double> angle = {1, c, c, 1};
    EXPECT_TRUE(orthonormalizing_magnifies_at_most(angle, 2, frobenius * 1.001));
    EXPECT_FALSE(orthonormalizing_magnifies_at_most(angle, 2, frobenius * 0.999));
    // Dependent columns, and a matrix that is not positive definite.
    EXPECT_FALSE(orthonormalizing_magnifies_at_most(std::vector<double>{1, 1, 1, 1}, 2, 4.0));
    EXPECT_FALSE(orthonormalizing_magnifies_at_most(std::vector<double>{1, 2, 2, 1}, 2, 4.0));
    EXPECT_FALSE(orthonormalizing_magnifies_at_most(std::vector<double>{0.0}, 1, 4.0));
}

}  // namespace
}  // namespace rankwise::test
