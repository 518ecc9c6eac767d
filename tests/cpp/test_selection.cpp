// Row selection templates: DEIM equals the textbook greedy, Q-DEIM and maxvol meet their
// bounds, bad bases are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "rankwise/algo/selection.hpp"
#include "rankwise/error.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class Selection : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Selection, Precisions);

const CpuBackend be;

// Chaturantabut & Sorensen 2010, Algorithm 1, in double with explicit solves:
// p_j = argmax |v_j - V_{<j} V(p, <j)^{-1} v_j(p)|.
template <class T>
std::vector<index_t> textbook_deim(ConstMatView<T> V) {
    const index_t n = V.rows, k = V.cols;
    std::vector<index_t> p;
    for (index_t j = 0; j < k; ++j) {
        std::vector<double> r(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i) r[i] = V(i, j);
        if (j > 0) {
            // c = V(p, <j)^{-1} v_j(p) by Gaussian elimination with partial pivoting (double)
            std::vector<double> M(static_cast<std::size_t>(j * (j + 1)));
            for (index_t a = 0; a < j; ++a) {
                for (index_t b = 0; b < j; ++b) M[a * (j + 1) + b] = V(p[a], b);
                M[a * (j + 1) + j] = V(p[a], j);
            }
            for (index_t c = 0; c < j; ++c) {
                index_t piv = c;
                for (index_t a = c + 1; a < j; ++a)
                    if (std::abs(M[a * (j + 1) + c]) > std::abs(M[piv * (j + 1) + c])) piv = a;
                for (index_t b = 0; b <= j; ++b) std::swap(M[c * (j + 1) + b], M[piv * (j + 1) + b]);
                for (index_t a = c + 1; a < j; ++a) {
                    const double f = M[a * (j + 1) + c] / M[c * (j + 1) + c];
                    for (index_t b = c; b <= j; ++b) M[a * (j + 1) + b] -= f * M[c * (j + 1) + b];
                }
            }
            std::vector<double> c(static_cast<std::size_t>(j));
            for (index_t a = j - 1; a >= 0; --a) {
                double v = M[a * (j + 1) + j];
                for (index_t b = a + 1; b < j; ++b) v -= M[a * (j + 1) + b] * c[b];
                c[a] = v / M[a * (j + 1) + a];
            }
            for (index_t i = 0; i < n; ++i)
                for (index_t b = 0; b < j; ++b) r[i] -= double(V(i, b)) * c[b];
        }
        index_t best = 0;
        for (index_t i = 1; i < n; ++i)
            if (std::abs(r[i]) > std::abs(r[best])) best = i;
        p.push_back(best);
    }
    return p;
}

TYPED_TEST(Selection, DeimPointsAreThoseOfTheTextbookGreedy) {
    using T = TypeParam;
    for (auto [n, k] : std::vector<std::pair<index_t, index_t>>{{1, 1}, {5, 5}, {50, 1}, {200, 12}}) {
        auto V = random_matrix<T>(n, k, 51);
        be.orthonormalize(V.view(), Ortho::Householder);
        EXPECT_EQ(deim_select(be, ConstMatView<T>(V.view())), textbook_deim<T>(V.view()))
            << n << " x " << k;
    }
}

// eta = ||V(p, :)^{-1}||_2 through |V V(p, :)^{-1}| entries: max |B_ij| <= 1 + tol after maxvol.
TYPED_TEST(Selection, QdeimAndMaxvolGiveDistinctWellConditionedRows) {
    using T = TypeParam;
    const index_t n = 300, k = 15;
    auto V = random_matrix<T>(n, k, 52);
    be.orthonormalize(V.view(), Ortho::Householder);
    const auto q = qdeim_select(be, ConstMatView<T>(V.view()));
    EXPECT_EQ(static_cast<index_t>(std::set<index_t>(q.begin(), q.end()).size()), k);
    const auto mv = maxvol_select(be, ConstMatView<T>(V.view()), 0.05, 1000);
    EXPECT_EQ(static_cast<index_t>(std::set<index_t>(mv.rows.begin(), mv.rows.end()).size()), k);
    EXPECT_LE(mv.max_coefficient, 1.05 + 1e-3);
    const auto from = maxvol_from(be, ConstMatView<T>(V.view()), q, 0.05, 1000);
    EXPECT_LE(from.max_coefficient, 1.05 + 1e-3);
}

TYPED_TEST(Selection, BadBasesAreRefused) {
    using T = TypeParam;
    auto wide = random_matrix<T>(3, 5, 53);
    EXPECT_THROW(deim_select(be, ConstMatView<T>(wide.view())), Error);
    EXPECT_THROW(qdeim_select(be, ConstMatView<T>(wide.view())), Error);
    auto V = random_matrix<T>(10, 3, 54);
    EXPECT_THROW(maxvol_select(be, ConstMatView<T>(V.view()), -1.0, 10), Error);
    EXPECT_THROW(maxvol_from(be, ConstMatView<T>(V.view()), {0, 1}, 0.05, 10), Error);
    // A start whose rows are dependent: V(start, :) is singular
    for (index_t j = 0; j < 3; ++j) V.view()(1, j) = V.view()(0, j);
    EXPECT_THROW(maxvol_from(be, ConstMatView<T>(V.view()), {0, 1, 2}, 0.05, 10), Error);
}

}  // namespace
}  // namespace rankwise::test
