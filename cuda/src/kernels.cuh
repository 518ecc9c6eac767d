// Helpers shared by the CUDA backend's sources: an element-wise map over a column-major view,
// column reductions in double with a fixed summation order, argmax, small host-array
// copies, the int-size check of cuSOLVER's dense routines and the read-back of their info.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "rankwise/cuda_backend.hpp"
#include "rankwise/error.hpp"

namespace rankwise::cuda {

// cuSOLVER's dense routines take int sizes.
inline int solver_int(index_t v, const char* what) {
    require(v <= std::numeric_limits<int>::max())
        << "the CUDA backend factorizes blocks of at most 2^31 - 1 " << what << "; got " << v;
    return static_cast<int>(v);
}

// cuSOLVER's devInfo, read back on the host (synchronizes).
inline int read_info(const DeviceMatrix<int>& info, cudaStream_t stream) {
    int value = 0;
    check(cudaMemcpyAsync(&value, info.data(), sizeof(int), cudaMemcpyDeviceToHost, stream),
          "cudaMemcpyAsync (devInfo)");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    return value;
}

template <class T>
constexpr cudaDataType data_type() {
    return std::is_same<T, float>::value ? CUDA_R_32F : CUDA_R_64F;
}

// cuSOLVER's options object of the 64-bit API (default algorithms), destroyed at scope end.
class SolverParams {
   public:
    SolverParams() { check(cusolverDnCreateParams(&p_), "cusolverDnCreateParams"); }
    ~SolverParams() { cusolverDnDestroyParams(p_); }
    SolverParams(const SolverParams&) = delete;
    SolverParams& operator=(const SolverParams&) = delete;
    cusolverDnParams_t get() const { return p_; }

