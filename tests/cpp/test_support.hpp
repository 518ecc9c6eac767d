// Helpers shared by the C++ tests: random matrices, reference products in double, norms.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "rankwise/blas_threads.hpp"
#include "rankwise/cpu_backend.hpp"
#include "rankwise/types.hpp"

namespace rankwise::test {

// The BLAS thread-count setter the test main found (nullptr if the BLAS has none).
cpu::ThreadsSetter loaded_threads_setter();

// While alive, products run either whole in the BLAS or chunked over OpenMP threads
// (cpu/tall_skinny.hpp): the two code paths of every dense primitive.
class BlasPath {
   public:
    explicit BlasPath(bool chunked) {
        cpu::register_blas_threads_setter(chunked ? loaded_threads_setter() : nullptr);
    }
    ~BlasPath() { cpu::register_blas_threads_setter(loaded_threads_setter()); }
    BlasPath(const BlasPath&) = delete;
    BlasPath& operator=(const BlasPath&) = delete;
};

template <class T>
HostMatrix<T> random_matrix(index_t rows, index_t cols, std::uint64_t seed) {
    HostMatrix<T> A(rows, cols);
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> normal;
    for (index_t i = 0; i < rows * cols; ++i) A.data()[i] = static_cast<T>(normal(gen));
    return A;
}

// A rows x cols block with orthonormal columns (Householder QR of a Gaussian one).
template <class T>
HostMatrix<T> random_orthonormal(const CpuBackend& be, index_t rows, index_t cols,
                                 std::uint64_t seed) {
    auto Q = random_matrix<T>(rows, cols, seed);
    be.orthonormalize(Q.view(), Ortho::Householder);
    return Q;
}

// A = U diag(sigma) V^T with random orthonormal U, V (via the backend's Householder QR)
template <class T>
HostMatrix<T> matrix_with_spectrum(const CpuBackend& be, index_t m, index_t n,
                                   const std::vector<double>& sigma, std::uint64_t seed) {
    const auto r = static_cast<index_t>(sigma.size());
    auto U = random_orthonormal<T>(be, m, r, seed);
    const auto V = random_orthonormal<T>(be, n, r, seed + 1);
    for (index_t j = 0; j < r; ++j)
        for (index_t i = 0; i < m; ++i) U.view()(i, j) *= static_cast<T>(sigma[j]);
    HostMatrix<T> A(m, n);
    be.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(U.view()), ConstMatView<T>(V.view()),
            T(0), A.view());
    return A;
}

// op(A) op(B) in double
template <class T>
std::vector<double> reference_product(Trans ta, Trans tb, ConstMatView<T> A, ConstMatView<T> B) {
    const index_t m = ta == Trans::No ? A.rows : A.cols;
    const index_t k = ta == Trans::No ? A.cols : A.rows;
    const index_t n = tb == Trans::No ? B.cols : B.rows;
    std::vector<double> C(static_cast<std::size_t>(m * n), 0.0);
    for (index_t j = 0; j < n; ++j)
        for (index_t p = 0; p < k; ++p) {
            const double b = tb == Trans::No ? B(p, j) : B(j, p);
            for (index_t i = 0; i < m; ++i)
                C[i + j * m] += (ta == Trans::No ? A(i, p) : A(p, i)) * b;
        }
    return C;
}

// max_ij |X_ij - ref_ij| over max(1, max_ij |ref_ij|)
template <class T>
double relative_max_error(ConstMatView<T> X, const std::vector<double>& ref) {
    double err = 0, scale = 1;
    for (index_t j = 0; j < X.cols; ++j)
        for (index_t i = 0; i < X.rows; ++i) {
            const double r = ref[i + j * X.rows];
            err = std::max(err, std::abs(X(i, j) - r));
            scale = std::max(scale, std::abs(r));
        }
    return err / scale;
}

// max_ij |(Q^T Q - I)_ij|
template <class T>
double orthonormality_error(ConstMatView<T> Q) {
    double err = 0;
    for (index_t a = 0; a < Q.cols; ++a)
        for (index_t b = 0; b < Q.cols; ++b) {
            double dot = 0;
            for (index_t i = 0; i < Q.rows; ++i) dot += double(Q(i, a)) * double(Q(i, b));
            err = std::max(err, std::abs(dot - (a == b ? 1.0 : 0.0)));
        }
    return err;
}

template <class T>
constexpr double eps() {
    return std::numeric_limits<T>::epsilon();
}

}  // namespace rankwise::test
