// CPU backend, the fused vector steps of CG (algo/cg.hpp) and the one-vector CSR product
// (alone, and fused with the reduction x . A x).
//
// Every kernel gives thread t the same static share of rows, so a thread streams the same
// slice of x, r, p, q on every pass (it stays in that core's cache when it fits).  Reductions
// go to one partial sum per fixed row chunk and column, summed in chunk order: the result
// depends neither on scheduling nor on the number of threads.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"
#include "chunks.hpp"
#include "parallel.hpp"

namespace rankwise {
namespace {

// Below this many entries per pass a parallel region costs more than it saves.
constexpr index_t kParallelMin = 8192;
// Reductions: partial sums over fixed row chunks, added in chunk order (chunks.hpp).
constexpr index_t kChunks = cpu::kReductionChunks;

// Runs f(i0, i1, c) for every chunk c of [0, n): chunks in order, split statically over
// the threads (thread t always gets the same rows for the same n and thread count).
template <class F>
void for_chunks(index_t n, index_t work, F&& f) {
    const index_t chunks = std::min(kChunks, std::max<index_t>(n, 1));
    cpu::parallel_for(chunks, work >= kParallelMin,
                      [&](index_t c) { f(n * c / chunks, n * (c + 1) / chunks, c); });
}

// out[j] = sum over chunks c, in order, of part[c * s + j]
void sum_parts(const std::vector<double>& part, index_t s, double* out) {
    for (index_t j = 0; j < s; ++j) {
        double total = 0;
        for (std::size_t c = 0; c * s < part.size(); ++c) total += part[c * s + j];
        out[j] = total;
    }
}

std::vector<double> chunk_parts(index_t s) {
    return std::vector<double>(static_cast<std::size_t>(kChunks * s), 0.0);
}

}  // namespace

int CpuBackend::max_threads() const { return omp_get_max_threads(); }

void CpuBackend::set_threads(int k) const { omp_set_num_threads(k > 0 ? k : 1); }

template <class T>
void CpuBackend::column_dots(ConstMatView<T> X, ConstMatView<T> Y, double* out) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "column_dots: shapes differ";
    const index_t n = X.rows, s = X.cols;
    std::vector<double> part = chunk_parts(s);
    for_chunks(n, n * s, [&](index_t i0, index_t i1, index_t c) {
        for (index_t j = 0; j < s; ++j) {
            const T* x = X.col(j);
            const T* y = Y.col(j);
            double acc = 0;
#pragma omp simd reduction(+ : acc)
            for (index_t i = i0; i < i1; ++i) acc += double(x[i]) * double(y[i]);
            part[c * s + j] = acc;
        }
    });
    sum_parts(part, s, out);
}

template <class T>
void CpuBackend::axpby(T alpha, ConstMatView<T> X, T beta, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "axpby: shapes differ";
    for_chunks(X.rows, X.rows * X.cols, [&](index_t i0, index_t i1, index_t) {
        for (index_t j = 0; j < X.cols; ++j) {
            const T* x = X.col(j);
            T* y = Y.col(j);
            if (beta == T(0)) {
#pragma omp simd
                for (index_t i = i0; i < i1; ++i) y[i] = alpha * x[i];
            } else {
#pragma omp simd
                for (index_t i = i0; i < i1; ++i) y[i] = alpha * x[i] + beta * y[i];
            }
        }
    });
}

template <class T>
void CpuBackend::scale_rows(const T* d, ConstMatView<T> X, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "scale_rows: shapes differ";
    for_chunks(X.rows, X.rows * X.cols, [&](index_t i0, index_t i1, index_t) {
        for (index_t j = 0; j < X.cols; ++j) {
            const T* x = X.col(j);
            T* y = Y.col(j);
#pragma omp simd
            for (index_t i = i0; i < i1; ++i) y[i] = d[i] * x[i];
        }
    });
}

