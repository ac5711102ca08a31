// Grain-size rule for at::parallel_for over output rows: give each task
// roughly kGrainElements of work so that small inputs stay on one thread.
#pragma once

#include <algorithm>
#include <cstdint>

namespace geognn {

constexpr int64_t kGrainElements = 1 << 15;

inline int64_t row_grain(int64_t num_rows, int64_t total_work) {
  const int64_t per_row = std::max<int64_t>(1, total_work / std::max<int64_t>(1, num_rows));
  return std::max<int64_t>(1, kGrainElements / per_row);
}

}  // namespace geognn
