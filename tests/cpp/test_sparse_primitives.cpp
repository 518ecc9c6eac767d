// CPU backend, sparse primitives: CSR products (both orientations, unsorted indices and
// duplicates summed as in SciPy, empty rows, 32- and 64-bit indices) against dense loops;
// the fused normal product against the two products; the row-major products against the
// column-major ones.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "rankwise/csr_structure.hpp"
#include "rankwise/error.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

const CpuBackend be;

// A random CSR matrix with unsorted column indices, some duplicates and some empty rows,
// and its dense equivalent (duplicates summed).
template <class T, class I>
struct RandomCsr {
    std::vector<T> data;
    std::vector<I> indices, indptr;
    std::vector<double> dense;  // column-major
    index_t rows, cols;

    RandomCsr(index_t m, index_t n, std::uint64_t seed) : rows(m), cols(n) {
        std::mt19937_64 gen(seed);
        std::uniform_int_distribution<index_t> col(0, n - 1), count(0, 6);
        std::normal_distribution<double> normal;
        dense.assign(static_cast<std::size_t>(m * n), 0.0);
        indptr.push_back(0);
        for (index_t i = 0; i < m; ++i) {
            const index_t c = i % 5 == 3 ? 0 : count(gen);  // every fifth row empty
            for (index_t e = 0; e < c; ++e) {
                const index_t j = e == 1 ? indices.back() : col(gen);  // a duplicate
                const T v = static_cast<T>(normal(gen));
                indices.push_back(static_cast<I>(j));
                data.push_back(v);
                dense[i + j * m] += v;
            }
            indptr.push_back(static_cast<I>(indices.size()));
        }
    }
    CsrView<T, I> view() const { return {data.data(), indices.data(), indptr.data(), rows, cols}; }
};

template <class P>
class SparsePrimitives : public ::testing::Test {};
using Types = ::testing::Types<std::pair<float, std::int32_t>, std::pair<double, std::int32_t>,
                               std::pair<float, std::int64_t>, std::pair<double, std::int64_t>>;
TYPED_TEST_SUITE(SparsePrimitives, Types);

TYPED_TEST(SparsePrimitives, CsrProductsMatchTheDenseMatrixInBothOrientations) {
    using T = typename TypeParam::first_type;
    using I = typename TypeParam::second_type;
    for (auto [m, n, l] : std::vector<std::tuple<index_t, index_t, index_t>>{
             {1, 1, 1}, {1, 9, 3}, {9, 1, 2}, {40, 30, 1}, {3000, 200, 8}, {200, 3000, 5}}) {
        const RandomCsr<T, I> A(m, n, 21);
        HostMatrix<T> dense(m, n);
        for (index_t i = 0; i < m * n; ++i) dense.data()[i] = static_cast<T>(A.dense[i]);
        for (Trans t : {Trans::No, Trans::Yes}) {
            const index_t in = t == Trans::No ? n : m, out = t == Trans::No ? m : n;
            auto X = random_matrix<T>(in, l, 22);
            HostMatrix<T> Y(out, l);
            be.csr_mm(A.view(), t, ConstMatView<T>(X.view()), Y.view());
            const auto ref = reference_product<T>(t, Trans::No, dense.view(), X.view());
            EXPECT_LE(relative_max_error<T>(Y.view(), ref), 50 * eps<T>())
                << m << " x " << n << (t == Trans::Yes ? " transposed" : "");
            if (t == Trans::No && l == 1) {
                HostMatrix<T> y(out, 1);
                be.csr_mv(A.view(), X.data(), y.data());
                EXPECT_LE(relative_max_error<T>(y.view(), ref), 50 * eps<T>());
            }
        }
    }
}

TYPED_TEST(SparsePrimitives, TransposedProductIsReproducible) {
    using T = typename TypeParam::first_type;
    using I = typename TypeParam::second_type;
    const RandomCsr<T, I> A(5000, 300, 23);
    auto X = random_matrix<T>(5000, 4, 24);
    HostMatrix<T> Y1(300, 4), Y2(300, 4);
    be.csr_mm(A.view(), Trans::Yes, ConstMatView<T>(X.view()), Y1.view());
    be.csr_mm(A.view(), Trans::Yes, ConstMatView<T>(X.view()), Y2.view());
    for (index_t i = 0; i < 300 * 4; ++i) ASSERT_EQ(Y1.data()[i], Y2.data()[i]);
}

// The fused A (A^T X) does the two products' arithmetic in the same order: equal to them
// bit for bit, on one thread (small) and on all (large).
TYPED_TEST(SparsePrimitives, NormalProductEqualsTheTwoProducts) {
    using T = typename TypeParam::first_type;
    using I = typename TypeParam::second_type;
    for (auto [m, n, l] : std::vector<std::tuple<index_t, index_t, index_t>>{
             {1, 1, 1}, {7, 40, 1}, {200, 2500, 10}, {400, 30000, 32}}) {
        const RandomCsr<T, I> A(m, n, 25);
        auto X = random_matrix<T>(m, l, 26);
        HostMatrix<T> AtX(n, l), Y(m, l), fused(m, l);
        be.csr_mm(A.view(), Trans::Yes, ConstMatView<T>(X.view()), AtX.view());
        be.csr_mm(A.view(), Trans::No, ConstMatView<T>(AtX.view()), Y.view());
        be.csr_normal_mm(A.view(), ConstMatView<T>(X.view()), fused.view());
        for (index_t i = 0; i < m * l; ++i)
            ASSERT_EQ(fused.data()[i], Y.data()[i]) << m << " x " << n << ", entry " << i;
    }
}

