#include "operator_handle.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "convert.hpp"
#include "rankwise/blas_threads.hpp"
#include "rankwise/dia.hpp"
#include "rankwise/error.hpp"
#include "rankwise/operators.hpp"
#include "rankwise/symmetric.hpp"

namespace rankwise::bindings {

const CpuBackend& cpu() {
    static const CpuBackend backend;
    return backend;
}

CsrProblem csr_problem(const py::array& indptr, const py::array& indices, index_t minor,
                       index_t nnz_stored) {
    const index_t major = static_cast<index_t>(indptr.size()) - 1;
    require(major >= 0 && indptr.ndim() == 1 && indices.ndim() == 1) << "indptr is empty";
    require(indptr.dtype().is(indices.dtype())) << "indptr and indices differ in dtype";
    require((indptr.flags() & indices.flags() & py::array::c_style) != 0)
        << "indptr and indices must be contiguous";
    nnz_stored = std::min<index_t>(nnz_stored, static_cast<index_t>(indices.size()));
    if (py::array_t<std::int32_t>::check_(indptr)) {
        return rankwise::csr_problem(static_cast<const std::int32_t*>(indptr.data()), major,
                                     static_cast<const std::int32_t*>(indices.data()), minor,
                                     nnz_stored);
    }
    require(py::array_t<std::int64_t>::check_(indptr)) << "indices must be int32 or int64";
    return rankwise::csr_problem(static_cast<const std::int64_t*>(indptr.data()), major,
                                 static_cast<const std::int64_t*>(indices.data()), minor,
                                 nnz_stored);
}

bool csr_has_duplicates(const py::array& indptr, const py::array& indices, index_t minor) {
    require(csr_problem(indptr, indices, minor, static_cast<index_t>(indices.size())) ==
            CsrProblem::None)
        << "csr_has_duplicates: not a sound CSR structure";
    const index_t major = static_cast<index_t>(indptr.size()) - 1;
    const bool narrow = py::array_t<std::int32_t>::check_(indptr);
    const void* ip = indptr.data();
    const void* ix = indices.data();
    py::gil_scoped_release release;
    if (narrow) {
        return rankwise::csr_has_duplicates(static_cast<const std::int32_t*>(ip), major,
                                            static_cast<const std::int32_t*>(ix), minor);
    }
    return rankwise::csr_has_duplicates(static_cast<const std::int64_t*>(ip), major,
                                        static_cast<const std::int64_t*>(ix), minor);
}

namespace {

// Column-major view of A (transposed = false) or of A^T (transposed = true), no copy.
template <class T>
std::shared_ptr<LinearOp<T>> dense_op(const py::array& a) {
    const index_t m = a.shape(0), n = a.shape(1);
    const index_t s0 = a.strides(0), s1 = a.strides(1), item = sizeof(T);
    const T* p = static_cast<const T*>(a.data());
    if (s0 == item && s1 % item == 0 && s1 / item >= std::max<index_t>(m, 1)) {
        return std::make_shared<DenseOp<CpuBackend, T>>(cpu(), ConstMatView<T>{p, m, n, s1 / item},
                                                        false);
    }
    if (s1 == item && s0 % item == 0 && s0 / item >= std::max<index_t>(n, 1)) {
        return std::make_shared<DenseOp<CpuBackend, T>>(cpu(), ConstMatView<T>{p, n, m, s0 / item},
                                                        true);
    }
    throw Error("dense operator needs unit stride along one axis; copy the array first");
}

template <class I>
void check_csr_structure(const I* indptr, const I* indices, index_t rows, index_t cols,
                         index_t nnz_stored) {
    switch (rankwise::csr_problem(indptr, rows, indices, cols, nnz_stored)) {
        case CsrProblem::None: return;
        case CsrProblem::Indptr:
            throw Error("sparse matrix: indptr must start at 0 and be non-decreasing");
        case CsrProblem::Overrun:
            throw Error("sparse matrix: indptr[-1] = " + std::to_string(indptr[rows]) +
                        " exceeds the " + std::to_string(nnz_stored) + " stored entries");
        case CsrProblem::Index:
            throw Error("sparse matrix: column index out of range [0, " + std::to_string(cols) +
                        ")");
    }
}

template <class T, class I>
std::shared_ptr<LinearOp<T>> sparse_op(const py::array& data, const py::array& indices,
                                       const py::array& indptr, index_t rows, index_t cols,
                                       bool transposed) {
    const I* ip = static_cast<const I*>(indptr.data());
    const I* ix = static_cast<const I*>(indices.data());
    check_csr_structure(ip, ix, rows, cols, std::min<index_t>(data.size(), indices.size()));
    const CsrView<T, I> v{static_cast<const T*>(data.data()), ix, ip, rows, cols};
    return std::make_shared<SparseOp<CpuBackend, T, I>>(cpu(), v, transposed);
}

// Calls back into Python for every product; copies the blocks in and out.
template <class T>
class CallbackOp final : public LinearOp<T> {
   public:
    CallbackOp(index_t rows, index_t cols, py::function matmat, py::function rmatmat)
        : rows_(rows), cols_(cols), matmat_(std::move(matmat)), rmatmat_(std::move(rmatmat)) {}
    ~CallbackOp() override {
        py::gil_scoped_acquire gil;
        matmat_ = py::function();
        rmatmat_ = py::function();
    }
    index_t rows() const override { return rows_; }
    index_t cols() const override { return cols_; }
    void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const override {
        py::gil_scoped_acquire gil;
        const cpu::UserBlasThreads user_blas;  // the user's code, with the user's BLAS threads
        py::array_t<T, py::array::f_style> x({X.rows, X.cols});
        for (index_t j = 0; j < X.cols; ++j)
            std::memcpy(x.mutable_data(0, j), X.col(j), sizeof(T) * X.rows);
        py::object r = (t == Trans::No ? matmat_ : rmatmat_)(x);
        auto y = py::array_t<T, py::array::f_style | py::array::forcecast>::ensure(r);
        if (!y) {  // ensure() cleared the conversion's error: an error_already_set was empty
            std::string what = py::str(py::type::handle_of(r).attr("__name__"));
            if (py::hasattr(r, "dtype"))
                what += " (dtype " + std::string(py::str(r.attr("dtype"))) + ")";
            throw py::type_error(std::string(t == Trans::No ? "matmat" : "rmatmat") +
                                 " returned a value of type " + what +
                                 ", not an array of real numbers");
        }
        require(y.ndim() == 2 && y.shape(0) == Y.rows && y.shape(1) == Y.cols)
            << (t == Trans::No ? "matmat" : "rmatmat") << " returned an array of the wrong shape"
            << " (expected " << Y.rows << " x " << Y.cols << ")";
        for (index_t j = 0; j < Y.cols; ++j)
            std::memcpy(Y.col(j), y.data(0, j), sizeof(T) * Y.rows);
    }

