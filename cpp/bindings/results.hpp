// What the CPU module (_core) and the CUDA module (_cuda) share at the Python seam: the names
// of the algorithms' options and the dicts their results are reported in, so that both
// backends speak the same words.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>

#include "rankwise/algo/cg.hpp"
#include "rankwise/algo/factors.hpp"
#include "rankwise/error.hpp"

namespace rankwise::bindings {

inline Ortho parse_ortho(const std::string& s) {
    if (s == "householder") return Ortho::Householder;
    if (s == "cholqr2") return Ortho::CholQR2;
    if (s == "lu") return Ortho::LU;
    if (s == "none") return Ortho::None;
    throw Error("unknown orthonormalization '" + s + "'");
}

inline SvdDriver parse_driver(const std::string& s) {
    if (s == "gesdd") return SvdDriver::Gesdd;
    if (s == "gesvd") return SvdDriver::Gesvd;
    throw Error("unknown SVD driver '" + s + "'");
}

// passes, relative_error, converged, iterations of an SVD driver's result
template <class Backend, class T>
pybind11::dict factors_info(const SvdFactors<Backend, T>& f) {
    pybind11::dict info;
    info["passes"] = f.passes;
    info["relative_error"] = f.relative_error;
    info["converged"] = f.converged;
    info["iterations"] = f.iterations;
    return info;
}

inline const char* stop_name(CgStop s) {
    switch (s) {
        case CgStop::Converged: return "converged";
        case CgStop::MaxIter: return "maxiter";
        case CgStop::NotSpdA: return "A_not_spd";
        case CgStop::NotSpdM: return "M_not_spd";
        case CgStop::NonFinite: return "nonfinite";
    }
    return "unknown";
}

// {"steps", "iterations" (per column), "stop" (reason names), "history" ((steps + 1) x s)}
inline pybind11::dict cg_result_dict(const CgResult& r, index_t s) {
    namespace py = pybind11;
    py::array_t<index_t> iterations(static_cast<py::ssize_t>(s));
    std::copy(r.iterations.begin(), r.iterations.end(), iterations.mutable_data());
    py::list stop;
    for (auto why : r.stop) stop.append(stop_name(why));
    const py::ssize_t rows = static_cast<py::ssize_t>(r.history.size()) / std::max<index_t>(s, 1);
    py::array_t<double> history({rows, static_cast<py::ssize_t>(s)});
    std::copy(r.history.begin(), r.history.end(), history.mutable_data());
    py::dict out;
    out["steps"] = r.steps;
    out["iterations"] = iterations;
    out["stop"] = stop;
    out["history"] = history;
    return out;
}

}  // namespace rankwise::bindings
