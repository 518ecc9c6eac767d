// The CUDA backend's primitives and the algorithm templates over it, against the CPU
// backend on the same data.  Compiled wherever the CUDA toolkit is (CI); every test skips
// itself where no GPU is visible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "rankwise/algo/cg.hpp"
#include "rankwise/algo/precond.hpp"
#include "rankwise/algo/rsvd.hpp"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/cuda_dia.hpp"
#include "rankwise/dia.hpp"
#include "rankwise/operators.hpp"
#include "dia_codes.hpp"
#include "cuda_test_support.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {

const CpuBackend cpu_be;

// The device copy of a host CSR matrix's arrays (int32 indices).
template <class T>
struct DeviceCsr {
    DeviceMatrix<T> values;
    DeviceMatrix<int> indices, indptr;
    // nnz < 0: the backend reads it from indptr on the device
    CsrView<T, std::int32_t> view(index_t rows, index_t cols, index_t nnz) const {
        return {values.data(), indices.data(), indptr.data(), rows, cols, nnz};
    }
};

template <class T>
DeviceCsr<T> upload_csr(const CudaBackend& gpu, const std::vector<T>& values,
                        const std::vector<std::int32_t>& indices,
                        const std::vector<std::int32_t>& indptr) {
    const auto nnz = static_cast<index_t>(values.size());
    DeviceCsr<T> d{gpu.matrix<T>(nnz, 1), gpu.matrix<int>(nnz, 1),
                   gpu.matrix<int>(static_cast<index_t>(indptr.size()), 1)};
    gpu.from_host(values.data(), d.values.view());
    gpu.from_host(indices.data(), d.indices.view());
    gpu.from_host(indptr.data(), d.indptr.view());
    return d;
}

template <class T>
class CudaBackendTest : public CudaFixture<T> {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaBackendTest, Precisions);

TYPED_TEST(CudaBackendTest, GemmMatchesTheCpuInEveryTransposition) {
    using T = TypeParam;
    for (const Trans ta : {Trans::No, Trans::Yes})
        for (const Trans tb : {Trans::No, Trans::Yes})
            for (const index_t k : {0, 1, 37}) {
                const index_t m = 23, n = 9;
                auto A = ta == Trans::No ? random_matrix<T>(m, k, 1) : random_matrix<T>(k, m, 1);
                auto B = tb == Trans::No ? random_matrix<T>(k, n, 2) : random_matrix<T>(n, k, 2);
                auto C = random_matrix<T>(m, n, 3);
                auto dA = this->upload(A), dB = this->upload(B), dC = this->upload(C);
                this->gpu.gemm(ta, tb, T(2), ConstMatView<T>(dA.view()),
                               ConstMatView<T>(dB.view()), T(0.5), dC.view());
                cpu_be.gemm(ta, tb, T(2), ConstMatView<T>(A.view()), ConstMatView<T>(B.view()),
                            T(0.5), C.view());
                const auto got = this->download(dC.view());
                EXPECT_LE(max_rel_diff<T>(got.view(), C.view()), 50 * this->tol()) << "k = " << k;
            }
}

TYPED_TEST(CudaBackendTest, OrthonormalizeKeepsTheSpanInEveryMode) {
    using T = TypeParam;
    const index_t m = 300, l = 12;
    std::vector<double> sigma(l);
    for (index_t j = 0; j < l; ++j) sigma[j] = std::pow(10.0, -double(j) / 2);  // cond 3e5
    const auto Y = matrix_with_spectrum<T>(cpu_be, m, l, sigma, 5);
    for (const Ortho how : {Ortho::CholQR2, Ortho::Householder, Ortho::LU}) {
        auto dY = this->upload(Y);
        this->gpu.orthonormalize(dY.view(), how);
        auto Q = this->download(dY.view());
        if (how == Ortho::LU) {
            // the power-step normalizer: one Cholesky QR step, a well-conditioned basis
            // (orthonormal to O(cond^2 eps) <= 1e-2), not an orthonormal one
            EXPECT_LE(orthonormality_error<T>(Q.view()), 1e-2);
            cpu_be.orthonormalize(Q.view(), Ortho::Householder);
        } else {
            EXPECT_LE(orthonormality_error<T>(Q.view()), 100 * this->tol());
        }
        // span: Y - Q Q^T Y = 0
        HostMatrix<T> C(l, l), R = random_matrix<T>(m, l, 0);
        cpu_be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(Q.view()),
                    ConstMatView<T>(Y.view()), T(0), C.view());
        cpu_be.copy(ConstMatView<T>(Y.view()), R.view());
        cpu_be.gemm(Trans::No, Trans::No, T(-1), ConstMatView<T>(Q.view()),
                    ConstMatView<T>(C.view()), T(1), R.view());
        std::vector<double> norms(l);
        cpu_be.column_norms(ConstMatView<T>(R.view()), norms.data());
        for (const double r : norms) EXPECT_LE(r, 1e3 * this->tol());
    }
}

