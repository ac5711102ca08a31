// Fused continuous-filter message passing on the GPU.
//   message_sum:  out[i] = sum_{e: dst[e] = i} x[src[e]] * w[e]
//   edge_product: out[e] = a[ia[e]] * b[ib[e]]   (the gradient of the filter w)
// message_sum walks each destination's CSR row in order, as the CPU kernel walks
// its edges, so every output element sums the same products in the same order:
// deterministic, no atomics. The backward passes are these two kernels again.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include <cstdlib>

#include "geognn/ops.h"
#include "geognn/validate.h"
#include "launch.cuh"

namespace geognn {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kWarp = 32;

// One group of L lanes (L = 8, 16 or 32: a whole warp or a part of one) per
// (destination row, run of L * V features); each lane owns V consecutive features
// and reads them as one 16-byte vector when V > 1. Rows of F features fit in the
// narrowest group with L * V >= F, so a warp of float rows of 64 features works on
// two rows at once instead of leaving half its lanes idle. The row's edge ids and
// their sources are loaded L at a time, one per lane, then broadcast by shuffles
// within the group: the loads of feature rows in the inner loop do not wait on a
// chain of dependent index loads (perm[k] -> src[e] -> x[j]).
template <typename scalar_t, int V, int L>
__global__ void message_sum_rows_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ w,
                                        const int64_t* __restrict__ src, const int64_t* __restrict__ perm,
                                        const int64_t* __restrict__ ptr, int64_t N, int64_t F, int64_t Nx,
                                        int64_t E, scalar_t* __restrict__ out) {
  static_assert(L == 8 || L == 16 || L == 32, "a group is a warp or a power-of-two part of one");
  using acc_t = at::opmath_type<scalar_t>;
  using vec_t = Vec<scalar_t, V>;
  const int lane = threadIdx.x % L;
  // The lanes of this thread's group: groups of one warp may run different rows, so every
  // shuffle names its own group only.
  const unsigned group = (kFullWarp >> (kWarp - L)) << ((threadIdx.x % kWarp) / L * L);
  const int64_t runs = (F + L * V - 1) / (L * V);  // groups per destination row
  const int64_t first_group = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / L;
  const int64_t group_stride = static_cast<int64_t>(gridDim.x) * blockDim.x / L;
  for (int64_t gid = first_group; gid < N * runs; gid += group_stride) {  // uniform across the group
    const int64_t i = gid / runs;
    const int64_t f0 = (gid - i * runs) * L * V + lane * V;
    const bool active = f0 < F;  // V == 1 or F % V == 0, so an active lane owns V whole features
    acc_t acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = acc_t(0);
    int64_t begin, end;
    row_bounds(ptr, i, E, begin, end);
    for (int64_t base = begin; base < end; base += L) {
      int64_t my_edge = -1, my_src = 0;  // -1: a bad edge id or source, which contributes nothing
      if (base + lane < end) {
        const int64_t e = perm[base + lane];
        if (in_range(e, E)) {
          const int64_t j = src[e];
          if (in_range(j, Nx)) my_edge = e, my_src = j;
        }
      }
      const int count = static_cast<int>(min(static_cast<int64_t>(L), end - base));
#pragma unroll 4
      for (int t = 0; t < count; ++t) {  // the row's edges in CSR order: the CPU's summation order
        const int64_t e = __shfl_sync(group, my_edge, t, L);
        const int64_t j = __shfl_sync(group, my_src, t, L);
        if (e < 0 || !active) continue;
        const vec_t xv = *reinterpret_cast<const vec_t*>(x + j * F + f0);
        const vec_t wv = *reinterpret_cast<const vec_t*>(w + e * F + f0);
#pragma unroll
        for (int v = 0; v < V; ++v)
          FilterProduct<acc_t>::accumulate(acc[v], static_cast<acc_t>(xv.v[v]), static_cast<acc_t>(wv.v[v]));
      }
    }
    if (active) {
      vec_t result;
#pragma unroll
      for (int v = 0; v < V; ++v) result.v[v] = static_cast<scalar_t>(acc[v]);
      *reinterpret_cast<vec_t*>(out + i * F + f0) = result;
    }
  }
}

