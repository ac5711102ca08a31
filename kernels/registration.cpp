// TORCH_LIBRARY(geognn): one schema per op, and autograd for each.
// Device kernels register themselves (cpu/*.cpp, cuda/*.cu) under the CPU and
// CUDA dispatch keys; fake (meta) implementations for torch.compile live in
// geognn/ops/_fake.py. Backward passes call the ops through the dispatcher,
// so they are themselves differentiable (needed to train on forces).
#include <Python.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "geognn/ops.h"

namespace geognn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using OptTensor = std::optional<Tensor>;

// ---- dispatcher entry points ------------------------------------------------
std::tuple<Tensor, Tensor> call_segment_reduce(const Tensor& src, const OptTensor& perm, const Tensor& indptr,
                                               c10::string_view reduce) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("geognn::segment_reduce", "")
                       .typed<std::tuple<Tensor, Tensor>(const Tensor&, const OptTensor&, const Tensor&,
                                                         c10::string_view)>();
  return op.call(src, perm, indptr, reduce);
}

// Sizes travel as SymInt: under torch.compile(dynamic=True) they are symbols, and
// an int64_t anywhere on the way would specialise the compiled graph to one size.
std::tuple<Tensor, Tensor> call_scatter_reduce(const Tensor& src, const Tensor& index, const c10::SymInt& num_rows,
                                               c10::string_view reduce) {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("geognn::scatter_reduce", "")
          .typed<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, c10::SymInt, c10::string_view)>();
  return op.call(src, index, num_rows, reduce);
}

Tensor call_segment_broadcast(const Tensor& grad, const OptTensor& perm, const Tensor& indptr,
                              const c10::SymInt& num_rows, bool mean) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("geognn::segment_broadcast", "")
                       .typed<Tensor(const Tensor&, const OptTensor&, const Tensor&, c10::SymInt, bool)>();
  return op.call(grad, perm, indptr, num_rows, mean);
}

Tensor call_arg_scatter(const Tensor& grad, const Tensor& arg, const c10::SymInt& num_rows) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("geognn::arg_scatter", "")
                       .typed<Tensor(const Tensor&, const Tensor&, c10::SymInt)>();
  return op.call(grad, arg, num_rows);
}

using GraphOp = Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const Tensor&, const Tensor&);

Tensor call_message_sum(const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& dst,
                        const Tensor& dst_perm, const Tensor& dst_ptr, const Tensor& src_perm, const Tensor& src_ptr) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("geognn::message_sum", "").typed<GraphOp>();
  return op.call(x, w, src, dst, dst_perm, dst_ptr, src_perm, src_ptr);
}

Tensor call_edge_product(const Tensor& a, const Tensor& b, const Tensor& ia, const Tensor& ib, const Tensor& ia_perm,
                         const Tensor& ia_ptr, const Tensor& ib_perm, const Tensor& ib_ptr) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("geognn::edge_product", "").typed<GraphOp>();
  return op.call(a, b, ia, ib, ia_perm, ia_ptr, ib_perm, ib_ptr);
}

OptTensor saved_optional(AutogradContext* ctx, const char* key) {
  const auto& v = ctx->saved_data[key];
  return v.isNone() ? OptTensor() : OptTensor(v.toTensor());
}

// `index` with every entry outside [0, num_rows) replaced by num_rows (a padding row).
// Only CUDA needs it: there nothing re-validates a saved index before the backward (a
// CUDA-graph replay validates nothing at all), and torch's own gathers device-assert on a
// bad entry, where geognn's kernels skip it. The CPU forward has raised on any bad entry.
Tensor safe_rows(const Tensor& index, const c10::SymInt& num_rows) {
  if (!index.is_cuda()) return index;
  const Tensor valid = index.ge(0).logical_and(index.lt(c10::Scalar(num_rows)));
  return at::where(valid, index, c10::Scalar(num_rows));
}

