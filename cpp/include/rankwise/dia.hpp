// Diagonal (DIA) storage of a square sparse matrix whose entries lie on a few diagonals:
// stencils on structured grids (the 5-point Laplacian, 9-point anisotropic diffusion, Q1
// elasticity).  Its product reads no indices and streams x, y and each diagonal with unit
// stride, where the CSR row loop is bound by its loads (value, index and gathered x per
// stored entry): on the 5-point Laplacian in cache, about half of a CG iteration's time.
//
// CG builds it from a canonical CSR matrix (sorted, no duplicates) and its iterates do not
// change: each row sums its entries in the same order (ascending column = ascending
// offset), the positions a diagonal holds but the matrix does not (fill) add zeros, the
// products are compiled without fused multiply-adds like the CSR loop, and the reduction
// x . y uses the CSR kernel's row chunks.
//
// A matrix with few distinct values (a stencil with constant coefficients) can be stored
// coded, a byte per position indexing a table of them (rankwise/dia_view.hpp, after CSR-VI,
// Kourtis, Goumas & Koziris 2008): the same bits, so the same sums, for an eighth (float64)
// of the plain storage's traffic.  Plain DIA reads about what CSR reads (8 bytes per
// position against 12 per entry), so out of cache it gains little; coded, it reads a
// twelfth.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "rankwise/linear_op.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

template <class T>
struct DiaMatrix {
    index_t n = 0;
    std::vector<index_t> offsets;  // ascending: diagonal d holds entries (i, i + offsets[d])
    // Entry (i, i + offsets[d]) of position d * n + i (0 where the matrix has none): plain,
    // values[d * n + i]; coded (values null), table[codes[d * n + i]].
    std::unique_ptr<T[]> values;
    std::unique_ptr<std::uint8_t[]> codes;
    std::vector<T> table;
    std::vector<index_t> chunk_rows;  // bounds of the row chunks of the reduction x . y

    bool coded() const { return codes != nullptr; }
};

// How dia_from_csr may store the values: plain where that takes at most max_plain_bytes
// (in the cache, plain products are the faster: 5-point Laplacian, n = 1e4 to 1e5, two
// cores, a Jacobi-PCG iteration about a fifth faster than coded), else coded where they have
// at most max_codes distinct values (0: never).
struct DiaStorage {
    int max_codes = 0;
    double max_plain_bytes = std::numeric_limits<double>::infinity();
};

// The DIA form of the n x n canonical CSR matrix A (rows sorted, no duplicates) when its
// entries lie on at most max_diagonals diagonals and the diagonals hold at most
// max_fill * nnz positions, and `storage` allows one of its forms; nothing otherwise (also
// when a row is not in canonical form).  chunk_rows are CpuBackend::csr_mv_dot's chunks of A.
std::optional<DiaMatrix<float>> dia_from_csr(const CsrView<float, std::int32_t>& A,
                                             index_t max_diagonals, double max_fill,
                                             DiaStorage storage = {});
std::optional<DiaMatrix<float>> dia_from_csr(const CsrView<float, std::int64_t>& A,
                                             index_t max_diagonals, double max_fill,
                                             DiaStorage storage = {});
std::optional<DiaMatrix<double>> dia_from_csr(const CsrView<double, std::int32_t>& A,
                                              index_t max_diagonals, double max_fill,
                                              DiaStorage storage = {});
std::optional<DiaMatrix<double>> dia_from_csr(const CsrView<double, std::int64_t>& A,
                                              index_t max_diagonals, double max_fill,
                                              DiaStorage storage = {});

namespace cpu {
// y = A x and *dot = x . y (in double, summed over A.chunk_rows in order)
template <class T>
void dia_mv_dot(const DiaMatrix<T>& A, const T* x, T* y, double* dot);
// Y = op(A) X
template <class T>
void dia_mm(const DiaMatrix<T>& A, Trans t, ConstMatView<T> X, MatView<T> Y);
// sum of the squared entries
template <class T>
double dia_sum_squares(const DiaMatrix<T>& A);
}  // namespace cpu

template <class T>
class DiaOp final : public LinearOp<T> {
   public:
    explicit DiaOp(DiaMatrix<T> a) : a_(std::move(a)) {}
    index_t rows() const override { return a_.n; }
    index_t cols() const override { return a_.n; }
    void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const override {
        cpu::dia_mm(a_, t, X, Y);
    }
    double fro_norm2() const override { return cpu::dia_sum_squares(a_); }
    bool apply_dot(ConstMatView<T> X, MatView<T> Y, double* dots) const override {
        if (X.cols != 1) return false;
        cpu::dia_mv_dot(a_, X.data, Y.data, dots);
        return true;
    }
    index_t diagonals() const { return static_cast<index_t>(a_.offsets.size()); }

   private:
    DiaMatrix<T> a_;
};

}  // namespace rankwise