   private:
    cusolverDnParams_t p_ = nullptr;
};

constexpr int kThreads = 256;
constexpr index_t kMaxGridY = 65535;

// f(i, j) for every entry; rows over x (grid-stride), columns over y (grid-stride).
template <class F>
__global__ void for_each_entry_kernel(index_t rows, index_t cols, F f) {
    for (index_t j = blockIdx.y; j < cols; j += gridDim.y) {
        for (index_t i = blockIdx.x * index_t(blockDim.x) + threadIdx.x; i < rows;
             i += index_t(gridDim.x) * blockDim.x) {
            f(i, j);
        }
    }
}

template <class F>
void for_each_entry(cudaStream_t stream, index_t rows, index_t cols, F f) {
    if (rows == 0 || cols == 0) return;
    const index_t xblocks = std::min<index_t>((rows + kThreads - 1) / kThreads, 4096);
    const dim3 grid(static_cast<unsigned>(xblocks),
                    static_cast<unsigned>(std::min<index_t>(cols, kMaxGridY)));
    for_each_entry_kernel<<<grid, kThreads, 0, stream>>>(rows, cols, f);
    check(cudaGetLastError(), "kernel launch");
}

// The reductions of reduce_columns: the value type, its identity, and how two combine.
struct SumOp {
    using Value = double;
    __host__ __device__ static constexpr double identity() { return 0.0; }
    __host__ __device__ static double combine(double a, double b) { return a + b; }
};

struct MaxOp {
    using Value = double;
    __host__ __device__ static constexpr double identity() { return 0.0; }  // magnitudes only
    __host__ __device__ static double combine(double a, double b) { return a > b ? a : b; }
};

struct MinOp {
    using Value = double;
    __host__ __device__ static constexpr double identity() {
        return std::numeric_limits<double>::infinity();
    }
    __host__ __device__ static double combine(double a, double b) { return a < b ? a : b; }
};

// Two sums from one pass (CG's ||r||^2 and r.(d .* r) from the x/r update); an aggregate, so
// that the reduction can keep it in shared memory.
struct SumPair {
    double first;
    double second;
};

struct PairSumOp {
    using Value = SumPair;
    __host__ __device__ static constexpr SumPair identity() { return SumPair{0.0, 0.0}; }
    __host__ __device__ static SumPair combine(SumPair a, SumPair b) {
        return SumPair{a.first + b.first, a.second + b.second};
    }
};

// Row blocks per column of a reduction: enough blocks to fill the GPU on one tall column
// (132 multiprocessors x 8 blocks of 256 threads on an H100/H200, with loads in flight to
// cover the memory latency: at most 512 blocks left CG's reductions at an estimated third
// of the bandwidth, 2026-11-26), few enough that the partials (32 KiB per column) are cheap
// to bring to the host.
inline index_t reduction_row_blocks(index_t rows) {
    const index_t per_block = 4 * index_t(kThreads);
    return std::clamp<index_t>((rows + per_block - 1) / per_block, 1, 4096);
}

// Op over the values v of a block's kThreads threads, by a fixed tree in the shared scratch
// acc (so the value does not depend on timing); every thread gets it.
template <class Op>
__device__ typename Op::Value block_combine(typename Op::Value v, typename Op::Value* acc) {
    acc[threadIdx.x] = v;
    __syncthreads();
    for (int width = kThreads / 2; width > 0; width /= 2) {
        if (int(threadIdx.x) < width)
            acc[threadIdx.x] = Op::combine(acc[threadIdx.x], acc[threadIdx.x + width]);
        __syncthreads();
    }
    return acc[0];
}

// partial[b + j * nb] = Op over the rows b * blockDim + t + k * nb * blockDim (t < blockDim,
// k >= 0) of column j of f(i, j).  The rows are taken grid-stride, as for_each_entry takes
// them: all blocks sweep memory together.  With a contiguous range of rows per block (the
// first version) the 1000-odd resident blocks each streamed their own range of every vector:
// CG's x/r update took 0.213 ms for 560 MB on 1e7 rows of an H200, 0.167 ms grid-stride
// (ncu, 2026-11-28; for_each_entry's update of p moves 4.3 TB/s).
template <class Op, class F>
__global__ void column_partials_kernel(index_t rows, index_t cols, index_t nb, F f,
                                       typename Op::Value* partial) {
    using V = typename Op::Value;
    __shared__ V acc[kThreads];
    const index_t b = blockIdx.x;
    const index_t stride = nb * index_t(blockDim.x);
    for (index_t j = blockIdx.y; j < cols; j += gridDim.y) {
        V v = Op::identity();
        // four independent terms per step, so that four loads are in flight per thread
        index_t i = b * index_t(blockDim.x) + threadIdx.x;
        for (; i + 3 * stride < rows; i += 4 * stride) {
            const V a = f(i, j), c = f(i + stride, j);
            const V d = f(i + 2 * stride, j), e = f(i + 3 * stride, j);
            v = Op::combine(v, Op::combine(Op::combine(a, c), Op::combine(d, e)));
        }
        for (; i < rows; i += stride) v = Op::combine(v, f(i, j));
        const V total = block_combine<Op>(v, acc);
        if (threadIdx.x == 0) partial[b + j * nb] = total;
        __syncthreads();  // (acc is written again for the next column)
    }
}

// out[j] = Op over b < nb of partial[b + j * nb], one block per column, in a fixed order.
template <class Op>
__global__ void combine_partials_kernel(index_t nb, const typename Op::Value* partial,
                                        typename Op::Value* out) {
    using V = typename Op::Value;
    __shared__ V acc[kThreads];
    const index_t j = blockIdx.x;
    V v = Op::identity();
    for (index_t b = threadIdx.x; b < nb; b += blockDim.x)
        v = Op::combine(v, partial[b + j * nb]);
    const V total = block_combine<Op>(v, acc);
    if (threadIdx.x == 0) out[j] = total;
}

// out[j] = Op over i of f(i, j), for j < cols, into `out` in device memory: partials and
// their combination on the device, queued on the stream (no sync).
template <class Op, class F>
void reduce_columns_to(cudaStream_t stream, index_t rows, index_t cols, F f,
                       typename Op::Value* out) {
    using V = typename Op::Value;
    if (cols == 0) return;
    const index_t nb = reduction_row_blocks(rows);
    V* partial = static_cast<V*>(
        allocate(sizeof(V) * static_cast<std::size_t>(nb * cols), stream, "reduction partials"));
    const dim3 grid(static_cast<unsigned>(nb),
                    static_cast<unsigned>(std::min<index_t>(cols, kMaxGridY)));
    column_partials_kernel<Op><<<grid, kThreads, 0, stream>>>(rows, cols, nb, f, partial);
    cudaError_t status = cudaGetLastError();
    if (status == cudaSuccess) {
        combine_partials_kernel<Op>
            <<<static_cast<unsigned>(cols), kThreads, 0, stream>>>(nb, partial, out);
        status = cudaGetLastError();
    }
    free_async(partial, stream);
    check(status, "column reduction");
}

// out[j] = Op over i of f(i, j), for j < cols, to the host: one value per column comes back
// (the 4096 partials of a column took a 32-64 KiB copy and a host loop at each of CG's syncs
// per iteration).  Synchronizes.
template <class Op, class F>
std::vector<typename Op::Value> reduce_columns(cudaStream_t stream, index_t rows, index_t cols,
                                               F f) {
    using V = typename Op::Value;
    std::vector<V> out(static_cast<std::size_t>(cols), Op::identity());
    if (rows == 0 || cols == 0) return out;
    V* combined =
        static_cast<V*>(allocate(sizeof(V) * out.size(), stream, "reduction results"));
    cudaError_t status = cudaSuccess;
    try {
        reduce_columns_to<Op>(stream, rows, cols, f, combined);
        status = cudaMemcpyAsync(out.data(), combined, sizeof(V) * out.size(),
                                 cudaMemcpyDeviceToHost, stream);
    } catch (...) {
        free_async(combined, stream);
        throw;
    }
    free_async(combined, stream);
    check(status, "column reduction");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    return out;
}

// Whether (v, i) beats (best, at) in an argmax: larger value, or the same value at a smaller
// index (the first occurrence wins, as in LAPACK's i?amax).
__host__ __device__ inline bool argmax_better(double v, index_t i, double best, index_t at) {
    return v > best || (v == best && i < at);
}

// Per block of a contiguous index range: the largest f(i) and the first i holding it.
template <class F>
__global__ void argmax_partials_kernel(index_t count, index_t nb, F f, double* value,
                                       index_t* index) {
    __shared__ double sv[kThreads];
    __shared__ index_t si[kThreads];
    const index_t per_block = (count + nb - 1) / nb;
    const index_t begin = index_t(blockIdx.x) * per_block;
    const index_t end = begin + per_block < count ? begin + per_block : count;
    double best = -std::numeric_limits<double>::infinity();
    index_t at = count;  // nothing found (only NaN): beaten by any value
    for (index_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        const double v = f(i);
        if (v > best) {  // i increases: the first of equal values stays
            best = v;
            at = i;
        }
    }
    sv[threadIdx.x] = best;
    si[threadIdx.x] = at;
    __syncthreads();
    for (int width = kThreads / 2; width > 0; width /= 2) {
        if (int(threadIdx.x) < width &&
            argmax_better(sv[threadIdx.x + width], si[threadIdx.x + width], sv[threadIdx.x],
                          si[threadIdx.x])) {
            sv[threadIdx.x] = sv[threadIdx.x + width];
            si[threadIdx.x] = si[threadIdx.x + width];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        value[blockIdx.x] = sv[0];
        index[blockIdx.x] = si[0];
    }
}

// The first i < count at which f(i) (a double, NaN never chosen) is largest, and that
// value; index `count` if every f(i) is NaN.  Partials on the device, the last step on the
// host in block order (the index is the result the caller needs).  Synchronizes.
template <class F>
std::pair<index_t, double> argmax(cudaStream_t stream, index_t count, F f) {
    std::pair<index_t, double> out{count, -std::numeric_limits<double>::infinity()};
    if (count == 0) return out;
    const index_t nb = reduction_row_blocks(count);
    const std::size_t n = static_cast<std::size_t>(nb);
    void* raw = allocate((sizeof(double) + sizeof(index_t)) * n, stream, "argmax partials");
    double* value = static_cast<double*>(raw);
    index_t* index = reinterpret_cast<index_t*>(value + n);
    argmax_partials_kernel<<<static_cast<unsigned>(nb), kThreads, 0, stream>>>(count, nb, f,
                                                                              value, index);
    cudaError_t status = cudaGetLastError();
    std::vector<double> hv(n);
    std::vector<index_t> hi(n);
    if (status == cudaSuccess)
        status = cudaMemcpyAsync(hv.data(), value, sizeof(double) * n, cudaMemcpyDeviceToHost,
                                 stream);
    if (status == cudaSuccess)
        status = cudaMemcpyAsync(hi.data(), index, sizeof(index_t) * n, cudaMemcpyDeviceToHost,
                                 stream);
    free_async(raw, stream);
    check(status, "argmax");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    for (std::size_t b = 0; b < n; ++b)
        if (hi[b] < count && argmax_better(hv[b], hi[b], out.second, out.first))
            out = {hi[b], hv[b]};
    return out;
}

// A small host array copied into a stream-ordered device buffer, freed at scope end.
template <class T>
class DeviceCopy {
   public:
    DeviceCopy(const T* values, index_t n, cudaStream_t stream) : stream_(stream) {
        if (values == nullptr || n == 0) return;
        const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(n);
        p_ = static_cast<T*>(allocate(bytes, stream, "per-column scalars"));
        check(cudaMemcpyAsync(p_, values, bytes, cudaMemcpyHostToDevice, stream),
              "cudaMemcpyAsync (host to device)");
    }
    ~DeviceCopy() { free_async(p_, stream_); }
    DeviceCopy(const DeviceCopy&) = delete;
    DeviceCopy& operator=(const DeviceCopy&) = delete;
    const T* get() const { return p_; }

   private:
    T* p_ = nullptr;
    cudaStream_t stream_;
};

// Per-column scalars as a kernel reads them: up to kInline of them inside the kernel's
// parameters, more from device memory.
template <class T>
struct ColumnScalars {
    static constexpr index_t kInline = 16;
    T inline_values[kInline];
    const T* device = nullptr;
    __device__ T operator[](index_t j) const {
        return device != nullptr ? device[j] : inline_values[j];
    }
};

// The host side of ColumnScalars: for a few columns (CG's usual case, one) the values travel
// with the launch, so that a call makes no allocation and no host-to-device copy (CG makes
// two such calls per iteration, each right after the host sync of a reduction, with the
// GPU idle until the kernel is queued); beyond kInline columns, a DeviceCopy.
template <class T>
class ColumnArgument {
   public:
    ColumnArgument(const T* values, index_t n, cudaStream_t stream) {
        if (n <= ColumnScalars<T>::kInline) {
            std::copy(values, values + n, view_.inline_values);
        } else {
            copy_.emplace(values, n, stream);
            view_.device = copy_->get();
        }
    }
    ColumnScalars<T> get() const { return view_; }

   private:
    ColumnScalars<T> view_{};
    std::optional<DeviceCopy<T>> copy_;
};

}  // namespace rankwise::cuda
