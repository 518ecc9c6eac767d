// CPU backend, the passes of the EIM greedy (algo/eim.hpp): the residual with a block of
// deferred rank-one terms applied on the fly, and the norms of its columns, in one pass that
// reads R (and writes it back only when the block is folded in).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"

namespace rankwise {

namespace {

// Below this many residual entries a pass runs on the calling thread: waking the team costs
// more than the pass (and much more on a machine whose cores are busy).
constexpr index_t kParallelMinEntries = index_t{1} << 16;
// Rows per chunk of a pass (the chunk of the deferred terms' columns stays in cache), and
// the granularity of the bounds of eim_block_max.
constexpr index_t kChunkRows = 1024;

// The deferred terms applied to one segment of a column: y = x - c_0 q_0 - ... - c_{b-1}
// q_{b-1}, in that order (what b successive rank-one updates give), q_l = Qb[:, l] (len
// rows) and c_l = c[l].  Four terms per sweep, each entry carried in a register through
// them, so that y is read and written once per four terms (y may be x).
template <class T>
void apply_terms(const T* x, ConstMatView<T> Qb, const T* c, index_t len, T* y) {
    const index_t b = Qb.cols;
    if (b == 0 && y != x) std::copy(x, x + len, y);
    for (index_t l = 0; l < b; l += 4) {
        const T* src = l == 0 ? x : y;
        const T* q0 = Qb.col(l);
        const T c0 = c[l];
        switch (std::min<index_t>(4, b - l)) {
            case 1:
#pragma omp simd
                for (index_t i = 0; i < len; ++i) y[i] = src[i] - c0 * q0[i];
                break;
            case 2: {
                const T* q1 = Qb.col(l + 1);
                const T c1 = c[l + 1];
#pragma omp simd
                for (index_t i = 0; i < len; ++i) y[i] = (src[i] - c0 * q0[i]) - c1 * q1[i];
                break;
            }
            case 3: {
                const T *q1 = Qb.col(l + 1), *q2 = Qb.col(l + 2);
                const T c1 = c[l + 1], c2 = c[l + 2];
#pragma omp simd
                for (index_t i = 0; i < len; ++i)
                    y[i] = ((src[i] - c0 * q0[i]) - c1 * q1[i]) - c2 * q2[i];
                break;
            }
            default: {
                const T *q1 = Qb.col(l + 1), *q2 = Qb.col(l + 2), *q3 = Qb.col(l + 3);
                const T c1 = c[l + 1], c2 = c[l + 2], c3 = c[l + 3];
#pragma omp simd
                for (index_t i = 0; i < len; ++i)
                    y[i] = (((src[i] - c0 * q0[i]) - c1 * q1[i]) - c2 * q2[i]) - c3 * q3[i];
                break;
            }
        }
    }
}

// max |v_i| of y = x - sum_l c_l Qb[:, l] (apply_terms) over one segment, y in buf.
template <class T>
T segment_max(const T* x, ConstMatView<T> Qb, const T* c, index_t len, T* buf) {
    const T* v = x;
    if (Qb.cols > 0) {
        apply_terms(x, Qb, c, len, buf);
        v = buf;
    }
    T mx = 0;
#pragma omp simd reduction(max : mx)
    for (index_t i = 0; i < len; ++i) mx = std::max(mx, std::abs(v[i]));
    return mx;
}

}  // namespace

template <class T>
void CpuBackend::eim_block_errors(MatView<T> R, MatView<T> G, ConstMatView<T> Qb,
                                  ConstMatView<T> MQb, ConstMatView<T> Cb, const T* w,
                                  EimNorm norm, bool write_back, double* err,
                                  EimBounds* bounds) const {
    const index_t n = R.rows, N = R.cols, b = Qb.cols;
    const bool inner = norm == EimNorm::Matrix;
    require(Qb.rows == n && Cb.rows == b && Cb.cols == N &&
            (!inner || (G.rows == n && G.cols == N && MQb.rows == n && MQb.cols == b)))
        << "eim_block_errors: shapes do not match";
    // Tasks of (row chunk, block of columns): the chunk of Qb (and MQb, w) stays in cache
    // while the block's columns stream through, and each segment is updated in a buffer of
    // the thread's (in L1) before its reduction.  Each chunk reduces into its own partials,
    // combined in chunk order: the result does not depend on the number of threads.
    // A task streams kTaskChunks consecutive chunks of each of its columns (long runs for
    // the hardware prefetcher); partials stay per chunk of kChunkRows rows.
    constexpr index_t kTaskChunks = 8, kCols = 64;
    const index_t chunks = (n + kChunkRows - 1) / kChunkRows;
    const index_t groups = (chunks + kTaskChunks - 1) / kTaskChunks;
    const index_t blocks = (N + kCols - 1) / kCols;
    std::vector<double> part(static_cast<std::size_t>(chunks * N));
    const bool linf = norm == EimNorm::Linf;
#pragma omp parallel if (n * N >= kParallelMinEntries)
    {
        std::vector<T> rbuf(static_cast<std::size_t>(kChunkRows)), gbuf(inner ? kChunkRows : 0);
#pragma omp for schedule(dynamic, 1)
        for (index_t task = 0; task < groups * blocks; ++task) {
            const index_t blk = task / groups, grp = task % groups;
            const index_t k1 = std::min(chunks, (grp + 1) * kTaskChunks);
            for (index_t j = blk * kCols; j < std::min(N, (blk + 1) * kCols); ++j)
            for (index_t k = grp * kTaskChunks; k < k1; ++k) {
                const index_t i0 = k * kChunkRows, len = std::min(kChunkRows, n - i0);
                const ConstMatView<T> Qk = Qb.rows_range(i0, len);
                T* r = R.col(j) + i0;
                const T* cj = b > 0 ? &Cb(0, j) : nullptr;
                T* v = write_back || b == 0 ? r : rbuf.data();
                // all terms but the last, then the last one fused with the reduction (one
                // sweep for b = 1; the same loop, hence the same sums, for every b >= 1)
                const bool fused = b > 0 && norm != EimNorm::Matrix;
                apply_terms(r, fused ? Qk.cols_range(0, b - 1) : Qk, cj, len, v);
                const T* src = b > 1 ? v : r;
                const T* ql = fused ? Qk.col(b - 1) : nullptr;
                const T cl = fused ? cj[b - 1] : T(0);
                double acc = 0;
                switch (norm) {
                    case EimNorm::Linf: {
                        if (!fused) {
                            acc = double(segment_max(v, Qk.cols_range(0, 0), cj, len, v));
                            break;
                        }
                        T mx = 0;
#pragma omp simd reduction(max : mx)
                        for (index_t i = 0; i < len; ++i) {
                            const T x = src[i] - cl * ql[i];
                            v[i] = x;
                            mx = std::max(mx, std::abs(x));
                        }
                        acc = double(mx);
                        break;
                    }
                    case EimNorm::L2:
                    case EimNorm::Weighted: {
                        const T* wk = norm == EimNorm::Weighted ? w + i0 : nullptr;
                        if (!fused) {
#pragma omp simd reduction(+ : acc)
                            for (index_t i = 0; i < len; ++i)
                                acc += (wk ? double(wk[i]) : 1.0) * double(v[i]) * double(v[i]);
                            break;
                        }
#pragma omp simd reduction(+ : acc)
                        for (index_t i = 0; i < len; ++i) {
                            const T x = src[i] - cl * ql[i];
                            v[i] = x;
                            acc += (wk ? double(wk[i]) : 1.0) * double(x) * double(x);
                        }
                        break;
                    }
                    case EimNorm::Matrix: {
                        // G = M R carries the same terms with M q_l in place of q_l
                        T* gr = G.col(j) + i0;
                        T* g = write_back || b == 0 ? gr : gbuf.data();
                        apply_terms(gr, MQb.rows_range(i0, len), cj, len, g);
#pragma omp simd reduction(+ : acc)
                        for (index_t i = 0; i < len; ++i) acc += double(v[i]) * double(g[i]);
                        break;
                    }
                }
                part[k * N + j] = acc;
            }
        }
    }
    for (index_t j = 0; j < N; ++j) {
        double v = 0;
        for (index_t k = 0; k < chunks; ++k)
            v = linf ? std::max(v, part[k * N + j]) : v + part[k * N + j];
        err[j] = linf ? v : std::sqrt(std::max(v, 0.0));
    }
    if (linf && bounds != nullptr) {
        bounds->max = std::move(part);
        // the maxima include the b terms, which R itself includes once written back
        bounds->base.assign(bounds->max.size(), write_back ? 0 : b);
    }
}

template <class T>
bool CpuBackend::eim_block_max(ConstMatView<T> R, ConstMatView<T> Qb, ConstMatView<T> Cb,
                               EimBounds& bounds, double max_fraction, double* value,
                               index_t* column) const {
    const index_t n = R.rows, N = R.cols, b = Qb.cols;
    const index_t chunks = (n + kChunkRows - 1) / kChunkRows;
    require(Qb.rows == n && Cb.rows == b && Cb.cols == N &&
            static_cast<index_t>(bounds.max.size()) == chunks * N &&
            bounds.base.size() == bounds.max.size())
        << "eim_block_max: shapes do not match";
    // For the rows i of chunk c, with m = bounds.max and the terms l >= base (the first base
    // ones are in m), |v(i, j)| <= m + t with t = min(sum_l |c_lj| max_{i in c} |q_l(i)|,
    // ||c_j||_2 max_{i in c} ||q(i, l >= base)||_2) (Cauchy-Schwarz); the computed value
    // exceeds that by at most 2 rounding errors per term of size m + the first t: 4 (b + 2)
    // eps of it is added.  qrow[c * b + s]: the max row norm of the terms l >= s.
    std::vector<double> qmax(static_cast<std::size_t>(chunks * b));
    std::vector<double> qrow(static_cast<std::size_t>(chunks * b));
    {
        std::vector<double> sq(static_cast<std::size_t>(kChunkRows));
        for (index_t c = 0; c < chunks; ++c) {
            const index_t i0 = c * kChunkRows, len = std::min(kChunkRows, n - i0);
            std::fill(sq.begin(), sq.end(), 0.0);
            for (index_t l = b - 1; l >= 0; --l) {
                const T* q = Qb.col(l) + i0;
                T mx = 0;
                double rmax = 0;
#pragma omp simd reduction(max : mx, rmax)
                for (index_t i = 0; i < len; ++i) {
                    mx = std::max(mx, std::abs(q[i]));
                    sq[i] += double(q[i]) * double(q[i]);
                    rmax = std::max(rmax, sq[i]);
                }
                qmax[l * chunks + c] = double(mx);
                qrow[c * b + l] = std::sqrt(rmax);
            }
        }
    }
    const double rounding = 4 * double(b + 2) * std::numeric_limits<T>::epsilon();
    const double slack = 1 + 4 * double(b + 2) * std::numeric_limits<double>::epsilon();
    std::vector<double> bound(static_cast<std::size_t>(chunks * N));
    std::vector<double> cn(static_cast<std::size_t>(b + 1));  // cn[s]: ||c_j[l >= s]||_2
    for (index_t j = 0; j < N; ++j) {
        cn[b] = 0;
        for (index_t l = b - 1; l >= 0; --l)
            cn[l] = cn[l + 1] + double(Cb(l, j)) * double(Cb(l, j));
        for (index_t c = 0; c < chunks; ++c) {
            const std::size_t at = static_cast<std::size_t>(c * N + j);
            const double m = bounds.max[at];
            const index_t base = bounds.base[at];
            if (base >= b) {  // exact: evaluated with all the terms
                bound[at] = m;
                continue;
            }
            double t1 = 0;
            for (index_t l = base; l < b; ++l)
                t1 += std::abs(double(Cb(l, j))) * qmax[l * chunks + c];
            const double t2 = std::sqrt(cn[base]) * qrow[c * b + base] * slack;
            bound[at] = m + std::min(t1, t2) + rounding * (m + t1);
        }
    }
    auto evaluate = [&](std::size_t at, T* scratch) {
        const index_t c = static_cast<index_t>(at) / N, j = static_cast<index_t>(at) % N;
        const index_t i0 = c * kChunkRows, len = std::min(kChunkRows, n - i0);
        return double(segment_max(R.col(j) + i0, Qb.rows_range(i0, len),
                                  b > 0 ? &Cb(0, j) : nullptr, len, scratch));
    };
    // Batches of the chunks with the largest bounds, evaluated exactly; after each, drop the
    // chunks whose bound is below the best value found (ties are kept: the first column
    // wins them).  Give up once max_fraction of the chunks were evaluated and some are left.
    std::vector<std::size_t> todo(bound.size());
    std::iota(todo.begin(), todo.end(), std::size_t(0));
    const auto larger = [&](std::size_t x, std::size_t y) { return bound[x] > bound[y]; };
    constexpr std::size_t kBatch = 64;
    std::vector<double> got(kBatch);
    double best = -1;
    index_t best_j = N;
    std::size_t evaluated = 0;
    while (!todo.empty()) {
        const std::size_t count = std::min(kBatch, todo.size());
        std::nth_element(todo.begin(), todo.begin() + (count - 1), todo.end(), larger);
#pragma omp parallel if (count >= 8)
        {
            std::vector<T> scratch(static_cast<std::size_t>(kChunkRows));
#pragma omp for schedule(dynamic, 1)
            for (std::size_t s = 0; s < count; ++s) got[s] = evaluate(todo[s], scratch.data());
        }
        for (std::size_t s = 0; s < count; ++s) {
            bounds.max[todo[s]] = got[s];  // exact now, with all b terms
            bounds.base[todo[s]] = b;
            const index_t j = static_cast<index_t>(todo[s]) % N;
            if (got[s] > best || (got[s] == best && j < best_j)) {
                best = got[s];
                best_j = j;
            }
        }
        evaluated += count;
        todo.erase(todo.begin(), todo.begin() + count);
        todo.erase(std::remove_if(todo.begin(), todo.end(),
                                  [&](std::size_t at) { return bound[at] < best; }),
                   todo.end());
        if (!todo.empty() && double(evaluated) >= max_fraction * double(bound.size()))
            return false;
    }
    *value = best;
    *column = best_j;
    return true;
}

template <class T>
void CpuBackend::eim_block_column(ConstMatView<T> R, ConstMatView<T> Qb, ConstMatView<T> Cb,
                                  index_t j, MatView<T> r) const {
    require(Qb.rows == R.rows && Cb.rows == Qb.cols && Cb.cols == R.cols && j >= 0 &&
            j < R.cols && r.rows == R.rows && r.cols == 1)
        << "eim_block_column: shapes do not match";
    apply_terms(R.col(j), Qb, Qb.cols > 0 ? &Cb(0, j) : nullptr, R.rows, r.data);
}

template <class T>
void CpuBackend::eim_project(ConstMatView<T> X, const T* q, const T* w, double* out) const {
    const index_t n = X.rows, N = X.cols;
#pragma omp parallel for schedule(static) if (n * N >= kParallelMinEntries)
    for (index_t j = 0; j < N; ++j) {
        const T* x = X.col(j);
        double total = 0;
        for (index_t i0 = 0; i0 < n; i0 += kChunkRows) {
            const index_t i1 = std::min(n, i0 + kChunkRows);
            double acc = 0;
            if (w == nullptr) {
#pragma omp simd reduction(+ : acc)
                for (index_t i = i0; i < i1; ++i) acc += double(q[i]) * double(x[i]);
            } else {
#pragma omp simd reduction(+ : acc)
                for (index_t i = i0; i < i1; ++i)
                    acc += double(w[i]) * double(q[i]) * double(x[i]);
            }
            total += acc;
        }
        out[j] = total;
    }
}

template <class T>
void CpuBackend::eim_block_row(ConstMatView<T> R, ConstMatView<T> Qb, ConstMatView<T> Cb,
                               index_t i, MatView<T> c) const {
    const index_t N = R.cols, b = Qb.cols;
    require(Qb.rows == R.rows && Cb.rows == b && Cb.cols == N && i >= 0 && i < R.rows &&
            c.rows == 1 && c.cols == N)
        << "eim_block_row: shapes do not match";
    // entry j: R(i, j) - Qb(i, 0) Cb(0, j) - ... in the order of apply_terms
    for (index_t j = 0; j < N; ++j) {
        T v = R(i, j);
        for (index_t l = 0; l < b; ++l) {
            const T cl = Cb(l, j);
            if (cl != T(0)) v = v - cl * Qb(i, l);
        }
        c(0, j) = v;
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
    require_indices_in_range(rows, count, X.rows, "zero_rows", "row");
    for (index_t j = 0; j < X.cols; ++j)
        for (index_t r = 0; r < count; ++r) X(rows[r], j) = T(0);
}

template <class T>
void CpuBackend::set_entry(MatView<T> X, index_t i, index_t j, T value) const {
    require(i >= 0 && i < X.rows && j >= 0 && j < X.cols) << "set_entry: out of range";
    X(i, j) = value;
}

#define RANKWISE_INSTANTIATE_EIM(T)                                                         \
    template void CpuBackend::eim_block_errors<T>(MatView<T>, MatView<T>, ConstMatView<T>,  \
                                                  ConstMatView<T>, ConstMatView<T>, const T*, \
                                                  EimNorm, bool, double*, EimBounds*) const; \
    template bool CpuBackend::eim_block_max<T>(ConstMatView<T>, ConstMatView<T>,            \
                                               ConstMatView<T>, EimBounds&, double, double*, \
                                               index_t*) const;                             \
    template void CpuBackend::eim_block_column<T>(ConstMatView<T>, ConstMatView<T>,         \
                                                  ConstMatView<T>, index_t, MatView<T>) const; \
    template void CpuBackend::eim_block_row<T>(ConstMatView<T>, ConstMatView<T>,            \
                                               ConstMatView<T>, index_t, MatView<T>) const; \
    template void CpuBackend::eim_project<T>(ConstMatView<T>, const T*, const T*, double*)  \
        const;                                                                              \
    template void CpuBackend::eim_update_errors_rows<T>(MatView<T>, MatView<T>, const T*,   \
                                                        ConstMatView<T>, const T*, const T*, \
                                                        EimNorm, double*) const;     \
    template void CpuBackend::zero_rows<T>(MatView<T>, const index_t*, index_t) const;    \
    template void CpuBackend::set_entry<T>(MatView<T>, index_t, index_t, T) const;

RANKWISE_INSTANTIATE_EIM(float)
RANKWISE_INSTANTIATE_EIM(double)
#undef RANKWISE_INSTANTIATE_EIM

}  // namespace rankwise
