// Coulomb matrices of many small molecules on the CPU, one molecule per task.
//
// The pure-PyTorch path in geognn/featurize/coulomb.py is the reference (and
// the GPU path); this kernel exists because a QM9 molecule has ~18 atoms, so
// torch's per-op overhead, not arithmetic, bounds the tensor version. Here
// each molecule is built, sorted and written in one pass over a buffer that
// stays in L1, and every output entry (padding included) is written once.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <sstream>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "geognn/ops.h"

namespace geognn {
namespace {

enum class Order { None, SortedL2, Random };

Order parse_order(c10::string_view permutation) {
  if (permutation == "none") return Order::None;
  if (permutation == "sorted_l2") return Order::SortedL2;
  if (permutation == "random") return Order::Random;
  TORCH_CHECK_VALUE(false, "geognn.coulomb_matrix: permutation must be 'none', 'sorted_l2' or 'random', got '",
                    std::string(permutation), "'");
  return Order::None;
}

// Large outputs are written once, front to back: 2 MiB pages save most of the
// page faults (the kernel only backs them on request, "madvise" mode).
void advise_huge_pages(const Tensor& t) {
#ifdef __linux__
  constexpr uintptr_t kHuge = uintptr_t(1) << 21;
  const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  const uintptr_t end = begin + t.nbytes();
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t last = end & ~(kHuge - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)t;
#endif
}

struct Clash {
  int64_t molecule = -1, i = -1, j = -1;
  double distance = 0.0;
};

template <typename scalar_t, typename out_t>
struct MoleculeWriter {
  const int64_t* z;
  const scalar_t* pos;
  const int64_t* ptr;
  const scalar_t* diagonal;
  const scalar_t* noise;  // nullptr unless Order::Random
  out_t* out;
  int64_t n;          // n_atoms_max
  int64_t width;      // entries per molecule in the output
  bool flatten;
  Order order;
  scalar_t sigma;
  scalar_t scale;     // distances are divided by it (1 for Å, the Bohr radius in Å for Bohr)
  // Rows whose norms agree to this relative tolerance are ties and keep their
  // input order, so that symmetric atoms sort the same way in any batch
  // (the rule of _descending_order in geognn/featurize/coulomb.py, which picks it).
  scalar_t tie_rtol;

  // Per-thread scratch, sized for n atoms.
  struct Scratch {
    std::vector<scalar_t> matrix, key;
    std::vector<int64_t> perm, rank;
    explicit Scratch(int64_t n) : matrix(n * n), key(n), perm(n), rank(n) {}
  };

  // Writes molecule b; returns false (and writes nothing meaningful) if an entry is not finite.
  bool write(int64_t b, Scratch& s) const {
    const int64_t first = ptr[b], m = ptr[b + 1] - ptr[b];
    scalar_t* M = s.matrix.data();
    const int64_t* zb = z + first;
    const scalar_t* p = pos + 3 * first;
    for (int64_t i = 0; i < m; ++i) {
      const scalar_t zi = static_cast<scalar_t>(zb[i]);
      M[i * m + i] = diagonal[zb[i]];
      for (int64_t j = 0; j < i; ++j) {
        const scalar_t dx = p[3 * i] - p[3 * j], dy = p[3 * i + 1] - p[3 * j + 1], dz = p[3 * i + 2] - p[3 * j + 2];
        const scalar_t r = std::sqrt(dx * dx + dy * dy + dz * dz) / scale;
        const scalar_t v = zi * static_cast<scalar_t>(zb[j]) / r;
        M[i * m + j] = v;
        M[j * m + i] = v;
      }
    }
    // Every entry is positive, so a finite sum of squares means every entry is finite.
    for (int64_t i = 0; i < m; ++i) {
      scalar_t sq = 0;
      for (int64_t j = 0; j < m; ++j) sq += M[i * m + j] * M[i * m + j];
      if (!std::isfinite(sq)) return false;
      s.key[i] = std::sqrt(sq);
    }
    int64_t* perm = s.perm.data();
    int64_t* rank = s.rank.data();
    std::iota(perm, perm + m, int64_t(0));
    if (order != Order::None) {
      scalar_t* key = s.key.data();
      if (order == Order::Random)
        for (int64_t i = 0; i < m; ++i) key[i] += sigma * noise[first + i];
      std::stable_sort(perm, perm + m, [key](int64_t a, int64_t c) { return key[a] > key[c]; });
      if (order == Order::SortedL2) {
        // Runs of near-equal norms (chained) go back to input order.
        int64_t start = 0;
        for (int64_t k = 1; k <= m; ++k) {
          const bool gap = k == m || (key[perm[k - 1]] - key[perm[k]]) >
                                         tie_rtol * std::abs(key[perm[k - 1]]);
          if (gap) {
            if (k - start > 1) std::sort(perm + start, perm + k);
            start = k;
          }
        }
      }
    }
    for (int64_t k = 0; k < m; ++k) rank[perm[k]] = k;

    out_t* o = out + b * width;
    std::fill(o, o + width, out_t(0));
    if (flatten) {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j) {
          const int64_t row = rank[i], col = rank[j];
          if (row > col) continue;
          o[row * n - row * (row - 1) / 2 + (col - row)] = static_cast<out_t>(M[i * m + j]);
        }
    } else {
      for (int64_t i = 0; i < m; ++i) {
        out_t* row = o + rank[i] * n;
        for (int64_t j = 0; j < m; ++j) row[rank[j]] = static_cast<out_t>(M[i * m + j]);
      }
    }
    return true;
  }

