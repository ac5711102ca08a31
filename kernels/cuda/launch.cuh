// Launch helpers shared by the CUDA kernels: one thread per output element,
// grid-stride loops so any size fits in a bounded grid.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstdint>

namespace geognn {

constexpr int kThreads = 256;

inline int64_t blocks_for(int64_t total) {
  return std::max<int64_t>(1, std::min<int64_t>((total + kThreads - 1) / kThreads, int64_t(1) << 20));
}

#define GEOGNN_GRID_STRIDE(t, total)                                                      \
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < (total); \
       t += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace geognn
