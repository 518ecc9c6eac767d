// Non-owning views that carry matrices across the backend seam.
//
// Every dense matrix the algorithms touch is column-major: element (i, j) lives at
// data[i + j * ld].  A row-major (C-order) numpy array is handed over as the
// column-major view of its transpose; the operator that wraps it remembers that.
#pragma once

#include <cstdint>

namespace rankwise {

using index_t = std::int64_t;

enum class Trans { No, Yes };

// How a block of vectors is orthonormalized (see the backends' orthonormalize).
enum class Ortho {
    Householder,  // geqrf + orgqr: unconditionally stable
    CholQR2,      // CholeskyQR2 at GEMM speed; shifted CholeskyQR3, then Householder, when
                  // Y is too ill-conditioned for it
    LU,           // Y <- P L of Y = P L U: well-scaled basis, not orthonormal (power steps only)
    None,         // leave Y as it is (power steps only)
};

enum class SvdDriver { Gesdd, Gesvd };

// The norm in which the EIM greedy measures residuals (algo/eim.hpp): max |r_i|, ||r||_2,
// sqrt(sum_i w_i r_i^2), or sqrt(r^T M r) for an SPD matrix M.
enum class EimNorm { Linf, L2, Weighted, Matrix };

inline Trans flip(Trans t) { return t == Trans::No ? Trans::Yes : Trans::No; }

// Column-major dense matrix view; `T` may be const-qualified for read-only views.
template <class T>
struct MatView {
    T* data = nullptr;
    index_t rows = 0;
    index_t cols = 0;
    index_t ld = 0;  // leading dimension, >= max(1, rows)

    // constexpr, so that CUDA kernels can call them too (nvcc --expt-relaxed-constexpr)
    constexpr T* col(index_t j) const { return data + j * ld; }
    constexpr T& operator()(index_t i, index_t j) const { return data[i + j * ld]; }

    // Columns [j0, j0 + ncols) as a view of the same storage.
    constexpr MatView cols_range(index_t j0, index_t ncols) const {
        return MatView{data + j0 * ld, rows, ncols, ld};
    }
    // Rows [i0, i0 + nrows) as a view of the same storage.
    constexpr MatView rows_range(index_t i0, index_t nrows) const {
        return MatView{data + i0, nrows, cols, ld};
    }
    constexpr operator MatView<const T>() const { return MatView<const T>{data, rows, cols, ld}; }
};

template <class T>
using ConstMatView = MatView<const T>;

// Compressed sparse row matrix view (scipy.sparse CSR arrays, unchanged).
// Column indices need not be sorted; duplicates are summed, as in scipy.
template <class T, class I>
struct CsrView {
    const T* data = nullptr;
    const I* indices = nullptr;
    const I* indptr = nullptr;  // rows + 1 entries
    index_t rows = 0;
    index_t cols = 0;
    // Stored entries, indptr[rows], where the caller knows it without reading indptr (a
    // device backend would need a transfer); -1: not given.
    index_t nnz = -1;
};

// The best single exchange found by swap_search (algo/swap_refine.hpp): replace the
// selected position `position` by candidate `candidate`; the objective changes by delta.
struct SwapBest {
    index_t position = 0;
    index_t candidate = 0;
    double delta = 0;
};

}  // namespace rankwise
