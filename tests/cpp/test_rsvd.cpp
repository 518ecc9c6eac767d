// The SVD algorithm templates on the CPU backend: exact recovery of low-rank matrices,
// near-optimal error on decaying spectra, edge shapes, option checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "rankwise/algo/error_estimate.hpp"
#include "rankwise/algo/randqb_ei.hpp"
#include "rankwise/algo/rsvd.hpp"
#include "rankwise/algo/subspace_iteration.hpp"
#include "rankwise/error.hpp"
#include "rankwise/operators.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class SvdAlgorithms : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(SvdAlgorithms, Precisions);

const CpuBackend be;

std::vector<double> geometric(index_t r, double ratio) {
    std::vector<double> s(static_cast<std::size_t>(r));
    for (index_t i = 0; i < r; ++i) s[i] = std::pow(ratio, double(i));
    return s;
}

// ||A - U diag(s) V^T||_F over ||A||_F, in double
template <class T>
double relative_residual(ConstMatView<T> A, const SvdFactors<CpuBackend, T>& f) {
    double num = 0, den = 0;
    const auto U = f.U.view(), V = f.V.view();
    for (index_t j = 0; j < A.cols; ++j)
        for (index_t i = 0; i < A.rows; ++i) {
            double v = 0;
            for (std::size_t p = 0; p < f.s.size(); ++p) v += double(U(i, p)) * f.s[p] * V(j, p);
            num += (A(i, j) - v) * (A(i, j) - v);
            den += double(A(i, j)) * A(i, j);
        }
    return std::sqrt(num / den);
}

TYPED_TEST(SvdAlgorithms, EveryDriverRecoversAnExactlyLowRankMatrix) {
    using T = TypeParam;
    for (auto [m, n] : std::vector<std::pair<index_t, index_t>>{{300, 80}, {80, 300}}) {
        const auto A = matrix_with_spectrum<T>(be, m, n, geometric(6, 0.5), 31);
        const DenseOp<CpuBackend, T> op(be, A.view(), false);
        RsvdOptions o;
        o.k = 6;
        o.l = 10;
        o.n_iter = 1;
        o.key = {5, 6};
        for (Ortho power : {Ortho::CholQR2, Ortho::LU, Ortho::Householder}) {
            o.power_ortho = power;
            const auto f = rsvd_subspace(be, op, o);
            EXPECT_LE(relative_residual<T>(A.view(), f), 100 * eps<T>());
            EXPECT_LE(orthonormality_error<T>(f.U.view()), 100 * eps<T>());
            EXPECT_LE(orthonormality_error<T>(f.V.view()), 100 * eps<T>());
            EXPECT_EQ(f.passes, 4);
        }
        const auto g = rsvd_block_krylov(be, op, o);
        EXPECT_LE(relative_residual<T>(A.view(), g), 100 * eps<T>());
        for (index_t i = 0; i < 6; ++i) EXPECT_NEAR(g.s[i], std::pow(0.5, double(i)), 50 * eps<T>());
    }
}

TYPED_TEST(SvdAlgorithms, BlockKrylovWithNarrowBlocksAndAnyPassCountIsExactOnLowRank) {
    using T = TypeParam;
    // rank 6, distinct values: floor(P / 2) blocks of b >= 6 / floor(P / 2) columns span the
    // range, whichever side the factors are taken from (P odd: A V V^T; P even: U U^T A)
    const auto A = matrix_with_spectrum<T>(be, 200, 120, geometric(6, 0.7), 35);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    for (auto [b, P] : std::vector<std::pair<index_t, int>>{{1, 12}, {2, 7}, {3, 4}, {6, 3}}) {
        RsvdOptions o;
        o.k = 6;
        o.l = b;
        o.passes = P;
        o.key = {7, 8};
        const auto f = rsvd_block_krylov(be, op, o);
        EXPECT_EQ(f.passes, P);
        EXPECT_LE(relative_residual<T>(A.view(), f), 300 * eps<T>()) << b << " x " << P;
        EXPECT_LE(orthonormality_error<T>(f.U.view()), 100 * eps<T>());
        EXPECT_LE(orthonormality_error<T>(f.V.view()), 100 * eps<T>());
        for (index_t i = 0; i < 6; ++i)
            EXPECT_NEAR(f.s[i], std::pow(0.7, double(i)), 300 * eps<T>()) << b << " x " << P;
    }
    RsvdOptions o;
    o.k = 6;
    o.l = 2;
    o.passes = 5;  // floor(5 / 2) = 2 blocks of 2 < k
    EXPECT_THROW(rsvd_block_krylov(be, op, o), Error);
    o.passes = 1;
    o.l = 6;
    EXPECT_THROW(rsvd_block_krylov(be, op, o), Error);
}

