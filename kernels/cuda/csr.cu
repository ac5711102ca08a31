// CSR construction on the GPU: a stable sort (deterministic, unlike an
// atomic counting sort) plus a histogram for the row offsets.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "geognn/ops.h"
#include "launch.cuh"

namespace geognn {

std::tuple<Tensor, Tensor> csr_cuda(const Tensor& index_in, int64_t num_rows) {
  check_index_vector(index_in, "index");
  TORCH_CHECK_VALUE(num_rows >= 0, "geognn.csr: num_rows must be >= 0, got ", num_rows);
  const c10::cuda::CUDAGuard guard(index_in.device());
  const Tensor index = index_in.contiguous();
  if (index.numel() > 0) {
    const auto [lo, hi] = at::aminmax(index);
    const int64_t lo_v = lo.item<int64_t>(), hi_v = hi.item<int64_t>();
    TORCH_CHECK_INDEX(lo_v >= 0 && hi_v < num_rows, "geognn: index values must lie in [0, ", num_rows,
                      "), found min ", lo_v, " and max ", hi_v);
  }
  Tensor perm = std::get<1>(at::sort(index, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  Tensor indptr = at::zeros({num_rows + 1}, index.options());
  if (num_rows > 0) indptr.narrow(0, 1, num_rows).copy_(at::cumsum(at::bincount(index, {}, num_rows), 0));
  return {perm, indptr};
}

TORCH_LIBRARY_IMPL(geognn, CUDA, m) { m.impl("csr", &csr_cuda); }

}  // namespace geognn
