// CUDA backend, CG's DIA form of a canonical CSR matrix built on the device, a thread per row
// (python/rankwise/_dia_gpu.py decides the diagonals and the value table in between): the
// diagonals the entries lie on, then every entry written to its position (dia_fill.hpp).
// Array operations took about 5 ms of a 200-iteration solve on 1e7 unknowns (H200, ncu,
// 2026-11-28): a binary search per entry for its row, and scatters through index arrays.
#include <algorithm>
#include <vector>

#include "kernels.cuh"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/dia_fill.hpp"
#include "rankwise/dia_view.hpp"

namespace rankwise {
namespace {

// The diagonals' offsets as a kernel's parameter
struct DiagonalOffsets {
    index_t at[kDiaMaxDiagonals];
};

}  // namespace

template <class I>
void CudaBackend::dia_mark_offsets(const I* indices, const I* indptr, index_t n,
                                   std::uint8_t* present) const {
    cuda::for_each_entry(stream_, n, 1, [=] __device__(index_t i, index_t) {
        for (index_t p = indptr[i]; p < static_cast<index_t>(indptr[i + 1]); ++p)
            present[static_cast<index_t>(indices[p]) - i + n - 1] = 1;  // (racing 1s: benign)
    });
}

template <class B, class I>
index_t CudaBackend::dia_fill(const I* indices, const I* indptr, const B* bits, index_t n,
                              const std::vector<index_t>& offsets, B* values,
                              std::uint8_t* codes, const B* table, int table_size) const {
    require(static_cast<int>(offsets.size()) <= kDiaMaxDiagonals && (values == nullptr) !=
                                                                         (codes == nullptr))
        << "dia_fill: at most " << kDiaMaxDiagonals << " diagonals, and values or codes";
    DiagonalOffsets off{};
    std::copy(offsets.begin(), offsets.end(), off.at);
    const int count = static_cast<int>(offsets.size());
    const auto missed = cuda::reduce_columns<cuda::SumOp>(
        stream_, n, 1, [=] __device__(index_t i, index_t) {
            const DiaFillTarget<B> to{off.at, count, n, values, codes, table, table_size};
            return double(dia_fill_row(to, i, indptr[i], indptr[i + 1], indices, bits));
        });
    return n == 0 ? 0 : static_cast<index_t>(missed[0]);
}

#define RANKWISE_INSTANTIATE_DIA_CONVERT(B, I)                                                  \
    template index_t CudaBackend::dia_fill<B, I>(const I*, const I*, const B*, index_t,         \
                                                 const std::vector<index_t>&, B*, std::uint8_t*, \
                                                 const B*, int) const;

template void CudaBackend::dia_mark_offsets<std::int32_t>(const std::int32_t*,
                                                          const std::int32_t*, index_t,
                                                          std::uint8_t*) const;
template void CudaBackend::dia_mark_offsets<std::int64_t>(const std::int64_t*,
                                                          const std::int64_t*, index_t,
                                                          std::uint8_t*) const;
RANKWISE_INSTANTIATE_DIA_CONVERT(std::int32_t, std::int32_t)
RANKWISE_INSTANTIATE_DIA_CONVERT(std::int32_t, std::int64_t)
RANKWISE_INSTANTIATE_DIA_CONVERT(std::int64_t, std::int32_t)
RANKWISE_INSTANTIATE_DIA_CONVERT(std::int64_t, std::int64_t)
#undef RANKWISE_INSTANTIATE_DIA_CONVERT

}  // namespace rankwise
