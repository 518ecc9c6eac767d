// Randomized Nystrom approximation of a symmetric positive semidefinite A, the stable
// shifted algorithm of Frangella, Tropp & Udell, "Randomized Nystrom preconditioning",
// SIAM J. Matrix Anal. Appl. 44 (2023), Algorithm 2.1 (after Tropp, Yurtsever, Udell &
// Cevher 2017, Algorithm 3):
//   Omega = orth(Gaussian n x l);  Y = A Omega;  nu = sqrt(n) eps(||Y||);  Y_nu = Y + nu Omega;
//   Omega^T Y_nu = C^T C (Cholesky);  B = Y_nu C^-1 = U Sigma V^T (thin SVD);
//   A_nys = U diag(lam) U^T with lam = max(0, Sigma^2 - nu).
// The shift nu makes the Cholesky factorization safe in floating point; A_nys is the Nystrom
// approximation of A + nu I with the shift removed.  ||Y|| is taken as the Frobenius norm
// (an upper bound on the 2-norm within sqrt(l): a slightly larger, equally stable shift).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"
#include "rankwise/philox.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

template <class Backend, class T>
struct NystromApprox {
    typename Backend::template Matrix<T> U;  // n x rank, orthonormal columns
    std::vector<double> lam;                 // rank eigenvalues, descending, >= 0
    double shift = 0;                        // nu
};

// ||Y||_F from its scaled column norms: the sum of squares of entries of 1e160 overflowed.
template <class Backend, class T>
double frobenius_norm(const Backend& be, ConstMatView<T> Y) {
    std::vector<double> norms(static_cast<std::size_t>(Y.cols));
    be.column_norms(Y, norms.data());
    double big = 0, sum = 0;
    for (const double c : norms) big = std::max(big, c);
    if (!(big > 0) || !std::isfinite(big)) return big;
    for (const double c : norms) sum += (c / big) * (c / big);
    return big * std::sqrt(sum);
}

// Rank-`rank` approximation from a sketch of `sketch` >= rank columns (Philox stream 0 of
// `key`), truncated to the leading `rank` eigenpairs.  Throws Error if A is found not to be
// positive semidefinite (the Cholesky factorization fails) or A Omega is not finite.
template <class Backend, class T>
NystromApprox<Backend, T> nystrom_approx(const Backend& be, const LinearOp<T>& A, index_t rank,
                                         index_t sketch, philox::Key key) {
    const index_t n = A.rows();
    require(A.rows() == A.cols()) << "nystrom: A must be square";
    require(1 <= rank && rank <= sketch && sketch <= n)
        << "nystrom: need 1 <= rank <= sketch <= n, got " << rank << ", " << sketch << ", " << n;
    auto omega = be.template matrix<T>(n, sketch);
    be.fill_normal(omega.view(), key, 0);
    be.orthonormalize(omega.view(), Ortho::CholQR2);  // a Gaussian block: cond ~ 2-3
    auto Y = be.template matrix<T>(n, sketch);
    const ConstMatView<T> Om(omega.view());
    A.apply(Trans::No, Om, Y.view());
    const double norm = frobenius_norm(be, ConstMatView<T>(Y.view()));
    require(std::isfinite(norm)) << "nystrom: A @ X returned NaN or Inf";
    if (norm == 0) {  // A = 0: so is its approximation (the shift nu would be subnormal)
        NystromApprox<Backend, T> zero{be.template matrix<T>(n, rank), {}, 0.0};
        be.copy(Om.cols_range(0, rank), zero.U.view());
        zero.lam.assign(static_cast<std::size_t>(rank), 0.0);
        return zero;
    }
    const T tn = static_cast<T>(norm);
    const double eps =
        static_cast<double>(std::nextafter(tn, std::numeric_limits<T>::infinity()) - tn);
    const double nu = std::sqrt(static_cast<double>(n)) * eps;
    be.add_scaled(Om, static_cast<T>(nu), Y.view());  // Y_nu = Y + nu Omega
    auto G = be.template matrix<T>(sketch, sketch);
    be.gemm(Trans::Yes, Trans::No, T(1), Om, ConstMatView<T>(Y.view()), T(0), G.view());
    require(be.solve_right_cholesky(G.view(), Y.view()))
        << "nystrom: A is not positive semidefinite (the Cholesky factorization of "
        << "Omega^T (A + nu I) Omega failed)";
    NystromApprox<Backend, T> out{be.template matrix<T>(n, sketch), {}, nu};
    std::vector<T> sigma(static_cast<std::size_t>(sketch));
    auto Vt = be.template matrix<T>(sketch, sketch);
    be.svd(Y.view(), out.U.view(), sigma.data(), Vt.view(), SvdDriver::Gesdd);
    out.U.truncate_cols(rank);
    out.lam.resize(static_cast<std::size_t>(rank));
    for (index_t i = 0; i < rank; ++i) {
        const double s = sigma[i];
        out.lam[i] = std::max(0.0, s * s - nu);
    }
    return out;
}

}  // namespace rankwise