// out[e] = g[index[e]] (E, F), zero where index[e] is outside [0, rows of g): the transpose of a scatter sum.
Tensor gather_rows(const Tensor& g, const Tensor& index) {
  if (!index.is_cuda()) return at::index_select(g, 0, index);
  const c10::SymInt rows = g.sym_size(0);
  const Tensor padded = at::cat({g, at::zeros_symint({1, g.sym_size(1)}, g.options())});
  return at::index_select(padded, 0, safe_rows(index, rows));
}

// ---- segment reductions -----------------------------------------------------
class SegmentReduceFn : public torch::autograd::Function<SegmentReduceFn> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& src, const OptTensor& perm, const Tensor& indptr,
                               c10::string_view reduce) {
    Tensor out, arg;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      std::tie(out, arg) = call_segment_reduce(src, perm, indptr, reduce);
    }
    ctx->saved_data["perm"] = perm.has_value() ? c10::IValue(*perm) : c10::IValue();
    ctx->saved_data["indptr"] = indptr;
    ctx->saved_data["arg"] = arg;
    ctx->saved_data["reduce"] = std::string(reduce);
    ctx->saved_data["rows"] = src.sym_size(0);
    ctx->mark_non_differentiable({arg});
    return {out, arg};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const ReduceKind kind = parse_reduce(ctx->saved_data["reduce"].toStringRef());
    const c10::SymInt rows = ctx->saved_data["rows"].toSymInt();
    Tensor grad_src;
    if (kind == ReduceKind::Sum || kind == ReduceKind::Mean) {
      grad_src = call_segment_broadcast(grads[0], saved_optional(ctx, "perm"), ctx->saved_data["indptr"].toTensor(),
                                        rows, kind == ReduceKind::Mean);
    } else {
      grad_src = call_arg_scatter(grads[0], ctx->saved_data["arg"].toTensor(), rows);
    }
    return {grad_src, Tensor(), Tensor(), Tensor()};
  }
};

class ScatterReduceFn : public torch::autograd::Function<ScatterReduceFn> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& src, const Tensor& index,
                               const c10::SymInt& num_rows, c10::string_view reduce) {
    Tensor out, arg;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      std::tie(out, arg) = call_scatter_reduce(src, index, num_rows, reduce);
    }
    ctx->saved_data["index"] = index;
    ctx->saved_data["arg"] = arg;
    ctx->saved_data["reduce"] = std::string(reduce);
    ctx->saved_data["num_rows"] = num_rows;
    ctx->saved_data["rows"] = src.sym_size(0);
    ctx->mark_non_differentiable({arg});
    return {out, arg};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const ReduceKind kind = parse_reduce(ctx->saved_data["reduce"].toStringRef());
    const Tensor index = ctx->saved_data["index"].toTensor();
    const Tensor& g = grads[0];
    Tensor grad_src;
    // A gather: each source row reads its target's gradient (sequential writes, and built from
    // differentiable ATen ops, so double backward works), through an index that cannot fault.
    if (kind == ReduceKind::Sum) {
      grad_src = gather_rows(g, index);
    } else if (kind == ReduceKind::Mean) {
      // Counted with index_add_ rather than bincount, which reads the index's range back to the host on CUDA.
      const c10::SymInt num_rows = ctx->saved_data["num_rows"].toSymInt();
      const Tensor safe = safe_rows(index, num_rows);
      const Tensor count = at::zeros_symint({num_rows + 1}, index.options())
                               .index_add_(0, safe, at::ones_like(index))
                               .narrow_symint(0, 0, num_rows)
                               .clamp_min(1)
                               .to(g.scalar_type());
      grad_src = gather_rows(g / count.unsqueeze(1), index);
    } else {
      grad_src = call_arg_scatter(g, ctx->saved_data["arg"].toTensor(), ctx->saved_data["rows"].toSymInt());
    }
    return {grad_src, Tensor(), Tensor(), Tensor()};
  }
};

