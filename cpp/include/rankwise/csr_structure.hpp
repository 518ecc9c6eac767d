// Validation of a CSR structure (or of a CSC one, read as the CSR of the transpose) before
// anything indexes with it: SciPy checks only the lengths of arrays a matrix is built from.
#pragma once

#include <cstdint>

#include "rankwise/types.hpp"

namespace rankwise {

enum class CsrProblem {
    None,     // sound
    Indptr,   // indptr does not start at 0, or decreases
    Overrun,  // indptr[major] exceeds the stored entries
    Index,    // an index outside [0, minor)
};

// indptr has major + 1 entries; indices and the values hold nnz_stored entries.  One
// vectorized pass over each array (about numpy's speed for min / max).
CsrProblem csr_problem(const std::int32_t* indptr, index_t major, const std::int32_t* indices,
                       index_t minor, index_t nnz_stored);
CsrProblem csr_problem(const std::int64_t* indptr, index_t major, const std::int64_t* indices,
                       index_t minor, index_t nnz_stored);

// Whether a row (of a sound structure) holds one index twice: the only thing, besides
// order, that keeps scipy's has_canonical_format false.  One pass over the indices with a
// stamp per index of the minor side (O(minor) memory).
bool csr_has_duplicates(const std::int32_t* indptr, index_t major, const std::int32_t* indices,
                        index_t minor);
bool csr_has_duplicates(const std::int64_t* indptr, index_t major, const std::int64_t* indices,
                        index_t minor);

}  // namespace rankwise
