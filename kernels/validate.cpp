// Index validation, host side: one read of per-tensor statistics for every
// check of a call, the errors they imply, and the memory of validated tensors
// (geognn/index_check.h explains the design). Shared by the CPU and CUDA
// backends; only the statistics pass differs (read_index_stats_cpu below,
// read_index_stats_cuda in kernels/cuda/validate.cu).
#include "geognn/validate.h"

#include <c10/core/TensorImpl.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <deque>
#include <mutex>
#include <sstream>
#include <string>

#include "geognn/index_check.h"
#include "geognn/ops.h"

namespace geognn {
namespace {

// ---- the memory of validated tensors -----------------------------------------------
// A tensor is identified by its storage (held weakly, so the address cannot be
// reused while an entry names it), the elements it covers, and the version
// counter PyTorch bumps on every in-place write to it or to any view of it.
struct Extent {
  int64_t offset = 0, numel = 0, stride = 1;  // in int64 elements of the storage
};

struct Known {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  const c10::StorageImpl* raw;
  uint32_t version;
  Extent extent;
  int64_t min, max;
  bool nondecreasing;
};

constexpr size_t kCapacity = 64;  // a batch needs a handful; old batches fall out
std::mutex known_mutex;
std::deque<Known> known;

// Only tensors with a storage, a version counter (not inference tensors) and a
// 1-D or contiguous layout can be remembered.
bool identify(const at::Tensor& t, Extent& extent, uint32_t& version) {
  if (!t.defined() || t.scalar_type() != at::kLong || !t.has_storage() || t.is_inference() || t.numel() == 0)
    return false;
  if (t.dim() == 1) {
    extent = {t.storage_offset(), t.numel(), t.stride(0)};
  } else if (t.is_contiguous()) {
    extent = {t.storage_offset(), t.numel(), 1};
  } else {
    return false;
  }
  if (extent.stride < 0) return false;
  version = t.unsafeGetTensorImpl()->version_counter().current_version();
  return true;
}

bool same_elements(const Extent& a, const Extent& b) {
  return a.offset == b.offset && a.numel == b.numel && (a.stride == b.stride || a.numel == 1);
}

// Every element of `inner` is an element of `outer` (a contiguous run).
bool within(const Extent& inner, const Extent& outer) {
  if (outer.stride != 1 && !same_elements(inner, outer)) return false;
  const int64_t last = inner.offset + (inner.numel - 1) * inner.stride;
  return inner.offset >= outer.offset && last < outer.offset + outer.numel;
}

bool satisfies(const Known& k, const Extent& e, const IndexRule& rule) {
  if (rule.kind == IndexRule::Kind::Range) return within(e, k.extent) && k.min >= rule.lo && k.max < rule.hi;
  // Offsets are a property of the whole vector, not of its parts.
  return same_elements(e, k.extent) && k.nondecreasing && k.min == 0 && k.max == rule.hi;
}

// ---- messages -------------------------------------------------------------------------
std::string position_of(const at::Tensor& t, int64_t flat) {
  if (t.dim() <= 1) return std::to_string(flat);
  std::vector<int64_t> at_dim(t.dim());
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    at_dim[d] = flat % t.size(d);
    flat /= t.size(d);
  }
  std::ostringstream out;
  out << "(";
  for (size_t d = 0; d < at_dim.size(); ++d) out << (d ? ", " : "") << at_dim[d];
  out << ")";
  return out.str();
}

// Reads one value back: only on the way to an error, where a host read costs nothing that matters.
int64_t value_at(const at::Tensor& t, int64_t flat) { return t.reshape({-1})[flat].item<int64_t>(); }

[[noreturn]] void raise_range(const char* op, const IndexCheck& c, int64_t position) {
  const int64_t v = value_at(c.tensor, position);
  TORCH_CHECK_INDEX(false, op, ": ", c.name, " value ", v, " at position ", position_of(c.tensor, position),
                    " is out of range for ", c.rule.hi, " ", c.unit, " (valid: ", c.rule.lo, "..", c.rule.hi - 1,
                    ")");
}

// The CPU kernels' order of complaints: the first entry, then the order, then the last entry.
void raise_offsets(const char* op, const IndexCheck& c, const index_stats::Stats& s) {
  const int64_t first = s.first_decrease == index_stats::kNone ? s.min : value_at(c.tensor, 0);
  TORCH_CHECK_INDEX(first == 0, op, ": ", c.name, "[0] must be 0, got ", first);
  if (s.first_decrease != index_stats::kNone) {
    const int64_t i = s.first_decrease;
    TORCH_CHECK_INDEX(false, op, ": ", c.name, " must be non-decreasing, but ", c.name, "[", i,
                      "] = ", value_at(c.tensor, i), " < ", c.name, "[", i - 1, "] = ", value_at(c.tensor, i - 1));
  }
  TORCH_CHECK_INDEX(s.max == c.rule.hi, op, ": ", c.name, "[-1] = ", s.max, " must equal the number of ", c.unit,
                    " (", c.rule.hi, ")");
}

bool any_cuda(const std::vector<IndexCheck>& checks, const std::vector<at::Tensor>& flags) {
  for (const auto& c : checks)
    if (c.tensor.is_cuda()) return true;
  for (const auto& f : flags)
    if (f.is_cuda()) return true;
  return false;
}

// The checks and flags of one call, with one host read. Returns the flags' values,
// or nullopt when nothing could be read (CUDA-graph capture).
std::optional<std::vector<bool>> validate(const char* op, const std::vector<IndexCheck>& checks,
                                          const std::vector<at::Tensor>& flags) {
  std::vector<const IndexCheck*> pending;
  for (const auto& c : checks) {
    TORCH_CHECK_VALUE(c.tensor.scalar_type() == at::kLong, op, ": ", c.name, " must be int64 here, got ",
                      c.tensor.scalar_type());
    if (c.rule.kind == IndexRule::Kind::Offsets) {
      TORCH_CHECK_VALUE(c.tensor.numel() >= 1, op, ": ", c.name,
                        " must hold at least one entry (num_segments + 1)");
    } else if (c.tensor.numel() == 0) {
      continue;  // nothing to look at
    }
    if (!known_valid(c.tensor, c.rule)) pending.push_back(&c);
  }
  if (pending.empty() && flags.empty()) return std::vector<bool>();
#ifdef GEOGNN_WITH_CUDA
  const bool on_cuda = any_cuda(checks, flags);
  if (on_cuda && cuda_stream_is_capturing()) return std::nullopt;
#else
  const bool on_cuda = any_cuda(checks, flags);
  TORCH_CHECK(!on_cuda, op, ": CUDA tensors given to a build of geognn without CUDA kernels");
#endif
  std::vector<at::Tensor> tensors;
  std::vector<IndexRule> rules;
  for (const IndexCheck* c : pending) {
    tensors.push_back(c->tensor.reshape({-1}).contiguous());
    rules.push_back(c->rule.kind == IndexRule::Kind::Range
                        ? c->rule
                        : IndexRule::range(std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()));
  }
#ifdef GEOGNN_WITH_CUDA
  const std::vector<uint64_t> raw =
      on_cuda ? read_index_stats_cuda(tensors, rules, flags) : read_index_stats_cpu(tensors, rules, flags);
#else
  const std::vector<uint64_t> raw = read_index_stats_cpu(tensors, rules, flags);
#endif
  for (size_t k = 0; k < pending.size(); ++k) {
    const IndexCheck& c = *pending[k];
    const index_stats::Stats s = index_stats::decode(raw.data() + k * index_stats::kSlots);
    if (c.rule.kind == IndexRule::Kind::Range) {
      if (s.first_outside != index_stats::kNone) raise_range(op, c, s.first_outside);
    } else {
      raise_offsets(op, c, s);
    }
    remember_index(c.tensor, s.min, s.max, s.first_decrease == index_stats::kNone);
  }
  std::vector<bool> values;
  for (size_t k = 0; k < flags.size(); ++k) values.push_back(raw[pending.size() * index_stats::kSlots + k] != 0);
  return values;
}

}  // namespace

