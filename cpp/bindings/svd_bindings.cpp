// Bindings of the randomized SVD family: rsvd, rsvd_fixed_precision, subspace_iteration
// (svds) and probe_residual_norms.  Argument conversion and the GIL only; no algorithm logic.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "convert.hpp"
#include "families.hpp"
#include "native_call.hpp"
#include "operator_handle.hpp"
#include "results.hpp"
#include "rankwise/algo/error_estimate.hpp"
#include "rankwise/algo/normal_lanczos.hpp"
#include "rankwise/algo/randqb_ei.hpp"
#include "rankwise/algo/rsvd.hpp"
#include "rankwise/algo/subspace_iteration.hpp"
#include "rankwise/blas_threads.hpp"
#include "rankwise/error.hpp"

namespace rankwise::bindings {

namespace {

template <class T>
py::tuple factors_to_python(SvdFactors<CpuBackend, T>&& f) {
    py::array_t<T> s(static_cast<py::ssize_t>(f.s.size()));
    std::copy(f.s.begin(), f.s.end(), s.mutable_data());
    py::dict info = factors_info(f);
    return py::make_tuple(to_numpy(std::move(f.U), false), s, to_numpy(std::move(f.V), true),
                          info);
}

// Calls fn(LinearOp<T>&) with the operator's dtype, without the GIL.
template <class Fn>
py::tuple with_operator(const OperatorHandle& op, Fn&& fn) {
    if (op.is_single()) {
        auto f = [&] {
            const NativeCall native;
            const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
            return fn(op.f32());
        }();
        return factors_to_python(std::move(f));
    }
    auto f = [&] {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
        return fn(op.f64());
    }();
    return factors_to_python(std::move(f));
}

template <class T>
py::tuple run_subspace_iteration(const LinearOp<T>& A, const SubspaceIterationOptions& o,
                                 const std::optional<py::array>& v0, bool short_side) {
    py::array_t<T, py::array::c_style | py::array::forcecast> start;
    if (v0) {
        start = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(*v0);
        require(start && start.size() == A.cols()) << "v0 must have " << A.cols() << " entries";
    }
    const T* p = v0 ? start.data() : nullptr;
    SvdFactors<CpuBackend, T> f;
    {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
        f = short_side ? leading_triplets_short_side(cpu(), A, o, p)
                       : subspace_iteration(cpu(), A, o, p);
    }
    return factors_to_python(std::move(f));
}

template <class T>
std::vector<double> probe_norms(const LinearOp<T>& A, const py::array& U, const py::array& s,
                                const py::array& Vt, index_t probes, philox::Key key) {
    auto u = py::array_t<T, py::array::f_style | py::array::forcecast>::ensure(U);
    auto sv = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(s);
    auto vt = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(Vt);
    require(u && sv && vt && u.ndim() == 2 && sv.ndim() == 1 && vt.ndim() == 2)
        << "U, s, Vt must be 2-D, 1-D, 2-D arrays";
    const index_t r = sv.shape(0);
    require(u.shape(1) == r && vt.shape(0) == r) << "U, s, Vt ranks differ";
    const ConstMatView<T> Uv{u.data(), u.shape(0), r, std::max<index_t>(u.shape(0), 1)};
    const ConstMatView<T> Vv{vt.data(), vt.shape(1), r, std::max<index_t>(vt.shape(1), 1)};
    const NativeCall native;
    const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
    return probe_residual_norms(cpu(), A, Uv, sv.data(), Vv, probes, key);
}

}  // namespace

void register_svd(py::module_& m) {
    m.def(
        "rsvd",
        [](const OperatorHandle& op, index_t k, index_t l, int n_iter, const std::string& method,
           const std::string& power_ortho, const std::string& final_ortho,
           const std::string& driver, std::uint64_t key0, std::uint64_t key1,
           const std::optional<py::array>& omega, int passes) {
            RsvdOptions o;
            o.k = k;
            o.l = l;
            o.n_iter = n_iter;
            o.passes = passes;
            o.power_ortho = parse_ortho(power_ortho);
            o.final_ortho = parse_ortho(final_ortho);
            o.driver = parse_driver(driver);
            o.key = make_key(key0, key1);
            require(method == "subspace" || method == "block_krylov")
                << "unknown method '" << method << "'";
            const bool krylov = method == "block_krylov";
            if (omega) {
                require(!krylov) << "a given sketch (omega) is for method 'subspace'";
                require(omega->ndim() == 2 && omega->shape(0) == op.cols() &&
                        omega->shape(1) == l)
                    << "omega must have shape (" << op.cols() << ", " << l << ")";
                require((omega->flags() & py::array::f_style) &&
                        (op.is_single() ? is_dtype<float>(*omega) : is_dtype<double>(*omega)))
                    << "omega must be a Fortran-ordered " << op.dtype() << " array";
            }
            return with_operator(op, [&](const auto& A) {
                using T = decltype(value_type_of(A));
                const T* sketch = omega ? static_cast<const T*>(omega->data()) : nullptr;
                return krylov ? rsvd_block_krylov(cpu(), A, o) : rsvd_subspace(cpu(), A, o, sketch);
            });
        },
        py::arg("op"), py::arg("k"), py::arg("l"), py::arg("n_iter"), py::arg("method"),
        py::arg("power_ortho"), py::arg("final_ortho"), py::arg("driver"), py::arg("key0"),
        py::arg("key1"), py::arg("omega") = py::none(), py::arg("passes") = 0,
        "Fixed-rank randomized SVD; returns (U, s, Vt, info).  omega: the n x l test matrix "
        "(Fortran order, the operator's dtype) instead of the Philox sketch of the key.  "
        "passes: block Krylov's passes over A (0: 2 n_iter + 2), l its block size.");

    m.def(
        "rsvd_fixed_precision",
        [](const OperatorHandle& op, double tol, index_t block, index_t max_rank, int n_iter,
           std::uint64_t key0, std::uint64_t key1) {
            FixedPrecisionOptions o;
            o.tol = tol;
            o.block = block;
            o.max_rank = max_rank;
            o.n_iter = n_iter;
            o.key = make_key(key0, key1);
            return with_operator(op,
                                 [&](const auto& A) { return rsvd_fixed_precision(cpu(), A, o); });
        },
        py::arg("op"), py::arg("tol"), py::arg("block"), py::arg("max_rank"), py::arg("n_iter"),
        py::arg("key0"), py::arg("key1"),
        "Fixed-precision randomized SVD (randQB_EI); returns (U, s, Vt, info).");

    m.def(
        "subspace_iteration",
        [](const OperatorHandle& op, index_t k, index_t l, index_t depth, double tol,
           index_t max_iter, std::optional<py::array> v0, std::uint64_t key0, std::uint64_t key1,
           bool short_side) {
            SubspaceIterationOptions o;
            o.k = k;
            o.l = l;
            o.depth = depth;
            o.tol = tol;
            o.max_iter = max_iter;
            o.key = make_key(key0, key1);
            return op.is_single() ? run_subspace_iteration(op.f32(), o, v0, short_side)
                                  : run_subspace_iteration(op.f64(), o, v0, short_side);
        },
        py::arg("op"), py::arg("k"), py::arg("l"), py::arg("depth"), py::arg("tol"),
        py::arg("max_iter"), py::arg("v0"), py::arg("key0"), py::arg("key1"),
        py::arg("short_side") = false,
        "Restarted block Krylov iteration to a residual tolerance; returns (U, s, Vt, info). "
        "short_side: the Lanczos iteration on A^T A first (algo/normal_lanczos.hpp).");

    m.def(
        "probe_residual_norms",
        [](const OperatorHandle& op, py::array U, py::array s, py::array Vt, index_t probes,
           std::uint64_t key0, std::uint64_t key1) {
            const auto key = make_key(key0, key1);
            return op.is_single() ? probe_norms(op.f32(), U, s, Vt, probes, key)
                                  : probe_norms(op.f64(), U, s, Vt, probes, key);
        },
        py::arg("op"), py::arg("U"), py::arg("s"), py::arg("Vt"), py::arg("n_probes"),
        py::arg("key0"), py::arg("key1"),
        "||(A - U diag(s) Vt) w_i|| for Gaussian probes w_i.");
}

}  // namespace rankwise::bindings
