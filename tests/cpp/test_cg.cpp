// The batched PCG template: solutions against a direct solve, breakdown reporting, edge cases.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "rankwise/algo/cg.hpp"
#include "rankwise/error.hpp"
#include "rankwise/operators.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class CgAlgorithm : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CgAlgorithm, Precisions);

const CpuBackend be;

// A = G G^T / n + I: SPD, condition number a few units.
template <class T>
HostMatrix<T> spd_matrix(index_t n, std::uint64_t seed) {
    const auto G = random_matrix<T>(n, n, seed);
    HostMatrix<T> A(n, n);
    be.gemm(Trans::No, Trans::Yes, T(1) / T(n), ConstMatView<T>(G.view()),
            ConstMatView<T>(G.view()), T(0), A.view());
    for (index_t i = 0; i < n; ++i) A.view()(i, i) += T(1);
    return A;
}

template <class T>
CgOptions options(index_t columns, double atol, index_t maxiter) {
    CgOptions o;
    o.maxiter = maxiter;
    o.atol.assign(static_cast<std::size_t>(columns), atol);
    return o;
}

TYPED_TEST(CgAlgorithm, SolvesEveryColumnOfABlockToTheRequestedResidual) {
    using T = TypeParam;
    const index_t n = 60, s = 3;
    const auto A = spd_matrix<T>(n, 41);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    const auto B = random_matrix<T>(n, s, 42);
    HostMatrix<T> X(n, s);
    const double atol = std::is_same_v<T, float> ? 1e-4 : 1e-10;
    const auto res = cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X.view(),
                                             options<T>(s, atol, 500));
    for (index_t j = 0; j < s; ++j) {
        EXPECT_EQ(res.stop[j], CgStop::Converged);
        EXPECT_GT(res.iterations[j], 0);
    }
    // True residual ||b - A x|| is close to the recursive one (below a few atol).
    const auto AX = reference_product<T>(Trans::No, Trans::No, A.view(), X.view());
    for (index_t j = 0; j < s; ++j) {
        double r2 = 0;
        for (index_t i = 0; i < n; ++i) r2 += std::pow(B.view()(i, j) - AX[i + j * n], 2);
        EXPECT_LE(std::sqrt(r2), 10 * atol + 100 * eps<T>());
    }
}

TYPED_TEST(CgAlgorithm, JacobiPreconditionedSolveMatchesTheUnpreconditionedOne) {
    using T = TypeParam;
    const index_t n = 40;
    auto A = spd_matrix<T>(n, 43);
    for (index_t i = 0; i < n; ++i) A.view()(i, i) *= T(1 + i);  // badly scaled diagonal
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    std::vector<T> d(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) d[i] = A.view()(i, i);
    const JacobiPrecond<CpuBackend, T> M(be, d.data(), n);
    const auto B = random_matrix<T>(n, 1, 44);
    HostMatrix<T> X1(n, 1), X2(n, 1);
    const double atol = std::is_same_v<T, float> ? 1e-4 : 1e-11;
    const auto plain = cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X1.view(),
                                               options<T>(1, atol, 1000));
    const auto pre = cg_solve<CpuBackend, T>(be, op, &M, B.view(), X2.view(),
                                             options<T>(1, atol, 1000));
    ASSERT_EQ(plain.stop[0], CgStop::Converged);
    ASSERT_EQ(pre.stop[0], CgStop::Converged);
    EXPECT_LT(pre.iterations[0], plain.iterations[0]);
    std::vector<double> x1(X1.data(), X1.data() + n);
    EXPECT_LE(relative_max_error<T>(X2.view(), x1), (std::is_same_v<T, float> ? 1e-2 : 1e-8));
}

TYPED_TEST(CgAlgorithm, IndefiniteMatrixIsReportedNotSolved) {
    using T = TypeParam;
    const index_t n = 10;
    HostMatrix<T> A(n, n);
    std::fill_n(A.data(), n * n, T(0));
    for (index_t i = 0; i < n; ++i) A.view()(i, i) = i == 3 ? T(-1) : T(1);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    HostMatrix<T> B(n, 1), X(n, 1);
    std::fill_n(B.data(), n, T(1));
    const auto res = cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X.view(),
                                             options<T>(1, 1e-6, 100));
    EXPECT_EQ(res.stop[0], CgStop::NotSpdA);
}

