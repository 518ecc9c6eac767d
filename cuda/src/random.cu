// CUDA backend: Gaussian sketches from the same Philox4x64-10 stream as the CPU backend
// (cpu/random.cpp): entry t = i + j * rows is deviate t % 4 of counter block t / 4, so the
// same key gives the same matrix on both backends (up to the last bit of log/cos/sin).
#include "kernels.cuh"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/philox.hpp"

namespace rankwise {

namespace {

template <class T>
__global__ void fill_normal_kernel(MatView<T> X, philox::Key key, std::uint64_t stream,
                                   index_t blocks) {
    const index_t total = X.rows * X.cols;
    for (index_t b = blockIdx.x * index_t(blockDim.x) + threadIdx.x; b < blocks;
         b += index_t(gridDim.x) * blockDim.x) {
        const philox::Counter ctr{static_cast<std::uint64_t>(b), stream, 0, 0};
        double z[4];
        philox::normal4(philox::philox4x64_10(ctr, key), z);
        for (index_t t = 4 * b, e = 0; e < 4 && t < total; ++t, ++e) {
            X(t % X.rows, t / X.rows) = static_cast<T>(z[e]);
        }
    }
}

}  // namespace

template <class T>
void CudaBackend::fill_normal(MatView<T> X, philox::Key key, std::uint64_t stream) const {
    const index_t blocks = (X.rows * X.cols + 3) / 4;
    if (blocks == 0) return;
    const index_t grid = std::min<index_t>((blocks + cuda::kThreads - 1) / cuda::kThreads, 8192);
    fill_normal_kernel<T><<<static_cast<unsigned>(grid), cuda::kThreads, 0, stream_>>>(
        X, key, stream, blocks);
    cuda::check(cudaGetLastError(), "fill_normal kernel launch");
}

template void CudaBackend::fill_normal<float>(MatView<float>, philox::Key, std::uint64_t) const;
template void CudaBackend::fill_normal<double>(MatView<double>, philox::Key, std::uint64_t) const;

}  // namespace rankwise
