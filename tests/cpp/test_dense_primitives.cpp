// CPU backend, dense primitives: products on both code paths (whole BLAS call and chunks over
// OpenMP threads), orthonormalization in every mode, the small SVD, element-wise helpers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <type_traits>
#include <vector>

#include "rankwise/error.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class DensePrimitives : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(DensePrimitives, Precisions);

const CpuBackend be;

// (m, n, k) of C = op(A) op(B): edge shapes, and shapes that take each chunking plan
// (rows of C, columns of C, the inner dimension) when the BLAS thread count can be set.
const std::vector<std::tuple<index_t, index_t, index_t>> kShapes = {
    {0, 3, 4}, {3, 0, 4}, {1, 7, 5}, {7, 1, 5}, {1, 1, 1}, {5, 4, 0},
    {3000, 40, 50}, {40, 3000, 50}, {30, 20, 5000}, {2500, 300, 3}};

TYPED_TEST(DensePrimitives, GemmMatchesReferenceOnEveryShapeTransposeAndPath) {
    using T = TypeParam;
    for (bool chunked : {false, true}) {
        const BlasPath path(chunked);
        for (auto [m, n, k] : kShapes) {
            for (Trans ta : {Trans::No, Trans::Yes}) {
                for (Trans tb : {Trans::No, Trans::Yes}) {
                    auto A = ta == Trans::No ? random_matrix<T>(m, k, 1) : random_matrix<T>(k, m, 1);
                    auto B = tb == Trans::No ? random_matrix<T>(k, n, 2) : random_matrix<T>(n, k, 2);
                    auto C = random_matrix<T>(m, n, 3);
                    auto ref = reference_product<T>(ta, tb, A.view(), B.view());
                    // C = 2 op(A) op(B) - C
                    for (index_t j = 0; j < n; ++j)
                        for (index_t i = 0; i < m; ++i)
                            ref[i + j * m] = 2 * ref[i + j * m] - double(C.view()(i, j));
                    be.gemm(ta, tb, T(2), ConstMatView<T>(A.view()), ConstMatView<T>(B.view()),
                            T(-1), C.view());
                    const double tol = 20 * eps<T>() * std::max<index_t>(k, 1);
                    EXPECT_LE(relative_max_error<T>(C.view(), ref), tol)
                        << m << " x " << n << " x " << k << " chunked=" << chunked;
                }
            }
        }
    }
}

TYPED_TEST(DensePrimitives, GemmOnStridedViewsTouchesOnlyTheView) {
    using T = TypeParam;
    auto big = random_matrix<T>(50, 30, 4);
    const auto before = std::vector<T>(big.data(), big.data() + 50 * 30);
    auto A = random_matrix<T>(20, 7, 5);
    auto B = random_matrix<T>(7, 10, 6);
    MatView<T> C = big.view().rows_range(5, 20).cols_range(3, 10);  // ld 50
    be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(A.view()), ConstMatView<T>(B.view()),
            T(0), C);
    const auto ref = reference_product<T>(Trans::No, Trans::No, A.view(), B.view());
    EXPECT_LE(relative_max_error<T>(C, ref), 50 * eps<T>());
    for (index_t j = 0; j < 30; ++j)
        for (index_t i = 0; i < 50; ++i) {
            const bool inside = i >= 5 && i < 25 && j >= 3 && j < 13;
            if (!inside) {
                ASSERT_EQ(big.view()(i, j), before[i + j * 50]) << i << ", " << j;
            }
        }
}

TYPED_TEST(DensePrimitives, GemmRejectsMismatchedInnerDimensions) {
    using T = TypeParam;
    auto A = random_matrix<T>(4, 3, 1), B = random_matrix<T>(4, 2, 2);
    HostMatrix<T> C(4, 2);
    EXPECT_THROW(be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(A.view()),
                         ConstMatView<T>(B.view()), T(0), C.view()),
                 Error);
}

