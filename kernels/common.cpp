// Argument checks and small helpers used by every backend.
#include "geognn/ops.h"

#include <c10/util/Exception.h>

#include "geognn/validate.h"

namespace geognn {

ReduceKind parse_reduce(const std::string& reduce) {
  if (reduce == "sum" || reduce == "add") return ReduceKind::Sum;
  if (reduce == "mean") return ReduceKind::Mean;
  if (reduce == "max" || reduce == "amax") return ReduceKind::Max;
  if (reduce == "min" || reduce == "amin") return ReduceKind::Min;
  TORCH_CHECK_VALUE(false, "geognn: reduce must be one of 'sum', 'mean', 'max', 'min', got '", reduce, "'");
  return ReduceKind::Sum;  // unreachable
}

void check_index_vector(const Tensor& t, const char* what) {
  TORCH_CHECK_VALUE(t.scalar_type() == at::kLong, "geognn: ", what, " must be int64 here, got ",
                    t.scalar_type());
  TORCH_CHECK_VALUE(t.dim() == 1, "geognn: ", what, " must be 1-D, got shape ", t.sizes());
}

void check_values(const Tensor& t, const char* what) {
  TORCH_CHECK_VALUE(at::isFloatingType(t.scalar_type()), "geognn: ", what,
                    " must be a floating-point tensor, got ", t.scalar_type());
  TORCH_CHECK_VALUE(t.dim() == 2, "geognn: ", what, " must be 2-D (rows, features), got shape ", t.sizes());
}

void check_same_device(const Tensor& a, const Tensor& b, const char* what_a, const char* what_b) {
  TORCH_CHECK_VALUE(a.device() == b.device(), "geognn: ", what_a, " is on ", a.device(), " but ", what_b,
                    " is on ", b.device());
}

void check_graph(const Tensor& src, const Tensor& dst, const Tensor& dst_perm, const Tensor& dst_ptr,
                 const Tensor& src_perm, const Tensor& src_ptr, int64_t E) {
  check_index_vector(src, "src");
  check_index_vector(dst, "dst");
  check_index_vector(dst_perm, "dst_perm");
  check_index_vector(src_perm, "src_perm");
  check_index_vector(dst_ptr, "dst_ptr");
  check_index_vector(src_ptr, "src_ptr");
  TORCH_CHECK_VALUE(src.numel() == E && dst.numel() == E && dst_perm.numel() == E && src_perm.numel() == E,
                    "geognn: src, dst and both permutations must have one entry per edge (", E, "), got ",
                    src.numel(), ", ", dst.numel(), ", ", dst_perm.numel(), ", ", src_perm.numel());
  TORCH_CHECK_VALUE(dst_ptr.numel() >= 1 && src_ptr.numel() >= 1, "geognn: CSR offsets must not be empty");
}

void check_message_args(const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& dst,
                        const Tensor& dst_perm, const Tensor& dst_ptr, const Tensor& src_perm, const Tensor& src_ptr) {
  check_values(x, "x");
  check_values(w, "w");
  const int64_t F = w.size(1), Nx = x.size(0);
  check_graph(src, dst, dst_perm, dst_ptr, src_perm, src_ptr, w.size(0));
  TORCH_CHECK_VALUE(x.size(1) == F, "geognn: x has ", x.size(1), " features but w has ", F);
  TORCH_CHECK_VALUE(x.scalar_type() == w.scalar_type(), "geognn: x is ", x.scalar_type(), " but w is ",
                    w.scalar_type());
  TORCH_CHECK_VALUE(src_ptr.numel() == Nx + 1, "geognn: src_ptr has ", src_ptr.numel(), " entries for ", Nx,
                    " source nodes");
}

void check_edge_product_args(const Tensor& a, const Tensor& b, const Tensor& ia, const Tensor& ib,
                             const Tensor& ia_perm, const Tensor& ia_ptr, const Tensor& ib_perm,
                             const Tensor& ib_ptr) {
  check_values(a, "a");
  check_values(b, "b");
  check_graph(ib, ia, ia_perm, ia_ptr, ib_perm, ib_ptr, ia.numel());
  TORCH_CHECK_VALUE(b.size(1) == a.size(1), "geognn: a has ", a.size(1), " features but b has ", b.size(1));
  TORCH_CHECK_VALUE(a.scalar_type() == b.scalar_type(), "geognn: a is ", a.scalar_type(), " but b is ",
                    b.scalar_type());
}

void check_perm(const std::optional<Tensor>& perm, int64_t rows) {
  if (!perm.has_value()) return;
  check_index_vector(*perm, "perm");
  TORCH_CHECK_VALUE(perm->numel() == rows, "geognn: perm has ", perm->numel(), " entries for ", rows,
                    " source rows");
}

Tensor csr_layout_matches(const Tensor& index, const Tensor& perm, const Tensor& indptr) {
  const int64_t E = perm.numel();
  if (E == 0) return at::ones({}, index.options().dtype(at::kBool));
  // The row of every position k of perm, from the offsets; perm is read through clamped
  // positions, so malformed input gives a false answer, never a fault.
  const Tensor rows = at::searchsorted(indptr, at::arange(E, perm.options()), /*out_int32=*/false, /*right=*/true) - 1;
  Tensor ok = index.index_select(0, perm.clamp(0, E - 1)).eq(rows).all();
  if (E > 1) {
    const Tensor new_row = rows.narrow(0, 1, E - 1).ne(rows.narrow(0, 0, E - 1));
    const Tensor increasing = perm.narrow(0, 1, E - 1).gt(perm.narrow(0, 0, E - 1));
    ok = ok.logical_and(new_row.logical_or(increasing).all());
  }
  return ok;
}

bool check_message_graph(const char* op, const Tensor& src, int64_t num_src, const Tensor& dst, const Tensor& perm,
                         const Tensor& indptr, bool check_src) {
  const int64_t E = perm.numel(), N = num_segments(indptr);
  std::vector<RequiredFlag> flags;
  if (!known_csr(dst, perm, indptr)) {
    flags.push_back({csr_layout_matches(dst, perm, indptr),
                     "dst_perm and dst_ptr are not the CSR layout of dst (its edges grouped by destination, in edge "
                     "order within each destination); build them with geognn.ops.csr(dst, num_nodes) or "
                     "geognn.ops.CSRGraph.from_edge_index"});
  } else if (!check_src) {
    return true;  // the CPU kernel checks src and dst itself as it reads them
  }
  std::vector<IndexCheck> checks;
  if (check_src) checks.push_back({src, "src", IndexRule::range(num_src), "source nodes"});
  checks.push_back({dst, "dst", IndexRule::range(N), "destination nodes"});
  checks.push_back({perm, "dst_perm", IndexRule::range(E), "edges"});
  checks.push_back({indptr, "dst_ptr", IndexRule::offsets(E), "edges"});
  return check_indices(op, checks, flags);
}

}  // namespace geognn
