// Segment reductions on the CPU over CSR rows, optionally through a
// permutation (scatter = counting sort + segment). Parallel over output rows,
// so every output element is written by one thread: no atomics, and the
// result does not depend on the thread count.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "geognn/ops.h"
#include "parallel.h"

namespace geognn {
namespace {

// indptr must be a valid CSR offset vector over `rows` source rows.
void check_indptr_values(const Tensor& indptr, int64_t rows) {
  const int64_t* p = indptr.data_ptr<int64_t>();
  const int64_t n = indptr.numel();
  TORCH_CHECK_VALUE(n >= 1, "geognn: indptr must hold at least one entry (num_segments + 1)");
  TORCH_CHECK_INDEX(p[0] == 0, "geognn: indptr[0] must be 0, got ", p[0]);
  for (int64_t i = 1; i < n; ++i) {
    TORCH_CHECK_INDEX(p[i] >= p[i - 1], "geognn: indptr must be non-decreasing, but indptr[", i, "] = ", p[i],
                      " < indptr[", i - 1, "] = ", p[i - 1]);
  }
  TORCH_CHECK_INDEX(p[n - 1] == rows, "geognn: indptr[-1] = ", p[n - 1], " must equal the number of source rows (",
                    rows, ")");
}

template <typename scalar_t, ReduceKind R>
void segment_reduce_kernel(const scalar_t* src, const int64_t* perm, const int64_t* ptr, int64_t N, int64_t F,
                           int64_t rows, scalar_t* out, int64_t* arg) {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<acc_t, R>;
  at::parallel_for(0, N, row_grain(N, rows * F), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(F);
    std::vector<int64_t> won(Red::kHasArg ? F : 0);
    int64_t unused_arg = 0;
    for (int64_t i = begin; i < end; ++i) {
      std::fill(acc.begin(), acc.end(), Red::init());
      std::fill(won.begin(), won.end(), int64_t(-1));
      for (int64_t k = ptr[i]; k < ptr[i + 1]; ++k) {
        const int64_t row = perm ? perm[k] : k;
        TORCH_CHECK_INDEX(row >= 0 && row < rows, "geognn: perm[", k, "] = ", row, " is out of range");
        const scalar_t* s = src + row * F;
        if constexpr (Red::kHasArg) {
          for (int64_t f = 0; f < F; ++f) Red::update(acc[f], won[f], static_cast<acc_t>(s[f]), row);
        } else {
          for (int64_t f = 0; f < F; ++f) Red::update(acc[f], unused_arg, static_cast<acc_t>(s[f]), row);
        }
      }
      const int64_t count = ptr[i + 1] - ptr[i];
      for (int64_t f = 0; f < F; ++f) out[i * F + f] = static_cast<scalar_t>(Red::finalize(acc[f], count));
      if constexpr (Red::kHasArg) std::copy(won.begin(), won.end(), arg + i * F);
    }
  });
}

}  // namespace

std::tuple<Tensor, Tensor> segment_reduce_cpu(const Tensor& src_in, const std::optional<Tensor>& perm_in,
                                              const Tensor& indptr_in, c10::string_view reduce_sv) {
  check_values(src_in, "src");
  check_index_vector(indptr_in, "indptr");
  const std::string reduce(reduce_sv);
  const ReduceKind kind = parse_reduce(reduce);
  const Tensor src = src_in.contiguous();
  const Tensor indptr = indptr_in.contiguous();
  const int64_t rows = src.size(0), F = src.size(1), N = num_segments(indptr);
  check_perm(perm_in, rows);
  check_indptr_values(indptr, rows);
  const std::optional<Tensor> perm = perm_in.has_value() ? std::optional<Tensor>(perm_in->contiguous()) : std::nullopt;

  Tensor out = at::empty({N, F}, src.options());
  const bool has_arg = kind == ReduceKind::Max || kind == ReduceKind::Min;
  Tensor arg = at::empty({has_arg ? N : 0, has_arg ? F : 0}, indptr.options());
  if (N == 0 || F == 0) return {out, arg};

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "geognn_segment_reduce", [&] {
    GEOGNN_DISPATCH_REDUCE(kind, [&] {
      segment_reduce_kernel<scalar_t, kReduce>(src.data_ptr<scalar_t>(), perm ? perm->data_ptr<int64_t>() : nullptr,
                                               indptr.data_ptr<int64_t>(), N, F, rows, out.data_ptr<scalar_t>(),
                                               has_arg ? arg.data_ptr<int64_t>() : nullptr);
    });
  });
  return {out, arg};
}

