// CSR construction on the CPU: a stable counting sort of a row index.
// O(E + N), deterministic, and the only place the CPU path looks at raw
// indices, so the range check lives here and costs nothing extra.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "geognn/ops.h"
#include "geognn/validate.h"

namespace geognn {

std::tuple<Tensor, Tensor> csr_cpu(const Tensor& index_in, int64_t num_rows) {
  check_index_vector(index_in, "index");
  TORCH_CHECK_VALUE(num_rows >= 0, "geognn.csr: num_rows must be >= 0, got ", num_rows);
  const Tensor index = index_in.contiguous();
  const int64_t E = index.numel();
  Tensor indptr = at::zeros({num_rows + 1}, index.options());
  Tensor perm = at::empty({E}, index.options());
  const int64_t* idx = index.data_ptr<int64_t>();
  int64_t* ptr = indptr.data_ptr<int64_t>();
  int64_t* out = perm.data_ptr<int64_t>();

  for (int64_t e = 0; e < E; ++e) {
    const int64_t v = idx[e];
    TORCH_CHECK_INDEX(v >= 0 && v < num_rows, "geognn: index value ", v, " at position ", e,
                      " is out of range for ", num_rows, " rows (valid: 0..", num_rows - 1, ")");
    ++ptr[v + 1];
  }
  for (int64_t i = 0; i < num_rows; ++i) ptr[i + 1] += ptr[i];
  std::vector<int64_t> cursor(ptr, ptr + num_rows);
  for (int64_t e = 0; e < E; ++e) out[cursor[idx[e]]++] = e;
  // Made here and valid: the ops that read them need not look again, and message_sum need not
  // check that they agree with `index` when geognn owns that too (validate.h).
  remember_index(perm, 0, E - 1, false);
  remember_index(indptr, 0, E, true);
  remember_csr(index, perm, indptr);
  return {perm, indptr};
}

TORCH_LIBRARY_IMPL(geognn, CPU, m) { m.impl("csr", &csr_cpu); }

}  // namespace geognn
