// The SVD of the CUDA backend's small factor (CudaBackend::svd: W = Q R, then R's SVD) and the
// ways to take it, which cuda::set_small_svd chooses (rankwise/cuda_backend.hpp).  An l x l
// SVD with l = k + p = 266 took 12-13 ms of a 57-60 ms dense randomized SVD on an H200
// (session 22: LAPACK's gesdd on the host 13.4 ms in float64, cuSOLVER's gesvdj 11.8 in
// float32), where the six GEMM passes took about 45: the ways below are measured against
// each other by bench/gpu_small_svd.py.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels.cuh"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/lapack.hpp"
#include "small_svd.cuh"

namespace rankwise::cuda {

namespace {

// --- typed entry points of cuSOLVER's SVDs (float / double)

cusolverStatus_t gesvd_size(cusolverDnHandle_t h, int m, int n, float*, int* lwork) {
    return cusolverDnSgesvd_bufferSize(h, m, n, lwork);
}
cusolverStatus_t gesvd_size(cusolverDnHandle_t h, int m, int n, double*, int* lwork) {
    return cusolverDnDgesvd_bufferSize(h, m, n, lwork);
}
cusolverStatus_t gesvd(cusolverDnHandle_t h, int m, int n, float* A, int lda, float* s, float* U,
                       int ldu, float* Vt, int ldvt, float* w, int lw, int* info) {
    return cusolverDnSgesvd(h, 'S', 'S', m, n, A, lda, s, U, ldu, Vt, ldvt, w, lw, nullptr, info);
}
cusolverStatus_t gesvd(cusolverDnHandle_t h, int m, int n, double* A, int lda, double* s,
                       double* U, int ldu, double* Vt, int ldvt, double* w, int lw, int* info) {
    return cusolverDnDgesvd(h, 'S', 'S', m, n, A, lda, s, U, ldu, Vt, ldvt, w, lw, nullptr, info);
}

cusolverStatus_t gesvdj_size(cusolverDnHandle_t h, int n, const float* A, const float* S,
                             const float* U, const float* V, int* lwork, gesvdjInfo_t p) {
    return cusolverDnSgesvdj_bufferSize(h, CUSOLVER_EIG_MODE_VECTOR, 0, n, n, A, n, S, U, n, V,
                                        n, lwork, p);
}
cusolverStatus_t gesvdj_size(cusolverDnHandle_t h, int n, const double* A, const double* S,
                             const double* U, const double* V, int* lwork, gesvdjInfo_t p) {
    return cusolverDnDgesvdj_bufferSize(h, CUSOLVER_EIG_MODE_VECTOR, 0, n, n, A, n, S, U, n, V,
                                        n, lwork, p);
}
cusolverStatus_t gesvdj(cusolverDnHandle_t h, int n, float* A, float* S, float* U, float* V,
                        float* w, int lw, int* info, gesvdjInfo_t p) {
    return cusolverDnSgesvdj(h, CUSOLVER_EIG_MODE_VECTOR, 0, n, n, A, n, S, U, n, V, n, w, lw,
                             info, p);
}
cusolverStatus_t gesvdj(cusolverDnHandle_t h, int n, double* A, double* S, double* U, double* V,
                        double* w, int lw, int* info, gesvdjInfo_t p) {
    return cusolverDnDgesvdj(h, CUSOLVER_EIG_MODE_VECTOR, 0, n, n, A, n, S, U, n, V, n, w, lw,
                             info, p);
}

// gesvdj's parameter object (its defaults: tolerance at machine precision, 100 sweeps),
// destroyed at scope end; p stays null where it cannot be created.
struct JacobiParams {
    gesvdjInfo_t p = nullptr;
    JacobiParams() {
        if (cusolverDnCreateGesvdjInfo(&p) != CUSOLVER_STATUS_SUCCESS) p = nullptr;
    }
    ~JacobiParams() {
        if (p != nullptr) cusolverDnDestroyGesvdjInfo(p);
    }
    JacobiParams(const JacobiParams&) = delete;
    JacobiParams& operator=(const JacobiParams&) = delete;
};

// ||X^T X - I||_F^2 for the n x n X (one GEMM; G is scratch).
template <class T>
double orthogonality2(const CudaBackend& be, ConstMatView<T> X, MatView<T> G) {
    be.gemm(Trans::Yes, Trans::No, T(1), X, X, T(0), G);
    const index_t ld = G.ld;
    T* g = G.data;
    cuda::for_each_entry(be.stream(), G.rows, 1,
                         [=] __device__(index_t i, index_t) { g[i + i * ld] -= T(1); });
    return be.sum_squares(ConstMatView<T>(G));
}

// Whether R = Ur diag(s) V^T (R, Ur, V: n x n) holds as a backward-stable SVD would: the
// singular values finite, non-negative and descending; ||R V - Ur diag(s)||_F within tol
// ||R||_F and ||Ur^T Ur - I||_F, ||V^T V - I||_F within tol, tol = 100 n eps.  Three GEMMs
// and three host round trips.
template <class T>
bool checked_svd(const CudaBackend& be, ConstMatView<T> R, ConstMatView<T> Ur,
                 const std::vector<T>& s, ConstMatView<T> V) {
    const index_t n = R.cols;
    for (index_t i = 0; i < n; ++i)
        if (!(std::isfinite(s[i]) && s[i] >= T(0) && (i == 0 || s[i] <= s[i - 1]))) return false;
    const double tol = 100.0 * double(n) * std::numeric_limits<T>::epsilon();
    auto RV = be.matrix<T>(n, n), US = be.matrix<T>(n, n);
    be.gemm(Trans::No, Trans::No, T(1), R, V, T(0), RV.view());
    be.scale_columns(Ur, s.data(), US.view());
    be.add_scaled(ConstMatView<T>(US.view()), T(-1), RV.view());
    const double residual2 = be.sum_squares(ConstMatView<T>(RV.view()));
    if (!(residual2 <= tol * tol * be.sum_squares(R))) return false;
    if (!(orthogonality2(be, Ur, RV.view()) <= tol * tol)) return false;
    return orthogonality2(be, V, RV.view()) <= tol * tol;
}

// A device SVD of R (singular values sd, right vectors V; Ur written) as checked_svd judges
// it: s (host) and Vt = V^T where it passes; false otherwise.
template <class T>
bool take_checked_svd(const CudaBackend& be, ConstMatView<T> R, MatView<T> Ur,
                      const DeviceMatrix<T>& sd, const DeviceMatrix<T>& V, std::vector<T>& s,
                      MatView<T> Vt) {
    s = be.to_host(sd.data(), R.cols);
    if (!checked_svd(be, R, ConstMatView<T>(Ur), s, ConstMatView<T>(V.view()))) return false;
    be.transpose(ConstMatView<T>(V.view()), Vt);
    return true;
}

// R = Ur diag(s) Vt (R: n x n, Ur with leading dimension n) by cuSOLVER's Jacobi SVD on a
// copy of R.  cuSOLVER's gesvd runs its bidiagonal QR loop as hundreds of tiny kernels with
// host round trips: 7.3 ms for n = 74 and 25 ms for n = 266 in float32 on an H200, where
// gesvdj took 2.2 and 12 ms (through torch; bench/gpu_small_svd.py, 2026-11-26).  The
// result is checked (checked_svd) before it is used; false (nothing usable) where gesvdj
// fails or the check does.
template <class T>
bool jacobi_svd(const CudaBackend& be, ConstMatView<T> R, MatView<T> Ur, std::vector<T>& s,
                MatView<T> Vt) {
    const index_t n = R.cols;
    const int ni = solver_int(n, "columns");
    const auto& lib = cuda::libraries(be.stream());
    const JacobiParams params;
    if (params.p == nullptr || Ur.ld != n) return false;
    auto A = be.matrix<T>(n, n), V = be.matrix<T>(n, n), sd = be.matrix<T>(n, 1);
    be.copy(R, A.view());
    int lw = 0;
    if (gesvdj_size(lib.solver, ni, A.data(), sd.data(), Ur.data, V.data(), &lw, params.p) !=
        CUSOLVER_STATUS_SUCCESS)
        return false;
    auto work = be.matrix<T>(std::max(lw, 1), 1);
    auto info = be.matrix<int>(1, 1);
    if (gesvdj(lib.solver, ni, A.data(), sd.data(), Ur.data, V.data(), work.data(), lw,
               info.data(), params.p) != CUSOLVER_STATUS_SUCCESS ||
        read_info(info, be.stream()) != 0)
        return false;
    return take_checked_svd(be, R, Ur, sd, V, s, Vt);
}

// Largest R whose SVD runs on the host (float32; float64 always does).  Median ms on an H200
// with its 16-core Xeon (bench/gpu_small_svd.py, 2026-11-27), l = 74 / 266: LAPACK gesdd
// with both copies 0.95 / 14.4 (float32) and 1.33 / 13.4 (float64); cuSOLVER gesvdj
// 1.95 / 11.8 and 3.26 / 20.5; gesvd 5.3 / 19.7 and 6.9 / 21.6.
constexpr index_t kHostSvdMaxColsFloat = 128;

// R = Ur diag(s) Vt (R: a contiguous n x n device matrix, Ur with leading dimension n) by
// LAPACK's gesdd (gesvd where it does not converge) on a host copy; the factors are copied
// back.
template <class T>
void host_svd(const CudaBackend& be, const DeviceMatrix<T>& R, MatView<T> Ur,
              std::vector<T>& s, MatView<T> Vt) {
    const index_t n = R.cols();
    const int ni = solver_int(n, "columns");
    std::vector<T> a = be.to_host(R.data(), n * n);
    std::vector<T> u(static_cast<std::size_t>(n * n)), vt(u.size());
    s.assign(static_cast<std::size_t>(n), T(0));
    lapack::thin_svd<T>(ni, ni, a.data(), ni, s.data(), u.data(), ni, vt.data(), ni, true);
    be.from_host(u.data(), Ur);
    be.from_host(vt.data(), Vt);
}

// R = Ur diag(s) Vt by cuSOLVER's gesvd (bidiagonal QR) on R itself, which it destroys;
// LapackError where it does not converge.
template <class T>
void qr_svd(const CudaBackend& be, DeviceMatrix<T>& R, MatView<T> Ur, std::vector<T>& s,
            MatView<T> Vt) {
    const index_t n = R.cols();
    const int ni = solver_int(n, "columns"), ldvt = solver_int(Vt.ld, "rows of Vt");
    const int ldu = solver_int(Ur.ld, "rows of U");
    const auto& lib = cuda::libraries(be.stream());
    int lw = 0;
    check(gesvd_size(lib.solver, ni, ni, R.data(), &lw), "gesvd_bufferSize");
    auto work = be.matrix<T>(std::max(lw, 1), 1);
    auto sd = be.matrix<T>(n, 1);
    auto info = be.matrix<int>(1, 1);
    check(gesvd(lib.solver, ni, ni, R.data(), ni, sd.data(), Ur.data, ldu, Vt.data, ldvt,
                work.data(), lw, info.data()),
          "gesvd");
    const int status = read_info(info, be.stream());
    if (status != 0)
        throw LapackError("SVD did not converge on the device (gesvd info = " +
                          std::to_string(status) + ")");
    s = be.to_host(sd.data(), n);
}

// R = Ur diag(s) Vt by cuSOLVER's polar-decomposition SVD (cusolverDnXgesvdp: R = U_p H by
// QDWH iterations, then the eigendecomposition of H by syevd; Nakatsukasa & Higham, SISC
// 2013) on a copy of R: GEMMs and factorizations of n x n blocks, where gesvd's bidiagonal
// QR runs as hundreds of tiny kernels.  Where R is nearly singular gesvdp perturbs it, so the
// result is checked (checked_svd); false (nothing usable) where it fails or the check does.
template <class T>
bool polar_svd(const CudaBackend& be, ConstMatView<T> R, MatView<T> Ur, std::vector<T>& s,
               MatView<T> Vt) {
    const index_t n = R.cols;
    if (Ur.ld != n) return false;
    const auto& lib = cuda::libraries(be.stream());
    const SolverParams params;
    auto A = be.matrix<T>(n, n), V = be.matrix<T>(n, n), sd = be.matrix<T>(n, 1);
    be.copy(R, A.view());
    constexpr cudaDataType t = data_type<T>();
    std::size_t device_bytes = 0, host_bytes = 0;
    if (cusolverDnXgesvdp_bufferSize(lib.solver, params.get(), CUSOLVER_EIG_MODE_VECTOR, 1, n, n,
                                     t, A.data(), n, t, sd.data(), t, Ur.data, n, t, V.data(),
                                     n, t, &device_bytes, &host_bytes) != CUSOLVER_STATUS_SUCCESS)
        return false;
    auto work = be.matrix<char>(static_cast<index_t>(std::max<std::size_t>(device_bytes, 1)), 1);
    std::vector<char> host_work(std::max<std::size_t>(host_bytes, 1));
    auto info = be.matrix<int>(1, 1);
    double perturbation = 0;  // (gesvdp's h_err_sigma; the check below judges the result)
    if (cusolverDnXgesvdp(lib.solver, params.get(), CUSOLVER_EIG_MODE_VECTOR, 1, n, n, t,
                          A.data(), n, t, sd.data(), t, Ur.data, n, t, V.data(), n, t,
                          work.data(), device_bytes, host_work.data(), host_bytes, info.data(),
                          &perturbation) != CUSOLVER_STATUS_SUCCESS ||
        read_info(info, be.stream()) != 0)
        return false;
    return take_checked_svd(be, R, Ur, sd, V, s, Vt);
}

// G = X diag(lambda) X^T for the symmetric n x n G (float64, contiguous, upper triangle
// read): G is overwritten by X, lambda (host, n values) ascending.  By cuSOLVER's syevd, or
// with on_host by LAPACK's on a host copy (X copied back).  false where syevd fails.
bool symmetric_eig(const CudaBackend& be, MatView<double> G, bool on_host,
                   std::vector<double>& lambda) {
    const index_t n = G.cols;
    if (on_host) {
        std::vector<double> g = be.to_host(G.data, n * n);
        lambda.assign(static_cast<std::size_t>(n), 0.0);
        const int ni = solver_int(n, "columns");
        if (lapack::syevd_vectors<double>('U', ni, g.data(), ni, lambda.data()) != 0)
            return false;
        be.from_host(g.data(), G);
        return true;
    }
    const auto& lib = cuda::libraries(be.stream());
    const SolverParams params;
    auto values = be.matrix<double>(n, 1);
    std::size_t device_bytes = 0, host_bytes = 0;
    if (cusolverDnXsyevd_bufferSize(lib.solver, params.get(), CUSOLVER_EIG_MODE_VECTOR,
                                    CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F, G.data, G.ld,
                                    CUDA_R_64F, values.data(), CUDA_R_64F, &device_bytes,
                                    &host_bytes) != CUSOLVER_STATUS_SUCCESS)
        return false;
    auto work = be.matrix<char>(static_cast<index_t>(std::max<std::size_t>(device_bytes, 1)), 1);
    std::vector<char> host_work(std::max<std::size_t>(host_bytes, 1));
    auto info = be.matrix<int>(1, 1);
    if (cusolverDnXsyevd(lib.solver, params.get(), CUSOLVER_EIG_MODE_VECTOR,
                         CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F, G.data, G.ld, CUDA_R_64F,
                         values.data(), CUDA_R_64F, work.data(), device_bytes, host_work.data(),
                         host_bytes, info.data()) != CUSOLVER_STATUS_SUCCESS ||
        read_info(info, be.stream()) != 0)
        return false;
    lambda = be.to_host(values.data(), n);
    return true;
}

// Largest s_1 / s_l that gram_svd takes.  Formed and decomposed in float64, W^T W gives the
// singular values within about eps64 s_1^2 / s_j <= 2e-13 s_1 and W X diag(1/s)
// orthonormal to about eps64 (s_1 / s_l)^2 = 2e-10: far inside float32's rounding
// (eps32 = 6e-8), where a float32 SVD's own errors are.
constexpr double kGramMaxCond = 1e3;

// R = Ur diag(s) Vt by gesvdj on B = R X, X the eigenvectors of R^T R (float64; syevd on the
// device, or LAPACK's on the host with eig_on_host).  B's columns are orthogonal up to
// rounding of R^T R, where one-sided Jacobi converges in a sweep or two; on R itself gesvdj
// took 20.5 ms at 266 x 266 in float64 (session 22).  X is orthogonal to rounding, so
// R = Ur diag(s) (Vt_B X^T) is as accurate as gesvdj's SVD of R, and B's is checked as
// jacobi_svd's always is (after Drmac & Veselic, SIMAX 2008, who precondition Jacobi by a
// QR factorization).  false where syevd fails or B's SVD does not pass its check.
bool eig_jacobi_svd(const CudaBackend& be, ConstMatView<double> R, MatView<double> Ur,
                    std::vector<double>& s, MatView<double> Vt, bool eig_on_host) {
    const index_t n = R.cols;
    auto X = be.matrix<double>(n, n);  // R^T R, then its eigenvectors
    be.gemm(Trans::Yes, Trans::No, 1.0, R, R, 0.0, X.view());
    std::vector<double> lambda;
    if (!symmetric_eig(be, X.view(), eig_on_host, lambda)) return false;
    const ConstMatView<double> x(X.view());
    auto B = be.matrix<double>(n, n), VtB = be.matrix<double>(n, n);
    be.gemm(Trans::No, Trans::No, 1.0, R, x, 0.0, B.view());
    if (!jacobi_svd(be, ConstMatView<double>(B.view()), Ur, s, VtB.view())) return false;
    be.gemm(Trans::No, Trans::Yes, 1.0, ConstMatView<double>(VtB.view()), x, 0.0, Vt);
    return true;
}

std::atomic<SmallSvd> small_svd_setting{SmallSvd::Auto};
std::atomic<const char*> last_way{""};  // string literals only

}  // namespace

void set_small_svd(SmallSvd way) { small_svd_setting = way; }
SmallSvd small_svd_way() { return small_svd_setting.load(); }
const char* last_small_svd() { return last_way.load(); }
void record_small_svd(const char* way) { last_way = way; }

template <class T>
void small_svd(const CudaBackend& be, DeviceMatrix<T>& R, MatView<T> Ur, std::vector<T>& s,
               MatView<T> Vt) {
    const index_t n = R.cols();
    const SmallSvd way = small_svd_way();
    const ConstMatView<T> r(R.view());
    if (way == SmallSvd::Polar && polar_svd(be, r, Ur, s, Vt)) {
        record_small_svd("polar");
        return;
    }
    if constexpr (std::is_same_v<T, double>) {
        const bool on_host = way == SmallSvd::EigJacobiHost;
        if ((way == SmallSvd::EigJacobi || on_host) &&
            eig_jacobi_svd(be, r, Ur, s, Vt, on_host)) {
            record_small_svd(on_host ? "eig_jacobi_host" : "eig_jacobi");
            return;
        }
    }
    const bool host = way == SmallSvd::Host ||
                      (way != SmallSvd::Jacobi &&
                       (std::is_same_v<T, double> || n <= kHostSvdMaxColsFloat));
    if (host) {
        host_svd(be, R, Ur, s, Vt);
        record_small_svd("host");
    } else if (jacobi_svd(be, r, Ur, s, Vt)) {
        record_small_svd("jacobi");
    } else {
        qr_svd(be, R, Ur, s, Vt);
        record_small_svd("gesvd");
    }
}

bool gram_svd(const CudaBackend& be, ConstMatView<float> W, MatView<float> U, float* s,
              MatView<float> Vt, bool eig_on_host) {
    const index_t rows = W.rows, l = W.cols;
    const cudaStream_t stream = be.stream();
    std::optional<DeviceMatrix<double>> Wd, WX;
    try {
        Wd.emplace(rows, l, stream);
        WX.emplace(rows, l, stream);
    } catch (const AllocationError&) {
        return false;
    }
    double* wd = Wd->data();
    for_each_entry(stream, rows, l,
                   [=] __device__(index_t i, index_t j) { wd[i + j * rows] = double(W(i, j)); });
    const ConstMatView<double> w(Wd->view());
    auto G = be.matrix<double>(l, l);
    be.gemm(Trans::Yes, Trans::No, 1.0, w, w, 0.0, G.view());
    std::vector<double> ev;  // ascending
    if (!symmetric_eig(be, G.view(), eig_on_host, ev)) return false;
    const double top = ev[static_cast<std::size_t>(l - 1)];
    const bool finite =
        std::all_of(ev.begin(), ev.end(), [](double v) { return std::isfinite(v); });
    if (!(finite && top > 0 && ev[0] >= top / (kGramMaxCond * kGramMaxCond))) return false;
    // descending order: X's column j is G's column l - 1 - j, s_j = sqrt(lambda_{l-1-j})
    std::vector<double> inverse(static_cast<std::size_t>(l));
    for (index_t j = 0; j < l; ++j) {
        const double sj = std::sqrt(ev[static_cast<std::size_t>(l - 1 - j)]);
        s[j] = static_cast<float>(sj);
        inverse[static_cast<std::size_t>(j)] = 1 / sj;
    }
    auto X = be.matrix<double>(l, l), dinverse = be.matrix<double>(l, 1);
    be.from_host(inverse.data(), dinverse.view());
    const double* g = G.data();
    double* x = X.data();
    for_each_entry(stream, l, l, [=] __device__(index_t i, index_t j) {
        x[i + j * l] = g[i + (l - 1 - j) * l];
    });
    be.gemm(Trans::No, Trans::No, 1.0, w, ConstMatView<double>(X.view()), 0.0, WX->view());
    const double* wx = WX->data();
    const double* inv = dinverse.data();
    for_each_entry(stream, rows, l, [=] __device__(index_t i, index_t j) {
        U(i, j) = static_cast<float>(wx[i + j * rows] * inv[j]);
    });
    for_each_entry(stream, l, l,
                   [=] __device__(index_t i, index_t j) { Vt(i, j) = float(x[j + i * l]); });
    return true;
}

#define RANKWISE_SMALL_SVD(T)                                                                  \
    template void small_svd<T>(const CudaBackend&, DeviceMatrix<T>&, MatView<T>,               \
                               std::vector<T>&, MatView<T>);
RANKWISE_SMALL_SVD(float)
RANKWISE_SMALL_SVD(double)
#undef RANKWISE_SMALL_SVD

}  // namespace rankwise::cuda
