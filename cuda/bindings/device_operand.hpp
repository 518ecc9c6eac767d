// What the CUDA module's binding files share (cuda/bindings/*.cpp): device results handed to
// Python as DeviceBuffers, and the DeviceOperand that _gpu.py describes a matrix with.
#pragma once

#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rankwise/cuda_backend.hpp"
#include "rankwise/cuda_dia.hpp"
#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"
#include "rankwise/operators.hpp"

namespace rankwise::cuda_bindings {

// Device memory handed to Python; CuPy keeps this object alive as the owner of its array.
// Freed stream-ordered on the stream it was allocated on (as CuPy's own async memory is), so
// work still queued there that reads it completes first.
class DeviceBuffer {
   public:
    DeviceBuffer(void* ptr, std::size_t bytes, cudaStream_t stream)
        : ptr_(ptr), bytes_(bytes), stream_(stream) {}
    ~DeviceBuffer() { cuda::free_async(ptr_, stream_); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    std::uintptr_t ptr() const { return reinterpret_cast<std::uintptr_t>(ptr_); }
    std::size_t nbytes() const { return bytes_; }

   private:
    void* ptr_;
    std::size_t bytes_;
    cudaStream_t stream_;
};

template <class T>
pybind11::object to_python(DeviceMatrix<T>&& M) {
    const auto bytes = sizeof(T) * static_cast<std::size_t>(M.rows() * M.cols());
    const cudaStream_t stream = M.stream();
    return pybind11::cast(std::make_unique<DeviceBuffer>(M.release(), bytes, stream));
}

// A CSR matrix with its transpose also stored as CSR: both products are non-transposed
// SpMMs (cuSPARSE's transposed SpMM is several times slower).
template <class T, class I>
class CsrPairOp final : public LinearOp<T> {
   public:
    CsrPairOp(const CudaBackend& be, CsrView<T, I> a, CsrView<T, I> at) : be_(be), a_(a), at_(at) {}
    index_t rows() const override { return a_.rows; }
    index_t cols() const override { return a_.cols; }
    void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const override {
        be_.csr_mm(t == Trans::No ? a_ : at_, Trans::No, X, Y);
    }
    double fro_norm2() const override { return be_.sum_squares(a_); }

   private:
    const CudaBackend& be_;
    CsrView<T, I> a_, at_;
};

// A user's operator on the device (a cupyx LinearOperator or a function of CuPy arrays):
// every product calls `apply(transpose, x, x_rows, x_cols, x_ld, y, y_rows, y_ld)` with the
// device addresses of the column-major blocks X and Y, and _gpu.py's `apply` views them as
// CuPy arrays, on the caller's stream, which is the stream all native work is queued on: the
// user's kernels run in order with ours.  `apply` is borrowed from the DeviceOperand (which
// the binding's caller keeps alive), so building this object needs no GIL.
template <class T>
class DeviceCallbackOp final : public LinearOp<T> {
   public:
    DeviceCallbackOp(index_t rows, index_t cols, const pybind11::object& apply)
        : rows_(rows), cols_(cols), apply_(apply) {}
    index_t rows() const override { return rows_; }
    index_t cols() const override { return cols_; }
    void apply(Trans t, ConstMatView<T> X, MatView<T> Y) const override {
        const pybind11::gil_scoped_acquire gil;
        apply_(t == Trans::Yes, reinterpret_cast<std::uintptr_t>(X.data), X.rows, X.cols, X.ld,
               reinterpret_cast<std::uintptr_t>(Y.data), Y.rows, Y.ld);
    }

