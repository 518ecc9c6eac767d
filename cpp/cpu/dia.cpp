// DIA storage (rankwise/dia.hpp): conversion from canonical CSR, and the products.
//
// This file is compiled with -ffp-contract=off (CMakeLists.txt): the products must round
// like the CSR row loop (a multiply, then an add), so that CG's iterates are the same with
// either storage; the AVX2 clone (isa.hpp) then vectorizes them without fused multiply-adds.
#include "rankwise/dia.hpp"


#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <type_traits>

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

// Rows [r0, r1) of A written to the diagonals `offsets` of `out` (n rows each): entry p, the
// k-th of its row, as value_of(p, k, v) sets v, fill positions as `fill`; false, leaving the
// rest unwritten, at the first entry off those diagonals or out of canonical order, or one
// that value_of refuses (returns false for).
template <class V, class T, class I, class ValueOf>
bool write_rows(const CsrView<T, I>& A, const std::vector<index_t>& offsets, V* out, V fill,
                index_t r0, index_t r1, ValueOf value_of) {
    const index_t n = A.rows, nd = static_cast<index_t>(offsets.size());
    for (index_t i = r0; i < r1; ++i) {
        index_t d = 0;
        const index_t begin = A.indptr[i];
        for (index_t p = begin; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
            const index_t off = static_cast<index_t>(A.indices[p]) - i;
            while (d < nd && offsets[d] < off) out[d++ * n + i] = fill;
            if (d == nd || offsets[d] != off) return false;  // off the diagonals, or repeated
            V v;
            if (!value_of(p, p - begin, v)) return false;
            out[d++ * n + i] = v;
        }
        while (d < nd) out[d++ * n + i] = fill;
    }
    return true;
}

// Plain storage: the values themselves, 0 at the fill positions.
template <class T, class I>
bool fill_rows(const CsrView<T, I>& A, const std::vector<index_t>& offsets, T* values,
               index_t r0, index_t r1) {
    return write_rows(A, offsets, values, T(0), r0, r1, [&](index_t p, index_t, T& v) {
        v = A.data[p];
        return true;
    });
}

// The bits of a float32 / float64 value: coded storage tells values apart by them (-0.0 is
// not 0.0), so that decoding gives back the same bits.
template <class T>
using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

template <class T>
Bits<T> bits_of(T v) {
    Bits<T> b;
    std::memcpy(&b, &v, sizeof b);
    return b;
}

// The position of b in the ascending table, or -1.
template <class B>
int find_code(const std::vector<B>& table, B b) {
    const auto at = std::lower_bound(table.begin(), table.end(), b);
    return at != table.end() && *at == b ? static_cast<int>(at - table.begin()) : -1;
}

// Where an entry's bits were last looked up, by the entry's place in its row (a stencil's
// k-th entry of a row is mostly on one diagonal, which mostly holds one value).
template <class B>
struct RecentCodes {
    static constexpr index_t kSlots = 8;
    B bits[kSlots] = {};
    int code[kSlots] = {-1, -1, -1, -1, -1, -1, -1, -1};
};

// The distinct bit patterns of rows [r0, r1) of A added to the ascending `table`; false once
// they are more than max_codes.
template <class T, class I>
bool collect_values(const CsrView<T, I>& A, index_t r0, index_t r1, std::size_t max_codes,
                    std::vector<Bits<T>>& table) {
    RecentCodes<Bits<T>> recent;
    for (index_t i = r0; i < r1; ++i) {
        const index_t begin = A.indptr[i];
        for (index_t p = begin; p < static_cast<index_t>(A.indptr[i + 1]); ++p) {
            const auto b = bits_of(A.data[p]);
            const index_t slot = (p - begin) % RecentCodes<Bits<T>>::kSlots;
            if (recent.code[slot] >= 0 && recent.bits[slot] == b) continue;
            const auto at = std::lower_bound(table.begin(), table.end(), b);
            if (at == table.end() || *at != b) {
                if (table.size() == max_codes) return false;
                table.insert(at, b);
            }
            recent.bits[slot] = b;
            recent.code[slot] = 0;  // (seen: its code is not needed here)
        }
    }
    return true;
}

// The table of A's distinct values with 0.0 (the fill's), ascending by bits, where they are
// at most max_codes; nothing otherwise.
template <class T, class I>
std::optional<std::vector<Bits<T>>> value_table(const CsrView<T, I>& A, std::size_t max_codes,
                                                bool parallel) {
    constexpr index_t kChunks = 64;
    std::vector<std::vector<Bits<T>>> parts(kChunks);
    bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (parallel)
    for (index_t c = 0; c < kChunks; ++c)
        ok = ok && collect_values(A, A.rows * c / kChunks, A.rows * (c + 1) / kChunks, max_codes,
                                  parts[c]);
    if (!ok) return std::nullopt;
    std::vector<Bits<T>> table{Bits<T>(0)};
    for (const auto& part : parts) {
        std::vector<Bits<T>> merged;
        std::set_union(table.begin(), table.end(), part.begin(), part.end(),
                       std::back_inserter(merged));
        if (merged.size() > max_codes) return std::nullopt;
        table = std::move(merged);
    }
    return table;
}