// out[perm[k]] = grad[i] (divided by the segment size for mean) for every k in
// segment i: the backward of a segment sum/mean, itself linear.
Tensor segment_broadcast_cpu(const Tensor& grad_in, const std::optional<Tensor>& perm_in, const Tensor& indptr_in,
                             int64_t num_rows, bool mean) {
  check_values(grad_in, "grad");
  check_index_vector(indptr_in, "indptr");
  const Tensor grad = grad_in.contiguous();
  const Tensor indptr = indptr_in.contiguous();
  const int64_t N = num_segments(indptr), F = grad.size(1);
  TORCH_CHECK_VALUE(grad.size(0) == N, "geognn: grad has ", grad.size(0), " rows for ", N, " segments");
  check_perm(perm_in, num_rows);
  check_indptr_values(indptr, num_rows);
  const std::optional<Tensor> perm = perm_in.has_value() ? std::optional<Tensor>(perm_in->contiguous()) : std::nullopt;
  Tensor out = at::empty({num_rows, F}, grad.options());
  if (num_rows == 0 || F == 0) return out;

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "geognn_segment_broadcast", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const int64_t* p = indptr.data_ptr<int64_t>();
    const int64_t* pm = perm ? perm->data_ptr<int64_t>() : nullptr;
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, N, row_grain(N, num_rows * F), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const acc_t scale = broadcast_scale<acc_t>(mean, p[i + 1] - p[i]);
        for (int64_t k = p[i]; k < p[i + 1]; ++k) {
          const int64_t row = pm ? pm[k] : k;
          TORCH_CHECK_INDEX(row >= 0 && row < num_rows, "geognn: perm[", k, "] = ", row, " is out of range");
          for (int64_t f = 0; f < F; ++f) o[row * F + f] = static_cast<scalar_t>(static_cast<acc_t>(g[i * F + f]) * scale);
        }
      }
    });
  });
  return out;
}

// out[arg[i, f], f] = grad[i, f]: the backward of a segment max/min. Each
// source element wins at most one output element, so writes never collide.
Tensor arg_scatter_cpu(const Tensor& grad_in, const Tensor& arg_in, int64_t num_rows) {
  check_values(grad_in, "grad");
  TORCH_CHECK_VALUE(arg_in.scalar_type() == at::kLong && arg_in.sizes() == grad_in.sizes(),
                    "geognn: arg must be int64 with the shape of grad ", grad_in.sizes(), ", got ", arg_in.sizes());
  const Tensor grad = grad_in.contiguous();
  const Tensor arg = arg_in.contiguous();
  const int64_t N = grad.size(0), F = grad.size(1);
  Tensor out = at::zeros({num_rows, F}, grad.options());
  if (N == 0 || F == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "geognn_arg_scatter", [&] {
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const int64_t* a = arg.data_ptr<int64_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, N, row_grain(N, N * F), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t f = 0; f < F; ++f) {
          const int64_t row = a[i * F + f];
          if (row < 0) continue;  // empty segment: nothing to route
          TORCH_CHECK_INDEX(row < num_rows, "geognn: arg[", i, ", ", f, "] = ", row, " is out of range");
          o[row * F + f] = g[i * F + f];
        }
      }
    });
  });
  return out;
}

TORCH_LIBRARY_IMPL(geognn, CPU, m) {
  m.impl("segment_reduce", &segment_reduce_cpu);
  m.impl("segment_broadcast", &segment_broadcast_cpu);
  m.impl("arg_scatter", &arg_scatter_cpu);
}

}  // namespace geognn
