// Preconditioners for the CG loop (algo/cg.hpp): what M is to the algorithm.
//
// A preconditioner applies Z = M R to a block of residuals, M ~ A^-1, symmetric positive
// definite.  One that is a diagonal scaling says so through diagonal(), and the CG loop then
// fuses it into its vector updates (no Z is ever stored); every other kind goes through
// apply().  Native preconditioners (Jacobi, ...) run without Python; OperatorPrecond wraps any
// LinearOp, including a user's Python LinearOperator (the slower path that calls back).
#pragma once

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

#include "rankwise/diagonal_view.hpp"
#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"

namespace rankwise {

template <class T>
class Preconditioner {
   public:
    virtual ~Preconditioner() = default;
    virtual index_t size() const = 0;
    // Z = M R (R and Z: size() x s)
    virtual void apply(ConstMatView<T> R, MatView<T> Z) const = 0;
    // d with M = diag(d), when M is diagonal (in the backend's memory); else empty.
    virtual DiagonalView<T> diagonal() const { return {}; }
};

// M = diag(A)^-1 (point Jacobi); d is checked to be positive and finite, as it must be for
// an SPD A.
template <class Backend, class T>
class JacobiPrecond final : public Preconditioner<T> {
   public:
    // diag: n values in host memory; 1 / diag is stored on the backend.
    JacobiPrecond(const Backend& be, const T* diag, index_t n)
        : be_(be), inv_(be.template matrix<T>(n, 1)) {
        std::vector<T> inv(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i) {
            // (require() only in the failing branch: it builds a message stream)
            if (!(diag[i] > T(0) && std::isfinite(diag[i]))) {
                require(false) << "Jacobi preconditioner: diagonal entry " << i << " is "
                               << diag[i] << "; an SPD matrix has a positive diagonal";
            }
            inv[i] = T(1) / diag[i];
        }
        be.from_host(inv.data(), inv_.view());
    }
    index_t size() const override { return inv_.rows(); }
    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        be_.scale_rows(inv_.view().data, R, Z);
    }
    DiagonalView<T> diagonal() const override { return {inv_.view().data}; }

   private:
    const Backend& be_;
    typename Backend::template Matrix<T> inv_;
};

// M given as an operator (a matrix to multiply by, or a user's LinearOperator).
template <class T>
class OperatorPrecond final : public Preconditioner<T> {
   public:
    // `op` must outlive this object (the bindings keep its owner alive).
    explicit OperatorPrecond(const LinearOp<T>& op) : op_(op) {
        require(op_.rows() == op_.cols()) << "preconditioner must be square";
    }
    index_t size() const override { return op_.rows(); }
    void apply(ConstMatView<T> R, MatView<T> Z) const override { op_.apply(Trans::No, R, Z); }

   private:
    const LinearOp<T>& op_;
};

}  // namespace rankwise