// Coded storage: the code of each entry's value in `table` (which holds them all), the code
// of 0.0 at the fill positions.
template <class T, class I>
bool fill_rows_coded(const CsrView<T, I>& A, const std::vector<index_t>& offsets,
                     const std::vector<Bits<T>>& table, std::uint8_t* codes, index_t r0,
                     index_t r1) {
    const auto zero = static_cast<std::uint8_t>(find_code(table, Bits<T>(0)));
    RecentCodes<Bits<T>> recent;
    return write_rows(A, offsets, codes, zero, r0, r1,
                      [&](index_t p, index_t k, std::uint8_t& code) {
                          const auto b = bits_of(A.data[p]);
                          const index_t slot = k % RecentCodes<Bits<T>>::kSlots;
                          if (recent.code[slot] < 0 || recent.bits[slot] != b) {
                              recent.bits[slot] = b;
                              recent.code[slot] = find_code(table, b);
                          }
                          code = static_cast<std::uint8_t>(recent.code[slot]);
                          return recent.code[slot] >= 0;  // (else the values changed meanwhile)
                      });
}

// Rows below which the conversion stays on one thread (about 1 ms of work; a parallel
// region on busy cores can cost more, cpu/parallel.hpp).
constexpr index_t kConvertParallelRows = index_t{1} << 18;

template <class T, class I>
std::optional<DiaMatrix<T>> convert(const CsrView<T, I>& A, index_t max_diagonals,
                                    double max_fill, DiaStorage storage) {
    const index_t n = A.rows;
    if (n == 0 || A.cols != n) return std::nullopt;
    const index_t nnz = A.indptr[n];
    const auto fits = [&](const std::vector<index_t>& offsets) {
        const double stored = double(offsets.size()) * double(n);
        return static_cast<index_t>(offsets.size()) <= max_diagonals &&
               stored <= max_fill * double(std::max<index_t>(nnz, 1));
    };
    // The diagonals as a band of middle rows has them (a stencil's rows all do, but for
    // the boundary rows, which have fewer); every row is checked against them while it is
    // written, and only if one has others are all rows read for the diagonals.
    std::vector<index_t> offsets;
    const index_t band = std::min<index_t>(n, 64), first = (n - band) / 2;
    if (!collect_offsets(A, first, first + band, max_diagonals, offsets) || !fits(offsets))
        return std::nullopt;
    DiaMatrix<T> out;
    out.n = n;
    const bool parallel = n >= kConvertParallelRows;
    // Plain storage where it fits in storage.max_plain_bytes (in the cache, where its
    // products are the faster), else coded where the values allow
    std::optional<std::vector<Bits<T>>> table;
    bool table_tried = false;
    const auto fill_all = [&](const std::vector<index_t>& diagonals) {
        const std::size_t size = diagonals.size() * static_cast<std::size_t>(n);
        const bool plain = double(size) * sizeof(T) <= storage.max_plain_bytes;
        if (!plain && !table_tried && storage.max_codes > 0) {
            const auto max_codes = static_cast<std::size_t>(std::min(storage.max_codes, 256));
            table = value_table(A, max_codes, parallel);
        }
        table_tried = table_tried || !plain;
        if (plain) {
            table.reset();
            out.codes.reset();
            out.values.reset(new T[size]);
        } else if (table) {
            out.values.reset();
            out.codes.reset(new std::uint8_t[size]);
        } else {
            return false;
        }
        bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (parallel)
        for (index_t c = 0; c < 64; ++c) {
            const index_t r0 = n * c / 64, r1 = n * (c + 1) / 64;
            ok = ok && (table ? fill_rows_coded(A, diagonals, *table, out.codes.get(), r0, r1)
                              : fill_rows(A, diagonals, out.values.get(), r0, r1));
        }
        return ok;
    };
    if (!fill_all(offsets)) {
        offsets.clear();
        if (!collect_offsets(A, 0, n, max_diagonals, offsets) || !fits(offsets) ||
            !fill_all(offsets))
            return std::nullopt;
    }
    if (table) {
        for (const auto b : *table) {
            T v;
            std::memcpy(&v, &b, sizeof v);
            out.table.push_back(v);
        }
    }
    out.offsets = std::move(offsets);
    const index_t chunks = std::min(cpu::kReductionChunks, n);
    out.chunk_rows.resize(static_cast<std::size_t>(chunks + 1));
    for (index_t c = 0; c <= chunks; ++c) out.chunk_rows[c] = cpu::nnz_split(A, nnz, c, chunks);
    return out;
}