// Q has orthonormal columns and spans the same space as Y: Q Q^T Y = Y.
template <class T>
void expect_orthonormal_basis_of(ConstMatView<T> Q, ConstMatView<T> Y, double tol) {
    EXPECT_LE(orthonormality_error(Q), tol);
    HostMatrix<T> QtY(Q.cols, Y.cols), P(Y.rows, Y.cols);
    be.gemm(Trans::Yes, Trans::No, T(1), Q, Y, T(0), QtY.view());
    be.gemm(Trans::No, Trans::No, T(1), Q, ConstMatView<T>(QtY.view()), T(0), P.view());
    std::vector<double> y(static_cast<std::size_t>(Y.rows * Y.cols));
    for (index_t j = 0; j < Y.cols; ++j)
        for (index_t i = 0; i < Y.rows; ++i) y[i + j * Y.rows] = Y(i, j);
    EXPECT_LE(relative_max_error<T>(P.view(), y), tol * 10);
}

TYPED_TEST(DensePrimitives, OrthonormalizeGivesOrthonormalBasisInEveryMode) {
    using T = TypeParam;
    for (bool chunked : {false, true}) {
        const BlasPath path(chunked);
        for (auto [m, l] : std::vector<std::pair<index_t, index_t>>{
                 {1, 1}, {5, 5}, {9, 1}, {40, 7}, {5000, 30}}) {
            for (Ortho how : {Ortho::Householder, Ortho::CholQR2}) {
                const auto Y = random_matrix<T>(m, l, 7);
                auto Q = random_matrix<T>(m, l, 7);
                be.orthonormalize(Q.view(), how);
                expect_orthonormal_basis_of<T>(Q.view(), Y.view(), 200 * eps<T>());
            }
        }
    }
}

TYPED_TEST(DensePrimitives, CholQR2FallsBackOnIllConditionedAndRankDeficientBlocks) {
    using T = TypeParam;
    // Columns scaled over 1e-12..1 (cond ~ 1e12), and a block whose last column repeats
    // the first (numerically rank deficient): both must still come out orthonormal.
    auto Y = random_matrix<T>(300, 12, 8);
    for (index_t j = 0; j < 12; ++j)
        for (index_t i = 0; i < 300; ++i) Y.view()(i, j) *= static_cast<T>(std::pow(10.0, -j));
    be.orthonormalize(Y.view(), Ortho::CholQR2);
    EXPECT_LE(orthonormality_error<T>(Y.view()), 200 * eps<T>());

    auto Z = random_matrix<T>(300, 6, 9);
    std::copy_n(Z.view().col(0), 300, Z.view().col(5));
    be.orthonormalize(Z.view(), Ortho::CholQR2);
    EXPECT_LE(orthonormality_error<T>(Z.view()), 200 * eps<T>());
}

TYPED_TEST(DensePrimitives, LuNormalizerKeepsTheSpanWithUnitLowerRows) {
    using T = TypeParam;
    const auto Y = random_matrix<T>(200, 8, 10);
    auto L = random_matrix<T>(200, 8, 10);
    be.orthonormalize(L.view(), Ortho::LU);
    // Y = L U for some U: the least-squares residual of Y on span(L) vanishes.
    auto Q = random_matrix<T>(200, 8, 10);
    be.copy(ConstMatView<T>(L.view()), Q.view());
    be.orthonormalize(Q.view(), Ortho::Householder);
    expect_orthonormal_basis_of<T>(Q.view(), Y.view(), 500 * eps<T>());
    // Partial pivoting: every entry of L is at most 1 in magnitude.
    for (index_t i = 0; i < 200 * 8; ++i) EXPECT_LE(std::abs(L.data()[i]), T(1));
}

TYPED_TEST(DensePrimitives, OrthonormalizeRejectsWideBlocks) {
    using T = TypeParam;
    auto Y = random_matrix<T>(3, 4, 1);
    EXPECT_THROW(be.orthonormalize(Y.view(), Ortho::Householder), Error);
}

