// Fused continuous-filter message passing on the GPU. message_sum walks each
// destination's CSR row (one thread per (node, feature): coalesced over
// features, deterministic, no atomics); edge_product is elementwise.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include "geognn/ops.h"
#include "launch.cuh"

namespace geognn {
namespace {

template <typename scalar_t>
__global__ void message_sum_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ w,
                                   const int64_t* __restrict__ src, const int64_t* __restrict__ perm,
                                   const int64_t* __restrict__ ptr, int64_t N, int64_t F,
                                   scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  GEOGNN_GRID_STRIDE(t, N * F) {
    const int64_t i = t / F, f = t - i * F;
    acc_t acc = 0;
    for (int64_t k = ptr[i]; k < ptr[i + 1]; ++k) {
      const int64_t e = perm[k];
      FilterProduct<acc_t>::accumulate(acc, static_cast<acc_t>(x[src[e] * F + f]), static_cast<acc_t>(w[e * F + f]));
    }
    out[t] = static_cast<scalar_t>(acc);
  }
}

template <typename scalar_t>
__global__ void edge_product_kernel(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b,
                                    const int64_t* __restrict__ ia, const int64_t* __restrict__ ib, int64_t E,
                                    int64_t F, scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  GEOGNN_GRID_STRIDE(t, E * F) {
    const int64_t e = t / F, f = t - e * F;
    out[t] = static_cast<scalar_t>(
        FilterProduct<acc_t>::product(static_cast<acc_t>(a[ia[e] * F + f]), static_cast<acc_t>(b[ib[e] * F + f])));
  }
}

void check_message_args(const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& perm, const Tensor& ptr) {
  check_values(x, "x");
  check_values(w, "w");
  check_index_vector(src, "src");
  check_index_vector(perm, "perm");
  check_index_vector(ptr, "indptr");
  TORCH_CHECK_VALUE(x.size(1) == w.size(1), "geognn: x has ", x.size(1), " features but w has ", w.size(1));
  TORCH_CHECK_VALUE(x.scalar_type() == w.scalar_type(), "geognn: x is ", x.scalar_type(), " but w is ",
                    w.scalar_type());
  TORCH_CHECK_VALUE(src.numel() == w.size(0) && perm.numel() == w.size(0),
                    "geognn: src and perm need one entry per edge (", w.size(0), ")");
  check_same_device(x, w, "x", "w");
  check_same_device(x, src, "x", "src");
}

}  // namespace

Tensor message_sum_cuda(const Tensor& x_in, const Tensor& w_in, const Tensor& src_in, const Tensor& /*dst*/,
                        const Tensor& dst_perm_in, const Tensor& dst_ptr_in, const Tensor& /*src_perm*/,
                        const Tensor& /*src_ptr*/) {
  check_message_args(x_in, w_in, src_in, dst_perm_in, dst_ptr_in);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const Tensor x = x_in.contiguous(), w = w_in.contiguous(), src = src_in.contiguous();
  const Tensor perm = dst_perm_in.contiguous(), ptr = dst_ptr_in.contiguous();
  const int64_t N = num_segments(ptr), F = x.size(1);
  Tensor out = at::empty({N, F}, x.options());
  if (N * F == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "geognn_message_sum_cuda", [&] {
    message_sum_kernel<scalar_t><<<blocks_for(N * F), kThreads, 0, stream>>>(
        x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), src.data_ptr<int64_t>(), perm.data_ptr<int64_t>(),
        ptr.data_ptr<int64_t>(), N, F, out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

Tensor edge_product_cuda(const Tensor& a_in, const Tensor& b_in, const Tensor& ia_in, const Tensor& ib_in,
                         const Tensor& /*ia_perm*/, const Tensor& /*ia_ptr*/, const Tensor& /*ib_perm*/,
                         const Tensor& /*ib_ptr*/) {
  check_values(a_in, "a");
  check_values(b_in, "b");
  check_index_vector(ia_in, "ia");
  check_index_vector(ib_in, "ib");
  TORCH_CHECK_VALUE(a_in.size(1) == b_in.size(1) && a_in.scalar_type() == b_in.scalar_type(),
                    "geognn: a and b must share feature size and dtype");
  TORCH_CHECK_VALUE(ia_in.numel() == ib_in.numel(), "geognn: ia and ib must have one entry per edge");
  const c10::cuda::CUDAGuard guard(a_in.device());
  const Tensor a = a_in.contiguous(), b = b_in.contiguous(), ia = ia_in.contiguous(), ib = ib_in.contiguous();
  const int64_t E = ia.numel(), F = a.size(1);
  Tensor out = at::empty({E, F}, a.options());
  if (E * F == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "geognn_edge_product_cuda", [&] {
    edge_product_kernel<scalar_t><<<blocks_for(E * F), kThreads, 0, stream>>>(
        a.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), ia.data_ptr<int64_t>(), ib.data_ptr<int64_t>(), E, F,
        out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

TORCH_LIBRARY_IMPL(geognn, CUDA, m) {
  m.impl("message_sum", &message_sum_cuda);
  m.impl("edge_product", &edge_product_cuda);
}

}  // namespace geognn