class SegmentBroadcastFn : public torch::autograd::Function<SegmentBroadcastFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& grad, const OptTensor& perm, const Tensor& indptr,
                        const c10::SymInt& num_rows, bool mean) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->saved_data["perm"] = perm.has_value() ? c10::IValue(*perm) : c10::IValue();
    ctx->saved_data["indptr"] = indptr;
    ctx->saved_data["mean"] = mean;
    return call_segment_broadcast(grad, perm, indptr, num_rows, mean);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // A broadcast is the transpose of a segment sum (or mean, with the same 1/count).
    const bool mean = ctx->saved_data["mean"].toBool();
    auto reduced = call_segment_reduce(grads[0], saved_optional(ctx, "perm"), ctx->saved_data["indptr"].toTensor(),
                                       mean ? "mean" : "sum");
    return {std::get<0>(reduced), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

class ArgScatterFn : public torch::autograd::Function<ArgScatterFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& grad, const Tensor& arg, const c10::SymInt& num_rows) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->saved_data["arg"] = arg;
    return call_arg_scatter(grad, arg, num_rows);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Tensor arg = ctx->saved_data["arg"].toTensor();
    const Tensor& g = grads[0];
    Tensor result;
    if (g.sym_size(0) == 0) {
      result = at::zeros_symint(arg.sym_sizes(), g.options());
    } else {
      result = at::where(arg >= 0, at::gather(g, 0, arg.clamp_min(0)), at::zeros({}, g.options()));
    }
    return {result, Tensor(), Tensor()};
  }
};

// ---- fused message passing --------------------------------------------------
void save_graph(AutogradContext* ctx, const Tensor& src, const Tensor& dst, const Tensor& dst_perm,
                const Tensor& dst_ptr, const Tensor& src_perm, const Tensor& src_ptr) {
  ctx->saved_data["src"] = src;
  ctx->saved_data["dst"] = dst;
  ctx->saved_data["dst_perm"] = dst_perm;
  ctx->saved_data["dst_ptr"] = dst_ptr;
  ctx->saved_data["src_perm"] = src_perm;
  ctx->saved_data["src_ptr"] = src_ptr;
}

struct SavedGraph {
  Tensor src, dst, dst_perm, dst_ptr, src_perm, src_ptr;
  explicit SavedGraph(AutogradContext* ctx)
      : src(ctx->saved_data["src"].toTensor()),
        dst(ctx->saved_data["dst"].toTensor()),
        dst_perm(ctx->saved_data["dst_perm"].toTensor()),
        dst_ptr(ctx->saved_data["dst_ptr"].toTensor()),
        src_perm(ctx->saved_data["src_perm"].toTensor()),
        src_ptr(ctx->saved_data["src_ptr"].toTensor()) {}
};