TYPED_TEST(DensePrimitives, ThinSvdReconstructsWithOrderedValuesInBothDrivers) {
    using T = TypeParam;
    for (bool chunked : {false, true}) {
        const BlasPath path(chunked);
        for (auto [m, n] : std::vector<std::pair<index_t, index_t>>{
                 {1, 1}, {6, 1}, {7, 7}, {60, 13}, {6000, 24}}) {
            for (SvdDriver driver : {SvdDriver::Gesdd, SvdDriver::Gesvd}) {
                const auto W0 = random_matrix<T>(m, n, 11);
                auto W = random_matrix<T>(m, n, 11);
                HostMatrix<T> U(m, n), Vt(n, n);
                std::vector<T> s(static_cast<std::size_t>(n));
                be.svd(W.view(), U.view(), s.data(), Vt.view(), driver);
                EXPECT_TRUE(std::is_sorted(s.rbegin(), s.rend()));
                EXPECT_GE(s.back(), T(0));
                EXPECT_LE(orthonormality_error<T>(U.view()), 100 * eps<T>());
                for (index_t j = 0; j < n; ++j)
                    for (index_t i = 0; i < m; ++i) U.view()(i, j) *= s[j];
                const auto USVt = reference_product<T>(Trans::No, Trans::No, U.view(), Vt.view());
                std::vector<double> w0(W0.data(), W0.data() + m * n);
                HostMatrix<T> R(m, n);
                for (index_t i = 0; i < m * n; ++i) R.data()[i] = static_cast<T>(USVt[i]);
                EXPECT_LE(relative_max_error<T>(R.view(), w0), 100 * eps<T>() * n)
                    << m << " x " << n;
            }
        }
    }
}

// The updater's shortcut: the top k of a tall M through M^T M in double agree with gesdd to
// about n eps_double sigma_1^2 / sigma_k^2 (here 100: 1e-12 in double; float rounds the
// result only), and a spectrum past max_ratio2 is refused with nothing written.
TYPED_TEST(DensePrimitives, TopSvdByGramMatchesGesddWhereTheSpectrumAllowsIt) {
    using T = TypeParam;
    const index_t m = 164, n = 74, k = 64;
    for (double spread : {10.0, 1e3}) {  // sigma_1 / sigma_k: allowed, then refused
        std::vector<double> sigma(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i)  // k values down to 1 / spread, then a drop
            sigma[i] = i < k ? std::pow(spread, -double(i) / double(k - 1))
                             : 1e-3 / spread * std::pow(0.5, double(i - k));
        const auto M = matrix_with_spectrum<T>(be, m, n, sigma, 21);
        const std::vector<T> before(M.data(), M.data() + m * n);
        HostMatrix<T> U(m, k), V(n, k);
        std::fill_n(U.data(), m * k, T(7));
        std::vector<T> s(static_cast<std::size_t>(n), T(7));
        const bool done =
            be.top_svd_by_gram(ConstMatView<T>(M.view()), k, U.view(), s.data(), V.view(), 1e4);
        EXPECT_TRUE(std::equal(before.begin(), before.end(), M.data()));  // M only read
        if (spread > 100) {
            EXPECT_FALSE(done);
            EXPECT_TRUE(std::all_of(U.data(), U.data() + m * k, [](T x) { return x == T(7); }));
            EXPECT_EQ(s[0], T(7));
            continue;
        }
        ASSERT_TRUE(done);
        const double tol = std::is_same_v<T, double> ? 1e-11 : 20 * eps<T>();
        EXPECT_TRUE(std::is_sorted(s.rbegin(), s.rend()));
        for (index_t i = 0; i < k; ++i) EXPECT_NEAR(s[i], sigma[i], tol * sigma[i]) << i;
        for (index_t i = k; i < n; ++i) EXPECT_NEAR(s[i], sigma[i], 1e-6) << i;  // sqrt(n eps)
        EXPECT_LE(orthonormality_error<T>(U.view()), tol);
        EXPECT_LE(orthonormality_error<T>(V.view()), tol);
        // M V = U diag(s), column by column, relative to sigma_1 = 1
        const auto MV = reference_product<T>(Trans::No, Trans::No, M.view(), V.view());
        double err = 0;
        for (index_t j = 0; j < k; ++j)
            for (index_t i = 0; i < m; ++i)
                err = std::max(err, std::abs(MV[i + j * m] - double(U.view()(i, j)) * s[j]));
        EXPECT_LE(err, tol);
    }
}

