// Run-time registry of the BLAS/LAPACK routines SciPy exports (see rankwise/lapack.hpp).
#include "rankwise/lapack.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <map>
#include <vector>

#include "rankwise/error.hpp"

namespace rankwise::lapack {
namespace {

// Fortran signatures, as scipy.linalg.cython_blas / cython_lapack declare them.
template <class T>
using gemm_t = void(const char*, const char*, const int*, const int*, const int*, const T*,
                    const T*, const int*, const T*, const int*, const T*, T*, const int*);
template <class T>
using syrk_t = void(const char*, const char*, const int*, const int*, const T*, const T*,
                    const int*, const T*, T*, const int*);
template <class T>
using trsm_t = void(const char*, const char*, const char*, const char*, const int*,
                    const int*, const T*, const T*, const int*, T*, const int*);
template <class T>
using geqrf_t = void(const int*, const int*, T*, const int*, T*, T*, const int*, int*);
template <class T>
using orgqr_t = void(const int*, const int*, const int*, T*, const int*, const T*, T*,
                     const int*, int*);
template <class T>
using potrf_t = void(const char*, const int*, T*, const int*, int*);
template <class T>
using getrf_t = void(const int*, const int*, T*, const int*, int*, int*);
template <class T>
using laswp_t = void(const int*, T*, const int*, const int*, const int*, const int*,
                     const int*);
template <class T>
using gesdd_t = void(const char*, const int*, const int*, T*, const int*, T*, T*, const int*,
                     T*, const int*, T*, const int*, int*, int*);
template <class T>
using gesvd_t = void(const char*, const char*, const int*, const int*, T*, const int*, T*, T*,
                     const int*, T*, const int*, T*, const int*, int*);

template <class T>
using geqp3_t = void(const int*, const int*, T*, const int*, int*, T*, T*, const int*, int*);

template <class T>
using gesv_t = void(const int*, const int*, T*, const int*, int*, T*, const int*, int*);

template <class T>
using syevd_t = void(const char*, const char*, const int*, T*, const int*, T*, T*, const int*,
                     int*, const int*, int*);

template <class T>
using gemv_t = void(const char*, const int*, const int*, const T*, const T*, const int*,
                    const T*, const int*, const T*, T*, const int*);

const std::array<const char*, 14> kBase = {"gemm",  "syrk",  "trsm",  "geqrf", "orgqr",
                                           "potrf", "getrf", "laswp", "gesdd", "gesvd",
                                           "geqp3", "gesv",  "gemv",  "syevd"};

std::map<std::string, void*>& table() {
    static std::map<std::string, void*> t;
    return t;
}

template <class T>
constexpr char prefix() {
    return sizeof(T) == 4 ? 's' : 'd';
}

template <class F, class T>
F* lookup(const char* base) {
    const std::string name = std::string(1, prefix<T>()) + base;
    auto it = table().find(name);
    if (it == table().end()) {
        throw Error("BLAS/LAPACK routine " + name + " was not registered");
    }
    return reinterpret_cast<F*>(it->second);
}

}  // namespace

const std::vector<std::string>& required_routines() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (char p : {'s', 'd'}) {
            for (const char* b : kBase) v.push_back(std::string(1, p) + b);
        }
        return v;
    }();
    return names;
}

void register_routine(const std::string& name, void* fn) {
    for (const auto& n : required_routines()) {
        if (n == name) {
            require(fn != nullptr) << "null function pointer for " << name;
            table()[name] = fn;
            return;
        }
    }
    throw Error("unknown BLAS/LAPACK routine " + name);
}

bool ready() { return table().size() == required_routines().size(); }

template <class T>
void gemm(char ta, char tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b,
          int ldb, T beta, T* c, int ldc) {
    lookup<gemm_t<T>, T>("gemm")(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c,
                                 &ldc);
}
template <class T>
void syrk(char uplo, char trans, int n, int k, T alpha, const T* a, int lda, T beta, T* c,
          int ldc) {
    lookup<syrk_t<T>, T>("syrk")(&uplo, &trans, &n, &k, &alpha, a, &lda, &beta, c, &ldc);
}
template <class T>
void trsm(char side, char uplo, char transa, char diag, int m, int n, T alpha, const T* a,
          int lda, T* b, int ldb) {
    lookup<trsm_t<T>, T>("trsm")(&side, &uplo, &transa, &diag, &m, &n, &alpha, a, &lda, b,
                                 &ldb);
}
template <class T>
int geqrf(int m, int n, T* a, int lda, T* tau, T* work, int lwork) {
    int info = 0;
    lookup<geqrf_t<T>, T>("geqrf")(&m, &n, a, &lda, tau, work, &lwork, &info);
    return info;
}
template <class T>
int orgqr(int m, int n, int k, T* a, int lda, const T* tau, T* work, int lwork) {
    int info = 0;
    lookup<orgqr_t<T>, T>("orgqr")(&m, &n, &k, a, &lda, tau, work, &lwork, &info);
    return info;
}
template <class T>
int potrf(char uplo, int n, T* a, int lda) {
    int info = 0;
    lookup<potrf_t<T>, T>("potrf")(&uplo, &n, a, &lda, &info);
    return info;
}
template <class T>
int getrf(int m, int n, T* a, int lda, int* ipiv) {
    int info = 0;
    lookup<getrf_t<T>, T>("getrf")(&m, &n, a, &lda, ipiv, &info);
    return info;
}
template <class T>
void laswp(int n, T* a, int lda, int k1, int k2, const int* ipiv, int incx) {
    lookup<laswp_t<T>, T>("laswp")(&n, a, &lda, &k1, &k2, ipiv, &incx);
}
template <class T>
int gesdd(char jobz, int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt, int ldvt,
          T* work, int lwork, int* iwork) {
    int info = 0;
    lookup<gesdd_t<T>, T>("gesdd")(&jobz, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work,
                                   &lwork, iwork, &info);
    return info;
}
template <class T>
int gesvd(char jobu, char jobvt, int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt,
          int ldvt, T* work, int lwork) {
    int info = 0;
    lookup<gesvd_t<T>, T>("gesvd")(&jobu, &jobvt, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt,
                                   work, &lwork, &info);
    return info;
}

