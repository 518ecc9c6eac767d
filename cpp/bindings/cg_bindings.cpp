// Bindings of the CG family: preconditioner handles and the batched PCG solve.
// Argument conversion, the GIL and the Python callback only; no algorithm logic.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "convert.hpp"
#include "families.hpp"
#include "native_call.hpp"
#include "operator_handle.hpp"
#include "results.hpp"
#include "rankwise/algo/cg.hpp"
#include "rankwise/algo/deflation.hpp"
#include "rankwise/algo/nystrom.hpp"
#include "rankwise/algo/precond.hpp"
#include "rankwise/algo/spectrum_bounds.hpp"
#include "rankwise/blas_threads.hpp"
#include "rankwise/error.hpp"

namespace rankwise::bindings {

namespace {

// A native preconditioner of one dtype, with the Python objects its views point into.
struct PrecondHandle {
    std::shared_ptr<Preconditioner<float>> f32;
    std::shared_ptr<Preconditioner<double>> f64;
    py::object keepalive;
    std::string kind;
    py::dict info;  // what the construction chose (ic0 shift, Chebyshev bounds, ...)

    bool is_single() const { return f32 != nullptr; }
    index_t size() const { return is_single() ? f32->size() : f64->size(); }
    std::string dtype() const { return is_single() ? "float32" : "float64"; }
};


// Column-major view of a 2-D array with unit stride down the columns.
template <class T>
MatView<T> column_major(const py::array& a, bool writable, const char* name) {
    require(a.ndim() == 2 && is_dtype<T>(a)) << name << " must be a 2-D array of the work dtype";
    const index_t item = sizeof(T), rows = a.shape(0), cols = a.shape(1);
    // an empty block holds no entry, and NumPy gives it strides of either order (or 0)
    if (rows == 0 || cols == 0) {
        return MatView<T>{static_cast<T*>(const_cast<void*>(a.data())), rows, cols,
                          std::max<index_t>(rows, 1)};
    }
    const index_t ld = cols > 1 ? a.strides(1) / item : std::max<index_t>(rows, 1);
    require((rows <= 1 || a.strides(0) == item) && (cols <= 1 || a.strides(1) % item == 0) &&
            ld >= std::max<index_t>(rows, 1))
        << name << " must be column-major (Fortran order)";
    require(!writable || a.writeable()) << name << " must be writeable";
    return MatView<T>{static_cast<T*>(const_cast<void*>(a.data())), rows, cols, ld};
}

// Canonical CSR view (sorted, unique column indices in range), checked in O(nnz).
template <class T, class I>
CsrView<T, I> canonical_csr(const py::array& data, const py::array& indices,
                            const py::array& indptr, index_t n) {
    require(data.ndim() == 1 && indices.ndim() == 1 && indptr.ndim() == 1 &&
            (data.flags() & py::array::c_style) && (indices.flags() & py::array::c_style) &&
            (indptr.flags() & py::array::c_style) && indptr.size() == n + 1)
        << "CSR arrays must be contiguous 1-D arrays with n + 1 row pointers";
    const I* ip = static_cast<const I*>(indptr.data());
    const I* ix = static_cast<const I*>(indices.data());
    require(ip[0] == 0 && ip[n] <= std::min<index_t>(data.size(), indices.size()))
        << "CSR row pointers out of range";
    // plain branches in the O(nnz) loop: require() builds a message stream per call
    bool rows_ok = true, cols_ok = true;
    for (index_t i = 0; i < n; ++i) rows_ok = rows_ok && ip[i] <= ip[i + 1];
    require(rows_ok) << "CSR row pointers must be non-decreasing";
    for (index_t i = 0; i < n && cols_ok; ++i) {
        for (index_t p = ip[i]; p < ip[i + 1]; ++p)
            cols_ok = cols_ok && ix[p] >= 0 && ix[p] < n && (p == ip[i] || ix[p - 1] < ix[p]);
    }
    require(cols_ok) << "CSR column indices must be in range, sorted and unique in each row";
    return CsrView<T, I>{static_cast<const T*>(data.data()), ix, ip, n, n};
}

// Calls make<T, I>(view) with the dtypes of the arrays; returns the handle.
template <class Make>
PrecondHandle with_csr(const py::array& data, const py::array& indices, const py::array& indptr,
                       index_t n, Make&& make) {
    require(indices.dtype().num() == indptr.dtype().num() &&
            indices.dtype().itemsize() == indptr.dtype().itemsize())
        << "indices and indptr must share a dtype";
    const bool i32 = is_dtype<std::int32_t>(indptr);
    require(i32 || is_dtype<std::int64_t>(indptr)) << "CSR index arrays must be int32 or int64";
    PrecondHandle h;
    if (is_dtype<float>(data)) {
        h.f32 = i32 ? make(canonical_csr<float, std::int32_t>(data, indices, indptr, n), h)
                    : make(canonical_csr<float, std::int64_t>(data, indices, indptr, n), h);
    } else if (is_dtype<double>(data)) {
        h.f64 = i32 ? make(canonical_csr<double, std::int32_t>(data, indices, indptr, n), h)
                    : make(canonical_csr<double, std::int64_t>(data, indices, indptr, n), h);
    } else {
        throw Error("CSR data must be float32 or float64");
    }
    h.keepalive = py::make_tuple(data, indices, indptr);
    return h;
}

template <class T>
std::shared_ptr<Preconditioner<T>> make_chebyshev(const LinearOp<T>& A, int degree, int steps,
                                                  philox::Key key, std::optional<double> lmin,
                                                  std::optional<double> lmax, py::dict& info) {
    double lo = lmin.value_or(0), hi = lmax.value_or(0);
    if (!lmin || !lmax) {
        SpectrumBounds b;
        {
            const NativeCall native;
            b = lanczos_bounds(cpu(), A, steps, key);
        }
        require(b.lmin > 0) << "chebyshev: A is not positive definite (Lanczos found the "
                            << "eigenvalue estimate " << b.lmin << " <= 0)";
        if (!lmin) lo = b.lmin;
        if (!lmax) hi = b.lmax;
        info["lanczos_steps"] = b.steps;
    }
    info["lmin"] = lo;
    info["lmax"] = hi;
    return std::make_shared<ChebyshevPrecond<CpuBackend, T>>(cpu(), A, degree, lo, hi);
}

template <class T>
std::shared_ptr<Preconditioner<T>> make_nystrom(const LinearOp<T>& A, index_t rank,
                                                index_t sketch, philox::Key key, double mu,
                                                py::dict& info) {
    std::shared_ptr<NystromPrecond<CpuBackend, T>> p;
    NystromApprox<CpuBackend, T> approx;
    {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // products chunked over our threads
        approx = nystrom_approx(cpu(), A, rank, sketch, key);
    }
    info["shift"] = approx.shift;
    py::array_t<T> lam(static_cast<py::ssize_t>(approx.lam.size()));
    std::copy(approx.lam.begin(), approx.lam.end(), lam.mutable_data());
    info["eigenvalues"] = lam;
    // below the shift an eigenvalue is rounding noise: with mu = 0, P^-1 would be singular
    require(mu > 0 || approx.lam.back() > approx.shift)
        << "the rank-" << rank << " Nystrom approximation of A is singular; give mu > 0 or a "
        << "smaller rank";
    return std::make_shared<NystromPrecond<CpuBackend, T>>(cpu(), std::move(approx.U),
                                                           approx.lam, mu);
}

template <class T>
py::dict run_cg(const LinearOp<T>& A, const Preconditioner<T>* M, const py::array& b,
                const py::array& x, const CgOptions& o, const std::optional<py::function>& cb,
                const py::object& x_for_callback, const std::optional<py::array>& record_p,
                const std::optional<py::array>& record_q) {
    const ConstMatView<T> B = column_major<T>(b, false, "b");
    const MatView<T> X = column_major<T>(x, true, "x");
    CgRecord<T> record;
    require(record_p.has_value() == record_q.has_value())
        << "record_p and record_q go together";
    if (record_p) {
        record.P = column_major<T>(*record_p, true, "record_p");
        record.Q = column_major<T>(*record_q, true, "record_q");
    }
    CgCallback hook;
    if (cb) {
        hook = [&](index_t) {
            py::gil_scoped_acquire gil;
            const cpu::UserBlasThreads user_blas;  // the user's code, with the user's BLAS threads
            (*cb)(x_for_callback);
        };
    }
    CgResult r;
    {
        const NativeCall native;
        // one scope for the whole solve (rankwise/blas_threads.hpp): the deflation and dense
        // products chunk over the core's threads, and OpenBLAS's threads, woken per product,
        // do not spin on the cores the loop's OpenMP kernels need
        const cpu::SerialBlas blas_on_our_threads;
        r = cg_solve(cpu(), A, M, B, X, o, hook, record);
    }
    py::dict out = cg_result_dict(r, B.cols);
    out["recorded"] = r.recorded;
    return out;
}

template <class T>
py::array apply_precond(const Preconditioner<T>& M, const py::array& r) {
    const ConstMatView<T> R = column_major<T>(r, false, "r");
    require(R.rows == M.size()) << "r has " << R.rows << " rows, the preconditioner " << M.size();
    py::array_t<T, py::array::f_style> z({R.rows, R.cols});
    const MatView<T> Z = column_major<T>(z, true, "z");
    {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
        M.apply(R, Z);
    }
    return z;
}

}  // namespace

void register_cg(py::module_& m) {
    py::class_<PrecondHandle>(m, "Preconditioner")
        .def_property_readonly("size", &PrecondHandle::size)
        .def_property_readonly("dtype", &PrecondHandle::dtype)
        .def_readonly("kind", &PrecondHandle::kind)
        .def_readonly("info", &PrecondHandle::info);

    m.def(
        "precond_jacobi",
        [](py::array diag) {
            require(diag.ndim() == 1 && (diag.flags() & py::array::c_style))
                << "diagonal must be a contiguous 1-D array";
            PrecondHandle h;
            h.kind = "jacobi";
            const index_t n = diag.shape(0);
            if (is_dtype<float>(diag)) {
                h.f32 = std::make_shared<JacobiPrecond<CpuBackend, float>>(
                    cpu(), static_cast<const float*>(diag.data()), n);
            } else if (is_dtype<double>(diag)) {
                h.f64 = std::make_shared<JacobiPrecond<CpuBackend, double>>(
                    cpu(), static_cast<const double*>(diag.data()), n);
            } else {
                throw Error("diagonal must be float32 or float64");
            }
            return h;
        },
        py::arg("diag"), "Jacobi preconditioner M = diag(d)^-1 (d checked positive).");

    m.def(
        "precond_ssor",
        [](py::array data, py::array indices, py::array indptr, index_t n, double omega) {
            PrecondHandle h = with_csr(
                data, indices, indptr, n, [&](auto A, PrecondHandle&) {
                    using T = std::remove_const_t<std::remove_pointer_t<decltype(A.data)>>;
                    using I = std::remove_const_t<std::remove_pointer_t<decltype(A.indices)>>;
                    return std::shared_ptr<Preconditioner<T>>(
                        std::make_shared<SsorPrecond<CpuBackend, T, I>>(cpu(), A,
                                                                      static_cast<T>(omega)));
                });
            h.kind = "ssor";
            h.info["omega"] = omega;
            return h;
        },
        py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("n"), py::arg("omega"),
        "SSOR preconditioner of a canonical CSR matrix.");

    m.def(
        "precond_ic0",
        [](py::array data, py::array indices, py::array indptr, index_t n, double first_shift) {
            PrecondHandle h = with_csr(
                data, indices, indptr, n, [&](auto A, PrecondHandle& hh) {
                    using T = std::remove_const_t<std::remove_pointer_t<decltype(A.data)>>;
                    using I = std::remove_const_t<std::remove_pointer_t<decltype(A.indices)>>;
                    std::shared_ptr<Ic0Precond<CpuBackend, T, I>> p;
                    {
                        const NativeCall native;
                        p = std::make_shared<Ic0Precond<CpuBackend, T, I>>(cpu(), A, first_shift);
                    }
                    hh.info["shift"] = p->shift();
                    return std::shared_ptr<Preconditioner<T>>(p);
                });
            h.kind = "ic0";
            return h;
        },
        py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("n"),
        py::arg("first_shift"), "IC(0) preconditioner of a canonical CSR matrix.");

    m.def(
        "precond_block_jacobi",
        [](py::array data, py::array indices, py::array indptr, index_t n, index_t bs) {
            require(bs >= 1 && bs <= std::max<index_t>(n, 1))
                << "block size must be in [1, n], got " << bs;
            PrecondHandle h = with_csr(
                data, indices, indptr, n, [&](auto A, PrecondHandle&) {
                    using T = std::remove_const_t<std::remove_pointer_t<decltype(A.data)>>;
                    const NativeCall native;
                    return std::shared_ptr<Preconditioner<T>>(
                        std::make_shared<BlockJacobiPrecond<CpuBackend, T>>(cpu(), A, bs));
                });
            h.kind = "block_jacobi";
            h.info["block_size"] = bs;
            return h;
        },
        py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("n"),
        py::arg("block_size"), "Block Jacobi preconditioner of a canonical CSR matrix.");

    m.def(
        "precond_chebyshev",
        [](py::object op_obj, int degree, int steps, std::uint64_t key0, std::uint64_t key1,
           std::optional<double> lmin, std::optional<double> lmax) {
            const auto& op = op_obj.cast<const OperatorHandle&>();
            PrecondHandle h;
            h.kind = "chebyshev";
            h.keepalive = op_obj;
            h.info["degree"] = degree;
            const philox::Key key{key0, key1};
            if (op.is_single()) {
                h.f32 = make_chebyshev(op.f32(), degree, steps, key, lmin, lmax, h.info);
            } else {
                h.f64 = make_chebyshev(op.f64(), degree, steps, key, lmin, lmax, h.info);
            }
            return h;
        },
        py::arg("op"), py::arg("degree"), py::arg("lanczos_steps"), py::arg("key0"),
        py::arg("key1"), py::arg("lmin").none(true), py::arg("lmax").none(true),
        "Chebyshev polynomial preconditioner; spectrum bounds by Lanczos unless given.");

    m.def(
        "precond_nystrom",
        [](py::object op_obj, index_t rank, index_t sketch, std::uint64_t key0,
           std::uint64_t key1, double mu) {
            const auto& op = op_obj.cast<const OperatorHandle&>();
            PrecondHandle h;
            h.kind = "nystrom";
            h.info["mu"] = mu;
            h.info["rank"] = rank;
            h.info["sketch_size"] = sketch;
            const philox::Key key{key0, key1};
            if (op.is_single()) {
                h.f32 = make_nystrom(op.f32(), rank, sketch, key, mu, h.info);
            } else {
                h.f64 = make_nystrom(op.f64(), rank, sketch, key, mu, h.info);
            }
            return h;
        },
        py::arg("op"), py::arg("rank"), py::arg("sketch"), py::arg("key0"), py::arg("key1"),
        py::arg("mu"), "Randomized Nystrom preconditioner for A + mu I (A: the operator).");

    m.def(
        "precond_deflated",
        [](std::optional<py::object> inner_obj, py::array G, py::array F) {
            const PrecondHandle* inner =
                inner_obj ? &inner_obj->cast<const PrecondHandle&>() : nullptr;
            PrecondHandle h;
            h.kind = "deflated";
            if (inner_obj) h.keepalive = *inner_obj;
            const auto make = [&](auto tag, auto inner_ptr) {
                using T = decltype(tag);
                const MatView<T> g = column_major<T>(G, false, "G");
                const MatView<T> f = column_major<T>(F, false, "F");
                require(g.rows == f.rows && g.cols == f.cols && g.ld == g.rows && f.ld == f.rows)
                    << "G and F must be contiguous n x d arrays of one shape";
                HostMatrix<T> gm(g.rows, g.cols), fm(f.rows, f.cols);
                cpu().from_host(g.data, gm.view());
                cpu().from_host(f.data, fm.view());
                return std::make_shared<DeflatedPrecond<CpuBackend, T>>(
                    cpu(), inner_ptr, std::move(gm), std::move(fm));
            };
            if (is_dtype<float>(G)) {
                require(!inner || inner->is_single()) << "preconditioner dtype differs from W's";
                h.f32 = make(float{}, inner ? inner->f32 : nullptr);
            } else if (is_dtype<double>(G)) {
                require(!inner || !inner->is_single()) << "preconditioner dtype differs from W's";
                h.f64 = make(double{}, inner ? inner->f64 : nullptr);
            } else {
                throw Error("G must be float32 or float64");
            }
            return h;
        },
        py::arg("inner").none(true), py::arg("G"), py::arg("F"),
        "Deflated preconditioner z = M r - G F^T M r (G = W C^-1, F = A W C^-1, C^T C = W^T A W).");

    m.def(
        "precond_operator",
        [](py::object op_obj) {
            const auto& op = op_obj.cast<const OperatorHandle&>();
            PrecondHandle h;
            h.kind = "operator";
            h.keepalive = op_obj;
            if (op.is_single()) {
                h.f32 = std::make_shared<OperatorPrecond<float>>(op.f32());
            } else {
                h.f64 = std::make_shared<OperatorPrecond<double>>(op.f64());
            }
            return h;
        },
        py::arg("op"), "Preconditioner that multiplies by an operator (matrix or callback).");

    m.def(
        "precond_apply",
        [](const PrecondHandle& h, py::array r) {
            return h.is_single() ? apply_precond(*h.f32, r) : apply_precond(*h.f64, r);
        },
        py::arg("M"), py::arg("r"), "Z = M R for a column-major block R.");

    m.def(
        "cg",
        [](const OperatorHandle& op, const PrecondHandle* M, py::array b, py::array x,
           std::vector<double> atol, index_t maxiter, bool x0_nonzero,
           std::optional<py::function> callback, py::object x_for_callback,
           std::optional<py::array> record_p, std::optional<py::array> record_q) {
            if (M != nullptr) {
                require(M->is_single() == op.is_single())
                    << "preconditioner dtype " << M->dtype() << " differs from A's " << op.dtype();
            }
            CgOptions o;
            o.maxiter = maxiter;
            o.atol = std::move(atol);
            o.x0_nonzero = x0_nonzero;
            if (op.is_single()) {
                return run_cg<float>(op.f32(), M ? M->f32.get() : nullptr, b, x, o, callback,
                                     x_for_callback, record_p, record_q);
            }
            return run_cg<double>(op.f64(), M ? M->f64.get() : nullptr, b, x, o, callback,
                                  x_for_callback, record_p, record_q);
        },
        py::arg("op"), py::arg("M").none(true), py::arg("b"), py::arg("x"), py::arg("atol"),
        py::arg("maxiter"), py::arg("x0_nonzero"), py::arg("callback").none(true),
        py::arg("x_for_callback").none(true), py::arg("record_p").none(true) = py::none(),
        py::arg("record_q").none(true) = py::none(),
        "Batched PCG on the columns of b (n x s, Fortran order); x (same) is the starting "
        "guess and receives the iterates; record_p / record_q (n x m, Fortran order, "
        "optional) receive the first m search directions p and A p of column 0.  Returns "
        "dict(steps, recorded, iterations, stop, history).");
}

}  // namespace rankwise::bindings
