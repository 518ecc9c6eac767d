// CUDA backend: error checks, library handles, device memory, host transfers, interrupts.
#include <cstdint>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>

#include "rankwise/cuda_backend.hpp"

namespace rankwise {
namespace cuda {

void check(cudaError_t status, const char* what) {
    if (status == cudaSuccess) return;
    throw DeviceError(std::string(what) + " failed: " + cudaGetErrorName(status) + " (" +
                      cudaGetErrorString(status) + ")");
}

void check(cublasStatus_t status, const char* what) {
    if (status == CUBLAS_STATUS_SUCCESS) return;
    throw DeviceError(std::string(what) + " failed: " + cublasGetStatusName(status));
}

void check(cusolverStatus_t status, const char* what) {
    if (status == CUSOLVER_STATUS_SUCCESS) return;
    throw DeviceError(std::string(what) + " failed: cuSOLVER status " +
                      std::to_string(static_cast<int>(status)));
}

void check(cusparseStatus_t status, const char* what) {
    if (status == CUSPARSE_STATUS_SUCCESS) return;
    throw DeviceError(std::string(what) + " failed: " + cusparseGetErrorString(status));
}

namespace {

// One set of handles per (thread, device); never destroyed before the thread ends, since
// destroying a handle synchronizes the device.
struct ThreadLibraries {
    std::unordered_map<int, Libraries> by_device;
    ~ThreadLibraries() {
        for (auto& entry : by_device) {
            cublasDestroy(entry.second.blas);
            cusolverDnDestroy(entry.second.solver);
            cusparseDestroy(entry.second.sparse);
        }
    }
};

void (*interrupt_checker)() = nullptr;

}  // namespace

const Libraries& libraries(cudaStream_t stream) {
    thread_local ThreadLibraries mine;
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    auto found = mine.by_device.find(device);
    if (found == mine.by_device.end()) {
        Libraries lib;
        check(cublasCreate(&lib.blas), "cublasCreate");
        // No TF32 or other reduced-precision tensor-core paths: float32 stays float32.
        check(cublasSetMathMode(lib.blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        check(cusolverDnCreate(&lib.solver), "cusolverDnCreate");
        check(cusparseCreate(&lib.sparse), "cusparseCreate");
        found = mine.by_device.emplace(device, lib).first;
    }
    const Libraries& lib = found->second;
    check(cublasSetStream(lib.blas, stream), "cublasSetStream");
    check(cusolverDnSetStream(lib.solver, stream), "cusolverDnSetStream");
    check(cusparseSetStream(lib.sparse, stream), "cusparseSetStream");
    return lib;
}

namespace {

// Whether the current device has stream-ordered memory pools (cudaMallocAsync), asked once
// per device and thread (allocations are frequent; the handles need no touching for this).
bool memory_pools_supported() {
    thread_local std::unordered_map<int, bool> known;
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    auto found = known.find(device);
    if (found == known.end()) {
        int pools = 0;
        check(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device),
              "cudaDeviceGetAttribute");
        found = known.emplace(device, pools != 0).first;
    }
    return found->second;
}

// rankwise's pool of a device: created on first use, kept for the life of the process (one
// per device, shared by all threads: memory freed on one thread's stream is reused on any).
// Release threshold: no limit, so that a synchronization returns nothing to the driver.
std::mutex pools_mutex;
std::unordered_map<int, cudaMemPool_t> pools;

cudaMemPool_t work_pool(int device) {
    const std::lock_guard<std::mutex> lock(pools_mutex);
    auto found = pools.find(device);
    if (found != pools.end()) return found->second;
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    cudaMemPool_t pool = nullptr;
    check(cudaMemPoolCreate(&pool, &props), "cudaMemPoolCreate");
    std::uint64_t keep_all = std::numeric_limits<std::uint64_t>::max();
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all),
          "cudaMemPoolSetAttribute");
    return pools.emplace(device, pool).first->second;
}

int current_device() {
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    return device;
}

}  // namespace

void* allocate(std::size_t bytes, cudaStream_t stream, const char* what) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    cudaError_t status = cudaErrorMemoryAllocation;
    if (memory_pools_supported()) {
        const cudaMemPool_t pool = work_pool(current_device());
        status = cudaMallocFromPoolAsync(&p, bytes, pool, stream);
        if (status == cudaErrorMemoryAllocation) {
            // What the pool keeps is free memory too: give it back and try once more.
            cudaGetLastError();
            check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
            cudaMemPoolTrimTo(pool, 0);
            status = cudaMallocFromPoolAsync(&p, bytes, pool, stream);
        }
    } else {
        status = cudaMalloc(&p, bytes);
    }
    if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();  // reset the thread's last error, so no later check reports it
        std::ostringstream msg;
        msg << "cannot allocate " << double(bytes) / double(1 << 30) << " GiB of device memory for "
            << what;
        throw AllocationError(msg.str());
    }
    check(status, "cudaMallocFromPoolAsync");
    return p;
}

