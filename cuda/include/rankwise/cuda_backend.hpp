// The CUDA backend: the same primitives as CpuBackend (cpu_backend.hpp), on one CUDA stream.
//
// Every algorithm in algo/ is a template over a backend; instantiated with CudaBackend it
// runs on the GPU unchanged.  Matrices live in device memory (stream-ordered allocations on
// the caller's stream); per-column scalars that the algorithms test (norms, dots, CG's
// alpha and beta, singular values) travel through host memory, as the contract of each
// primitive says, and nothing else does.  Products go to cuBLAS (no TF32: the math mode is
// CUBLAS_DEFAULT_MATH), factorizations to cuSOLVER, sparse products to cuSPARSE; the
// element-wise steps and reductions are the project's own kernels (cuda/src/*.cu).
//
// Reductions sum fixed row blocks, then the blocks in a fixed order on the host: results do
// not depend on timing.  Dense products and non-transposed sparse products rerun to the same
// bits; cuSPARSE's transposed SpMM does not promise that, so the bindings hand sparse
// matrices over with their transpose and only non-transposed products run.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>
#include <cusparse.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "rankwise/dia_view.hpp"
#include "rankwise/diagonal_view.hpp"
#include "rankwise/error.hpp"
#include "rankwise/philox.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

namespace cuda {

// A CUDA runtime or library call failed (mapped to RuntimeError in Python).
class DeviceError : public Error {
    using Error::Error;
};

void check(cudaError_t status, const char* what);
void check(cublasStatus_t status, const char* what);
void check(cusolverStatus_t status, const char* what);
void check(cusparseStatus_t status, const char* what);

// cuBLAS, cuSOLVER and cuSPARSE handles of the calling thread for the current device,
// created on first use (creation costs milliseconds) and bound to `stream` on every call.
struct Libraries {
    cublasHandle_t blas = nullptr;
    cusolverDnHandle_t solver = nullptr;
    cusparseHandle_t sparse = nullptr;
};
const Libraries& libraries(cudaStream_t stream);

// Stream-ordered device memory from rankwise's own memory pool of the current device
// (plain cudaMalloc where the device has no memory pools); throws AllocationError naming the
// size when it fails.  The pool keeps what is freed for the next allocation until
// release_cached_memory(): the device's default pool returns freed memory to the driver at
// every synchronization, and mapping it again cost 11 ms of a 39 ms sparse randomized SVD
// on an H200 (1e6 x 1e5, 1e7 nonzeros, k = 64; 2026-11-27).
void* allocate(std::size_t bytes, cudaStream_t stream, const char* what);
// Frees what allocate returned, after the work queued on `stream` so far.
void free_async(void* p, cudaStream_t stream) noexcept;
// Returns the memory the pools keep, beyond what is allocated, to the driver.
void release_cached_memory() noexcept;
// Bytes the pool of the current device holds from the driver (allocated or kept).
std::size_t reserved_bytes();

// Declared at the top of every call from Python: the memory its work matrices used goes back
// to the driver when the call ends, so that between calls rankwise holds only what it
// returned (factors owned by CuPy arrays; freed with them, and given back when the next call
// ends), and CuPy's and the user's allocations can have the rest.  The call's stream is
// synchronized first: memory whose stream-ordered free has not yet been seen to complete
// cannot be released.  Only the last scope to end releases: a call nested in another (the
// NaN scan of a user operator's product, made from the native loop of svd or cg through a
// Python callback) must not hand the outer call's freed memory to the driver at every
// product, nor must one of several concurrent calls.
inline std::atomic<int> active_call_scopes{0};

class CallMemoryScope {
   public:
    explicit CallMemoryScope(cudaStream_t stream) : stream_(stream) { ++active_call_scopes; }
    CallMemoryScope(const CallMemoryScope&) = delete;
    CallMemoryScope& operator=(const CallMemoryScope&) = delete;
    ~CallMemoryScope() {
        if (cudaStreamSynchronize(stream_) != cudaSuccess) cudaGetLastError();
        if (--active_call_scopes == 0) release_cached_memory();
    }