template <class T>
void CpuBackend::cg_update_p(const T* beta, DiagonalView<T> diagonal, ConstMatView<T> Z,
                             MatView<T> P, const std::uint8_t* active) const {
    require(Z.rows == P.rows && Z.cols == P.cols) << "cg_update_p: shapes differ";
    require(!diagonal.coded()) << "cg_update_p: a coded diagonal is the CUDA backend's";
    const T* d = diagonal.values;
    for_chunks(P.rows, P.rows * P.cols, [&](index_t i0, index_t i1, index_t) {
        for (index_t j = 0; j < P.cols; ++j) {
            if (!active[j]) continue;
            const T b = beta[j];
            const T* z = Z.col(j);
            T* p = P.col(j);
            if (d != nullptr) {
#pragma omp simd
                for (index_t i = i0; i < i1; ++i) p[i] = d[i] * z[i] + b * p[i];
            } else {
#pragma omp simd
                for (index_t i = i0; i < i1; ++i) p[i] = z[i] + b * p[i];
            }
        }
    });
}

template <class T>
void CpuBackend::cg_update_xr(const double* rho, const double* pq, ConstMatView<T> P,
                              ConstMatView<T> Q, MatView<T> X, MatView<T> R,
                              DiagonalView<T> diagonal, const std::uint8_t* active,
                              double* pq_host, double* rr, double* rz) const {
    require(P.rows == X.rows && Q.rows == X.rows && R.rows == X.rows && P.cols == X.cols &&
            Q.cols == X.cols && R.cols == X.cols)
        << "cg_update_xr: shapes differ";
    require(!diagonal.coded()) << "cg_update_xr: a coded diagonal is the CUDA backend's";
    const T* d = diagonal.values;
    const index_t s = X.cols;
    // the columns that step, and their step lengths
    std::vector<std::uint8_t> steps(static_cast<std::size_t>(s));
    std::vector<T> alpha(static_cast<std::size_t>(s), T(0));
    for (index_t j = 0; j < s; ++j) {
        pq_host[j] = pq[j];
        steps[j] = active[j] && pq[j] > 0 && std::isfinite(pq[j]);
        if (steps[j]) alpha[j] = static_cast<T>(rho[j] / pq[j]);
    }
    std::vector<double> part_rr = chunk_parts(s), part_rz = chunk_parts(s);
    for_chunks(X.rows, X.rows * s, [&](index_t i0, index_t i1, index_t c) {
        for (index_t j = 0; j < s; ++j) {
            if (!steps[j]) continue;
            const T a = alpha[j];
            const T* p = P.col(j);
            const T* q = Q.col(j);
            T* x = X.col(j);
            T* r = R.col(j);
            double acc_rr = 0, acc_rz = 0;
            if (d != nullptr) {
#pragma omp simd reduction(+ : acc_rr, acc_rz)
                for (index_t i = i0; i < i1; ++i) {
                    x[i] += a * p[i];
                    const T ri = r[i] - a * q[i];
                    r[i] = ri;
                    const double rd = ri;
                    acc_rr += rd * rd;
                    acc_rz += rd * rd * double(d[i]);
                }
            } else {
#pragma omp simd reduction(+ : acc_rr)
                for (index_t i = i0; i < i1; ++i) {
                    x[i] += a * p[i];
                    const T ri = r[i] - a * q[i];
                    r[i] = ri;
                    acc_rr += double(ri) * double(ri);
                }
            }
            part_rr[c * s + j] = acc_rr;
            part_rz[c * s + j] = acc_rz;
        }
    });
    std::vector<double> sum_rr(static_cast<std::size_t>(s)), sum_rz(static_cast<std::size_t>(s));
    sum_parts(part_rr, s, sum_rr.data());
    sum_parts(part_rz, s, sum_rz.data());
    for (index_t j = 0; j < s; ++j) {
        if (!steps[j]) continue;
        rr[j] = sum_rr[j];
        if (d != nullptr) rz[j] = sum_rz[j];
    }
}

