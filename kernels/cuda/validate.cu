// Index statistics on the GPU (geognn/index_check.h): one launch for up to
// kMaxTensors tensors (blockIdx.y picks the tensor), each thread folds its
// elements with the same update as the CPU loop, a warp reduces with shuffles,
// one lane per warp publishes with 64-bit atomicMax. The flags ride along in the
// same buffer, so a whole check costs one device-to-host copy.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>

#include <algorithm>

#include "geognn/index_check.h"
#include "geognn/validate.h"
#include "launch.cuh"

namespace geognn {
namespace {

constexpr int kMaxTensors = 8;

struct StatsTask {
  const int64_t* data;
  int64_t numel, lo, hi;
};

struct StatsTasks {  // passed by value: no host-to-device copy of the descriptors
  StatsTask task[kMaxTensors];
};

__global__ void index_stats_kernel(StatsTasks tasks, unsigned long long* out) {
  const StatsTask t = tasks.task[blockIdx.y];
  uint64_t slots[index_stats::kSlots] = {0, 0, 0, 0};
  GEOGNN_GRID_STRIDE(i, t.numel) {
    index_stats::accumulate(slots, i, t.data[i], i > 0 ? t.data[i - 1] : 0, t.lo, t.hi);
  }
  unsigned long long* dst = out + blockIdx.y * index_stats::kSlots;
#pragma unroll
  for (int s = 0; s < index_stats::kSlots; ++s) {
    unsigned long long v = slots[s];
    for (int offset = 16; offset > 0; offset /= 2) v = max(v, __shfl_down_sync(0xffffffffu, v, offset));
    if ((threadIdx.x & 31) == 0 && v != 0) atomicMax(dst + s, v);
  }
}

}  // namespace

bool cuda_stream_is_capturing() {
  return c10::cuda::currentStreamCaptureStatusMayInitCtx() != c10::cuda::CaptureStatus::None;
}

std::vector<uint64_t> read_index_stats_cuda(const std::vector<at::Tensor>& tensors,
                                            const std::vector<IndexRule>& rules, const std::vector<at::Tensor>& flags) {
  const at::Device device = tensors.empty() ? flags.front().device() : tensors.front().device();
  const c10::cuda::CUDAGuard guard(device);
  const int64_t n = static_cast<int64_t>(tensors.size());
  const int64_t width = n * index_stats::kSlots + static_cast<int64_t>(flags.size());
  at::Tensor buffer = at::zeros({width}, at::TensorOptions().dtype(at::kLong).device(device));
  const auto stream = at::cuda::getCurrentCUDAStream();
  for (int64_t first = 0; first < n; first += kMaxTensors) {
    StatsTasks tasks{};
    const int64_t count = std::min<int64_t>(kMaxTensors, n - first);
    int64_t largest = 0;
    for (int64_t k = 0; k < count; ++k) {
      const at::Tensor& t = tensors[first + k];
      TORCH_CHECK_VALUE(t.device() == device, "geognn: index tensors on ", t.device(), " and ", device);
      tasks.task[k] = {t.data_ptr<int64_t>(), t.numel(), rules[first + k].lo, rules[first + k].hi};
      largest = std::max(largest, t.numel());
    }
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>(blocks_for(largest), 1024)), static_cast<unsigned>(count));
    index_stats_kernel<<<grid, kThreads, 0, stream>>>(
        tasks, reinterpret_cast<unsigned long long*>(buffer.data_ptr<int64_t>() + first * index_stats::kSlots));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  if (!flags.empty()) {
    std::vector<at::Tensor> values;
    for (const auto& f : flags) values.push_back(f.reshape({1}).to(device, at::kLong));
    buffer.narrow(0, n * index_stats::kSlots, static_cast<int64_t>(flags.size())).copy_(at::cat(values));
  }
  const at::Tensor host = buffer.cpu();  // the one host read of the check
  const int64_t* h = host.data_ptr<int64_t>();
  std::vector<uint64_t> out(static_cast<size_t>(width));
  for (int64_t k = 0; k < width; ++k) out[k] = static_cast<uint64_t>(h[k]);
  return out;
}

}  // namespace geognn
