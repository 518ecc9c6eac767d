// The empirical-interpolation and updating-SVD templates on small cases: blocked DEIM equals
// the LU pivots, the EIM greedy reproduces a rank-r snapshot matrix with r terms (and its
// deferred updates give the values of one update per term), and a
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
        HostMatrix<T> Ut(m, n);  // a row-major U's memory
        be.transpose(ConstMatView<T>(U.view()), Ut.view());
        for (const std::vector<index_t>& blocks :
             std::vector<std::vector<index_t>>{{16}, {4}, {8, 3}, {64}}) {
            const auto count = static_cast<index_t>(blocks.size());
            const auto blocked =
                deim_select_blocked(be, ConstMatView<T>(U.view()), blocks.data(), count);
            EXPECT_EQ(blocked, lu) << n << " x " << m << ", first block " << blocks[0];
            const auto rows =
                deim_select_blocked(be, ConstMatView<T>(Ut.view()), blocks.data(), count, true);
            EXPECT_EQ(rows, lu) << n << " x " << m << " transposed, first block " << blocks[0];
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

// The deferred updates give every value of one update per term: the same points, snapshots,
// basis and errors, bit for bit, whatever the block (and with the matrix norm, G = M R
// carried along), including a last block that is not full.
TYPED_TEST(NewerTemplates, EimGreedyBlocksGiveTheValuesOfOneUpdatePerTerm) {
    using T = TypeParam;
    const index_t n = 70, N = 30;
    const auto S = random_matrix<T>(n, N, 66);
    auto B = random_matrix<T>(n, n, 67);
    HostMatrix<T> Mm(n, n);  // SPD: B B^T / n + I
    be.gemm(Trans::No, Trans::Yes, T(1) / T(n), ConstMatView<T>(B.view()),
            ConstMatView<T>(B.view()), T(0), Mm.view());
    for (index_t i = 0; i < n; ++i) Mm.view()(i, i) += T(1);
    const DenseOp<CpuBackend, T> M(be, ConstMatView<T>(Mm.view()), false);
    std::vector<T> w(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) w[i] = T(0.5) + T(i % 7) / T(4);
    for (const EimNorm norm : {EimNorm::Linf, EimNorm::L2, EimNorm::Weighted, EimNorm::Matrix}) {
        auto run = [&](index_t block) {
            HostMatrix<T> R(n, N), G(norm == EimNorm::Matrix ? n : 0, N);
            be.copy(ConstMatView<T>(S.view()), R.view());
            if (norm == EimNorm::Matrix) M.apply(Trans::No, ConstMatView<T>(S.view()), G.view());
            EimGreedyOptions o;
            o.norm = norm;
            o.max_terms = 23;
            o.block = block;
            return eim_greedy<CpuBackend, T>(be, R.view(), G.view(), w.data(), &M, o);
        };
        const auto one = run(1);
        ASSERT_EQ(one.points.size(), std::size_t(23));
        for (const index_t block : {2, 5, 8, 64}) {
            const auto got = run(block);
            EXPECT_EQ(got.points, one.points) << "block " << block;
            EXPECT_EQ(got.snapshots, one.snapshots) << "block " << block;
            EXPECT_EQ(got.errors, one.errors) << "block " << block;
            for (index_t k = 0; k < 23; ++k)
                for (index_t i = 0; i < n; ++i)
                    ASSERT_EQ(got.Q.view()(i, k), one.Q.view()(i, k)) << i << ", " << k;
        }
    }
}

// eim_block_errors against a plain loop: R - Qb Cb and its column norms, read-only or
// written back.
TYPED_TEST(NewerTemplates, EimBlockErrorsAppliesTheDeferredTerms) {
    using T = TypeParam;
    const index_t n = 3000, N = 70, b = 3;  // several row chunks and column blocks
    const auto R0 = random_matrix<T>(n, N, 68), Q = random_matrix<T>(n, b, 69);
    const auto C = random_matrix<T>(b, N, 70);
    std::vector<double> ref(static_cast<std::size_t>(N));
    HostMatrix<T> V(n, N);
    for (index_t j = 0; j < N; ++j) {
        double mx = 0;
        for (index_t i = 0; i < n; ++i) {
            T v = R0.view()(i, j);
            for (index_t l = 0; l < b; ++l) v = v - C.view()(l, j) * Q.view()(i, l);
            V.view()(i, j) = v;
            mx = std::max(mx, double(std::abs(v)));
        }
        ref[j] = mx;
    }
    for (const bool write_back : {false, true}) {
        HostMatrix<T> R(n, N), G(0, 0), MQ(0, 0);
        be.copy(ConstMatView<T>(R0.view()), R.view());
        std::vector<double> err(static_cast<std::size_t>(N));
        be.eim_block_errors<T>(R.view(), G.view(), ConstMatView<T>(Q.view()),
                            ConstMatView<T>(MQ.view()), ConstMatView<T>(C.view()), nullptr,
                            EimNorm::Linf, write_back, err.data());
        EXPECT_EQ(err, ref);
        for (index_t j = 0; j < N; ++j)
            for (index_t i = 0; i < n; ++i)
                ASSERT_EQ(R.view()(i, j), write_back ? V.view()(i, j) : R0.view()(i, j));
        std::vector<double> l2(static_cast<std::size_t>(N));
        be.eim_block_errors<T>(R.view(), G.view(), ConstMatView<T>(Q.view()).cols_range(0, 0),
                            ConstMatView<T>(MQ.view()), ConstMatView<T>(C.view()).rows_range(0, 0),
                            nullptr, EimNorm::L2, false, l2.data());
        for (index_t j = 0; j < N; ++j) {
            double s = 0;
            for (index_t i = 0; i < n; ++i) s += double(R.view()(i, j)) * double(R.view()(i, j));
            EXPECT_NEAR(l2[j], std::sqrt(s), 1e-12 * std::sqrt(s));
        }
    }
    HostMatrix<T> r(n, 1), c(1, N);
    be.eim_block_column<T>(ConstMatView<T>(R0.view()), ConstMatView<T>(Q.view()),
                        ConstMatView<T>(C.view()), 5, r.view());
    be.eim_block_row<T>(ConstMatView<T>(R0.view()), ConstMatView<T>(Q.view()),
                     ConstMatView<T>(C.view()), 7, c.view());
    for (index_t i = 0; i < n; ++i) EXPECT_EQ(r.view()(i, 0), V.view()(i, 5));
    for (index_t j = 0; j < N; ++j) EXPECT_EQ(c.view()(0, j), V.view()(7, j));
}

// eim_block_max: the largest |entry| of R - Qb Cb and the first column holding it, equal to
// a full pass's, ties between equal columns to the first; it may give up, never err.
TYPED_TEST(NewerTemplates, EimBlockMaxFindsTheLargestEntry) {
    using T = TypeParam;
    const index_t n = 5000, N = 40, terms = 4;
    auto R = random_matrix<T>(n, N, 71);
    R.view()(4321, 12) = T(50);  // the largest entry, in two equal columns
    for (index_t i = 0; i < n; ++i) R.view()(i, 31) = R.view()(i, 12);
    auto Q = random_matrix<T>(n, terms, 72);
    for (index_t l = 0; l < terms; ++l)
        for (index_t i = 0; i < n; ++i) Q.view()(i, l) *= T(0.1);
    auto C = random_matrix<T>(terms, N, 73);
    for (index_t l = 0; l < terms; ++l) C.view()(l, 31) = C.view()(l, 12);
    HostMatrix<T> G(0, 0), MQ(0, 0);
    std::vector<double> err(static_cast<std::size_t>(N));
    CpuBackend::EimBounds bounds;  // of R itself
    be.eim_block_errors<T>(R.view(), G.view(), ConstMatView<T>(Q.view()).cols_range(0, 0),
                        ConstMatView<T>(MQ.view()), ConstMatView<T>(C.view()).rows_range(0, 0),
                        nullptr, EimNorm::Linf, false, err.data(), &bounds);
    // 0..terms deferred terms, the bounds tightened by each call's evaluations
    for (index_t b = 0; b <= terms; ++b) {
        const auto Qb = ConstMatView<T>(Q.view()).cols_range(0, b);
        const auto Cb = ConstMatView<T>(C.view()).rows_range(0, b);
        be.eim_block_errors<T>(R.view(), G.view(), Qb, ConstMatView<T>(MQ.view()), Cb, nullptr,
                            EimNorm::Linf, false, err.data());
        const auto best = std::max_element(err.begin(), err.end());
        double value = -1;
        index_t column = -1;
        ASSERT_TRUE(be.eim_block_max<T>(ConstMatView<T>(R.view()), Qb, Cb, bounds, 1.0, &value,
                                     &column));
        EXPECT_EQ(value, *best) << "b = " << b;
        EXPECT_EQ(column, best - err.begin()) << "b = " << b;
        EXPECT_EQ(column, 12) << "b = " << b;  // the largest entry, twice: the first column
    }
    // equal entries everywhere: every chunk may hold the largest (ties are kept), and no
    // evaluations are allowed past the first batch: it gives up
    HostMatrix<T> R2(n, N);
    for (index_t j = 0; j < N; ++j)
        for (index_t i = 0; i < n; ++i) R2.view()(i, j) = T(1);
    const auto none = ConstMatView<T>(Q.view()).cols_range(0, 0);
    const auto no_c = ConstMatView<T>(C.view()).rows_range(0, 0);
    be.eim_block_errors<T>(R2.view(), G.view(), none, ConstMatView<T>(MQ.view()), no_c, nullptr,
                           EimNorm::Linf, false, err.data(), &bounds);
    double value = -1;
    index_t column = -1;
    EXPECT_FALSE(be.eim_block_max<T>(ConstMatView<T>(R2.view()), none, no_c, bounds, 0.0, &value,
                                     &column));
    ASSERT_TRUE(be.eim_block_max<T>(ConstMatView<T>(R2.view()), none, no_c, bounds, 1.0, &value,
                                    &column));
    EXPECT_EQ(value, 1.0);
    EXPECT_EQ(column, 0);
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
