// The CUDA backend's primitives of the updating truncated SVD (cuda/src/update.cu) and the
// update template (algo/svd_update.hpp) over it, against the CPU backend on the same data.
// Compiled wherever the CUDA toolkit is; every test skips itself where no GPU is visible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "rankwise/algo/svd_update.hpp"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/operators.hpp"
#include "cuda_test_support.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

const CpuBackend cpu_up;

template <class T>
class CudaUpdateTest : public CudaFixture<T> {};
using UpdatePrecisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaUpdateTest, UpdatePrecisions);

TYPED_TEST(CudaUpdateTest, ScatterAddRowsAddsExactlyTheGivenRows) {
    using T = TypeParam;
    // Y a strided view (rows 3..52 of a 60-row matrix): the kernel must honour ld
    const auto Ybig = random_matrix<T>(60, 6, 1);
    const auto X = random_matrix<T>(7, 6, 2);
    const std::vector<index_t> rows{0, 4, 9, 20, 33, 41, 49};
    auto dY = this->upload(Ybig);
    auto dX = this->upload(X);
    const MatView<T> sub = dY.view().rows_range(3, 50);
    this->gpu.scatter_add_rows(ConstMatView<T>(dX.view()), rows.data(), sub);
    HostMatrix<T> ref(60, 6);
    cpu_up.copy(ConstMatView<T>(Ybig.view()), ref.view());
    cpu_up.scatter_add_rows(ConstMatView<T>(X.view()), rows.data(), ref.view().rows_range(3, 50));
    const auto got = this->download(ConstMatView<T>(dY.view()));
    for (index_t j = 0; j < 6; ++j)
        for (index_t i = 0; i < 60; ++i) ASSERT_EQ(got.view()(i, j), ref.view()(i, j));
    const std::vector<index_t> bad{0, 4, 9, 20, 33, 41, 50};
    EXPECT_THROW(this->gpu.scatter_add_rows(ConstMatView<T>(dX.view()), bad.data(), sub), Error);
}

TYPED_TEST(CudaUpdateTest, GatherAndScatterOfColumnsMatchTheCpu) {
    using T = TypeParam;
    // a row-major factor's rows are the columns of its transpose: k x N, strided sub-view
    const auto Ybig = random_matrix<T>(8, 60, 3);
    const auto X = random_matrix<T>(6, 7, 4);
    const std::vector<index_t> cols{0, 4, 9, 20, 33, 41, 59};
    auto dY = this->upload(Ybig);
    auto dX = this->upload(X);
    const MatView<T> sub = dY.view().rows_range(1, 6);
    auto dG = this->gpu.template matrix<T>(6, 7);
    this->gpu.gather_cols(ConstMatView<T>(sub), cols.data(), dG.view());
    this->gpu.scatter_add_cols(ConstMatView<T>(dX.view()), cols.data(), sub);
    HostMatrix<T> ref(8, 60), G(6, 7);
    cpu_up.copy(ConstMatView<T>(Ybig.view()), ref.view());
    cpu_up.gather_cols(ConstMatView<T>(ref.view().rows_range(1, 6)), cols.data(), G.view());
    cpu_up.scatter_add_cols(ConstMatView<T>(X.view()), cols.data(), ref.view().rows_range(1, 6));
    const auto got = this->download(ConstMatView<T>(dY.view()));
    const auto gotG = this->download(ConstMatView<T>(dG.view()));
    for (index_t j = 0; j < 60; ++j)
        for (index_t i = 0; i < 8; ++i) ASSERT_EQ(got.view()(i, j), ref.view()(i, j));
    for (index_t j = 0; j < 7; ++j)
        for (index_t i = 0; i < 6; ++i) ASSERT_EQ(gotG.view()(i, j), G.view()(i, j));
    const std::vector<index_t> bad{0, 4, 9, 20, 33, 41, 60};
    EXPECT_THROW(this->gpu.scatter_add_cols(ConstMatView<T>(dX.view()), bad.data(), sub), Error);
    EXPECT_THROW(this->gpu.gather_cols(ConstMatView<T>(sub), bad.data(), dG.view()), Error);
}

TYPED_TEST(CudaUpdateTest, SingularValuesMatchTheCpu) {
    using T = TypeParam;
    const auto Wbig = random_matrix<T>(40, 30, 3);
    auto dW = this->upload(Wbig);
    HostMatrix<T> W(30, 30);
    cpu_up.copy(ConstMatView<T>(Wbig.view()).rows_range(0, 30), W.view());
    std::vector<T> s_gpu(30), s_cpu(30);
    this->gpu.singular_values(dW.view().rows_range(0, 30), s_gpu.data());  // ld 40
    cpu_up.singular_values(W.view(), s_cpu.data());
    for (index_t j = 0; j < 30; ++j) {
        EXPECT_NEAR(s_gpu[j], s_cpu[j], 100 * this->tol() * s_cpu[0]);
        if (j > 0) {
            EXPECT_GE(s_gpu[j - 1], s_gpu[j]);  // descending
        }
    }
}

