// A square matrix in diagonal (DIA) storage, as a view small enough to pass to a CUDA kernel
// by value (its offsets travel in the kernel's parameters), and the sum that gives one entry
// of a product with it.  The CUDA backend's DIA products (cuda/src/dia.cu) evaluate
// dia_product_entry per row and thread; CG takes the DIA form of a CSR matrix on a few
// diagonals there (python/rankwise/_dia_gpu.py), where a CSR product is bound by its index
// loads and gathers and the DIA one streams each diagonal with unit stride.  Host code (the
// C++ tests) calls the same function.
#pragma once

#include "rankwise/types.hpp"

namespace rankwise {

// At most this many diagonals (python/rankwise/_cg.py DIA_MAX_DIAGONALS).
inline constexpr int kDiaMaxDiagonals = 32;

template <class T>
struct DiaView {
    const T* values = nullptr;  // entry (i, i + offsets[d]) at values[d * n + i], else 0
    index_t n = 0;
    int diagonals = 0;
    index_t offsets[kDiaMaxDiagonals] = {};  // ascending
};

// (A x)_i (Trans::No) or (A^T x)_i (Trans::Yes): the stored entries of row (column) i times
// x, added in ascending column (row) order, as a CSR row loop adds them.  constexpr, so that
// CUDA kernels can call it (nvcc --expt-relaxed-constexpr, as MatView's accessors).
template <class T>
constexpr T dia_product_entry(const DiaView<T>& A, Trans t, const T* x, index_t i) {
    T sum = T(0);
    if (t == Trans::No) {  // entry (i, i + off) of diagonal d
        for (int d = 0; d < A.diagonals; ++d) {
            const index_t j = i + A.offsets[d];
            if (j >= 0 && j < A.n) sum += A.values[d * A.n + i] * x[j];
        }
        return sum;
    }
    // (A^T x)_i gathers entry (i - off, i), stored at values[d * n + i - off]; ascending
    // rows are descending offsets
    for (int d = A.diagonals - 1; d >= 0; --d) {
        const index_t r = i - A.offsets[d];
        if (r >= 0 && r < A.n) sum += A.values[d * A.n + r] * x[r];
    }
    return sum;
}

}  // namespace rankwise