namespace rankwise {

// Diagonal of a canonical CSR matrix (sorted columns); every entry must be positive.
template <class T, class I>
std::vector<T> positive_diagonal(const CsrView<T, I>& A, const char* who) {
    std::vector<T> d(static_cast<std::size_t>(A.rows), T(0));
    for (index_t i = 0; i < A.rows; ++i) {
        for (index_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
            if (A.indices[p] == i) d[i] = A.data[p];
        if (!(d[i] > T(0) && std::isfinite(d[i]))) {
            require(false) << who << ": diagonal entry " << i << " is " << d[i]
                           << "; an SPD matrix has a positive diagonal";
        }
    }
    return d;
}

// Symmetric SOR: M^-1 = omega (2 - omega) (D + omega U)^-1 D (D + omega L)^-1 for
// A = L + D + U (Saad, 2nd ed., sec. 10.2.1); SPD for SPD A and 0 < omega < 2.  Keeps
// omega A D^-1 (one value per stored entry of A).  `A` (its structure) must outlive this
// object.
template <class Backend, class T, class I>
class SsorPrecond final : public Preconditioner<T> {
   public:
    SsorPrecond(const Backend& be, const CsrView<T, I>& A, T omega)
        : be_(be), a_(A), omega_(omega) {
        require(A.rows == A.cols) << "ssor: A must be square";
        require(omega > T(0) && omega < T(2)) << "ssor: omega must be in (0, 2), got " << omega;
        d_inv_ = positive_diagonal(A, "ssor");
        for (T& d : d_inv_) d = T(1) / d;
        // C = omega A D^-1, the sweeps' matrix (CpuBackend::ssor_apply)
        c_.resize(static_cast<std::size_t>(A.indptr[A.rows]));
        for (index_t i = 0; i < A.rows; ++i)
            for (index_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
                c_[p] = omega * A.data[p] * d_inv_[A.indices[p]];
    }
    index_t size() const override { return a_.rows; }
    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        CsrView<T, I> C = a_;
        C.data = c_.data();
        be_.ssor_apply(C, d_inv_.data(), omega_ * (T(2) - omega_), R, Z);
    }

   private:
    const Backend& be_;
    CsrView<T, I> a_;
    T omega_;
    std::vector<T> d_inv_, c_;
};

// Zero-fill incomplete Cholesky L L^T ~ A + shift diag(A) on the pattern of A (Meijerink &
// van der Vorst 1977).  Where a pivot is not positive (possible for SPD A that is not an
// M-matrix) the factorization is redone with the diagonal shift of Manteuffel (1980),
// shift = 1e-3, 2e-3, 4e-3, ... until it succeeds; shift() says which was used.  The shifts
// grow faster where the first one is far below dominance_shift(A), past which A + s diag(A)
// is an H-matrix and IC(0) exists (Manteuffel 1980, Theorem 3.4): at most about 40 tries.
// Keeps two scaled copies of L (2 nnz + n values, CpuBackend::ic0_sweep_form).  `A` must
// outlive this object.
template <class Backend, class T, class I>
class Ic0Precond final : public Preconditioner<T> {
   public:
    Ic0Precond(const Backend& be, const CsrView<T, I>& A, double first_shift = 1e-3)
        : be_(be), a_(A), l_(be.template matrix<T>(2 * A.indptr[A.rows] + A.rows, 1)) {
        require(A.rows == A.cols) << "ic0: A must be square";
        const std::vector<T> d = positive_diagonal(A, "ic0");
        double shift = 0.0, enough = 0.0, growth = 2.0;
        for (int attempt = 0; !be.ic0_factor(A, shift, l_.data()); ++attempt) {
            if (attempt == 0) {  // only where a shift is needed: one more pass over A
                enough = dominance_shift(A, d);
                growth = std::max(2.0, std::pow(enough / first_shift, 1.0 / 40));
            }
            require(shift < enough) << "ic0: no diagonal shift up to " << shift
                                    << " gives a positive factorization, though A + s diag(A) "
                                       "is diagonally dominant from s = "
                                    << enough << " (is A symmetric?)";
            shift = attempt == 0 ? first_shift : std::min(growth * shift, enough);
        }
        shift_ = shift;
        be.ic0_sweep_form(A, l_.data());
    }
    index_t size() const override { return a_.rows; }
    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        be_.ic0_apply(a_, l_.view().data, R, Z);
    }
    double shift() const { return shift_; }

   private:
    // The s from which D^-1/2 (A + s D) D^-1/2 = Ahat + s I (D = diag(A), Ahat with a unit
    // diagonal) is strictly diagonally dominant: max_i sum_{j != i} |a_ij| / sqrt(a_ii a_jj)
    // - 1, with a margin of 1%; at least 1e-3, the default first shift (a matrix dominant
    // already needs none: IC(0) fails there only by rounding or for a non-symmetric A).
    static double dominance_shift(const CsrView<T, I>& A, const std::vector<T>& d) {
        double worst = 0.0;
        for (index_t i = 0; i < A.rows; ++i) {
            double off = 0.0;
            for (index_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
                const index_t j = A.indices[p];
                if (j != i)
                    off += std::abs(double(A.data[p])) /
                           std::sqrt(double(d[std::size_t(i)]) * double(d[std::size_t(j)]));
            }
            worst = std::max(worst, off);
        }
        return std::max(1.01 * (worst - 1.0), 1e-3);
    }

    const Backend& be_;
    CsrView<T, I> a_;
    typename Backend::template Matrix<T> l_;
    double shift_ = 0.0;
};

// Block Jacobi: M = blockdiag(A)^-1 with dense diagonal blocks of `bs` consecutive
// unknowns (the last block may be smaller), each inverted once (from its Cholesky factor).
// Blocks that hold the strongly coupled unknowns (a grid line, the components at a node)
// make it much stronger than point Jacobi.  Memory: n bs entries.
template <class Backend, class T>
class BlockJacobiPrecond final : public Preconditioner<T> {
   public:
    template <class I>
    BlockJacobiPrecond(const Backend& be, const CsrView<T, I>& A, index_t bs)
        : be_(be), n_(A.rows), bs_(bs), f_(be.template matrix<T>(blocks(A.rows, bs) * bs * bs, 1)) {
        require(A.rows == A.cols) << "block_jacobi: A must be square";
        require(bs >= 1) << "block_jacobi: block size must be >= 1, got " << bs;
        const index_t failed = be.block_jacobi_factor(A, bs, f_.data());
        require(failed < 0) << "block_jacobi: diagonal block " << failed << " (rows "
                            << failed * bs << " to " << std::min(A.rows, (failed + 1) * bs) - 1
                            << ") is not positive definite, so A is not SPD";
    }
    index_t size() const override { return n_; }
    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        be_.block_jacobi_apply(bs_, f_.view().data, R, Z);
    }

