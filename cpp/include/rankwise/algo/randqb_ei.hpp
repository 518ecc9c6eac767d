// Fixed-precision randomized SVD: the rank is found as the basis grows.
//
// Problem: given A and tol, find the smallest r (up to max_rank) and U, s, V with
// ||A - U diag(s) V^T||_F <= tol ||A||_F.
//
// Yu, Gu, Li, "Efficient randomized algorithms for the fixed-precision low-rank matrix
// approximation", SIMAX 2018 (arXiv:1606.09402), Algorithm 2 (randQB_EI) with power
// iterations (Algorithm 4, randQB_pb's P).  The error indicator is exact in exact arithmetic:
// ||A - Q B||_F^2 = ||A||_F^2 - ||B||_F^2 (their eq. 3.1), so it costs no extra pass; its
// cancellation limits tol to about sqrt(eps) relative (accumulated in double).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

struct FixedPrecisionOptions {
    double tol = 1e-2;        // relative Frobenius tolerance, 0 < tol < 1
    index_t block = 16;       // basis columns added per step
    index_t max_rank = 1;     // <= min(m, n)
    int n_iter = 1;           // power iterations per block
    Ortho ortho = Ortho::CholQR2;
    SvdDriver driver = SvdDriver::Gesdd;
    philox::Key key{0, 0};
};

template <class Backend, class T>
SvdFactors<Backend, T> rsvd_fixed_precision(const Backend& be, const LinearOp<T>& A,
                                            const FixedPrecisionOptions& o) {
    const index_t m = A.rows(), n = A.cols();
    require(o.tol > 0 && o.tol < 1) << "tol must be in (0, 1), got " << o.tol;
    require(o.block >= 1) << "block size must be >= 1";
    require(o.max_rank >= 1 && o.max_rank <= std::min(m, n))
        << "max_rank must be in [1, min(m, n)], got " << o.max_rank;
    const double fro2 = A.fro_norm2();
    require(std::isfinite(fro2))
        << "fixed-precision mode needs ||A||_F (not known for this operator)";
    const double threshold = o.tol * o.tol * fro2;
    // Below this the indicator is rounding noise (its cancellation), so growing further
    // cannot certify anything: stop there and report the accuracy reached.
    const double floor2 = 10 * std::numeric_limits<T>::epsilon() * fro2;
    // ... and above it the indicator is known only to within about that much (2-8 eps
    // ||A||_F^2 measured, on 1/j^4 and 1/j^2 spectra in float64 and float32: the B_i are
    // products computed in T), so a truncation is certified with floor2 to spare (without
    // it, tolerances just above the floor were missed by up to 31%, at ranks below the
    // optimum).  Tolerances from sqrt(20 eps) on can be certified.
    const double spare = floor2;

    auto Q = be.template matrix<T>(m, o.max_rank);  // basis, grown block by block
    auto W = be.template matrix<T>(n, o.max_rank);  // W = B^T = A^T Q
    auto Z = be.template matrix<T>(n, o.block);
    auto C = be.template matrix<T>(o.max_rank, o.block);
    double residual2 = fro2;  // ||A - Q B||_F^2
    index_t K = 0, passes = 0;
    std::uint64_t stream = 0;

    // X -= P (R^T X) for the first K columns of P, R: removes Q B (or B^T Q^T) from a product.
    auto deflate = [&](ConstMatView<T> P, ConstMatView<T> R, ConstMatView<T> X0, MatView<T> X) {
        if (K == 0) return;
        auto c = C.view().rows_range(0, K).cols_range(0, X.cols);
        be.gemm(Trans::Yes, Trans::No, T(1), R.cols_range(0, K), X0, T(0), c);
        be.gemm(Trans::No, Trans::No, T(-1), P.cols_range(0, K), ConstMatView<T>(c), T(1), X);
    };
    const ConstMatView<T> Qv = Q.view(), Wv = W.view();

    while (K < o.max_rank) {
        be.check_interrupt();
        const index_t b = std::min(o.block, o.max_rank - K);
        auto Yi = Q.view().cols_range(K, b);
        auto Zi = Z.view().cols_range(0, b);
        be.fill_normal(Zi, o.key, stream++);
        A.apply(Trans::No, Zi, Yi);  // Y = (A - Q B) Omega = A Omega - Q (W^T Omega)
        deflate(Qv, Wv, Zi, Yi);
        be.orthonormalize(Yi, o.ortho);
        for (int j = 0; j < o.n_iter; ++j) {
            A.apply(Trans::Yes, Yi, Zi);  // Z = (A - Q B)^T Y = A^T Y - W (Q^T Y)
            deflate(Wv, Qv, Yi, Zi);
            be.orthonormalize(Zi, o.ortho);
            A.apply(Trans::No, Zi, Yi);  // Y = (A - Q B) Z
            deflate(Qv, Wv, Zi, Yi);
            be.orthonormalize(Yi, o.ortho);
            passes += 2;
        }
        orthonormalize_against(be, Qv.cols_range(0, K), Yi, o.ortho);
        auto Wi = W.view().cols_range(K, b);
        A.apply(Trans::Yes, Yi, Wi);  // B_i = Y^T A
        passes += 2;
        residual2 -= be.sum_squares(ConstMatView<T>(Wi));
        K += b;
        if (residual2 + spare <= threshold || residual2 <= floor2) break;
    }
    // The indicator resolves nothing below floor2: a basis spanning all of A's range
    // (K = min(m, n)) leaves only rounding, and a stop at the floor, where tol asked for
    // less than it plus the spare, certifies nothing (its error is somewhere below that).
    const bool exact = K == std::min(m, n);
    const bool certifiable = exact || threshold >= floor2 + spare;
    residual2 = exact ? 0.0 : std::max(residual2, 0.0);
    const double margin = exact ? 0.0 : spare;  // (exact: the tail is the SVD's own)

    // SVD of B (K x n) through W = B^T, then the smallest rank whose truncation still fits:
    // ||A - U_r S_r V_r^T||_F^2 = residual2 + sum_{j >= r} s_j^2.
    auto V = be.template matrix<T>(n, K);
    auto Vwt = be.template matrix<T>(K, K);
    std::vector<T> s(static_cast<std::size_t>(K));
    be.svd(W.view().cols_range(0, K), V.view(), s.data(), Vwt.view(), o.driver);
    std::vector<double> tail(static_cast<std::size_t>(K) + 1, 0.0);  // tail[r] = sum_{j>=r} s_j^2
    for (index_t j = K - 1; j >= 0; --j) tail[j] = tail[j + 1] + double(s[j]) * double(s[j]);
    index_t r = K;
    while (r > 1 && residual2 + tail[r - 1] + margin <= threshold) --r;

    SvdFactors<Backend, T> out;
    out.U = be.template matrix<T>(m, r);
    be.gemm(Trans::No, Trans::Yes, T(1), Qv.cols_range(0, K),
            ConstMatView<T>(Vwt.view().rows_range(0, r)), T(0), out.U.view());
    V.truncate_cols(r);
    out.V = std::move(V);
    s.resize(static_cast<std::size_t>(r));
    out.s = std::move(s);
    out.passes = passes;
    const double err2 = residual2 + tail[r] + margin;  // what can be certified
    const double reported2 = certifiable ? err2 : std::max(err2, floor2 + margin);
    out.relative_error = fro2 > 0 ? std::sqrt(reported2 / fro2) : 0.0;
    out.converged = certifiable && err2 <= threshold;
    out.iterations = (K + o.block - 1) / o.block;
    return out;
}

}  // namespace rankwise
