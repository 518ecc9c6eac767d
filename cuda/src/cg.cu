// CUDA backend, CG primitives (algo/cg.hpp): fused vector updates and column reductions.
// Per-column scalars arrive in host memory (the contract of the CPU backend) and travel with
// each launch (cuda::ColumnArgument); the step along p reads p.q where the product left it,
// on the device, and brings it back with the residual sums: one sync per iteration.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.cuh"
#include "rankwise/cuda_backend.hpp"

namespace rankwise {

template <class T>
void CudaBackend::axpby(T alpha, ConstMatView<T> X, T beta, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "axpby: shapes differ";
    if (beta == T(0)) {
        cuda::for_each_entry(stream_, X.rows, X.cols,
                             [=] __device__(index_t i, index_t j) { Y(i, j) = alpha * X(i, j); });
    } else {
        cuda::for_each_entry(stream_, X.rows, X.cols, [=] __device__(index_t i, index_t j) {
            Y(i, j) = alpha * X(i, j) + beta * Y(i, j);
        });
    }
}

template <class T>
void CudaBackend::column_dots(ConstMatView<T> X, ConstMatView<T> Y, double* out) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "column_dots: shapes differ";
    const auto dots = cuda::reduce_columns<cuda::SumOp>(
        stream_, X.rows, X.cols,
        [=] __device__(index_t i, index_t j) { return double(X(i, j)) * double(Y(i, j)); });
    for (index_t j = 0; j < X.cols; ++j) out[j] = dots[j];
}

template <class T>
void CudaBackend::column_dots_stored(ConstMatView<T> X, ConstMatView<T> Y, double* out) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "column_dots_stored: shapes differ";
    cuda::reduce_columns_to<cuda::SumOp>(
        stream_, X.rows, X.cols,
        [=] __device__(index_t i, index_t j) { return double(X(i, j)) * double(Y(i, j)); },
        out);
}

namespace {

// The diagonal's kernels are compiled once per storage (Coded == d.coded()), so that their
// loops do not branch on it.
template <bool Coded, class T>
void scale(cudaStream_t stream, DiagonalView<T> d, ConstMatView<T> X, MatView<T> Y) {
    cuda::for_each_entry(stream, X.rows, X.cols, [=] __device__(index_t i, index_t j) {
        Y(i, j) = d.template at<Coded>(i) * X(i, j);
    });
}

// The largest n - i over the entries d_i that are not positive and finite (0 if none);
// plain d: inv_i = 1 / d_i on the way.
template <bool Coded, class T>
double first_bad_entry(cudaStream_t stream, DiagonalView<T> d, index_t n, T* inv) {
    return cuda::reduce_columns<cuda::MaxOp>(stream, n, 1, [=] __device__(index_t i, index_t) {
        const T v = d.template at<Coded>(i);
        T* const out = inv;  // (captured outside the if constexpr, as nvcc requires)
        if constexpr (!Coded) out[i] = T(1) / v;
        return v > T(0) && isfinite(v) ? 0.0 : double(n - i);
    })[0];
}

template <bool Coded, class T>
void update_p(cudaStream_t stream, cuda::ColumnScalars<T> beta,
              cuda::ColumnScalars<std::uint8_t> active, DiagonalView<T> d, ConstMatView<T> Z,
              MatView<T> P) {
    const bool diagonal = !d.empty();
    cuda::for_each_entry(stream, P.rows, P.cols, [=] __device__(index_t i, index_t j) {
        if (!active[j]) return;
        const T z = diagonal ? d.template at<Coded>(i) * Z(i, j) : Z(i, j);
        P(i, j) = z + beta[j] * P(i, j);
    });
}

// x_ij += alpha p_ij, r_ij -= alpha q_ij; the new r_ij
template <class T>
__device__ double update_xr_entry(T alpha, ConstMatView<T> P, ConstMatView<T> Q, MatView<T> X,
                                  MatView<T> R, index_t i, index_t j) {
    X(i, j) += alpha * P(i, j);
    const T r = R(i, j) - alpha * Q(i, j);
    R(i, j) = r;
    return double(r);
}

// The columns that step along p (active, p.q positive and finite: steps[j] = 1) and their
// step lengths alpha_j = T(rho_j / pq_j), on the device, where p.q is; p.q copied to
// pq_copy, beside the sums that go to the host with it.
template <class T>
void step_lengths(cudaStream_t stream, cuda::ColumnScalars<double> rho,
                  cuda::ColumnScalars<std::uint8_t> active, const double* pq, index_t s, T* alpha,
                  std::uint8_t* steps, double* pq_copy) {
    cuda::for_each_entry(stream, s, 1, [=] __device__(index_t j, index_t) {
        const double p = pq[j];
        const bool go = active[j] && p > 0 && isfinite(p);
        steps[j] = go;
        alpha[j] = go ? T(rho[j] / p) : T(0);
        pq_copy[j] = p;
    });
}

// ||r||^2 of each column (first) and r.(d .* r) (second) from the pass that steps x and r
// (the CPU's order of operations, r r d); an empty d leaves second 0
template <bool Coded, class T>
void step_xr(cudaStream_t stream, const T* alpha, const std::uint8_t* steps, ConstMatView<T> P,
             ConstMatView<T> Q, MatView<T> X, MatView<T> R, DiagonalView<T> d,
             cuda::SumPair* sums) {
    const bool diagonal = !d.empty();
    cuda::reduce_columns_to<cuda::PairSumOp>(
        stream, R.rows, R.cols,
        [=] __device__(index_t i, index_t j) {
            if (!steps[j]) return cuda::SumPair{0.0, 0.0};
            const double r = update_xr_entry(alpha[j], P, Q, X, R, i, j);
            return cuda::SumPair{r * r, diagonal ? r * r * double(d.template at<Coded>(i)) : 0.0};
        },
        sums);
}

}  // namespace