TYPED_TEST(CudaBackendTest, SvdOfATallBlockMatchesTheCpu) {
    using T = TypeParam;
    const index_t m = 200, n = 15;
    std::vector<double> sigma(n);
    for (index_t j = 0; j < n; ++j) sigma[j] = 1.0 / (1 + j);
    const auto W = matrix_with_spectrum<T>(cpu_be, m, n, sigma, 8);
    auto dW = this->upload(W);
    auto dU = this->gpu.template matrix<T>(m, n), dVt = this->gpu.template matrix<T>(n, n);
    std::vector<T> s(n);
    this->gpu.svd(dW.view(), dU.view(), s.data(), dVt.view(), SvdDriver::Gesdd);
    for (index_t j = 0; j < n; ++j) EXPECT_NEAR(s[j], sigma[j], 100 * this->tol());
    const auto U = this->download(dU.view()), Vt = this->download(dVt.view());
    EXPECT_LE(orthonormality_error<T>(U.view()), 100 * this->tol());
    HostMatrix<T> US(m, n), back(m, n);
    cpu_be.scale_columns(ConstMatView<T>(U.view()), s.data(), US.view());
    cpu_be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(US.view()),
                ConstMatView<T>(Vt.view()), T(0), back.view());
    EXPECT_LE(max_rel_diff<T>(back.view(), W.view()), 100 * this->tol());
}

TYPED_TEST(CudaBackendTest, SketchEqualsTheCpuSketch) {
    using T = TypeParam;
    for (const index_t rows : {1, 7, 64}) {
        HostMatrix<T> X(rows, 5);
        auto dX = this->gpu.template matrix<T>(rows, 5);
        cpu_be.fill_normal(X.view(), philox::Key{11, 12}, 3);
        this->gpu.fill_normal(dX.view(), philox::Key{11, 12}, 3);
        EXPECT_LE(max_rel_diff<T>(this->download(dX.view()).view(), X.view()), 4 * this->tol());
    }
}

TYPED_TEST(CudaBackendTest, ElementwisePrimitivesAndReductionsMatchTheCpu) {
    using T = TypeParam;
    const index_t m = 5000, n = 3;
    auto X = random_matrix<T>(m, n, 21), Y = random_matrix<T>(m, n, 22);
    auto dX = this->upload(X), dY = this->upload(Y);
    const T scale[3] = {T(2), T(-1), T(0.5)};
    this->gpu.scale_columns(ConstMatView<T>(dX.view()), scale, dY.view());
    cpu_be.scale_columns(ConstMatView<T>(X.view()), scale, Y.view());
    EXPECT_LE(max_rel_diff<T>(this->download(dY.view()).view(), Y.view()), this->tol());
    this->gpu.add_scaled(ConstMatView<T>(dX.view()), T(3), dY.view());
    cpu_be.add_scaled(ConstMatView<T>(X.view()), T(3), Y.view());
    EXPECT_LE(max_rel_diff<T>(this->download(dY.view()).view(), Y.view()), this->tol());
    double g[3], c[3];
    this->gpu.column_norms(ConstMatView<T>(dY.view()), g);
    cpu_be.column_norms(ConstMatView<T>(Y.view()), c);
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(g[j], c[j], 10 * this->tol() * c[j]);
    this->gpu.column_dots(ConstMatView<T>(dX.view()), ConstMatView<T>(dY.view()), g);
    cpu_be.column_dots(ConstMatView<T>(X.view()), ConstMatView<T>(Y.view()), c);
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(g[j], c[j], 1e-3 * std::abs(c[j]) + 1e-6);
    EXPECT_NEAR(this->gpu.sum_squares(ConstMatView<T>(dY.view())),
                cpu_be.sum_squares(ConstMatView<T>(Y.view())),
                1e-6 * cpu_be.sum_squares(ConstMatView<T>(Y.view())));
    this->gpu.fill(dY.view(), T(0));
    EXPECT_EQ(this->gpu.sum_squares(ConstMatView<T>(dY.view())), 0.0);
    this->gpu.fill(dY.view(), T(2));
    EXPECT_EQ(this->gpu.sum_squares(ConstMatView<T>(dY.view())), 4.0 * m * n);
    if constexpr (std::is_same_v<T, double>) {  // no overflow for huge entries
        this->gpu.fill(dY.view(), T(1e300));
        this->gpu.column_norms(ConstMatView<T>(dY.view()), g);
        EXPECT_NEAR(g[0], 1e300 * std::sqrt(double(m)), 1e288);
    }
}

TYPED_TEST(CudaBackendTest, SparseProductsMatchTheCpu) {
    using T = TypeParam;
    // 40 x 30 CSR with 3 entries per row
    const index_t rows = 40, cols = 30;
    std::vector<std::int32_t> indptr{0}, indices;
    std::vector<T> values;
    for (index_t i = 0; i < rows; ++i) {
        for (index_t e = 0; e < 3; ++e) {
            indices.push_back(static_cast<std::int32_t>((7 * i + 11 * e) % cols));
            values.push_back(T(1) / T(1 + i + e));
        }
        std::sort(indices.end() - 3, indices.end());
        indptr.push_back(static_cast<std::int32_t>(indices.size()));
    }
    const index_t nnz = static_cast<index_t>(values.size());
    const auto d_csr = upload_csr(this->gpu, values, indices, indptr);
    const CsrView<T, std::int32_t> host{values.data(), indices.data(), indptr.data(), rows, cols};
    const auto dev = d_csr.view(rows, cols, nnz);
    for (const Trans t : {Trans::No, Trans::Yes}) {
        const index_t in = t == Trans::No ? cols : rows, out = t == Trans::No ? rows : cols;
        auto X = random_matrix<T>(in, 4, 31);
        HostMatrix<T> Y(out, 4);
        auto dX = this->upload(X);
        auto dY = this->gpu.template matrix<T>(out, 4);
        cpu_be.csr_mm(host, t, ConstMatView<T>(X.view()), Y.view());
        this->gpu.csr_mm(dev, t, ConstMatView<T>(dX.view()), dY.view());
        EXPECT_LE(max_rel_diff<T>(this->download(dY.view()).view(), Y.view()), 10 * this->tol());
    }
    EXPECT_NEAR(this->gpu.sum_squares(dev), cpu_be.sum_squares(host),
                1e-6 * cpu_be.sum_squares(host));
}