   private:
    static index_t blocks(index_t n, index_t bs) { return bs >= 1 ? (n + bs - 1) / bs : 0; }
    const Backend& be_;
    index_t n_, bs_;
    typename Backend::template Matrix<T> f_;
};

// Polynomial preconditioner M = p(A), p of degree `degree` the Chebyshev approximation of 1/x
// on [lmin, lmax]: z = p(A) r is `degree` + 1 steps of the Chebyshev iteration for A z = r
// from z = 0 (Saad, 2nd ed., Algorithm 12.1), one product with A per step after the first.
// p > 0 on (0, lmax], so M is SPD when the spectrum of A lies there.  `A` must outlive this
// object; apply() uses workspace held here, under a lock (concurrent solves sharing one
// object take turns in apply).
template <class Backend, class T>
class ChebyshevPrecond final : public Preconditioner<T> {
   public:
    ChebyshevPrecond(const Backend& be, const LinearOp<T>& A, int degree, double lmin,
                     double lmax)
        : be_(be), a_(A), degree_(degree), lmin_(lmin), lmax_(lmax) {
        require(A.rows() == A.cols()) << "chebyshev: A must be square";
        require(degree >= 0) << "chebyshev: degree must be >= 0, got " << degree;
        require(0 < lmin && lmin < lmax && std::isfinite(lmax))
            << "chebyshev: need 0 < lmin < lmax, got [" << lmin << ", " << lmax << "]";
    }
    index_t size() const override { return a_.rows(); }
    double lmin() const { return lmin_; }
    double lmax() const { return lmax_; }

    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        std::lock_guard<std::mutex> guard(lock_);  // one workspace: concurrent solves queue
        const index_t n = R.rows, s = R.cols;
        if (res_.rows() != n || res_.cols() != s) {  // (a first block of no columns too)
            res_ = be_.template matrix<T>(n, s);
            dir_ = be_.template matrix<T>(n, s);
            ad_ = be_.template matrix<T>(n, s);
        }
        const double theta = (lmax_ + lmin_) / 2, delta = (lmax_ - lmin_) / 2;
        const double sigma = theta / delta;
        double rho = 1 / sigma;
        // d = r / theta, z = d, res = r
        be_.axpby(static_cast<T>(1 / theta), R, T(0), dir_.view());
        be_.axpby(T(1), ConstMatView<T>(dir_.view()), T(0), Z);
        be_.axpby(T(1), R, T(0), res_.view());
        for (int k = 0; k < degree_; ++k) {
            // res -= A d; d = rho' rho d + (2 rho' / delta) res; z += d
            a_.apply(Trans::No, ConstMatView<T>(dir_.view()), ad_.view());
            be_.axpby(T(-1), ConstMatView<T>(ad_.view()), T(1), res_.view());
            const double rho_next = 1 / (2 * sigma - rho);
            be_.axpby(static_cast<T>(2 * rho_next / delta), ConstMatView<T>(res_.view()),
                      static_cast<T>(rho_next * rho), dir_.view());
            be_.axpby(T(1), ConstMatView<T>(dir_.view()), T(1), Z);
            rho = rho_next;
        }
    }

   private:
    const Backend& be_;
    const LinearOp<T>& a_;
    int degree_;
    double lmin_, lmax_;
    mutable std::mutex lock_;
    mutable typename Backend::template Matrix<T> res_, dir_, ad_;
};

}  // namespace rankwise

