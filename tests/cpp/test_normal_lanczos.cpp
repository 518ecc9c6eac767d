// The Lanczos iteration on A^T A (algo/normal_lanczos.hpp) and its hand-over to the
// bidiagonalization: converged triplets at the rounding level, the hand-over where s_k is out
// of the squared problem's reach, and the shapes it leaves to the bidiagonalization.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "rankwise/algo/normal_lanczos.hpp"
#include "rankwise/algo/subspace_iteration.hpp"
#include "rankwise/operators.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

template <class T>
class NormalLanczos : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(NormalLanczos, Precisions);

const CpuBackend be;

std::vector<double> spectrum(index_t r, double first, double ratio) {
    std::vector<double> s(static_cast<std::size_t>(r));
    for (index_t i = 0; i < r; ++i) s[std::size_t(i)] = first * std::pow(ratio, double(i));
    return s;
}

// max_i max(||A v_i - s_i u_i||, ||A^T u_i - s_i v_i||) / s_1, in double
template <class T>
double worst_residual(ConstMatView<T> A, const SvdFactors<CpuBackend, T>& f) {
    const auto U = f.U.view(), V = f.V.view();
    double worst = 0;
    for (std::size_t p = 0; p < f.s.size(); ++p) {
        double right = 0, left = 0;
        for (index_t i = 0; i < A.rows; ++i) {
            double r = -double(f.s[p]) * U(i, index_t(p));
            for (index_t j = 0; j < A.cols; ++j) r += double(A(i, j)) * V(j, index_t(p));
            right += r * r;
        }
        for (index_t j = 0; j < A.cols; ++j) {
            double r = -double(f.s[p]) * V(j, index_t(p));
            for (index_t i = 0; i < A.rows; ++i) r += double(A(i, j)) * U(i, index_t(p));
            left += r * r;
        }
        worst = std::max({worst, std::sqrt(right), std::sqrt(left)});
    }
    return worst / double(f.s[0]);
}

SubspaceIterationOptions options(index_t k, index_t l, index_t depth) {
    SubspaceIterationOptions o;
    o.k = k;
    o.l = l;
    o.depth = depth;
    o.key = {3, 4};
    return o;
}

TYPED_TEST(NormalLanczos, ConvergesToTheLeadingTripletsAtTheRoundingLevel) {
    using T = TypeParam;
    // a slow decay with a flat tail: several restarts
    auto sigma = spectrum(60, 1.0, 0.97);
    sigma.resize(120, 0.1);
    const auto A = matrix_with_spectrum<T>(be, 400, 120, sigma, 41);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    const auto o = options(8, 4, 8);
    const auto ritz = normal_lanczos_ritz(be, op, o, static_cast<const T*>(nullptr));
    EXPECT_TRUE(ritz.converged);
    EXPECT_GT(ritz.iterations, 1);
    EXPECT_LE(orthonormality_error<T>(ritz.V.view()), 50 * eps<T>());

    const auto f = leading_triplets_short_side(be, op, o);
    EXPECT_TRUE(f.converged);
    // the Lanczos cycles, A V_k and the check's product: no hand-over
    EXPECT_EQ(f.passes, ritz.passes + 2);
    double fro = 0;
    for (double s : sigma) fro += s * s;
    const double rounding = eps<T>() * (1 + std::sqrt(fro));
    EXPECT_LE(worst_residual<T>(A.view(), f), kNormalAccept * 1.5 * rounding);
    EXPECT_LE(f.relative_error, kNormalAccept * rounding);
    for (index_t i = 0; i < 8; ++i) EXPECT_NEAR(f.s[i], sigma[i], 20 * eps<T>());
    EXPECT_LE(orthonormality_error<T>(f.U.view()), 50 * eps<T>());
    EXPECT_LE(orthonormality_error<T>(f.V.view()), 50 * eps<T>());
}

