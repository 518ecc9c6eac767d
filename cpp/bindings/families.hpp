// One registration function per family of algorithms; module.cpp calls each of them.
// A new family adds its <family>_bindings.cpp, a line here and a call in module.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace rankwise::bindings {

void register_svd(pybind11::module_& m);
void register_cg(pybind11::module_& m);
void register_cur(pybind11::module_& m);
// Per-chunk kernels of the dask layer (python/rankwise/_dask.py).
void register_chunk_kernels(pybind11::module_& m);
void register_update(pybind11::module_& m);
void register_eim(pybind11::module_& m);

}  // namespace rankwise::bindings