TYPED_TEST(CudaUpdateTest, SolveRightCholeskyMatchesTheCpuAndRefusesIndefinite) {
    using T = TypeParam;
    const index_t l = 12;
    const auto A = random_matrix<T>(30, l, 4);
    HostMatrix<T> G(l, l);
    cpu_up.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(A.view()),
                ConstMatView<T>(A.view()), T(0), G.view());  // SPD, cond ~ 10
    const auto B = random_matrix<T>(40, l, 5);
    auto dG = this->upload(G);
    auto dB = this->upload(B);
    HostMatrix<T> Gc(l, l), Bc(40, l);
    cpu_up.copy(ConstMatView<T>(G.view()), Gc.view());
    cpu_up.copy(ConstMatView<T>(B.view()), Bc.view());
    ASSERT_TRUE(this->gpu.solve_right_cholesky(dG.view(), dB.view()));
    ASSERT_TRUE(cpu_up.solve_right_cholesky(Gc.view(), Bc.view()));
    EXPECT_LE(max_rel_diff<T>(this->download(dB.view()).view(), Bc.view()), 100 * this->tol());

    HostMatrix<T> N(l, l);  // -I: not positive definite; B is left as it was
    cpu_up.fill(N.view(), T(0));
    for (index_t i = 0; i < l; ++i) N.view()(i, i) = T(-1);
    auto dN = this->upload(N);
    auto dB2 = this->upload(B);
    EXPECT_FALSE(this->gpu.solve_right_cholesky(dN.view(), dB2.view()));
    EXPECT_EQ(max_rel_diff<T>(this->download(dB2.view()).view(), B.view()), 0.0);
}

// Gaussian entries times `scale`.
template <class T>
HostMatrix<T> small_random(index_t rows, index_t cols, std::uint64_t seed, double scale) {
    auto X = random_matrix<T>(rows, cols, seed);
    for (index_t i = 0; i < rows * cols; ++i) X.data()[i] = static_cast<T>(scale * X.data()[i]);
    return X;
}