TYPED_TEST(NormalLanczos, ARankBelowKStaysWithTheLanczosIteration) {
    using T = TypeParam;
    // rank 5, k = 8: s_6.. are zero, far below sqrt(eps) s_1, and their Ritz vectors null
    // vectors of A: the iteration converges on the first five, the triplets' check passes,
    // and no bidiagonalization runs
    const auto sigma = spectrum(5, 2.0, 0.8);
    const auto A = matrix_with_spectrum<T>(be, 300, 100, sigma, 42);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    const auto o = options(8, 4, 8);
    const auto ritz = normal_lanczos_ritz(be, op, o, static_cast<const T*>(nullptr));
    EXPECT_TRUE(std::isfinite(ritz.relative_error));

    const auto f = leading_triplets_short_side(be, op, o);
    const auto g = subspace_iteration(be, op, o);
    EXPECT_TRUE(f.converged);
    EXPECT_LT(f.passes, ritz.passes + g.passes);
    double fro = 0;
    for (double s : sigma) fro += s * s;
    const double rounding = eps<T>() * (1 + std::sqrt(fro) / sigma[0]);
    EXPECT_LE(worst_residual<T>(A.view(), f), kNormalAccept * 1.5 * rounding);
    for (index_t i = 0; i < 5; ++i) EXPECT_NEAR(f.s[i], sigma[i], 20 * eps<T>());
    for (index_t i = 5; i < 8; ++i) EXPECT_LE(f.s[i], 20 * eps<T>());
    EXPECT_LE(orthonormality_error<T>(f.U.view()), 50 * eps<T>());
    EXPECT_LE(orthonormality_error<T>(f.V.view()), 50 * eps<T>());
}

TYPED_TEST(NormalLanczos, SmallValuesOutOfReachAreHandedToTheBidiagonalization) {
    using T = TypeParam;
    // s_6.. nonzero but below 64 sqrt(eps) s_1: their Ritz vectors are no null vectors, the
    // squared problem cannot resolve them, and the bidiagonalization runs from the start
    auto sigma = spectrum(5, 2.0, 0.8);
    const double tail = sizeof(T) == 4 ? 1e-4 : 1e-10;
    for (double s : {4 * tail, 2 * tail, tail}) sigma.push_back(s);
    const auto A = matrix_with_spectrum<T>(be, 300, 100, sigma, 42);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    const auto o = options(8, 4, 8);
    const auto ritz = normal_lanczos_ritz(be, op, o, static_cast<const T*>(nullptr));
    EXPECT_FALSE(std::isfinite(ritz.relative_error));
    EXPECT_EQ(ritz.iterations, 1);

    const auto f = leading_triplets_short_side(be, op, o);
    const auto g = subspace_iteration(be, op, o);
    EXPECT_TRUE(f.converged);
    EXPECT_EQ(f.passes, ritz.passes + g.passes);  // the bidiagonalization from the start
    for (std::size_t i = 0; i < f.s.size(); ++i) EXPECT_EQ(f.s[i], g.s[i]);
    for (index_t i = 0; i < 5; ++i) EXPECT_NEAR(f.s[i], sigma[i], 20 * eps<T>());
}

TYPED_TEST(NormalLanczos, WideMatricesAndSpacesWithoutRoomAreTheBidiagonalizations) {
    using T = TypeParam;
    const auto sigma = spectrum(40, 1.0, 0.9);
    for (auto [m, n, k, l, depth] : std::vector<std::array<index_t, 5>>{
             {100, 300, 6, 4, 6},   // wide: the short side is the rows
             {300, 40, 36, 36, 1},  // k near n: no thick restart on the short side
         }) {
        const auto A = matrix_with_spectrum<T>(be, m, n, sigma, 43);
        const DenseOp<CpuBackend, T> op(be, A.view(), false);
        const auto o = options(k, l, depth);
        const auto f = leading_triplets_short_side(be, op, o);
        const auto g = subspace_iteration(be, op, o);
        EXPECT_EQ(f.passes, g.passes) << m << " x " << n;
        for (std::size_t i = 0; i < f.s.size(); ++i) EXPECT_EQ(f.s[i], g.s[i]);
    }
}

