// Bindings of the empirical interpolation family: eim_greedy (algo/eim.hpp).  The point
// selections on a basis (DEIM, Q-DEIM) are the cur family's deim_select / qdeim_select.
// Argument conversion and the GIL only.
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
#include "rankwise/algo/deim_blocked.hpp"
#include "rankwise/algo/eim.hpp"
#include "rankwise/blas_threads.hpp"
#include "rankwise/error.hpp"

namespace rankwise::bindings {

namespace {

EimNorm parse_norm(const std::string& s) {
    if (s == "linf") return EimNorm::Linf;
    if (s == "l2") return EimNorm::L2;
    if (s == "weighted") return EimNorm::Weighted;
    if (s == "matrix") return EimNorm::Matrix;
    throw Error("unknown EIM norm '" + s + "'");
}

py::array_t<std::int64_t> to_indices(const std::vector<index_t>& v) {
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

// A writable contiguous T array of the given shape seen column-major (a C-order array as
// its transpose, rows = true), or Error naming it.
template <class T>
MatView<T> writable_view(py::array& a, const char* what, index_t rows, index_t cols,
                         bool& c_order) {
    require(py::array_t<T>::check_(a) && a.ndim() == 2 && a.writeable() &&
            a.shape(0) == rows && a.shape(1) == cols &&
            (a.flags() & (py::array::f_style | py::array::c_style)))
        << what << " must be a writable contiguous " << rows << " x " << cols << " "
        << sizeof(T) * 8 << "-bit array";
    c_order = !(a.flags() & py::array::f_style);
    if (c_order) return MatView<T>{static_cast<T*>(a.mutable_data()), cols, rows, cols};
    return MatView<T>{static_cast<T*>(a.mutable_data()), rows, cols, std::max<index_t>(rows, 1)};
}

template <class T>
py::tuple run(py::array R, std::optional<py::array> G, std::optional<py::array> w,
              const OperatorHandle* M, const EimGreedyOptions& o) {
    require(R.ndim() == 2) << "R must be 2-D";
    const index_t n = R.shape(0), N = R.shape(1);
    bool rows = false, g_rows = false;
    const auto r = writable_view<T>(R, "R", n, N, rows);
    MatView<T> g{};
    if (G) {
        g = writable_view<T>(*G, "G", n, N, g_rows);
        require(g_rows == rows) << "G must have the memory order of R";
    }
    const T* wp = nullptr;
    py::array_t<T, py::array::c_style> wa;
    if (w) {
        wa = py::array_t<T, py::array::c_style>::ensure(*w);
        require(wa && wa.ndim() == 1 && wa.shape(0) == n && py::array_t<T>::check_(*w))
            << "weights must be a 1-D array of " << n << " entries of the snapshots' dtype";
        wp = wa.data();
    }
    const LinearOp<T>* m = nullptr;
    if (M != nullptr) {
        require(M->dtype() == (sizeof(T) == 4 ? "float32" : "float64") && M->rows() == n &&
                M->cols() == n)
            << "M must be " << n << " x " << n << " of the snapshots' dtype";
        if constexpr (sizeof(T) == 4) m = &M->f32(); else m = &M->f64();
    }
    auto res = [&] {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
        return eim_greedy(cpu(), r, g, wp, m, o, rows);
    }();
    py::array_t<double> errors(static_cast<py::ssize_t>(res.errors.size()));
    std::copy(res.errors.begin(), res.errors.end(), errors.mutable_data());
    return py::make_tuple(to_numpy(std::move(res.Q), false), to_indices(res.points),
                          to_indices(res.snapshots), errors);
}


// Calls fn(ConstMatView<T>, transposed) on a 2-D float32/float64 contiguous array without a
// copy: a Fortran-ordered U (n x k) as itself, a C-ordered one as its transpose (k x n,
// transposed = true).
template <class Fn>
auto with_contiguous_basis(const py::array& U, Fn&& fn) {
    require(U.ndim() == 2 && (U.flags() & (py::array::f_style | py::array::c_style)))
        << "U must be a 2-D contiguous array";
    const bool transposed = !(U.flags() & py::array::f_style);
    auto run = [&](auto tag) {
        using T = decltype(tag);
        const index_t n = U.shape(0), k = U.shape(1);
        const auto* data = static_cast<const T*>(U.data());
        const ConstMatView<T> view = transposed
                                         ? ConstMatView<T>{data, k, n, std::max<index_t>(k, 1)}
                                         : ConstMatView<T>{data, n, k, std::max<index_t>(n, 1)};
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
        return fn(view, transposed);
    };
    if (py::array_t<float>::check_(U)) return run(float{});
    require(py::array_t<double>::check_(U)) << "U must be float32 or float64";
    return run(double{});
}

}  // namespace

void register_eim(py::module_& m) {
    m.def(
        "deim_blocked",
        [](const py::array& U, const std::vector<index_t>& blocks) {
            require(!blocks.empty()) << "blocks must not be empty";
            return to_indices(with_contiguous_basis(U, [&](auto v, bool transposed) {
                return deim_select_blocked(cpu(), v, blocks.data(),
                                           static_cast<index_t>(blocks.size()), transposed);
            }));
        },
        py::arg("U"), py::arg("blocks"),
        "DEIM points of the contiguous (either order) basis U by blocks of columns, U read "
        "in place.");

    m.def(
        "eim_greedy",
        [](py::array R, std::optional<py::array> G, std::optional<py::array> w,
           const OperatorHandle* M, const std::string& norm, index_t max_terms, double atol,
           double rtol, index_t block) {
            EimGreedyOptions o;
            o.norm = parse_norm(norm);
            o.max_terms = max_terms;
            o.atol = atol;
            o.rtol = rtol;
            o.block = block;
            if (py::array_t<float>::check_(R)) return run<float>(R, G, w, M, o);
            require(py::array_t<double>::check_(R)) << "R must be float32 or float64";
            return run<double>(R, G, w, M, o);
        },
        py::arg("R"), py::arg("G"), py::arg("weights"), py::arg("M"), py::arg("norm"),
        py::arg("max_terms"), py::arg("atol"), py::arg("rtol"), py::arg("block"),
        "Greedy EIM on the residual R (overwritten; G = M R alongside for norm='matrix'), "
        "its rank-one updates deferred by blocks of `block` terms; returns (Q, points, "
        "snapshot columns, error history).");
}

}  // namespace rankwise::bindings
