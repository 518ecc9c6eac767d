// A square matrix in diagonal (DIA) storage, as a view small enough to pass to a CUDA kernel
// by value (its offsets travel in the kernel's parameters), and the sum that gives one entry
// of a product with it.  The CUDA backend's DIA products (cuda/src/dia.cu) evaluate
// dia_product_entry per row and thread; CG takes the DIA form of a CSR matrix on a few
// diagonals there (python/rankwise/_dia_gpu.py), where a CSR product is bound by its index
// loads and gathers and the DIA one streams each diagonal with unit stride.  Host code (the
// C++ tests) calls the same function.
//
// The values are stored plainly (T per position) or coded: a byte per position indexing a
// table of the matrix's distinct values, where it has at most kDiaMaxCodes of them (a stencil
// with constant coefficients has two or three: the 5-point Laplacian's 4, -1 and the fill's
// 0).  That is value indexing, as CSR-VI (Kourtis, Goumas & Koziris, "Optimizing sparse
// matrix-vector multiplication using index and value compression", CF 2008): the product's
// matrix traffic falls from sizeof(T) to one byte per position, and the entries are the same
// bits, so the sums are those of the plain storage.
#pragma once

#include <cstdint>

#include "rankwise/types.hpp"

namespace rankwise {

// At most this many diagonals (python/rankwise/_cg.py DIA_MAX_DIAGONALS).
inline constexpr int kDiaMaxDiagonals = 32;
// At most this many distinct values in coded storage (one byte per position).
inline constexpr int kDiaMaxCodes = 256;

template <class T>
struct DiaView {
    // Position (i, i + offsets[d]) of diagonal d is entry d * n + i: values[d * n + i]
    // (plain), or table[codes[d * n + i]] (coded: values == nullptr); 0 where the matrix
    // has no entry there.
    const T* values = nullptr;
    const std::uint8_t* codes = nullptr;
    const T* table = nullptr;
    index_t n = 0;
    int diagonals = 0;
    index_t offsets[kDiaMaxDiagonals] = {};  // ascending

    bool coded() const { return values == nullptr; }
    // The value at entry k; Coded must be coded() (a template argument, so that a kernel's
    // inner loop has no branch on the storage).
    template <bool Coded>
    constexpr T value(index_t k) const {
        if constexpr (Coded) {
            return table[codes[k]];
        } else {
            return values[k];
        }
    }
};

// (A x)_i (Trans::No) or (A^T x)_i (Trans::Yes): the stored entries of row (column) i times
// x, added in ascending column (row) order, as a CSR row loop adds them.  constexpr, so that
// CUDA kernels can call it (nvcc --expt-relaxed-constexpr, as MatView's accessors).
// Coded == A.coded() (see DiaView::value).
template <bool Coded, class T>
constexpr T dia_product_entry(const DiaView<T>& A, Trans t, const T* x, index_t i) {
    T sum = T(0);
    if (t == Trans::No) {  // entry (i, i + off) of diagonal d
        for (int d = 0; d < A.diagonals; ++d) {
            const index_t j = i + A.offsets[d];
            if (j >= 0 && j < A.n) sum += A.template value<Coded>(d * A.n + i) * x[j];
        }
        return sum;
    }
    // (A^T x)_i gathers entry (i - off, i), stored at entry d * n + i - off; ascending rows
    // are descending offsets
    for (int d = A.diagonals - 1; d >= 0; --d) {
        const index_t r = i - A.offsets[d];
        if (r >= 0 && r < A.n) sum += A.template value<Coded>(d * A.n + r) * x[r];
    }
    return sum;
}

}  // namespace rankwise
