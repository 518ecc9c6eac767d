// CG's stencil forms on the device: a square matrix in DIA storage as a LinearOp, and the
// Jacobi preconditioner from a diagonal in device memory, each plain or coded (a byte per
// position indexing a table of the distinct values, rankwise/dia_view.hpp and
// rankwise/diagonal_view.hpp).  The bindings build them from what _cg_gpu.py hands over.
//
// A coded table is copied into kDiaMaxCodes entries, those past the caller's NaN
// (padded_table): every uint8 code then reads inside the copy, and a code that the caller's
// table does not hold (which python/rankwise/_dia_gpu.py never writes) reads NaN, which CG
// reports (a breakdown, or a diagonal entry that is not positive), instead of memory beyond
// the table.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>

#include "rankwise/algo/precond.hpp"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"

namespace rankwise {

// `size` values at `table` (device memory) in a kDiaMaxCodes-entry copy, the rest NaN.
template <class T>
DeviceMatrix<T> padded_table(const CudaBackend& be, const T* table, index_t size) {
    require(table != nullptr && size >= 1 && size <= kDiaMaxCodes)
        << "coded storage needs a table of 1 to " << kDiaMaxCodes << " values; got " << size;
    auto padded = be.matrix<T>(kDiaMaxCodes, 1);
    be.fill(padded.view(), std::numeric_limits<T>::quiet_NaN());
    be.copy(ConstMatView<T>{table, size, 1, size}, padded.view().rows_range(0, size));
    return padded;
}

// A square matrix in DIA storage on the device: its product with one or more vectors fuses
// the dots CG needs (apply_dot).  `table_size`: the values of a coded view's table.
template <class T>
class DiaDeviceOp final : public LinearOp<T> {
   public:
    DiaDeviceOp(const CudaBackend& be, const DiaView<T>& a, index_t table_size)
        : be_(be), a_(a) {
        if (a_.codes != nullptr) {
            table_.emplace(padded_table(be, a_.table, table_size));
            a_.table = table_->data();
        }
    }
    // a_.table points into table_: no copies (a copy would share or lose the table)
    DiaDeviceOp(const DiaDeviceOp&) = delete;
    DiaDeviceOp& operator=(const DiaDeviceOp&) = delete;
    index_t rows() const override { return a_.n; }
    index_t cols() const override { return a_.n; }
    void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const override {
        be_.dia_mm(a_, t, X, Y);
    }
    double entries() const override { return double(a_.n) * double(a_.diagonals); }
    double fro_norm2() const override { return be_.dia_sum_squares(a_); }
    bool apply_dot(ConstMatView<T> X, MatView<T> Y, double* dots) const override {
        be_.dia_mm_dot(a_, X, Y, dots);
        return true;
    }

   private:
    const CudaBackend& be_;
    DiaView<T> a_;
    std::optional<DeviceMatrix<T>> table_;  // a coded view's padded table
};

// M = diag(A)^-1 from a diagonal in device memory (algo/precond.hpp's JacobiPrecond takes a
// host one): inverted and checked on the device, so no n-vector crosses the bus.  A coded
// diagonal (`table_size` values in its table) is inverted by its table and keeps its codes
// (the caller keeps them alive).
template <class T>
class DeviceJacobi final : public Preconditioner<T> {
   public:
    DeviceJacobi(const CudaBackend& be, DiagonalView<T> d, index_t table_size, index_t n)
        : be_(be), n_(n), codes_(d.codes) {
        require((d.values != nullptr) != d.coded())
            << "cg: the Jacobi diagonal has either values or codes with a table";
        std::optional<DeviceMatrix<T>> table;
        if (d.coded()) {
            table.emplace(padded_table(be, d.table, table_size));
            d.table = table->data();
        }
        inv_ = be.matrix<T>(d.coded() ? kDiaMaxCodes : n, 1);
        be.invert_positive_diagonal(d, n, inv_.view());
    }
    index_t size() const override { return n_; }
    void apply(ConstMatView<T> R, MatView<T> Z) const override {
        be_.scale_rows(diagonal(), R, Z);
    }
    DiagonalView<T> diagonal() const override {
        if (codes_ == nullptr) return {inv_.data()};
        return {nullptr, codes_, inv_.data()};
    }

   private:
    const CudaBackend& be_;
    index_t n_;
    const std::uint8_t* codes_;
    DeviceMatrix<T> inv_;  // 1 / d, or 1 / d's table
};

}  // namespace rankwise