bool known_valid(const at::Tensor& t, const IndexRule& rule) {
  Extent e;
  uint32_t version = 0;
  if (!identify(t, e, version)) return false;
  const c10::StorageImpl* raw = t.storage().unsafeGetStorageImpl();
  std::lock_guard<std::mutex> lock(known_mutex);
  for (const Known& k : known) {
    if (k.raw == raw && !k.storage.expired() && k.version == version && satisfies(k, e, rule)) return true;
  }
  return false;
}

void remember_index(const at::Tensor& t, int64_t min, int64_t max, bool nondecreasing) {
  Extent e;
  uint32_t version = 0;
  if (!identify(t, e, version)) return;
  std::lock_guard<std::mutex> lock(known_mutex);
  // Entries of freed storages are useless; drop them before counting.
  for (auto it = known.begin(); it != known.end();) it = it->storage.expired() ? known.erase(it) : std::next(it);
  if (known.size() >= kCapacity) known.pop_front();
  known.push_back({t.storage().getWeakStorageImpl(), t.storage().unsafeGetStorageImpl(), version, e, min, max,
                   nondecreasing});
}

bool check_indices(const char* op, const std::vector<IndexCheck>& checks) {
  return validate(op, checks, {}).has_value();
}

std::vector<uint64_t> read_index_stats_cpu(const std::vector<at::Tensor>& tensors, const std::vector<IndexRule>& rules,
                                           const std::vector<at::Tensor>& flags) {
  std::vector<uint64_t> out(tensors.size() * index_stats::kSlots + flags.size(), 0);
  for (size_t k = 0; k < tensors.size(); ++k) {
    const at::Tensor t = tensors[k].cpu();
    const int64_t* v = t.data_ptr<int64_t>();
    uint64_t* slots = out.data() + k * index_stats::kSlots;
    for (int64_t i = 0; i < t.numel(); ++i)
      index_stats::accumulate(slots, i, v[i], i > 0 ? v[i - 1] : 0, rules[k].lo, rules[k].hi);
  }
  for (size_t k = 0; k < flags.size(); ++k)
    out[tensors.size() * index_stats::kSlots + k] = flags[k].cpu().item<bool>() ? 1 : 0;
  return out;
}