  // The closest pair of atoms of molecule b, for the error message.
  Clash closest_pair(int64_t b) const {
    const int64_t first = ptr[b], m = ptr[b + 1] - ptr[b];
    const scalar_t* p = pos + 3 * first;
    Clash c;
    c.molecule = b;
    c.distance = INFINITY;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = i + 1; j < m; ++j) {
        const double dx = p[3 * i] - p[3 * j], dy = p[3 * i + 1] - p[3 * j + 1], dz = p[3 * i + 2] - p[3 * j + 2];
        const double r = std::sqrt(dx * dx + dy * dy + dz * dz) / static_cast<double>(scale);
        if (r < c.distance) c = Clash{b, i, j, r};
      }
    return c;
  }
};

template <typename scalar_t, typename out_t>
void run(const MoleculeWriter<scalar_t, out_t>& writer, int64_t num_molecules) {
  std::atomic<int64_t> first_bad{num_molecules};
  // About a millisecond of work per task: a few hundred molecules run on the
  // calling thread alone, since waking the pool costs more than they do.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, writer.width));
  at::parallel_for(0, num_molecules, grain, [&](int64_t begin, int64_t end) {
    typename MoleculeWriter<scalar_t, out_t>::Scratch scratch(writer.n);
    for (int64_t b = begin; b < end; ++b) {
      if (!writer.write(b, scratch)) {
        int64_t seen = first_bad.load();
        while (b < seen && !first_bad.compare_exchange_weak(seen, b)) {
        }
        return;  // later molecules of this range cannot come first
      }
    }
  });
  const int64_t bad = first_bad.load();
  if (bad == num_molecules) return;
  const Clash c = writer.closest_pair(bad);
  std::ostringstream msg;
  if (c.distance == 0.0) {
    msg << "molecule " << c.molecule << ": atoms " << c.i << " and " << c.j
        << " are at the same position; the Coulomb matrix entry Z_i Z_j / r would be infinite";
  } else {
    msg << "molecule " << c.molecule << ": atoms " << c.i << " and " << c.j << " are " << c.distance
        << " apart; the Coulomb matrix entry Z_i Z_j / r overflows";
  }
  TORCH_CHECK_VALUE(false, msg.str());
}

}  // namespace