TYPED_TEST(CgAlgorithm, ZeroRightHandSideAndOneByOneSystem) {
    using T = TypeParam;
    HostMatrix<T> A(1, 1), B(1, 2), X(1, 2);
    A.data()[0] = T(4);
    B.data()[0] = T(0);
    B.data()[1] = T(2);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    const auto res = cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X.view(),
                                             options<T>(2, 0.0, 10));
    EXPECT_EQ(res.stop[0], CgStop::Converged);
    EXPECT_EQ(res.iterations[0], 0);
    EXPECT_EQ(X.data()[0], T(0));
    EXPECT_EQ(res.stop[1], CgStop::Converged);
    EXPECT_NEAR(X.data()[1], T(0.5), eps<T>());
}

TYPED_TEST(CgAlgorithm, MaxiterIsHonouredAndShapesAreChecked) {
    using T = TypeParam;
    const auto A = spd_matrix<T>(30, 45);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    const auto B = random_matrix<T>(30, 1, 46);
    HostMatrix<T> X(30, 1);
    const auto res = cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X.view(),
                                             options<T>(1, 1e-30, 3));
    EXPECT_EQ(res.stop[0], CgStop::MaxIter);
    EXPECT_EQ(res.iterations[0], 3);
    HostMatrix<T> Xbad(29, 1);
    const auto bad_shape = [&] {
        cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), Xbad.view(), options<T>(1, 1e-6, 3));
    };
    EXPECT_THROW(bad_shape(), Error);
}

TYPED_TEST(CgAlgorithm, RecordsTheFirstSearchDirectionsAndTheirProducts) {
    using T = TypeParam;
    const index_t n = 50, m = 6;
    const auto A = spd_matrix<T>(n, 47);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    const auto B = random_matrix<T>(n, 2, 48);
    HostMatrix<T> X(n, 2), X0(n, 2), P(n, m), Q(n, m);
    const auto o = options<T>(2, std::is_same_v<T, float> ? 1e-4 : 1e-10, 200);
    const auto plain = cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X0.view(), o);
    const auto res = cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X.view(), o, nullptr,
                                             CgRecord<T>{P.view(), Q.view()});
    ASSERT_EQ(res.recorded, m);
    EXPECT_EQ(res.iterations, plain.iterations);  // recording does not change the solve
    for (index_t i = 0; i < 2 * n; ++i) EXPECT_EQ(X.data()[i], X0.data()[i]);
    // q_k = A p_k, p_0 = b (x0 = 0, no preconditioner), and the p_k are A-conjugate
    const auto AP = reference_product<T>(Trans::No, Trans::No, A.view(), P.view());
    const double tol = 100 * eps<T>();
    for (index_t i = 0; i < n; ++i) {
        EXPECT_EQ(P.view()(i, 0), B.view()(i, 0));
        for (index_t k = 0; k < m; ++k)
            EXPECT_NEAR(Q.view()(i, k), AP[i + k * n], tol * (1 + std::abs(AP[i + k * n])));
    }
    for (index_t k = 0; k < m; ++k) {
        for (index_t l = 0; l < k; ++l) {
            double pq = 0, pp = 0, qq = 0;
            for (index_t i = 0; i < n; ++i) {
                pq += double(P.view()(i, l)) * Q.view()(i, k);
                pp += double(P.view()(i, l)) * Q.view()(i, l);
                qq += double(P.view()(i, k)) * Q.view()(i, k);
            }
            EXPECT_LE(std::abs(pq), 1e3 * tol * std::sqrt(pp * qq));
        }
    }
    // more room than iterations: only the iterations taken are recorded
    HostMatrix<T> Pbig(n, 3 * n), Qbig(n, 3 * n), X2(n, 2);
    const auto all = cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X2.view(), o, nullptr,
                                             CgRecord<T>{Pbig.view(), Qbig.view()});
    EXPECT_EQ(all.recorded, all.iterations[0]);
    HostMatrix<T> Qshort(n, m - 1), X3(n, 2);
    const auto bad = [&] {
        cg_solve<CpuBackend, T>(be, op, nullptr, B.view(), X3.view(), o, nullptr,
                                CgRecord<T>{P.view(), Qshort.view()});
    };
    EXPECT_THROW(bad(), Error);
}

}  // namespace
}  // namespace rankwise::test