   private:
    index_t rows_, cols_;
    const pybind11::object& apply_;
};

// One matrix on the device, as _gpu.py describes it: dense (column-major storage of A, or of
// A^T when `transposed`) or CSR (of A, or of A^T for a CSC matrix), optionally with the CSR
// of the other one (then every product is non-transposed); a square matrix in DIA storage
// (values at `data`, or coded: `codes` and `table`; n = rows); or a user's operator
// ("callback").
struct DeviceOperand {
    std::string kind;   // "dense", "csr", "dia" or "callback"
    std::string dtype;  // "float32" or "float64"
    std::uintptr_t data = 0;
    index_t rows = 0, cols = 0;  // of the stored matrix
    index_t ld = 0;              // dense
    bool transposed = false;
    std::uintptr_t indices = 0, indptr = 0;  // csr
    index_t nnz = 0;
    int index_bytes = 4;
    std::uintptr_t t_data = 0, t_indices = 0, t_indptr = 0;  // CSR of the other one, or 0
    std::vector<index_t> offsets;  // dia: the diagonals, ascending
    std::uintptr_t codes = 0, table = 0;  // dia, coded: DiaView's (then data = 0)
    index_t table_size = 0;               // dia, coded: the values at `table`
    pybind11::object apply;  // callback: see DeviceCallbackOp

    template <class T, class I>
    CsrView<T, I> csr(bool other) const {
        const auto v = reinterpret_cast<const T*>(other ? t_data : data);
        const auto ix = reinterpret_cast<const I*>(other ? t_indices : indices);
        const auto ip = reinterpret_cast<const I*>(other ? t_indptr : indptr);
        return other ? CsrView<T, I>{v, ix, ip, cols, rows, nnz}
                     : CsrView<T, I>{v, ix, ip, rows, cols, nnz};
    }

    template <class T, class I, class Fn>
    auto visit_csr(const CudaBackend& be, Fn&& fn) const {
        if (t_data != 0) {
            // stored = A (or A^T when transposed): the pair in A's orientation
            const auto a = csr<T, I>(transposed), at = csr<T, I>(!transposed);
            const CsrPairOp<T, I> op(be, a, at);
            return fn(static_cast<const LinearOp<T>&>(op));
        }
        const SparseOp<CudaBackend, T, I> op(be, csr<T, I>(false), transposed);
        return fn(static_cast<const LinearOp<T>&>(op));
    }

    // dense: the stored matrix (A, or A^T when transposed)
    template <class T>
    ConstMatView<T> dense() const {
        return {reinterpret_cast<const T*>(data), rows, cols, ld};
    }

    template <class T>
    DiaView<T> dia() const {
        DiaView<T> v;
        v.values = reinterpret_cast<const T*>(data);
        v.codes = reinterpret_cast<const std::uint8_t*>(codes);
        v.table = reinterpret_cast<const T*>(table);
        v.n = rows;
        v.diagonals = static_cast<int>(offsets.size());
        std::copy(offsets.begin(), offsets.end(), v.offsets);
        return v;
    }

    bool is_single() const { return dtype == "float32"; }

    // Calls fn(const LinearOp<T>&) with the operator built over `be`.
    template <class T, class Fn>
    auto visit(const CudaBackend& be, Fn&& fn) const {
        if (kind == "dense") {
            const DenseOp<CudaBackend, T> op(be, dense<T>(), transposed);
            return fn(static_cast<const LinearOp<T>&>(op));
        }
        if (kind == "callback") {
            const DeviceCallbackOp<T> op(rows, cols, apply);
            return fn(static_cast<const LinearOp<T>&>(op));
        }
        if (kind == "dia") {
            const DiaDeviceOp<T> op(be, dia<T>(), table_size);
            return fn(static_cast<const LinearOp<T>&>(op));
        }
        require(kind == "csr") << "unknown device operand kind '" << kind << "'";
        if (index_bytes == 8) return visit_csr<T, std::int64_t>(be, fn);
        return visit_csr<T, std::int32_t>(be, fn);
    }
};

inline cudaStream_t as_stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// The update family's bindings (update_bindings.cpp): the classes DeviceSvdUpdate32/64.
void register_update(pybind11::module_& m);

}  // namespace rankwise::cuda_bindings
