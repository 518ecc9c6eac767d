// CUDA backend, CG primitives (algo/cg.hpp): fused vector updates and column reductions.
// Per-column scalars arrive in host memory (the contract of the CPU backend) and travel with
// each launch (cuda::ColumnArgument); the reductions come back to the host.
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
void CudaBackend::scale_rows(const T* d, ConstMatView<T> X, MatView<T> Y) const {
    require(X.rows == Y.rows && X.cols == Y.cols) << "scale_rows: shapes differ";
    cuda::for_each_entry(stream_, X.rows, X.cols,
                         [=] __device__(index_t i, index_t j) { Y(i, j) = d[i] * X(i, j); });
}

template <class T>
void CudaBackend::invert_positive_diagonal(const T* d, MatView<T> inv) const {
    const index_t n = inv.rows;
    // One pass writes 1 / d_i and finds the first bad entry: the largest n - i over them
    // (0 where every entry is good).
    const auto worst = cuda::reduce_columns<cuda::MaxOp>(
        stream_, n, 1, [=] __device__(index_t i, index_t) {
            const T v = d[i];
            inv(i, 0) = T(1) / v;
            return v > T(0) && isfinite(v) ? 0.0 : double(n - i);
        });
    if (n == 0 || worst[0] < 1) return;
    const index_t i = n - static_cast<index_t>(worst[0]);
    const T v = to_host(d + i, 1)[0];
    require(false) << "A has diagonal entry A[" << i << ", " << i << "] = " << v
                   << "; a symmetric positive definite matrix has a positive, finite diagonal, "
                      "so the Jacobi preconditioner is undefined";  // as rankwise.precond.jacobi
}

template <class T>
void CudaBackend::cg_update_p(const T* beta, const T* d, ConstMatView<T> Z, MatView<T> P,
                              const std::uint8_t* active) const {
    require(Z.rows == P.rows && Z.cols == P.cols) << "cg_update_p: shapes differ";
    const cuda::ColumnArgument<T> b(beta, P.cols, stream_);
    const cuda::ColumnArgument<std::uint8_t> on(active, P.cols, stream_);
    const auto bd = b.get();
    const auto act = on.get();
    cuda::for_each_entry(stream_, P.rows, P.cols, [=] __device__(index_t i, index_t j) {
        if (!act[j]) return;
        const T z = d != nullptr ? d[i] * Z(i, j) : Z(i, j);
        P(i, j) = z + bd[j] * P(i, j);
    });
}

namespace {

// x_ij += alpha p_ij, r_ij -= alpha q_ij; the new r_ij
template <class T>
__device__ double update_xr_entry(T alpha, ConstMatView<T> P, ConstMatView<T> Q, MatView<T> X,
                                  MatView<T> R, index_t i, index_t j) {
    X(i, j) += alpha * P(i, j);
    const T r = R(i, j) - alpha * Q(i, j);
    R(i, j) = r;
    return double(r);
}

}  // namespace

template <class T>
void CudaBackend::cg_update_xr(const T* alpha, ConstMatView<T> P, ConstMatView<T> Q, MatView<T> X,
                               MatView<T> R, const T* d, const std::uint8_t* active, double* rr,
                               double* rz) const {
    const index_t n = R.rows, s = R.cols;
    require(P.rows == n && Q.rows == n && X.rows == n && P.cols == s && Q.cols == s &&
            X.cols == s)
        << "cg_update_xr: shapes differ";
    const cuda::ColumnArgument<T> a(alpha, s, stream_);
    const cuda::ColumnArgument<std::uint8_t> on(active, s, stream_);
    const auto al = a.get();
    const auto act = on.get();
    // One pass updates x and r and reduces ||r||^2, and with a diagonal M also the next
    // rho = r.(d .* r) (the CPU's order of operations, r r d)
    if (d == nullptr) {
        const auto rr_sums = cuda::reduce_columns<cuda::SumOp>(
            stream_, n, s, [=] __device__(index_t i, index_t j) {
                if (!act[j]) return 0.0;
                const double r = update_xr_entry(al[j], P, Q, X, R, i, j);
                return r * r;
            });
        for (index_t j = 0; j < s; ++j)
            if (active[j]) rr[j] = rr_sums[j];
        return;
    }
    const auto sums = cuda::reduce_columns<cuda::PairSumOp>(
        stream_, n, s, [=] __device__(index_t i, index_t j) {
            if (!act[j]) return cuda::SumPair{0.0, 0.0};
            const double r = update_xr_entry(al[j], P, Q, X, R, i, j);
            return cuda::SumPair{r * r, r * r * double(d[i])};
        });
    for (index_t j = 0; j < s; ++j) {
        if (!active[j]) continue;
        rr[j] = sums[j].first;
        rz[j] = sums[j].second;
    }
}

#define RANKWISE_INSTANTIATE_CG(T)                                                             \
    template void CudaBackend::axpby<T>(T, ConstMatView<T>, T, MatView<T>) const;              \
    template void CudaBackend::column_dots<T>(ConstMatView<T>, ConstMatView<T>, double*) const; \
    template void CudaBackend::scale_rows<T>(const T*, ConstMatView<T>, MatView<T>) const;     \
    template void CudaBackend::invert_positive_diagonal<T>(const T*, MatView<T>) const;        \
    template void CudaBackend::cg_update_p<T>(const T*, const T*, ConstMatView<T>, MatView<T>, \
                                              const std::uint8_t*) const;                      \
    template void CudaBackend::cg_update_xr<T>(const T*, ConstMatView<T>, ConstMatView<T>,     \
                                               MatView<T>, MatView<T>, const T*,               \
                                               const std::uint8_t*, double*, double*) const;

RANKWISE_INSTANTIATE_CG(float)
RANKWISE_INSTANTIATE_CG(double)
#undef RANKWISE_INSTANTIATE_CG

}  // namespace rankwise
