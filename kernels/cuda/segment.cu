// Segment reductions on the GPU: one thread per (segment, feature), walking
// the segment's rows in CSR order, so results are deterministic and use the
// same Reducer arithmetic as the CPU kernels (geognn/reducer.h).
// Every op entry validates its offsets and permutation once per tensor
// (geognn/validate.h); the kernels bounds-check every row they touch anyway.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include "geognn/ops.h"
#include "geognn/validate.h"
#include "launch.cuh"

namespace geognn {
namespace {

template <typename scalar_t, ReduceKind R>
__global__ void segment_reduce_kernel(const scalar_t* __restrict__ src, const int64_t* __restrict__ perm,
                                      const int64_t* __restrict__ ptr, int64_t N, int64_t F, int64_t rows,
                                      scalar_t* __restrict__ out, int64_t* __restrict__ arg) {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<acc_t, R>;
  GEOGNN_GRID_STRIDE(t, N * F) {
    const int64_t i = t / F, f = t - i * F;
    int64_t begin, end;
    row_bounds(ptr, i, rows, begin, end);
    acc_t acc = Red::init();
    int64_t won = -1;
    for (int64_t k = begin; k < end; ++k) {
      const int64_t row = perm ? perm[k] : k;
      if (!in_range(row, rows)) continue;
      Red::update(acc, won, static_cast<acc_t>(src[row * F + f]), row);
    }
    out[t] = static_cast<scalar_t>(Red::finalize(acc, end - begin));
    if constexpr (Red::kHasArg) arg[t] = won;
  }
}

template <typename scalar_t>
__global__ void segment_broadcast_kernel(const scalar_t* __restrict__ grad, const int64_t* __restrict__ perm,
                                         const int64_t* __restrict__ ptr, int64_t N, int64_t F, int64_t rows,
                                         bool mean, scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  GEOGNN_GRID_STRIDE(t, N * F) {
    const int64_t i = t / F, f = t - i * F;
    int64_t begin, end;
    row_bounds(ptr, i, rows, begin, end);
    const acc_t g = static_cast<acc_t>(grad[t]) * broadcast_scale<acc_t>(mean, end - begin);
    for (int64_t k = begin; k < end; ++k) {
      const int64_t row = perm ? perm[k] : k;
      if (in_range(row, rows)) out[row * F + f] = static_cast<scalar_t>(g);
    }
  }
}

template <typename scalar_t>
__global__ void arg_scatter_kernel(const scalar_t* __restrict__ grad, const int64_t* __restrict__ arg, int64_t N,
                                   int64_t F, int64_t rows, scalar_t* __restrict__ out) {
  GEOGNN_GRID_STRIDE(t, N * F) {
    const int64_t row = arg[t];
    if (in_range(row, rows)) out[row * F + (t % F)] = grad[t];  // -1: an empty segment routes nothing
  }
}

}  // namespace

std::tuple<Tensor, Tensor> launch_segment_reduce_cuda(const Tensor& src_in, const std::optional<Tensor>& perm,
                                                      const Tensor& indptr_in, ReduceKind kind, bool checked) {
  const Tensor src = src_in.contiguous(), indptr = indptr_in.contiguous();
  const Tensor perm_c = perm ? perm->contiguous() : Tensor();
  const int64_t N = num_segments(indptr), F = src.size(1), rows = src.size(0);
  const bool has_arg = kind == ReduceKind::Max || kind == ReduceKind::Min;
  Tensor out = at::empty({N, F}, src.options());
  Tensor arg = at::empty({has_arg ? N : 0, has_arg ? F : 0}, indptr.options());
  if (N * F == 0) return {out, arg};
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "geognn_segment_reduce_cuda", [&] {
    GEOGNN_DISPATCH_REDUCE(kind, [&] {
      segment_reduce_kernel<scalar_t, kReduce><<<blocks_for(N * F), kThreads, 0, stream>>>(
          src.data_ptr<scalar_t>(), perm ? perm_c.data_ptr<int64_t>() : nullptr, indptr.data_ptr<int64_t>(), N, F,
          rows, out.data_ptr<scalar_t>(), has_arg ? arg.data_ptr<int64_t>() : nullptr);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  // The winners of a checked max/min are source rows or -1: the backward's arg_scatter need not look again.
  if (checked && has_arg) remember_index(arg, -1, rows - 1, false);
  return {out, arg};
}

std::tuple<Tensor, Tensor> segment_reduce_cuda(const Tensor& src, const std::optional<Tensor>& perm,
                                               const Tensor& indptr, c10::string_view reduce) {
  check_values(src, "src");
  check_index_vector(indptr, "indptr");
  check_perm(perm, src.size(0));
  check_same_device(src, indptr, "src", "indptr");
  if (perm) check_same_device(src, *perm, "src", "perm");
  const ReduceKind kind = parse_reduce(std::string(reduce));
  const c10::cuda::CUDAGuard guard(src.device());
  std::vector<IndexCheck> checks = {{indptr, "indptr", IndexRule::offsets(src.size(0)), "rows of src"}};
  if (perm) checks.push_back({*perm, "perm", IndexRule::range(src.size(0)), "rows of src"});
  const bool checked = check_indices("geognn.segment_reduce", checks);
  return launch_segment_reduce_cuda(src, perm, indptr, kind, checked);
}

Tensor segment_broadcast_cuda(const Tensor& grad_in, const std::optional<Tensor>& perm, const Tensor& indptr_in,
                              int64_t num_rows, bool mean) {
  check_values(grad_in, "grad");
  check_index_vector(indptr_in, "indptr");
  check_perm(perm, num_rows);
  check_same_device(grad_in, indptr_in, "grad", "indptr");
  if (perm) check_same_device(grad_in, *perm, "grad", "perm");
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const Tensor grad = grad_in.contiguous(), indptr = indptr_in.contiguous();
  const Tensor perm_c = perm ? perm->contiguous() : Tensor();
  const int64_t N = num_segments(indptr), F = grad.size(1);
  TORCH_CHECK_VALUE(grad.size(0) == N, "geognn: grad has ", grad.size(0), " rows for ", N, " segments");
  std::vector<IndexCheck> checks = {{indptr, "indptr", IndexRule::offsets(num_rows), "rows"}};
  if (perm) checks.push_back({perm_c, "perm", IndexRule::range(num_rows), "rows"});
  check_indices("geognn.segment_broadcast", checks);
  // Rows outside every segment (possible only for malformed input) stay zero.
  Tensor out = at::zeros({num_rows, F}, grad.options());
  if (N * F == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "geognn_segment_broadcast_cuda", [&] {
    segment_broadcast_kernel<scalar_t><<<blocks_for(N * F), kThreads, 0, stream>>>(
        grad.data_ptr<scalar_t>(), perm ? perm_c.data_ptr<int64_t>() : nullptr, indptr.data_ptr<int64_t>(), N, F,
        num_rows, mean, out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

Tensor arg_scatter_cuda(const Tensor& grad_in, const Tensor& arg_in, int64_t num_rows) {
  check_values(grad_in, "grad");
  TORCH_CHECK_VALUE(arg_in.scalar_type() == at::kLong && arg_in.sizes() == grad_in.sizes(),
                    "geognn: arg must be int64 with the shape of grad ", grad_in.sizes(), ", got ", arg_in.sizes());
  check_same_device(grad_in, arg_in, "grad", "arg");
  TORCH_CHECK_VALUE(num_rows >= 0, "geognn: num_rows must be >= 0, got ", num_rows);
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const Tensor grad = grad_in.contiguous(), arg = arg_in.contiguous();
  check_indices("geognn.arg_scatter", {{arg, "arg", IndexRule::range(num_rows, -1), "rows"}});
  const int64_t N = grad.size(0), F = grad.size(1);
  Tensor out = at::zeros({num_rows, F}, grad.options());
  if (N * F == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "geognn_arg_scatter_cuda", [&] {
    arg_scatter_kernel<scalar_t><<<blocks_for(N * F), kThreads, 0, stream>>>(
        grad.data_ptr<scalar_t>(), arg.data_ptr<int64_t>(), N, F, num_rows, out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

TORCH_LIBRARY_IMPL(geognn, CUDA, m) {
  m.impl("segment_reduce", &segment_reduce_cuda);
  m.impl("segment_broadcast", &segment_broadcast_cuda);
  m.impl("arg_scatter", &arg_scatter_cuda);
}

}  // namespace geognn