// The same sequence of updates (rows dense, columns sparse touching some rows, a low-rank
// correction) on both backends from the same factors and key: the same singular values and
// subspaces up to rounding, for every method.  The updates are small next to s_k (norms about
// 1 against s_k = 3), so that the top k singular values stay apart and the vectors are
// well determined.
TYPED_TEST(CudaUpdateTest, UpdateTemplateMatchesTheCpuForEveryMethod) {
    using T = TypeParam;
    const index_t m = 120, n = 80, k = 6, r = 4;
    const auto U0 = random_orthonormal<T>(cpu_up, m, k, 10),
               V0 = random_orthonormal<T>(cpu_up, n, k, 11);
    const std::vector<T> s0{T(20), T(14), T(9), T(6), T(4.5), T(3)};
    const auto E = small_random<T>(r, n, 12, 0.1);  // new rows: Dt = E (r x n)
    // new columns F (m + r x 3) with nonzero rows J only: Dt = F(J, :)^T as a 3 x |J| CSR
    const std::vector<index_t> J{1, 7, 8, 30, 64, 99, 110, 121};
    const index_t nJ = static_cast<index_t>(J.size()), c = 3;
    std::vector<std::int32_t> indptr{0}, indices;
    std::vector<T> values;
    const auto Fv = small_random<T>(c, nJ, 13, 0.3);
    for (index_t i = 0; i < c; ++i) {
        for (index_t j = 0; j < nJ; ++j) {
            indices.push_back(static_cast<std::int32_t>(j));
            values.push_back(Fv.view()(i, j));
        }
        indptr.push_back(static_cast<std::int32_t>(indices.size()));
    }
    const auto B = small_random<T>(m + r, 2, 14, 0.1), C = small_random<T>(n + c, 2, 15, 0.1);

    auto d_values = this->gpu.template matrix<T>(c * nJ, 1);
    auto d_indices = this->gpu.template matrix<int>(c * nJ, 1);
    auto d_indptr = this->gpu.template matrix<int>(c + 1, 1);
    this->gpu.from_host(values.data(), d_values.view());
    this->gpu.from_host(indices.data(), d_indices.view());
    this->gpu.from_host(indptr.data(), d_indptr.view());
    const CsrView<T, std::int32_t> hF{values.data(), indices.data(), indptr.data(), c, nJ};
    const CsrView<T, std::int32_t> dF{d_values.data(), d_indices.data(), d_indptr.data(), c, nJ,
                                      c * nJ};
    auto dU0 = this->upload(U0), dV0 = this->upload(V0), dE = this->upload(E);
    auto dB = this->upload(B), dC = this->upload(C);
    const auto A = random_matrix<T>(m + r, n + c, 16);  // for the drift monitor
    auto dA = this->upload(A);

    struct Case {
        UpdateMethod method;
        index_t rank;
    };
    for (const Case cs : {Case{UpdateMethod::ZhaSimon, 0}, Case{UpdateMethod::VecharynskiSaad, 3},
                          Case{UpdateMethod::Sparse, 0}, Case{UpdateMethod::Sparse, 2}}) {
        UpdateOptions o;
        o.method = cs.method;
        o.rank = cs.rank;
        o.key = philox::Key{7, 8};
        SvdUpdate<CpuBackend, T> cu(cpu_up, U0.view(), s0.data(), V0.view(), o);
        SvdUpdate<CudaBackend, T> gu(this->gpu, ConstMatView<T>(dU0.view()), s0.data(),
                                     ConstMatView<T>(dV0.view()), o);
        const DenseOp<CpuBackend, T> hE(cpu_up, E.view(), false);
        const DenseOp<CudaBackend, T> gE(this->gpu, ConstMatView<T>(dE.view()), false);
        cu.add_rows(SideBlock<T>{&hE, nullptr});
        gu.add_rows(SideBlock<T>{&gE, nullptr});
        const SparseOp<CpuBackend, T, std::int32_t> hFop(cpu_up, hF, false);
        const SparseOp<CudaBackend, T, std::int32_t> gFop(this->gpu, dF, false);
        cu.add_columns(SideBlock<T>{&hFop, J.data()});
        gu.add_columns(SideBlock<T>{&gFop, J.data()});
        // B^T (2 x m + r) and C^T: the stored B and C seen transposed
        const DenseOp<CpuBackend, T> hB(cpu_up, B.view(), true), hC(cpu_up, C.view(), true);
        const DenseOp<CudaBackend, T> gB(this->gpu, ConstMatView<T>(dB.view()), true);
        const DenseOp<CudaBackend, T> gC(this->gpu, ConstMatView<T>(dC.view()), true);
        cu.update(SideBlock<T>{&hB, nullptr}, SideBlock<T>{&hC, nullptr});
        gu.update(SideBlock<T>{&gB, nullptr}, SideBlock<T>{&gC, nullptr});

        ASSERT_EQ(gu.rows(), m + r);
        ASSERT_EQ(gu.cols(), n + c);
        const double tol = 1e3 * this->tol();
        for (index_t j = 0; j < k; ++j)
            EXPECT_NEAR(gu.s()[j], cu.s()[j], tol * cu.s()[0]) << "method " << int(cs.method);
        const auto Ug = gu.left(), Vg = gu.right();
        const auto Uc = cu.left(), Vc = cu.right();
        const auto hUg = this->download(ConstMatView<T>(Ug.view()));
        const auto hVg = this->download(ConstMatView<T>(Vg.view()));
        for (const auto& pair : {std::make_pair(&hUg, &Uc), std::make_pair(&hVg, &Vc)}) {
            const auto Xg = pair.first->view();
            const auto Xc = pair.second->view();
            for (index_t j = 0; j < k; ++j) {  // the same vectors up to sign
                double dot = 0;
                for (index_t i = 0; i < Xg.rows; ++i) dot += double(Xg(i, j)) * double(Xc(i, j));
                EXPECT_NEAR(std::abs(dot), 1.0, tol) << "method " << int(cs.method);
            }
        }
        EXPECT_LE(gu.orthogonality(true), tol);
        EXPECT_LE(gu.orthogonality(false), tol);
        EXPECT_EQ(gu.stats().updates, 3);
        const auto dev_g = gu.gram_deviation(), dev_c = cu.gram_deviation();
        EXPECT_NEAR(dev_g.first, dev_c.first, tol);
        EXPECT_NEAR(dev_g.second, dev_c.second, tol);
        // the drift monitor's two sums for some matrix of the tracked shape
        const DenseOp<CpuBackend, T> hA(cpu_up, A.view(), false);
        const DenseOp<CudaBackend, T> gA(this->gpu, ConstMatView<T>(dA.view()), false);
        const auto drift_g = gu.drift(gA), drift_c = cu.drift(hA);
        EXPECT_NEAR(drift_g.err2, drift_c.err2, tol * drift_c.err2);
        EXPECT_NEAR(drift_g.best2, drift_c.best2, tol * drift_c.best2);
        EXPECT_NEAR(drift_g.fro2, drift_c.fro2, tol * drift_c.fro2);
    }
}

}  // namespace
}  // namespace rankwise::test
