// Argument checks and error messages of geognn::coulomb_matrix, one copy for
// the CPU and CUDA kernels. The value checks run as ATen ops, so they work on
// either device and cost the GPU one synchronisation.
#include "geognn/coulomb_args.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "geognn/ops.h"

namespace geognn {

using coulomb::Order;

namespace {

Order parse_coulomb_order(c10::string_view permutation) {
  if (permutation == "none") return Order::None;
  if (permutation == "sorted_l2") return Order::SortedL2;
  if (permutation == "random") return Order::Random;
  if (permutation == "sorted_canonical") return Order::Canonical;
  TORCH_CHECK_VALUE(false, "geognn.coulomb_matrix: permutation must be 'none', 'sorted_l2', 'random' or "
                    "'sorted_canonical', got '", std::string(permutation), "'");
  return Order::None;
}

void check_coulomb_args(const at::Tensor& z, const at::Tensor& pos, const at::Tensor& ptr, const at::Tensor& diagonal,
                        const std::optional<at::Tensor>& noise, int64_t n_atoms_max, Order order,
                        double distance_scale, at::ScalarType dtype) {
  check_index_vector(z, "z");
  check_index_vector(ptr, "ptr");
  TORCH_CHECK_VALUE(pos.dim() == 2 && pos.size(1) == 3 && pos.size(0) == z.size(0),
                    "geognn.coulomb_matrix: pos must be (N, 3) with N = ", z.size(0), ", got ", pos.sizes());
  TORCH_CHECK_VALUE(pos.scalar_type() == at::kFloat || pos.scalar_type() == at::kDouble,
                    "geognn.coulomb_matrix: pos must be float32 or float64, got ", pos.scalar_type());
  TORCH_CHECK_VALUE(dtype == at::kFloat || dtype == at::kDouble,
                    "geognn.coulomb_matrix: dtype must be float32 or float64, got ", dtype);
  TORCH_CHECK_VALUE(diagonal.dim() == 1 && diagonal.size(0) == 119 && diagonal.scalar_type() == pos.scalar_type(),
                    "geognn.coulomb_matrix: diagonal must be (119,) in pos's dtype");
  TORCH_CHECK_VALUE(n_atoms_max >= 1 && n_atoms_max < (int64_t(1) << 31),
                    "geognn.coulomb_matrix: n_atoms_max must be in 1..2^31-1, got ", n_atoms_max);
  TORCH_CHECK_VALUE(ptr.size(0) >= 1, "geognn.coulomb_matrix: ptr must hold at least one offset");
  TORCH_CHECK_VALUE(distance_scale > 0, "geognn.coulomb_matrix: distance_scale must be positive");
  TORCH_CHECK_VALUE((order == Order::Random) == noise.has_value(),
                    "geognn.coulomb_matrix: noise is needed by, and only by, permutation='random'");
  check_same_device(pos, z, "pos", "z");
  check_same_device(pos, ptr, "pos", "ptr");
  check_same_device(pos, diagonal, "pos", "diagonal");
  if (noise.has_value()) {
    TORCH_CHECK_VALUE(noise->dim() == 1 && noise->size(0) == z.size(0) && noise->scalar_type() == pos.scalar_type(),
                      "geognn.coulomb_matrix: noise must be (N,) in pos's dtype");
    check_same_device(pos, *noise, "pos", "noise");
  }
}

void check_coulomb_values(const at::Tensor& z, const at::Tensor& ptr, int64_t n_atoms_max) {
  const int64_t B = ptr.size(0) - 1, N = z.size(0);
  const at::Tensor sizes = ptr.narrow(0, 1, B) - ptr.narrow(0, 0, B);
  std::vector<at::Tensor> parts{ptr.narrow(0, 0, 1), ptr.narrow(0, B, 1)};
  if (B > 0) {
    const auto [low, high] = at::aminmax(sizes);
    parts.push_back(low.view({1}));
    parts.push_back(high.view({1}));
  }
  if (N > 0) {
    const auto [low, high] = at::aminmax(z);
    parts.push_back(low.view({1}));
    parts.push_back(high.view({1}));
  }
  const at::Tensor summary = at::cat(parts).cpu();
  const int64_t* s = summary.data_ptr<int64_t>();
  TORCH_CHECK_VALUE(s[0] == 0 && s[1] == N, "geognn.coulomb_matrix: ptr must run from 0 to N = ", N);
  if (B > 0 && (s[2] < 0 || s[3] > n_atoms_max)) {
    const int64_t b = ((sizes < 0) | (sizes > n_atoms_max)).nonzero().select(1, 0)[0].item<int64_t>();
    const int64_t m = sizes[b].item<int64_t>();
    TORCH_CHECK_VALUE(m >= 0, "geognn.coulomb_matrix: ptr must be non-decreasing (molecule ", b, ")");
    TORCH_CHECK_VALUE(false, "molecule ", b, " has ", m, " atoms, more than n_atoms_max=", n_atoms_max);
  }
  const int64_t* zs = s + (B > 0 ? 4 : 2);
  if (N > 0 && (zs[0] < 1 || zs[1] > 118)) {
    const int64_t a = ((z < 1) | (z > 118)).nonzero().select(1, 0)[0].item<int64_t>();
    TORCH_CHECK_VALUE(false, "atomic number ", z[a].item<int64_t>(), " at atom index ", a, " is not in 1..118");
  }
}

}  // namespace

CoulombCall prepare_coulomb_call(const at::Tensor& z, const at::Tensor& pos, const at::Tensor& ptr,
                                 const at::Tensor& diagonal, const std::optional<at::Tensor>& noise,
                                 int64_t n_atoms_max, c10::string_view permutation, double distance_scale,
                                 bool flatten, at::ScalarType dtype) {
  CoulombCall call;
  call.order = parse_coulomb_order(permutation);
  check_coulomb_args(z, pos, ptr, diagonal, noise, n_atoms_max, call.order, distance_scale, dtype);
  call.z = z.contiguous();
  call.pos = pos.contiguous();
  call.ptr = ptr.contiguous();
  call.diagonal = diagonal.contiguous();
  check_coulomb_values(call.z, call.ptr, n_atoms_max);
  if (noise.has_value()) call.noise = noise->contiguous();
  const int64_t B = call.ptr.size(0) - 1, n = n_atoms_max;
  call.num_molecules = B;
  call.width = flatten ? n * (n + 1) / 2 : n * n;
  const auto options = call.pos.options().dtype(dtype);
  call.out = flatten ? at::empty({B, call.width}, options) : at::empty({B, n, n}, options);
  return call;
}

void raise_bad_molecule(int32_t status, int64_t molecule, const at::Tensor& pos_of_molecule, double distance_scale) {
  const at::Tensor pos = pos_of_molecule.to(at::kCPU, at::kDouble).contiguous();
  const int64_t m = pos.size(0);
  const double* p = pos.data_ptr<double>();
  std::ostringstream msg;
  msg << "molecule " << molecule << ": ";
  if (status == coulomb::kSearchLimit) {
    msg << "the canonical order did not settle within " << coulomb::kMaxLeaves
        << " search leaves (are atoms closer to each other than the tie tolerance?)";
    C10_THROW_ERROR(ValueError, msg.str());
  }
  for (int64_t a = 0; a < m; ++a) {
    if (!std::isfinite(p[3 * a]) || !std::isfinite(p[3 * a + 1]) || !std::isfinite(p[3 * a + 2])) {
      msg << "atom " << a << " has a non-finite position [" << p[3 * a] << ", " << p[3 * a + 1] << ", "
          << p[3 * a + 2] << "]";
      C10_THROW_ERROR(ValueError, msg.str());
    }
  }
  int64_t i = -1, j = -1;
  double closest = INFINITY;
  for (int64_t a = 0; a < m; ++a)
    for (int64_t b = a + 1; b < m; ++b) {
      const double dx = p[3 * a] - p[3 * b], dy = p[3 * a + 1] - p[3 * b + 1], dz = p[3 * a + 2] - p[3 * b + 2];
      const double r = std::sqrt(dx * dx + dy * dy + dz * dz) / distance_scale;
      if (r < closest) closest = r, i = a, j = b;
    }
  if (closest == 0.0) {
    msg << "atoms " << i << " and " << j
        << " are at the same position; the Coulomb matrix entry Z_i Z_j / r would be infinite";
  } else {
    msg << "atoms " << i << " and " << j << " are " << closest
        << " apart; the Coulomb matrix entry Z_i Z_j / r overflows";
  }
  C10_THROW_ERROR(ValueError, msg.str());
}

}  // namespace geognn