   private:
    index_t rows_, cols_;
    py::function matmat_, rmatmat_;
};

}  // namespace

OperatorHandle OperatorHandle::dense(py::array a) {
    require(a.ndim() == 2) << "dense operator needs a 2-D array";
    OperatorHandle h;
    if (is_dtype<float>(a)) {
        h.f32_ = dense_op<float>(a);
    } else if (is_dtype<double>(a)) {
        h.f64_ = dense_op<double>(a);
    } else {
        throw Error("dense operator needs float32 or float64 data");
    }
    h.storage_ = "dense";
    h.keepalive_ = a;
    return h;
}

namespace {

template <class T, class I>
std::shared_ptr<LinearOp<T>> dia_op(const py::array& data, const py::array& indices,
                                    const py::array& indptr, index_t n, index_t max_diagonals,
                                    double max_fill, DiaStorage storage) {
    const I* ip = static_cast<const I*>(indptr.data());
    const I* ix = static_cast<const I*>(indices.data());
    check_csr_structure(ip, ix, n, n, std::min<index_t>(data.size(), indices.size()));
    const CsrView<T, I> v{static_cast<const T*>(data.data()), ix, ip, n, n};
    std::optional<DiaMatrix<T>> a;
    {
        const py::gil_scoped_release release;
        a = dia_from_csr(v, max_diagonals, max_fill, storage);
    }
    if (!a) return nullptr;
    return std::make_shared<DiaOp<T>>(std::move(*a));
}

}  // namespace

std::optional<OperatorHandle> OperatorHandle::dia(py::array data, py::array indices,
                                                  py::array indptr, index_t n,
                                                  index_t max_diagonals, double max_fill,
                                                  int max_codes, double max_plain_bytes) {
    require(n >= 0) << "negative size";
    require(data.ndim() == 1 && indices.ndim() == 1 && indptr.ndim() == 1 &&
            (data.flags() & indices.flags() & indptr.flags() & py::array::c_style) != 0)
        << "sparse arrays must be contiguous 1-D arrays";
    require(indptr.size() == n + 1) << "sparse matrix: indptr has " << indptr.size()
                                    << " entries, expected " << n + 1;
    require(indices.dtype().is(indptr.dtype())) << "indices and indptr must share a dtype";
    const bool i32 = is_dtype<std::int32_t>(indptr);
    require(i32 || is_dtype<std::int64_t>(indptr)) << "sparse index arrays must be int32 or int64";
    const DiaStorage storage{max_codes, max_plain_bytes};
    OperatorHandle h;
    if (is_dtype<float>(data)) {
        h.f32_ = i32 ? dia_op<float, std::int32_t>(data, indices, indptr, n, max_diagonals,
                                                   max_fill, storage)
                     : dia_op<float, std::int64_t>(data, indices, indptr, n, max_diagonals,
                                                   max_fill, storage);
        if (!h.f32_) return std::nullopt;
    } else if (is_dtype<double>(data)) {
        h.f64_ = i32 ? dia_op<double, std::int32_t>(data, indices, indptr, n, max_diagonals,
                                                    max_fill, storage)
                     : dia_op<double, std::int64_t>(data, indices, indptr, n, max_diagonals,
                                                    max_fill, storage);
        if (!h.f64_) return std::nullopt;
    } else {
        throw Error("sparse operator needs float32 or float64 data");
    }
    h.storage_ = "dia";
    return h;
}

namespace {

// a as a column-major view (a symmetric matrix equals its transpose, so a C-ordered array
// is read as it is), if a is square and symmetric.
template <class T>
std::shared_ptr<LinearOp<T>> symmetric_op(const py::array& a) {
    const index_t n = a.shape(0), item = sizeof(T);
    if (a.shape(1) != n || n == 0) return nullptr;
    const index_t s0 = a.strides(0), s1 = a.strides(1);
    index_t ld = 0;
    if (s0 == item && s1 % item == 0 && s1 / item >= n) ld = s1 / item;
    if (s1 == item && s0 % item == 0 && s0 / item >= n) ld = s0 / item;
    if (ld == 0) return nullptr;
    const ConstMatView<T> v{static_cast<const T*>(a.data()), n, n, ld};
    bool symmetric = false;
    {
        const py::gil_scoped_release release;
        symmetric = cpu::is_symmetric(v);
    }
    if (!symmetric) return nullptr;
    return std::make_shared<SymmetricDenseOp<T>>(v);
}

}  // namespace

std::optional<OperatorHandle> OperatorHandle::symmetric_dense(py::array a) {
    require(a.ndim() == 2) << "dense operator needs a 2-D array";
    OperatorHandle h;
    if (is_dtype<float>(a)) {
        h.f32_ = symmetric_op<float>(a);
        if (!h.f32_) return std::nullopt;
    } else if (is_dtype<double>(a)) {
        h.f64_ = symmetric_op<double>(a);
        if (!h.f64_) return std::nullopt;
    } else {
        throw Error("dense operator needs float32 or float64 data");
    }
    h.storage_ = "symmetric";
    h.keepalive_ = a;
    return h;
}

OperatorHandle OperatorHandle::sparse(py::array data, py::array indices, py::array indptr,
                                      index_t rows, index_t cols, bool transposed) {
    require(rows >= 0 && cols >= 0) << "negative sparse shape";
    require(data.ndim() == 1 && indices.ndim() == 1 && indptr.ndim() == 1 &&
            (data.flags() & py::array::c_style) && (indices.flags() & py::array::c_style) &&
            (indptr.flags() & py::array::c_style))
        << "sparse arrays must be contiguous 1-D arrays";
    require(indptr.size() == rows + 1) << "sparse matrix: indptr has " << indptr.size()
                                       << " entries, expected " << rows + 1;
    require(indices.dtype().num() == indptr.dtype().num() &&
            indices.dtype().itemsize() == indptr.dtype().itemsize())
        << "indices and indptr must share a dtype";
    OperatorHandle h;
    const bool i32 = is_dtype<std::int32_t>(indptr), i64 = is_dtype<std::int64_t>(indptr);
    require(i32 || i64) << "sparse index arrays must be int32 or int64";
    if (is_dtype<float>(data)) {
        h.f32_ = i32 ? sparse_op<float, std::int32_t>(data, indices, indptr, rows, cols,
                                                      transposed)
                     : sparse_op<float, std::int64_t>(data, indices, indptr, rows, cols,
                                                      transposed);
    } else if (is_dtype<double>(data)) {
        h.f64_ = i32 ? sparse_op<double, std::int32_t>(data, indices, indptr, rows, cols,
                                                       transposed)
                     : sparse_op<double, std::int64_t>(data, indices, indptr, rows, cols,
                                                       transposed);
    } else {
        throw Error("sparse operator needs float32 or float64 data");
    }
    h.storage_ = transposed ? "csc" : "csr";
    h.keepalive_ = py::make_tuple(data, indices, indptr);
    return h;
}

OperatorHandle OperatorHandle::callback(index_t rows, index_t cols, const std::string& dtype,
                                        py::function matmat, py::function rmatmat) {
    require(rows >= 1 && cols >= 1) << "operator shape must be positive";
    OperatorHandle h;
    if (dtype == "float32") {
        h.f32_ = std::make_shared<CallbackOp<float>>(rows, cols, matmat, rmatmat);
    } else if (dtype == "float64") {
        h.f64_ = std::make_shared<CallbackOp<double>>(rows, cols, matmat, rmatmat);
    } else {
        throw Error("operator dtype must be float32 or float64, got " + dtype);
    }
    h.storage_ = "operator";
    return h;
}

}  // namespace rankwise::bindings