   private:
    cudaStream_t stream_;
};

// How CudaBackend::svd takes the SVD of its small l x l factor (cuda/src/small_svd.cu says
// what each costs): Auto, LAPACK's gesdd on the host for float64 and for float32 up to 128
// columns, cuSOLVER's Jacobi SVD (gesvdj) beyond; Host, gesdd always; Jacobi, gesvdj always;
// Polar, cuSOLVER's polar-decomposition SVD (gesvdp); Gram, for float32, the
// eigendecomposition of W^T W in float64 in place of the l x l SVD (float64: Auto), by
// cuSOLVER's syevd, GramHost the same by LAPACK's on the host; EigJacobi, for float64,
// gesvdj on R X with X the eigenvectors of R^T R (syevd; EigJacobiHost: LAPACK's), where
// it converges in a sweep or two (float32: Auto).  Polar, the Gram and the EigJacobi ways
// fall back to Auto's way where they fail or decline, Jacobi (as in Auto) to cuSOLVER's
// gesvd.  Process wide; the benchmarks compare the ways, the default is Auto.
enum class SmallSvd { Auto, Host, Jacobi, Polar, Gram, GramHost, EigJacobi, EigJacobiHost };
void set_small_svd(SmallSvd way);
SmallSvd small_svd_way();
// Which way took the last small SVD of the process: "host", "jacobi", "gesvd", "polar",
// "gram", "gram_host", "eig_jacobi" or "eig_jacobi_host" ("" before the first); for the
// tests, which must tell a way from its fallback.
const char* last_small_svd();
void record_small_svd(const char* way);

// Installed by the bindings: throws if the user pressed Ctrl-C.
void set_interrupt_checker(void (*checker)());

// Number of CUDA devices visible (0 where there is no driver or no GPU).
int device_count();

}  // namespace cuda

// Owning column-major matrix in device memory, freed on the stream it was allocated on.
template <class T>
class DeviceMatrix {
   public:
    DeviceMatrix() = default;
    DeviceMatrix(index_t rows, index_t cols, cudaStream_t stream);
    MatView<T> view() { return {buf_.get(), rows_, cols_, ld()}; }
    ConstMatView<T> view() const { return {buf_.get(), rows_, cols_, ld()}; }
    T* data() { return buf_.get(); }
    const T* data() const { return buf_.get(); }
    void truncate_cols(index_t cols) { cols_ = cols < cols_ ? cols : cols_; }
    index_t rows() const { return rows_; }
    index_t cols() const { return cols_; }
    // Hands the storage to a new owner, which frees it with cuda::free_async on stream().
    T* release() { return buf_.release(); }
    cudaStream_t stream() const { return buf_.get_deleter().stream; }

   private:
    struct Free {
        cudaStream_t stream = nullptr;
        void operator()(T* p) const noexcept { cuda::free_async(p, stream); }
    };
    index_t ld() const { return rows_ > 0 ? rows_ : 1; }
    std::unique_ptr<T, Free> buf_{nullptr, Free{}};
    index_t rows_ = 0, cols_ = 0;
};

class CudaBackend {
   public:
    template <class T>
    using Matrix = DeviceMatrix<T>;

    // All work of this backend object is queued on `stream` (the caller's CuPy stream).
    explicit CudaBackend(cudaStream_t stream) : stream_(stream) {}
    cudaStream_t stream() const { return stream_; }

    template <class T>
    Matrix<T> matrix(index_t rows, index_t cols) const {
        return Matrix<T>(rows, cols, stream_);
    }

