// GEOGNN_HD marks a function that both the C++ (host) and the CUDA (device)
// kernels call, so that one definition of the arithmetic serves both.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define GEOGNN_HD __host__ __device__ __forceinline__
#else
#define GEOGNN_HD inline
#endif
