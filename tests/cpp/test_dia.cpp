// DIA storage (rankwise/dia.hpp): which CSR matrices convert, products against a dense
// reference in both orientations, and the fused y = A x, x . y equal to the bit to the CSR
// kernel's (what keeps CG's iterates unchanged).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "rankwise/dia.hpp"
#include "rankwise/dia_fill.hpp"
#include "rankwise/dia_view.hpp"
#include "dia_codes.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

const CpuBackend be;

// A canonical n x n CSR matrix with entries on `offsets` (ascending), a fraction of them
// left out (fill for the DIA form), and its dense copy (column-major).
template <class T>
struct BandedCsr {
    std::vector<T> data;
    std::vector<std::int32_t> indices, indptr{0};
    std::vector<double> dense;
    index_t n;

    BandedCsr(index_t size, const std::vector<index_t>& offsets, std::uint64_t seed) : n(size) {
        std::mt19937_64 gen(seed);
        std::normal_distribution<double> normal;
        std::uniform_real_distribution<double> unit;
        dense.assign(static_cast<std::size_t>(n * n), 0.0);
        for (index_t i = 0; i < n; ++i) {
            for (const index_t off : offsets) {
                const index_t j = i + off;
                if (j < 0 || j >= n || (off != 0 && unit(gen) < 0.1)) continue;
                const T v = static_cast<T>(normal(gen));
                data.push_back(v);
                indices.push_back(static_cast<std::int32_t>(j));
                dense[static_cast<std::size_t>(i + j * n)] = double(v);
            }
            indptr.push_back(static_cast<std::int32_t>(data.size()));
        }
    }
    CsrView<T, std::int32_t> view() const {
        return {data.data(), indices.data(), indptr.data(), n, n};
    }
    // stored entries on diagonal `off`
    index_t nnz_on(index_t off) const {
        index_t count = 0;
        for (index_t i = 0; i < n; ++i)
            for (auto p = indptr[i]; p < indptr[i + 1]; ++p) count += indices[p] - i == off;
        return count;
    }
};

template <class T>
class Dia : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Dia, Precisions);

TYPED_TEST(Dia, ProductAndDotEqualTheCsrKernelsToTheBit) {
    using T = TypeParam;
    for (const index_t n : {1, 7, 300, 5000}) {
        const BandedCsr<T> A(n, {-70, -1, 0, 1, 3, 70}, 11 + n);
        const auto dia = dia_from_csr(A.view(), 32, 10.0);
        ASSERT_TRUE(dia.has_value());
        const auto x = random_matrix<T>(n, 1, 5);
        std::vector<T> y_csr(static_cast<std::size_t>(n)), y_dia(static_cast<std::size_t>(n));
        double dot_csr = 0, dot_dia = 0;
        be.csr_mv_dot(A.view(), x.data(), y_csr.data(), &dot_csr);
        cpu::dia_mv_dot(*dia, x.data(), y_dia.data(), &dot_dia);
        EXPECT_EQ(y_csr, y_dia) << "n = " << n;
        EXPECT_EQ(dot_csr, dot_dia) << "n = " << n;
    }
}