class MessageSumFn : public torch::autograd::Function<MessageSumFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& dst,
                        const Tensor& dst_perm, const Tensor& dst_ptr, const Tensor& src_perm,
                        const Tensor& src_ptr) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x, w});
    save_graph(ctx, src, dst, dst_perm, dst_ptr, src_perm, src_ptr);
    return call_message_sum(x, w, src, dst, dst_perm, dst_ptr, src_perm, src_ptr);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &w = saved[1];
    const SavedGraph g(ctx);
    const Tensor& grad_out = grads[0];
    Tensor grad_x, grad_w;
    // d/dx: the same product summed over the reversed edges (grouped by source).
    if (ctx->needs_input_grad(0))
      grad_x = call_message_sum(grad_out, w, g.dst, g.src, g.src_perm, g.src_ptr, g.dst_perm, g.dst_ptr);
    // d/dw: one row per edge, grad_out[dst] * x[src]; this E x F tensor is an output.
    if (ctx->needs_input_grad(1))
      grad_w = call_edge_product(grad_out, x, g.dst, g.src, g.dst_perm, g.dst_ptr, g.src_perm, g.src_ptr);
    return {grad_x, grad_w, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

class EdgeProductFn : public torch::autograd::Function<EdgeProductFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& a, const Tensor& b, const Tensor& ia, const Tensor& ib,
                        const Tensor& ia_perm, const Tensor& ia_ptr, const Tensor& ib_perm, const Tensor& ib_ptr) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({a, b});
    // Stored as a graph whose "destination" is ia and "source" is ib.
    save_graph(ctx, ib, ia, ia_perm, ia_ptr, ib_perm, ib_ptr);
    return call_edge_product(a, b, ia, ib, ia_perm, ia_ptr, ib_perm, ib_ptr);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &a = saved[0], &b = saved[1];
    const SavedGraph g(ctx);  // g.dst == ia, g.src == ib
    const Tensor& G = grads[0];
    Tensor grad_a, grad_b;
    if (ctx->needs_input_grad(0))  // grad_a[i] = sum_{e: ia[e]=i} b[ib[e]] * G[e]
      grad_a = call_message_sum(b, G, g.src, g.dst, g.dst_perm, g.dst_ptr, g.src_perm, g.src_ptr);
    if (ctx->needs_input_grad(1))  // grad_b[j] = sum_{e: ib[e]=j} a[ia[e]] * G[e]
      grad_b = call_message_sum(a, G, g.dst, g.src, g.src_perm, g.src_ptr, g.dst_perm, g.dst_ptr);
    return {grad_a, grad_b, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

// ---- autograd kernels -----------------------------------------------------------
std::tuple<Tensor, Tensor> segment_reduce_autograd(const Tensor& src, const OptTensor& perm, const Tensor& indptr,
                                                   c10::string_view reduce) {
  auto r = SegmentReduceFn::apply(src, perm, indptr, reduce);
  return {r[0], r[1]};
}

std::tuple<Tensor, Tensor> scatter_reduce_autograd(const Tensor& src, const Tensor& index, c10::SymInt num_rows,
                                                   c10::string_view reduce) {
  auto r = ScatterReduceFn::apply(src, index, num_rows, reduce);
  return {r[0], r[1]};
}

Tensor segment_broadcast_autograd(const Tensor& grad, const OptTensor& perm, const Tensor& indptr,
                                  c10::SymInt num_rows, bool mean) {
  return SegmentBroadcastFn::apply(grad, perm, indptr, num_rows, mean);
}

Tensor arg_scatter_autograd(const Tensor& grad, const Tensor& arg, c10::SymInt num_rows) {
  return ArgScatterFn::apply(grad, arg, num_rows);
}

Tensor message_sum_autograd(const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& dst,
                            const Tensor& dst_perm, const Tensor& dst_ptr, const Tensor& src_perm,
                            const Tensor& src_ptr) {
  return MessageSumFn::apply(x, w, src, dst, dst_perm, dst_ptr, src_perm, src_ptr);
}

Tensor edge_product_autograd(const Tensor& a, const Tensor& b, const Tensor& ia, const Tensor& ib,
                             const Tensor& ia_perm, const Tensor& ia_ptr, const Tensor& ib_perm,
                             const Tensor& ib_ptr) {
  return EdgeProductFn::apply(a, b, ia, ib, ia_perm, ia_ptr, ib_perm, ib_ptr);
}

// ---- autocast --------------------------------------------------------------------
// Under torch.autocast the filter product runs in the autocast dtype, as a matrix
// product does: x and w are cast together (a half x from an autocast Linear and a
// float32 w from a product with float32 cutoff values meet in one dtype). The
// kernels accumulate in float32 whatever the storage dtype.
template <c10::DeviceType D>
Tensor message_sum_autocast(const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& dst,
                            const Tensor& dst_perm, const Tensor& dst_ptr, const Tensor& src_perm,
                            const Tensor& src_ptr) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(at::autocast::get_autocast_dispatch_key_from_device_type(D));
  const at::ScalarType dtype = at::autocast::get_autocast_dtype(D);
  return call_message_sum(at::autocast::cached_cast(dtype, x, D), at::autocast::cached_cast(dtype, w, D), src, dst,
                          dst_perm, dst_ptr, src_perm, src_ptr);
}

template <c10::DeviceType D>
Tensor edge_product_autocast(const Tensor& a, const Tensor& b, const Tensor& ia, const Tensor& ib,
                             const Tensor& ia_perm, const Tensor& ia_ptr, const Tensor& ib_perm,
                             const Tensor& ib_ptr) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(at::autocast::get_autocast_dispatch_key_from_device_type(D));
  const at::ScalarType dtype = at::autocast::get_autocast_dtype(D);
  return call_edge_product(at::autocast::cached_cast(dtype, a, D), at::autocast::cached_cast(dtype, b, D), ia, ib,
                           ia_perm, ia_ptr, ib_perm, ib_ptr);
}

}  // namespace

