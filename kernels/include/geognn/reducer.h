// The per-element arithmetic of every geognn reduction, shared by the CPU
// (kernels/cpu) and CUDA (kernels/cuda) kernels. Keeping ONE copy means the
// CPU tests exercise exactly the arithmetic the GPU runs.
#pragma once

#include <cstdint>

#include "geognn/host_device.h"

namespace geognn {

enum class ReduceKind : int { Sum = 0, Mean = 1, Max = 2, Min = 3 };

// Reducer<acc_t, R>: init / update / finalize for one output element.
// `arg` records the source row that won a max/min (-1 while none has), which
// the backward pass routes the gradient to.
template <typename acc_t, ReduceKind R>
struct Reducer {
  static constexpr bool kHasArg = (R == ReduceKind::Max || R == ReduceKind::Min);

  GEOGNN_HD static acc_t init() { return acc_t(0); }

  GEOGNN_HD static void update(acc_t& acc, int64_t& arg, acc_t val, int64_t row) {
    if constexpr (R == ReduceKind::Sum || R == ReduceKind::Mean) {
      acc += val;
    } else {
      // The first value always wins, so an all -inf (or +inf) group still
      // gets an arg. NaN is sticky, as in torch.amax/amin: once the
      // accumulator is NaN it stays NaN; a NaN value replaces a number.
      const bool acc_is_nan = acc != acc;
      const bool val_is_nan = val != val;
      const bool better = (R == ReduceKind::Max) ? (val > acc) : (val < acc);
      if (arg < 0 || (!acc_is_nan && (better || val_is_nan))) {
        acc = val;
        arg = row;
      }
    }
  }

  // Mean divides by the group size; an empty group gives 0 for every reduction.
  GEOGNN_HD static acc_t finalize(acc_t acc, int64_t count) {
    if (count == 0) return acc_t(0);
    if constexpr (R == ReduceKind::Mean) return acc / static_cast<acc_t>(count);
    return acc;
  }
};

// The continuous-filter product of SchNet: one edge contributes x_j * w_e.
template <typename acc_t>
struct FilterProduct {
  GEOGNN_HD static void accumulate(acc_t& acc, acc_t x, acc_t w) { acc += x * w; }
  GEOGNN_HD static acc_t product(acc_t a, acc_t b) { return a * b; }
};

// Gradient of a segment sum/mean with respect to one source element.
template <typename acc_t>
GEOGNN_HD acc_t broadcast_scale(bool mean, int64_t count) {
  return (mean && count > 0) ? acc_t(1) / static_cast<acc_t>(count) : acc_t(1);
}

}  // namespace geognn

// Expands BODY once per reduction with `kReduce` bound to the ReduceKind.
#define GEOGNN_DISPATCH_REDUCE(KIND, ...)                                  \
  [&] {                                                                    \
    switch (KIND) {                                                        \
      case ::geognn::ReduceKind::Sum: {                                    \
        constexpr auto kReduce = ::geognn::ReduceKind::Sum;                \
        return __VA_ARGS__();                                              \
      }                                                                    \
      case ::geognn::ReduceKind::Mean: {                                   \
        constexpr auto kReduce = ::geognn::ReduceKind::Mean;               \
        return __VA_ARGS__();                                              \
      }                                                                    \
      case ::geognn::ReduceKind::Max: {                                    \
        constexpr auto kReduce = ::geognn::ReduceKind::Max;                \
        return __VA_ARGS__();                                              \
      }                                                                    \
      default: {                                                           \
        constexpr auto kReduce = ::geognn::ReduceKind::Min;                \
        return __VA_ARGS__();                                              \
      }                                                                    \
    }                                                                      \
  }()
