// Bindings of the selection kernels (cur family; reused by empirical interpolation):
// deim_select, qdeim_select, maxvol_select.  Argument conversion and the GIL only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "families.hpp"
#include "native_call.hpp"
#include "operator_handle.hpp"
#include "rankwise/algo/selection.hpp"
#include "rankwise/algo/swap_refine.hpp"
#include "rankwise/error.hpp"

namespace rankwise::bindings {

namespace {

py::array_t<std::int64_t> to_indices(const std::vector<index_t>& v) {
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

// Calls fn(ConstMatView<T>) on a 2-D float32/float64 array V (n x k) viewed column-major;
// a C-order array is copied once to Fortran order (k is small next to n).
template <class Fn>
auto with_basis(const py::array& V, Fn&& fn) {
    require(V.ndim() == 2) << "the basis must be a 2-D array; got " << V.ndim() << " dimensions";
    auto run = [&](auto tag) {
        using T = decltype(tag);
        auto a = py::array_t<T, py::array::f_style | py::array::forcecast>::ensure(V);
        require(bool(a)) << "the basis could not be read as a " << sizeof(T) * 8 << "-bit array";
        const index_t n = a.shape(0), k = a.shape(1);
        const ConstMatView<T> view{a.data(), n, k, std::max<index_t>(n, 1)};
        const NativeCall native;
        return fn(view);
    };
    if (py::array_t<float>::check_(V)) return run(float{});
    require(py::array_t<double>::check_(V))
        << "the basis must be float32 or float64; got " << std::string(py::str(V.dtype()));
    return run(double{});
}

}  // namespace

void register_cur(py::module_& m) {
    m.def(
        "deim_select",
        [](const py::array& V) {
            return to_indices(with_basis(V, [](auto v) { return deim_select(cpu(), v); }));
        },
        py::arg("V"), "DEIM row indices of the n x k basis V (Sorensen & Embree 2016).");

    m.def(
        "qdeim_select",
        [](const py::array& V) {
            // a row-major V: its transpose is column-major as it lies (no copy to read)
            const int layout = V.flags() & (py::array::c_style | py::array::f_style);
            if (V.ndim() == 2 && layout == py::array::c_style) {
                const py::array Vt = V.attr("T");
                return to_indices(
                    with_basis(Vt, [](auto vt) { return qdeim_select(cpu(), vt, true); }));
            }
            return to_indices(with_basis(V, [](auto v) { return qdeim_select(cpu(), v); }));
        },
        py::arg("V"), "Q-DEIM row indices of V (Drmac & Gugercin 2016): pivoted QR of V^T.");

    m.def(
        "maxvol_select",
        [](const py::array& V, double tol, index_t max_swaps) {
            const auto r =
                with_basis(V, [&](auto v) { return maxvol_select(cpu(), v, tol, max_swaps); });
            return py::make_tuple(to_indices(r.rows), r.swaps, r.max_coefficient);
        },
        py::arg("V"), py::arg("tol"), py::arg("max_swaps"),
        "maxvol row indices of V from the DEIM start; returns (rows, swaps, max |B_ij|).");

    m.def(
        "maxvol_from",
        [](const py::array& V, const std::vector<index_t>& start, double tol, index_t max_swaps) {
            const auto r = with_basis(
                V, [&](auto v) { return maxvol_from(cpu(), v, start, tol, max_swaps); });
            return py::make_tuple(to_indices(r.rows), r.swaps, r.max_coefficient);
        },
        py::arg("V"), py::arg("start"), py::arg("tol"), py::arg("max_swaps"),
        "maxvol row indices of V from the given start rows; returns (rows, swaps, max |B_ij|).");

    m.def(
        "swap_refine",
        [](const py::array& V, const std::vector<double>& s, const std::vector<index_t>& start,
           index_t shortlist, index_t max_swaps, double rtol) {
            const auto r = with_basis(V, [&](auto v) {
                using T = std::remove_const_t<std::remove_pointer_t<decltype(v.data)>>;
                const std::vector<T> st(s.begin(), s.end());
                return swap_refine(cpu(), v, st, start, shortlist, max_swaps, rtol);
            });
            return py::make_tuple(to_indices(r.rows), r.swaps, r.full_searches);
        },
        py::arg("V"), py::arg("s"), py::arg("start"), py::arg("shortlist"), py::arg("max_swaps"),
        py::arg("rtol"),
        "Exchange refinement of the rows `start` of V for the surrogate diag(s) V^T; returns "
        "(rows, swaps, full searches).");

    m.def(
        "swap_candidates",
        [](const py::array& V, const std::vector<double>& s, index_t k) {
            const auto r = with_basis(V, [&](auto v) {
                using T = std::remove_const_t<std::remove_pointer_t<decltype(v.data)>>;
                const std::vector<T> st(s.begin(), s.end());
                return swap_candidates(cpu(), v, st, k);
            });
            py::array_t<double> per(static_cast<py::ssize_t>(r.best_per_cand.size()));
            std::copy(r.best_per_cand.begin(), r.best_per_cand.end(), per.mutable_data());
            return py::make_tuple(r.ok, r.best.position, r.best.candidate, r.best.delta, per, r.f);
        },
        py::arg("V"), py::arg("s"), py::arg("k"),
        "One exchange search of swap_refine: V holds the k selected rows, then the candidates; "
        "returns (ok, position, candidate, delta, best delta per candidate, f).");
}

}  // namespace rankwise::bindings