TORCH_LIBRARY(geognn, m) {
  m.set_python_module("geognn.ops._fake");
  // Sizes are SymInt so that torch.compile(dynamic=True) keeps them symbolic (no recompile per batch size).
  m.def("csr(Tensor index, SymInt num_rows) -> (Tensor perm, Tensor indptr)");
  m.def("segment_reduce(Tensor src, Tensor? perm, Tensor indptr, str reduce) -> (Tensor out, Tensor arg)");
  m.def("scatter_reduce(Tensor src, Tensor index, SymInt num_rows, str reduce) -> (Tensor out, Tensor arg)");
  m.def("segment_broadcast(Tensor grad, Tensor? perm, Tensor indptr, SymInt num_rows, bool mean) -> Tensor");
  m.def("arg_scatter(Tensor grad, Tensor arg, SymInt num_rows) -> Tensor");
  m.def(
      "message_sum(Tensor x, Tensor w, Tensor src, Tensor dst, Tensor dst_perm, Tensor dst_ptr, "
      "Tensor src_perm, Tensor src_ptr) -> Tensor");
  m.def(
      "edge_product(Tensor a, Tensor b, Tensor ia, Tensor ib, Tensor ia_perm, Tensor ia_ptr, "
      "Tensor ib_perm, Tensor ib_ptr) -> Tensor");
  // Index validation with one host read (kernels/validate.cpp, geognn/validate.h): every value of
  // indices[k] in [lower[k], upper[k]) (else IndexError, or ValueError where value_errors[k]), each flag read
  // back (and required true when its message is not empty).
  // Returns int64 copies that geognn remembers as valid; recheck=False trusts what it already remembers.
  m.def(
      "check_indices(Tensor[] indices, SymInt[] lower, SymInt[] upper, str[] names, str[] units, bool[] value_errors, "
      "Tensor[] flags, str[] required, bool recheck=True) -> (Tensor[] checked, bool[] flags)");
  m.def("is_checked(Tensor index, SymInt bound) -> bool");
  // Coulomb matrices (kernels/cpu/coulomb.cpp, kernels/cuda/coulomb.cu); not differentiable: the featurizer's
  // torch path serves gradients, other devices and eigenspectra (and is the reference).
  m.def(
      "coulomb_matrix(Tensor z, Tensor pos, Tensor ptr, Tensor diagonal, Tensor? noise, int n_atoms_max, "
      "str permutation, float sigma, float tie_rtol, float distance_scale, bool flatten, ScalarType dtype) -> Tensor");
}

// Every other op falls through autocast (it takes one floating input, or none).
TORCH_LIBRARY_IMPL(geognn, AutocastCUDA, m) {
  m.impl("message_sum", &message_sum_autocast<c10::DeviceType::CUDA>);
  m.impl("edge_product", &edge_product_autocast<c10::DeviceType::CUDA>);
}

TORCH_LIBRARY_IMPL(geognn, AutocastCPU, m) {
  m.impl("message_sum", &message_sum_autocast<c10::DeviceType::CPU>);
  m.impl("edge_product", &edge_product_autocast<c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(geognn, Autograd, m) {
  m.impl("segment_reduce", &segment_reduce_autograd);
  m.impl("scatter_reduce", &scatter_reduce_autograd);
  m.impl("segment_broadcast", &segment_broadcast_autograd);
  m.impl("arg_scatter", &arg_scatter_autograd);
  m.impl("message_sum", &message_sum_autograd);
  m.impl("edge_product", &edge_product_autograd);
}

}  // namespace geognn

// `import geognn._C` loads the library above; the module itself is empty.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", "geognn native kernels (TORCH_LIBRARY geognn)",
                                          -1, nullptr};
  return PyModule_Create(&module_def);
}