// Coded storage (DiaStorage: beyond max_plain_bytes, max_codes values): a matrix with few
// values (multiples of 1/8 in (-2, 2), a -0.0 among them) is stored a byte per position, and
// its products, fused dot and sum of squares equal the plain storage's to the bit, in both
// orientations; one with a value per entry is stored plain within max_plain_bytes and not
// at all beyond.
TYPED_TEST(Dia, CodedStorageGivesThePlainResultsToTheBit) {
    using T = TypeParam;
    const index_t l = 2;
    for (const index_t n : {1, 7, 300, 5000}) {
        BandedCsr<T> A(n, {-70, -1, 0, 1, 3, 70}, 17 + n);
        for (auto& v : A.data) v = std::fmod(std::round(T(8) * v), T(16)) / T(8);
        A.data[0] = -T(0);
        const auto plain = dia_from_csr(A.view(), 32, 10.0);
        const auto coded = dia_from_csr(A.view(), 32, 10.0, DiaStorage{256, 0.0});
        ASSERT_TRUE(plain.has_value() && coded.has_value());
        ASSERT_FALSE(plain->coded());
        ASSERT_TRUE(coded->coded());
        EXPECT_LE(coded->table.size(), std::size_t(34));
        EXPECT_EQ(coded->offsets, plain->offsets);
        const index_t size = n * static_cast<index_t>(plain->offsets.size());
        for (index_t k = 0; k < size; ++k) {
            const T a = coded->table[coded->codes[k]], b = plain->values[k];
            ASSERT_EQ(std::memcmp(&a, &b, sizeof(T)), 0) << "n = " << n << ", k = " << k;
        }
        const auto x = random_matrix<T>(n, l, 6);
        HostMatrix<T> Yp(n, l), Yc(n, l);
        for (const Trans t : {Trans::No, Trans::Yes}) {
            cpu::dia_mm(*plain, t, ConstMatView<T>(x.view()), Yp.view());
            cpu::dia_mm(*coded, t, ConstMatView<T>(x.view()), Yc.view());
            for (index_t k = 0; k < n * l; ++k) ASSERT_EQ(Yc.data()[k], Yp.data()[k]) << n;
        }
        double dot_p = 0, dot_c = 0;
        cpu::dia_mv_dot(*plain, x.data(), Yp.data(), &dot_p);
        cpu::dia_mv_dot(*coded, x.data(), Yc.data(), &dot_c);
        EXPECT_EQ(dot_c, dot_p) << n;
        for (index_t i = 0; i < n; ++i) ASSERT_EQ(Yc.data()[i], Yp.data()[i]) << n;
        EXPECT_EQ(cpu::dia_sum_squares(*coded), cpu::dia_sum_squares(*plain)) << n;
    }
    const BandedCsr<T> many(3000, {-1, 0, 1}, 4);  // about 8000 distinct values
    const double plain_bytes = 3.0 * 3000 * sizeof(T);
    const auto kept = dia_from_csr(many.view(), 32, 10.0, DiaStorage{256, plain_bytes});
    ASSERT_TRUE(kept.has_value());
    EXPECT_FALSE(kept->coded());
    EXPECT_FALSE(dia_from_csr(many.view(), 32, 10.0, DiaStorage{256, plain_bytes - 1}));
    EXPECT_FALSE(dia_from_csr(many.view(), 32, 10.0, DiaStorage{0, plain_bytes - 1}));
    const BandedCsr<T> few(3000, {-1, 0, 1}, 4);  // the same, in plain storage below the limit
    auto rounded = few;
    for (auto& v : rounded.data) v = std::round(v);
    const auto small = dia_from_csr(rounded.view(), 32, 10.0, DiaStorage{256, plain_bytes});
    ASSERT_TRUE(small.has_value());
    EXPECT_FALSE(small->coded());
}

TYPED_TEST(Dia, ProductsInBothOrientationsMatchTheDenseMatrix) {
    using T = TypeParam;
    const index_t n = 257, l = 3;
    const BandedCsr<T> A(n, {-40, -2, 0, 5, 256}, 3);
    const auto dia = dia_from_csr(A.view(), 32, 100.0);
    ASSERT_TRUE(dia.has_value());
    EXPECT_EQ(dia->offsets, (std::vector<index_t>{-40, -2, 0, 5, 256}));
    const auto X = random_matrix<T>(n, l, 8);
    HostMatrix<T> Y(n, l);
    const double tol = 50 * double(std::numeric_limits<T>::epsilon());
    for (const Trans t : {Trans::No, Trans::Yes}) {
        cpu::dia_mm(*dia, t, ConstMatView<T>(X.view()), Y.view());
        for (index_t j = 0; j < l; ++j) {
            for (index_t i = 0; i < n; ++i) {
                double ref = 0, scale = 0;
                for (index_t p = 0; p < n; ++p) {
                    const double a = t == Trans::No ? A.dense[i + p * n] : A.dense[p + i * n];
                    ref += a * double(X.view()(p, j));
                    scale += std::abs(a * double(X.view()(p, j)));
                }
                EXPECT_NEAR(double(Y.view()(i, j)), ref, tol * (scale + 1e-30));
            }
        }
    }
    double squares = 0;
    for (const double v : A.dense) squares += v * v;
    EXPECT_NEAR(cpu::dia_sum_squares(*dia), squares, 1e-5 * squares);
}

