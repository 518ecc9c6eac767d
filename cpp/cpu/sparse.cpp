// CPU backend, sparse primitives: CSR times a block of vectors, multithreaded.
//
// Dense blocks are column-major; the kernels read and accumulate l-vectors (one row of a
// block) contiguously, so that the inner loop runs over l entries.  Scratch is O(n l) for
// the side that is accessed at random (never O(nnz), never the long side when it can be
// avoided, since fresh pages of large buffers cost page faults on every pass):
//   Y = A X:    X is copied to row-major once (random rows j are read); each thread
//               accumulates one output row in a small buffer and writes it to Y.
//   Y = A^T X:  rows x_i of X are gathered in order (cache friendly); the scatter into
//               Y^T goes to row-major buffers, one per part of A's rows (a fixed number of
//               parts, O(threads n l) at a time, no atomics), summed in part order and
//               transposed into Y at the end.
//   Y = A A^T X: the same two products, A^T X kept in its row-major buffer in between.
// csr_mm_rows takes and gives row-major blocks (the updater's factor rows): no copies.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"
#include "chunks.hpp"
#include "isa.hpp"
#include "parallel.hpp"
#include "thread_scratch.hpp"

namespace rankwise {
namespace {

// Row-major copy of X (rows x l) into out.  Blocks of rows, so that the strided side of the
// copy stays in cache; out need not be zero-filled (every entry is written).
constexpr index_t kTransposeRows = 64;

template <class T>
void to_row_major(ConstMatView<T> X, T* out) {
    const index_t l = X.cols;
    const index_t blocks = (X.rows + kTransposeRows - 1) / kTransposeRows;
    cpu::parallel_for(blocks, cpu::worth_parallel(X.rows * l), [&](index_t b) {
        const index_t r0 = b * kTransposeRows, r1 = std::min(X.rows, r0 + kTransposeRows);
        for (index_t j = 0; j < l; ++j)
            for (index_t i = r0; i < r1; ++i) out[i * l + j] = X(i, j);
    });
}

// A dense block entry by entry: column-major (a MatView: row step 1, column step ld), or
// row-major (the MatView of its transpose: row step ld, column step 1).
template <class T>
struct Strided {
    T* data;
    index_t row_step, col_step;
    T& operator()(index_t i, index_t j) const { return data[i * row_step + j * col_step]; }
};
template <class T>
Strided<T> column_major(MatView<T> X) {
    return {X.data, 1, X.ld};
}
template <class T>
Strided<const T> column_major(ConstMatView<T> X) {
    return {X.data, 1, X.ld};
}

// Rows [r0, r1) of the row-major R (l columns) into Y.
template <class T>
void rows_from_row_major(const T* R, index_t r0, index_t r1, MatView<T> Y) {
    const index_t l = Y.cols;
    for (index_t j = 0; j < l; ++j)
        for (index_t i = r0; i < r1; ++i) Y(i, j) = R[i * l + j];
}

// The inner loops, compiled twice on x86-64 (RANKWISE_ISA_CLONES, isa.hpp): these loops are
// the sparse products' whole cost.  Function templates cannot be cloned, hence one small
// non-template entry point per (T, I) below.

// Rows [r0, r1) of Y = A X (l columns), Xr the row-major copy of X, acc an l-vector of
// scratch.
template <class T, class I>
inline __attribute__((always_inline)) void rows_times_body(const CsrView<T, I>& A,
                                                           const T* Xr, Strided<T> Y, index_t l,
                                                           index_t r0, index_t r1, T* acc) {
    for (index_t i = r0; i < r1; ++i) {
        std::fill(acc, acc + l, T(0));
        for (index_t p = A.indptr[i]; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
            const T a = A.data[p];
            const T* x = Xr + static_cast<index_t>(A.indices[p]) * l;
#pragma omp simd
            for (index_t j = 0; j < l; ++j) acc[j] += a * x[j];
        }
        for (index_t j = 0; j < l; ++j) Y(i, j) = acc[j];
    }
}

// acc (n x l, row-major) += rows [r0, r1) of A^T X; x an l-vector of scratch.
template <class T, class I>
inline __attribute__((always_inline)) void rows_scatter_body(const CsrView<T, I>& A,
                                                             Strided<const T> X, index_t l,
                                                             index_t r0, index_t r1, T* acc,
                                                             T* x) {
    for (index_t i = r0; i < r1; ++i) {
        if (A.indptr[i] == A.indptr[i + 1]) continue;
        for (index_t j = 0; j < l; ++j) x[j] = X(i, j);
        for (index_t p = A.indptr[i]; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
            const T a = A.data[p];
            T* y = acc + static_cast<index_t>(A.indices[p]) * l;
#pragma omp simd
            for (index_t j = 0; j < l; ++j) y[j] += a * x[j];
        }
    }
}

#define RANKWISE_SPARSE_KERNELS(T, I)                                                       \
    RANKWISE_ISA_CLONES void rows_times(const CsrView<T, I>& A, const T* Xr, Strided<T> Y,  \
                                        index_t l, index_t r0, index_t r1, T* acc) {        \
        rows_times_body(A, Xr, Y, l, r0, r1, acc);                                          \
    }                                                                                       \
    RANKWISE_ISA_CLONES void rows_scatter(const CsrView<T, I>& A, Strided<const T> X,       \
                                          index_t l, index_t r0, index_t r1, T* acc, T* x) { \
        rows_scatter_body(A, X, l, r0, r1, acc, x);                                         \
    }
RANKWISE_SPARSE_KERNELS(float, std::int32_t)
RANKWISE_SPARSE_KERNELS(float, std::int64_t)
RANKWISE_SPARSE_KERNELS(double, std::int32_t)
RANKWISE_SPARSE_KERNELS(double, std::int64_t)
#undef RANKWISE_SPARSE_KERNELS
#undef RANKWISE_ISA_CLONES

// Y = A X with Xr the row-major copy of X: chunks of rows handed out dynamically (each
// output row is one thread's whole sum, so the schedule does not change the result).
template <class T, class I>
void csr_times(const CsrView<T, I>& A, const T* Xr, Strided<T> Y, index_t l) {
    constexpr index_t rows_per_chunk = 512;
    const index_t chunks = (A.rows + rows_per_chunk - 1) / rows_per_chunk;
    if (!cpu::worth_parallel(A.indptr[A.rows] * l + A.rows * l)) {  // (no team of one)
        std::vector<T> acc(static_cast<std::size_t>(l));
        rows_times(A, Xr, Y, l, 0, A.rows, acc.data());
        return;
    }
#pragma omp parallel
    {
        std::vector<T> acc(static_cast<std::size_t>(l));
#pragma omp for schedule(dynamic, 1)
        for (index_t c = 0; c < chunks; ++c) {
            const index_t r0 = c * rows_per_chunk;
            rows_times(A, Xr, Y, l, r0, std::min(A.rows, r0 + rows_per_chunk), acc.data());
        }
    }
}

// A^T X is cut into parts of consecutive rows of A with equal nonzeros; each part scatters
// into an n x l accumulator of its own and the accumulators are added to `out` in part
// order.  The number of parts depends on the sizes only, never on the number of threads,
// so the result is the same to the bit for any team (a threadpoolctl limit, or the smaller
// teams of concurrent callers: rankwise/thread_share.hpp).  Every part costs one pass over
// an accumulator (zero-fill and add), so a part holds at least 4 nonzeros per output row.
constexpr index_t kMaxScatterParts = 8;

index_t scatter_parts(index_t nnz, index_t n, index_t l) {
    if (!cpu::worth_parallel(nnz * l + n * l)) return 1;
    return std::clamp<index_t>(nnz / (4 * std::max<index_t>(n, 1)), 1, kMaxScatterParts);
}

// A^T X into the row-major n x l array `out` (zero-filled by the caller).  The team takes
// the parts in rounds of one part per thread: part 0 scatters straight into `out`, the
// others into per-thread scratch, and after each round the round's accumulators are added
// to `out` in part order (dynamic blocks of entries: every entry's sum has that order).
// `spare`, where not null, is n l values that the caller overwrites afterwards (the output
// block): thread 1 (or a team of one) accumulates there, one n x l scratch array less (on a
// wide 2e5 x 1e6 CSR with l = 30: 240 MB).
template <class T, class I>
void transpose_times_row_major(const CsrView<T, I>& A, Strided<const T> X, index_t l, T* out,
                               T* spare = nullptr) {
    const index_t n = A.cols;
    const index_t nnz = A.indptr[A.rows];
    const index_t parts = scatter_parts(nnz, n, l);
    if (parts == 1) {
        std::vector<T> x(static_cast<std::size_t>(l));
        rows_scatter(A, X, l, 0, A.rows, out, x.data());
        return;
    }
    std::vector<T*> acc(static_cast<std::size_t>(std::min<index_t>(omp_get_max_threads(), parts)));
    constexpr index_t rows_per_block = 256;
    const index_t blocks = (n + rows_per_block - 1) / rows_per_block;
#pragma omp parallel num_threads(static_cast<int>(acc.size()))
    {
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        std::optional<cpu::ThreadScratch<T, 1>> own;  // (slot 1: slot 0 may hold `out`)
        T* mine = nullptr;  // the scratch of a thread that takes parts other than 0
        if (parts > nt || t != 0) {
            if (spare != nullptr && t == std::min(1, nt - 1)) {  // (a team of one: thread 0)
                mine = spare;
                std::fill(mine, mine + n * l, T(0));
            } else {
                mine = own.emplace(static_cast<std::size_t>(n) * l).data();
            }
        }
        std::vector<T> x(static_cast<std::size_t>(l));
        for (index_t first = 0; first < parts; first += nt) {
            const index_t part = first + t;
            if (part < parts) {
                acc[t] = part == 0 ? out : mine;
                if (part != 0 && first != 0) std::fill(acc[t], acc[t] + n * l, T(0));
                rows_scatter(A, X, l, cpu::nnz_split(A, nnz, part, parts),
                             cpu::nnz_split(A, nnz, part + 1, parts), acc[t], x.data());
            }
#pragma omp barrier
            const index_t last = std::min<index_t>(parts, first + nt);
#pragma omp for schedule(dynamic, 4)
            for (index_t b = 0; b < blocks; ++b) {
                const index_t e0 = b * rows_per_block * l,
                              e1 = std::min(n, (b + 1) * rows_per_block) * l;
                for (index_t p = std::max<index_t>(first, 1); p < last; ++p) {
                    const T* part_sum = acc[p - first];
                    for (index_t e = e0; e < e1; ++e) out[e] += part_sum[e];
                }
            }
            // (the loop's implicit barrier: the round is summed before its scratch is reused)
        }
    }
}

// Y's storage where it can serve as scratch before Y is written: contiguous, at least
// `values` long, and apart from X (an in-place call reads X until the end).
template <class T>
T* spare_storage(MatView<T> Y, ConstMatView<T> X, index_t values) {
    const std::less<const T*> before;
    const bool apart = !before(Y.data, X.data + X.ld * X.cols) ||
                       !before(X.data, Y.data + Y.ld * Y.cols);
    return Y.ld == Y.rows && Y.rows * Y.cols >= values && apart ? Y.data : nullptr;
}

// Y = A^T X
template <class T, class I>
void csr_transpose_times(const CsrView<T, I>& A, ConstMatView<T> X, MatView<T> Y) {
    cpu::ThreadScratch<T, 0> R(static_cast<std::size_t>(A.cols) * X.cols);
    // Y is written from R only at the end: until then, it can be a thread's scratch
    transpose_times_row_major(A, column_major(X), X.cols, R.data(),
                              spare_storage(Y, X, A.cols * X.cols));
    const index_t n = Y.rows;
    const index_t blocks = (n + kTransposeRows - 1) / kTransposeRows;
    cpu::parallel_for(blocks, cpu::worth_parallel(n * Y.cols), [&](index_t b) {
        rows_from_row_major(R.data(), b * kTransposeRows, std::min(n, (b + 1) * kTransposeRows), Y);
    });
}

}  // namespace

template <class T, class I>
void CpuBackend::csr_mm(const CsrView<T, I>& A, Trans t, ConstMatView<T> X, MatView<T> Y) const {
    const index_t in_rows = t == Trans::No ? A.cols : A.rows;
    const index_t out_rows = t == Trans::No ? A.rows : A.cols;
    require(X.rows == in_rows && Y.rows == out_rows && X.cols == Y.cols)
        << "csr_mm: block shapes do not match the sparse matrix";
    if (X.cols == 0 || out_rows == 0) return;
    if (t == Trans::No && X.cols == 1) {
        csr_mv(A, X.data, Y.data);  // one column: no row-major copy, no per-row scratch
    } else if (t == Trans::No) {
        cpu::ThreadScratch<T, 2> Xr(static_cast<std::size_t>(X.rows) * X.cols,
                                    cpu::ScratchFill::Any);
        to_row_major(X, Xr.data());
        csr_times(A, Xr.data(), column_major(Y), Y.cols);
    } else {
        csr_transpose_times(A, X, Y);
    }
}

template <class T, class I>
void CpuBackend::csr_normal_mm(const CsrView<T, I>& A, ConstMatView<T> X, MatView<T> Y) const {
    require(X.rows == A.rows && Y.rows == A.rows && X.cols == Y.cols)
        << "csr_normal_mm: block shapes do not match the sparse matrix";
    if (X.cols == 0 || A.rows == 0) return;
    // A^T X stays in the row-major layout that both halves use; the second half is csr_mm's
    // own kernel for the width (the same arithmetic as the two products)
    cpu::ThreadScratch<T, 0> R(static_cast<std::size_t>(A.cols) * X.cols);
    // Y (m x l) is written from R only at the end: where it holds n l values, it is scratch
    transpose_times_row_major(A, column_major(X), X.cols, R.data(),
                              spare_storage(Y, X, A.cols * X.cols));
    if (X.cols == 1) {
        csr_mv(A, R.data(), Y.data);
    } else {
        csr_times(A, R.data(), column_major(Y), Y.cols);
    }
}

template <class T, class I>
void CpuBackend::csr_mm_rows(const CsrView<T, I>& A, Trans t, ConstMatView<T> Xt,
                             MatView<T> Yt) const {
    const index_t in_rows = t == Trans::No ? A.cols : A.rows;
    const index_t out_rows = t == Trans::No ? A.rows : A.cols;
    require(Xt.cols == in_rows && Yt.cols == out_rows && Xt.rows == Yt.rows)
        << "csr_mm_rows: block shapes do not match the sparse matrix";
    require(Xt.ld == std::max<index_t>(Xt.rows, 1) && Yt.ld == std::max<index_t>(Yt.rows, 1))
        << "csr_mm_rows: the row-major blocks must be contiguous";
    const index_t l = Xt.rows;
    if (l == 0 || out_rows == 0) return;
    if (t == Trans::No && l == 1) {
        csr_mv(A, Xt.data, Yt.data);  // one vector: the same memory in either layout
    } else if (t == Trans::No) {
        csr_times(A, Xt.data, Strided<T>{Yt.data, l, 1}, l);
    } else {
        std::fill(Yt.data, Yt.data + out_rows * l, T(0));
        transpose_times_row_major(A, Strided<const T>{Xt.data, l, 1}, l, Yt.data);
    }
}

template <class T, class I>
double CpuBackend::sum_squares(const CsrView<T, I>& A) const {
    const index_t nnz = A.indptr[A.rows] - A.indptr[0];
    const T* d = A.data + A.indptr[0];
    // partial sums over fixed chunks, added in chunk order: the same bits on any team size
    constexpr index_t chunks = cpu::kReductionChunks;
    std::vector<double> part(static_cast<std::size_t>(chunks));
    cpu::parallel_for(chunks, cpu::worth_parallel(nnz), [&](index_t c) {
        double s = 0;
        for (index_t p = nnz * c / chunks; p < nnz * (c + 1) / chunks; ++p)
            s += double(d[p]) * double(d[p]);
        part[c] = s;
    });
    double total = 0;
    for (const double s : part) total += s;
    return total;
}

#define RANKWISE_INSTANTIATE_SPARSE(T, I)                                                   \
    template void CpuBackend::csr_mm<T, I>(const CsrView<T, I>&, Trans, ConstMatView<T>,    \
                                           MatView<T>) const;                               \
    template void CpuBackend::csr_normal_mm<T, I>(const CsrView<T, I>&, ConstMatView<T>,     \
                                                  MatView<T>) const;                        \
    template void CpuBackend::csr_mm_rows<T, I>(const CsrView<T, I>&, Trans, ConstMatView<T>, \
                                                MatView<T>) const;                          \
    template double CpuBackend::sum_squares<T, I>(const CsrView<T, I>&) const;

RANKWISE_INSTANTIATE_SPARSE(float, std::int32_t)
RANKWISE_INSTANTIATE_SPARSE(float, std::int64_t)
RANKWISE_INSTANTIATE_SPARSE(double, std::int32_t)
RANKWISE_INSTANTIATE_SPARSE(double, std::int64_t)
#undef RANKWISE_INSTANTIATE_SPARSE

}  // namespace rankwise
