// The CUDA backend's selection primitives (cuda/src/selection.cu) and the selection
// templates over them (algo/selection.hpp), against the CPU backend on the same data.
// Compiled wherever the CUDA toolkit is; every test skips itself where no GPU is visible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "rankwise/algo/selection.hpp"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/error.hpp"
#include "cuda_test_support.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

const CpuBackend cpu_sel;

template <class T>
class CudaSelectionTest : public CudaFixture<T> {};
using SelectionPrecisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaSelectionTest, SelectionPrecisions);

// An n x k basis with orthonormal columns (thin QR of a Gaussian block).
template <class T>
HostMatrix<T> basis(index_t n, index_t k, std::uint64_t seed) {
    auto V = random_matrix<T>(n, k, seed);
    cpu_sel.orthonormalize(V.view(), Ortho::Householder);
    return V;
}

TYPED_TEST(CudaSelectionTest, LuPartialPivotingMatchesTheCpu) {
    using T = TypeParam;
    auto V = basis<T>(500, 12, 1);
    auto dV = this->upload(V);
    const auto perm = this->gpu.lu_partial_pivoting(dV.view());
    const auto ref = cpu_sel.lu_partial_pivoting(V.view());
    EXPECT_EQ(perm, ref);
    EXPECT_LE(max_rel_diff<T>(this->download(dV.view()).view(), V.view()), 100 * this->tol());
}

TYPED_TEST(CudaSelectionTest, QrColumnPivotsMatchLapack) {
    using T = TypeParam;
    for (const index_t n : {700, 40000}) {
        auto V = basis<T>(n, 9, 2 + n);
        HostMatrix<T> W(9, n);
        cpu_sel.transpose(ConstMatView<T>(V.view()), W.view());
        auto dW = this->upload(W);
        const auto order = this->gpu.qr_column_pivots(dW.view());
        const auto ref = cpu_sel.qr_column_pivots(W.view());
        ASSERT_EQ(order.size(), ref.size());
        EXPECT_TRUE(std::equal(ref.begin(), ref.begin() + 9, order.begin())) << "n = " << n;
        auto sorted = order;
        std::sort(sorted.begin(), sorted.end());
        for (index_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);  // a permutation
    }
}

TYPED_TEST(CudaSelectionTest, TransposeIsExactOnPartialTilesAndStridedViews) {
    using T = TypeParam;
    const auto X = random_matrix<T>(70, 45, 3);
    auto dX = this->upload(X);
    // a view with ld > rows: rows 5..64 and columns 2..40 of X
    const ConstMatView<T> sub = ConstMatView<T>(dX.view()).rows_range(5, 60).cols_range(2, 39);
    auto dY = this->gpu.template matrix<T>(39, 60);
    this->gpu.transpose(sub, dY.view());
    const auto Y = this->download(dY.view());
    for (index_t i = 0; i < 60; ++i)
        for (index_t j = 0; j < 39; ++j) ASSERT_EQ(Y.view()(j, i), X.view()(5 + i, 2 + j));
}

TYPED_TEST(CudaSelectionTest, ArgmaxAbsTakesTheFirstLargestEntry) {
    using T = TypeParam;
    auto X = random_matrix<T>(100000, 3, 4);  // many blocks of the reduction
    X.view()(77777, 1) = T(-50);
    X.view()(123, 2) = T(50);   // a tie later in column-major order
    X.view()(99999, 0) = T(49);
    auto dX = this->upload(X);
    const auto got = this->gpu.argmax_abs(ConstMatView<T>(dX.view()));
    const auto ref = cpu_sel.argmax_abs(ConstMatView<T>(X.view()));
    EXPECT_EQ(got.first, ref.first);
    EXPECT_EQ(got.first, std::make_pair(index_t(77777), index_t(1)));
    EXPECT_EQ(got.second, T(-50));
}

