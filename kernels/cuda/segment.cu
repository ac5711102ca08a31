// Segment reductions on the GPU: one thread per (segment, feature), walking
// the segment's rows in CSR order, so results are deterministic and use the
// same Reducer arithmetic as the CPU kernels (geognn/reducer.h).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include "geognn/ops.h"
#include "launch.cuh"

namespace geognn {
namespace {

template <typename scalar_t, ReduceKind R>
__global__ void segment_reduce_kernel(const scalar_t* __restrict__ src, const int64_t* __restrict__ perm,
                                      const int64_t* __restrict__ ptr, int64_t N, int64_t F,
                                      scalar_t* __restrict__ out, int64_t* __restrict__ arg) {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<acc_t, R>;
  GEOGNN_GRID_STRIDE(t, N * F) {
    const int64_t i = t / F, f = t - i * F;
    acc_t acc = Red::init();
    int64_t won = -1;
    for (int64_t k = ptr[i]; k < ptr[i + 1]; ++k) {
      const int64_t row = perm ? perm[k] : k;
      Red::update(acc, won, static_cast<acc_t>(src[row * F + f]), row);
    }
    out[t] = static_cast<scalar_t>(Red::finalize(acc, ptr[i + 1] - ptr[i]));
    if constexpr (Red::kHasArg) arg[t] = won;
  }
}

template <typename scalar_t>
__global__ void segment_broadcast_kernel(const scalar_t* __restrict__ grad, const int64_t* __restrict__ perm,
                                         const int64_t* __restrict__ ptr, int64_t N, int64_t F, bool mean,
                                         scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  GEOGNN_GRID_STRIDE(t, N * F) {
    const int64_t i = t / F, f = t - i * F;
    const acc_t g = static_cast<acc_t>(grad[t]) * broadcast_scale<acc_t>(mean, ptr[i + 1] - ptr[i]);
    for (int64_t k = ptr[i]; k < ptr[i + 1]; ++k) {
      const int64_t row = perm ? perm[k] : k;
      out[row * F + f] = static_cast<scalar_t>(g);
    }
  }
}

template <typename scalar_t>
__global__ void arg_scatter_kernel(const scalar_t* __restrict__ grad, const int64_t* __restrict__ arg, int64_t N,
                                   int64_t F, scalar_t* __restrict__ out) {
  GEOGNN_GRID_STRIDE(t, N * F) {
    const int64_t row = arg[t];
    if (row >= 0) out[row * F + (t % F)] = grad[t];
  }
}

}  // namespace

std::tuple<Tensor, Tensor> segment_reduce_cuda(const Tensor& src_in, const std::optional<Tensor>& perm,
                                               const Tensor& indptr_in, c10::string_view reduce) {
  check_values(src_in, "src");
  check_index_vector(indptr_in, "indptr");
  if (perm) check_index_vector(*perm, "perm");
  check_same_device(src_in, indptr_in, "src", "indptr");
  const ReduceKind kind = parse_reduce(std::string(reduce));
  const c10::cuda::CUDAGuard guard(src_in.device());
  const Tensor src = src_in.contiguous(), indptr = indptr_in.contiguous();
  const Tensor perm_c = perm ? perm->contiguous() : Tensor();
  const int64_t N = num_segments(indptr), F = src.size(1);
  const bool has_arg = kind == ReduceKind::Max || kind == ReduceKind::Min;
  Tensor out = at::empty({N, F}, src.options());
  Tensor arg = at::empty({has_arg ? N : 0, has_arg ? F : 0}, indptr.options());
  if (N * F == 0) return {out, arg};
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "geognn_segment_reduce_cuda", [&] {
    GEOGNN_DISPATCH_REDUCE(kind, [&] {
      segment_reduce_kernel<scalar_t, kReduce><<<blocks_for(N * F), kThreads, 0, stream>>>(
          src.data_ptr<scalar_t>(), perm ? perm_c.data_ptr<int64_t>() : nullptr, indptr.data_ptr<int64_t>(), N, F,
          out.data_ptr<scalar_t>(), has_arg ? arg.data_ptr<int64_t>() : nullptr);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return {out, arg};
}

Tensor segment_broadcast_cuda(const Tensor& grad_in, const std::optional<Tensor>& perm, const Tensor& indptr_in,
                              int64_t num_rows, bool mean) {
  check_values(grad_in, "grad");
  check_index_vector(indptr_in, "indptr");
  if (perm) check_index_vector(*perm, "perm");
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const Tensor grad = grad_in.contiguous(), indptr = indptr_in.contiguous();
  const Tensor perm_c = perm ? perm->contiguous() : Tensor();
  const int64_t N = num_segments(indptr), F = grad.size(1);
  TORCH_CHECK_VALUE(grad.size(0) == N, "geognn: grad has ", grad.size(0), " rows for ", N, " segments");
  // Rows outside every segment (possible only for malformed input) stay zero.
  Tensor out = at::zeros({num_rows, F}, grad.options());
  if (N * F == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "geognn_segment_broadcast_cuda", [&] {
    segment_broadcast_kernel<scalar_t><<<blocks_for(N * F), kThreads, 0, stream>>>(
        grad.data_ptr<scalar_t>(), perm ? perm_c.data_ptr<int64_t>() : nullptr, indptr.data_ptr<int64_t>(), N, F,
        mean, out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

Tensor arg_scatter_cuda(const Tensor& grad_in, const Tensor& arg_in, int64_t num_rows) {
  check_values(grad_in, "grad");
  TORCH_CHECK_VALUE(arg_in.scalar_type() == at::kLong && arg_in.sizes() == grad_in.sizes(),
                    "geognn: arg must be int64 with the shape of grad");
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const Tensor grad = grad_in.contiguous(), arg = arg_in.contiguous();
  const int64_t N = grad.size(0), F = grad.size(1);
  Tensor out = at::zeros({num_rows, F}, grad.options());
  if (N * F == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "geognn_arg_scatter_cuda", [&] {
    arg_scatter_kernel<scalar_t><<<blocks_for(N * F), kThreads, 0, stream>>>(
        grad.data_ptr<scalar_t>(), arg.data_ptr<int64_t>(), N, F, out.data_ptr<scalar_t>());
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
