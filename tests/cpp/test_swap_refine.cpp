// Exchange refinement of a selection (algo/swap_refine.hpp, the refine=True option of
// rankwise.cur): the closed-form swap gains of swap_search equal the change of the projection
// error computed from scratch, and the refinement never increases it and stops at a local
// optimum.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "rankwise/algo/swap_refine.hpp"
#include "rankwise/error.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class SwapRefine : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(SwapRefine, Precisions);

const CpuBackend be;

struct Surrogate {
    index_t n = 0, r = 0;
    std::vector<double> Bt;  // n x r, column-major: V diag(s)
    double total = 0;        // ||B||_F^2
};

template <class T>
Surrogate surrogate_of(ConstMatView<T> V, const std::vector<T>& s) {
    Surrogate out{V.rows, V.cols, std::vector<double>(static_cast<std::size_t>(V.rows * V.cols)),
                  0.0};
    for (index_t t = 0; t < V.cols; ++t)
        for (index_t i = 0; i < V.rows; ++i) {
            out.Bt[i + t * V.rows] = double(V(i, t)) * double(s[t]);
            out.total += out.Bt[i + t * V.rows] * out.Bt[i + t * V.rows];
        }
    return out;
}

// f(J) = ||B - B_J B_J^+ B||_F^2 for B = Bt^T (r x n), in double from scratch: an orthonormal
// basis of the columns J of B by twice-repeated Gram-Schmidt, then ||B||^2 - ||Q^T B||^2.
double projection_error(const Surrogate& S, const std::vector<index_t>& J) {
    const index_t r = S.r, n = S.n;
    std::vector<std::vector<double>> Q;
    for (const index_t j : J) {
        std::vector<double> q(static_cast<std::size_t>(r));
        for (index_t t = 0; t < r; ++t) q[t] = S.Bt[j + t * n];
        for (int pass = 0; pass < 2; ++pass)
            for (const auto& b : Q) {
                const double c = std::inner_product(q.begin(), q.end(), b.begin(), 0.0);
                for (index_t t = 0; t < r; ++t) q[t] -= c * b[t];
            }
        const double nq = std::sqrt(std::inner_product(q.begin(), q.end(), q.begin(), 0.0));
        for (auto& x : q) x /= nq;
        Q.push_back(q);
    }
    double kept = 0;
    for (const auto& q : Q)
        for (index_t i = 0; i < n; ++i) {
            double c = 0;
            for (index_t t = 0; t < r; ++t) c += q[t] * S.Bt[i + t * n];
            kept += c * c;
        }
    return S.total - kept;
}

template <class T>
std::vector<T> decaying_values(index_t r) {
    std::vector<T> s(static_cast<std::size_t>(r));
    for (index_t t = 0; t < r; ++t) s[t] = static_cast<T>(std::exp(-0.4 * double(t)));
    return s;
}

// An orthonormal V (n x r) and decaying singular values s: the inputs of swap_refine.
template <class T>
std::pair<HostMatrix<T>, std::vector<T>> random_basis(index_t n, index_t r, std::uint64_t seed) {
    auto V = random_matrix<T>(n, r, seed);
    be.orthonormalize(V.view(), Ortho::Householder);
    return {std::move(V), decaying_values<T>(r)};
}

template <class T>
double tolerance(const Surrogate& S) {
    return 1e2 * double(S.r) * std::numeric_limits<T>::epsilon() * S.total;
}

TYPED_TEST(SwapRefine, GainsOfEverySwapEqualTheErrorComputedFromScratch) {
    using T = TypeParam;
    const index_t n = 40, r = 8;
    const auto [V, s] = random_basis<T>(n, r, 71);
    const auto S = surrogate_of<T>(V.view(), s);
    const std::vector<index_t> J{3, 17, 25, 38, 9};
    const index_t k = static_cast<index_t>(J.size());

    auto Bt = be.template matrix<T>(n, r);
    be.scale_columns(ConstMatView<T>(V.view()), s.data(), Bt.view());
    std::vector<T> s2(s.size());
    for (std::size_t t = 0; t < s.size(); ++t) s2[t] = s[t] * s[t];
    std::vector<index_t> cand;
    for (index_t i = 0; i < n; ++i)
        if (std::find(J.begin(), J.end(), i) == J.end()) cand.push_back(i);
    SwapBest best{};
    std::vector<double> best_per_cand;
    double f = 0;
    ASSERT_TRUE(detail::best_swap(be, ConstMatView<T>(Bt.view()), s2, J, cand, best,
                                  best_per_cand, f));

    const double tol = tolerance<T>(S), f0 = projection_error(S, J);
    EXPECT_NEAR(f, f0, tol);
    double overall = std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < cand.size(); ++c) {
        double best_here = std::numeric_limits<double>::infinity();
        for (index_t j = 0; j < k; ++j) {
            auto swapped = J;
            swapped[j] = cand[c];
            best_here = std::min(best_here, projection_error(S, swapped) - f0);
        }
        EXPECT_NEAR(best_per_cand[c], best_here, tol) << "candidate " << cand[c];
        overall = std::min(overall, best_here);
    }
    EXPECT_NEAR(best.delta, overall, tol);
    auto chosen = J;
    chosen[best.position] = cand[best.candidate];
    EXPECT_NEAR(projection_error(S, chosen) - f0, overall, tol);
}

