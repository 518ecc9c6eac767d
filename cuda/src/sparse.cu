// CUDA backend, sparse primitives: CSR products through cuSPARSE's generic SpMM and SpMV.
#include <optional>
#include <type_traits>

#include "kernels.cuh"
#include "rankwise/cuda_backend.hpp"

namespace rankwise {

using cuda::check;

namespace {

template <class T>
constexpr cudaDataType value_type() {
    return std::is_same<T, float>::value ? CUDA_R_32F : CUDA_R_64F;
}

template <class I>
constexpr cusparseIndexType_t index_type() {
    return sizeof(I) == 4 ? CUSPARSE_INDEX_32I : CUSPARSE_INDEX_64I;
}

// Stored entries: indptr[rows], read from the device unless the view carries it.
template <class T, class I>
index_t stored_entries(const CsrView<T, I>& A, cudaStream_t stream) {
    if (A.nnz >= 0) return A.nnz;
    I last = 0;
    check(cudaMemcpyAsync(&last, A.indptr + A.rows, sizeof(I), cudaMemcpyDeviceToHost, stream),
          "cudaMemcpyAsync (indptr)");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    return static_cast<index_t>(last);
}

// cuSPARSE descriptors, destroyed at scope end.
struct SparseDescr {
    cusparseSpMatDescr_t a = nullptr;
    cusparseDnMatDescr_t x = nullptr, y = nullptr;
    cusparseDnVecDescr_t xv = nullptr, yv = nullptr;
    ~SparseDescr() {
        if (a) cusparseDestroySpMat(a);
        if (x) cusparseDestroyDnMat(x);
        if (y) cusparseDestroyDnMat(y);
        if (xv) cusparseDestroyDnVec(xv);
        if (yv) cusparseDestroyDnVec(yv);
    }
};

// d.a = the cuSPARSE descriptor of the CSR matrix A with nnz stored entries.
template <class T, class I>
void describe_csr(SparseDescr& d, const CsrView<T, I>& A, index_t nnz) {
    check(cusparseCreateCsr(&d.a, A.rows, A.cols, nnz, const_cast<I*>(A.indptr),
                            const_cast<I*>(A.indices), const_cast<T*>(A.data), index_type<I>(),
                            index_type<I>(), CUSPARSE_INDEX_BASE_ZERO, value_type<T>()),
          "cusparseCreateCsr");
}

}  // namespace

// Y = A X through row-major copies of X and Y: with column-major blocks every stored entry
// a_ij reads x(j, 0..l-1) from l places ld apart (l memory sectors), with row-major ones from
// one contiguous row, so a product whose X does not fit in L2 (A^T Q for a tall Q: 1e6 x 74
// float32 is 296 MB) moves about l times fewer sectors.  The two transposes cost one read and
// one write of X and of Y.  CSR_ALG2 does not repeat to the bit: two runs of a sparse SVD
// differed by rounding errors (H200, CUDA 13.0, 2026-11-27).  false (nothing done) where the
// copies do not fit in device memory or cuSPARSE does not support the case; the caller then
// takes the column-major path.
template <class T, class I>
bool CudaBackend::rowmajor_spmm(const CsrView<T, I>& A, index_t nnz, ConstMatView<T> X,
                                MatView<T> Y) const {
    const auto& lib = cuda::libraries(stream_);
    std::optional<Matrix<T>> Xr, Yr;
    try {
        Xr.emplace(X.cols, X.rows, stream_);
        Yr.emplace(Y.cols, Y.rows, stream_);
    } catch (const AllocationError&) {
        return false;
    }
    SparseDescr d;
    describe_csr(d, A, nnz);
    check(cusparseCreateDnMat(&d.x, X.rows, X.cols, X.cols, Xr->data(), value_type<T>(),
                              CUSPARSE_ORDER_ROW),
          "cusparseCreateDnMat");
    check(cusparseCreateDnMat(&d.y, Y.rows, Y.cols, Y.cols, Yr->data(), value_type<T>(),
                              CUSPARSE_ORDER_ROW),
          "cusparseCreateDnMat");
    const T one = 1, zero = 0;
    std::size_t bytes = 0;
    if (cusparseSpMM_bufferSize(lib.sparse, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                CUSPARSE_OPERATION_NON_TRANSPOSE, &one, d.a, d.x, &zero, d.y,
                                value_type<T>(), CUSPARSE_SPMM_CSR_ALG2,
                                &bytes) != CUSPARSE_STATUS_SUCCESS)
        return false;
    auto buffer = matrix<char>(static_cast<index_t>(bytes), 1);
    transpose(X, Xr->view());
    check(cusparseSpMM(lib.sparse, CUSPARSE_OPERATION_NON_TRANSPOSE,
                       CUSPARSE_OPERATION_NON_TRANSPOSE, &one, d.a, d.x, &zero, d.y,
                       value_type<T>(), CUSPARSE_SPMM_CSR_ALG2, buffer.data()),
          "cusparseSpMM (row-major)");
    transpose(ConstMatView<T>(Yr->view()), Y);
    return true;
}

template <class T, class I>
void CudaBackend::csr_mm(const CsrView<T, I>& A, Trans t, ConstMatView<T> X, MatView<T> Y) const {
    const index_t out_rows = t == Trans::No ? A.rows : A.cols;
    const index_t in_rows = t == Trans::No ? A.cols : A.rows;
    require(X.rows == in_rows && Y.rows == out_rows && X.cols == Y.cols)
        << "csr_mm: shapes do not match";
    if (Y.rows == 0 || Y.cols == 0) return;
    const index_t nnz = stored_entries(A, stream_);
    if (nnz == 0 || X.rows == 0) {
        fill(Y, T(0));
        return;
    }
    if (t == Trans::No && X.cols >= kRowMajorMinCols && rowmajor_spmm(A, nnz, X, Y)) return;
    const auto& lib = cuda::libraries(stream_);
    SparseDescr d;
    describe_csr(d, A, nnz);
    const T one = 1, zero = 0;
    if (X.cols == 1 && t == Trans::No) {
        // One vector (CG's product): SpMV, which cuSPARSE runs faster than a one-column SpMM.
        // CSR_ALG1 sums each row in a fixed order: the same bits on every run.
        check(cusparseCreateDnVec(&d.xv, X.rows, const_cast<T*>(X.data), value_type<T>()),
              "cusparseCreateDnVec");
        check(cusparseCreateDnVec(&d.yv, Y.rows, Y.data, value_type<T>()), "cusparseCreateDnVec");
        std::size_t bytes = 0;
        check(cusparseSpMV_bufferSize(lib.sparse, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, d.a,
                                      d.xv, &zero, d.yv, value_type<T>(), CUSPARSE_SPMV_CSR_ALG1,
                                      &bytes),
              "cusparseSpMV_bufferSize");
        auto buffer = matrix<char>(static_cast<index_t>(bytes), 1);
        check(cusparseSpMV(lib.sparse, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, d.a, d.xv, &zero,
                           d.yv, value_type<T>(), CUSPARSE_SPMV_CSR_ALG1, buffer.data()),
              "cusparseSpMV");
        return;
    }
    check(cusparseCreateDnMat(&d.x, X.rows, X.cols, X.ld, const_cast<T*>(X.data), value_type<T>(),
                              CUSPARSE_ORDER_COL),
          "cusparseCreateDnMat");
    check(cusparseCreateDnMat(&d.y, Y.rows, Y.cols, Y.ld, Y.data, value_type<T>(),
                              CUSPARSE_ORDER_COL),
          "cusparseCreateDnMat");
    const auto opa =
        t == Trans::No ? CUSPARSE_OPERATION_NON_TRANSPOSE : CUSPARSE_OPERATION_TRANSPOSE;
    std::size_t bytes = 0;
    check(cusparseSpMM_bufferSize(lib.sparse, opa, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, d.a,
                                  d.x, &zero, d.y, value_type<T>(), CUSPARSE_SPMM_ALG_DEFAULT,
                                  &bytes),
          "cusparseSpMM_bufferSize");
    auto buffer = matrix<char>(static_cast<index_t>(bytes), 1);
    check(cusparseSpMM(lib.sparse, opa, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, d.a, d.x, &zero,
                       d.y, value_type<T>(), CUSPARSE_SPMM_ALG_DEFAULT, buffer.data()),
          "cusparseSpMM");
}

template <class T, class I>
index_t CudaBackend::csr_entries(const CsrView<T, I>& A) const {
    return stored_entries(A, stream_);
}

template <class T, class I>
void CudaBackend::csr_normal_mm(const CsrView<T, I>& A, ConstMatView<T> X, MatView<T> Y) const {
    require(X.rows == A.rows && Y.rows == A.rows && X.cols == Y.cols)
        << "csr_normal_mm: shapes do not match";
    auto AtX = matrix<T>(A.cols, X.cols);
    csr_mm(A, Trans::Yes, X, AtX.view());
    csr_mm(A, Trans::No, ConstMatView<T>(AtX.view()), Y);
}

template <class T, class I>
void CudaBackend::csr_mv(const CsrView<T, I>& A, const T* x, T* y) const {
    csr_mm(A, Trans::No, ConstMatView<T>{x, A.cols, 1, A.cols > 0 ? A.cols : 1},
           MatView<T>{y, A.rows, 1, A.rows > 0 ? A.rows : 1});
}

template <class T, class I>
void CudaBackend::csr_mv_dot(const CsrView<T, I>& A, const T* x, T* y, double* dot) const {
    require(A.rows == A.cols) << "csr_mv_dot: A must be square";
    csr_mv(A, x, y);
    column_dots_stored(ConstMatView<T>{x, A.rows, 1, A.rows > 0 ? A.rows : 1},
                       ConstMatView<T>{y, A.rows, 1, A.rows > 0 ? A.rows : 1}, dot);
}

template <class T, class I>
double CudaBackend::sum_squares(const CsrView<T, I>& A) const {
    // Canonical CSR (the Python layer sums duplicates first): the stored values are the entries.
    const index_t nnz = stored_entries(A, stream_);
    return sum_squares(ConstMatView<T>{A.data, nnz, 1, nnz > 0 ? nnz : 1});
}

#define RANKWISE_INSTANTIATE_SPARSE(T, I)                                                      \
    template bool CudaBackend::rowmajor_spmm<T, I>(const CsrView<T, I>&, index_t,              \
                                                   ConstMatView<T>, MatView<T>) const;         \
    template void CudaBackend::csr_mm<T, I>(const CsrView<T, I>&, Trans, ConstMatView<T>,      \
                                            MatView<T>) const;                                 \
    template void CudaBackend::csr_normal_mm<T, I>(const CsrView<T, I>&, ConstMatView<T>,       \
                                                   MatView<T>) const;                          \
    template void CudaBackend::csr_mv<T, I>(const CsrView<T, I>&, const T*, T*) const;         \
    template void CudaBackend::csr_mv_dot<T, I>(const CsrView<T, I>&, const T*, T*, double*)    \
        const;                                                                                 \
    template double CudaBackend::sum_squares<T, I>(const CsrView<T, I>&) const;                \
    template index_t CudaBackend::csr_entries<T, I>(const CsrView<T, I>&) const;

RANKWISE_INSTANTIATE_SPARSE(float, std::int32_t)
RANKWISE_INSTANTIATE_SPARSE(float, std::int64_t)
RANKWISE_INSTANTIATE_SPARSE(double, std::int32_t)
RANKWISE_INSTANTIATE_SPARSE(double, std::int64_t)
#undef RANKWISE_INSTANTIATE_SPARSE

}  // namespace rankwise