// Narrow rows (F < 32): one thread per (node, feature), as many rows per warp as fit.
template <typename scalar_t>
__global__ void message_sum_elements_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ w,
                                            const int64_t* __restrict__ src, const int64_t* __restrict__ perm,
                                            const int64_t* __restrict__ ptr, int64_t N, int64_t F, int64_t Nx,
                                            int64_t E, scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  GEOGNN_GRID_STRIDE(t, N * F) {
    const int64_t i = t / F, f = t - i * F;
    int64_t begin, end;
    row_bounds(ptr, i, E, begin, end);
    acc_t acc = 0;
    for (int64_t k = begin; k < end; ++k) {
      const int64_t e = perm[k];
      if (!in_range(e, E)) continue;
      const int64_t j = src[e];
      if (!in_range(j, Nx)) continue;
      FilterProduct<acc_t>::accumulate(acc, static_cast<acc_t>(x[j * F + f]), static_cast<acc_t>(w[e * F + f]));
    }
    out[t] = static_cast<scalar_t>(acc);
  }
}

// One thread per V features of one edge; an edge with a bad endpoint gets zeros.
template <typename scalar_t, int V>
__global__ void edge_product_kernel(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b,
                                    const int64_t* __restrict__ ia, const int64_t* __restrict__ ib, int64_t E,
                                    int64_t F, int64_t Na, int64_t Nb, scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  using vec_t = Vec<scalar_t, V>;
  const int64_t per_edge = F / V;
  GEOGNN_GRID_STRIDE(t, E * per_edge) {
    const int64_t e = t / per_edge, f = (t - e * per_edge) * V;
    const int64_t i = ia[e], j = ib[e];
    vec_t result;
    if (in_range(i, Na) && in_range(j, Nb)) {
      const vec_t av = *reinterpret_cast<const vec_t*>(a + i * F + f);
      const vec_t bv = *reinterpret_cast<const vec_t*>(b + j * F + f);
#pragma unroll
      for (int v = 0; v < V; ++v)
        result.v[v] = static_cast<scalar_t>(
            FilterProduct<acc_t>::product(static_cast<acc_t>(av.v[v]), static_cast<acc_t>(bv.v[v])));
    } else {
#pragma unroll
      for (int v = 0; v < V; ++v) result.v[v] = scalar_t(0);
    }
    *reinterpret_cast<vec_t*>(out + e * F + f) = result;
  }
}

// Lanes per destination row: the narrowest group whose L * V lanes' features cover F, or a
// whole warp. GEOGNN_MESSAGE_SUM_LANES=32 (or 16, 8) forces a width, for measuring the layouts
// against each other (benchmarks/kernels.py --lanes); it is read at every launch.
int group_lanes(int64_t F, int V) {
  if (const char* forced = std::getenv("GEOGNN_MESSAGE_SUM_LANES")) {
    const int lanes = std::atoi(forced);
    TORCH_CHECK_VALUE(lanes == 8 || lanes == 16 || lanes == 32, "GEOGNN_MESSAGE_SUM_LANES must be 8, 16 or 32, got '",
                      forced, "'");
    return lanes;
  }
  for (int lanes = 8; lanes < kWarp; lanes *= 2)
    if (lanes * V >= F) return lanes;
  return kWarp;
}

template <typename scalar_t, int V>
void launch_rows(int lanes, const scalar_t* xp, const scalar_t* wp, const int64_t* sp, const int64_t* pp,
                 const int64_t* rp, int64_t N, int64_t F, int64_t Nx, int64_t E, scalar_t* op, cudaStream_t stream) {
  const int64_t groups = N * ((F + lanes * V - 1) / (lanes * V));
  const int64_t blocks = blocks_for(groups * lanes);
  if (lanes == 8) {
    message_sum_rows_kernel<scalar_t, V, 8><<<blocks, kThreads, 0, stream>>>(xp, wp, sp, pp, rp, N, F, Nx, E, op);
  } else if (lanes == 16) {
    message_sum_rows_kernel<scalar_t, V, 16><<<blocks, kThreads, 0, stream>>>(xp, wp, sp, pp, rp, N, F, Nx, E, op);
  } else {
    message_sum_rows_kernel<scalar_t, V, 32><<<blocks, kThreads, 0, stream>>>(xp, wp, sp, pp, rp, N, F, Nx, E, op);
  }
}

