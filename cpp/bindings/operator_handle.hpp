// Python-facing operator objects: they validate and hold the numpy arrays of one matrix and
// expose it to the algorithms as a LinearOp<float> or LinearOp<double>.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>

#include "rankwise/cpu_backend.hpp"
#include "rankwise/csr_structure.hpp"
#include "rankwise/linear_op.hpp"

namespace rankwise::bindings {

namespace py = pybind11;

const CpuBackend& cpu();

// rankwise::csr_problem (rankwise/csr_structure.hpp) of numpy arrays: indptr (major + 1
// entries) and indices of one dtype, int32 or int64, contiguous.
CsrProblem csr_problem(const py::array& indptr, const py::array& indices, index_t minor,
                       index_t nnz_stored);
// rankwise::csr_has_duplicates of the same arrays, a sound structure.
bool csr_has_duplicates(const py::array& indptr, const py::array& indices, index_t minor);

class OperatorHandle {
   public:
    // Dense: a 2-D float32/float64 array whose storage one BLAS view can describe
    // (unit stride along one axis), else ValueError.
    static OperatorHandle dense(py::array a);
    // CSR (transposed = false) or CSC given as CSR of the transpose (transposed = true).
    // indptr/indices must share an integer dtype (int32 or int64); checked in O(nnz).
    static OperatorHandle sparse(py::array data, py::array indices, py::array indptr,
                                 index_t rows, index_t cols, bool transposed);
    // The DIA form (rankwise/dia.hpp) of the n x n CSR matrix (data, indices, indptr) when
    // its entries lie on at most max_diagonals diagonals holding at most max_fill * nnz
    // positions, its rows are canonical, and its values have at most max_codes distinct
    // ones (coded storage) or take at most max_plain_bytes in plain storage; None
    // otherwise.  A copy: the arrays may change.
    static std::optional<OperatorHandle> dia(py::array data, py::array indices, py::array indptr,
                                             index_t n, index_t max_diagonals, double max_fill,
                                             int max_codes, double max_plain_bytes);
    // The dense square float32/float64 array a (unit stride along one axis) as a symmetric
    // operator whose products read its upper triangle (rankwise/symmetric.hpp) when a
    // equals its transpose exactly; None otherwise.  A view: a is kept alive.
    static std::optional<OperatorHandle> symmetric_dense(py::array a);
    // A user operator: matmat(X) -> A @ X and rmatmat(X) -> A.T @ X, called with the GIL.
    static OperatorHandle callback(index_t rows, index_t cols, const std::string& dtype,
                                   py::function matmat, py::function rmatmat);

    bool is_single() const { return f32_ != nullptr; }
    const LinearOp<float>& f32() const { return *f32_; }
    const LinearOp<double>& f64() const { return *f64_; }
    index_t rows() const { return is_single() ? f32_->rows() : f64_->rows(); }
    index_t cols() const { return is_single() ? f32_->cols() : f64_->cols(); }
    std::string dtype() const { return is_single() ? "float32" : "float64"; }
    // "dense", "symmetric", "csr", "csc", "dia" or "operator": how the products read A
    const std::string& storage() const { return storage_; }

   private:
    py::object keepalive_;  // the arrays the views point into
    std::string storage_;
    std::shared_ptr<LinearOp<float>> f32_;
    std::shared_ptr<LinearOp<double>> f64_;
};

}  // namespace rankwise::bindings
