// Index validation shared by every op and both backends.
//
// What a CUDA op must not do with a bad index: read or write out of bounds,
// crash, or raise a device-side assert (which poisons the CUDA context). What it
// must not do with a good one: ask the device a question on every call (each
// host read waits for the whole stream). So validation is split in four:
//
//   1. Kernels bounds-check every index before they dereference it and skip a
//      bad one (memory-safe whatever they are given, CUDA-graph replays included).
//   2. check_indices() computes, in one device pass per tensor and ONE host read
//      for all of them, the statistics below and raises IndexError naming the
//      tensor, the value and its position.
//   3. Trust is given only to tensors geognn allocated itself: the outputs of csr
//      and of max/min reductions, and the int64 copies the geognn::check_indices
//      op returns. A caller's own tensors are never remembered, so each op checks
//      them again, whatever happened to them in between. A model step validates
//      its batch once with geognn::check_indices (one read) and builds its graph
//      from the copies it returns; every op of every layer, forward and backward,
//      then reads remembered tensors only and costs no host read.
//   4. A remembered tensor is recognised by its storage (held weakly, so that its
//      address cannot be reused while it is remembered) and the elements it
//      covers, and stays trusted while the version counter of the tensor geognn
//      made is unchanged. Every ordinary in-place write to that tensor or to any
//      of its views bumps that counter. Aliases with counters of their own
//      (torch.compile's reinterpreted views of a buffer, `.data`) are recognised
//      by the storage, so reading through them keeps the trust.
//
// What this relies on, and cannot see: a write to a tensor geognn made that
// bypasses its version counter (through `.data`, a NumPy array or DLPack capsule
// sharing its memory, a raw pointer, or an in-place update that torch.compile's
// generated code performs on its buffer), and in-place writes to tensors made
// under torch.inference_mode() (they have no counter). Such a tensor stays trusted
// while it lives. The geognn::check_indices op itself never trusts a remembered
// tensor (it always reads), so re-validating is always possible, and the kernels'
// bounds checks (1) keep even a wrongly trusted call memory-safe.
//
// The statistics are encoded so that a zero-filled buffer means "nothing seen"
// and every slot is reduced with an unsigned max, the one reduction CUDA has as
// a 64-bit atomic (atomicMax on unsigned long long).
#pragma once

#include <cstdint>

#include "geognn/host_device.h"

namespace geognn {
namespace index_stats {

// Slots per tensor: its minimum, its maximum, the first position whose value is
// outside the checked range, the first position whose value is below its predecessor.
enum Slot : int { kMin = 0, kMax = 1, kFirstOutside = 2, kFirstDecrease = 3, kSlots = 4 };

// int64 -> uint64 preserving order, so that an unsigned max is a signed max.
GEOGNN_HD uint64_t order_key(int64_t v) { return static_cast<uint64_t>(v) ^ (uint64_t(1) << 63); }
GEOGNN_HD int64_t from_order_key(uint64_t u) { return static_cast<int64_t>(u ^ (uint64_t(1) << 63)); }

GEOGNN_HD uint64_t encode_max(int64_t v) { return order_key(v); }
GEOGNN_HD uint64_t encode_min(int64_t v) { return ~order_key(v); }
// The smallest position wins a max of its complement; 0 (the fill) decodes to "none".
GEOGNN_HD uint64_t encode_position(int64_t pos) { return ~static_cast<uint64_t>(pos); }

constexpr int64_t kNone = -1;

// Decoded statistics of one tensor of `numel` > 0 elements.
struct Stats {
  int64_t min, max, first_outside, first_decrease;  // positions are kNone when there is none
};

inline Stats decode(const uint64_t* slots) {
  auto position = [](uint64_t u) { return u == 0 ? kNone : static_cast<int64_t>(~u); };
  return {from_order_key(~slots[kMin]), from_order_key(slots[kMax]), position(slots[kFirstOutside]),
          position(slots[kFirstDecrease])};
}

// What one element contributes: the same update on the CPU (a loop) and the GPU
// (per thread, then a warp reduction and atomics). `prev` is ignored at i == 0.
GEOGNN_HD void accumulate(uint64_t* slots, int64_t i, int64_t v, int64_t prev, int64_t lo, int64_t hi) {
  const uint64_t mx = encode_max(v), mn = encode_min(v);
  if (mx > slots[kMax]) slots[kMax] = mx;
  if (mn > slots[kMin]) slots[kMin] = mn;
  if ((v < lo || v >= hi) && encode_position(i) > slots[kFirstOutside]) slots[kFirstOutside] = encode_position(i);
  if (i > 0 && v < prev && encode_position(i) > slots[kFirstDecrease]) slots[kFirstDecrease] = encode_position(i);
}

}  // namespace index_stats
}  // namespace geognn