// z (N,) int64 atomic numbers 1..118, pos (N, 3) float32/float64 in Å, ptr
// (B + 1,) int64 atom offsets of the B molecules (molecule b holds atoms
// ptr[b]..ptr[b+1]-1), diagonal (119,) the entries 0.5 Z^2.4 in pos's dtype,
// noise (N,) in pos's dtype for "random". Output (B, n, n), or the upper
// triangle (B, n (n + 1) / 2) when flatten, in `dtype`; entries are computed
// in pos's dtype. Inputs are validated by the Python layer except what only
// the kernel sees (clashing atoms, offsets).
Tensor coulomb_matrix_cpu(const Tensor& z_in, const Tensor& pos_in, const Tensor& ptr_in, const Tensor& diagonal_in,
                          const std::optional<Tensor>& noise_in, int64_t n_atoms_max, c10::string_view permutation,
                          double sigma, double tie_rtol, double distance_scale, bool flatten,
                          at::ScalarType dtype) {
  const Order order = parse_order(permutation);
  check_index_vector(z_in, "z");
  check_index_vector(ptr_in, "ptr");
  TORCH_CHECK_VALUE(pos_in.dim() == 2 && pos_in.size(1) == 3 && pos_in.size(0) == z_in.size(0),
                    "geognn.coulomb_matrix: pos must be (N, 3) with N = ", z_in.size(0), ", got ", pos_in.sizes());
  TORCH_CHECK_VALUE(pos_in.scalar_type() == at::kFloat || pos_in.scalar_type() == at::kDouble,
                    "geognn.coulomb_matrix: pos must be float32 or float64, got ", pos_in.scalar_type());
  TORCH_CHECK_VALUE(dtype == at::kFloat || dtype == at::kDouble,
                    "geognn.coulomb_matrix: dtype must be float32 or float64, got ", dtype);
  TORCH_CHECK_VALUE(diagonal_in.dim() == 1 && diagonal_in.size(0) == 119 &&
                        diagonal_in.scalar_type() == pos_in.scalar_type(),
                    "geognn.coulomb_matrix: diagonal must be (119,) in pos's dtype");
  TORCH_CHECK_VALUE(n_atoms_max >= 1, "geognn.coulomb_matrix: n_atoms_max must be >= 1, got ", n_atoms_max);
  TORCH_CHECK_VALUE(ptr_in.size(0) >= 1, "geognn.coulomb_matrix: ptr must hold at least one offset");
  TORCH_CHECK_VALUE(distance_scale > 0, "geognn.coulomb_matrix: distance_scale must be positive");
  TORCH_CHECK_VALUE((order == Order::Random) == noise_in.has_value(),
                    "geognn.coulomb_matrix: noise is needed by, and only by, permutation='random'");

  const Tensor z = z_in.contiguous(), pos = pos_in.contiguous(), ptr = ptr_in.contiguous();
  const Tensor diagonal = diagonal_in.contiguous();
  const int64_t B = ptr.size(0) - 1, N = z.size(0);
  const int64_t* offsets = ptr.data_ptr<int64_t>();
  TORCH_CHECK_VALUE(offsets[0] == 0 && offsets[B] == N, "geognn.coulomb_matrix: ptr must run from 0 to N = ", N);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t m = offsets[b + 1] - offsets[b];
    TORCH_CHECK_VALUE(m >= 0, "geognn.coulomb_matrix: ptr must be non-decreasing (molecule ", b, ")");
    TORCH_CHECK_VALUE(m <= n_atoms_max, "molecule ", b, " has ", m, " atoms, more than n_atoms_max=", n_atoms_max);
  }
  const int64_t* zs = z.data_ptr<int64_t>();
  for (int64_t a = 0; a < N; ++a)
    TORCH_CHECK_VALUE(zs[a] >= 1 && zs[a] <= 118, "atomic number ", zs[a], " at atom index ", a, " is not in 1..118");
  Tensor noise;
  if (noise_in.has_value()) {
    noise = noise_in->contiguous();
    TORCH_CHECK_VALUE(noise.dim() == 1 && noise.size(0) == N && noise.scalar_type() == pos.scalar_type(),
                      "geognn.coulomb_matrix: noise must be (N,) in pos's dtype");
  }

  const int64_t width = flatten ? n_atoms_max * (n_atoms_max + 1) / 2 : n_atoms_max * n_atoms_max;
  Tensor out = flatten ? at::empty({B, width}, pos.options().dtype(dtype))
                       : at::empty({B, n_atoms_max, n_atoms_max}, pos.options().dtype(dtype));
  if (out.nbytes() >= (size_t(4) << 20)) advise_huge_pages(out);
  AT_DISPATCH_FLOATING_TYPES(pos.scalar_type(), "coulomb_matrix_cpu", [&] {
    using compute_t = scalar_t;
    AT_DISPATCH_FLOATING_TYPES(dtype, "coulomb_matrix_cpu_out", [&] {
      MoleculeWriter<compute_t, scalar_t> writer{zs,
                                                 pos.data_ptr<compute_t>(),
                                                 offsets,
                                                 diagonal.data_ptr<compute_t>(),
                                                 noise.defined() ? noise.data_ptr<compute_t>() : nullptr,
                                                 out.data_ptr<scalar_t>(),
                                                 n_atoms_max,
                                                 width,
                                                 flatten,
                                                 order,
                                                 static_cast<compute_t>(sigma),
                                                 static_cast<compute_t>(distance_scale),
                                                 static_cast<compute_t>(tie_rtol)};
      run(writer, B);
    });
  });
  return out;
}

TORCH_LIBRARY_IMPL(geognn, CPU, m) { m.impl("coulomb_matrix", &coulomb_matrix_cpu); }

}  // namespace geognn