TYPED_TEST(SwapRefine, NeverIncreasesTheErrorAndEndsAtALocalOptimum) {
    using T = TypeParam;
    const index_t n = 60, r = 10;
    const auto [V, s] = random_basis<T>(n, r, 72);
    const auto S = surrogate_of<T>(V.view(), s);
    const std::vector<index_t> start{0, 1, 2, 3, 4};  // an arbitrary (poor) start
    const auto out = swap_refine(be, ConstMatView<T>(V.view()), s, start, 8, 100, 1e-12);

    ASSERT_EQ(out.rows.size(), start.size());
    auto sorted = out.rows;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_TRUE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    EXPECT_GE(out.swaps, 1);
    EXPECT_GE(out.full_searches, 1);
    const double f_start = projection_error(S, start), f_end = projection_error(S, out.rows);
    EXPECT_LT(f_end, f_start);
    // no single exchange lowers the error by more than the stopping threshold
    const double tol = tolerance<T>(S);
    for (std::size_t j = 0; j < out.rows.size(); ++j)
        for (index_t i = 0; i < n; ++i) {
            if (std::find(out.rows.begin(), out.rows.end(), i) != out.rows.end()) continue;
            auto swapped = out.rows;
            swapped[j] = i;
            EXPECT_GE(projection_error(S, swapped) - f_end, -tol) << j << " <- " << i;
        }
}

TYPED_TEST(SwapRefine, MaxSwapsZeroKeepsTheStartAndAFullSelectionHasNoCandidates) {
    using T = TypeParam;
    const auto [V, s] = random_basis<T>(12, 6, 73);
    const std::vector<index_t> start{5, 2, 9};
    const auto none = swap_refine(be, ConstMatView<T>(V.view()), s, start, 4, 0, 0.0);
    EXPECT_EQ(none.rows, start);
    EXPECT_EQ(none.swaps, 0);
    // k = r = n: every row selected, nothing to exchange
    const auto [W, w] = random_basis<T>(4, 4, 74);
    const std::vector<index_t> all{3, 0, 2, 1};
    const auto full = swap_refine(be, ConstMatView<T>(W.view()), w, all, 2, 10, 0.0);
    EXPECT_EQ(full.rows, all);
    EXPECT_EQ(full.swaps, 0);
}

TYPED_TEST(SwapRefine, RefusesBadArguments) {
    using T = TypeParam;
    const index_t n = 10, r = 4;
    auto V = random_matrix<T>(n, r, 75);
    const auto s = decaying_values<T>(r);
    const ConstMatView<T> v(V.view());
    EXPECT_THROW(swap_refine(be, v, s, {1, 1}, 4, 5, 0.0), Error);               // repeated
    EXPECT_THROW(swap_refine(be, v, s, {1, 10}, 4, 5, 0.0), Error);              // out of range
    EXPECT_THROW(swap_refine(be, v, s, {0, 1, 2, 3, 4}, 4, 5, 0.0), Error);      // k > r
    EXPECT_THROW(swap_refine(be, v, decaying_values<T>(3), {1}, 4, 5, 0.0), Error);  // |s| != r
    EXPECT_THROW(swap_refine(be, v, s, {1}, 0, 5, 0.0), Error);                  // shortlist
}

