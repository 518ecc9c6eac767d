// 64-bit index arithmetic in the backend's own loops: views whose leading dimension is past
// 2^31 elements, over an anonymous mapping reserved without memory (only the pages the
// views touch are ever backed).  A 32-bit offset anywhere would read the wrong column.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cmath>
#include <memory>
#include <vector>

#include "rankwise/error.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

const CpuBackend be;
constexpr index_t kHugeLd = (index_t{1} << 31) + 17;

// An address range of `bytes`, unmapped on destruction.
class Reservation {
   public:
    explicit Reservation(std::size_t bytes) : bytes_(bytes) {
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        ptr_ = p == MAP_FAILED ? nullptr : p;
    }
    ~Reservation() {
        if (ptr_ != nullptr) munmap(ptr_, bytes_);
    }
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    double* data() const { return static_cast<double*>(ptr_); }

   private:
    std::size_t bytes_;
    void* ptr_;
};

TEST(LargeIndex, ElementwisePrimitivesReachColumnsPastTwoToThe31) {
    const index_t m = 5, n = 3;
    const Reservation X_space(static_cast<std::size_t>(kHugeLd * (n - 1) + m) * sizeof(double));
    const Reservation Y_space(static_cast<std::size_t>(kHugeLd * (n - 1) + m) * sizeof(double));
    if (X_space.data() == nullptr || Y_space.data() == nullptr) {
        GTEST_SKIP() << "cannot reserve 2 x 34 GB of address space";
    }
    const MatView<double> X{X_space.data(), m, n, kHugeLd}, Y{Y_space.data(), m, n, kHugeLd};
    for (index_t j = 0; j < n; ++j)
        for (index_t i = 0; i < m; ++i) X(i, j) = double(1 + i + 10 * j);

    be.copy(ConstMatView<double>(X), Y);
    for (index_t j = 0; j < n; ++j)
        for (index_t i = 0; i < m; ++i) ASSERT_EQ(Y(i, j), X(i, j));

    std::vector<double> norms(n), dots(n);
    be.column_norms(ConstMatView<double>(X), norms.data());
    be.column_dots(ConstMatView<double>(X), ConstMatView<double>(Y), dots.data());
    double total = 0;
    for (index_t j = 0; j < n; ++j) {
        double ss = 0;
        for (index_t i = 0; i < m; ++i) ss += X(i, j) * X(i, j);
        EXPECT_DOUBLE_EQ(norms[j], std::sqrt(ss));
        EXPECT_DOUBLE_EQ(dots[j], ss);
        total += ss;
    }
    EXPECT_DOUBLE_EQ(be.sum_squares(ConstMatView<double>(X)), total);

    const std::vector<double> scale = {2, -1, 0.5};
    be.scale_columns(ConstMatView<double>(X), scale.data(), Y);
    be.add_scaled(ConstMatView<double>(X), -2.0, Y);  // Y = X diag(scale) - 2 X
    be.axpby(1.0, ConstMatView<double>(X), 1.0, Y);   // Y += X
    for (index_t j = 0; j < n; ++j)
        for (index_t i = 0; i < m; ++i) ASSERT_EQ(Y(i, j), X(i, j) * (scale[j] - 1));

    HostMatrix<double> Xt(n, m), G(2, n);
    be.transpose(ConstMatView<double>(X), Xt.view());
    const std::vector<index_t> rows = {4, 1};
    be.gather_rows(ConstMatView<double>(X), rows.data(), G.view());
    for (index_t j = 0; j < n; ++j) {
        for (index_t i = 0; i < m; ++i) ASSERT_EQ(Xt.view()(j, i), X(i, j));
        for (index_t r = 0; r < 2; ++r) ASSERT_EQ(G.view()(r, j), X(rows[r], j));
    }

    be.fill(Y, 7.0);
    for (index_t j = 0; j < n; ++j)
        for (index_t i = 0; i < m; ++i) ASSERT_EQ(Y(i, j), 7.0);
}

TEST(LargeIndex, BlasCallsRefuseLeadingDimensionsBeyondTheirIntegers) {
    const Reservation space(static_cast<std::size_t>(kHugeLd + 4) * sizeof(double));
    if (space.data() == nullptr) GTEST_SKIP() << "cannot reserve 17 GB of address space";
    const MatView<double> A{space.data(), 4, 2, kHugeLd};
    A(0, 0) = A(0, 1) = 1;
    HostMatrix<double> B(2, 1), C(4, 1);
    try {
        be.gemm(Trans::No, Trans::No, 1.0, ConstMatView<double>(A),
                ConstMatView<double>(B.view()), 0.0, C.view());
        FAIL() << "a leading dimension past INT_MAX went to a 32-bit BLAS";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("32-bit"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace rankwise::test
