// The CPU backend's recursive LU (cpu/recursive_lu.hpp) against LAPACK's getrf: the same
// pivots and factors on random blocks, a backward-stable P L U on ill-conditioned and
// rank-deficient blocks, on both code paths (whole BLAS calls and chunks over OpenMP
// threads) and on edge shapes; and the LU normalizer that uses it (Y <- P L).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "../../cpp/cpu/recursive_lu.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class RecursiveLu : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(RecursiveLu, Precisions);

const CpuBackend be;

// (m, l, leaf columns): one leaf, l = m, l = 1, l not a multiple of the leaf, leaves of one
// column, and blocks whose trailing GEMMs are long enough to be chunked over threads.
const std::vector<std::tuple<index_t, index_t, index_t>> kShapes = {
    {1, 1, 1},   {9, 1, 1},    {7, 7, 2},     {7, 7, 32},    {64, 64, 8},
    {100, 37, 4}, {100, 37, 1}, {2500, 45, 8}, {5000, 100, 16}, {6000, 210, 32}};

template <class T>
HostMatrix<T> copy_of(ConstMatView<T> X) {
    HostMatrix<T> Y(X.rows, X.cols);
    be.copy(X, Y.view());
    return Y;
}

// P L U from a packed factorization (getrf's layout), in double.
template <class T>
std::vector<double> plu(ConstMatView<T> F, const std::vector<int>& ipiv) {
    const index_t m = F.rows, l = F.cols;
    std::vector<double> A(static_cast<std::size_t>(m * l), 0.0);
    for (index_t j = 0; j < l; ++j)
        for (index_t p = 0; p <= j; ++p) {  // column j of L U = sum_p L(:, p) U(p, j)
            const double u = F(p, j);
            A[p + j * m] += u;  // L(p, p) = 1
            for (index_t i = p + 1; i < m; ++i) A[i + j * m] += double(F(i, p)) * u;
        }
    for (index_t j = l - 1; j >= 0; --j) {  // P = P_0 ... P_{l-1}: the last swap first
        const index_t r = ipiv[j] - 1;
        if (r != j)
            for (index_t c = 0; c < l; ++c) std::swap(A[j + c * m], A[r + c * m]);
    }
    return A;
}

// Partial pivoting's invariants and backward stability: valid pivots, |L| <= 1, and
// ||Y - P L U||_max <= tol ||Y||_max.
template <class T>
void expect_partial_pivoting_lu(ConstMatView<T> Y, ConstMatView<T> F, const std::vector<int>& ipiv,
                                double tol) {
    const index_t m = Y.rows, l = Y.cols;
    T largest_l = 0;
    for (index_t j = 0; j < l; ++j) {
        EXPECT_GE(ipiv[j], j + 1);
        EXPECT_LE(ipiv[j], m);
        for (index_t i = j + 1; i < m; ++i) largest_l = std::max(largest_l, std::abs(F(i, j)));
    }
    EXPECT_LE(largest_l, T(1));
    const auto product = plu<T>(F, ipiv);
    double err = 0, scale = 0;
    for (index_t j = 0; j < l; ++j)
        for (index_t i = 0; i < m; ++i) {
            err = std::max(err, std::abs(product[i + j * m] - double(Y(i, j))));
            scale = std::max(scale, std::abs(double(Y(i, j))));
        }
    EXPECT_LE(err, tol * scale) << m << " x " << l;
}

TYPED_TEST(RecursiveLu, MatchesGetrfOnRandomBlocks) {
    using T = TypeParam;
    for (bool chunked : {false, true}) {
        const BlasPath path(chunked);
        for (auto [m, l, leaf] : kShapes) {
            const auto Y = random_matrix<T>(m, l, 21);
            auto F = copy_of<T>(Y.view());
            auto G = copy_of<T>(Y.view());
            std::vector<int> ipiv(l), ref(l);
            EXPECT_EQ(cpu::recursive_lu(F.view(), ipiv.data(), leaf), 0);
            ASSERT_EQ(lapack::getrf<T>(int(m), int(l), G.data(), int(m), ref.data()), 0);
            EXPECT_EQ(ipiv, ref) << m << " x " << l << ", leaf " << leaf;
            // Same factors up to the rounding of differently ordered updates.
            std::vector<double> g(G.data(), G.data() + m * l);
            EXPECT_LE(relative_max_error<T>(F.view(), g), 20 * eps<T>() * l)
                << m << " x " << l << ", leaf " << leaf;
            expect_partial_pivoting_lu<T>(Y.view(), F.view(), ipiv, 20 * eps<T>() * l);
        }
    }
}