// The CUDA backend's DIA products evaluate dia_product_entry per entry (cuda/src/dia.cu); here
// on the host, against the dense matrix, in both orientations, on diagonals that reach the
// matrix's corners and on a 1 x 1 matrix; in coded storage (values few enough: a copy of
// the matrix with its values rounded to 1/8 in [-2, 2)) the same sums to the bit as plain.
TYPED_TEST(Dia, DeviceViewEntriesMatchTheDenseMatrix) {
    using T = TypeParam;
    for (const index_t n : {1, 9, 130}) {
        const std::vector<index_t> offsets =
            n == 1 ? std::vector<index_t>{0} : std::vector<index_t>{-(n - 1), -3, 0, 2, n - 1};
        BandedCsr<T> A(n, offsets, 21 + n);
        for (const bool few_values : {false, true}) {
            if (few_values) {
                for (auto& v : A.data) v = std::fmod(std::round(T(8) * v), T(16)) / T(8);
                std::fill(A.dense.begin(), A.dense.end(), 0.0);
                for (index_t i = 0; i < n; ++i)
                    for (auto p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
                        A.dense[i + A.indices[p] * n] = A.data[p];
            }
            const auto dia = dia_from_csr(A.view(), kDiaMaxDiagonals, 100.0);
            ASSERT_TRUE(dia.has_value());
            DiaView<T> view;
            view.values = dia->values.get();
            view.n = n;
            view.diagonals = static_cast<int>(dia->offsets.size());
            std::copy(dia->offsets.begin(), dia->offsets.end(), view.offsets);
            const index_t size = n * view.diagonals;
            const auto coded = code_values(dia->values.get(), size);
            ASSERT_EQ(coded.table.empty(), !few_values && size > kDiaMaxCodes);
            DiaView<T> coded_view = view;
            coded_view.values = nullptr;
            coded_view.codes = coded.codes.data();
            coded_view.table = coded.table.data();
            ASSERT_TRUE(coded_view.coded());

            const auto x = random_matrix<T>(n, 1, 31);
            const double tol = 20 * double(std::numeric_limits<T>::epsilon());
            for (const Trans t : {Trans::No, Trans::Yes}) {
                for (index_t i = 0; i < n; ++i) {
                    double ref = 0, scale = 0;
                    for (index_t p = 0; p < n; ++p) {
                        const double a =
                            t == Trans::No ? A.dense[i + p * n] : A.dense[p + i * n];
                        ref += a * double(x.data()[p]);
                        scale += std::abs(a * double(x.data()[p]));
                    }
                    const T plain = dia_product_entry<false>(view, t, x.data(), i);
                    EXPECT_NEAR(double(plain), ref, tol * (scale + 1e-30))
                        << "n = " << n << ", i = " << i;
                    if (!coded.table.empty()) {
                        EXPECT_EQ(dia_product_entry<true>(coded_view, t, x.data(), i), plain)
                            << "n = " << n << ", i = " << i;
                    }
                }
            }
        }
    }
}

// The GPU's conversion, a thread per row (dia_fill.hpp, cuda/src/dia_convert.cu), run here
// row by row: the bits of the CPU's DIA values, plain or coded by a table of the distinct
// bit patterns; an entry off the given diagonals or a value missing from the table is
// counted as missed, and nothing else is.
TYPED_TEST(Dia, RowFillGivesTheCpusStorage) {
    using T = TypeParam;
    using B = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
    const index_t n = 200;
    BandedCsr<T> A(n, {-20, -1, 0, 1, 20}, 5);
    for (auto& v : A.data) v = std::fmod(std::round(T(8) * v), T(16)) / T(8);  // few values
    const auto dia = dia_from_csr(A.view(), kDiaMaxDiagonals, 10.0);
    ASSERT_TRUE(dia.has_value());
    const index_t size = n * static_cast<index_t>(dia->offsets.size());
    std::vector<B> expected(static_cast<std::size_t>(size));
    std::memcpy(expected.data(), dia->values.get(), sizeof(T) * expected.size());
    std::vector<B> bits(A.data.size());
    std::memcpy(bits.data(), A.data.data(), sizeof(T) * bits.size());
    std::vector<B> table(expected);  // the distinct bit patterns, ascending
    std::sort(table.begin(), table.end());
    table.erase(std::unique(table.begin(), table.end()), table.end());
    ASSERT_LE(table.size(), std::size_t(kDiaMaxCodes));

    const auto fill_all = [&](const DiaFillTarget<B>& to) {
        index_t missed = 0;
        for (index_t i = 0; i < n; ++i)
            missed += dia_fill_row(to, i, A.indptr[i], A.indptr[i + 1], A.indices.data(),
                                   bits.data());
        return missed;
    };
    const int count = static_cast<int>(dia->offsets.size());
    std::vector<B> values(static_cast<std::size_t>(size), 0);
    EXPECT_EQ(fill_all({dia->offsets.data(), count, n, values.data()}), 0);
    EXPECT_EQ(values, expected);

    const int zero_code = dia_code_of(table.data(), static_cast<int>(table.size()), B(0));
    ASSERT_GE(zero_code, 0);
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(size),
                                    static_cast<std::uint8_t>(zero_code));
    const DiaFillTarget<B> coded{dia->offsets.data(), count,        n, nullptr,
                                 codes.data(),        table.data(), static_cast<int>(table.size())};
    EXPECT_EQ(fill_all(coded), 0);
    for (index_t k = 0; k < size; ++k) ASSERT_EQ(table[codes[k]], expected[k]) << k;

    // the last diagonal left out: its entries are missed; a value left out of the table too
    const index_t last = A.nnz_on(dia->offsets.back());
    EXPECT_EQ(fill_all({dia->offsets.data(), count - 1, n, values.data()}), last);
    const B dropped = bits[0];
    const index_t uses = std::count(bits.begin(), bits.end(), dropped);
    std::vector<B> short_table;
    for (const B b : table)
        if (b != dropped) short_table.push_back(b);
    const DiaFillTarget<B> short_coded{dia->offsets.data(), count, n, nullptr, codes.data(),
                                       short_table.data(), static_cast<int>(short_table.size())};
    EXPECT_EQ(fill_all(short_coded), uses);
    EXPECT_EQ(dia_code_of(short_table.data(), static_cast<int>(short_table.size()), dropped), -1);
}

TYPED_TEST(Dia, MatricesThatDoNotSuitStayCsr) {
    using T = TypeParam;
    const BandedCsr<T> A(100, {-1, 0, 1}, 4);
    EXPECT_TRUE(dia_from_csr(A.view(), 3, 1.5).has_value());
    EXPECT_FALSE(dia_from_csr(A.view(), 2, 1.5).has_value());   // more diagonals than allowed
    EXPECT_FALSE(dia_from_csr(A.view(), 32, 1.0).has_value());  // the 10% left out: fill
    auto unsorted = A;
    ASSERT_EQ(A.indptr[1], 2);  // row 0 holds (0, 0) and (0, 1)
    std::swap(unsorted.indices[0], unsorted.indices[1]);
    EXPECT_FALSE(dia_from_csr(unsorted.view(), 32, 1.5).has_value());
    auto duplicate = A;
    duplicate.indices[1] = duplicate.indices[0];
    EXPECT_FALSE(dia_from_csr(duplicate.view(), 32, 1.5).has_value());
    auto wide = A.view();
    wide.cols = 101;
    EXPECT_FALSE(dia_from_csr(wide, 32, 1.5).has_value());
}

}  // namespace
}  // namespace rankwise::test