TYPED_TEST(CudaBackendTest, SparseProductsOfEveryWidthAndLeadingDimension) {
    // one column (SpMV), 3 (column-major SpMM), 4 and 21 (row-major copies and CSR_ALG2),
    // blocks that are views into taller matrices (leading dimension > rows)
    using T = TypeParam;
    const index_t rows = 300, cols = 120, pad = 7;
    std::vector<std::int32_t> indptr{0}, indices;
    std::vector<T> values;
    for (index_t i = 0; i < rows; ++i) {
        for (index_t e = 0; e < 1 + i % 5; ++e) {
            indices.push_back(static_cast<std::int32_t>((13 * i + 17 * e) % cols));
            values.push_back(T(1) / T(2 + i % 9 + e));
        }
        std::sort(indices.begin() + indptr.back(), indices.end());
        indices.erase(std::unique(indices.begin() + indptr.back(), indices.end()), indices.end());
        values.resize(indices.size());
        indptr.push_back(static_cast<std::int32_t>(indices.size()));
    }
    const auto d_csr = upload_csr(this->gpu, values, indices, indptr);
    const CsrView<T, std::int32_t> host{values.data(), indices.data(), indptr.data(), rows, cols};
    const auto dev = d_csr.view(rows, cols, -1);  // nnz read from the device
    for (const index_t l : {1, 3, 4, 21}) {
        auto Xp = random_matrix<T>(cols + pad, l, 41);
        auto dXp = this->upload(Xp);
        auto dYp = this->gpu.template matrix<T>(rows + pad, l);
        const ConstMatView<T> X = ConstMatView<T>(Xp.view()).rows_range(0, cols);
        const ConstMatView<T> dX = ConstMatView<T>(dXp.view()).rows_range(0, cols);
        HostMatrix<T> Y(rows, l);
        cpu_be.csr_mm(host, Trans::No, X, Y.view());
        this->gpu.csr_mm(dev, Trans::No, dX, dYp.view().rows_range(0, rows));
        const auto got = this->download(ConstMatView<T>(dYp.view()).rows_range(0, rows));
        EXPECT_LE(max_rel_diff<T>(got.view(), Y.view()), 10 * this->tol()) << "l = " << l;
        // the same bits on a second run
        auto again = this->gpu.template matrix<T>(rows, l);
        this->gpu.csr_mm(dev, Trans::No, dX, again.view());
        EXPECT_EQ(max_rel_diff<T>(this->download(again.view()).view(), got.view()), 0.0);
    }
}