template <class T>
void CudaBackend::scale_rows(DiagonalView<T> d, ConstMatView<T> X, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "scale_rows: shapes differ";
    if (d.coded()) {
        scale<true>(stream_, d, X, Y);
    } else {
        scale<false>(stream_, d, X, Y);
    }
}

template <class T>
void CudaBackend::invert_positive_diagonal(DiagonalView<T> d, index_t n, MatView<T> inv) const {
    // One pass over the n entries finds the first bad one: the largest n - i over them (0
    // where every entry is good).  A plain d is inverted in the same pass (inv: n entries);
    // a coded one by its table (inv: an entry per table entry; cuda_dia.hpp pads the table).
    double worst = 0;
    if (d.coded()) {
        worst = first_bad_entry<true>(stream_, d, n, inv.data);
        const T* table = d.table;
        cuda::for_each_entry(stream_, inv.rows, 1, [=] __device__(index_t c, index_t) {
            inv(c, 0) = T(1) / table[c];
        });
    } else {
        require(inv.rows == n) << "invert_positive_diagonal: inv must have n entries";
        worst = first_bad_entry<false>(stream_, d, n, inv.data);
    }
    if (n == 0 || worst < 1) return;
    const index_t i = n - static_cast<index_t>(worst);
    const T v = d.coded() ? to_host(d.table + to_host(d.codes + i, 1)[0], 1)[0]
                          : to_host(d.values + i, 1)[0];
    require(false) << "A has diagonal entry A[" << i << ", " << i << "] = " << v
                   << "; a symmetric positive definite matrix has a positive, finite diagonal, "
                      "so the Jacobi preconditioner is undefined";  // as rankwise.precond.jacobi
}

template <class T>
void CudaBackend::cg_update_p(const T* beta, DiagonalView<T> d, ConstMatView<T> Z, MatView<T> P,
                              const std::uint8_t* active) const {
    require(Z.rows == P.rows && Z.cols == P.cols) << "cg_update_p: shapes differ";
    const cuda::ColumnArgument<T> b(beta, P.cols, stream_);
    const cuda::ColumnArgument<std::uint8_t> on(active, P.cols, stream_);
    if (d.coded()) {
        update_p<true>(stream_, b.get(), on.get(), d, Z, P);
    } else {
        update_p<false>(stream_, b.get(), on.get(), d, Z, P);
    }
}