namespace {

// geognn::check_indices: the public form, for callers that validate a batch's
// indices up front (one host read for all of them and for the flags).
c10::List<bool> check_indices_op(at::TensorList indices, c10::SymIntArrayRef bounds,
                                 const std::vector<std::string>& names, at::TensorList flags,
                                 const std::vector<std::string>& required) {
  TORCH_CHECK_VALUE(indices.size() == bounds.size() && indices.size() == names.size(),
                    "geognn.check_indices: needs one bound and one name per index tensor, got ", indices.size(),
                    " tensors, ", bounds.size(), " bounds and ", names.size(), " names");
  TORCH_CHECK_VALUE(flags.size() == required.size(),
                    "geognn.check_indices: needs one message (empty: not required) per flag, got ", flags.size(),
                    " flags and ", required.size(), " messages");
  std::vector<IndexCheck> checks;
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t bound = bounds[k].guard_int(__FILE__, __LINE__);
    checks.push_back({indices[k], names[k].c_str(), IndexRule::range(bound), "rows"});
  }
  std::vector<at::Tensor> flag_list;
  for (size_t k = 0; k < flags.size(); ++k) {
    TORCH_CHECK_VALUE(flags[k].numel() == 1 && flags[k].scalar_type() == at::kBool,
                      "geognn.check_indices: flags must be single booleans, got ", flags[k].scalar_type(),
                      " of shape ", flags[k].sizes());
    flag_list.push_back(flags[k]);
  }
  const auto values = validate("geognn", checks, flag_list);
  c10::List<bool> out;
  for (size_t k = 0; k < flags.size(); ++k) {
    // While a CUDA graph is captured nothing can be read: a required flag is taken as true.
    const bool value = values.has_value() ? (*values)[k] : true;
    TORCH_CHECK_VALUE(value || required[k].empty(), required[k]);
    out.push_back(value);
  }
  return out;
}

// geognn::is_checked: whether the ops would trust `index` for values in [0, bound) without a look.
bool is_checked_op(const at::Tensor& index, c10::SymInt bound) {
  return known_valid(index, IndexRule::range(bound.guard_int(__FILE__, __LINE__)));
}

}  // namespace

TORCH_LIBRARY_IMPL(geognn, CompositeExplicitAutograd, m) {
  m.impl("check_indices", &check_indices_op);
  m.impl("is_checked", &is_checked_op);
}

}  // namespace geognn