TYPED_TEST(CudaBackendTest, FiniteChecksMaximaAndTheJacobiDiagonal) {
    using T = TypeParam;
    const index_t n = 70000;
    auto X = random_matrix<T>(n, 2, 51);
    X.view()(123, 1) = -T(7);
    auto dX = this->upload(X);
    EXPECT_TRUE(this->gpu.all_finite(ConstMatView<T>(dX.view())));
    EXPECT_EQ(this->gpu.finite_abs_max(ConstMatView<T>(dX.view())), 7.0);
    double maxima[2];
    this->gpu.column_abs_max(ConstMatView<T>(dX.view()), maxima);
    EXPECT_EQ(maxima[1], 7.0);
    if constexpr (std::is_same_v<T, float>) {  // a subnormal is not flushed to zero
        HostMatrix<T> tiny(3, 1);
        tiny.view()(0, 0) = T(0);
        tiny.view()(1, 0) = -T(1e-40);
        tiny.view()(2, 0) = T(1e-41);
        auto dt = this->upload(tiny);
        this->gpu.column_abs_max(ConstMatView<T>(dt.view()), maxima);
        EXPECT_EQ(maxima[0], double(T(1e-40)));
    }
    X.view()(n - 1, 0) = std::numeric_limits<T>::infinity();
    auto dBad = this->upload(X);
    EXPECT_FALSE(this->gpu.all_finite(ConstMatView<T>(dBad.view())));
    EXPECT_EQ(this->gpu.finite_abs_max(ConstMatView<T>(dBad.view())),
              std::numeric_limits<double>::infinity());
    X.view()(n - 1, 0) = std::numeric_limits<T>::quiet_NaN();  // NaN: also +Inf, not dropped
    auto dNaN = this->upload(X);
    EXPECT_EQ(this->gpu.finite_abs_max(ConstMatView<T>(dNaN.view())),
              std::numeric_limits<double>::infinity());
    this->gpu.column_abs_max(ConstMatView<T>(dNaN.view()), maxima);  // per column as well
    EXPECT_EQ(maxima[0], std::numeric_limits<double>::infinity());
    EXPECT_EQ(maxima[1], 7.0);

    // the Jacobi diagonal, plain and coded (d_i takes 10 values: codes index a table of them)
    std::vector<T> d(n), table(12);
    std::vector<std::uint8_t> codes(n);
    for (index_t i = 0; i < n; ++i) d[i] = T(1 + i % 10);
    for (index_t c = 0; c < 10; ++c) table[c] = T(1 + c);
    table[10] = T(0);
    table[11] = -T(1);
    for (index_t i = 0; i < n; ++i) codes[i] = static_cast<std::uint8_t>(i % 10);
    auto dd = this->gpu.template matrix<T>(n, 1), inv = this->gpu.template matrix<T>(n, 1);
    auto dCodes = this->gpu.template matrix<std::uint8_t>(n, 1);
    auto dTable = this->gpu.template matrix<T>(12, 1), invTable = this->gpu.template matrix<T>(12, 1);
    this->gpu.from_host(d.data(), dd.view());
    this->gpu.from_host(codes.data(), dCodes.view());
    this->gpu.from_host(table.data(), dTable.view());
    const DiagonalView<T> plain{dd.data()}, coded{nullptr, dCodes.data(), dTable.data()};
    this->gpu.invert_positive_diagonal(plain, n, inv.view());
    const auto got = this->gpu.to_host(inv.data(), n);
    for (index_t i = 0; i < n; i += 997) EXPECT_EQ(got[i], T(1) / d[i]);
    this->gpu.invert_positive_diagonal(coded, n, invTable.view());
    const auto got_table = this->gpu.to_host(invTable.data(), 10);
    for (index_t c = 0; c < 10; ++c) EXPECT_EQ(got_table[c], T(1) / table[c]);
    d[40000] = T(0);
    d[50000] = -T(1);
    codes[40000] = 10;
    codes[50000] = 11;
    this->gpu.from_host(d.data(), dd.view());
    this->gpu.from_host(codes.data(), dCodes.view());
    for (const bool is_coded : {false, true}) {
        try {
            if (is_coded) {
                this->gpu.invert_positive_diagonal(coded, n, invTable.view());
            } else {
                this->gpu.invert_positive_diagonal(plain, n, inv.view());
            }
            ADD_FAILURE() << "a zero diagonal entry was accepted";
        } catch (const std::exception& e) {
            EXPECT_NE(std::string(e.what()).find("A[40000, 40000] = 0"), std::string::npos)
                << e.what();
        }
    }
}

TYPED_TEST(CudaBackendTest, SvdOfEqualAndZeroSingularValues) {
    // Hard spectra for both ways of the small SVD: n = 12 (LAPACK on the host), n = 140
    // (float32: cuSOLVER's Jacobi, checked, gesvd where the check fails; float64: the host).
    using T = TypeParam;
    for (const index_t n : {index_t(12), index_t(140)}) {
        const index_t m = 400, q = n / 4;
        std::vector<double> sigma(n, 0.0);
        for (index_t j = 0; j < 2 * q; ++j) sigma[j] = j < q ? 2.0 : 1.0;
        const auto W = matrix_with_spectrum<T>(cpu_be, m, n, sigma, 9);
        auto dW = this->upload(W);
        auto dU = this->gpu.template matrix<T>(m, n), dVt = this->gpu.template matrix<T>(n, n);
        std::vector<T> s(n);
        this->gpu.svd(dW.view(), dU.view(), s.data(), dVt.view(), SvdDriver::Gesdd);
        for (index_t j = 0; j < n; ++j) EXPECT_NEAR(s[j], sigma[j], 100 * this->tol()) << n;
        const auto U = this->download(dU.view()), Vt = this->download(dVt.view());
        HostMatrix<T> US(m, n), back(m, n);
        cpu_be.scale_columns(ConstMatView<T>(U.view()), s.data(), US.view());
        cpu_be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(US.view()),
                    ConstMatView<T>(Vt.view()), T(0), back.view());
        EXPECT_LE(max_rel_diff<T>(back.view(), W.view()), 100 * this->tol()) << n;
        EXPECT_LE(orthonormality_error<T>(U.view().cols_range(0, 2 * q)), 100 * this->tol())
            << n;
    }
}

