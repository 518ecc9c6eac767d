// BLAS-3 products split into chunks over the project's OpenMP threads, each chunk a
// single-threaded BLAS call (rankwise/blas_threads.hpp says why).
//
// The chunking depends only on the long dimension, and partial results are summed in chunk
// order, so results are reproducible whatever thread runs which chunk and however many;
// chunks are handed out dynamically, so a descheduled thread delays only its own chunk.
#pragma once

#include <algorithm>
#include <vector>

#include "rankwise/blas_threads.hpp"
#include "dims.hpp"
#include "rankwise/lapack.hpp"
#include "rankwise/types.hpp"

namespace rankwise::cpu {

// Blocks of at most this many columns (l = k + p) count as skinny.
inline constexpr index_t kSkinnyMaxCols = 256;
// Rows per chunk, at least: enough that a chunk is a BLAS-3 call worth making.  Products
// with a long inner dimension (a dense A times a block) do more work per row.
inline constexpr index_t kChunkMinRows = 1024;
inline constexpr index_t kChunkMinRowsLongInner = 256;
// Below this many multiply-adds a product runs on the calling thread.
inline constexpr index_t kSerialMaxWork = index_t{1} << 22;
// ... and a matrix-vector product (one row or column of output) below this many: it is
// memory-bound, one multiply-add per entry of A read, so threads pay from a far smaller
// size (a 1500 x 1500 float64 A times a vector, one thread: 208 us; numpy's threaded gemv
// on the same 2 cores: 109 us).
inline constexpr index_t kSerialMaxVectorWork = index_t{1} << 16;

inline index_t chunk_min_rows(index_t inner) {
    return inner > kSkinnyMaxCols ? kChunkMinRowsLongInner : kChunkMinRows;
}

struct RowChunks {
    index_t count = 1;
    index_t rows = 0;
    index_t begin(index_t c) const { return rows * c / count; }
    index_t size(index_t c) const { return begin(c + 1) - begin(c); }
};

// Chunks of independent rows.  Their boundaries depend on the row count only, never on the
// thread count: the BLAS's kernels may round a row differently by where it falls in a block
// (OpenBLAS's SkylakeX dgemm gave different last bits for the same rows in chunks of another
// size: an OpenMP team of 1 and of 2 returned different factors, 2026-11-27), so chunks cut by
// the team size would make results depend on it.  The count is the largest of a few that
// share out evenly among common team sizes (2, 4, 8, 12, 16, 24, 32, 48, 64 threads) with
// chunks of at least min_rows rows; where 3 would fit, 4 of at least 3/4 min_rows (3 chunks
// leave a team of 2 or 4 a third idle: A^T Y for a 2000 x 1000 A, 1000 output rows, on 2
// threads took 2.1-2.5 ms in 3 chunks and 1.4-2.0 ms in 4).
inline RowChunks row_chunks(index_t rows, index_t min_rows = kChunkMinRows) {
    constexpr index_t kCounts[] = {96, 64, 48, 32, 24, 16, 12, 8, 6, 4, 2};
    const index_t fit = rows / min_rows == 3 ? 4 : rows / min_rows;
    for (const index_t count : kCounts)
        if (count <= fit) return RowChunks{count, rows};
    return RowChunks{1, rows};
}

// Chunks of a dimension that is summed over (partial products added in chunk order).  Their
// number depends on the dimension only, never on the thread count, so that the sums - and
// every algorithm's results - are the same bit for bit whatever the size of the OpenMP team
// (threadpoolctl limits, concurrent callers sharing the cores: rankwise/thread_share.hpp).
inline constexpr index_t kMaxSummedChunks = 32;
inline RowChunks summed_chunks(index_t rows, index_t min_rows = kChunkMinRows) {
    return RowChunks{std::clamp<index_t>(rows / min_rows, 1, kMaxSummedChunks), rows};
}

// body(c) for every chunk, on the OpenMP team, with the BLAS single-threaded in each call.
template <class Body>
void for_each_chunk(const RowChunks& chunks, Body&& body) {
    const SerialBlas serial;
#pragma omp parallel for schedule(dynamic, 1) if (chunks.count > 1)
    for (index_t c = 0; c < chunks.count; ++c) body(c);
}

// How a product C = op(A) op(B) (C m x n, inner dimension k) runs: whole (the BLAS's own
// threads, where there is no thread control), on the calling thread (too little work for
// threads to pay), or in chunks of its longest dimension: rows or columns of C (independent
// BLAS calls, where the BLAS's own threads would share packed panels and wait for each
// other at every block), or the inner dimension when C is small (partial products summed in
// chunk order).
enum class Plan { Whole, Serial, Rows, Columns, Inner };

inline Plan plan_product(index_t m, index_t n, index_t k) {
    if (!serial_blas_available()) return Plan::Whole;
    const bool vector = m == 1 || n == 1;
    if (m * n * k <= (vector ? kSerialMaxVectorWork : kSerialMaxWork)) return Plan::Serial;
    const bool small_output = m <= 2 * kSkinnyMaxCols && n <= 2 * kSkinnyMaxCols;
    if (small_output && k >= std::max(m, n)) {
        return k >= 2 * kChunkMinRows ? Plan::Inner : Plan::Serial;
    }
    const index_t longest = std::max(m, n);
    if (longest < 2 * chunk_min_rows(k)) return Plan::Serial;
    return m >= n ? Plan::Rows : Plan::Columns;
}

// Rows of Y (m x l) for a Gram matrix or a triangular solve: chunked or on this thread.
inline Plan plan_block(index_t rows, index_t cols) {
    if (!serial_blas_available()) return Plan::Whole;
    return rows >= 2 * chunk_min_rows(cols) ? Plan::Rows : Plan::Serial;
}

// Rows [r0, r0 + n) of op(X): rows of X, or columns of X when transposed.
template <class T>
ConstMatView<T> op_rows(ConstMatView<T> X, Trans t, index_t r0, index_t n) {
    return t == Trans::No ? X.rows_range(r0, n) : X.cols_range(r0, n);
}
// Columns [c0, c0 + n) of op(X).
template <class T>
ConstMatView<T> op_cols(ConstMatView<T> X, Trans t, index_t c0, index_t n) {
    return t == Trans::No ? X.cols_range(c0, n) : X.rows_range(c0, n);
}

template <class T>
void blas_gemm(Trans ta, Trans tb, T alpha, ConstMatView<T> A, ConstMatView<T> B, T beta,
               MatView<T> C, index_t k) {
    if (C.cols == 1 && k > 0) {
        // Matrix times vector: gemv streams A once, where gemm packs it first (measured on
        // n x 16 times 16 x 1 at n = 65,536, one thread: 0.5 ms against gemv's 0.18 ms).
        lapack::gemv<T>(ta == Trans::No ? 'N' : 'T', blas_int(A.rows, "rows"),
                        blas_int(A.cols, "columns"), alpha, A.data, ld_of(A.ld), B.data,
                        tb == Trans::No ? 1 : ld_of(B.ld), beta, C.data, 1);
        return;
    }
    lapack::gemm<T>(ta == Trans::No ? 'N' : 'T', tb == Trans::No ? 'N' : 'T',
                    blas_int(C.rows, "rows"), blas_int(C.cols, "columns"),
                    blas_int(k, "inner dimension"), alpha, A.data, ld_of(A.ld), B.data,
                    ld_of(B.ld), beta, C.data, ld_of(C.ld));
}

// C = alpha op(A) op(B) + beta C with C tall: rows of C are independent.
template <class T>
void gemm_tall_output(Trans ta, Trans tb, T alpha, ConstMatView<T> A, ConstMatView<T> B,
                      T beta, MatView<T> C, index_t k) {
    const RowChunks chunks = row_chunks(C.rows, chunk_min_rows(k));
    for_each_chunk(chunks, [&](index_t c) {
        const index_t r0 = chunks.begin(c), n = chunks.size(c);
        blas_gemm(ta, tb, alpha, op_rows(A, ta, r0, n), B, beta, C.rows_range(r0, n), k);
    });
}

// C = alpha op(A) op(B) + beta C with C wide: columns of C are independent.
template <class T>
void gemm_wide_output(Trans ta, Trans tb, T alpha, ConstMatView<T> A, ConstMatView<T> B,
                      T beta, MatView<T> C, index_t k) {
    const RowChunks chunks = row_chunks(C.cols, chunk_min_rows(k));
    for_each_chunk(chunks, [&](index_t c) {
        const index_t c0 = chunks.begin(c), n = chunks.size(c);
        blas_gemm(ta, tb, alpha, A, op_cols(B, tb, c0, n), beta, C.cols_range(c0, n), k);
    });
}

// C = alpha op(A) op(B) + beta C with the inner dimension k long (m, n skinny): one partial
// product per chunk of k, summed in chunk order.
template <class T>
void gemm_tall_inner(Trans ta, Trans tb, T alpha, ConstMatView<T> A, ConstMatView<T> B,
                     T beta, MatView<T> C, index_t k) {
    const RowChunks chunks = summed_chunks(k);
    const index_t m = C.rows, n = C.cols;
    std::vector<T> partial(static_cast<std::size_t>(chunks.count * m * n));
    for_each_chunk(chunks, [&](index_t c) {
        const index_t p0 = chunks.begin(c), len = chunks.size(c);
        MatView<T> P{partial.data() + c * m * n, m, n, std::max<index_t>(m, 1)};
        blas_gemm(ta, tb, T(1), op_cols(A, ta, p0, len), op_rows(B, tb, p0, len), T(0), P,
                  len);
    });
    for (index_t j = 0; j < n; ++j) {
        for (index_t i = 0; i < m; ++i) {
            T sum = T(0);
            for (index_t c = 0; c < chunks.count; ++c) sum += partial[c * m * n + i + j * m];
            C(i, j) = beta == T(0) ? alpha * sum : alpha * sum + beta * C(i, j);
        }
    }
}

// Upper triangle of G (l x l, ld l) = Y^T Y; with `transposed`, Y is given as its transpose
// Yt (l x N: a row-major Y) and the chunks of its N rows are columns of Yt.
template <class T>
void gram_upper(ConstMatView<T> Y, T* G, bool transposed = false) {
    const index_t l = transposed ? Y.rows : Y.cols, N = transposed ? Y.cols : Y.rows;
    const int li = blas_int(l, "columns");
    const auto rows = [&](index_t r0, index_t n) {
        return transposed ? Y.cols_range(r0, n) : Y.rows_range(r0, n);
    };
    const auto syrk = [&](ConstMatView<T> part, T* out) {
        const index_t n = transposed ? part.cols : part.rows;
        lapack::syrk<T>('U', transposed ? 'N' : 'T', li, blas_int(n, "rows"), T(1), part.data,
                        ld_of(part.ld), T(0), out, li);
    };
    const Plan how = plan_block(N, l);
    if (how == Plan::Whole) return syrk(Y, G);
    if (how == Plan::Serial) {
        const SerialBlas serial;
        return syrk(Y, G);
    }
    // One partial l x l Gram matrix per chunk (fewer for wide blocks: memory and summing).
    RowChunks chunks = summed_chunks(N);
    if (l > kSkinnyMaxCols) chunks.count = std::min<index_t>(chunks.count, 8);
    std::vector<T> partial(static_cast<std::size_t>(chunks.count * l * l));
    for_each_chunk(chunks, [&](index_t c) {
        syrk(rows(chunks.begin(c), chunks.size(c)), partial.data() + c * l * l);
    });
    for (index_t j = 0; j < l; ++j) {
        for (index_t i = 0; i <= j; ++i) {
            T sum = T(0);
            for (index_t c = 0; c < chunks.count; ++c) sum += partial[c * l * l + i + j * l];
            G[i + j * l] = sum;
        }
    }
}

// Y <- Y R^-1 with R (l x l, ld l) upper triangular: rows of Y are independent.
template <class T>
void solve_upper_right(const T* R, MatView<T> Y) {
    const int l = blas_int(Y.cols, "columns");
    const auto trsm = [&](MatView<T> part) {
        lapack::trsm<T>('R', 'U', 'N', 'N', blas_int(part.rows, "rows"), l, T(1), R, l,
                        part.data, ld_of(part.ld));
    };
    const Plan how = plan_block(Y.rows, Y.cols);
    if (how == Plan::Whole) return trsm(Y);
    const RowChunks chunks = how == Plan::Rows ? row_chunks(Y.rows) : RowChunks{1, Y.rows};
    for_each_chunk(chunks,
                   [&](index_t c) { trsm(Y.rows_range(chunks.begin(c), chunks.size(c))); });
}

}  // namespace rankwise::cpu
