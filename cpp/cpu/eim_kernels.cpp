// CPU backend, the fused pass of the EIM greedy (algo/eim.hpp): rank-one update of the
// residual and the norms of its columns, one column per task, so that R is read and written
// once per term.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"

namespace rankwise {

namespace {

// Below this many residual entries a pass runs on the calling thread: waking the team costs
// more than the pass (and much more on a machine whose cores are busy).
constexpr index_t kParallelMinEntries = index_t{1} << 16;

// One segment of a column: r -= c q (when q is given) and the reduction of the updated
// entries (max |r|, or the sum of term(i, r_i)), fused in one vectorized loop, so that the
// segment is read and written once.
template <class T, class Term>
double update_reduce(T* r, const T* q, T c, index_t n, bool max_reduction, Term term) {
    if (max_reduction) {
        T mx = 0;
        if (q != nullptr && c != T(0)) {
#pragma omp simd reduction(max : mx)
            for (index_t i = 0; i < n; ++i) {
                const T v = r[i] - c * q[i];
                r[i] = v;
                mx = std::max(mx, std::abs(v));
            }
        } else {
#pragma omp simd reduction(max : mx)
            for (index_t i = 0; i < n; ++i) mx = std::max(mx, std::abs(r[i]));
        }
        return double(mx);
    }
    double acc = 0;
    if (q != nullptr && c != T(0)) {
#pragma omp simd reduction(+ : acc)
        for (index_t i = 0; i < n; ++i) {
            const T v = r[i] - c * q[i];
            r[i] = v;
            acc += term(i, v);
        }
    } else {
#pragma omp simd reduction(+ : acc)
        for (index_t i = 0; i < n; ++i) acc += term(i, r[i]);
    }
    return acc;
}

}  // namespace

template <class T>
void CpuBackend::eim_update_errors(MatView<T> R, MatView<T> G, const T* q, ConstMatView<T> c,
                                   const T* Mq, const T* w, EimNorm norm, double* err) const {
    // Tasks of (row chunk, block of columns): the chunk of q (and Mq, w) stays in cache
    // while the block's columns stream through.  Each chunk reduces into its own partials,
    // combined in chunk order: the result does not depend on the number of threads.
    const index_t n = R.rows, N = R.cols;
    constexpr index_t kRows = 8192, kCols = 64;
    const index_t chunks = (n + kRows - 1) / kRows, blocks = (N + kCols - 1) / kCols;
    std::vector<double> part(static_cast<std::size_t>(chunks * N));
    const bool linf = norm == EimNorm::Linf;
#pragma omp parallel for schedule(dynamic, 1) if (n * N >= kParallelMinEntries)
    for (index_t task = 0; task < chunks * blocks; ++task) {
        const index_t b = task / chunks, k = task % chunks;
        const index_t i0 = k * kRows, len = std::min(kRows, n - i0);
        const T* qk = q != nullptr ? q + i0 : nullptr;
        for (index_t j = b * kCols; j < std::min(N, (b + 1) * kCols); ++j) {
            T* r = R.col(j) + i0;
            const T cj = q != nullptr ? c(0, j) : T(0);
            double& out = part[k * N + j];
            switch (norm) {
                case EimNorm::Linf:
                    out = update_reduce(r, qk, cj, len, true, [](index_t, T) { return 0.0; });
                    break;
                case EimNorm::L2:
                    out = update_reduce(r, qk, cj, len, false,
                                        [](index_t, T v) { return double(v) * double(v); });
                    break;
                case EimNorm::Weighted: {
                    const T* wk = w + i0;
                    out = update_reduce(r, qk, cj, len, false, [wk](index_t i, T v) {
                        return double(wk[i]) * double(v) * double(v);
                    });
                    break;
                }
                case EimNorm::Matrix: {
                    // G = M R is updated first, then r . g accumulates with r's update
                    T* g = G.col(j) + i0;
                    if (Mq != nullptr && cj != T(0)) {
                        const T* mk = Mq + i0;
#pragma omp simd
                        for (index_t i = 0; i < len; ++i) g[i] -= cj * mk[i];
                    }
                    out = update_reduce(r, qk, cj, len, false, [g](index_t i, T v) {
                        return double(v) * double(g[i]);
                    });
                    break;
                }
            }
        }
    }
    for (index_t j = 0; j < N; ++j) {
        double v = 0;
        for (index_t k = 0; k < chunks; ++k)
            v = linf ? std::max(v, part[k * N + j]) : v + part[k * N + j];
        err[j] = linf ? v : std::sqrt(std::max(v, 0.0));
    }
}

template <class T>
void CpuBackend::eim_update_errors_rows(MatView<T> Rt, MatView<T> Gt, const T* q,
                                        ConstMatView<T> c, const T* Mq, const T* w,
                                        EimNorm norm, double* err) const {
    // Rt is N x n: snapshot j is row j, point i is the contiguous column i.  Fixed chunks of
    // points, each reducing into its own partial vector, combined in chunk order: the result
    // does not depend on the number of threads.
    const index_t N = Rt.rows, n = Rt.cols;
    constexpr index_t kPointsPerChunk = 2048;
    const index_t chunks = (n + kPointsPerChunk - 1) / kPointsPerChunk;
    std::vector<double> part(static_cast<std::size_t>(chunks * N), 0.0);
    const bool linf = norm == EimNorm::Linf;
    require(q == nullptr || c.rows == 1 || c.ld == 1) << "eim_update_errors_rows: c not contiguous";
    const T* cp = q != nullptr ? c.data : nullptr;
#pragma omp parallel if (n * N >= kParallelMinEntries)
    {
        std::vector<T> mx(static_cast<std::size_t>(N));  // max |r| kept in T: exact
#pragma omp for schedule(dynamic, 1)
        for (index_t b = 0; b < chunks; ++b) {
            double* acc = part.data() + b * N;
            std::fill(mx.begin(), mx.end(), T(0));
            T* m = mx.data();
            const index_t i1 = std::min(n, (b + 1) * kPointsPerChunk);
            for (index_t i = b * kPointsPerChunk; i < i1; ++i) {
                T* r = Rt.col(i);
                const T qi = cp != nullptr ? q[i] : T(0);
                if (norm == EimNorm::Matrix && Mq != nullptr && Mq[i] != T(0)) {
                    T* g = Gt.col(i);
                    const T mi = Mq[i];
#pragma omp simd
                    for (index_t j = 0; j < N; ++j) g[j] -= mi * cp[j];
                }
                if (linf) {
#pragma omp simd
                    for (index_t j = 0; j < N; ++j) {
                        const T v = qi != T(0) ? r[j] - qi * cp[j] : r[j];
                        r[j] = v;
                        m[j] = std::max(m[j], std::abs(v));
                    }
                } else {
                    const T* g = norm == EimNorm::Matrix ? Gt.col(i) : r;
                    const double wi = norm == EimNorm::Weighted ? double(w[i]) : 1.0;
#pragma omp simd
                    for (index_t j = 0; j < N; ++j) {
                        const T v = qi != T(0) ? r[j] - qi * cp[j] : r[j];
                        r[j] = v;
                        acc[j] += wi * double(v) * double(norm == EimNorm::Matrix ? g[j] : v);
                    }
                }
            }
            if (linf)
                for (index_t j = 0; j < N; ++j) acc[j] = double(m[j]);
        }
    }
    for (index_t j = 0; j < N; ++j) {
        double v = 0;
        for (index_t b = 0; b < chunks; ++b)
            v = linf ? std::max(v, part[b * N + j]) : v + part[b * N + j];
        err[j] = linf ? v : std::sqrt(std::max(v, 0.0));
    }
}

template <class T>
void CpuBackend::zero_rows(MatView<T> X, const index_t* rows, index_t count) const {
    for (index_t r = 0; r < count; ++r)
        require(rows[r] >= 0 && rows[r] < X.rows)
            << "zero_rows: row " << rows[r] << " out of range [0, " << X.rows << ")";
    for (index_t j = 0; j < X.cols; ++j)
        for (index_t r = 0; r < count; ++r) X(rows[r], j) = T(0);
}

template <class T>
void CpuBackend::set_entry(MatView<T> X, index_t i, index_t j, T value) const {
    require(i >= 0 && i < X.rows && j >= 0 && j < X.cols) << "set_entry: out of range";
    X(i, j) = value;
}

#define RANKWISE_INSTANTIATE_EIM(T)                                                         \
    template void CpuBackend::eim_update_errors<T>(MatView<T>, MatView<T>, const T*,        \
                                                   ConstMatView<T>, const T*, const T*,     \
                                                   EimNorm, double*) const;  \
    template void CpuBackend::eim_update_errors_rows<T>(MatView<T>, MatView<T>, const T*,   \
                                                        ConstMatView<T>, const T*, const T*, \
                                                        EimNorm, double*) const;     \
    template void CpuBackend::zero_rows<T>(MatView<T>, const index_t*, index_t) const;    \
    template void CpuBackend::set_entry<T>(MatView<T>, index_t, index_t, T) const;

RANKWISE_INSTANTIATE_EIM(float)
RANKWISE_INSTANTIATE_EIM(double)
#undef RANKWISE_INSTANTIATE_EIM

}  // namespace rankwise