void free_async(void* p, cudaStream_t stream) noexcept {
    if (p == nullptr) return;
    bool pools_supported = false;
    try {
        pools_supported = memory_pools_supported();
    } catch (...) {
        // the device cannot be asked now: the plain free below still returns the memory
    }
    if (pools_supported) {
        cudaFreeAsync(p, stream);
    } else {
        cudaFree(p);  // synchronizes the device: no queued work still uses p
    }
}

void release_cached_memory() noexcept {
    const std::lock_guard<std::mutex> lock(pools_mutex);
    for (const auto& entry : pools) cudaMemPoolTrimTo(entry.second, 0);
}

std::size_t reserved_bytes() {
    if (!memory_pools_supported()) return 0;
    std::uint64_t bytes = 0;
    check(cudaMemPoolGetAttribute(work_pool(current_device()), cudaMemPoolAttrReservedMemCurrent,
                                  &bytes),
          "cudaMemPoolGetAttribute");
    return static_cast<std::size_t>(bytes);
}

void set_interrupt_checker(void (*checker)()) { interrupt_checker = checker; }

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // no driver or no device: not an error for the caller
        return 0;
    }
    return n;
}

}  // namespace cuda

template <class T>
DeviceMatrix<T>::DeviceMatrix(index_t rows, index_t cols, cudaStream_t stream)
    : buf_(nullptr, Free{stream}), rows_(rows), cols_(cols) {
    require(rows >= 0 && cols >= 0) << "negative matrix size " << rows << " x " << cols;
    const bool fits = cols == 0 || static_cast<std::size_t>(rows) <=
                                       std::numeric_limits<std::size_t>::max() / sizeof(T) /
                                           static_cast<std::size_t>(cols);
    if (!fits) {
        std::ostringstream msg;
        msg << "a " << rows << " x " << cols << " matrix does not fit in the address space";
        throw AllocationError(msg.str());
    }
    std::ostringstream what;
    const auto bytes = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols) * sizeof(T);
    if (bytes > 0) {
        what << "a " << rows << " x " << cols << " float" << 8 * sizeof(T) << " work matrix";
        buf_.reset(static_cast<T*>(cuda::allocate(bytes, stream, what.str().c_str())));
    }
}

template <class T>
std::vector<T> CudaBackend::to_host(const T* values, index_t n) const {
    std::vector<T> out(static_cast<std::size_t>(n));
    if (n == 0) return out;
    cuda::check(cudaMemcpyAsync(out.data(), values, sizeof(T) * static_cast<std::size_t>(n),
                                cudaMemcpyDeviceToHost, stream_),
                "cudaMemcpyAsync (device to host)");
    synchronize();
    return out;
}

template <class T>
void CudaBackend::from_host(const T* values, MatView<T> Y) const {
    if (Y.rows == 0 || Y.cols == 0) return;
    // Pageable source: the call returns once the values are staged, so `values` may go.
    if (Y.ld == Y.rows || Y.cols == 1) {  // contiguous: no pitch limit (2^31 bytes)
        cuda::check(cudaMemcpyAsync(Y.data, values,
                                    sizeof(T) * static_cast<std::size_t>(Y.rows * Y.cols),
                                    cudaMemcpyHostToDevice, stream_),
                    "cudaMemcpyAsync (host to device)");
        return;
    }
    cuda::check(cudaMemcpy2DAsync(Y.data, sizeof(T) * static_cast<std::size_t>(Y.ld), values,
                                  sizeof(T) * static_cast<std::size_t>(Y.rows),
                                  sizeof(T) * static_cast<std::size_t>(Y.rows),
                                  static_cast<std::size_t>(Y.cols), cudaMemcpyHostToDevice,
                                  stream_),
                "cudaMemcpy2DAsync (host to device)");
}

void CudaBackend::synchronize() const {
    cuda::check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

void CudaBackend::check_interrupt() const {
    if (cuda::interrupt_checker != nullptr) cuda::interrupt_checker();
}

#define RANKWISE_INSTANTIATE_CONTEXT(T)                                              \
    template class DeviceMatrix<T>;                                                  \
    template std::vector<T> CudaBackend::to_host<T>(const T*, index_t) const;        \
    template void CudaBackend::from_host<T>(const T*, MatView<T>) const;

RANKWISE_INSTANTIATE_CONTEXT(float)
RANKWISE_INSTANTIATE_CONTEXT(double)
RANKWISE_INSTANTIATE_CONTEXT(int)
RANKWISE_INSTANTIATE_CONTEXT(char)
RANKWISE_INSTANTIATE_CONTEXT(unsigned char)
RANKWISE_INSTANTIATE_CONTEXT(std::int64_t)
#undef RANKWISE_INSTANTIATE_CONTEXT

}  // namespace rankwise