TYPED_TEST(SvdAlgorithms, FlipSignsMakesEachColumnsLargestEntryOfUPositive) {
    using T = TypeParam;
    HostMatrix<T> U(3, 3), V(2, 3);
    const T u[9] = {1, -3, 2, 0, 0, 0, -2, 2, 1};  // -3 | zeros | a tie of |2|: -2 first
    const T v[6] = {1, 2, 3, 4, 5, 6};
    std::copy_n(u, 9, U.data());
    std::copy_n(v, 6, V.data());
    flip_signs(be, U.view(), V.view());
    const T want_u[9] = {-1, 3, -2, 0, 0, 0, 2, -2, -1}, want_v[6] = {-1, -2, 3, 4, -5, -6};
    for (int i = 0; i < 9; ++i) EXPECT_EQ(U.data()[i], want_u[i]) << i;
    for (int i = 0; i < 6; ++i) EXPECT_EQ(V.data()[i], want_v[i]) << i;
    flip_signs(be, U.view(), V.view());  // now every sign is right: nothing changes
    for (int i = 0; i < 9; ++i) EXPECT_EQ(U.data()[i], want_u[i]) << i;
}

TYPED_TEST(SvdAlgorithms, SubspaceIterationMeetsTheHalkoMartinssonTroppBound) {
    using T = TypeParam;
    // Slow decay: with p = 10 oversampling and q = 2 the expected error is within a small
    // factor of the optimal tail (HMT 2011, Thm 10.7 / Cor 10.10); 1.5x is generous.
    const index_t m = 400, n = 200, k = 10;
    const auto sigma = geometric(n, 0.97);
    const auto A = matrix_with_spectrum<T>(be, m, n, sigma, 32);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    RsvdOptions o;
    o.k = k;
    o.l = k + 10;
    o.n_iter = 2;
    o.key = {1, 1};
    const auto f = rsvd_subspace(be, op, o);
    double tail = 0, total = 0;
    for (index_t i = 0; i < n; ++i) {
        total += sigma[i] * sigma[i];
        if (i >= k) tail += sigma[i] * sigma[i];
    }
    EXPECT_LE(relative_residual<T>(A.view(), f), 1.5 * std::sqrt(tail / total));
    for (index_t i = 0; i < k; ++i) EXPECT_LE(f.s[i], sigma[i] * (1 + 10 * eps<T>()));
}

TYPED_TEST(SvdAlgorithms, EdgeShapesOneRowOneColumnAndFullRank) {
    using T = TypeParam;
    for (auto [m, n] : std::vector<std::pair<index_t, index_t>>{{1, 9}, {9, 1}, {1, 1}, {7, 7}}) {
        const auto A = random_matrix<T>(m, n, 33);
        const DenseOp<CpuBackend, T> op(be, A.view(), false);
        RsvdOptions o;
        o.k = o.l = std::min(m, n);  // k = min(m, n): the exact SVD
        o.n_iter = 1;
        const auto f = rsvd_subspace(be, op, o);
        EXPECT_LE(relative_residual<T>(A.view(), f), 100 * eps<T>()) << m << " x " << n;
    }
}

