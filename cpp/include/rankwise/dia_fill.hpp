// One row of a canonical CSR matrix (sorted, no duplicates) written into DIA storage
// (rankwise/dia_view.hpp): the CUDA backend converts CG's matrix on the device a thread per
// row (cuda/src/dia_convert.cu, called by python/rankwise/_dia_gpu.py); the host tests call
// the same function.  Values are handled as their bits (B: std::int32_t for float32,
// std::int64_t for float64), copied into plain storage or coded by their position in a
// table of distinct bit patterns in ascending (signed) order, as _dia_gpu.value_codes
// builds it.
#pragma once

#include <cstdint>

#include "rankwise/host_device.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

// Where row i's entries go: `count` diagonals at ascending `offsets`, n rows each; either
// plain (`values`, codes == nullptr) or coded (`codes` and `table` of table_size entries).
template <class B>
struct DiaFillTarget {
    const index_t* offsets = nullptr;
    int count = 0;
    index_t n = 0;
    B* values = nullptr;
    std::uint8_t* codes = nullptr;
    const B* table = nullptr;
    int table_size = 0;
};

// The position of `bits` in the ascending table, or -1 where it is not there.
template <class B>
RANKWISE_HD inline int dia_code_of(const B* table, int size, B bits) {
    int lo = 0, hi = size;  // binary search for the first entry >= bits
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (table[mid] < bits) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < size && table[lo] == bits ? lo : -1;
}

// Row i (entries [begin, end) of indices and bits) into `to`: entry (i, j) at position
// d * n + i of diagonal offsets[d] = j - i.  Returns how many entries could not be stored:
// off the diagonals, or (coded) with bits not in the table; the rest are stored.
template <class B, class I>
RANKWISE_HD inline index_t dia_fill_row(const DiaFillTarget<B>& to, index_t i, index_t begin,
                                        index_t end, const I* indices, const B* bits) {
    index_t missed = 0;
    int d = 0;  // a canonical row's offsets ascend: the search goes on from the last one
    for (index_t p = begin; p < end; ++p) {
        const index_t off = static_cast<index_t>(indices[p]) - i;
        while (d < to.count && to.offsets[d] < off) ++d;
        if (d == to.count || to.offsets[d] != off) {
            ++missed;
            continue;
        }
        const index_t at = static_cast<index_t>(d) * to.n + i;
        if (to.codes == nullptr) {
            to.values[at] = bits[p];
        } else {
            const int code = dia_code_of(to.table, to.table_size, bits[p]);
            if (code < 0) {
                ++missed;
            } else {
                to.codes[at] = static_cast<std::uint8_t>(code);
            }
        }
    }
    return missed;
}

}  // namespace rankwise
