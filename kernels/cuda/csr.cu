// CSR construction on the GPU without a host synchronisation: a stable radix
// sort of the row index (deterministic, unlike an atomic counting sort), then
// the row offsets by binary search of every row start in the sorted index.
// The index is validated once (geognn/validate.h); the permutation and offsets
// an op builds from a validated index are remembered as valid, so the kernels
// that read them later cost no host read.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <limits>

#include "geognn/ops.h"
#include "geognn/validate.h"
#include "launch.cuh"

namespace geognn {

std::tuple<Tensor, Tensor> build_csr_cuda(const Tensor& index, int64_t num_rows, bool checked) {
  const int64_t E = index.numel();
  // at::sort on CUDA refuses more than INT_MAX elements (its segmented radix sort counts in int).
  TORCH_CHECK_VALUE(E <= std::numeric_limits<int32_t>::max(), "geognn: a CSR layout on CUDA sorts at most 2^31 - 1 = ",
                    std::numeric_limits<int32_t>::max(), " entries, this index has ", E,
                    "; split the graph into smaller batches (or build it on the CPU)");
  // 32-bit keys halve the radix passes. An unchecked index is clamped first, so an
  // entry outside [0, num_rows) sorts before row 0 or after the last row: in no row.
  Tensor keys = index;
  if (num_rows < std::numeric_limits<int32_t>::max()) {
    keys = (checked ? index : index.clamp(-1, num_rows)).to(at::kInt);
  }
  auto sorted = at::sort(keys, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const Tensor& sorted_keys = std::get<0>(sorted);
  Tensor perm = std::get<1>(sorted);
  Tensor indptr = at::searchsorted(sorted_keys, at::arange(num_rows + 1, keys.options()), /*out_int32=*/false,
                                   /*right=*/false);
  if (checked) {
    remember_index(perm, 0, E - 1, false);
    remember_index(indptr, 0, E, true);
    remember_csr(index, perm, indptr);  // only where geognn owns `index` too (validate.h)
  }
  return {perm, indptr};
}

std::tuple<Tensor, Tensor> csr_cuda(const Tensor& index_in, int64_t num_rows) {
  check_index_vector(index_in, "index");
  TORCH_CHECK_VALUE(num_rows >= 0, "geognn.csr: num_rows must be >= 0, got ", num_rows);
  const c10::cuda::CUDAGuard guard(index_in.device());
  const Tensor index = index_in.contiguous();
  const bool checked = check_indices("geognn.csr", {{index, "index", IndexRule::range(num_rows), "rows"}});
  return build_csr_cuda(index, num_rows, checked);
}

TORCH_LIBRARY_IMPL(geognn, CUDA, m) { m.impl("csr", &csr_cuda); }

}  // namespace geognn