// CG's p update and step along p against the CPU backend's; the step reads p.q on the
// device and moves only the active columns whose p.q is positive and finite (column 3: p.q <
// 0, left as it was, as is inactive column 1); with the diagonal coded the same to the bit.
TYPED_TEST(CudaBackendTest, CgVectorUpdatesMatchTheCpu) {
    using T = TypeParam;
    const index_t n = 3000, s = 4;
    auto Z = random_matrix<T>(n, s, 41), P = random_matrix<T>(n, s, 42);
    auto Q = random_matrix<T>(n, s, 43), X = random_matrix<T>(n, s, 44);
    auto R = random_matrix<T>(n, s, 45), D = random_matrix<T>(n, 1, 46);
    for (index_t i = 0; i < n; ++i) D.data()[i] = T(0.5) + T(i % 7) / T(4);  // 7 values
    auto dZ = this->upload(Z), dP = this->upload(P), dQ = this->upload(Q), dX = this->upload(X),
         dR = this->upload(R), dD = this->upload(D);
    auto cP = this->upload(P), cX = this->upload(X), cR = this->upload(R);  // for coded D
    const auto X0 = this->download(dX.view()), R0 = this->download(dR.view());
    const T beta[s] = {T(0.5), T(2), T(-1), T(0.25)};
    const double rho[s] = {0.25, 1, 3, 1}, pq[s] = {1, 2, 3, -1};
    const std::uint8_t active[s] = {1, 0, 1, 1};
    auto dPq = this->gpu.template matrix<double>(s, 1);
    this->gpu.from_host(pq, dPq.view());
    cpu_be.cg_update_p(beta, DiagonalView<T>{D.data()}, ConstMatView<T>(Z.view()), P.view(),
                       active);
    this->gpu.cg_update_p(beta, DiagonalView<T>{dD.data()}, ConstMatView<T>(dZ.view()),
                          dP.view(), active);
    EXPECT_LE(max_rel_diff<T>(this->download(dP.view()).view(), P.view()), 10 * this->tol());
    double rr_c[s] = {-1, -1, -1, -1}, rz_c[s] = {-1, -1, -1, -1};
    double rr_g[s] = {-1, -1, -1, -1}, rz_g[s] = {-1, -1, -1, -1};
    double pq_c[s] = {}, pq_g[s] = {};
    cpu_be.cg_update_xr(rho, pq, ConstMatView<T>(P.view()), ConstMatView<T>(Q.view()), X.view(),
                        R.view(), DiagonalView<T>{D.data()}, active, pq_c, rr_c, rz_c);
    this->gpu.cg_update_xr(rho, dPq.data(), ConstMatView<T>(dP.view()), ConstMatView<T>(dQ.view()),
                           dX.view(), dR.view(), DiagonalView<T>{dD.data()}, active, pq_g, rr_g,
                           rz_g);
    EXPECT_LE(max_rel_diff<T>(this->download(dX.view()).view(), X.view()), 10 * this->tol());
    EXPECT_LE(max_rel_diff<T>(this->download(dR.view()).view(), R.view()), 10 * this->tol());
    const auto X1 = this->download(dX.view()), R1 = this->download(dR.view());
    for (index_t i = 0; i < n; ++i) {
        for (const index_t j : {1, 3}) {  // not stepped
            ASSERT_EQ(X1.view()(i, j), X0.view()(i, j));
            ASSERT_EQ(R1.view()(i, j), R0.view()(i, j));
        }
    }
    for (index_t j = 0; j < s; ++j) {
        EXPECT_EQ(pq_g[j], pq[j]);
        EXPECT_EQ(pq_c[j], pq[j]);
        if (j == 1 || j == 3) {
            EXPECT_EQ(rr_g[j], -1);
            EXPECT_EQ(rz_g[j], -1);
            continue;
        }
        EXPECT_NEAR(rr_g[j], rr_c[j], 1e-4 * rr_c[j]);
        EXPECT_NEAR(rz_g[j], rz_c[j], 1e-4 * rz_c[j]);
    }

    // the same updates with D coded (rankwise/diagonal_view.hpp): equal to the bit, as are
    // the rows scaled by it
    const auto coded = code_values(D.data(), n);
    ASSERT_FALSE(coded.table.empty());
    auto dCodes = this->gpu.template matrix<std::uint8_t>(n, 1);
    auto dTable = this->gpu.template matrix<T>(static_cast<index_t>(coded.table.size()), 1);
    this->gpu.from_host(coded.codes.data(), dCodes.view());
    this->gpu.from_host(coded.table.data(), dTable.view());
    const DiagonalView<T> coded_d{nullptr, dCodes.data(), dTable.data()};
    this->gpu.cg_update_p(beta, coded_d, ConstMatView<T>(dZ.view()), cP.view(), active);
    EXPECT_EQ(max_rel_diff<T>(this->download(cP.view()).view(), this->download(dP.view()).view()),
              0.0);
    double rr_coded[s] = {-1, -1, -1, -1}, rz_coded[s] = {-1, -1, -1, -1}, pq_coded[s] = {};
    this->gpu.cg_update_xr(rho, dPq.data(), ConstMatView<T>(cP.view()), ConstMatView<T>(dQ.view()),
                           cX.view(), cR.view(), coded_d, active, pq_coded, rr_coded, rz_coded);
    EXPECT_EQ(max_rel_diff<T>(this->download(cX.view()).view(), this->download(dX.view()).view()),
              0.0);
    EXPECT_EQ(max_rel_diff<T>(this->download(cR.view()).view(), this->download(dR.view()).view()),
              0.0);
    for (index_t j = 0; j < s; ++j) {
        EXPECT_EQ(rr_coded[j], rr_g[j]) << j;
        EXPECT_EQ(rz_coded[j], rz_g[j]) << j;
    }
    auto scaled = this->gpu.template matrix<T>(n, s), coded_scaled = this->gpu.template matrix<T>(n, s);
    this->gpu.scale_rows(DiagonalView<T>{dD.data()}, ConstMatView<T>(dZ.view()), scaled.view());
    this->gpu.scale_rows(coded_d, ConstMatView<T>(dZ.view()), coded_scaled.view());
    EXPECT_EQ(max_rel_diff<T>(this->download(coded_scaled.view()).view(),
                              this->download(scaled.view()).view()),
              0.0);

    // without a diagonal M: ||r||^2 alone, rz left as it was
    rz_g[0] = -7;
    cpu_be.cg_update_xr(rho, pq, ConstMatView<T>(P.view()), ConstMatView<T>(Q.view()), X.view(),
                        R.view(), DiagonalView<T>{}, active, pq_c, rr_c, rz_c);
    this->gpu.cg_update_xr(rho, dPq.data(), ConstMatView<T>(dP.view()), ConstMatView<T>(dQ.view()),
                           dX.view(), dR.view(), DiagonalView<T>{}, active, pq_g, rr_g, rz_g);
    EXPECT_LE(max_rel_diff<T>(this->download(dR.view()).view(), R.view()), 10 * this->tol());
    EXPECT_NEAR(rr_g[0], rr_c[0], 1e-4 * rr_c[0]);
    EXPECT_NEAR(rr_g[2], rr_c[2], 1e-4 * rr_c[2]);
    EXPECT_EQ(rz_g[0], -7);
}