// A basis whose rows of A's empty rows are rounding noise (as a sketch leaves them: about
// eps ||A||): such a row adds a direction of noise to the span, and its gain, a ratio of
// two noise terms, can look like the best swap (a dask CUR swapped one in for a real row,
// leaving the selection rank deficient).  No noise row is ever swapped in, and the refined
// selection is that of the basis with those rows exactly zero.
TYPED_TEST(SwapRefine, NeverSwapsInARowOfRoundingNoise) {
    using T = TypeParam;
    const index_t n = 200, r = 8, k = 4;
    const std::vector<index_t> real{7, 19, 40, 41, 88, 120, 151, 190, 199, 3, 64, 100};
    auto M = random_matrix<T>(n, r, 77);
    const auto noise = random_matrix<T>(n, r, 78);
    for (index_t i = 0; i < n; ++i) {
        if (std::find(real.begin(), real.end(), i) != real.end()) continue;
        for (index_t t = 0; t < r; ++t)
            M.view()(i, t) = T(8) * std::numeric_limits<T>::epsilon() * noise.view()(i, t);
    }
    be.orthonormalize(M.view(), Ortho::Householder);
    const auto s = decaying_values<T>(r);
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        // a start of k distinct real rows, then the refinement
        std::vector<index_t> start(real.begin(), real.end());
        std::shuffle(start.begin(), start.end(), std::mt19937_64(seed));
        start.resize(static_cast<std::size_t>(k));
        const auto out = swap_refine(be, ConstMatView<T>(M.view()), s, start, 8, 20, 0.0);
        for (const index_t i : out.rows)
            EXPECT_TRUE(std::find(real.begin(), real.end(), i) != real.end())
                << "seed " << seed << ": noise row " << i << " swapped in";
    }
}

// swap_candidates (the distributed refinement's per-block search): the search of
// swap_refine over candidates given as rows after the selected ones, equal to best_swap on
// the whole basis, and to swap_refine's first exchange when all other rows are candidates.
TYPED_TEST(SwapRefine, SwapCandidatesIsTheSearchOverTheGivenRows) {
    using T = TypeParam;
    const index_t n = 40, r = 8;
    const auto [V, s] = random_basis<T>(n, r, 76);
    const std::vector<index_t> J{3, 17, 25, 38, 9};
    const std::vector<index_t> cand{30, 0, 12, 21, 5, 33};  // any order
    std::vector<index_t> stacked_rows(J);
    stacked_rows.insert(stacked_rows.end(), cand.begin(), cand.end());
    auto stacked = be.template matrix<T>(static_cast<index_t>(stacked_rows.size()), r);
    be.gather_rows(ConstMatView<T>(V.view()), stacked_rows.data(), stacked.view());
    const auto got = swap_candidates(be, ConstMatView<T>(stacked.view()), s, index_t(5));

    auto Bt = be.template matrix<T>(n, r);
    be.scale_columns(ConstMatView<T>(V.view()), s.data(), Bt.view());
    std::vector<T> s2(s.size());
    for (std::size_t t = 0; t < s.size(); ++t) s2[t] = s[t] * s[t];
    SwapBest best{};
    std::vector<double> per;
    double f = 0;
    ASSERT_TRUE(detail::best_swap(be, ConstMatView<T>(Bt.view()), s2, J, cand, best, per, f));
    ASSERT_TRUE(got.ok);
    EXPECT_EQ(got.best.position, best.position);
    EXPECT_EQ(got.best.candidate, best.candidate);
    const double tol = tolerance<T>(surrogate_of<T>(V.view(), s));
    EXPECT_NEAR(got.best.delta, best.delta, tol);
    EXPECT_NEAR(got.f, f, tol);
    ASSERT_EQ(got.best_per_cand.size(), cand.size());
    for (std::size_t c = 0; c < cand.size(); ++c)
        EXPECT_NEAR(got.best_per_cand[c], per[c], tol) << "candidate " << cand[c];

    // every other row a candidate, in row order: swap_refine's first exchange
    std::vector<index_t> all(J);
    for (index_t i = 0; i < n; ++i)
        if (std::find(J.begin(), J.end(), i) == J.end()) all.push_back(i);
    auto whole = be.template matrix<T>(n, r);
    be.gather_rows(ConstMatView<T>(V.view()), all.data(), whole.view());
    const auto first = swap_candidates(be, ConstMatView<T>(whole.view()), s, index_t(5));
    const auto one = swap_refine(be, ConstMatView<T>(V.view()), s, J, n, 1, 0.0);
    ASSERT_EQ(one.swaps, 1);
    auto expected = J;
    expected[first.best.position] = all[5 + first.best.candidate];
    EXPECT_EQ(one.rows, expected);
}

TYPED_TEST(SwapRefine, SwapCandidatesRefusesBadArguments) {
    using T = TypeParam;
    auto V = random_matrix<T>(6, 4, 77);
    const auto s = decaying_values<T>(4);
    const ConstMatView<T> v(V.view());
    EXPECT_THROW(swap_candidates(be, v, s, index_t(0)), Error);                    // k = 0
    EXPECT_THROW(swap_candidates(be, v, s, index_t(5)), Error);                    // k > r
    EXPECT_THROW(swap_candidates(be, v, decaying_values<T>(3), index_t(2)), Error);  // |s| != r
    auto W = random_matrix<T>(3, 4, 78);
    EXPECT_THROW(swap_candidates(be, ConstMatView<T>(W.view()), s, index_t(3)), Error);  // none
}

}  // namespace
}  // namespace rankwise::test