TYPED_TEST(DensePrimitives, ElementwiseHelpersMatchLoops) {
    using T = TypeParam;
    const auto X = random_matrix<T>(37, 5, 12);
    auto Y = random_matrix<T>(37, 5, 13);
    const auto Y0 = random_matrix<T>(37, 5, 13);
    be.add_scaled(ConstMatView<T>(X.view()), T(0.5), Y.view());
    for (index_t i = 0; i < 37 * 5; ++i)
        EXPECT_NEAR(Y.data()[i], Y0.data()[i] + T(0.5) * X.data()[i], 4 * eps<T>() * 10);

    const std::vector<T> scale = {1, -2, 0, 3, 0.25};
    be.scale_columns(ConstMatView<T>(X.view()), scale.data(), Y.view());
    for (index_t j = 0; j < 5; ++j)
        for (index_t i = 0; i < 37; ++i) EXPECT_EQ(Y.view()(i, j), X.view()(i, j) * scale[j]);

    std::vector<double> norms(5);
    be.column_norms(ConstMatView<T>(X.view()), norms.data());
    double total = 0;
    for (index_t j = 0; j < 5; ++j) {
        double ss = 0;
        for (index_t i = 0; i < 37; ++i) ss += double(X.view()(i, j)) * X.view()(i, j);
        EXPECT_NEAR(norms[j], std::sqrt(ss), 1e-12 * std::sqrt(ss));
        total += ss;
    }
    EXPECT_NEAR(be.sum_squares(ConstMatView<T>(X.view())), total, 1e-12 * total);

    HostMatrix<T> Xt(5, 37);
    be.transpose(ConstMatView<T>(X.view()), Xt.view());
    for (index_t j = 0; j < 5; ++j)
        for (index_t i = 0; i < 37; ++i) EXPECT_EQ(Xt.view()(j, i), X.view()(i, j));

    const std::vector<index_t> rows = {36, 0, 17};
    HostMatrix<T> G(3, 5);
    be.gather_rows(ConstMatView<T>(X.view()), rows.data(), G.view());
    for (index_t r = 0; r < 3; ++r)
        for (index_t j = 0; j < 5; ++j) EXPECT_EQ(G.view()(r, j), X.view()(rows[r], j));

    // columns: gathered, and added back to exactly those columns of a strided view
    const std::vector<index_t> cols = {4, 0, 2};
    HostMatrix<T> C(37, 3);
    be.gather_cols(ConstMatView<T>(X.view()), cols.data(), C.view());
    for (index_t c = 0; c < 3; ++c)
        for (index_t i = 0; i < 37; ++i) EXPECT_EQ(C.view()(i, c), X.view()(i, cols[c]));
    HostMatrix<T> Z(40, 5);
    be.copy(ConstMatView<T>(random_matrix<T>(40, 5, 9).view()), Z.view());
    HostMatrix<T> before(40, 5);
    be.copy(ConstMatView<T>(Z.view()), before.view());
    be.scatter_add_cols(ConstMatView<T>(C.view()), cols.data(), Z.view().rows_range(2, 37));
    for (index_t j = 0; j < 5; ++j) {
        const auto at = std::find(cols.begin(), cols.end(), j);
        for (index_t i = 0; i < 40; ++i) {
            const bool touched = at != cols.end() && i >= 2 && i < 39;
            const T add = touched ? C.view()(i - 2, at - cols.begin()) : T(0);
            EXPECT_EQ(Z.view()(i, j), before.view()(i, j) + add) << i << ", " << j;
        }
    }
    // the Gram matrix of a row-major W (given as Wt), on one thread (small) and on all
    for (const index_t N : {index_t{37}, index_t{200000}}) {
        auto Wt = random_matrix<T>(6, N, 10);
        HostMatrix<T> G(6, 6);
        be.gram_rows(ConstMatView<T>(Wt.view()), G.view());
        const auto ref = reference_product<T>(Trans::No, Trans::Yes, Wt.view(), Wt.view());
        EXPECT_LE(relative_max_error<T>(G.view(), ref), 50 * eps<T>() * std::sqrt(double(N)))
            << N;
        for (index_t j = 0; j < 6; ++j)
            for (index_t i = 0; i < 6; ++i) EXPECT_EQ(G.view()(i, j), G.view()(j, i));
    }

    const std::vector<index_t> bad = {4, 0, 5};
    EXPECT_THROW(be.gather_cols(ConstMatView<T>(X.view()), bad.data(), C.view()), Error);
    EXPECT_THROW(be.scatter_add_cols(ConstMatView<T>(C.view()), bad.data(),
                                     Z.view().rows_range(2, 37)),
                 Error);
}

