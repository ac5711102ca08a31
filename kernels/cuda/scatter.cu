// Scatter reductions of unsorted rows on the GPU: a stable sort into CSR, then
// the segment kernel. Deterministic (no atomics), same Reducer arithmetic.
// The index is validated once per tensor (geognn/validate.h): a readout's
// batch vector checked with the graph costs no host read here.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "geognn/ops.h"
#include "geognn/validate.h"
#include "launch.cuh"

namespace geognn {

std::tuple<Tensor, Tensor> scatter_reduce_cuda(const Tensor& src, const Tensor& index_in, int64_t num_rows,
                                               c10::string_view reduce) {
  check_values(src, "src");
  check_index_vector(index_in, "index");
  check_same_device(src, index_in, "src", "index");
  TORCH_CHECK_VALUE(index_in.numel() == src.size(0), "geognn: index has ", index_in.numel(), " entries but src has ",
                    src.size(0), " rows");
  TORCH_CHECK_VALUE(num_rows >= 0, "geognn: num_rows must be >= 0, got ", num_rows);
  const ReduceKind kind = parse_reduce(std::string(reduce));
  const c10::cuda::CUDAGuard guard(src.device());
  const Tensor index = index_in.contiguous();
  const bool checked =
      check_indices("geognn.scatter_reduce", {{index, "index", IndexRule::range(num_rows), "rows"}});
  const auto [perm, indptr] = build_csr_cuda(index, num_rows, checked);
  return launch_segment_reduce_cuda(src, perm, indptr, kind, checked);
}

TORCH_LIBRARY_IMPL(geognn, CUDA, m) { m.impl("scatter_reduce", &scatter_reduce_cuda); }

}  // namespace geognn
