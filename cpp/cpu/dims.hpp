// Conversions from the 64-bit sizes the algorithms use to the 32-bit ints of LP64 BLAS.
#pragma once

#include <climits>

#include "rankwise/error.hpp"
#include "rankwise/types.hpp"

namespace rankwise::cpu {

inline int blas_int(index_t v, const char* what) {
    require(v >= 0 && v <= INT_MAX)
        << what << " = " << v << " exceeds the 32-bit range of the BLAS/LAPACK that SciPy uses";
    return static_cast<int>(v);
}

inline int ld_of(index_t ld) { return blas_int(ld > 0 ? ld : 1, "leading dimension"); }

}  // namespace rankwise::cpu
