// Host side of index validation (kernels/validate.cpp): the rules, the one-read
// check every op entry calls, and the memory of tensors geognn made and validated.
// The design, what it relies on and what it cannot see are in geognn/index_check.h.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
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
  bool value_error = false;  // raise ValueError rather than IndexError (a bad input value, not a bad index)
};

// A boolean the device computed (0-d or one-element bool tensor), read back in the
// same transfer as the checks; when it is false, ValueError(message).
struct RequiredFlag {
  at::Tensor flag;
  std::string message;
};

// Validates every check that is not already known to hold (known_valid) and every
// flag, with at most one host read (none when every tensor is known and there is
// no flag), and raises IndexError naming the op, the tensor, the value and its
// position, as the CPU kernels do, or ValueError for a false flag. Returns false,
// without looking, while the current CUDA stream is captured into a CUDA graph (a
// host read is impossible there; the kernels' own bounds checks keep such a run
// memory-safe), true when every tensor has been validated. Nothing is remembered:
// a caller's tensors are checked again at every call (only tensors geognn makes
// are remembered, see remember_index).
bool check_indices(const char* op, const std::vector<IndexCheck>& checks, const std::vector<RequiredFlag>& flags = {});

// Remembers a tensor that geognn itself allocated and knows to be valid (csr's
// permutation and offsets, a max reduction's winners, the copies check_indices
// returns), until it, or a view of it, is modified in place.
void remember_index(const at::Tensor& t, int64_t min, int64_t max, bool nondecreasing);

// Whether `t` is remembered as satisfying `rule` (exposed for tests through geognn::is_checked).
bool known_valid(const at::Tensor& t, const IndexRule& rule);

// Remembers that (perm, indptr), made by geognn, are the stable CSR layout of `index`
// (a remembered tensor): message_sum can then trust a graph without checking that
// its layouts agree with its edge list.
void remember_csr(const at::Tensor& index, const at::Tensor& perm, const at::Tensor& indptr);

// Whether (perm, indptr) are remembered as the CSR layout of `index` (all three unmodified since).
bool known_csr(const at::Tensor& index, const at::Tensor& perm, const at::Tensor& indptr);

// Per-backend statistics (index_check.h) of int64 `tensors`, followed by the
// values of the one-element bool `flags`, read to the host in one transfer.
std::vector<uint64_t> read_index_stats_cpu(const std::vector<at::Tensor>& tensors, const std::vector<IndexRule>& rules,
                                           const std::vector<at::Tensor>& flags);
#ifdef GEOGNN_WITH_CUDA
std::vector<uint64_t> read_index_stats_cuda(const std::vector<at::Tensor>& tensors,
                                            const std::vector<IndexRule>& rules, const std::vector<at::Tensor>& flags);
bool cuda_stream_is_capturing();
#endif

}  // namespace geognn
