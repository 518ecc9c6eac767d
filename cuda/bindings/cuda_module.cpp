// rankwise._cuda: the CUDA backend's Python module.  Device arrays arrive as raw pointers
// taken from __cuda_array_interface__ by python/rankwise/_gpu.py (which keeps the CuPy arrays
// alive for the call), results leave as DeviceBuffer objects that CuPy wraps without a copy.
// Argument conversion, the GIL and error mapping only; the algorithms are the same templates
// as on the CPU (cpp/include/rankwise/algo/).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "device_operand.hpp"
#include "range_checked_op.hpp"
#include "results.hpp"  // cpp/bindings: option names and result dicts shared with _core
#include "rankwise/algo/cg.hpp"
#include "rankwise/algo/precond.hpp"
#include "rankwise/algo/randqb_ei.hpp"
#include "rankwise/algo/rsvd.hpp"
#include "rankwise/algo/selection.hpp"
#include "rankwise/algo/subspace_iteration.hpp"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/error.hpp"
#include "rankwise/operators.hpp"
#include "scipy_lapack.hpp"  // cpp/bindings: the host LAPACK of the small SVDs

namespace py = pybind11;
using namespace rankwise;
using namespace rankwise::cuda_bindings;

namespace {

template <class T>
py::tuple factors_to_python(SvdFactors<CudaBackend, T>&& f) {
    py::array_t<T> s(static_cast<py::ssize_t>(f.s.size()));
    std::copy(f.s.begin(), f.s.end(), s.mutable_data());
    py::dict info = bindings::factors_info(f);
    const index_t r = static_cast<index_t>(f.s.size());
    py::tuple shapes = py::make_tuple(py::make_tuple(f.U.rows(), r), py::make_tuple(r, f.V.rows()));
    return py::make_tuple(to_python(std::move(f.U)), s, to_python(std::move(f.V)), info, shapes);
}

template <class Fn>
py::tuple svd_call(const DeviceOperand& A, std::uintptr_t stream, Fn&& fn) {
    const cuda::CallMemoryScope memory(as_stream(stream));  // first: ends after the rest
    const CudaBackend be(as_stream(stream));
    if (A.is_single()) {
        auto f = [&] {
            const py::gil_scoped_release nogil;
            return A.visit<float>(be, [&](const LinearOp<float>& op) { return fn(be, op); });
        }();
        return factors_to_python(std::move(f));
    }
    auto f = [&] {
        const py::gil_scoped_release nogil;
        return A.visit<double>(be, [&](const LinearOp<double>& op) { return fn(be, op); });
    }();
    return factors_to_python(std::move(f));
}

// diag(A) on the device as _cg_gpu.py hands it over: n values, or coded (a byte per row
// indexing a table of its distinct values, rankwise/diagonal_view.hpp); none: all 0.
struct DeviceDiagonal {
    std::uintptr_t values = 0, codes = 0, table = 0;
    index_t table_size = 0;