TYPED_TEST(RecursiveLu, StaysBackwardStableOnIllConditionedAndRankDeficientBlocks) {
    using T = TypeParam;
    const double cond = 1 / (100 * eps<T>());
    for (bool chunked : {false, true}) {
        const BlasPath path(chunked);
        for (auto [m, l] : std::vector<std::pair<index_t, index_t>>{{300, 40}, {5000, 90}}) {
            // Singular values spread geometrically over [1 / cond, 1].
            std::vector<double> graded(static_cast<std::size_t>(l));
            for (index_t j = 0; j < l; ++j) graded[j] = std::pow(cond, -double(j) / (l - 1));
            const auto ill = matrix_with_spectrum<T>(be, m, l, graded, 22);
            // Rank l / 2, and a block with two equal columns and a zero column.
            const auto low = matrix_with_spectrum<T>(be, m, l, std::vector<double>(l / 2, 1.0), 23);
            auto dup = random_matrix<T>(m, l, 24);
            std::copy_n(dup.view().col(0), m, dup.view().col(l - 1));
            std::fill_n(dup.view().col(l / 2), m, T(0));
            for (const HostMatrix<T>* Y : std::vector<const HostMatrix<T>*>{&ill, &low, &dup}) {
                auto F = copy_of<T>(Y->view());
                std::vector<int> ipiv(l);
                const int info = cpu::recursive_lu(F.view(), ipiv.data(), 8);
                EXPECT_GE(info, 0);
                expect_partial_pivoting_lu<T>(Y->view(), F.view(), ipiv, 20 * eps<T>() * l);
            }
        }
    }
}

TYPED_TEST(RecursiveLu, ReportsTheFirstZeroPivotAsGetrfDoes) {
    using T = TypeParam;
    for (index_t zero_col : {0, 5, 11}) {
        auto Y = random_matrix<T>(40, 12, 25);
        std::fill_n(Y.view().col(zero_col), 40, T(0));
        auto G = copy_of<T>(Y.view());
        std::vector<int> ipiv(12), ref(12);
        const int info = cpu::recursive_lu(Y.view(), ipiv.data(), 2);
        EXPECT_EQ(info, lapack::getrf<T>(40, 12, G.data(), 40, ref.data()));
        EXPECT_EQ(info, zero_col + 1);
    }
}

TYPED_TEST(RecursiveLu, RejectsWideBlocks) {
    using T = TypeParam;
    auto Y = random_matrix<T>(3, 4, 1);
    std::vector<int> ipiv(4);
    EXPECT_THROW(cpu::recursive_lu(Y.view(), ipiv.data()), Error);
}

TYPED_TEST(RecursiveLu, LuNormalizerGivesPLOnBothPaths) {
    using T = TypeParam;
    // 4096 rows take the recursive LU when the BLAS thread count can be set, getrf otherwise.
    for (bool chunked : {false, true}) {
        const BlasPath path(chunked);
        for (auto [m, l] : std::vector<std::pair<index_t, index_t>>{{4096, 70}, {300, 30}}) {
            const auto Y = random_matrix<T>(m, l, 26);
            auto L = copy_of<T>(Y.view());
            be.orthonormalize(L.view(), Ortho::LU);
            // Reference: getrf, unit lower part, swaps undone.
            auto R = copy_of<T>(Y.view());
            std::vector<int> ipiv(l);
            ASSERT_EQ(lapack::getrf<T>(int(m), int(l), R.data(), int(m), ipiv.data()), 0);
            for (index_t j = 0; j < l; ++j) {
                for (index_t i = 0; i < j; ++i) R.view()(i, j) = T(0);
                R.view()(j, j) = T(1);
            }
            for (index_t j = l - 1; j >= 0; --j)
                for (index_t c = 0; c < l; ++c)
                    std::swap(R.view()(j, c), R.view()(ipiv[j] - 1, c));
            std::vector<double> r(R.data(), R.data() + m * l);
            EXPECT_LE(relative_max_error<T>(L.view(), r), 20 * eps<T>() * l) << m << " x " << l;
        }
    }
}

}  // namespace
}  // namespace rankwise::test