namespace {

// Rows [r0, r1) of y = A x, and (Dot) x . y over them in double (chunks.hpp's four lanes,
// rows counted from r0).  Local restrict pointers and one running position p: without
// them every store to y could alias the CSR arrays, and each row reloads its start
// (measured: 20% of the product's time on the 5-point Laplacian; the row loop is bound by
// its loads, 3 per stored entry).
template <bool Dot, class T, class I>
double csr_rows(const CsrView<T, I>& A, const T* __restrict x, T* __restrict y, index_t r0,
                index_t r1) {
    const T* __restrict data = A.data;
    const I* __restrict indices = A.indices;
    const I* __restrict indptr = A.indptr;
    double lanes[4] = {0, 0, 0, 0};
    index_t p = indptr[r0];
    for (index_t i = r0; i < r1; ++i) {
        T acc = T(0);
        const index_t p1 = indptr[i + 1];
        for (; p < p1; ++p) acc += data[p] * x[indices[p]];
        y[i] = acc;
        if (Dot) lanes[(i - r0) & 3] += double(acc) * double(x[i]);
    }
    return cpu::dot4_total(lanes);
}

}  // namespace

template <class T, class I>
void CpuBackend::csr_mv(const CsrView<T, I>& A, const T* x, T* y) const {
    const index_t nnz = A.indptr[A.rows];
    if (nnz < kParallelMin) {  // (no team of one: cpu/parallel.hpp)
        csr_rows<false>(A, x, y, 0, A.rows);
        return;
    }
#pragma omp parallel
    {
        // Contiguous row ranges balanced by nonzeros.
        const index_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        csr_rows<false>(A, x, y, cpu::nnz_split(A, nnz, t, nt), cpu::nnz_split(A, nnz, t + 1, nt));
    }
}

template <class T, class I>
void CpuBackend::csr_mv_dot(const CsrView<T, I>& A, const T* x, T* y, double* dot) const {
    require(A.rows == A.cols) << "csr_mv_dot: A must be square";
    const index_t nnz = A.indptr[A.rows];
    // kChunks fixed row chunks of equal nonzeros (not a per-thread split), so the sum does
    // not depend on the number of threads; consecutive chunks go to the same thread.
    const index_t chunks = std::min(kChunks, std::max<index_t>(A.rows, 1));
    std::vector<double> part = chunk_parts(1);
    cpu::parallel_for(chunks, nnz + A.rows >= kParallelMin, [&](index_t c) {
        part[c] = csr_rows<true>(A, x, y, cpu::nnz_split(A, nnz, c, chunks),
                                 cpu::nnz_split(A, nnz, c + 1, chunks));
    });
    sum_parts(part, 1, dot);
}

#define RANKWISE_INSTANTIATE_CG(T)                                                            \
    template void CpuBackend::axpby<T>(T, ConstMatView<T>, T, MatView<T>) const;              \
    template void CpuBackend::column_dots<T>(ConstMatView<T>, ConstMatView<T>, double*) const; \
    template void CpuBackend::scale_rows<T>(const T*, ConstMatView<T>, MatView<T>) const;     \
    template void CpuBackend::cg_update_p<T>(const T*, DiagonalView<T>, ConstMatView<T>,      \
                                             MatView<T>, const std::uint8_t*) const;          \
    template void CpuBackend::cg_update_xr<T>(const double*, const double*, ConstMatView<T>,  \
                                              ConstMatView<T>, MatView<T>, MatView<T>,        \
                                              DiagonalView<T>, const std::uint8_t*, double*,  \
                                              double*, double*) const;                        \
    template void CpuBackend::csr_mv<T, std::int32_t>(const CsrView<T, std::int32_t>&,        \
                                                      const T*, T*) const;                    \
    template void CpuBackend::csr_mv<T, std::int64_t>(const CsrView<T, std::int64_t>&,        \
                                                      const T*, T*) const;                    \
    template void CpuBackend::csr_mv_dot<T, std::int32_t>(const CsrView<T, std::int32_t>&,    \
                                                          const T*, T*, double*) const;       \
    template void CpuBackend::csr_mv_dot<T, std::int64_t>(const CsrView<T, std::int64_t>&,    \
                                                          const T*, T*, double*) const;

RANKWISE_INSTANTIATE_CG(float)
RANKWISE_INSTANTIATE_CG(double)
#undef RANKWISE_INSTANTIATE_CG

}  // namespace rankwise
