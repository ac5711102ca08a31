// Scatter reductions of unsorted rows on the CPU, by "owner computes": each
// thread owns a contiguous block of output rows, scans the index once and
// reduces only the entries that land in its block. Every output element is
// still reduced by one thread in input order, so the result is deterministic
// (and independent of the thread count) without atomics or a sort; the source
// rows are read in order, which is what makes this faster than gathering them
// through a CSR permutation when the index is random.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "geognn/ops.h"

namespace geognn {
namespace {

template <typename scalar_t, ReduceKind R>
void scatter_reduce_kernel(const scalar_t* src, const int64_t* idx, int64_t E, int64_t N, int64_t F, scalar_t* out,
                           int64_t* arg) {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<acc_t, R>;
  // One block of rows per thread; small problems stay on one thread.
  const int64_t blocks = (E * F < (1 << 16)) ? 1 : std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), N));
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t lo = N * b / blocks, hi = N * (b + 1) / blocks;
      // Accumulate in the output itself when it already has the accumulation type.
      std::vector<acc_t> scratch(std::is_same_v<acc_t, scalar_t> ? 0 : (hi - lo) * F);
      acc_t* acc = std::is_same_v<acc_t, scalar_t> ? reinterpret_cast<acc_t*>(out + lo * F) : scratch.data();
      std::vector<int64_t> count(hi - lo, 0);
      std::vector<int64_t> won(Red::kHasArg ? 0 : F);  // arg sink for sum/mean
      std::fill(acc, acc + (hi - lo) * F, Red::init());
      if constexpr (Red::kHasArg) std::fill(arg + lo * F, arg + hi * F, int64_t(-1));
      for (int64_t e = 0; e < E; ++e) {
        const int64_t v = idx[e];
        if (v < lo || v >= hi) {
          TORCH_CHECK_INDEX(v >= 0 && v < N, "geognn: index value ", v, " at position ", e, " is out of range for ",
                            N, " rows (valid: 0..", N - 1, ")");
          continue;
        }
        const scalar_t* s = src + e * F;
        acc_t* a = acc + (v - lo) * F;
        int64_t* w = Red::kHasArg ? arg + v * F : won.data();
        for (int64_t f = 0; f < F; ++f) Red::update(a[f], w[f], static_cast<acc_t>(s[f]), e);
        ++count[v - lo];
      }
      for (int64_t r = 0; r < hi - lo; ++r) {
        for (int64_t f = 0; f < F; ++f)
          out[(lo + r) * F + f] = static_cast<scalar_t>(Red::finalize(acc[r * F + f], count[r]));
      }
    }
  });
}

}  // namespace

std::tuple<Tensor, Tensor> scatter_reduce_cpu(const Tensor& src_in, const Tensor& index_in, int64_t num_rows,
                                              c10::string_view reduce_sv) {
  check_values(src_in, "src");
  check_index_vector(index_in, "index");
  TORCH_CHECK_VALUE(index_in.numel() == src_in.size(0), "geognn: index has ", index_in.numel(),
                    " entries but src has ", src_in.size(0), " rows");
  TORCH_CHECK_VALUE(num_rows >= 0, "geognn: num_rows must be >= 0, got ", num_rows);
  const ReduceKind kind = parse_reduce(std::string(reduce_sv));
  const Tensor src = src_in.contiguous(), index = index_in.contiguous();
  const int64_t E = src.size(0), F = src.size(1), N = num_rows;
  const bool has_arg = kind == ReduceKind::Max || kind == ReduceKind::Min;
  Tensor out = at::empty({N, F}, src.options());
  Tensor arg = at::empty({has_arg ? N : 0, has_arg ? F : 0}, index.options());
  if (N == 0 || F == 0) {
    // Nothing to write, but an index that points nowhere is still an error.
    const int64_t* idx = index.data_ptr<int64_t>();
    for (int64_t e = 0; e < E; ++e)
      TORCH_CHECK_INDEX(idx[e] >= 0 && idx[e] < N, "geognn: index value ", idx[e], " at position ", e,
                        " is out of range for ", N, " rows");
    return {out, arg};
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "geognn_scatter_reduce", [&] {
    GEOGNN_DISPATCH_REDUCE(kind, [&] {
      scatter_reduce_kernel<scalar_t, kReduce>(src.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), E, N, F,
                                               out.data_ptr<scalar_t>(), has_arg ? arg.data_ptr<int64_t>() : nullptr);
    });
  });
  return {out, arg};
}

TORCH_LIBRARY_IMPL(geognn, CPU, m) { m.impl("scatter_reduce", &scatter_reduce_cpu); }

}  // namespace geognn