// Rows [r0, r1) of y = A x: each diagonal over the rows it has there, in ascending offset
// order, so that row i adds its entries in column order as the CSR loop does; by blocks of
// kBlock rows, which keep their stretch of y and x in the L1 cache across the diagonals.
constexpr index_t kBlock = 512;

// The values of diagonal d at rows [lo, hi) (hi - lo <= kBlock): v[i - lo] for row i, from
// the plain storage, or decoded into `buffer` from the coded one; nullptr where the coded
// stretch holds one value throughout, which goes to *same (a stencil with constant
// coefficients: its diagonals are uniform but near the grid's edges, and the product is a
// scaled copy of x, with the same roundings as multiplying by the stored values).
template <class T>
inline __attribute__((always_inline)) const T* diagonal_values(const DiaMatrix<T>& A,
                                                               std::size_t d, index_t lo,
                                                               index_t hi, T* buffer, T* same) {
    const index_t at = static_cast<index_t>(d) * A.n + lo;
    if (!A.coded()) return A.values.get() + at;
    const std::uint8_t* c = A.codes.get() + at;
    const std::uint8_t first = c[0];
    std::uint8_t differs = 0;
    for (index_t k = 0; k < hi - lo; ++k) differs |= c[k] ^ first;
    const T* table = A.table.data();
    if (differs == 0) {
        *same = table[first];
        return nullptr;
    }
    for (index_t k = 0; k < hi - lo; ++k) buffer[k] = table[c[k]];
    return buffer;
}

template <class T>
inline __attribute__((always_inline)) void rows_body(const DiaMatrix<T>& A, const T* __restrict x,
                                                     T* __restrict y, index_t r0, index_t r1) {
    const index_t n = A.n;
    T buffer[kBlock];
    for (index_t b0 = r0; b0 < r1; b0 += kBlock) {
        const index_t b1 = std::min(r1, b0 + kBlock);
        for (index_t i = b0; i < b1; ++i) y[i] = T(0);
        for (std::size_t d = 0; d < A.offsets.size(); ++d) {
            const index_t off = A.offsets[d];
            const index_t lo = std::max(b0, -off), hi = std::min(b1, n - off);
            if (lo >= hi) continue;
            T a = T(0);
            const T* __restrict v = diagonal_values(A, d, lo, hi, buffer, &a);
            if (v == nullptr) {
                for (index_t i = lo; i < hi; ++i) y[i] += a * x[i + off];
            } else {
                for (index_t i = lo; i < hi; ++i) y[i] += v[i - lo] * x[i + off];
            }
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
    T buffer[kBlock];
    for (index_t b0 = r0; b0 < r1; b0 += kBlock) {
        const index_t b1 = std::min(r1, b0 + kBlock);
        for (index_t j = b0; j < b1; ++j) y[j] = T(0);
        for (std::size_t d = A.offsets.size(); d-- > 0;) {
            const index_t off = A.offsets[d];
            const index_t lo = std::max(b0, off), hi = std::min(b1, n + off);
            if (lo >= hi) continue;
            // rows lo - off .. hi - off of the diagonal
            T a = T(0);
            const T* __restrict v = diagonal_values(A, d, lo - off, hi - off, buffer, &a);
            if (v == nullptr) {
                for (index_t j = lo; j < hi; ++j) y[j] += a * x[j - off];
            } else {
                for (index_t j = lo; j < hi; ++j) y[j] += v[j - lo] * x[j - off];
            }
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
                                             index_t max_diagonals, double max_fill,
                                             DiaStorage storage) {
    return convert(A, max_diagonals, max_fill, storage);
}
std::optional<DiaMatrix<float>> dia_from_csr(const CsrView<float, std::int64_t>& A,
                                             index_t max_diagonals, double max_fill,
                                             DiaStorage storage) {
    return convert(A, max_diagonals, max_fill, storage);
}
std::optional<DiaMatrix<double>> dia_from_csr(const CsrView<double, std::int32_t>& A,
                                             index_t max_diagonals, double max_fill,
                                             DiaStorage storage) {
    return convert(A, max_diagonals, max_fill, storage);
}
std::optional<DiaMatrix<double>> dia_from_csr(const CsrView<double, std::int64_t>& A,
                                             index_t max_diagonals, double max_fill,
                                             DiaStorage storage) {
    return convert(A, max_diagonals, max_fill, storage);
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
    for (index_t i = 0; i < size; ++i) {
        const double v = A.coded() ? double(A.table[A.codes[i]]) : double(A.values[i]);
        s += v * v;
    }
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
