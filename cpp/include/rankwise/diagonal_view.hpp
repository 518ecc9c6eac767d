// A diagonal matrix diag(d) as CG's fused vector updates read it (algo/cg.hpp: the Jacobi
// preconditioner's inverse diagonal): d stored plainly, or coded, a byte per row indexing a
// table of its distinct values, as the coded DIA storage (rankwise/dia_view.hpp).  The
// Jacobi preconditioner of a stencil with constant coefficients has one value, and its
// updates then read a byte per row instead of sizeof(T): on the GPU, 2 of a Jacobi-PCG
// iteration's 13 vectors (the x/r and p updates each read d).
#pragma once

#include <cstdint>

#include "rankwise/types.hpp"

namespace rankwise {

template <class T>
struct DiagonalView {
    const T* values = nullptr;            // plain: d_i = values[i]
    const std::uint8_t* codes = nullptr;  // coded: d_i = table[codes[i]] (values == nullptr)
    const T* table = nullptr;

    // no diagonal (M absent, or not diagonal)
    bool empty() const { return values == nullptr && codes == nullptr; }
    bool coded() const { return codes != nullptr; }
    // d_i; Coded must be coded() (a template argument: no branch on the storage in a loop)
    template <bool Coded>
    constexpr T at(index_t i) const {
        if constexpr (Coded) {
            return table[codes[i]];
        } else {
            return values[i];
        }
    }
};

}  // namespace rankwise