    // --- the SVD family's primitives (contracts as in CpuBackend)
    template <class T>
    void gemm(Trans ta, Trans tb, T alpha, ConstMatView<T> A, ConstMatView<T> B, T beta,
              MatView<T> C) const;
    // Householder: geqrf + orgqr.  CholQR2: CholeskyQR2, shifted CholeskyQR3 and then
    // Householder when Y is too ill-conditioned, as on the CPU.  LU: on the GPU the power-step
    // normalizer is one Cholesky QR step (CholQR2 where that step's R is ill-conditioned): a
    // nearly orthonormal basis is well scaled, and it runs at GEMM speed here, where a tall
    // getrf does not.
    template <class T>
    void orthonormalize(MatView<T> Y, Ortho how) const;
    // W = Q R (CholeskyQR2), R = Ur diag(s) Vt (the way cuda::small_svd_way() says: by
    // default LAPACK's gesdd on a host copy for float64 and for float32 up to 128 columns,
    // otherwise cuSOLVER's gesvdj, checked, and gesvd where it fails), U = Q Ur.
    template <class T>
    void svd(MatView<T> W, MatView<T> U, T* s, MatView<T> Vt, SvdDriver driver) const;
    template <class T>
    void fill_normal(MatView<T> X, philox::Key key, std::uint64_t stream) const;
    template <class T>
    void copy(ConstMatView<T> X, MatView<T> Y) const;
    template <class T>
    void fill(MatView<T> X, T value) const;
    template <class T>
    void scale_columns(ConstMatView<T> X, const T* scale, MatView<T> Y) const;
    template <class T>
    void add_scaled(ConstMatView<T> X, T alpha, MatView<T> Y) const;
    template <class T>
    void column_norms(ConstMatView<T> X, double* out) const;
    // Whether no entry of X is NaN or Inf (one multi-block reduction, no bool temporary)
    template <class T>
    bool all_finite(ConstMatView<T> X) const;
    // max |x_ij| of each column, in double (float32 subnormals kept: no flush to zero here);
    // +Inf for a column holding NaN or Inf
    template <class T>
    void column_abs_max(ConstMatView<T> X, double* out) const;
    // max |x_ij| over X, in double, or +Inf where an entry is NaN or Inf: the finiteness
    // check and the maximum that magnitude scaling needs, from one read of X
    template <class T>
    double finite_abs_max(ConstMatView<T> X) const;
    template <class T>
    double sum_squares(ConstMatView<T> X) const;
    template <class T, class I>
    double sum_squares(const CsrView<T, I>& A) const;
    // Stored entries of a CSR matrix: the view's nnz, else indptr[rows] read from the device
    template <class T, class I>
    index_t csr_entries(const CsrView<T, I>& A) const;
    template <class T, class I>
    void csr_mm(const CsrView<T, I>& A, Trans t, ConstMatView<T> X, MatView<T> Y) const;
    // Y = A (A^T X): two SpMMs through a device temporary
    template <class T, class I>
    void csr_normal_mm(const CsrView<T, I>& A, ConstMatView<T> X, MatView<T> Y) const;
    // No row-major sparse products (CpuBackend::csr_mm_rows): SparseOp::apply_rows declines
    // and the updater transposes around csr_mm.
    static constexpr bool kSparseRowMajor = false;
    template <class T>
    std::vector<T> to_host(const T* values, index_t n) const;
    template <class T>
    void from_host(const T* values, MatView<T> Y) const;
    void check_interrupt() const;

    // --- the CG family's primitives.  One "thread" as far as the algorithms' thread tuning
    // is concerned: the GPU's parallelism is not the host's.
    int max_threads() const { return 1; }
    void set_threads(int) const {}
    template <class T>
    void axpby(T alpha, ConstMatView<T> X, T beta, MatView<T> Y) const;
    template <class T>
    void column_dots(ConstMatView<T> X, ConstMatView<T> Y, double* out) const;
    // the same into out in device memory, queued (no sync)
    template <class T>
    void column_dots_stored(ConstMatView<T> X, ConstMatView<T> Y, double* out) const;
    // Y[i, j] = d_i X[i, j], d in device memory (the preconditioner's diagonal lives on the
    // device), plain or coded
    template <class T>
    void scale_rows(DiagonalView<T> d, ConstMatView<T> X, MatView<T> Y) const;
    // The inverse of the n x n diagonal matrix diag(d) given on the device: plain d, inv = 1 /
    // d (n entries); coded d, inv = 1 / d.table (inv.rows entries: the inverse's table, for
    // the codes of d).  Throws InvalidArgument naming the first entry of d that is not
    // positive and finite (the point-Jacobi preconditioner of an SPD matrix, built without a
    // host copy).
    template <class T>
    void invert_positive_diagonal(DiagonalView<T> d, index_t n, MatView<T> inv) const;
    template <class T>
    void cg_update_p(const T* beta, DiagonalView<T> d, ConstMatView<T> Z, MatView<T> P,
                     const std::uint8_t* active) const;
    // CG's step along P, as CpuBackend::cg_update_xr: pq (p.q per column) in device memory,
    // rho on the host; one sync brings back pq_host, rr and rz.
    template <class T>
    void cg_update_xr(const double* rho, const double* pq, ConstMatView<T> P, ConstMatView<T> Q,
                      MatView<T> X, MatView<T> R, DiagonalView<T> d, const std::uint8_t* active,
                      double* pq_host, double* rr, double* rz) const;
    template <class T, class I>
    void csr_mv(const CsrView<T, I>& A, const T* x, T* y) const;
    // y = A x and *dot = x . y (the CPU backend's fused CG step; here the two in sequence),
    // dot in device memory, queued
    template <class T, class I>
    void csr_mv_dot(const CsrView<T, I>& A, const T* x, T* y, double* dot) const;
    // Y = op(A) X for a square A in DIA storage on the device (cuda/src/dia.cu)
    template <class T>
    void dia_mm(const DiaView<T>& A, Trans t, ConstMatView<T> X, MatView<T> Y) const;
    // Y = A X and dots[j] = X[:, j] . Y[:, j] in one pass (CG's q = A p with p.q), dots in
    // device memory, queued
    template <class T>
    void dia_mm_dot(const DiaView<T>& A, ConstMatView<T> X, MatView<T> Y, double* dots) const;
    // sum of the squared entries (the fill's zeros included)
    template <class T>
    double dia_sum_squares(const DiaView<T>& A) const;
    // The DIA form of an n x n canonical CSR matrix on the device (cuda/src/dia_convert.cu):
    // present[j - i + n - 1] = 1 for every stored entry (i, j) (present: 2n - 1 bytes,
    // zeroed by the caller) ...
    template <class I>
    void dia_mark_offsets(const I* indices, const I* indptr, index_t n,
                          std::uint8_t* present) const;
    // ... and every entry, its value as bits (B: int32 / int64), at its position on the
    // diagonals `offsets` (dia_fill.hpp: plain into values, or coded into codes by table);
    // returns how many could not be stored (synchronizes).
    template <class B, class I>
    index_t dia_fill(const I* indices, const I* indptr, const B* bits, index_t n,
                     const std::vector<index_t>& offsets, B* values, std::uint8_t* codes,
                     const B* table, int table_size) const;

