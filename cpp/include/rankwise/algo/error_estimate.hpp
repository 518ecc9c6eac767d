// A-posteriori error of a low-rank approximation A ~ U diag(s) V^T from Gaussian probes.
//
// With E = A - U diag(s) V^T and independent standard Gaussian w_i:
//   E ||E w||^2 = ||E||_F^2, so mean_i ||E w_i||^2 is an unbiased estimate of ||E||_F^2;
//   ||E||_2 <= 10 sqrt(2/pi) max_i ||E w_i|| with probability >= 1 - 10^-p for p probes
//   (Halko, Martinsson, Tropp 2011, Lemma 4.1 / eq. 4.3).
// One pass over A with p columns; returns ||E w_i|| for each probe.
#pragma once

#include <vector>

#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

template <class Backend, class T>
std::vector<double> probe_residual_norms(const Backend& be, const LinearOp<T>& A,
                                         ConstMatView<T> U, const T* s, ConstMatView<T> V,
                                         index_t probes, philox::Key key) {
    const index_t m = A.rows(), n = A.cols(), r = U.cols;
    require(U.rows == m && V.rows == n && V.cols == r) << "U, s, Vt do not match A's shape";
    require(probes >= 1) << "n_probes must be >= 1";
    auto Omega = be.template matrix<T>(n, probes);
    be.fill_normal(Omega.view(), key, 0);
    auto Y = be.template matrix<T>(m, probes);
    A.apply(Trans::No, Omega.view(), Y.view());  // Y = A Omega
    auto Ct = be.template matrix<T>(probes, r);
    be.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(Omega.view()), V, T(0), Ct.view());
    be.scale_columns(ConstMatView<T>(Ct.view()), s, Ct.view());  // (diag(s) V^T Omega)^T
    be.gemm(Trans::No, Trans::Yes, T(-1), U, ConstMatView<T>(Ct.view()), T(1), Y.view());
    std::vector<double> norms(static_cast<std::size_t>(probes));
    be.column_norms(ConstMatView<T>(Y.view()), norms.data());
    return norms;
}

}  // namespace rankwise