TYPED_TEST(CudaSelectionTest, ColumnArgmaxAbsEqualsTheCpus) {
    using T = TypeParam;
    auto X = random_matrix<T>(100000, 6, 6);  // many blocks of the reduction
    X.view()(77777, 1) = T(-50);
    X.view()(123, 1) = T(50);  // a tie: row 123 first
    X.view()(99999, 2) = T(-49);
    for (index_t i = 0; i < 100000; ++i) X.view()(i, 3) = T(0);  // zeros: row 0
    for (index_t i = 0; i < 100000; i += 2)
        X.view()(i, 4) = std::numeric_limits<T>::quiet_NaN();  // NaN passed over
    for (index_t i = 0; i < 100000; ++i)
        X.view()(i, 5) = std::numeric_limits<T>::quiet_NaN();  // all NaN: row 0
    auto dX = this->upload(X);
    index_t got_rows[6], ref_rows[6];
    T got[6], ref[6];
    this->gpu.column_argmax_abs(ConstMatView<T>(dX.view()), got_rows, got);
    cpu_sel.column_argmax_abs(ConstMatView<T>(X.view()), ref_rows, ref);
    for (int j = 0; j < 6; ++j) {
        EXPECT_EQ(got_rows[j], ref_rows[j]) << j;
        if (j < 5) {
            EXPECT_EQ(got[j], ref[j]) << j;
        }
    }
    EXPECT_EQ(got_rows[1], 123);
    EXPECT_EQ(got[1], T(50));
    EXPECT_EQ(got[2], T(-49));
    EXPECT_TRUE(std::isnan(double(got[5])));
}

TYPED_TEST(CudaSelectionTest, GatherRowsSolveAndUnitLowerSolve) {
    using T = TypeParam;
    const auto X = random_matrix<T>(30, 4, 5);
    auto dX = this->upload(X);
    const std::vector<index_t> rows{7, 0, 29, 7};
    auto dY = this->gpu.template matrix<T>(4, 4);
    this->gpu.gather_rows(ConstMatView<T>(dX.view()), rows.data(), dY.view());
    const auto Y = this->download(dY.view());
    for (index_t r = 0; r < 4; ++r)
        for (index_t j = 0; j < 4; ++j) EXPECT_EQ(Y.view()(r, j), X.view()(rows[r], j));
    const std::vector<index_t> bad{30};
    EXPECT_THROW(this->gpu.gather_rows(ConstMatView<T>(dX.view()), bad.data(),
                                       dY.view().rows_range(0, 1)),
                 Error);

    auto A = random_matrix<T>(12, 12, 6);
    for (index_t i = 0; i < 12; ++i) A.view()(i, i) += T(4);
    auto B = random_matrix<T>(12, 3, 7);
    auto dA = this->upload(A), dB = this->upload(B);
    this->gpu.solve(dA.view(), dB.view(), "A");
    cpu_sel.solve(A.view(), B.view(), "A");
    EXPECT_LE(max_rel_diff<T>(this->download(dB.view()).view(), B.view()), 1e3 * this->tol());

    HostMatrix<T> S(3, 3);  // rank 2: the CPU's "singular" errors
    for (index_t j = 0; j < 3; ++j)
        for (index_t i = 0; i < 3; ++i) S.view()(i, j) = T(i + 1) * T(j + 1);
    auto dS = this->upload(S);
    auto dR = this->upload(random_matrix<T>(3, 1, 8));
    EXPECT_THROW(this->gpu.solve(dS.view(), dR.view(), "S"), Error);

    auto L = random_matrix<T>(5, 5, 9);
    auto C = random_matrix<T>(40, 5, 10);
    auto dL = this->upload(L), dC = this->upload(C);
    this->gpu.solve_right_unit_lower(ConstMatView<T>(dL.view()), dC.view());
    cpu_sel.solve_right_unit_lower(ConstMatView<T>(L.view()), C.view());
    EXPECT_LE(max_rel_diff<T>(this->download(dC.view()).view(), C.view()), 1e4 * this->tol());
}

TYPED_TEST(CudaSelectionTest, SelectionTemplatesPickTheCpuRows) {
    using T = TypeParam;
    const auto V = basis<T>(800, 10, 11);
    auto dV = this->upload(V);
    const ConstMatView<T> gv(dV.view()), cv(V.view());
    EXPECT_EQ(deim_select(this->gpu, gv), deim_select(cpu_sel, cv));
    EXPECT_EQ(qdeim_select(this->gpu, gv), qdeim_select(cpu_sel, cv));
    const auto g = maxvol_select(this->gpu, gv, 0.05, 1000);
    const auto c = maxvol_select(cpu_sel, cv, 0.05, 1000);
    EXPECT_EQ(g.rows, c.rows);
    EXPECT_EQ(g.swaps, c.swaps);
    EXPECT_NEAR(g.max_coefficient, c.max_coefficient, 1e3 * this->tol());
    EXPECT_LE(g.max_coefficient, 1.05);
    const auto f = maxvol_from(this->gpu, gv, deim_select(cpu_sel, cv), 0.05, 1000);
    EXPECT_EQ(f.rows, maxvol_from(cpu_sel, cv, deim_select(cpu_sel, cv), 0.05, 1000).rows);
}

}  // namespace
}  // namespace rankwise::test
