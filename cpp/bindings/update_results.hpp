// What the CPU (_core) and CUDA (_cuda) bindings of the updating truncated SVD share: the
// method names and the dict the counters are reported in.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>

#include "rankwise/algo/svd_update.hpp"
#include "rankwise/error.hpp"

namespace rankwise::bindings {

inline UpdateMethod parse_update_method(const std::string& s) {
    if (s == "zha-simon") return UpdateMethod::ZhaSimon;
    if (s == "vecharynski-saad") return UpdateMethod::VecharynskiSaad;
    if (s == "sparse") return UpdateMethod::Sparse;
    throw Error("unknown update method '" + s + "'");
}

// The rows J of a side that an update block D(J, :)^T (with nJ columns) touches, checked
// (ascending, in [0, n_side)), as the host pointer SideBlock wants; nullptr when J is None
// (then the block must cover all n_side rows).
using UpdateRows =
    pybind11::array_t<std::int64_t, pybind11::array::c_style | pybind11::array::forcecast>;
inline const index_t* update_rows(const std::optional<UpdateRows>& J, index_t nJ,
                                  index_t n_side) {
    if (!J) {
        require(nJ == n_side) << "block has " << nJ << " rows, the factor " << n_side;
        return nullptr;
    }
    require(J->ndim() == 1 && J->shape(0) == nJ) << "row index array does not match the block";
    const auto* j = reinterpret_cast<const index_t*>(J->data());
    for (index_t i = 0; i < nJ; ++i)
        require(j[i] >= 0 && j[i] < n_side && (i == 0 || j[i] > j[i - 1]))
            << "row indices must be ascending and in [0, " << n_side << ")";
    return j;
}

inline pybind11::dict update_stats_dict(const UpdateStats& s) {
    pybind11::dict d;
    d["updates"] = s.updates;
    d["materializations"] = s.materializations;
    d["discarded"] = s.discarded;
    d["dropped"] = s.dropped;
    return d;
}

}  // namespace rankwise::bindings
