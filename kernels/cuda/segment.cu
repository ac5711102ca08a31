// Segment reductions on the GPU, deterministic and with the Reducer arithmetic of
// the CPU kernels (geognn/reducer.h). Two layouts, chosen from the sizes alone:
//   - many segments: one thread per (segment, feature) walks the segment's rows in
//     CSR order (the CPU's order);
//   - few long segments (one large molecule's readout, F = 1): a block per
//     (segment, run of features) whose threads split the rows, each folding its
//     rows in order, then a fixed tree combines them. Sums are then added in
//     another (fixed) order than on the CPU; max/min pick the CPU's winner (the
//     first NaN, else the first position of the extreme value).
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

// What one thread of the long-segment kernel holds: a partial reduction of some of a
// segment's positions, and (max/min) the position that wins it, -1 while empty.
template <typename acc_t, ReduceKind R>
__device__ __forceinline__ void combine(acc_t& acc, int64_t& pos, acc_t other, int64_t other_pos) {
  if constexpr (R == ReduceKind::Sum || R == ReduceKind::Mean) {
    acc += other;
  } else {
    // Order-free form of the sequential rule: the first NaN wins, else the extreme value,
    // ties to the earlier position. Commutative and associative, so any tree gives the walk's answer.
    if (other_pos < 0) return;
    bool take;
    if (pos < 0) {
      take = true;
    } else {
      const bool nan = acc != acc, other_nan = other != other;
      if (nan || other_nan) {
        take = (nan && other_nan) ? other_pos < pos : other_nan;
      } else {
        const bool better = (R == ReduceKind::Max) ? other > acc : other < acc;
        const bool worse = (R == ReduceKind::Max) ? other < acc : other > acc;
        take = better || (!worse && other_pos < pos);
      }
    }
    if (take) acc = other, pos = other_pos;
  }
}

constexpr int kLongThreads = 256;  // threads per block of the long-segment kernels (a power of two)

// blockDim = (TF features, kLongThreads / TF row lanes), TF a power of two.
template <typename scalar_t, ReduceKind R>
__global__ void segment_reduce_long_kernel(const scalar_t* __restrict__ src, const int64_t* __restrict__ perm,
                                           const int64_t* __restrict__ ptr, int64_t N, int64_t F, int64_t rows,
                                           scalar_t* __restrict__ out, int64_t* __restrict__ arg) {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<acc_t, R>;
  __shared__ acc_t shared_acc[kLongThreads];
  __shared__ int64_t shared_pos[kLongThreads];
  const int tf = threadIdx.x, tr = threadIdx.y, TF = blockDim.x, TR = blockDim.y;
  const int slot = tr * TF + tf;
  const int64_t runs = (F + TF - 1) / TF;
  for (int64_t b = blockIdx.x; b < N * runs; b += gridDim.x) {  // uniform across the block
    const int64_t i = b / runs, f = (b - i * runs) * TF + tf;
    int64_t begin, end;
    row_bounds(ptr, i, rows, begin, end);
    acc_t acc = Red::init();
    int64_t pos = -1;
    if (f < F) {
      for (int64_t k = begin + tr; k < end; k += TR) {
        const int64_t row = perm ? perm[k] : k;
        if (!in_range(row, rows)) continue;
        combine<acc_t, R>(acc, pos, static_cast<acc_t>(src[row * F + f]), k);
      }
    }
    shared_acc[slot] = acc;
    shared_pos[slot] = pos;
    __syncthreads();
    for (int half = TR / 2; half > 0; half /= 2) {
      if (tr < half) {
        const int other = (tr + half) * TF + tf;
        combine<acc_t, R>(shared_acc[slot], shared_pos[slot], shared_acc[other], shared_pos[other]);
      }
      __syncthreads();
    }
    if (tr == 0 && f < F) {
      out[i * F + f] = static_cast<scalar_t>(Red::finalize(shared_acc[tf], end - begin));
      if constexpr (Red::kHasArg) {
        const int64_t won = shared_pos[tf];
        arg[i * F + f] = won < 0 ? -1 : (perm ? perm[won] : won);
      }
    }
    __syncthreads();  // the next segment reuses the shared arrays
  }
}

// Few long segments: a thread per (position, feature) finds its segment by binary search.
template <typename scalar_t>
__global__ void segment_broadcast_positions_kernel(const scalar_t* __restrict__ grad, const int64_t* __restrict__ perm,
                                                   const int64_t* __restrict__ ptr, int64_t N, int64_t F,
                                                   int64_t rows, bool mean, scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  GEOGNN_GRID_STRIDE(t, rows * F) {
    const int64_t k = t / F, f = t - k * F;
    int64_t lo = 0, hi = N;  // the last segment i with ptr[i] <= k: ptr[lo] <= k < ptr[hi] while valid
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (ptr[mid] <= k) lo = mid; else hi = mid;
    }
    int64_t begin, end;
    row_bounds(ptr, lo, rows, begin, end);
    if (k < begin || k >= end) continue;  // malformed offsets: a position in no segment
    const int64_t row = perm ? perm[k] : k;
    if (!in_range(row, rows)) continue;
    out[row * F + f] = static_cast<scalar_t>(static_cast<acc_t>(grad[lo * F + f]) *
                                             broadcast_scale<acc_t>(mean, end - begin));
  }
}

// Long segments get the block layout when they are few: N * F output elements could not fill
// the device with one thread each, and the average segment is long enough to split.
bool use_long_layout(int64_t N, int64_t F, int64_t rows) { return N * F < 65536 && rows >= 64 * N; }

// Features per block of the long layout: a power of two up to 32, the row lanes take the rest.
int long_layout_features(int64_t F) {
  int tf = 1;
  while (tf < 32 && tf < F) tf *= 2;
  return tf;
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
  const bool long_layout = use_long_layout(N, F, rows);
  const int tf = long_layout_features(F);
  const int64_t long_blocks = std::min<int64_t>(N * ((F + tf - 1) / tf), int64_t(1) << 20);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "geognn_segment_reduce_cuda", [&] {
    GEOGNN_DISPATCH_REDUCE(kind, [&] {
      const scalar_t* s = src.data_ptr<scalar_t>();
      const int64_t* p = perm ? perm_c.data_ptr<int64_t>() : nullptr;
      int64_t* a = has_arg ? arg.data_ptr<int64_t>() : nullptr;
      if (long_layout) {
        segment_reduce_long_kernel<scalar_t, kReduce><<<long_blocks, dim3(tf, kLongThreads / tf), 0, stream>>>(
            s, p, indptr.data_ptr<int64_t>(), N, F, rows, out.data_ptr<scalar_t>(), a);
      } else {
        segment_reduce_kernel<scalar_t, kReduce><<<blocks_for(N * F), kThreads, 0, stream>>>(
            s, p, indptr.data_ptr<int64_t>(), N, F, rows, out.data_ptr<scalar_t>(), a);
      }
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
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const int64_t* p = perm ? perm_c.data_ptr<int64_t>() : nullptr;
    if (use_long_layout(N, F, num_rows)) {
      segment_broadcast_positions_kernel<scalar_t><<<blocks_for(num_rows * F), kThreads, 0, stream>>>(
          g, p, indptr.data_ptr<int64_t>(), N, F, num_rows, mean, out.data_ptr<scalar_t>());
    } else {
      segment_broadcast_kernel<scalar_t><<<blocks_for(N * F), kThreads, 0, stream>>>(
          g, p, indptr.data_ptr<int64_t>(), N, F, num_rows, mean, out.data_ptr<scalar_t>());
    }
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
