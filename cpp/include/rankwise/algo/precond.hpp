// Preconditioners for the CG loop (algo/cg.hpp): what M is to the algorithm.
//
// A preconditioner applies Z = M R to a block of residuals, M ~ A^-1, symmetric positive
// definite.  One that is a diagonal scaling says so through diagonal(), and the CG loop then
// fuses it into its vector updates (no Z is ever stored); every other kind goes through
// apply().  Native preconditioners (Jacobi, ...) run without Python; OperatorPrecond wraps any
// LinearOp, including a user's Python LinearOperator (the slower path that calls back).
#pragma once

#include <cmath>

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
    // d with M = diag(d), when M is diagonal (host memory on the CPU backend); else nullptr.
    virtual const T* diagonal() const { return nullptr; }
};

// M = diag(A)^-1 (point Jacobi); d is checked to be positive and finite, as it must be for
// an SPD A.
template <class Backend, class T>
class JacobiPrecond final : public Preconditioner<T> {
   public:
    JacobiPrecond(const Backend& be, const T* diag, index_t n) : be_(be), inv_(n, 1) {
        T* inv = inv_.data();
        for (index_t i = 0; i < n; ++i) {
            require(diag[i] > T(0) && std::isfinite(diag[i]))
                << "Jacobi preconditioner: diagonal entry " << i << " is " << diag[i]
                << "; an SPD matrix has a positive diagonal";
            inv[i] = T(1) / diag[i];
        }
    }
    index_t size() const override { return inv_.rows(); }
    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        be_.scale_rows(inv_.view().data, R, Z);
    }
    const T* diagonal() const override { return inv_.view().data; }

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
