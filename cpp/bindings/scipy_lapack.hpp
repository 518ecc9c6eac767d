// The BLAS/LAPACK routines of rankwise/lapack.hpp, taken from SciPy's Cython capsules at
// module import (rankwise._core for the CPU backend; rankwise._cuda for the small SVDs it
// runs on the host).
#pragma once

#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "rankwise/lapack.hpp"

namespace rankwise::bindings {

// Every routine in lapack::required_routines(), from scipy.linalg.cython_blas/cython_lapack.
inline void register_scipy_lapack() {
    namespace py = pybind11;
    py::dict capi = py::module_::import("scipy.linalg.cython_blas").attr("__pyx_capi__");
    py::dict lapack_capi = py::module_::import("scipy.linalg.cython_lapack").attr("__pyx_capi__");
    for (const auto& name : lapack::required_routines()) {
        py::object cap;
        if (capi.contains(name.c_str())) {
            cap = capi[name.c_str()];
        } else if (lapack_capi.contains(name.c_str())) {
            cap = lapack_capi[name.c_str()];
        } else {
            throw std::runtime_error("SciPy does not export " + name);
        }
        PyObject* c = cap.ptr();
        void* fn = PyCapsule_GetPointer(c, PyCapsule_GetName(c));
        if (fn == nullptr) throw py::error_already_set();
        lapack::register_routine(name, fn);
    }
}

}  // namespace rankwise::bindings