    // --- selection primitives (algo/selection.hpp: DEIM, Q-DEIM, maxvol; cuda/src/selection.cu)
    // cusolverDnXgetrf (64-bit API); contract as on the CPU (pivots to the host).
    template <class T>
    std::vector<index_t> lu_partial_pivoting(MatView<T> V) const;
    // cuSOLVER has no geqp3: Businger-Golub pivoting on explicit residuals (selection.cu),
    // the same pivots in exact arithmetic; ties go to the smallest column index.
    template <class T>
    std::vector<index_t> qr_column_pivots(MatView<T> W) const;
    template <class T>
    void transpose(ConstMatView<T> X, MatView<T> Y) const;
    template <class T>
    void solve_right_unit_lower(ConstMatView<T> L, MatView<T> B) const;
    template <class T>
    std::pair<std::pair<index_t, index_t>, T> argmax_abs(ConstMatView<T> X) const;
    // host outputs; two column reductions whatever the number of columns
    template <class T>
    void column_argmax_abs(ConstMatView<T> X, index_t* rows, T* values) const;
    // rows in host memory
    template <class T>
    void gather_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const;
    template <class T>
    void solve(MatView<T> A, MatView<T> B, const char* what) const;

    // --- update primitives (algo/svd_update.hpp, the updating truncated SVD; cuda/src/update.cu)
    // rows in host memory (distinct), copied to the device; one kernel, no atomics.
    template <class T>
    void scatter_add_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const;
    // cols in host memory (distinct for the scatter), copied to the device; one kernel each.
    template <class T>
    void gather_cols(ConstMatView<T> X, const index_t* cols, MatView<T> Y) const;
    template <class T>
    void scatter_add_cols(ConstMatView<T> X, const index_t* cols, MatView<T> Y) const;
    // G = Wt Wt^T (k x k) by one cuBLAS GEMM (CpuBackend::gram_rows)
    template <class T>
    void gram_rows(ConstMatView<T> Wt, MatView<T> G) const {
        gemm(Trans::No, Trans::Yes, T(1), Wt, Wt, T(0), G);
    }
    // cuSOLVER gesvd with jobu = jobvt = 'N'; s (host) and devInfo are read back.
    template <class T>
    void singular_values(MatView<T> W, T* s) const;
    // The CPU backend's shortcut for small SVDs (cpu_backend.hpp) is not offered on the
    // device: false, and the updater calls svd().
    template <class T>
    bool top_svd_by_gram(ConstMatView<T>, index_t, MatView<T>, T*, MatView<T>, double) const {
        return false;
    }
    // cuSOLVER potrf (upper) + cuBLAS trsm; false (B unchanged) if G is not positive
    // definite (devInfo > 0, read back: the result the contract names).
    template <class T>
    bool solve_right_cholesky(MatView<T> G, MatView<T> B) const;

    // Waits until the queued work is done (used before results are handed back).
    void synchronize() const;

   private:
    // Blocks of at least this many columns go through row-major copies in csr_mm.
    static constexpr index_t kRowMajorMinCols = 4;
    template <class T, class I>
    bool rowmajor_spmm(const CsrView<T, I>& A, index_t nnz, ConstMatView<T> X,
                       MatView<T> Y) const;

    cudaStream_t stream_;
};

}  // namespace rankwise
