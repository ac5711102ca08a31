// Scatter reductions of unsorted rows on the GPU: a stable sort into CSR, then
// the segment kernel. Deterministic (no atomics), same Reducer arithmetic.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "geognn/ops.h"

namespace geognn {

std::tuple<Tensor, Tensor> scatter_reduce_cuda(const Tensor& src, const Tensor& index, int64_t num_rows,
                                               c10::string_view reduce) {
  check_values(src, "src");
  check_index_vector(index, "index");
  check_same_device(src, index, "src", "index");
  TORCH_CHECK_VALUE(index.numel() == src.size(0), "geognn: index has ", index.numel(), " entries but src has ",
                    src.size(0), " rows");
  const auto [perm, indptr] = csr_cuda(index, num_rows);
  return segment_reduce_cuda(src, perm, indptr, reduce);
}

TORCH_LIBRARY_IMPL(geognn, CUDA, m) { m.impl("scatter_reduce", &scatter_reduce_cuda); }

}  // namespace geognn
