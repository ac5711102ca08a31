// Index validation, host side: one read of per-tensor statistics for every
// check of a call, the errors they imply, and the memory of tensors geognn made
// and validated (geognn/index_check.h explains the design and what it relies on).
// Shared by the CPU and CUDA backends; only the statistics pass differs
// (read_index_stats_cpu below, read_index_stats_cuda in kernels/cuda/validate.cu).
#include "geognn/validate.h"

#include <c10/core/TensorImpl.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <sstream>
#include <string>

#include "geognn/index_check.h"
#include "geognn/ops.h"

namespace geognn {
namespace {

// ---- the memory of validated tensors -----------------------------------------------
struct Extent {
  int64_t offset = 0, numel = 0, stride = 1;  // in int64 elements of the storage
};

// A tensor geognn made: its storage (held weakly, so the address cannot be reused
// while an entry names it), the elements it covers, and its own version counter
// (shared by all its views; disabled for inference tensors) with the value it had.
struct Known {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  const c10::StorageImpl* raw;
  c10::VariableVersion counter;
  uint32_t version;
  Extent extent;
  int64_t min, max;
  bool nondecreasing;

  bool current() const {
    return !storage.expired() && (!counter.enabled() || counter.current_version() == version);
  }
};

// (perm, indptr) made by csr from `index`, all three remembered.
struct KnownCsr {
  c10::weak_intrusive_ptr<c10::StorageImpl> index, perm, indptr;
  const c10::StorageImpl *index_raw, *perm_raw, *indptr_raw;
  Extent index_extent, perm_extent, indptr_extent;
};

constexpr size_t kCapacity = 64;  // a batch needs a handful; old batches fall out
std::atomic<int64_t> host_reads{0};  // validations that read statistics back (geognn::validation_reads)
std::mutex known_mutex;
std::deque<Known> known;
std::deque<KnownCsr> known_csrs;

// Only int64 tensors with a storage and a 1-D or contiguous layout can be remembered.
bool identify(const at::Tensor& t, Extent& extent) {
  if (!t.defined() || t.scalar_type() != at::kLong || !t.has_storage() || t.numel() == 0) return false;
  if (t.dim() == 1) {
    extent = {t.storage_offset(), t.numel(), t.stride(0)};
  } else if (t.is_contiguous()) {
    extent = {t.storage_offset(), t.numel(), 1};
  } else {
    return false;
  }
  return extent.stride >= 0;
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

// The current entry covering `t` under `rule` (caller holds the lock), or nullptr.
const Known* find_known(const at::Tensor& t, const IndexRule& rule) {
  Extent e;
  if (!identify(t, e)) return nullptr;
  const c10::StorageImpl* raw = t.storage().unsafeGetStorageImpl();
  for (const Known& k : known)
    if (k.raw == raw && k.current() && satisfies(k, e, rule)) return &k;
  return nullptr;
}

// The current entry holding exactly the elements of `t` (caller holds the lock), or nullptr.
const Known* find_exact(const at::Tensor& t) {
  Extent e;
  if (!identify(t, e)) return nullptr;
  const c10::StorageImpl* raw = t.storage().unsafeGetStorageImpl();
  for (const Known& k : known)
    if (k.raw == raw && k.current() && same_elements(e, k.extent)) return &k;
  return nullptr;
}

template <typename T>
void drop_expired(std::deque<T>& entries) {
  for (auto it = entries.begin(); it != entries.end();) {
    bool expired;
    if constexpr (std::is_same_v<T, Known>) {
      expired = !it->current();
    } else {
      expired = it->index.expired() || it->perm.expired() || it->indptr.expired();
    }
    it = expired ? entries.erase(it) : std::next(it);
  }
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
  std::ostringstream msg;
  msg << op << ": " << c.name << " value " << v << " at position " << position_of(c.tensor, position)
      << " is out of range for ";
  if (c.rule.lo == 0) {
    msg << c.rule.hi << " " << c.unit << " (valid: 0.." << c.rule.hi - 1 << ")";
  } else {
    msg << c.unit << " (valid: " << c.rule.lo << ".." << c.rule.hi - 1 << ")";
  }
  if (c.value_error) C10_THROW_ERROR(ValueError, msg.str());
  C10_THROW_ERROR(IndexError, msg.str());
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

// What one validation learnt: the statistics of every check (read, or those of the
// remembered tensor that covers it; none for an empty tensor) and the flags' values.
struct Outcome {
  std::vector<std::optional<index_stats::Stats>> stats;
  std::vector<bool> flags;
};

// The checks and flags of one call, with at most one host read; raises for the
// first bad index. With `trust_known`, a check that a remembered tensor already
// satisfies is not read. Returns nullopt when nothing could be read (CUDA-graph capture).
std::optional<Outcome> validate(const char* op, const std::vector<IndexCheck>& checks,
                                const std::vector<at::Tensor>& flags, bool trust_known) {
  Outcome outcome;
  outcome.stats.resize(checks.size());
  std::vector<size_t> pending;
  for (size_t k = 0; k < checks.size(); ++k) {
    const IndexCheck& c = checks[k];
    TORCH_CHECK_VALUE(c.tensor.scalar_type() == at::kLong, op, ": ", c.name, " must be int64 here, got ",
                      c.tensor.scalar_type());
    if (c.rule.kind == IndexRule::Kind::Offsets) {
      TORCH_CHECK_VALUE(c.tensor.numel() >= 1, op, ": ", c.name,
                        " must hold at least one entry (num_segments + 1)");
    } else if (c.tensor.numel() == 0) {
      continue;  // nothing to look at
    }
    if (trust_known) {
      std::lock_guard<std::mutex> lock(known_mutex);
      if (const Known* hit = find_known(c.tensor, c.rule)) {
        outcome.stats[k] = index_stats::Stats{hit->min, hit->max, index_stats::kNone,
                                              hit->nondecreasing ? index_stats::kNone : 0};
        continue;
      }
    }
    pending.push_back(k);
  }
  if (pending.empty() && flags.empty()) return outcome;
  const bool on_cuda = any_cuda(checks, flags);
#ifdef GEOGNN_WITH_CUDA
  if (on_cuda && cuda_stream_is_capturing()) return std::nullopt;
#else
  TORCH_CHECK(!on_cuda, op, ": CUDA tensors given to a build of geognn without CUDA kernels");
#endif
  std::vector<at::Tensor> tensors;
  std::vector<IndexRule> rules;
  for (size_t k : pending) {
    const IndexCheck& c = checks[k];
    tensors.push_back(c.tensor.reshape({-1}).contiguous());
    rules.push_back(c.rule.kind == IndexRule::Kind::Range
                        ? c.rule
                        : IndexRule::range(std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()));
  }
  ++host_reads;
#ifdef GEOGNN_WITH_CUDA
  const std::vector<uint64_t> raw =
      on_cuda ? read_index_stats_cuda(tensors, rules, flags) : read_index_stats_cpu(tensors, rules, flags);
#else
  const std::vector<uint64_t> raw = read_index_stats_cpu(tensors, rules, flags);
#endif
  for (size_t p = 0; p < pending.size(); ++p) {
    const IndexCheck& c = checks[pending[p]];
    const index_stats::Stats s = index_stats::decode(raw.data() + p * index_stats::kSlots);
    if (c.rule.kind == IndexRule::Kind::Range) {
      if (s.first_outside != index_stats::kNone) raise_range(op, c, s.first_outside);
    } else {
      raise_offsets(op, c, s);
    }
    outcome.stats[pending[p]] = s;
  }
  for (size_t k = 0; k < flags.size(); ++k) outcome.flags.push_back(raw[pending.size() * index_stats::kSlots + k] != 0);
  return outcome;
}

}  // namespace

bool known_valid(const at::Tensor& t, const IndexRule& rule) {
  std::lock_guard<std::mutex> lock(known_mutex);
  return find_known(t, rule) != nullptr;
}

void remember_index(const at::Tensor& t, int64_t min, int64_t max, bool nondecreasing) {
  Extent e;
  if (!identify(t, e)) return;
  std::lock_guard<std::mutex> lock(known_mutex);
  drop_expired(known);  // entries of freed or modified tensors are useless; drop them before counting
  if (known.size() >= kCapacity) known.pop_front();
  const c10::VariableVersion& counter = t.unsafeGetTensorImpl()->version_counter();
  known.push_back({t.storage().getWeakStorageImpl(), t.storage().unsafeGetStorageImpl(), counter,
                   counter.enabled() ? counter.current_version() : 0u, e, min, max, nondecreasing});
}

void remember_csr(const at::Tensor& index, const at::Tensor& perm, const at::Tensor& indptr) {
  Extent ei, ep, eo;
  if (!identify(index, ei) || !identify(perm, ep) || !identify(indptr, eo)) return;
  std::lock_guard<std::mutex> lock(known_mutex);
  if (!find_exact(index) || !find_exact(perm) || !find_exact(indptr)) return;
  drop_expired(known_csrs);
  if (known_csrs.size() >= kCapacity / 2) known_csrs.pop_front();
  known_csrs.push_back({index.storage().getWeakStorageImpl(), perm.storage().getWeakStorageImpl(),
                        indptr.storage().getWeakStorageImpl(), index.storage().unsafeGetStorageImpl(),
                        perm.storage().unsafeGetStorageImpl(), indptr.storage().unsafeGetStorageImpl(), ei, ep,
                        eo});
}

bool known_csr(const at::Tensor& index, const at::Tensor& perm, const at::Tensor& indptr) {
  Extent ei, ep, eo;
  if (!identify(index, ei) || !identify(perm, ep) || !identify(indptr, eo)) return false;
  std::lock_guard<std::mutex> lock(known_mutex);
  // All three unmodified since they were remembered ...
  if (!find_exact(index) || !find_exact(perm) || !find_exact(indptr)) return false;
  // ... and remembered together.
  const auto* ri = index.storage().unsafeGetStorageImpl();
  const auto* rp = perm.storage().unsafeGetStorageImpl();
  const auto* ro = indptr.storage().unsafeGetStorageImpl();
  for (const KnownCsr& c : known_csrs) {
    if (c.index_raw == ri && c.perm_raw == rp && c.indptr_raw == ro && !c.index.expired() && !c.perm.expired() &&
        !c.indptr.expired() && same_elements(c.index_extent, ei) && same_elements(c.perm_extent, ep) &&
        same_elements(c.indptr_extent, eo))
      return true;
  }
  return false;
}

bool check_indices(const char* op, const std::vector<IndexCheck>& checks, const std::vector<RequiredFlag>& flags) {
  std::vector<at::Tensor> values;
  for (const auto& f : flags) values.push_back(f.flag);
  const auto outcome = validate(op, checks, values, /*trust_known=*/true);
  if (!outcome.has_value()) return false;
  for (size_t k = 0; k < flags.size(); ++k) TORCH_CHECK_VALUE(outcome->flags[k], op, ": ", flags[k].message);
  return true;
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
    out[tensors.size() * index_stats::kSlots + k] = flags[k].cpu().reshape({-1})[0].item<bool>() ? 1 : 0;
  return out;
}

namespace {

// geognn::check_indices: the public form, for callers that validate a batch's indices up
// front. Returns int64 contiguous copies, which geognn owns and remembers as valid (the ops
// that read them later cost no host read), and the flags' values, all with one host read.
// With recheck (the default) every tensor is read, even one geognn remembers.
std::tuple<std::vector<at::Tensor>, c10::List<bool>> check_indices_op(
    at::TensorList indices, c10::SymIntArrayRef lower, c10::SymIntArrayRef upper,
    const std::vector<std::string>& names, const std::vector<std::string>& units, const c10::List<bool>& value_errors,
    at::TensorList flags, const std::vector<std::string>& required, bool recheck) {
  const size_t n = indices.size();
  TORCH_CHECK_VALUE(lower.size() == n && upper.size() == n && names.size() == n && units.size() == n &&
                        value_errors.size() == n,
                    "geognn.check_indices: needs a lower bound, an upper bound, a name, a unit and an error kind per "
                    "index tensor, got ", n, " tensors, ", lower.size(), " lower and ", upper.size(),
                    " upper bounds, ", names.size(), " names, ", units.size(), " units and ", value_errors.size(),
                    " error kinds");
  TORCH_CHECK_VALUE(flags.size() == required.size(),
                    "geognn.check_indices: needs one message (empty: not required) per flag, got ", flags.size(),
                    " flags and ", required.size(), " messages");
  std::vector<at::Tensor> copies;
  std::vector<IndexCheck> checks;
  copies.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    const at::Tensor& t = indices[k];
    TORCH_CHECK_VALUE(t.scalar_type() == at::kLong || t.scalar_type() == at::kInt, "geognn.check_indices: ",
                      names[k], " must be an int32 or int64 tensor, got ", t.scalar_type());
    // Validating the copy (not the caller's tensor) leaves no window between the check and the use.
    copies.push_back(t.to(t.options().dtype(at::kLong), /*non_blocking=*/false, /*copy=*/true,
                          at::MemoryFormat::Contiguous));
  }
  for (size_t k = 0; k < n; ++k) {
    const int64_t lo = lower[k].guard_int(__FILE__, __LINE__), hi = upper[k].guard_int(__FILE__, __LINE__);
    // Without recheck the caller's int64 tensor is what may be remembered (a copy geognn made earlier, or a
    // view of one); an int32 one never is, and its copy is read instead.
    const bool trusted_input = !recheck && indices[k].scalar_type() == at::kLong;
    checks.push_back({trusted_input ? indices[k] : copies[k], names[k].c_str(), IndexRule::range(hi, lo),
                      units[k].c_str(), value_errors.get(k)});
  }
  std::vector<at::Tensor> flag_list;
  for (size_t k = 0; k < flags.size(); ++k) {
    TORCH_CHECK_VALUE(flags[k].numel() == 1 && flags[k].scalar_type() == at::kBool,
                      "geognn.check_indices: flags must be single booleans, got ", flags[k].scalar_type(),
                      " of shape ", flags[k].sizes());
    flag_list.push_back(flags[k]);
  }
  const auto outcome = validate("geognn", checks, flag_list, /*trust_known=*/!recheck);
  c10::List<bool> values;
  for (size_t k = 0; k < flags.size(); ++k) {
    // While a CUDA graph is captured nothing can be read: a required flag is taken as true.
    const bool value = outcome.has_value() ? outcome->flags[k] : true;
    TORCH_CHECK_VALUE(value || required[k].empty(), required[k]);
    values.push_back(value);
  }
  if (outcome.has_value()) {
    for (size_t k = 0; k < n; ++k) {
      const auto& s = outcome->stats[k];
      if (s.has_value()) remember_index(copies[k], s->min, s->max, s->first_decrease == index_stats::kNone);
    }
  }
  return {copies, values};
}

// geognn::is_checked: whether the ops would trust `index` for values in [0, bound) without a look.
bool is_checked_op(const at::Tensor& index, c10::SymInt bound) {
  return known_valid(index, IndexRule::range(bound.guard_int(__FILE__, __LINE__)));
}

}  // namespace

// geognn::validation_reads: how many validations so far read statistics back from their device
// (on CUDA, each is a host synchronisation); tests count a step's reads with it on any device.
int64_t validation_reads_op() { return host_reads.load(); }

TORCH_LIBRARY_FRAGMENT(geognn, m) { m.def("validation_reads() -> int", &validation_reads_op); }

TORCH_LIBRARY_IMPL(geognn, CompositeExplicitAutograd, m) {
  m.impl("check_indices", &check_indices_op);
  m.impl("is_checked", &is_checked_op);
}

}  // namespace geognn
