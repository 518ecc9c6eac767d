// BLAS and LAPACK routines resolved at run time from the library SciPy loaded, so that
// rankwise uses the same BLAS (MKL, Accelerate, OpenBLAS) and the same thread pool as
// numpy/scipy, under threadpoolctl's control.  The bindings register each function pointer
// from scipy.linalg.cython_blas / cython_lapack before any algorithm runs.
//
// Integer arguments are 32-bit (SciPy's LP64 interface); callers check dimensions fit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rankwise::lapack {

// Names of every routine the CPU backend uses; register_routine accepts exactly these.
const std::vector<std::string>& required_routines();

// Stores the function pointer for `name` (e.g. "dgemm").  Throws on an unknown name.
void register_routine(const std::string& name, void* fn);

// True once every required routine has been registered.
bool ready();

// Typed entry points (Fortran calling convention: everything by pointer).
template <class T>
void gemm(char ta, char tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b,
          int ldb, T beta, T* c, int ldc);
template <class T>
void syrk(char uplo, char trans, int n, int k, T alpha, const T* a, int lda, T beta, T* c,
          int ldc);
template <class T>
void trsm(char side, char uplo, char transa, char diag, int m, int n, T alpha, const T* a,
          int lda, T* b, int ldb);
template <class T>
int geqrf(int m, int n, T* a, int lda, T* tau, T* work, int lwork);
template <class T>
int orgqr(int m, int n, int k, T* a, int lda, const T* tau, T* work, int lwork);
template <class T>
int potrf(char uplo, int n, T* a, int lda);
template <class T>
int getrf(int m, int n, T* a, int lda, int* ipiv);
template <class T>
void laswp(int n, T* a, int lda, int k1, int k2, const int* ipiv, int incx);
template <class T>
int gesdd(char jobz, int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt, int ldvt,
          T* work, int lwork, int* iwork);
template <class T>
int gesvd(char jobu, char jobvt, int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt,
          int ldvt, T* work, int lwork);
// Thin SVD of the m x n (m >= n) matrix a, which it destroys: s (n), u (m x n), vt (n x n).
// gesdd (when try_gesdd), and gesvd on a copy of a where gesdd does not converge or is not
// tried; LapackError when gesvd does not converge either.  The CPU backend's SVD and the CUDA
// backend's host SVD of small factors.
template <class T>
void thin_svd(int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt, int ldvt, bool try_gesdd);
// Column-pivoted QR (cur family: Q-DEIM selection).  jpvt is 1-based, as in Fortran.
template <class T>
int geqp3(int m, int n, T* a, int lda, int* jpvt, T* tau, T* work, int lwork);
// Solve A X = B by LU with partial pivoting (cur family: maxvol from a given start).
template <class T>
int gesv(int n, int nrhs, T* a, int lda, int* ipiv, T* b, int ldb);

// y = alpha op(A) x + beta y, A m x n as stored (BLAS-2: A is read once, never packed)
template <class T>
void gemv(char trans, int m, int n, T alpha, const T* a, int lda, const T* x, int incx, T beta,
          T* y, int incy);

// Eigenvalues (ascending) and, with jobz = 'V', eigenvectors of the symmetric a (divide and
// conquer; workspace query with lwork = liwork = -1).
template <class T>
int syevd(char jobz, char uplo, int n, T* a, int lda, T* w, T* work, int lwork, int* iwork,
          int liwork);
// syevd with jobz = 'V' and its workspace queried and allocated here: a (n x n) is replaced
// by the eigenvectors, w receives the eigenvalues (ascending); returns syevd's info.
template <class T>
int syevd_vectors(char uplo, int n, T* a, int lda, T* w);

}  // namespace rankwise::lapack
