// The coded form of a DIA matrix's values (rankwise/dia_view.hpp) built on the host for the
// tests: a table of the distinct values (told apart by their bits) and a byte per position.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "rankwise/dia_view.hpp"

namespace rankwise::test {

template <class T>
struct CodedValues {
    std::vector<T> table;
    std::vector<std::uint8_t> codes;
};

// values[0, size) as table[codes[k]]; the test fails (returns an empty table) where they
// have more than kDiaMaxCodes distinct values.
template <class T>
CodedValues<T> code_values(const T* values, index_t size) {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    std::map<Bits, std::uint8_t> index;
    CodedValues<T> out;
    out.codes.resize(static_cast<std::size_t>(size));
    for (index_t k = 0; k < size; ++k) {
        Bits b;
        std::memcpy(&b, values + k, sizeof b);
        auto it = index.find(b);
        if (it == index.end()) {
            if (out.table.size() == kDiaMaxCodes) return {};
            it = index.emplace(b, static_cast<std::uint8_t>(out.table.size())).first;
            out.table.push_back(values[k]);
        }
        out.codes[static_cast<std::size_t>(k)] = it->second;
    }
    return out;
}

}  // namespace rankwise::test
