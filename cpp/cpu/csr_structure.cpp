#include "rankwise/csr_structure.hpp"

#include <vector>

#include "isa.hpp"

namespace rankwise {

namespace {

// Reductions without an early exit (and an unsigned accumulator: a bool one is not
// vectorized), so that the compiler vectorizes both loops.
template <class I>
CsrProblem problem_of(const I* indptr, index_t major, const I* indices, index_t minor,
                      index_t nnz_stored) {
    if (indptr[0] != 0) return CsrProblem::Indptr;
    unsigned decreasing = 0;
    for (index_t i = 0; i < major; ++i) decreasing |= unsigned(indptr[i] > indptr[i + 1]);
    if (decreasing) return CsrProblem::Indptr;
    const index_t nnz = indptr[major];
    if (nnz > nnz_stored) return CsrProblem::Overrun;
    if (nnz == 0) return CsrProblem::None;
    I lo = indices[0], hi = indices[0];
    for (index_t p = 0; p < nnz; ++p) {
        const I v = indices[p];  // (std::min / std::max here are not vectorized by GCC 12)
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    return lo < 0 || hi >= minor ? CsrProblem::Index : CsrProblem::None;
}

template <class I>
bool has_duplicates(const I* indptr, index_t major, const I* indices, index_t minor) {
    std::vector<index_t> last_row(static_cast<std::size_t>(minor), -1);
    for (index_t i = 0; i < major; ++i) {
        for (index_t p = indptr[i]; p < static_cast<index_t>(indptr[i + 1]); ++p) {
            index_t& seen = last_row[static_cast<std::size_t>(indices[p])];
            if (seen == i) return true;
            seen = i;
        }
    }
    return false;
}

}  // namespace

bool csr_has_duplicates(const std::int32_t* indptr, index_t major, const std::int32_t* indices,
                        index_t minor) {
    return has_duplicates(indptr, major, indices, minor);
}

bool csr_has_duplicates(const std::int64_t* indptr, index_t major, const std::int64_t* indices,
                        index_t minor) {
    return has_duplicates(indptr, major, indices, minor);
}

RANKWISE_ISA_CLONES CsrProblem csr_problem(const std::int32_t* indptr, index_t major,
                                           const std::int32_t* indices, index_t minor,
                                           index_t nnz_stored) {
    return problem_of(indptr, major, indices, minor, nnz_stored);
}

RANKWISE_ISA_CLONES CsrProblem csr_problem(const std::int64_t* indptr, index_t major,
                                           const std::int64_t* indices, index_t minor,
                                           index_t nnz_stored) {
    return problem_of(indptr, major, indices, minor, nnz_stored);
}

}  // namespace rankwise