    bool given() const { return values != 0 || codes != 0; }
    template <class T>
    DiagonalView<T> view() const {
        return {reinterpret_cast<const T*>(values),
                reinterpret_cast<const std::uint8_t*>(codes), reinterpret_cast<const T*>(table)};
    }
};

// jacobi: diag(A) on the device, or none; M_op: a preconditioner given as an operator (M
// applied by products: a device matrix or a user's operator), or null; at most one of the
// two.
template <class T>
py::dict run_cg(const DeviceOperand& A, const DeviceDiagonal& jacobi, const DeviceOperand* M_op,
                std::uintptr_t b, std::uintptr_t x, index_t n, index_t s,
                const std::vector<double>& atol, index_t maxiter, bool x0_nonzero,
                const std::optional<py::function>& callback, std::uintptr_t stream) {
    require(!jacobi.given() || M_op == nullptr) << "cg: two preconditioners given";
    require(M_op == nullptr || (M_op->rows == n && M_op->cols == n && M_op->dtype == A.dtype))
        << "cg: the preconditioner must be n x n in A's dtype";
    const cuda::CallMemoryScope memory(as_stream(stream));  // first: ends after the rest
    const CudaBackend be(as_stream(stream));
    std::unique_ptr<DeviceJacobi<T>> M;
    if (jacobi.given())
        M = std::make_unique<DeviceJacobi<T>>(be, jacobi.view<T>(), jacobi.table_size, n);
    const ConstMatView<T> B{reinterpret_cast<const T*>(b), n, s, n > 0 ? n : 1};
    const MatView<T> X{reinterpret_cast<T*>(x), n, s, n > 0 ? n : 1};
    CgOptions o;
    o.maxiter = maxiter;
    o.atol = atol;
    o.x0_nonzero = x0_nonzero;
    CgCallback cb;
    if (callback) {
        // X is the caller's CuPy array, updated on the same stream: the callback sees the iterate.
        cb = [&](index_t) {
            const py::gil_scoped_acquire gil;
            (*callback)();
        };
    }
    CgResult res;
    {
        const py::gil_scoped_release nogil;
        res = A.visit<T>(be, [&](const LinearOp<T>& op) {
            if (M_op == nullptr) return cg_solve(be, op, M.get(), B, X, o, cb);
            return M_op->visit<T>(be, [&](const LinearOp<T>& m) {
                const OperatorPrecond<T> P(m);
                return cg_solve(be, op, &P, B, X, o, cb);
            });
        });
    }
    return bindings::cg_result_dict(res, s);
}

// A device address as a pointer to the operator's value type.
template <class T>
const T* device_values(const LinearOp<T>&, std::uintptr_t p) {
    return reinterpret_cast<const T*>(p);
}

py::array_t<std::int64_t> to_indices(const std::vector<index_t>& v) {
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

// Calls fn(be, V) without the GIL on the column-major device basis V (n x k, leading
// dimension ld) of the given dtype; V's storage is the caller's CuPy array.
template <class Fn>
auto on_basis(const std::string& dtype, std::uintptr_t data, index_t n, index_t k, index_t ld,
              std::uintptr_t stream, Fn&& fn) {
    require(dtype == "float32" || dtype == "float64") << "dtype must be float32/64";
    require(n >= 0 && k >= 0 && ld >= std::max<index_t>(n, 1))
        << "invalid basis " << n << " x " << k << ", ld " << ld;
    const cuda::CallMemoryScope memory(as_stream(stream));  // first: ends after the rest
    const CudaBackend be(as_stream(stream));
    const py::gil_scoped_release nogil;
    if (dtype == "float32")
        return fn(be, ConstMatView<float>{reinterpret_cast<const float*>(data), n, k, ld});
    return fn(be, ConstMatView<double>{reinterpret_cast<const double*>(data), n, k, ld});
}

// m.name(dtype, data, n, k, ld, stream): one float64 per column of the device matrix X,
// reduce(be, X, out) on X's dtype.
template <class Reduce>
void def_per_column(py::module_& m, const char* name, const char* doc, Reduce reduce) {
    m.def(
        name,
        [reduce](const std::string& dtype, std::uintptr_t data, index_t n, index_t k, index_t ld,
                 std::uintptr_t stream) {
            return on_basis(dtype, data, n, k, ld, stream, [&](const auto& be, auto v) {
                std::vector<double> out(static_cast<std::size_t>(k));
                reduce(be, v, out.data());
                return out;
            });
        },
        py::arg("dtype"), py::arg("data"), py::arg("n"), py::arg("k"), py::arg("ld"),
        py::arg("stream"), doc);
}

// A DeviceOperand of `kind` with the fields every kind has; the dtype checked.
DeviceOperand operand_of(const char* kind, const std::string& dtype, std::uintptr_t data,
                         index_t rows, index_t cols) {
    require(dtype == "float32" || dtype == "float64") << "dtype must be float32/64";
    DeviceOperand o;
    o.kind = kind;
    o.dtype = dtype;
    o.data = data;
    o.rows = rows;
    o.cols = cols;
    return o;
}

// Ctrl-C in the main thread raises KeyboardInterrupt out of the native loop.
void check_signals() {
    const py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
    m.doc() = "rankwise native core (CUDA backend)";
    bindings::register_scipy_lapack();
    cuda::set_interrupt_checker(&check_signals);
    // Local translators: _core registers its own for the same C++ types.  pybind11 tries
    // them in reverse order of registration, so the derived DeviceError comes last (else the
    // translator of its base Error would catch it as a ValueError).
    py::register_local_exception<Error>(m, "CoreError", PyExc_ValueError);
    py::register_local_exception<cuda::DeviceError>(m, "DeviceError", PyExc_RuntimeError);
    py::register_local_exception<OutOfRange>(m, "OutOfRange", PyExc_ArithmeticError);

    m.def("reserved_bytes", &cuda::reserved_bytes,
          "Bytes of device memory that rankwise's pool of the current device holds (its "
          "live allocations, such as factors returned as CuPy arrays, and what it keeps).");
    m.def(
        "set_small_svd",
        [](const std::string& way) {
            static const std::vector<std::pair<std::string, cuda::SmallSvd>> ways = {
                {"auto", cuda::SmallSvd::Auto},     {"host", cuda::SmallSvd::Host},
                {"jacobi", cuda::SmallSvd::Jacobi}, {"polar", cuda::SmallSvd::Polar},
                {"gram", cuda::SmallSvd::Gram},     {"gram_host", cuda::SmallSvd::GramHost},
                {"eig_jacobi", cuda::SmallSvd::EigJacobi},
                {"eig_jacobi_host", cuda::SmallSvd::EigJacobiHost}};
            std::string previous;
            for (const auto& [name, w] : ways)
                if (w == cuda::small_svd_way()) previous = name;
            for (const auto& [name, w] : ways) {
                if (name == way) {
                    cuda::set_small_svd(w);
                    return previous;
                }
            }
            require(false) << "set_small_svd: unknown way '" << way
                           << "' (auto, host, jacobi, polar, gram, gram_host, eig_jacobi or "
                              "eig_jacobi_host)";
            return previous;
        },
        py::arg("way"),
        "How the SVDs take the SVD of their small l x l factor on the device, process-wide "
        "(rankwise/cuda_backend.hpp, SmallSvd): 'auto' (the default), 'host', 'jacobi', "
        "'polar', 'gram', 'gram_host', 'eig_jacobi' or 'eig_jacobi_host'; returns the "
        "previous way.  For the benchmarks and tests.");
    m.def(
        "last_range_check", [] { return std::string(last_range_check.load()); },
        "How the process's last first-product check of rsvd ended (range_checked_op.hpp): "
        "'product', 'scan', 'out of range', or '' before the first.  For the tests.");
    m.def(
        "last_small_svd", [] { return std::string(cuda::last_small_svd()); },
        "Which way took the process's last small SVD on the device: 'host', 'jacobi', "
        "'gesvd', 'polar', 'gram', 'gram_host', 'eig_jacobi' or 'eig_jacobi_host' ('' before "
        "the first).  For the tests.");
    m.def("device_count", &cuda::device_count,
          "Number of CUDA devices visible to this process (0 without a driver or a GPU).");

    py::class_<DeviceBuffer>(m, "DeviceBuffer")
        .def_property_readonly("ptr", &DeviceBuffer::ptr)
        .def_property_readonly("nbytes", &DeviceBuffer::nbytes);

    py::class_<DeviceOperand>(m, "DeviceOperand")
        .def_static(
            "dense",
            [](const std::string& dtype, std::uintptr_t data, index_t rows, index_t cols,
               index_t ld, bool transposed) {
                require(rows >= 0 && cols >= 0 && ld >= std::max<index_t>(rows, 1))
                    << "invalid dense operand " << rows << " x " << cols << ", ld " << ld;
                DeviceOperand o = operand_of("dense", dtype, data, rows, cols);
                o.ld = ld;
                o.transposed = transposed;
                return o;
            },
            py::arg("dtype"), py::arg("data"), py::arg("rows"), py::arg("cols"), py::arg("ld"),
            py::arg("transposed"))
        .def_static(
            "callback",
            [](const std::string& dtype, index_t rows, index_t cols, py::object apply) {
                require(rows >= 0 && cols >= 0) << "invalid callback operand";
                DeviceOperand o = operand_of("callback", dtype, 0, rows, cols);
                o.apply = std::move(apply);
                return o;
            },
            py::arg("dtype"), py::arg("rows"), py::arg("cols"), py::arg("apply"),
            "A user's operator: apply(transpose, x, x_rows, x_cols, x_ld, y, y_rows, y_ld) "
            "writes op(A) X into Y (device addresses, column-major blocks).")
        .def_static(
            "csr",
            [](const std::string& dtype, std::uintptr_t data, std::uintptr_t indices,
               std::uintptr_t indptr, index_t rows, index_t cols, index_t nnz, int index_bytes,
               bool transposed, std::uintptr_t t_data, std::uintptr_t t_indices,
               std::uintptr_t t_indptr) {
                require(index_bytes == 4 || index_bytes == 8) << "indices must be int32 or int64";
                require(rows >= 0 && cols >= 0 && nnz >= 0) << "invalid CSR operand";
                DeviceOperand o = operand_of("csr", dtype, data, rows, cols);
                o.indices = indices;
                o.indptr = indptr;
                o.nnz = nnz;
                o.index_bytes = index_bytes;
                o.transposed = transposed;
                o.t_data = t_data;
                o.t_indices = t_indices;
                o.t_indptr = t_indptr;
                return o;
            },
            py::arg("dtype"), py::arg("data"), py::arg("indices"), py::arg("indptr"),
            py::arg("rows"), py::arg("cols"), py::arg("nnz"), py::arg("index_bytes"),
            py::arg("transposed"), py::arg("t_data") = 0, py::arg("t_indices") = 0,
            py::arg("t_indptr") = 0,
            "CSR (of A, or of A^T if transposed) with, optionally, the CSR of the other one.")
        .def_static(
            "dia",
            [](const std::string& dtype, std::uintptr_t values, index_t n,
               const std::vector<index_t>& offsets, std::uintptr_t codes, std::uintptr_t table,
               index_t table_size) {
                require(n >= 0 && static_cast<index_t>(offsets.size()) <= kDiaMaxDiagonals)
                    << "a DIA operand has n >= 0 and at most " << kDiaMaxDiagonals
                    << " diagonals; got n = " << n << ", " << offsets.size() << " diagonals";
                for (std::size_t d = 0; d < offsets.size(); ++d)
                    require(offsets[d] > -n && offsets[d] < n &&
                            (d == 0 || offsets[d - 1] < offsets[d]))
                        << "DIA offsets must be ascending and within (-n, n)";
                require((values != 0) != (codes != 0))
                    << "a DIA operand has either values or codes";
                require(codes == 0 || (table != 0 && table_size >= 1 &&
                                       table_size <= kDiaMaxCodes))
                    << "coded DIA storage needs a table of 1 to " << kDiaMaxCodes
                    << " values; got " << table_size;
                DeviceOperand o = operand_of("dia", dtype, values, n, n);
                o.offsets = offsets;
                o.codes = codes;
                o.table = table;
                o.table_size = codes != 0 ? table_size : 0;
                return o;
            },
            py::arg("dtype"), py::arg("values"), py::arg("n"), py::arg("offsets"),
            py::arg("codes") = 0, py::arg("table") = 0, py::arg("table_size") = 0,
            "A square n x n matrix in DIA storage (rankwise/dia_view.hpp): entry (i, i + "
            "offsets[d]) at values[d * n + i], or (values = 0) at table[codes[d * n + i]], "
            "codes uint8 and table_size <= 256 values (device addresses; offsets ascending, "
            "at most 32).");

    m.def(
        "rsvd",
        [](const DeviceOperand& A, index_t k, index_t l, int n_iter, const std::string& method,
           const std::string& power_ortho, std::uint64_t key0, std::uint64_t key1,
           std::uintptr_t stream, int passes, double range_low, double range_high) {
            RsvdOptions o;
            o.k = k;
            o.l = l;
            o.n_iter = n_iter;
            o.passes = passes;
            o.power_ortho = bindings::parse_ortho(power_ortho);
            o.final_ortho = Ortho::CholQR2;
            o.key = philox::Key{key0, key1};
            require(method == "subspace" || method == "block_krylov")
                << "unknown method '" << method << "'";
            const bool krylov = method == "block_krylov";
            const bool deferred = range_high > 0;
            require(!deferred || A.kind == "dense")
                << "rsvd: the range check of the first product is for dense operands";
            return svd_call(A, stream, [&](const CudaBackend& be, const auto& op) {
                using T = typename std::decay_t<decltype(op)>::value_type;
                const auto run = [&](const LinearOp<T>& a) {
                    return krylov ? rsvd_block_krylov(be, a, o) : rsvd_subspace(be, a, o);
                };
                if (!deferred) return run(op);
                const RangeCheckedOp<T> checked(be, op, A.dense<T>(), range_low, range_high);
                return run(checked);
            });
        },
        py::arg("A"), py::arg("k"), py::arg("l"), py::arg("n_iter"), py::arg("method"),
        py::arg("power_ortho"), py::arg("key0"), py::arg("key1"), py::arg("stream"),
        py::arg("passes") = 0, py::arg("range_low") = 0.0, py::arg("range_high") = 0.0,
        "Fixed-rank randomized SVD; returns (U, s, V, info, shapes) with U and V DeviceBuffers.  "
        "passes: block Krylov's passes over A (0: 2 n_iter + 2), l its block size.  "
        "range_high > 0 (a dense A that was not scanned): A's NaN/Inf and range check judged "
        "from the first product (range_checked_op.hpp), OutOfRange where A's largest entry "
        "is not finite or outside [range_low, range_high].");

    m.def(
        "rsvd_fixed_precision",
        [](const DeviceOperand& A, double tol, index_t block, index_t max_rank, int n_iter,
           std::uint64_t key0, std::uint64_t key1, std::uintptr_t stream) {
            FixedPrecisionOptions o;
            o.tol = tol;
            o.block = block;
            o.max_rank = max_rank;
            o.n_iter = n_iter;
            o.key = philox::Key{key0, key1};
            return svd_call(A, stream, [&](const CudaBackend& be, const auto& op) {
                return rsvd_fixed_precision(be, op, o);
            });
        },
        py::arg("A"), py::arg("tol"), py::arg("block"), py::arg("max_rank"), py::arg("n_iter"),
        py::arg("key0"), py::arg("key1"), py::arg("stream"),
        "Fixed-precision randomized SVD (randQB_EI) on the device.");

    m.def(
        "subspace_iteration",
        [](const DeviceOperand& A, index_t k, index_t l, index_t depth, double tol,
           index_t max_iter, std::uintptr_t v0, std::uint64_t key0, std::uint64_t key1,
           std::uintptr_t stream) {
            SubspaceIterationOptions o;
            o.k = k;
            o.l = l;
            o.depth = depth;
            o.tol = tol;
            o.max_iter = max_iter;
            o.key = philox::Key{key0, key1};
            return svd_call(A, stream, [&](const CudaBackend& be, const auto& op) {
                return subspace_iteration(be, op, o, v0 != 0 ? device_values(op, v0) : nullptr);
            });
        },
        py::arg("A"), py::arg("k"), py::arg("l"), py::arg("depth"), py::arg("tol"),
        py::arg("max_iter"), py::arg("v0"), py::arg("key0"), py::arg("key1"), py::arg("stream"),
        "Restarted block Krylov iteration to a residual tolerance (svds) on the device; v0: "
        "the device address of the start vector (min(m, n) values of A's dtype) or 0; returns "
        "(U, s, V, info, shapes).");

    m.def(
        "select_rows",
        [](const std::string& method, const std::string& dtype, std::uintptr_t data, index_t n,
           index_t k, index_t ld, std::uintptr_t stream) {
            require(method == "deim" || method == "qdeim") << "unknown method '" << method << "'";
            const bool q = method == "qdeim";
            return to_indices(on_basis(dtype, data, n, k, ld, stream, [&](const auto& be, auto v) {
                return q ? qdeim_select(be, v) : deim_select(be, v);
            }));
        },
        py::arg("method"), py::arg("dtype"), py::arg("data"), py::arg("n"), py::arg("k"),
        py::arg("ld"), py::arg("stream"),
        "DEIM (LU pivots) or Q-DEIM (pivoted QR of V^T) row indices of the device basis V.");

    m.def(
        "maxvol_select",
        [](const std::string& dtype, std::uintptr_t data, index_t n, index_t k, index_t ld,
           double tol, index_t max_swaps, std::uintptr_t stream) {
            const auto r = on_basis(dtype, data, n, k, ld, stream, [&](const auto& be, auto v) {
                return maxvol_select(be, v, tol, max_swaps);
            });
            return py::make_tuple(to_indices(r.rows), r.swaps, r.max_coefficient);
        },
        py::arg("dtype"), py::arg("data"), py::arg("n"), py::arg("k"), py::arg("ld"),
        py::arg("tol"), py::arg("max_swaps"), py::arg("stream"),
        "maxvol row indices of the device basis V from the DEIM start; returns (rows, swaps, "
        "max |B_ij|).");

    m.def(
        "maxvol_from",
        [](const std::string& dtype, std::uintptr_t data, index_t n, index_t k, index_t ld,
           const std::vector<index_t>& start, double tol, index_t max_swaps,
           std::uintptr_t stream) {
            const auto r = on_basis(dtype, data, n, k, ld, stream, [&](const auto& be, auto v) {
                return maxvol_from(be, v, start, tol, max_swaps);
            });
            return py::make_tuple(to_indices(r.rows), r.swaps, r.max_coefficient);
        },
        py::arg("dtype"), py::arg("data"), py::arg("n"), py::arg("k"), py::arg("ld"),
        py::arg("start"), py::arg("tol"), py::arg("max_swaps"), py::arg("stream"),
        "maxvol row indices of the device basis V from the given start rows (host); returns "
        "(rows, swaps, max |B_ij|); with tol = f - 1 from the Q-DEIM start, strong RRQR.");

    m.def(
        "cg",
        [](const DeviceOperand& A, std::uintptr_t jacobi_diag, const DeviceOperand* M,
           std::uintptr_t b, std::uintptr_t x, index_t n, index_t s,
           const std::vector<double>& atol, index_t maxiter, bool x0_nonzero,
           const std::optional<py::function>& callback, std::uintptr_t stream,
           std::uintptr_t jacobi_codes, std::uintptr_t jacobi_table, index_t jacobi_table_size) {
            const DeviceDiagonal jacobi{jacobi_diag, jacobi_codes, jacobi_table,
                                        jacobi_table_size};
            if (A.is_single())
                return run_cg<float>(A, jacobi, M, b, x, n, s, atol, maxiter, x0_nonzero,
                                     callback, stream);
            return run_cg<double>(A, jacobi, M, b, x, n, s, atol, maxiter, x0_nonzero, callback,
                                  stream);
        },
        py::arg("A"), py::arg("jacobi_diag"), py::arg("M").none(true), py::arg("b"),
        py::arg("x"), py::arg("n"), py::arg("s"), py::arg("atol"), py::arg("maxiter"),
        py::arg("x0_nonzero"), py::arg("callback"), py::arg("stream"),
        py::arg("jacobi_codes") = 0, py::arg("jacobi_table") = 0,
        py::arg("jacobi_table_size") = 0,
        "Batched PCG on the device; X (n x s, Fortran order) holds x0 and the solution; "
        "jacobi_diag: the device address of diag(A) (n values of A's dtype) or 0, or (0 and) "
        "diag(A) coded: jacobi_codes (n uint8) indexing jacobi_table (jacobi_table_size "
        "values <= 256); M: the preconditioner as a DeviceOperand (applied by products) or "
        "None.");

    m.def(
        "finite_abs_max",
        [](const std::string& dtype, std::uintptr_t data, index_t n, std::uintptr_t stream) {
            return on_basis(dtype, data, n, 1, std::max<index_t>(n, 1), stream,
                            [&](const auto& be, auto v) { return be.finite_abs_max(v); });
        },
        py::arg("dtype"), py::arg("data"), py::arg("n"), py::arg("stream"),
        "max |x_i| of the n contiguous device values (float32/64), inf where one is NaN or "
        "Inf: the finiteness check and the maximum in one read.");

    m.def(
        "dia_mark_offsets",
        [](std::uintptr_t indices, std::uintptr_t indptr, int index_bytes, index_t n,
           std::uintptr_t present, std::uintptr_t stream) {
            require(index_bytes == 4 || index_bytes == 8) << "index_bytes must be 4 or 8";
            const cuda::CallMemoryScope memory(as_stream(stream));  // first: ends after the rest
            const CudaBackend be(as_stream(stream));
            auto* out = reinterpret_cast<std::uint8_t*>(present);
            if (index_bytes == 4) {
                be.dia_mark_offsets(reinterpret_cast<const std::int32_t*>(indices),
                                    reinterpret_cast<const std::int32_t*>(indptr), n, out);
            } else {
                be.dia_mark_offsets(reinterpret_cast<const std::int64_t*>(indices),
                                    reinterpret_cast<const std::int64_t*>(indptr), n, out);
            }
        },
        py::arg("indices"), py::arg("indptr"), py::arg("index_bytes"), py::arg("n"),
        py::arg("present"), py::arg("stream"),
        "present[j - i + n - 1] = 1 for every stored entry (i, j) of the n x n CSR matrix "
        "(device addresses; present: 2n - 1 bytes, zeroed by the caller).");

    m.def(
        "dia_fill",
        [](int value_bytes, std::uintptr_t data, std::uintptr_t indices, std::uintptr_t indptr,
           int index_bytes, index_t n, const std::vector<index_t>& offsets,
           std::uintptr_t values, std::uintptr_t codes, std::uintptr_t table, int table_size,
           std::uintptr_t stream) {
            require((value_bytes == 4 || value_bytes == 8) &&
                    (index_bytes == 4 || index_bytes == 8))
                << "value_bytes and index_bytes must be 4 or 8";
            require(codes == 0 || (table != 0 && table_size >= 1 && table_size <= kDiaMaxCodes))
                << "coded DIA storage needs a table of 1 to " << kDiaMaxCodes << " values";
            const cuda::CallMemoryScope memory(as_stream(stream));  // first: ends after the rest
            const CudaBackend be(as_stream(stream));
            const auto fill = [&](auto bits_type, auto index_type) {
                using B = decltype(bits_type);
                using I = decltype(index_type);
                return be.dia_fill(reinterpret_cast<const I*>(indices),
                                   reinterpret_cast<const I*>(indptr),
                                   reinterpret_cast<const B*>(data), n, offsets,
                                   reinterpret_cast<B*>(values),
                                   reinterpret_cast<std::uint8_t*>(codes),
                                   reinterpret_cast<const B*>(table), table_size);
            };
            if (value_bytes == 4)
                return index_bytes == 4 ? fill(std::int32_t{}, std::int32_t{})
                                        : fill(std::int32_t{}, std::int64_t{});
            return index_bytes == 4 ? fill(std::int64_t{}, std::int32_t{})
                                    : fill(std::int64_t{}, std::int64_t{});
        },
        py::arg("value_bytes"), py::arg("data"), py::arg("indices"), py::arg("indptr"),
        py::arg("index_bytes"), py::arg("n"), py::arg("offsets"), py::arg("values"),
        py::arg("codes"), py::arg("table"), py::arg("table_size"), py::arg("stream"),
        "Every entry of the n x n canonical CSR matrix (values as their bits, value_bytes "
        "wide) at its position on the DIA diagonals `offsets`: into values (plain), or into "
        "codes (uint8), the entry's position in the ascending table of bit patterns (values "
        "= 0). Returns how many entries could not be stored (off the diagonals, or not in "
        "the table). Device addresses; the outputs are initialized by the caller.");

    m.def(
        "scale_by_power_of_two",
        [](const std::string& dtype, std::uintptr_t data, index_t n, int e,
           std::uintptr_t stream) {
            on_basis(dtype, data, n, 1, std::max<index_t>(n, 1), stream,
                     [&](const auto& be, auto v) {
                         using T = std::remove_cv_t<std::remove_pointer_t<decltype(v.data)>>;
                         const MatView<T> x{const_cast<T*>(v.data), v.rows, 1, v.ld};
                         // In steps of at most 2^100, each exact and representable in
                         // float32 (2^e itself may not be: e = -133 near the subnormals).
                         // Our kernels keep subnormals, where CuPy's ldexp flushes float32
                         // ones to zero (its kernels are built with -ftz=true).
                         for (int left = e; left != 0;) {
                             const int step = std::clamp(left, -100, 100);
                             const T factor = static_cast<T>(std::ldexp(1.0, step));
                             be.scale_columns(ConstMatView<T>(x), &factor, x);
                             left -= step;
                         }
                     });
        },
        py::arg("dtype"), py::arg("data"), py::arg("n"), py::arg("e"), py::arg("stream"),
        "x_i <- x_i 2^e for the n contiguous device values (float32/64), in place, exactly "
        "(subnormal float32 inputs kept).");

    m.def(
        "flip_signs",
        [](const std::string& dtype, std::uintptr_t u, index_t m, std::uintptr_t v, index_t n,
           index_t k, std::uintptr_t stream) {
            require(dtype == "float32" || dtype == "float64") << "dtype must be float32/64";
            require(m >= 1 && n >= 1 && k >= 0) << "invalid factors " << m << " x " << k
                                                << " and " << n << " x " << k;
            const cuda::CallMemoryScope memory(as_stream(stream));
            const CudaBackend be(as_stream(stream));
            const py::gil_scoped_release nogil;
            const auto flip = [&](auto* U, auto* V) {
                using T = std::remove_pointer_t<decltype(U)>;
                flip_signs(be, MatView<T>{U, m, k, m}, MatView<T>{V, n, k, n});
            };
            if (dtype == "float32")
                flip(reinterpret_cast<float*>(u), reinterpret_cast<float*>(v));
            else
                flip(reinterpret_cast<double*>(u), reinterpret_cast<double*>(v));
        },
        py::arg("dtype"), py::arg("u"), py::arg("m"), py::arg("v"), py::arg("n"), py::arg("k"),
        py::arg("stream"),
        "Sign convention of rankwise.svd in place on device factors: U (m x k) and V (n x k), "
        "both Fortran order (V: the memory of a C-order Vt), each column pair negated where "
        "U's entry of largest magnitude is negative.");

    def_per_column(m, "column_abs_max",
                   "max |x_ij| of each column of the device matrix X (n x k, Fortran order), "
                   "in float64, subnormal float32 entries included; +Inf for a column holding NaN "
                   "or Inf.",
                   [](const auto& be, auto v, double* out) { be.column_abs_max(v, out); });
    def_per_column(m, "column_norms",
                   "2-norms of the columns of the device matrix X (n x k, Fortran order), in "
                   "float64, without overflow.",
                   [](const auto& be, auto v, double* out) { be.column_norms(v, out); });

    register_update(m);
}