template <class T>
void CudaBackend::cg_update_xr(const double* rho, const double* pq, ConstMatView<T> P,
                               ConstMatView<T> Q, MatView<T> X, MatView<T> R, DiagonalView<T> d,
                               const std::uint8_t* active, double* pq_host, double* rr,
                               double* rz) const {
    const index_t n = R.rows, s = R.cols;
    require(P.rows == n && Q.rows == n && X.rows == n && P.cols == s && Q.cols == s &&
            X.cols == s)
        << "cg_update_xr: shapes differ";
    if (s == 0) return;
    const cuda::ColumnArgument<double> rho_arg(rho, s, stream_);
    const cuda::ColumnArgument<std::uint8_t> active_arg(active, s, stream_);
    auto alpha = matrix<T>(s, 1);
    auto steps = matrix<std::uint8_t>(s, 1);
    // what comes back, in one copy: s SumPairs (||r||^2, r.Mr), then p.q
    auto results = matrix<double>(3 * s, 1);
    auto* pairs = reinterpret_cast<cuda::SumPair*>(results.data());
    double* pq_copy = results.data() + 2 * s;
    step_lengths(stream_, rho_arg.get(), active_arg.get(), pq, s, alpha.data(), steps.data(),
                 pq_copy);
    // one pass steps x and r and reduces ||r||^2, and with a diagonal M the next rho
    if (d.coded()) {
        step_xr<true>(stream_, alpha.data(), steps.data(), P, Q, X, R, d, pairs);
    } else {
        step_xr<false>(stream_, alpha.data(), steps.data(), P, Q, X, R, d, pairs);
    }
    std::vector<double> host(static_cast<std::size_t>(3 * s));
    cuda::check(cudaMemcpyAsync(host.data(), results.data(), sizeof(double) * host.size(),
                                cudaMemcpyDeviceToHost, stream_),
                "cudaMemcpyAsync (CG's step results to the host)");
    synchronize();
    std::copy(host.begin() + 2 * s, host.end(), pq_host);
    for (index_t j = 0; j < s; ++j) {
        if (!(active[j] && pq_host[j] > 0 && std::isfinite(pq_host[j]))) continue;  // as steps
        rr[j] = host[2 * j];
        if (!d.empty()) rz[j] = host[2 * j + 1];
    }
}

#define RANKWISE_INSTANTIATE_CG(T)                                                             \
    template void CudaBackend::axpby<T>(T, ConstMatView<T>, T, MatView<T>) const;              \
    template void CudaBackend::column_dots<T>(ConstMatView<T>, ConstMatView<T>, double*) const; \
    template void CudaBackend::column_dots_stored<T>(ConstMatView<T>, ConstMatView<T>, double*) \
        const;                                                                                 \
    template void CudaBackend::scale_rows<T>(DiagonalView<T>, ConstMatView<T>, MatView<T>)     \
        const;                                                                                 \
    template void CudaBackend::invert_positive_diagonal<T>(DiagonalView<T>, index_t,           \
                                                           MatView<T>) const;                  \
    template void CudaBackend::cg_update_p<T>(const T*, DiagonalView<T>, ConstMatView<T>,      \
                                              MatView<T>, const std::uint8_t*) const;          \
    template void CudaBackend::cg_update_xr<T>(const double*, const double*, ConstMatView<T>,  \
                                               ConstMatView<T>, MatView<T>, MatView<T>,        \
                                               DiagonalView<T>, const std::uint8_t*, double*,  \
                                               double*, double*) const;

RANKWISE_INSTANTIATE_CG(float)
RANKWISE_INSTANTIATE_CG(double)
#undef RANKWISE_INSTANTIATE_CG

}  // namespace rankwise