// DIA products (cuda/src/dia.cu) against the CPU backend's on the same DIA matrix, in both
// orientations, with the fused dots, on diagonals reaching the corners and a missing entry;
// the matrix's values are multiples of 1/8 in (-2, 2), so that it also has a coded form
// (rankwise/dia_view.hpp), whose products equal the plain ones to the bit.
TYPED_TEST(CudaBackendTest, DiaProductsMatchTheCpu) {
    using T = TypeParam;
    const index_t n = 5000, l = 3;
    const std::vector<index_t> offsets = {-(n - 1), -70, -1, 0, 1, 3, n - 1};
    std::vector<T> values;
    std::vector<std::int32_t> indices, indptr{0};
    const auto entries = random_matrix<T>(n, static_cast<index_t>(offsets.size()), 81);
    for (index_t i = 0; i < n; ++i) {
        for (std::size_t d = 0; d < offsets.size(); ++d) {
            const index_t j = i + offsets[d];
            if (j < 0 || j >= n || (i == 7 && offsets[d] == 3)) continue;
            const T v = entries.view()(i, static_cast<index_t>(d));
            values.push_back(std::fmod(std::round(T(8) * v), T(16)) / T(8));
            indices.push_back(static_cast<std::int32_t>(j));
        }
        indptr.push_back(static_cast<std::int32_t>(values.size()));
    }
    const CsrView<T, std::int32_t> csr{values.data(), indices.data(), indptr.data(), n, n};
    const auto dia = dia_from_csr(csr, kDiaMaxDiagonals, 10.0);
    ASSERT_TRUE(dia.has_value());
    const auto d = static_cast<index_t>(dia->offsets.size());
    HostMatrix<T> stored(n * d, 1);
    std::copy(dia->values.get(), dia->values.get() + n * d, stored.data());
    const auto dStored = this->upload(stored);
    DiaView<T> view;
    view.values = dStored.data();
    view.n = n;
    view.diagonals = static_cast<int>(d);
    std::copy(dia->offsets.begin(), dia->offsets.end(), view.offsets);

    const auto X = random_matrix<T>(n, l, 82);
    const auto dX = this->upload(X);
    HostMatrix<T> Y(n, l);
    auto dY = this->gpu.template matrix<T>(n, l);
    for (const Trans t : {Trans::No, Trans::Yes}) {
        cpu::dia_mm(*dia, t, ConstMatView<T>(X.view()), Y.view());
        this->gpu.dia_mm(view, t, ConstMatView<T>(dX.view()), dY.view());
        EXPECT_LE(max_rel_diff<T>(this->download(dY.view()).view(), Y.view()), 10 * this->tol());
    }
    auto dDots = this->gpu.template matrix<double>(l, 1);  // (on the device)
    this->gpu.fill(dY.view(), T(0));
    this->gpu.dia_mm_dot(view, ConstMatView<T>(dX.view()), dY.view(), dDots.data());
    const auto dots = this->gpu.to_host(dDots.data(), l);
    cpu::dia_mm(*dia, Trans::No, ConstMatView<T>(X.view()), Y.view());
    EXPECT_LE(max_rel_diff<T>(this->download(dY.view()).view(), Y.view()), 10 * this->tol());
    for (index_t j = 0; j < l; ++j) {
        double ref = 0, scale = 0;
        for (index_t i = 0; i < n; ++i) {
            ref += double(X.view()(i, j)) * double(Y.view()(i, j));
            scale += std::abs(double(X.view()(i, j)) * double(Y.view()(i, j)));
        }
        EXPECT_NEAR(dots[j], ref, 10 * this->tol() * scale) << j;
    }

    EXPECT_NEAR(this->gpu.dia_sum_squares(view), cpu::dia_sum_squares(*dia),
                1e-12 * cpu::dia_sum_squares(*dia));

    const auto coded = code_values(dia->values.get(), n * d);
    ASSERT_FALSE(coded.table.empty());
    auto dCodes = this->gpu.template matrix<std::uint8_t>(n * d, 1);
    auto dTable = this->gpu.template matrix<T>(static_cast<index_t>(coded.table.size()), 1);
    this->gpu.from_host(coded.codes.data(), dCodes.view());
    this->gpu.from_host(coded.table.data(), dTable.view());
    DiaView<T> coded_view = view;
    coded_view.values = nullptr;
    coded_view.codes = dCodes.data();
    coded_view.table = dTable.data();
    auto dZ = this->gpu.template matrix<T>(n, l);
    for (const Trans t : {Trans::No, Trans::Yes}) {
        this->gpu.dia_mm(view, t, ConstMatView<T>(dX.view()), dY.view());
        this->gpu.dia_mm(coded_view, t, ConstMatView<T>(dX.view()), dZ.view());
        EXPECT_EQ(max_rel_diff<T>(this->download(dZ.view()).view(),
                                  this->download(dY.view()).view()),
                  0.0);
    }
    auto dCodedDots = this->gpu.template matrix<double>(l, 1);
    this->gpu.dia_mm_dot(view, ConstMatView<T>(dX.view()), dY.view(), dDots.data());
    this->gpu.dia_mm_dot(coded_view, ConstMatView<T>(dX.view()), dZ.view(), dCodedDots.data());
    const auto coded_dots = this->gpu.to_host(dCodedDots.data(), l);
    EXPECT_EQ(max_rel_diff<T>(this->download(dZ.view()).view(), this->download(dY.view()).view()),
              0.0);
    for (index_t j = 0; j < l; ++j) EXPECT_EQ(coded_dots[j], dots[j]) << j;
    EXPECT_EQ(this->gpu.dia_sum_squares(coded_view), this->gpu.dia_sum_squares(view));
}

