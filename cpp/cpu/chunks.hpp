// The fixed row chunks of the CPU backend's reductions (CG's dot products): partial sums
// per chunk, added in chunk order, so that a result depends neither on the schedule nor on
// the number of threads (the CG loop may change that count between iterations).
#pragma once

#include <algorithm>

#include "rankwise/types.hpp"

namespace rankwise::cpu {

inline constexpr index_t kReductionChunks = 64;

// First row of part `part` of `parts` when the rows of A are cut into parts of equal
// nonzeros (nnz = A.indptr[A.rows]).
template <class T, class I>
index_t nnz_split(const CsrView<T, I>& A, index_t nnz, index_t part, index_t parts) {
    if (part >= parts) return A.rows;
    return std::lower_bound(A.indptr, A.indptr + A.rows, static_cast<I>(nnz * part / parts)) -
           A.indptr;
}

// x . y over rows [i0, i1) of a chunk that starts at row r0, added to four running sums in
// double: row i goes to lanes[(i - r0) % 4], in increasing i.  The order is written out (not
// left to `omp simd`), so that the CSR and DIA products, which call this on different row
// ranges of the same chunk, give the same dot to the bit; the four independent sums also
// keep the add latency off the critical path.  Combine with dot4_total.
template <class T>
inline void dot4_accumulate(const T* __restrict x, const T* __restrict y, index_t r0, index_t i0,
                            index_t i1, double* __restrict lanes) {
    index_t i = i0;
    for (; i < i1 && ((i - r0) & 3) != 0; ++i) lanes[(i - r0) & 3] += double(y[i]) * double(x[i]);
    for (; i + 4 <= i1; i += 4)
        for (index_t l = 0; l < 4; ++l) lanes[l] += double(y[i + l]) * double(x[i + l]);
    for (; i < i1; ++i) lanes[(i - r0) & 3] += double(y[i]) * double(x[i]);
}

inline double dot4_total(const double* lanes) {
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

}  // namespace rankwise::cpu
