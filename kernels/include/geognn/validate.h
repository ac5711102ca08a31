// Host side of index validation (kernels/validate.cpp): the rules, the one-read
// check every op entry calls, and the memory of tensors already validated.
// The design and the encoding of the statistics are in geognn/index_check.h.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace geognn {

// A rule an integer tensor must satisfy.
struct IndexRule {
  enum class Kind { Range, Offsets };
  Kind kind;
  int64_t lo, hi;  // Range: every value in [lo, hi). Offsets: CSR offsets over `hi` rows (0 first, never
                   // decreasing, hi last).
  static IndexRule range(int64_t hi, int64_t lo = 0) { return {Kind::Range, lo, hi}; }
  static IndexRule offsets(int64_t rows) { return {Kind::Offsets, 0, rows}; }
};

struct IndexCheck {
  at::Tensor tensor;  // int64, any shape
  const char* name;   // as the caller knows it: "index", "src", "dst_ptr", "edge_index"
  IndexRule rule;
  const char* unit;   // what the bound counts, for messages: "rows", "source nodes", "edges"
};

// Validates every check with at most one host read (none when every tensor is
// remembered as valid) and raises IndexError naming the op, the tensor, the
// value and its position, as the CPU kernels do. Returns false, without looking,
// while the current CUDA stream is captured into a CUDA graph (a host read is
// impossible there; the kernels' own bounds checks keep such a run memory-safe),
// true when every tensor is known to be valid.
bool check_indices(const char* op, const std::vector<IndexCheck>& checks);

// Remembers a tensor whose values an op produced and therefore knows (csr's
// permutation and offsets, a max reduction's winners) as valid, unless it is
// modified in place afterwards.
void remember_index(const at::Tensor& t, int64_t min, int64_t max, bool nondecreasing);

// Whether `t` is remembered as satisfying `rule` (exposed for tests through geognn::is_checked).
bool known_valid(const at::Tensor& t, const IndexRule& rule);

// Per-backend statistics (index_check.h) of int64 `tensors`, followed by the
// values of the 0-d `flags`, read to the host in one transfer.
std::vector<uint64_t> read_index_stats_cpu(const std::vector<at::Tensor>& tensors, const std::vector<IndexRule>& rules,
                                           const std::vector<at::Tensor>& flags);
#ifdef GEOGNN_WITH_CUDA
std::vector<uint64_t> read_index_stats_cuda(const std::vector<at::Tensor>& tensors,
                                            const std::vector<IndexRule>& rules, const std::vector<at::Tensor>& flags);
bool cuda_stream_is_capturing();
#endif

}  // namespace geognn