TYPED_TEST(CudaBackendTest, RandomizedSvdTemplateMatchesTheCpu) {
    using T = TypeParam;
    const index_t m = 400, n = 250;
    std::vector<double> sigma(n);
    for (index_t j = 0; j < n; ++j) sigma[j] = std::exp(-0.2 * double(j));
    const auto A = matrix_with_spectrum<T>(cpu_be, m, n, sigma, 51);
    auto dA = this->upload(A);
    RsvdOptions o;
    o.k = 10;
    o.l = 20;
    o.n_iter = 3;
    o.key = philox::Key{5, 6};
    const DenseOp<CpuBackend, T> cpu_op(cpu_be, A.view(), false);
    const DenseOp<CudaBackend, T> gpu_op(this->gpu, ConstMatView<T>(dA.view()), false);
    const auto c = rsvd_subspace(cpu_be, cpu_op, o);
    const auto g = rsvd_subspace(this->gpu, gpu_op, o);
    for (index_t j = 0; j < o.k; ++j) {
        EXPECT_NEAR(g.s[j], c.s[j], 100 * this->tol() * c.s[0]);
        EXPECT_NEAR(g.s[j], sigma[j], 1e3 * this->tol() + 1e-6);
    }
}

TYPED_TEST(CudaBackendTest, CgTemplateTakesTheCpuIterationCount) {
    using T = TypeParam;
    const index_t n = 80;
    auto G = random_matrix<T>(n, n, 61);
    HostMatrix<T> A(n, n);
    cpu_be.gemm(Trans::No, Trans::Yes, T(1) / T(n), ConstMatView<T>(G.view()),
                ConstMatView<T>(G.view()), T(0), A.view());
    for (index_t i = 0; i < n; ++i) A.view()(i, i) += T(1);
    const auto B = random_matrix<T>(n, 2, 62);
    auto dA = this->upload(A), dB = this->upload(B);
    HostMatrix<T> X(n, 2);
    auto dX = this->gpu.template matrix<T>(n, 2);
    CgOptions o;
    o.maxiter = 300;
    o.atol = {std::is_same_v<T, float> ? 1e-4 : 1e-10, std::is_same_v<T, float> ? 1e-4 : 1e-10};
    const DenseOp<CpuBackend, T> cpu_op(cpu_be, A.view(), false);
    const DenseOp<CudaBackend, T> gpu_op(this->gpu, ConstMatView<T>(dA.view()), false);
    const auto c = cg_solve<CpuBackend, T>(cpu_be, cpu_op, nullptr, B.view(), X.view(), o);
    const auto g = cg_solve<CudaBackend, T>(this->gpu, gpu_op, nullptr,
                                            ConstMatView<T>(dB.view()), dX.view(), o);
    for (int j = 0; j < 2; ++j) {
        EXPECT_EQ(g.stop[j], CgStop::Converged);
        EXPECT_LE(std::abs(g.iterations[j] - c.iterations[j]), 1);
    }
    EXPECT_LE(max_rel_diff<T>(this->download(dX.view()).view(), X.view()), 1e3 * this->tol());

    // the recorded search directions (CgRecord, for recycling) agree as well
    const index_t m = 5;
    HostMatrix<T> P(n, m), Q(n, m), X2(n, 2);
    auto dP = this->gpu.template matrix<T>(n, m);
    auto dQ = this->gpu.template matrix<T>(n, m);
    auto dX2 = this->gpu.template matrix<T>(n, 2);
    const auto cr = cg_solve<CpuBackend, T>(cpu_be, cpu_op, nullptr, B.view(), X2.view(), o,
                                            nullptr, CgRecord<T>{P.view(), Q.view()});
    const auto gr = cg_solve<CudaBackend, T>(this->gpu, gpu_op, nullptr,
                                             ConstMatView<T>(dB.view()), dX2.view(), o, nullptr,
                                             CgRecord<T>{dP.view(), dQ.view()});
    EXPECT_EQ(cr.recorded, m);
    EXPECT_EQ(gr.recorded, m);
    EXPECT_LE(max_rel_diff<T>(this->download(dP.view()).view(), P.view()), 1e3 * this->tol());
    EXPECT_LE(max_rel_diff<T>(this->download(dQ.view()).view(), Q.view()), 1e3 * this->tol());
}