TYPED_TEST(DensePrimitives, ColumnNormsNeitherOverflowNorUnderflow) {
    using T = TypeParam;
    const double big = std::numeric_limits<T>::max() / 4, tiny = std::numeric_limits<T>::min();
    HostMatrix<T> X(2, 2);
    X.view()(0, 0) = static_cast<T>(big);
    X.view()(1, 0) = static_cast<T>(big);
    X.view()(0, 1) = static_cast<T>(tiny);
    X.view()(1, 1) = static_cast<T>(tiny);
    std::vector<double> norms(2);
    be.column_norms(ConstMatView<T>(X.view()), norms.data());
    EXPECT_NEAR(norms[0], std::sqrt(2.0) * double(T(big)), 1e-14 * norms[0]);
    EXPECT_NEAR(norms[1], std::sqrt(2.0) * double(T(tiny)), 1e-14 * norms[1]);
}

// Tall, wide and strided shapes, with partial tiles, on the threaded path (above
// cpu::kParallelMinElements) and below it: every entry lands once, nothing outside Y's view.
TYPED_TEST(DensePrimitives, TransposeOfTallWideAndStridedViews) {
    using T = TypeParam;
    for (const auto& [m, n] : std::vector<std::pair<index_t, index_t>>{
             {1500, 70}, {70, 1500}, {5000, 13}, {129, 65}, {1, 200}}) {
        const auto X = random_matrix<T>(m + 3, n, 40 + std::uint64_t(m));
        const ConstMatView<T> Xv = ConstMatView<T>(X.view()).rows_range(2, m);  // ld > rows
        HostMatrix<T> Y(n + 2, m);
        be.fill(Y.view(), T(-7));
        be.transpose(Xv, Y.view().rows_range(1, n));
        for (index_t i = 0; i < m; ++i) {
            EXPECT_EQ(Y.view()(0, i), T(-7));
            EXPECT_EQ(Y.view()(n + 1, i), T(-7));
            for (index_t j = 0; j < n; ++j)
                ASSERT_EQ(Y.view()(j + 1, i), Xv(i, j)) << m << " x " << n;
        }
    }
}

TYPED_TEST(DensePrimitives, ArgmaxAbsTakesTheFirstOnTies) {
    using T = TypeParam;
    HostMatrix<T> X(3, 3);
    const T values[9] = {0, 1, -4, 2, 4, 0, -4, 3, 1};  // |-4| at (2,0), (1,1), (0,2)
    std::copy_n(values, 9, X.data());
    const auto [at, v] = be.argmax_abs(ConstMatView<T>(X.view()));
    EXPECT_EQ(at.first, 2);
    EXPECT_EQ(at.second, 0);
    EXPECT_EQ(v, T(-4));
}

