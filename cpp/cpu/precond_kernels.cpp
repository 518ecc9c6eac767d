// CPU backend, preconditioner kernels: SSOR sweeps, zero-fill incomplete Cholesky and the
// dense diagonal blocks of block Jacobi.
//
// Triangular sweeps are sequential in the row order (a level-scheduled or multicoloured
// version would change the preconditioner or need an analysis phase); the columns of a block
// of right-hand sides are swept in parallel.  Matrices are canonical CSR: sorted column
// indices, no duplicates, the diagonal stored (checked by the caller).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "isa.hpp"
#include "rankwise/cpu_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"

namespace rankwise {

// The sweeps are chains: row i needs w[i - 1] (v[i + 1] going up).  With the column scaling
// folded into C, each link is a single FMA; dividing by d_i inside the chain (13+ cycles of
// latency) made the sweeps 2.4x slower (the 5-point Laplacian, n = 1e4: 200 us -> 85 us).
template <class T, class I>
void CpuBackend::ssor_apply(const CsrView<T, I>& C, const T* d_inv, T scale, ConstMatView<T> R,
                            MatView<T> Z) const {
    const index_t n = C.rows;
    require(R.rows == n && Z.rows == n && R.cols == Z.cols) << "ssor_apply: shapes differ";
#pragma omp parallel for schedule(static) if (R.cols > 1)
    for (index_t j = 0; j < R.cols; ++j) {
        const T* r = R.col(j);
        T* z = Z.col(j);
        // w = (I + C_L)^-1 (scale r), i.e. w = D y with y = (D + omega L)^-1 (scale r)
        for (index_t i = 0; i < n; ++i) {
            T s = scale * r[i];
            for (index_t p = C.indptr[i]; p < C.indptr[i + 1] && C.indices[p] < i; ++p)
                s -= C.data[p] * z[C.indices[p]];
            z[i] = s;
        }
        // v = (I + C_U)^-1 w, in place from the last row up, i.e. v = D z
        for (index_t i = n - 1; i >= 0; --i) {
            T s = z[i];
            for (index_t p = C.indptr[i + 1] - 1; p >= C.indptr[i] && C.indices[p] > i; --p)
                s -= C.data[p] * z[C.indices[p]];
            z[i] = s;
        }
        for (index_t i = 0; i < n; ++i) z[i] *= d_inv[i];
    }
}

template <class T, class I>
bool CpuBackend::ic0_factor(const CsrView<T, I>& A, double shift, T* L) const {
    const index_t n = A.rows;
    std::vector<index_t> diag(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        index_t p = A.indptr[i];
        while (p < A.indptr[i + 1] && A.indices[p] < i) ++p;
        if (!(p < A.indptr[i + 1] && A.indices[p] == i))
            require(false) << "ic0: row " << i << " has no stored diagonal entry";
        diag[i] = p;
    }
    for (index_t i = 0; i < n; ++i) {
        const index_t row0 = A.indptr[i];
        // L_ik = (a_ik - sum_{j < k} L_ij L_kj) / L_kk over the pattern of A (IKJ order)
        for (index_t p = row0; p < diag[i]; ++p) {
            const index_t k = A.indices[p];
            double s = A.data[p];
            index_t a = row0, b = A.indptr[k];
            while (a < p && b < diag[k]) {
                const index_t ca = A.indices[a], cb = A.indices[b];
                if (ca == cb) {
                    s -= double(L[a]) * double(L[b]);
                    ++a;
                    ++b;
                } else if (ca < cb) {
                    ++a;
                } else {
                    ++b;
                }
            }
            L[p] = static_cast<T>(s / double(L[diag[k]]));
        }
        double s = double(A.data[diag[i]]) * (1.0 + shift);
        for (index_t p = row0; p < diag[i]; ++p) s -= double(L[p]) * double(L[p]);
        if (!(s > 0.0) || !std::isfinite(s)) return false;
        L[diag[i]] = static_cast<T>(std::sqrt(s));
    }
    return true;
}

// F[0, nnz) holds L; F[nnz, 2 nnz) gets L D^-1, F[2 nnz, 2 nnz + n) 1 / diag(L), and F[0, nnz)
// becomes D^-1 L (D = diag(L); only the strict lower entries of the two scaled copies are
// read by ic0_apply).
template <class T, class I>
void CpuBackend::ic0_sweep_form(const CsrView<T, I>& A, T* F) const {
    const index_t n = A.rows, nnz = A.indptr[n];
    T* row_scaled = F;
    T* col_scaled = F + nnz;
    T* d_inv = F + 2 * nnz;
    for (index_t i = 0; i < n; ++i) {
        index_t p = A.indptr[i];
        while (A.indices[p] < i) ++p;  // the diagonal (ic0_factor found it)
        d_inv[i] = T(1) / F[p];
    }
    for (index_t i = 0; i < n; ++i) {
        for (index_t p = A.indptr[i]; p < A.indptr[i + 1] && A.indices[p] < i; ++p) {
            col_scaled[p] = F[p] * d_inv[A.indices[p]];
            row_scaled[p] = F[p] * d_inv[i];
        }
    }
}

// Each link of the sweeps' dependency chains is one FMA (the scalings are in F, see
// ic0_sweep_form); a division by l_ii inside the chain made them about 1.8x slower.
template <class T, class I>
void CpuBackend::ic0_apply(const CsrView<T, I>& A, const T* F, ConstMatView<T> R,
                           MatView<T> Z) const {
    const index_t n = A.rows, nnz = A.indptr[n];
    require(R.rows == n && Z.rows == n && R.cols == Z.cols) << "ic0_apply: shapes differ";
    const T* row_scaled = F;
    const T* col_scaled = F + nnz;
    const T* d_inv = F + 2 * nnz;
#pragma omp parallel for schedule(static) if (R.cols > 1)
    for (index_t j = 0; j < R.cols; ++j) {
        const T* r = R.col(j);
        T* z = Z.col(j);
        // L y = r:  y_i = r_i / l_ii - sum over k < i of (l_ik / l_ii) y_k
        for (index_t i = 0; i < n; ++i) {
            T s = r[i] * d_inv[i];
            for (index_t p = A.indptr[i]; A.indices[p] < i; ++p)
                s -= row_scaled[p] * z[A.indices[p]];
            z[i] = s;
        }
        // L^T z = y, column-oriented over the rows of L:
        // z_k = y_k / l_kk - sum over i > k of (l_ik / l_kk) z_i
        for (index_t i = 0; i < n; ++i) z[i] *= d_inv[i];
        for (index_t i = n - 1; i >= 0; --i) {
            const T zi = z[i];
            for (index_t q = A.indptr[i]; A.indices[q] < i; ++q)
                z[A.indices[q]] -= col_scaled[q] * zi;
        }
    }
}

namespace {

// In place: the lower triangle of f (m x m, ld bs) -> its Cholesky factor L, sums in double.
// False if the block is not positive definite.
template <class T>
bool cholesky_lower(T* f, index_t m, index_t bs) {
    for (index_t j = 0; j < m; ++j) {
        double s = f[j + j * bs];
        for (index_t k = 0; k < j; ++k) s -= double(f[j + k * bs]) * double(f[j + k * bs]);
        if (!(s > 0.0) || !std::isfinite(s)) return false;
        const double d = std::sqrt(s);
        f[j + j * bs] = static_cast<T>(d);
        for (index_t i = j + 1; i < m; ++i) {
            double t = f[i + j * bs];
            for (index_t k = 0; k < j; ++k) t -= double(f[i + k * bs]) * double(f[j + k * bs]);
            f[i + j * bs] = static_cast<T>(t / d);
        }
    }
    return true;
}

// f (m x m, ld bs) = B^-1 = W^T W with W = L^-1, L the Cholesky factor in f's lower
// triangle; w: m x m scratch (ld m).  W^T W is symmetric positive semidefinite by
// construction, so the preconditioner stays SPD whatever the rounding.
template <class T>
void inverse_from_cholesky(T* f, index_t m, index_t bs, std::vector<double>& w) {
    w.assign(static_cast<std::size_t>(m * m), 0.0);
    for (index_t j = 0; j < m; ++j) {  // column j of W: L w_j = e_j, rows j.. nonzero
        w[j + j * m] = 1.0 / double(f[j + j * bs]);
        for (index_t i = j + 1; i < m; ++i) {
            double s = 0.0;
            for (index_t k = j; k < i; ++k) s -= double(f[i + k * bs]) * w[k + j * m];
            w[i + j * m] = s / double(f[i + i * bs]);
        }
    }
    for (index_t j = 0; j < m; ++j) {
        for (index_t i = j; i < m; ++i) {  // (W^T W)_ij = sum over k >= max(i, j) of w_ki w_kj
            double s = 0.0;
            for (index_t k = i; k < m; ++k) s += w[k + i * m] * w[k + j * m];
            f[i + j * bs] = f[j + i * bs] = static_cast<T>(s);
        }
    }
}

}  // namespace

template <class T, class I>
index_t CpuBackend::block_jacobi_factor(const CsrView<T, I>& A, index_t bs, T* F) const {
    const index_t n = A.rows, nb = (n + bs - 1) / bs;
    index_t failed = -1;
#pragma omp parallel
    {
        std::vector<double> w;
#pragma omp for schedule(dynamic, 16)
        for (index_t b = 0; b < nb; ++b) {
            const index_t i0 = b * bs, m = std::min(bs, n - i0);
            T* f = F + b * bs * bs;
            std::fill(f, f + bs * bs, T(0));
            for (index_t i = i0; i < i0 + m; ++i)
                for (index_t p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
                    const index_t c = A.indices[p];
                    if (c >= i0 && c < i0 + m) f[(i - i0) + (c - i0) * bs] = A.data[p];
                }
            if (cholesky_lower(f, m, bs)) {
                inverse_from_cholesky(f, m, bs, w);
            } else {
#pragma omp critical
                failed = failed < 0 ? b : std::min(failed, b);
            }
        }
    }
    return failed;
}

namespace {

// z (m) = B^-1 r with B^-1 m x m (ld bs): a dense product, columns of independent FMAs that
// vectorize, where two triangular solves were chains of dependent operations (625 blocks of
// 16: 0.34 ms per application as solves against 0.09 ms for a whole Jacobi-PCG iteration).
template <class T>
inline __attribute__((always_inline)) void block_times_body(const T* __restrict f, index_t m,
                                                            index_t bs, const T* __restrict r,
                                                            T* __restrict z) {
    for (index_t i = 0; i < m; ++i) z[i] = T(0);
    for (index_t k = 0; k < m; ++k) {
        const T rk = r[k];
        const T* __restrict col = f + k * bs;
        for (index_t i = 0; i < m; ++i) z[i] += col[i] * rk;
    }
}
RANKWISE_ISA_CLONES void block_times(const float* f, index_t m, index_t bs, const float* r,
                                     float* z) {
    block_times_body(f, m, bs, r, z);
}
RANKWISE_ISA_CLONES void block_times(const double* f, index_t m, index_t bs, const double* r,
                                     double* z) {
    block_times_body(f, m, bs, r, z);
}

}  // namespace

template <class T>
void CpuBackend::block_jacobi_apply(index_t bs, const T* F, ConstMatView<T> R,
                                    MatView<T> Z) const {
    require(R.rows == Z.rows && R.cols == Z.cols) << "block_jacobi_apply: shapes differ";
    const index_t n = R.rows, nb = (n + bs - 1) / bs;
#pragma omp parallel for schedule(static) if (n * R.cols >= 8192)
    for (index_t b = 0; b < nb; ++b) {
        const index_t i0 = b * bs, m = std::min(bs, n - i0);
        for (index_t j = 0; j < R.cols; ++j)
            block_times(F + b * bs * bs, m, bs, R.col(j) + i0, Z.col(j) + i0);
    }
}

#define RANKWISE_INSTANTIATE_PRECOND(T, I)                                                  \
    template void CpuBackend::ssor_apply<T, I>(const CsrView<T, I>&, const T*, T,            \
                                               ConstMatView<T>, MatView<T>) const;          \
    template bool CpuBackend::ic0_factor<T, I>(const CsrView<T, I>&, double, T*) const;     \
    template void CpuBackend::ic0_sweep_form<T, I>(const CsrView<T, I>&, T*) const;          \
    template void CpuBackend::ic0_apply<T, I>(const CsrView<T, I>&, const T*,                \
                                              ConstMatView<T>, MatView<T>) const;           \
    template index_t CpuBackend::block_jacobi_factor<T, I>(const CsrView<T, I>&, index_t, T*) \
        const;

RANKWISE_INSTANTIATE_PRECOND(float, std::int32_t)
RANKWISE_INSTANTIATE_PRECOND(float, std::int64_t)
RANKWISE_INSTANTIATE_PRECOND(double, std::int32_t)
RANKWISE_INSTANTIATE_PRECOND(double, std::int64_t)
#undef RANKWISE_INSTANTIATE_PRECOND

template void CpuBackend::block_jacobi_apply<float>(index_t, const float*, ConstMatView<float>,
                                                    MatView<float>) const;
template void CpuBackend::block_jacobi_apply<double>(index_t, const double*,
                                                     ConstMatView<double>, MatView<double>) const;

template <class T>
bool CpuBackend::solve_right_cholesky(MatView<T> G, MatView<T> B) const {
    require(G.rows == G.cols && B.cols == G.rows) << "solve_right_cholesky: shapes differ";
    const int l = static_cast<int>(G.rows);
    if (l == 0) return true;
    if (lapack::potrf<T>('U', l, G.data, static_cast<int>(G.ld)) != 0) return false;
    lapack::trsm<T>('R', 'U', 'N', 'N', static_cast<int>(B.rows), l, T(1), G.data,
                    static_cast<int>(G.ld), B.data, static_cast<int>(B.ld));
    return true;
}
template bool CpuBackend::solve_right_cholesky<float>(MatView<float>, MatView<float>) const;
template bool CpuBackend::solve_right_cholesky<double>(MatView<double>, MatView<double>) const;

}  // namespace rankwise