template <class T>
void thin_svd(int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt, int ldvt, bool try_gesdd) {
    // gesdd destroys a even when it fails: keep a copy for the gesvd fallback
    std::vector<T> backup;
    T query{};
    if (try_gesdd) {
        backup.resize(static_cast<std::size_t>(m) * static_cast<std::size_t>(n));
        for (int j = 0; j < n; ++j)
            std::copy_n(a + static_cast<std::size_t>(j) * lda, m,
                        backup.data() + static_cast<std::size_t>(j) * m);
        std::vector<int> iwork(8 * static_cast<std::size_t>(n));
        gesdd<T>('S', m, n, a, lda, s, u, ldu, vt, ldvt, &query, -1, iwork.data());
        std::vector<T> work(static_cast<std::size_t>(std::max(T(1), query)));
        if (gesdd<T>('S', m, n, a, lda, s, u, ldu, vt, ldvt, work.data(),
                     static_cast<int>(work.size()), iwork.data()) == 0)
            return;
        for (int j = 0; j < n; ++j)
            std::copy_n(backup.data() + static_cast<std::size_t>(j) * m, m,
                        a + static_cast<std::size_t>(j) * lda);
    }
    gesvd<T>('S', 'S', m, n, a, lda, s, u, ldu, vt, ldvt, &query, -1);
    std::vector<T> work(static_cast<std::size_t>(std::max(T(1), query)));
    const int info = gesvd<T>('S', 'S', m, n, a, lda, s, u, ldu, vt, ldvt, work.data(),
                              static_cast<int>(work.size()));
    if (info != 0)
        throw LapackError("SVD did not converge (gesvd info = " + std::to_string(info) + ")");
}

template <class T>
int geqp3(int m, int n, T* a, int lda, int* jpvt, T* tau, T* work, int lwork) {
    int info = 0;
    lookup<geqp3_t<T>, T>("geqp3")(&m, &n, a, &lda, jpvt, tau, work, &lwork, &info);
    return info;
}

template <class T>
int gesv(int n, int nrhs, T* a, int lda, int* ipiv, T* b, int ldb) {
    int info = 0;
    lookup<gesv_t<T>, T>("gesv")(&n, &nrhs, a, &lda, ipiv, b, &ldb, &info);
    return info;
}

template <class T>
void gemv(char trans, int m, int n, T alpha, const T* a, int lda, const T* x, int incx, T beta,
          T* y, int incy) {
    lookup<gemv_t<T>, T>("gemv")(&trans, &m, &n, &alpha, a, &lda, x, &incx, &beta, y, &incy);
}

template <class T>
int syevd(char jobz, char uplo, int n, T* a, int lda, T* w, T* work, int lwork, int* iwork,
          int liwork) {
    int info = 0;
    lookup<syevd_t<T>, T>("syevd")(&jobz, &uplo, &n, a, &lda, w, work, &lwork, iwork, &liwork,
                                   &info);
    return info;
}

#define RANKWISE_INSTANTIATE_LAPACK(T)                                                      \
    template void gemm<T>(char, char, int, int, int, T, const T*, int, const T*, int, T, T*, \
                          int);                                                             \
    template void syrk<T>(char, char, int, int, T, const T*, int, T, T*, int);               \
    template void trsm<T>(char, char, char, char, int, int, T, const T*, int, T*, int);      \
    template int geqrf<T>(int, int, T*, int, T*, T*, int);                                  \
    template int orgqr<T>(int, int, int, T*, int, const T*, T*, int);                       \
    template int potrf<T>(char, int, T*, int);                                              \
    template int getrf<T>(int, int, T*, int, int*);                                         \
    template void laswp<T>(int, T*, int, int, int, const int*, int);                        \
    template int gesdd<T>(char, int, int, T*, int, T*, T*, int, T*, int, T*, int, int*);     \
    template int gesvd<T>(char, char, int, int, T*, int, T*, T*, int, T*, int, T*, int);     \
    template void thin_svd<T>(int, int, T*, int, T*, T*, int, T*, int, bool);                 \
    template int geqp3<T>(int, int, T*, int, int*, T*, T*, int);                            \
    template int gesv<T>(int, int, T*, int, int*, T*, int);                                  \
    template void gemv<T>(char, int, int, T, const T*, int, const T*, int, T, T*, int);      \
    template int syevd<T>(char, char, int, T*, int, T*, T*, int, int*, int);

RANKWISE_INSTANTIATE_LAPACK(float)
RANKWISE_INSTANTIATE_LAPACK(double)
#undef RANKWISE_INSTANTIATE_LAPACK

}  // namespace rankwise::lapack
