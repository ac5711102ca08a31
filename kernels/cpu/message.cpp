// Fused continuous-filter message passing on the CPU.
//   message_sum:  out[i] = sum_{e: dst[e] = i} x[src[e]] * w[e]
//   edge_product: out[e] = a[ia[e]] * b[ib[e]]
// Neither materialises an E x F message tensor except edge_product's output,
// which is the gradient of the filter w. Both are deterministic and
// atomic-free: each output row is written by one thread.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "geognn/ops.h"
#include "parallel.h"

namespace geognn {
namespace {

// Owner computes: each thread owns a block of destination rows, scans the
// edges in order and accumulates those landing in its block. Filters are read
// in edge order (no random row gathers through a permutation, which is what
// costs on a random graph), every output row sums its edges in edge order
// (the same order as a stable CSR walk: deterministic for any thread count),
// and no thread writes another's rows, so there are no atomics.
template <typename scalar_t>
void message_sum_kernel(const scalar_t* x, const scalar_t* w, const int64_t* src, const int64_t* dst, int64_t N,
                        int64_t Nx, int64_t E, int64_t F, scalar_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr bool kInPlace = std::is_same_v<acc_t, scalar_t>;
  const int64_t blocks = (E * F < (1 << 16)) ? 1 : std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), N));
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t lo = N * b / blocks, hi = N * (b + 1) / blocks;
      std::vector<acc_t> scratch(kInPlace ? 0 : (hi - lo) * F);
      acc_t* acc = kInPlace ? reinterpret_cast<acc_t*>(out + lo * F) : scratch.data();
      std::fill(acc, acc + (hi - lo) * F, acc_t(0));
      for (int64_t e = 0; e < E; ++e) {
        const int64_t i = dst[e];
        if (i < lo || i >= hi) {
          TORCH_CHECK_INDEX(i >= 0 && i < N, "geognn: destination node ", i, " of edge ", e, " is out of range for ",
                            N, " nodes");
          continue;
        }
        const int64_t j = src[e];
        TORCH_CHECK_INDEX(j >= 0 && j < Nx, "geognn: source node ", j, " of edge ", e, " is out of range for ", Nx,
                          " nodes");
        const scalar_t* xj = x + j * F;
        const scalar_t* we = w + e * F;
        acc_t* ai = acc + (i - lo) * F;
        for (int64_t f = 0; f < F; ++f)
          FilterProduct<acc_t>::accumulate(ai[f], static_cast<acc_t>(xj[f]), static_cast<acc_t>(we[f]));
      }
      if constexpr (!kInPlace) {
        for (int64_t k = 0; k < (hi - lo) * F; ++k) out[lo * F + k] = static_cast<scalar_t>(acc[k]);
      }
    }
  });
}

}  // namespace

Tensor message_sum_cpu(const Tensor& x_in, const Tensor& w_in, const Tensor& src_in, const Tensor& dst_in,
                       const Tensor& dst_perm_in, const Tensor& dst_ptr_in, const Tensor& src_perm,
                       const Tensor& src_ptr) {
  check_message_args(x_in, w_in, src_in, dst_in, dst_perm_in, dst_ptr_in, src_perm, src_ptr);
  const int64_t E = w_in.size(0), F = w_in.size(1), Nx = x_in.size(0);
  // The CPU kernel walks edges in order and needs no CSR permutation, the CUDA kernel walks the
  // permutation: both sum each destination's edges in the same order once the layout is known to
  // agree with dst (checked here, unless geognn built it from dst).
  const Tensor x = x_in.contiguous(), w = w_in.contiguous(), src = src_in.contiguous(), dst = dst_in.contiguous();
  const int64_t N = num_segments(dst_ptr_in);
  check_message_graph("geognn.message_sum", src, Nx, dst, dst_perm_in, dst_ptr_in, /*check_src=*/false);
  Tensor out = at::empty({N, F}, x.options());
  if (N == 0 || F == 0) {
    TORCH_CHECK_INDEX(E == 0 || N > 0, "geognn: ", E, " edges but no destination nodes");
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "geognn_message_sum", [&] {
    message_sum_kernel<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), src.data_ptr<int64_t>(),
                                 dst.data_ptr<int64_t>(), N, Nx, E, F, out.data_ptr<scalar_t>());
  });
  return out;
}

Tensor edge_product_cpu(const Tensor& a_in, const Tensor& b_in, const Tensor& ia_in, const Tensor& ib_in,
                        const Tensor& ia_perm, const Tensor& ia_ptr, const Tensor& ib_perm, const Tensor& ib_ptr) {
  check_edge_product_args(a_in, b_in, ia_in, ib_in, ia_perm, ia_ptr, ib_perm, ib_ptr);
  const int64_t E = ia_in.numel(), F = a_in.size(1), Na = a_in.size(0), Nb = b_in.size(0);
  const Tensor a = a_in.contiguous(), b = b_in.contiguous(), ia = ia_in.contiguous(), ib = ib_in.contiguous();
  Tensor out = at::empty({E, F}, a.options());
  if (E == 0 || F == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "geognn_edge_product", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.data_ptr<scalar_t>();
    const int64_t* pia = ia.data_ptr<int64_t>();
    const int64_t* pib = ib.data_ptr<int64_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, E, row_grain(E, E * F), [&](int64_t begin, int64_t end) {
      for (int64_t e = begin; e < end; ++e) {
        const int64_t i = pia[e], j = pib[e];
        TORCH_CHECK_INDEX(i >= 0 && i < Na && j >= 0 && j < Nb, "geognn: edge ", e, " joins ", i, " and ", j,
                          ", out of range for ", Na, " x ", Nb, " nodes");
        const scalar_t* ai = pa + i * F;
        const scalar_t* bj = pb + j * F;
        scalar_t* oe = o + e * F;
        for (int64_t f = 0; f < F; ++f)
          oe[f] = static_cast<scalar_t>(
              FilterProduct<acc_t>::product(static_cast<acc_t>(ai[f]), static_cast<acc_t>(bj[f])));
      }
    });
  });
  return out;
}

TORCH_LIBRARY_IMPL(geognn, CPU, m) {
  m.impl("message_sum", &message_sum_cpu);
  m.impl("edge_product", &edge_product_cpu);
}

}  // namespace geognn
