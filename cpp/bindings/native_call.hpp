// What every binding holds around native work: the GIL released, and the OpenMP team sized
// to this call's share of the cores when other Python threads are in rankwise too
// (rankwise/thread_share.hpp).
#pragma once

#include <pybind11/pybind11.h>

#include "rankwise/thread_share.hpp"

namespace rankwise::bindings {

struct NativeCall {
    pybind11::gil_scoped_release nogil;
    cpu::ThreadShare share;
};

}  // namespace rankwise::bindings