TYPED_TEST(NormalLanczos, MaxIterBoundsTheCyclesOfTheSolverReturned) {
    using T = TypeParam;
    // a flat top (values 1 .. 0.99) converges slowly: one cycle is not enough for either
    std::vector<double> sigma(80);
    for (index_t i = 0; i < 80; ++i) sigma[std::size_t(i)] = 1 - 0.01 * double(i) / 80;
    const auto A = matrix_with_spectrum<T>(be, 300, 80, sigma, 44);
    const DenseOp<CpuBackend, T> op(be, A.view(), false);
    auto o = options(6, 2, 6);
    o.max_iter = 1;
    const auto ritz = normal_lanczos_ritz(be, op, o, static_cast<const T*>(nullptr));
    const auto g = subspace_iteration(be, op, o);
    const auto f = leading_triplets_short_side(be, op, o);
    EXPECT_FALSE(ritz.converged);
    EXPECT_FALSE(f.converged);
    // handed over (the Lanczos cycle, A V_k, the check, then the bidiagonalization's own
    // max_iter cycles), and the iterations are the bidiagonalization's
    EXPECT_EQ(f.passes, ritz.passes + 2 + g.passes);
    EXPECT_EQ(f.iterations, 1);
    for (std::size_t i = 0; i < f.s.size(); ++i) EXPECT_EQ(f.s[i], g.s[i]);
}

// A wide CSR matrix given transposed (svds' tall side) multiplies A^T A X in one call, with
// the two products' arithmetic (csr_normal_mm): the same bits; a tall one declines.
TYPED_TEST(NormalLanczos, SparseGramProductEqualsTheTwoProducts) {
    using T = TypeParam;
    const index_t rows = 60, cols = 700, l = 4;
    std::vector<T> data;
    std::vector<std::int32_t> indices, indptr{0};
    for (index_t i = 0; i < rows; ++i) {
        for (index_t e = 0; e < 1 + i % 7; ++e) {
            indices.push_back(std::int32_t((i * 37 + e * 101) % cols));
            data.push_back(T(std::sin(double(i + 3 * e))));
        }
        indptr.push_back(std::int32_t(indices.size()));
    }
    const CsrView<T, std::int32_t> csr{data.data(), indices.data(), indptr.data(), rows, cols};
    const SparseOp<CpuBackend, T, std::int32_t> tall(be, csr, true);  // A^T: cols x rows
    const auto X = random_matrix<T>(rows, l, 45);
    HostMatrix<T> AX(cols, l), two(rows, l), fused(rows, l);
    tall.apply(Trans::No, ConstMatView<T>(X.view()), AX.view());
    tall.apply(Trans::Yes, ConstMatView<T>(AX.view()), two.view());
    ASSERT_TRUE(tall.apply_gram(ConstMatView<T>(X.view()), fused.view()));
    for (index_t i = 0; i < rows * l; ++i) ASSERT_EQ(fused.data()[i], two.data()[i]) << i;
    const SparseOp<CpuBackend, T, std::int32_t> wide(be, csr, false);
    HostMatrix<T> Y(cols, l);
    const auto Z = random_matrix<T>(cols, l, 46);
    EXPECT_FALSE(wide.apply_gram(ConstMatView<T>(Z.view()), Y.view()));
}

// max |V^T Y| over the entries, in double
template <class T>
double largest_projection(ConstMatView<T> V, ConstMatView<T> Y) {
    double worst = 0;
    for (index_t a = 0; a < V.cols; ++a) {
        for (index_t b = 0; b < Y.cols; ++b) {
            double d = 0;
            for (index_t i = 0; i < V.rows; ++i) d += double(V(i, a)) * double(Y(i, b));
            worst = std::max(worst, std::abs(d));
        }
    }
    return worst;
}

