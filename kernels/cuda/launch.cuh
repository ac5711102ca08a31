// Launch helpers shared by the CUDA kernels: one thread per output element,
// grid-stride loops so any size fits in a bounded grid, and 16-byte vectors for
// kernels that stream rows of features.
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

// V consecutive values moved as one 16-byte load or store (V = 16 / sizeof(T)).
template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

template <typename T>
constexpr int kVecWidth = 16 / static_cast<int>(sizeof(T));

// Rows of F values can be read as vectors when every row starts on a 16-byte
// boundary: F a multiple of the width and every base pointer aligned.
template <typename T>
bool rows_are_vectorizable(int64_t F, std::initializer_list<const void*> bases) {
  if (F % kVecWidth<T> != 0) return false;
  for (const void* p : bases)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// An index read from memory, usable only when it lies in [0, n): kernels skip
// (or zero) an entry whose index is bad instead of reading out of bounds, so
// they stay memory-safe even when no host check ran (CUDA-graph capture).
__device__ __forceinline__ bool in_range(int64_t v, int64_t n) { return v >= 0 && v < n; }

// A CSR row's entries, clamped to [0, total): malformed offsets cannot send a kernel out of bounds.
__device__ __forceinline__ void row_bounds(const int64_t* __restrict__ ptr, int64_t i, int64_t total, int64_t& begin,
                                           int64_t& end) {
  begin = min(max(ptr[i], int64_t(0)), total);
  end = min(max(ptr[i + 1], begin), total);
}

}  // namespace geognn