// csr_mm_rows (row-major blocks, given as their transposes) does csr_mm's arithmetic in
// the same order: equal bit for bit, in both orientations, on one thread and on all.
TYPED_TEST(SparsePrimitives, RowMajorProductsEqualTheColumnMajorOnes) {
    using T = typename TypeParam::first_type;
    using I = typename TypeParam::second_type;
    for (auto [m, n, l] : std::vector<std::tuple<index_t, index_t, index_t>>{
             {1, 1, 1}, {9, 1, 2}, {40, 30, 1}, {3000, 200, 8}, {400, 30000, 32}}) {
        const RandomCsr<T, I> A(m, n, 27);
        for (Trans t : {Trans::No, Trans::Yes}) {
            const index_t in = t == Trans::No ? n : m, out = t == Trans::No ? m : n;
            auto X = random_matrix<T>(in, l, 28);
            HostMatrix<T> Xt(l, in), Y(out, l), Yt(l, out);
            be.transpose(ConstMatView<T>(X.view()), Xt.view());
            be.csr_mm(A.view(), t, ConstMatView<T>(X.view()), Y.view());
            be.csr_mm_rows(A.view(), t, ConstMatView<T>(Xt.view()), Yt.view());
            for (index_t j = 0; j < l; ++j)
                for (index_t i = 0; i < out; ++i)
                    ASSERT_EQ(Yt.view()(j, i), Y.view()(i, j))
                        << m << " x " << n << (t == Trans::Yes ? " transposed" : "");
        }
    }
    const RandomCsr<T, I> A(5, 4, 29);
    HostMatrix<T> Xt(2, 4), wide(2, 6);
    EXPECT_THROW(be.csr_mm_rows(A.view(), Trans::No, ConstMatView<T>(Xt.view()), wide.view()),
                 Error);
    HostMatrix<T> big(3, 5);  // a strided (non-contiguous) row-major view is refused
    EXPECT_THROW(be.csr_mm_rows(A.view(), Trans::No, ConstMatView<T>(Xt.view()),
                                big.view().rows_range(0, 2)),
                 Error);
}

TYPED_TEST(SparsePrimitives, SumSquaresOfACanonicalMatrixIsTheFrobeniusNorm) {
    using T = typename TypeParam::first_type;
    using I = typename TypeParam::second_type;
    // Canonical (no duplicates): the stored values are the entries.
    const std::vector<T> data = {3, -4, 1};
    const std::vector<I> indices = {2, 0, 1}, indptr = {0, 2, 2, 3};
    const CsrView<T, I> A{data.data(), indices.data(), indptr.data(), 3, 3};
    EXPECT_DOUBLE_EQ(be.sum_squares(A), 26.0);
}

// csr_problem: each kind of broken structure, in both index widths, found wherever it sits
// (the scans have no early exit: a problem in the last entry counts too).
template <class I>
void expect_structure_problems() {
    const std::vector<I> indptr{0, 2, 3, 5}, indices{0, 2, 1, 0, 2};
    EXPECT_EQ(csr_problem(indptr.data(), 3, indices.data(), 3, 5), CsrProblem::None);
    EXPECT_EQ(csr_problem(indptr.data(), 0, indices.data(), 3, 0), CsrProblem::None);
    const std::vector<I> late_start{1, 2, 3, 5}, decreasing{0, 2, 1, 5}, last_drop{0, 2, 3, 2};
    EXPECT_EQ(csr_problem(late_start.data(), 3, indices.data(), 3, 5), CsrProblem::Indptr);
    EXPECT_EQ(csr_problem(decreasing.data(), 3, indices.data(), 3, 5), CsrProblem::Indptr);
    EXPECT_EQ(csr_problem(last_drop.data(), 3, indices.data(), 3, 5), CsrProblem::Indptr);
    EXPECT_EQ(csr_problem(indptr.data(), 3, indices.data(), 3, 4), CsrProblem::Overrun);
    for (std::size_t p = 0; p < indices.size(); ++p) {
        for (const I bad : {I(-1), I(3)}) {
            std::vector<I> broken = indices;
            broken[p] = bad;
            EXPECT_EQ(csr_problem(indptr.data(), 3, broken.data(), 3, 5), CsrProblem::Index)
                << "entry " << p << " = " << bad;
        }
    }
    // entries past indptr[-1] are not part of the matrix
    const std::vector<I> stored{0, 2, 1, 0, 2, 99};
    EXPECT_EQ(csr_problem(indptr.data(), 3, stored.data(), 3, 6), CsrProblem::None);
}

TEST(CsrStructure, EveryKindOfBrokenStructureIsFound) {
    expect_structure_problems<std::int32_t>();
    expect_structure_problems<std::int64_t>();
}

}  // namespace
}  // namespace rankwise::test
