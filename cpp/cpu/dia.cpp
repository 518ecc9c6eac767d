// DIA storage (rankwise/dia.hpp): conversion from canonical CSR, and the products.
//
// This file is compiled with -ffp-contract=off (CMakeLists.txt): the products must round
// like the CSR row loop (a multiply, then an add), so that CG's iterates are the same with
// either storage; the AVX2 clone (isa.hpp) then vectorizes them without fused multiply-adds.
#include "rankwise/dia.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <iterator>

#include "rankwise/error.hpp"
#include "chunks.hpp"
#include "isa.hpp"
#include "parallel.hpp"

namespace rankwise {
namespace {

// Position of offset `off` in the ascending `offsets`, searching from `from` (the entries
// of a canonical row come in ascending offset order); -1 if absent.
index_t find_from(const std::vector<index_t>& offsets, index_t from, index_t off) {
    const index_t size = static_cast<index_t>(offsets.size());
    for (index_t d = from; d < size; ++d) {
        if (offsets[d] == off) return d;
        if (offsets[d] > off) break;
    }
    return -1;
}

// The diagonals of rows [r0, r1) of A, ascending, added to `offsets`; false when a row is
// not canonical or there are more than max_diagonals.
template <class T, class I>
bool collect_offsets(const CsrView<T, I>& A, index_t r0, index_t r1, index_t max_diagonals,
                     std::vector<index_t>& offsets) {
    for (index_t i = r0; i < r1; ++i) {
        index_t previous = -1, d = 0;
        for (index_t p = A.indptr[i]; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
            const index_t j = A.indices[p];
            if (j <= previous) return false;
            previous = j;
            const index_t off = j - i;
            const index_t at = find_from(offsets, d, off);
            if (at >= 0) {
                d = at + 1;
                continue;
            }
            if (static_cast<index_t>(offsets.size()) >= max_diagonals) return false;
            const auto pos = std::lower_bound(offsets.begin(), offsets.end(), off);
            d = (pos - offsets.begin()) + 1;
            offsets.insert(pos, off);
        }
    }
    return true;
}

template <class T, class I>
std::optional<DiaMatrix<T>> convert(const CsrView<T, I>& A, index_t max_diagonals,
                                    double max_fill) {
    const index_t n = A.rows;
    if (n == 0 || A.cols != n) return std::nullopt;
    const index_t nnz = A.indptr[n];
    // The diagonals: each thread those of its rows, then their union.
    const int threads = cpu::worth_parallel(nnz) ? omp_get_max_threads() : 1;
    std::vector<std::vector<index_t>> found(static_cast<std::size_t>(threads));
    std::vector<char> ok(static_cast<std::size_t>(threads), 0);
#pragma omp parallel num_threads(threads)
    {
        const index_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        ok[t] = collect_offsets(A, n * t / nt, n * (t + 1) / nt, max_diagonals, found[t]);
    }
    std::vector<index_t> offsets;
    for (std::size_t t = 0; t < found.size(); ++t) {
        if (!ok[t]) return std::nullopt;
        std::vector<index_t> both;
        std::set_union(offsets.begin(), offsets.end(), found[t].begin(), found[t].end(),
                       std::back_inserter(both));
        offsets.swap(both);
    }
    const index_t nd = static_cast<index_t>(offsets.size());
    if (nd > max_diagonals || double(nd) * double(n) > max_fill * double(std::max<index_t>(nnz, 1)))
        return std::nullopt;

    DiaMatrix<T> out;
    out.n = n;
    out.offsets = offsets;
    out.values.reset(new T[static_cast<std::size_t>(nd * n)]);  // written below, row by row
    T* values = out.values.get();
#pragma omp parallel for schedule(static) if (cpu::worth_parallel(nnz + nd * n))
    for (index_t i = 0; i < n; ++i) {
        for (index_t d = 0; d < nd; ++d) values[d * n + i] = T(0);
        index_t d = 0;
        for (index_t p = A.indptr[i]; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
            d = find_from(out.offsets, d, static_cast<index_t>(A.indices[p]) - i);
            values[d * n + i] = A.data[p];
            ++d;
        }
    }
    const index_t chunks = std::min(cpu::kReductionChunks, n);
    out.chunk_rows.resize(static_cast<std::size_t>(chunks + 1));
    for (index_t c = 0; c <= chunks; ++c) out.chunk_rows[c] = cpu::nnz_split(A, nnz, c, chunks);
    return out;
}

// Rows [r0, r1) of y = A x: each diagonal over the rows it has there, in ascending offset
// order, so that row i adds its entries in column order as the CSR loop does; by blocks of
// kBlock rows, which keep their stretch of y and x in the L1 cache across the diagonals.
constexpr index_t kBlock = 512;

template <class T>
inline __attribute__((always_inline)) void rows_body(const DiaMatrix<T>& A, const T* __restrict x,
                                                     T* __restrict y, index_t r0, index_t r1) {
    const index_t n = A.n;
    for (index_t b0 = r0; b0 < r1; b0 += kBlock) {
        const index_t b1 = std::min(r1, b0 + kBlock);
        for (index_t i = b0; i < b1; ++i) y[i] = T(0);
        for (std::size_t d = 0; d < A.offsets.size(); ++d) {
            const index_t off = A.offsets[d];
            const index_t lo = std::max(b0, -off), hi = std::min(b1, n - off);
            const T* __restrict v = A.values.get() + static_cast<index_t>(d) * n;
            for (index_t i = lo; i < hi; ++i) y[i] += v[i] * x[i + off];
        }
    }
}

// Rows [r0, r1) of y = A^T x: y[j] gathers entry (j - off, j) of each diagonal.
template <class T>
inline __attribute__((always_inline)) void rows_transposed_body(const DiaMatrix<T>& A,
                                                                const T* __restrict x,
                                                                T* __restrict y, index_t r0,
                                                                index_t r1) {
    const index_t n = A.n;
    for (index_t b0 = r0; b0 < r1; b0 += kBlock) {
        const index_t b1 = std::min(r1, b0 + kBlock);
        for (index_t j = b0; j < b1; ++j) y[j] = T(0);
        for (std::size_t d = A.offsets.size(); d-- > 0;) {
            const index_t off = A.offsets[d];
            const index_t lo = std::max(b0, off), hi = std::min(b1, n + off);
            const T* __restrict v = A.values.get() + static_cast<index_t>(d) * n;
            for (index_t j = lo; j < hi; ++j) y[j] += v[j - off] * x[j - off];
        }
    }
}

#define RANKWISE_DIA_KERNELS(T)                                                               \
    RANKWISE_ISA_CLONES void dia_rows(const DiaMatrix<T>& A, const T* x, T* y, index_t r0,    \
                                      index_t r1) {                                           \
        rows_body(A, x, y, r0, r1);                                                           \
    }                                                                                         \
    RANKWISE_ISA_CLONES void dia_rows_transposed(const DiaMatrix<T>& A, const T* x, T* y,     \
                                                 index_t r0, index_t r1) {                    \
        rows_transposed_body(A, x, y, r0, r1);                                                \
    }
RANKWISE_DIA_KERNELS(float)
RANKWISE_DIA_KERNELS(double)
#undef RANKWISE_DIA_KERNELS

}  // namespace

std::optional<DiaMatrix<float>> dia_from_csr(const CsrView<float, std::int32_t>& A,
                                             index_t max_diagonals, double max_fill) {
    return convert(A, max_diagonals, max_fill);
}
std::optional<DiaMatrix<float>> dia_from_csr(const CsrView<float, std::int64_t>& A,
                                             index_t max_diagonals, double max_fill) {
    return convert(A, max_diagonals, max_fill);
}
std::optional<DiaMatrix<double>> dia_from_csr(const CsrView<double, std::int32_t>& A,
                                              index_t max_diagonals, double max_fill) {
    return convert(A, max_diagonals, max_fill);
}
std::optional<DiaMatrix<double>> dia_from_csr(const CsrView<double, std::int64_t>& A,
                                              index_t max_diagonals, double max_fill) {
    return convert(A, max_diagonals, max_fill);
}

namespace cpu {

template <class T>
void dia_mv_dot(const DiaMatrix<T>& A, const T* x, T* y, double* dot) {
    const index_t chunks = static_cast<index_t>(A.chunk_rows.size()) - 1;
    std::vector<double> part(static_cast<std::size_t>(kReductionChunks), 0.0);
    const index_t work = A.n * static_cast<index_t>(A.offsets.size() + 2);
#pragma omp parallel for schedule(static) if (work >= 8192)
    for (index_t c = 0; c < chunks; ++c) {
        const index_t r0 = A.chunk_rows[c], r1 = A.chunk_rows[c + 1];
        double lanes[4] = {0, 0, 0, 0};
        for (index_t b0 = r0; b0 < r1; b0 += kBlock) {  // y's block still in L1 for the dot
            const index_t b1 = std::min(r1, b0 + kBlock);
            dia_rows(A, x, y, b0, b1);
            dot4_accumulate(x, y, r0, b0, b1, lanes);
        }
        part[c] = dot4_total(lanes);
    }
    double total = 0;  // in chunk order, as CpuBackend::csr_mv_dot sums its parts
    for (const double p : part) total += p;
    *dot = total;
}

template <class T>
void dia_mm(const DiaMatrix<T>& A, Trans t, ConstMatView<T> X, MatView<T> Y) {
    require(X.rows == A.n && Y.rows == A.n && X.cols == Y.cols) << "dia_mm: shapes differ";
    constexpr index_t rows_per_chunk = 4096;
    const index_t chunks = (A.n + rows_per_chunk - 1) / rows_per_chunk;
    const index_t work = A.n * static_cast<index_t>(A.offsets.size() + 2) * X.cols;
#pragma omp parallel for collapse(2) schedule(static) if (worth_parallel(work))
    for (index_t j = 0; j < X.cols; ++j) {
        for (index_t c = 0; c < chunks; ++c) {
            const index_t r0 = c * rows_per_chunk, r1 = std::min(A.n, r0 + rows_per_chunk);
            if (t == Trans::No) {
                dia_rows(A, X.col(j), Y.col(j), r0, r1);
            } else {
                dia_rows_transposed(A, X.col(j), Y.col(j), r0, r1);
            }
        }
    }
}

template <class T>
double dia_sum_squares(const DiaMatrix<T>& A) {
    double s = 0;
    const index_t size = A.n * static_cast<index_t>(A.offsets.size());
    for (index_t i = 0; i < size; ++i) s += double(A.values[i]) * double(A.values[i]);
    return s;
}

template void dia_mv_dot<float>(const DiaMatrix<float>&, const float*, float*, double*);
template void dia_mv_dot<double>(const DiaMatrix<double>&, const double*, double*, double*);
template void dia_mm<float>(const DiaMatrix<float>&, Trans, ConstMatView<float>, MatView<float>);
template void dia_mm<double>(const DiaMatrix<double>&, Trans, ConstMatView<double>,
                             MatView<double>);
template double dia_sum_squares<float>(const DiaMatrix<float>&);
template double dia_sum_squares<double>(const DiaMatrix<double>&);

}  // namespace cpu
}  // namespace rankwise
