// Conversions shared by every family's bindings: owning host matrices to numpy arrays
// without a copy, Philox keys from the two integers Python derives from random_state, and
// the dtype tests of arrays and operators.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>

#include "rankwise/cpu_backend.hpp"
#include "rankwise/linear_op.hpp"
#include "rankwise/philox.hpp"

namespace rankwise::bindings {

namespace py = pybind11;

// A host matrix handed to numpy without a copy; `transposed` exposes the column-major
// n x r storage of V as the row-major r x n array Vt.
template <class T>
py::array to_numpy(HostMatrix<T>&& M, bool transposed) {
    const py::ssize_t rows = M.rows(), cols = M.cols(), item = sizeof(T);
    auto owner = std::make_unique<HostBuffer<T>>(M.release());
    T* data = owner->get();
    py::capsule base(owner.release(), [](void* p) { delete static_cast<HostBuffer<T>*>(p); });
    if (transposed) return py::array_t<T>({cols, rows}, {rows * item, item}, data, base);
    return py::array_t<T>({rows, cols}, {item, rows * item}, data, base);
}

inline philox::Key make_key(std::uint64_t k0, std::uint64_t k1) { return philox::Key{k0, k1}; }

// Whether a's dtype is T's (an equivalent dtype: an unpickled one is a new object).
template <class T>
bool is_dtype(const py::array& a) {
    return py::array_t<T>::check_(a);
}

// The T of a LinearOp<T>, in generic lambdas: decltype(value_type_of(A)).
template <class T>
T value_type_of(const LinearOp<T>&);

}  // namespace rankwise::bindings
