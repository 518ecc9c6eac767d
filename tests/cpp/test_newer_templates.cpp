// The empirical-interpolation and updating-SVD templates on small cases: blocked DEIM equals
// the LU pivots, the EIM greedy reproduces a rank-r snapshot matrix with r terms, and a
// Zha-Simon update of a matrix of rank <= k is exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "rankwise/algo/deim_blocked.hpp"
#include "rankwise/algo/eim.hpp"
#include "rankwise/algo/selection.hpp"
#include "rankwise/algo/svd_update.hpp"
#include "rankwise/operators.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class NewerTemplates : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(NewerTemplates, Precisions);

const CpuBackend be;

TYPED_TEST(NewerTemplates, BlockedDeimEqualsTheLuPivots) {
    using T = TypeParam;
    for (auto [n, m] : std::vector<std::pair<index_t, index_t>>{{1, 1}, {9, 9}, {300, 37}}) {
        auto U = random_matrix<T>(n, m, 61);
        be.orthonormalize(U.view(), Ortho::Householder);
        const auto lu = deim_select(be, ConstMatView<T>(U.view()));
        for (const std::vector<index_t>& blocks :
             std::vector<std::vector<index_t>>{{16}, {4}, {8, 3}, {64}}) {
            const auto blocked = deim_select_blocked(be, ConstMatView<T>(U.view()), blocks.data(),
                                                     static_cast<index_t>(blocks.size()));
            EXPECT_EQ(blocked, lu) << n << " x " << m << ", first block " << blocks[0];
        }
    }
}

TYPED_TEST(NewerTemplates, EimGreedyReproducesARankRSnapshotMatrixWithRTerms) {
    using T = TypeParam;
    const index_t n = 60, N = 40, r = 4;
    const auto L = random_matrix<T>(n, r, 62), Rf = random_matrix<T>(r, N, 63);
    HostMatrix<T> S(n, N);
    be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(L.view()), ConstMatView<T>(Rf.view()),
            T(0), S.view());
    HostMatrix<T> R(n, N), G(0, 0);
    be.copy(ConstMatView<T>(S.view()), R.view());
    EimGreedyOptions o;
    o.max_terms = 10;
    o.rtol = 1e3 * eps<T>();
    const auto res = eim_greedy<CpuBackend, T>(be, R.view(), G.view(), nullptr, nullptr, o);
    EXPECT_EQ(static_cast<index_t>(res.points.size()), r);
    EXPECT_EQ(std::set<index_t>(res.points.begin(), res.points.end()).size(), std::size_t(r));
    // Q[points[l], k] = (l == k) for l <= k: a unit lower triangular interpolation matrix
    for (index_t k = 0; k < r; ++k)
        for (index_t l = 0; l <= k; ++l)
            EXPECT_NEAR(res.Q.view()(res.points[l], k), l == k ? 1.0 : 0.0, 100 * eps<T>());
    EXPECT_LE(res.errors.back(), res.errors.front() * 1e3 * eps<T>());
}

TYPED_TEST(NewerTemplates, ZhaSimonUpdateOfALowRankMatrixIsExact) {
    using T = TypeParam;
    const index_t m = 30, n = 20, k = 5, rank = 3, r = 4;
    const auto A = matrix_with_spectrum<T>(be, m, n, {3.0, 2.0, 1.0}, 64);
    // Thin SVD of A (its top k = 5 triplets: the last two singular values are zero)
    auto W = random_matrix<T>(m, n, 0);
    be.copy(ConstMatView<T>(A.view()), W.view());
    HostMatrix<T> Uf(m, n), Vt(n, n);
    std::vector<T> s(static_cast<std::size_t>(n));
    be.svd(W.view(), Uf.view(), s.data(), Vt.view(), SvdDriver::Gesdd);
    HostMatrix<T> V(n, k);
    be.transpose(ConstMatView<T>(Vt.view().rows_range(0, k)), V.view());
    // New rows in the row space of A: [A; E] keeps rank 3 <= k
    const auto C = random_matrix<T>(r, m, 65);
    HostMatrix<T> E(r, n);
    be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(C.view()), ConstMatView<T>(A.view()),
            T(0), E.view());
    UpdateOptions o;
    o.method = UpdateMethod::ZhaSimon;
    SvdUpdate<CpuBackend, T> up(be, ConstMatView<T>(Uf.view().cols_range(0, k)), s.data(),
                                ConstMatView<T>(V.view()), o);
    const DenseOp<CpuBackend, T> Eop(be, ConstMatView<T>(E.view()), false);
    up.add_rows(SideBlock<T>{&Eop, nullptr});
    EXPECT_EQ(up.rows(), m + r);
    // Reference: the singular values of [A; E]
    HostMatrix<T> AE(m + r, n), Ur(m + r, n), Vr(n, n);
    be.copy(ConstMatView<T>(A.view()), AE.view().rows_range(0, m));
    be.copy(ConstMatView<T>(E.view()), AE.view().rows_range(m, r));
    std::vector<T> sr(static_cast<std::size_t>(n));
    be.svd(AE.view(), Ur.view(), sr.data(), Vr.view(), SvdDriver::Gesdd);
    for (index_t i = 0; i < k; ++i)
        EXPECT_NEAR(up.s()[i], sr[i], 200 * eps<T>() * sr[0]) << i;
    EXPECT_LE(up.orthogonality(true), 200 * eps<T>());
    EXPECT_LE(up.orthogonality(false), 200 * eps<T>());
    (void)rank;
}

}  // namespace
}  // namespace rankwise::test