template <typename scalar_t>
void launch_message_sum(const Tensor& x, const Tensor& w, const Tensor& src, const Tensor& perm, const Tensor& ptr,
                        Tensor& out) {
  const int64_t N = out.size(0), F = out.size(1), Nx = x.size(0), E = w.size(0);
  const auto stream = at::cuda::getCurrentCUDAStream();
  const scalar_t *xp = x.data_ptr<scalar_t>(), *wp = w.data_ptr<scalar_t>();
  scalar_t* op = out.data_ptr<scalar_t>();
  const int64_t *sp = src.data_ptr<int64_t>(), *pp = perm.data_ptr<int64_t>(), *rp = ptr.data_ptr<int64_t>();
  if (F < kWarp) {
    message_sum_elements_kernel<scalar_t><<<blocks_for(N * F), kThreads, 0, stream>>>(xp, wp, sp, pp, rp, N, F, Nx,
                                                                                        E, op);
  } else if (rows_are_vectorizable<scalar_t>(F, {xp, wp, op})) {
    constexpr int V = kVecWidth<scalar_t>;
    launch_rows<scalar_t, V>(group_lanes(F, V), xp, wp, sp, pp, rp, N, F, Nx, E, op, stream);
  } else {
    launch_rows<scalar_t, 1>(group_lanes(F, 1), xp, wp, sp, pp, rp, N, F, Nx, E, op, stream);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t>
void launch_edge_product(const Tensor& a, const Tensor& b, const Tensor& ia, const Tensor& ib, Tensor& out) {
  const int64_t E = out.size(0), F = out.size(1);
  const auto stream = at::cuda::getCurrentCUDAStream();
  const scalar_t *ap = a.data_ptr<scalar_t>(), *bp = b.data_ptr<scalar_t>();
  scalar_t* op = out.data_ptr<scalar_t>();
  const int64_t *ip = ia.data_ptr<int64_t>(), *jp = ib.data_ptr<int64_t>();
  if (rows_are_vectorizable<scalar_t>(F, {ap, bp, op})) {
    constexpr int V = kVecWidth<scalar_t>;
    edge_product_kernel<scalar_t, V><<<blocks_for(E * F / V), kThreads, 0, stream>>>(ap, bp, ip, jp, E, F, a.size(0),
                                                                                      b.size(0), op);
  } else {
    edge_product_kernel<scalar_t, 1><<<blocks_for(E * F), kThreads, 0, stream>>>(ap, bp, ip, jp, E, F, a.size(0),
                                                                                  b.size(0), op);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

Tensor message_sum_cuda(const Tensor& x_in, const Tensor& w_in, const Tensor& src_in, const Tensor& dst_in,
                        const Tensor& dst_perm_in, const Tensor& dst_ptr_in, const Tensor& src_perm,
                        const Tensor& src_ptr) {
  check_message_args(x_in, w_in, src_in, dst_in, dst_perm_in, dst_ptr_in, src_perm, src_ptr);
  const int64_t E = w_in.size(0), F = w_in.size(1), Nx = x_in.size(0);
  for (const Tensor* t : {&w_in, &src_in, &dst_in, &dst_perm_in, &dst_ptr_in}) check_same_device(x_in, *t, "x", "graph");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const Tensor x = x_in.contiguous(), w = w_in.contiguous(), src = src_in.contiguous();
  const Tensor perm = dst_perm_in.contiguous(), ptr = dst_ptr_in.contiguous();
  const int64_t N = num_segments(ptr);
  // The forward reads src, dst_perm and dst_ptr; dst is checked too, and that the layout agrees with it,
  // so that this kernel and the CPU's (which walks dst) sum the same edges in the same order.
  check_message_graph("geognn.message_sum", src, Nx, dst_in, perm, ptr, /*check_src=*/true);
  Tensor out = at::empty({N, F}, x.options());
  if (N * F == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "geognn_message_sum_cuda",
                                  [&] { launch_message_sum<scalar_t>(x, w, src, perm, ptr, out); });
  return out;
}

Tensor edge_product_cuda(const Tensor& a_in, const Tensor& b_in, const Tensor& ia_in, const Tensor& ib_in,
                         const Tensor& ia_perm, const Tensor& ia_ptr, const Tensor& ib_perm, const Tensor& ib_ptr) {
  check_edge_product_args(a_in, b_in, ia_in, ib_in, ia_perm, ia_ptr, ib_perm, ib_ptr);
  const int64_t E = ia_in.numel(), F = a_in.size(1);
  for (const Tensor* t : {&b_in, &ia_in, &ib_in}) check_same_device(a_in, *t, "a", "graph");
  const c10::cuda::CUDAGuard guard(a_in.device());
  const Tensor a = a_in.contiguous(), b = b_in.contiguous(), ia = ia_in.contiguous(), ib = ib_in.contiguous();
  check_indices("geognn.edge_product", {{ia, "ia", IndexRule::range(a.size(0)), "rows of a"},
                                        {ib, "ib", IndexRule::range(b.size(0)), "rows of b"}});
  Tensor out = at::empty({E, F}, a.options());
  if (E * F == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "geognn_edge_product_cuda",
                                  [&] { launch_edge_product<scalar_t>(a, b, ia, ib, out); });
  return out;
}

TORCH_LIBRARY_IMPL(geognn, CUDA, m) {
  m.impl("message_sum", &message_sum_cuda);
  m.impl("edge_product", &edge_product_cuda);
}

}  // namespace geognn