// CG as _cg_gpu.py runs it on a stencil: the product in coded DIA storage (DiaDeviceOp) and
// the Jacobi preconditioner from a coded diagonal (DeviceJacobi), against the CPU's CG on
// the CSR matrix with its Jacobi preconditioner.  Then tables that hold fewer values than
// the codes name: the padded copy gives NaN, which the Jacobi check and CG report, where
// the entries past the table (here: valid memory, the rest of the full table) would have
// been used silently.
TYPED_TEST(CudaBackendTest, CgThroughCodedDiaWithCodedJacobiTakesTheCpuIterates) {
    using T = TypeParam;
    const index_t g = 40, n = g * g;
    // the 5-point Laplacian plus 0, 1 or 2 on the diagonal (i % 3): three diagonal values
    std::vector<T> values;
    std::vector<std::int32_t> indices, indptr{0};
    std::vector<T> diagonal(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        const index_t r = i / g, c = i % g;
        const auto put = [&](index_t j, T v) {
            values.push_back(v);
            indices.push_back(static_cast<std::int32_t>(j));
        };
        if (r > 0) put(i - g, T(-1));
        if (c > 0) put(i - 1, T(-1));
        diagonal[static_cast<std::size_t>(i)] = T(4 + i % 3);
        put(i, diagonal[static_cast<std::size_t>(i)]);
        if (c < g - 1) put(i + 1, T(-1));
        if (r < g - 1) put(i + g, T(-1));
        indptr.push_back(static_cast<std::int32_t>(values.size()));
    }
    const CsrView<T, std::int32_t> csr{values.data(), indices.data(), indptr.data(), n, n};
    const auto dia = dia_from_csr(csr, kDiaMaxDiagonals, 10.0);
    ASSERT_TRUE(dia.has_value());
    const auto d = static_cast<index_t>(dia->offsets.size());
    const auto coded = code_values(dia->values.get(), n * d);
    const auto coded_diagonal = code_values(diagonal.data(), n);
    ASSERT_EQ(coded_diagonal.table.size(), 3u);
    const auto upload_codes = [&](const CodedValues<T>& c) {
        auto codes = this->gpu.template matrix<std::uint8_t>(static_cast<index_t>(c.codes.size()), 1);
        auto table = this->gpu.template matrix<T>(static_cast<index_t>(c.table.size()), 1);
        this->gpu.from_host(c.codes.data(), codes.view());
        this->gpu.from_host(c.table.data(), table.view());
        return std::make_pair(std::move(codes), std::move(table));
    };
    const auto [dCodes, dTable] = upload_codes(coded);
    const auto [dDiagCodes, dDiagTable] = upload_codes(coded_diagonal);
    DiaView<T> view;
    view.codes = dCodes.data();
    view.table = dTable.data();
    view.n = n;
    view.diagonals = static_cast<int>(d);
    std::copy(dia->offsets.begin(), dia->offsets.end(), view.offsets);
    const DiagonalView<T> coded_d{nullptr, dDiagCodes.data(), dDiagTable.data()};
    const auto table_size = static_cast<index_t>(coded.table.size());

    const auto B = random_matrix<T>(n, 2, 91);
    const auto dB = this->upload(B);
    HostMatrix<T> X(n, 2);
    auto dX = this->gpu.template matrix<T>(n, 2);
    CgOptions o;
    o.maxiter = 500;
    o.atol = {std::is_same_v<T, float> ? 1e-3 : 1e-9, std::is_same_v<T, float> ? 1e-3 : 1e-9};
    const SparseOp<CpuBackend, T, std::int32_t> cpu_op(cpu_be, csr, false);
    const JacobiPrecond<CpuBackend, T> cpu_m(cpu_be, diagonal.data(), n);
    const auto c = cg_solve<CpuBackend, T>(cpu_be, cpu_op, &cpu_m, B.view(), X.view(), o);
    const DiaDeviceOp<T> gpu_op(this->gpu, view, table_size);
    const DeviceJacobi<T> gpu_m(this->gpu, coded_d, 3, n);
    const auto r = cg_solve<CudaBackend, T>(this->gpu, gpu_op, &gpu_m,
                                            ConstMatView<T>(dB.view()), dX.view(), o);
    for (int j = 0; j < 2; ++j) {
        EXPECT_EQ(c.stop[j], CgStop::Converged);
        EXPECT_EQ(r.stop[j], CgStop::Converged);
        EXPECT_LE(std::abs(r.iterations[j] - c.iterations[j]), 1);
    }
    EXPECT_LE(max_rel_diff<T>(this->download(dX.view()).view(), X.view()), 1e3 * this->tol());

    // Short tables: the largest code of each now lies past its table.
    EXPECT_THROW(DeviceJacobi<T>(this->gpu, coded_d, 2, n), Error);
    const DiaDeviceOp<T> short_op(this->gpu, view, table_size - 1);
    const auto s = cg_solve<CudaBackend, T>(this->gpu, short_op, &gpu_m,
                                            ConstMatView<T>(dB.view()), dX.view(), o);
    for (int j = 0; j < 2; ++j) EXPECT_NE(s.stop[j], CgStop::Converged) << j;
}

}  // namespace
}  // namespace rankwise::test