TYPED_TEST(SvdAlgorithms, OptionsOutsideTheirRangeAreRefused) {
    using T = TypeParam;
    const auto A = random_matrix<T>(20, 10, 34);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    RsvdOptions o;
    o.k = 5;
    o.l = 11;  // l > min(m, n)
    EXPECT_THROW(rsvd_subspace(be, op, o), Error);
    o.l = 4;  // l < k
    EXPECT_THROW(rsvd_block_krylov(be, op, o), Error);
    o.l = 6;
    o.n_iter = -1;
    EXPECT_THROW(rsvd_subspace(be, op, o), Error);
    o.n_iter = 0;
    o.final_ortho = Ortho::LU;  // not orthonormal
    EXPECT_THROW(rsvd_subspace(be, op, o), Error);
}

TYPED_TEST(SvdAlgorithms, FixedPrecisionStopsAtTheSmallestRankMeetingTol) {
    using T = TypeParam;
    const auto sigma = geometric(60, 0.8);
    const auto A = matrix_with_spectrum<T>(be, 300, 120, sigma, 35);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    FixedPrecisionOptions o;
    o.tol = 1e-2;
    o.block = 4;
    o.max_rank = 120;
    const auto f = rsvd_fixed_precision(be, op, o);
    EXPECT_TRUE(f.converged);
    EXPECT_LE(relative_residual<T>(A.view(), f), 1e-2 * (1 + 1e-3));
    // The optimal rank for 1e-2 here: the smallest r with tail(r) <= 1e-2 ||A||_F; a block
    // of 4 may overshoot by 3 and power iterations keep it close.
    double total = 0;
    for (double s : sigma) total += s * s;
    index_t r_opt = 0;
    for (double tail = total; tail > 1e-4 * total; ++r_opt) tail -= sigma[r_opt] * sigma[r_opt];
    EXPECT_LE(static_cast<index_t>(f.s.size()), r_opt + 8);
}

TYPED_TEST(SvdAlgorithms, SubspaceIterationConvergesToTheLeadingTriplets) {
    using T = TypeParam;
    auto sigma = geometric(50, 0.9);
    const auto A = matrix_with_spectrum<T>(be, 200, 100, sigma, 36);
    const DenseOp<CpuBackend, T> op(be, A.view(), true);  // as a C-order array: A^T stored
    SubspaceIterationOptions o;
    o.k = 5;
    o.l = 8;
    o.depth = 3;
    const auto f = subspace_iteration(be, op, o);
    EXPECT_TRUE(f.converged);
    // op is the transpose of the stored matrix: same singular values.
    for (index_t i = 0; i < 5; ++i) EXPECT_NEAR(f.s[i], sigma[i], 1e3 * eps<T>());
}

TYPED_TEST(SvdAlgorithms, ProbesEstimateTheResidualWithinTheirVariance) {
    using T = TypeParam;
    const auto sigma = geometric(40, 0.9);
    const auto A = matrix_with_spectrum<T>(be, 200, 150, sigma, 37);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    RsvdOptions o;
    o.k = 10;
    o.l = 20;
    o.n_iter = 3;
    const auto f = rsvd_subspace(be, op, o);
    const index_t p = 400;
    const auto norms = probe_residual_norms(be, op, ConstMatView<T>(f.U.view()), f.s.data(),
                                            ConstMatView<T>(f.V.view()), p, philox::Key{9, 9});
    double mean2 = 0;
    for (double v : norms) mean2 += v * v / p;
    double exact2 = 0, den = 0;
    for (double s : sigma) den += s * s;
    exact2 = std::pow(relative_residual<T>(A.view(), f), 2) * den;
    // mean of p chi-square-weighted terms: relative standard deviation <= sqrt(2 / p)
    EXPECT_NEAR(mean2 / exact2, 1.0, 6 * std::sqrt(2.0 / p));
}

}  // namespace
}  // namespace rankwise::test