namespace rankwise {

// Randomized Nystrom preconditioner for A + mu I (Frangella, Tropp & Udell 2023, eq. (5.3)):
//   P^-1 = (lam_l + mu) U (Lam + mu I)^-1 U^T + (I - U U^T),
// with A_nys = U diag(lam) U^T the rank-l Nystrom approximation of A (U: n x l orthonormal,
// lam descending, lam_l the smallest).  Applied as Z = R + U diag(c) U^T R with
// c_i = (lam_l + mu) / (lam_i + mu) - 1: two products with U (4 n l s flops), no sweeps.
// SPD for mu > 0 (its eigenvalues are (lam_l + mu) / (lam_i + mu) > 0 and 1).  U and the
// coefficients c are held here; apply() uses workspace, under a lock like ChebyshevPrecond.
template <class Backend, class T>
class NystromPrecond final : public Preconditioner<T> {
   public:
    // U: n x l with orthonormal columns (taken over); lam: l values, descending, >= 0.
    NystromPrecond(const Backend& be, typename Backend::template Matrix<T> U,
                   const std::vector<double>& lam, double mu)
        : be_(be), u_(std::move(U)), c_(be.template matrix<T>(u_.cols(), 1)) {
        const index_t l = u_.cols();
        require(l >= 1 && l <= u_.rows() && static_cast<index_t>(lam.size()) == l)
            << "nystrom: rank must be in [1, n] with one eigenvalue per column, got " << l;
        require(mu >= 0 && std::isfinite(mu)) << "nystrom: mu must be >= 0, got " << mu;
        const double last = lam[l - 1] + mu;
        require(last > 0) << "nystrom: lam_l + mu must be positive (give mu > 0 when A has "
                          << "rank below l), got " << last;
        std::vector<T> c(static_cast<std::size_t>(l));
        for (index_t i = 0; i < l; ++i) {
            if (!(lam[i] >= 0 && std::isfinite(lam[i]))) {
                require(false) << "nystrom: eigenvalue " << i << " is " << lam[i]
                               << "; A must be positive semidefinite";
            }
            c[i] = static_cast<T>(last / (lam[i] + mu) - 1);
        }
        be.from_host(c.data(), c_.view());
    }
    index_t size() const override { return u_.rows(); }

    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        std::lock_guard<std::mutex> guard(lock_);  // one workspace: concurrent solves queue
        const index_t l = u_.cols(), s = R.cols;
        if (w_.rows() != l || w_.cols() != s) w_ = be_.template matrix<T>(l, s);
        const ConstMatView<T> U(u_.view());
        be_.gemm(Trans::Yes, Trans::No, T(1), U, R, T(0), w_.view());  // W = U^T R
        be_.scale_rows(c_.view().data, ConstMatView<T>(w_.view()), w_.view());
        be_.axpby(T(1), R, T(0), Z);                                      // Z = R
        be_.gemm(Trans::No, Trans::No, T(1), U, ConstMatView<T>(w_.view()), T(1), Z);
    }

   private:
    const Backend& be_;
    typename Backend::template Matrix<T> u_, c_;
    mutable std::mutex lock_;
    mutable typename Backend::template Matrix<T> w_;
};

}  // namespace rankwise