TYPED_TEST(DensePrimitives, ColumnArgmaxAbsPerColumnFirstOnTiesNaNPassedOver) {
    using T = TypeParam;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    HostMatrix<T> X(4, 5);
    const T values[20] = {0, 1, -4, 4,      // tie of |4|: the first, negative
                          2, nan, 3, -1,    // NaN passed over
                          0, -0.0, 0, 0,    // zeros: row 0
                          nan, nan, nan, nan,
                          -1, 2, -2, 0.5};  // tie of |2|: the first, positive
    std::copy_n(values, 20, X.data());
    index_t rows[5];
    T top[5];
    be.column_argmax_abs(ConstMatView<T>(X.view()), rows, top);
    const index_t want_rows[5] = {2, 2, 0, 0, 1};
    const T want[4] = {-4, 3, 0, 0};
    for (int j = 0; j < 5; ++j) EXPECT_EQ(rows[j], want_rows[j]) << j;
    for (int j = 0; j < 3; ++j) EXPECT_EQ(top[j], want[j]) << j;
    EXPECT_TRUE(std::isnan(double(top[3])));
    EXPECT_EQ(top[4], T(2));
    // argmax_abs over the whole matrix: the all-NaN column never wins
    const auto [at, v] = be.argmax_abs(ConstMatView<T>(X.view().cols_range(3, 2)));
    EXPECT_EQ(at.second, 1);
    EXPECT_EQ(v, T(2));
    // a tall matrix on the threads: the same as a loop
    auto Y = random_matrix<T>(5000, 37, 19);
    std::vector<index_t> r(37);
    std::vector<T> t(37);
    be.column_argmax_abs(ConstMatView<T>(Y.view()), r.data(), t.data());
    for (index_t j = 0; j < 37; ++j) {
        index_t best = 0;
        for (index_t i = 1; i < 5000; ++i)
            if (std::abs(Y.view()(i, j)) > std::abs(Y.view()(best, j))) best = i;
        EXPECT_EQ(r[j], best);
        EXPECT_EQ(t[j], Y.view()(best, j));
    }
}

TYPED_TEST(DensePrimitives, SolveMatchesTheSystemAndRefusesSingularMatrices) {
    using T = TypeParam;
    auto A = random_matrix<T>(6, 6, 14);
    const auto A0 = random_matrix<T>(6, 6, 14);
    auto B = random_matrix<T>(6, 2, 15);
    const auto B0 = random_matrix<T>(6, 2, 15);
    be.solve(A.view(), B.view(), "test system");
    const auto AX = reference_product<T>(Trans::No, Trans::No, A0.view(), B.view());
    std::vector<double> b0(B0.data(), B0.data() + 12);
    HostMatrix<T> R(6, 2);
    for (index_t i = 0; i < 12; ++i) R.data()[i] = static_cast<T>(AX[i]);
    EXPECT_LE(relative_max_error<T>(R.view(), b0), 1e4 * eps<T>());

    HostMatrix<T> S(2, 2), C(2, 1);
    std::fill_n(S.data(), 4, T(1));  // rank one
    std::fill_n(C.data(), 2, T(1));
    try {
        be.solve(S.view(), C.view(), "the selected block");
        FAIL() << "a singular matrix was solved";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("the selected block"), std::string::npos);
    }
}

TEST(HostMatrix, RefusesNegativeSizesAndNamesImpossibleAllocations) {
    EXPECT_THROW(HostMatrix<double>(-1, 3), Error);
    try {
        HostMatrix<double> huge(index_t{1} << 31, index_t{1} << 31);  // 2^62 doubles
        FAIL() << "allocated 32 EiB";
    } catch (const std::bad_alloc& e) {
        EXPECT_NE(std::string(e.what()).find("2147483648 x 2147483648"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace rankwise::test
