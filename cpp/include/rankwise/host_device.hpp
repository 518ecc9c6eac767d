// RANKWISE_HD marks a function that CUDA kernels call as well as host code (philox.hpp's
// generator, dia_fill.hpp's row conversion): __host__ __device__ under nvcc, nothing else.
#pragma once

#if defined(__CUDACC__)
#define RANKWISE_HD __host__ __device__
#else
#define RANKWISE_HD
#endif
