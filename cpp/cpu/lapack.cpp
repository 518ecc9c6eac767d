// Run-time registry of the BLAS/LAPACK routines SciPy exports (see rankwise/lapack.hpp).
#include "rankwise/lapack.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <string>
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

// The routines, in the order of their slots in the table (single precision first).
enum Routine : std::size_t {
    kGemm, kSyrk, kTrsm, kGeqrf, kOrgqr, kPotrf, kGetrf, kLaswp, kGesdd, kGesvd, kGeqp3, kGesv,
    kGemv, kSyevd, kRoutines
};
const std::array<const char*, kRoutines> kBase = {"gemm",  "syrk",  "trsm",  "geqrf", "orgqr",
                                                  "potrf", "getrf", "laswp", "gesdd", "gesvd",
                                                  "geqp3", "gesv",  "gemv",  "syevd"};

// One slot per routine and precision, indexed directly: small products are called hundreds
// of times per SVDUpdater update, and a lookup by name (a std::map of strings) cost a few
// percent of such an update.
std::array<void*, 2 * kRoutines>& table() {
    static std::array<void*, 2 * kRoutines> t{};
    return t;
}

template <class T>
constexpr char prefix() {
    return sizeof(T) == 4 ? 's' : 'd';
}

template <class F, class T>
F* lookup(Routine r) {
    void* fn = table()[(sizeof(T) == 4 ? 0 : int(kRoutines)) + r];
    if (fn == nullptr) {
        throw Error("BLAS/LAPACK routine " + std::string(1, prefix<T>()) + kBase[r] +
                    " was not registered");
    }
    return reinterpret_cast<F*>(fn);
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
    const auto& names = required_routines();  // s... then d..., the table's order
    const auto at = std::find(names.begin(), names.end(), name);
    if (at == names.end()) throw Error("unknown BLAS/LAPACK routine " + name);
    require(fn != nullptr) << "null function pointer for " << name;
    table()[static_cast<std::size_t>(at - names.begin())] = fn;
}

bool ready() {
    return std::all_of(table().begin(), table().end(), [](void* fn) { return fn != nullptr; });
}

template <class T>
void gemm(char ta, char tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b,
          int ldb, T beta, T* c, int ldc) {
    lookup<gemm_t<T>, T>(kGemm)(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c,
                                &ldc);
}
template <class T>
void syrk(char uplo, char trans, int n, int k, T alpha, const T* a, int lda, T beta, T* c,
          int ldc) {
    lookup<syrk_t<T>, T>(kSyrk)(&uplo, &trans, &n, &k, &alpha, a, &lda, &beta, c, &ldc);
}
template <class T>
void trsm(char side, char uplo, char transa, char diag, int m, int n, T alpha, const T* a,
          int lda, T* b, int ldb) {
    lookup<trsm_t<T>, T>(kTrsm)(&side, &uplo, &transa, &diag, &m, &n, &alpha, a, &lda, b,
                                &ldb);
}
template <class T>
int geqrf(int m, int n, T* a, int lda, T* tau, T* work, int lwork) {
    int info = 0;
    lookup<geqrf_t<T>, T>(kGeqrf)(&m, &n, a, &lda, tau, work, &lwork, &info);
    return info;
}
template <class T>
int orgqr(int m, int n, int k, T* a, int lda, const T* tau, T* work, int lwork) {
    int info = 0;
    lookup<orgqr_t<T>, T>(kOrgqr)(&m, &n, &k, a, &lda, tau, work, &lwork, &info);
    return info;
}
template <class T>
int potrf(char uplo, int n, T* a, int lda) {
    int info = 0;
    lookup<potrf_t<T>, T>(kPotrf)(&uplo, &n, a, &lda, &info);
    return info;
}
template <class T>
int getrf(int m, int n, T* a, int lda, int* ipiv) {
    int info = 0;
    lookup<getrf_t<T>, T>(kGetrf)(&m, &n, a, &lda, ipiv, &info);
    return info;
}
template <class T>
void laswp(int n, T* a, int lda, int k1, int k2, const int* ipiv, int incx) {
    lookup<laswp_t<T>, T>(kLaswp)(&n, a, &lda, &k1, &k2, ipiv, &incx);
}
template <class T>
int gesdd(char jobz, int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt, int ldvt,
          T* work, int lwork, int* iwork) {
    int info = 0;
    lookup<gesdd_t<T>, T>(kGesdd)(&jobz, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work,
                                  &lwork, iwork, &info);
    return info;
}
template <class T>
int gesvd(char jobu, char jobvt, int m, int n, T* a, int lda, T* s, T* u, int ldu, T* vt,
          int ldvt, T* work, int lwork) {
    int info = 0;
    lookup<gesvd_t<T>, T>(kGesvd)(&jobu, &jobvt, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt,
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
    lookup<geqp3_t<T>, T>(kGeqp3)(&m, &n, a, &lda, jpvt, tau, work, &lwork, &info);
    return info;
}

template <class T>
int gesv(int n, int nrhs, T* a, int lda, int* ipiv, T* b, int ldb) {
    int info = 0;
    lookup<gesv_t<T>, T>(kGesv)(&n, &nrhs, a, &lda, ipiv, b, &ldb, &info);
    return info;
}

template <class T>
void gemv(char trans, int m, int n, T alpha, const T* a, int lda, const T* x, int incx, T beta,
          T* y, int incy) {
    lookup<gemv_t<T>, T>(kGemv)(&trans, &m, &n, &alpha, a, &lda, x, &incx, &beta, y, &incy);
}

template <class T>
int syevd(char jobz, char uplo, int n, T* a, int lda, T* w, T* work, int lwork, int* iwork,
          int liwork) {
    int info = 0;
    lookup<syevd_t<T>, T>(kSyevd)(&jobz, &uplo, &n, a, &lda, w, work, &lwork, iwork, &liwork,
                                  &info);
    return info;
}

template <class T>
int syevd_vectors(char uplo, int n, T* a, int lda, T* w) {
    T work_query = 0;
    int iwork_query = 0;
    syevd<T>('V', uplo, n, a, lda, w, &work_query, -1, &iwork_query, -1);
    std::vector<T> work(static_cast<std::size_t>(std::max(T(1), work_query)));
    std::vector<int> iwork(static_cast<std::size_t>(std::max(1, iwork_query)));
    return syevd<T>('V', uplo, n, a, lda, w, work.data(), static_cast<int>(work.size()),
                    iwork.data(), static_cast<int>(iwork.size()));
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
    template int syevd<T>(char, char, int, T*, int, T*, T*, int, int*, int);                 \
    template int syevd_vectors<T>(char, int, T*, int, T*);

RANKWISE_INSTANTIATE_LAPACK(float)
RANKWISE_INSTANTIATE_LAPACK(double)
#undef RANKWISE_INSTANTIATE_LAPACK

}  // namespace rankwise::lapack