// max |M_ij|, in double
template <class T>
double largest_entry(ConstMatView<T> M) {
    double worst = 0;
    for (index_t j = 0; j < M.cols; ++j) {
        for (index_t i = 0; i < M.rows; ++i) worst = std::max(worst, std::abs(double(M(i, j))));
    }
    return worst;
}

// A Krylov block with components along its own block and the one before (the Lanczos
// recurrence), a new direction 10 times smaller and rounding-level ones along older blocks
// takes the single projection onto the basis: orthonormal and orthogonal to it at the
// rounding level.  One with large components
// along an older block fails the one-projection test and takes orthonormalize_against from
// the block given: the same bits.  Either way the coefficients written are V^T of the block
// given, to rounding.
TYPED_TEST(NormalLanczos, KrylovBlockOrthonormalizedWithOneProjectionWhereItSuffices) {
    using T = TypeParam;
    const index_t n = 1500, l = 4, c = 12;  // blocks 0..3 in V, Y the product of block 3
    const auto V = random_orthonormal<T>(be, n, c + l + l, 47);
    const auto basis = ConstMatView<T>(V.view().cols_range(0, c + l));
    const auto fresh = ConstMatView<T>(V.view().cols_range(c + l, l));  // orthogonal to it
    const auto coefficients = random_matrix<T>(2 * l, l, 48);
    HostMatrix<T> local(n, l), nonlocal(n, l), Y(n, l), ref(n, l);
    be.gemm(Trans::No, Trans::No, T(1), basis.cols_range(c - l, 2 * l),
            ConstMatView<T>(coefficients.view()), T(0), local.view());
    be.add_scaled(fresh, T(0.1), local.view());
    // what rounding leaves along the older blocks, 1e3 eps of the new direction
    be.add_scaled(basis.cols_range(0, l), T(100 * eps<T>()), local.view());
    be.copy(ConstMatView<T>(local.view()), Y.view());
    HostMatrix<T> H(c + l, l), expected(c + l, l);
    // the block's coefficients along the basis, from its components (all below 10)
    const auto expect_coefficients = [&](ConstMatView<T> product) {
        be.gemm(Trans::Yes, Trans::No, T(1), basis, product, T(0), expected.view());
        be.add_scaled(ConstMatView<T>(expected.view()), T(-1), H.view());
        EXPECT_LE(largest_entry(ConstMatView<T>(H.view())), 100 * eps<T>());
    };
    EXPECT_FALSE(orthonormalize_lanczos_block(be, basis, c, l, 0, ConstMatView<T>(local.view()),
                                              Y.view(), H.view()));
    EXPECT_LE(orthonormality_error<T>(Y.view()), 20 * eps<T>());
    EXPECT_LE(largest_projection<T>(basis, ConstMatView<T>(Y.view())), 20 * eps<T>());
    expect_coefficients(ConstMatView<T>(local.view()));

    be.gemm(Trans::No, Trans::No, T(1), basis.cols_range(0, 2 * l),
            ConstMatView<T>(coefficients.view()), T(0), nonlocal.view());
    be.add_scaled(fresh, T(0.1), nonlocal.view());
    be.copy(ConstMatView<T>(nonlocal.view()), Y.view());
    be.copy(ConstMatView<T>(nonlocal.view()), ref.view());
    orthonormalize_lanczos_block(be, basis, c, l, 0, ConstMatView<T>(nonlocal.view()), Y.view(),
                                 H.view());
    orthonormalize_against(be, basis, ref.view(), Ortho::CholQR2);
    for (index_t i = 0; i < n * l; ++i) ASSERT_EQ(Y.data()[i], ref.data()[i]) << i;
    EXPECT_LE(largest_projection<T>(basis, ConstMatView<T>(Y.view())), 20 * eps<T>());
    expect_coefficients(ConstMatView<T>(nonlocal.view()));
}

}  // namespace
}  // namespace rankwise::test
