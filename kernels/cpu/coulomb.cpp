// Coulomb matrices of many small molecules on the CPU, one molecule per task.
//
// The pure-PyTorch path in geognn/featurize/coulomb.py is the reference; this
// kernel exists because a QM9 molecule has ~18 atoms, so torch's per-op
// overhead, not arithmetic, bounds the tensor version. Here each molecule is
// built, sorted and written in one pass over a buffer that stays in L1, and
// every output entry (padding included) is written once. The per-molecule
// arithmetic (entries, norms, orders, the canonical search) is the one the
// CUDA kernel runs: geognn/coulomb.h and geognn/canonical.h.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "geognn/canonical.h"
#include "geognn/coulomb.h"
#include "geognn/coulomb_args.h"
#include "geognn/ops.h"

namespace geognn {
namespace {

using coulomb::Order;

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
  // Rows whose norms agree to this relative tolerance are ties (see coulomb::descending_order).
  scalar_t tie_rtol;

  // Per-thread scratch, sized for n atoms; the canonical search's only when it is asked for.
  struct Scratch {
    std::vector<scalar_t> matrix, key, values;
    std::vector<int32_t> perm, rank, ints;
    Scratch(int64_t n, Order order) : matrix(n * n), key(n), perm(n), rank(n) {
      if (order == Order::Canonical) {
        values.resize(coulomb::Workspace<scalar_t>::num_values(n));
        ints.resize(coulomb::Workspace<scalar_t>::num_ints(n));
      }
    }
  };

  // Writes molecule b; returns a coulomb::Status (anything but kOk leaves its output unwritten).
  int32_t write(int64_t b, Scratch& s) const {
    const int64_t first = ptr[b], m = ptr[b + 1] - ptr[b];
    scalar_t* M = s.matrix.data();
    const coulomb::Molecule<scalar_t> molecule{z + first, pos + 3 * first, diagonal, scale, m};
    molecule.fill(M);
    scalar_t* key = s.key.data();
    if (!coulomb::row_norms(m, coulomb::MatrixEntries<scalar_t>{M, m}, key)) return coulomb::kNotFinite;
    int32_t* perm = s.perm.data();
    int32_t* rank = s.rank.data();
    if (order == Order::None) {
      for (int64_t k = 0; k < m; ++k) perm[k] = static_cast<int32_t>(k);
    } else {
      if (order == Order::Random)
        for (int64_t i = 0; i < m; ++i) key[i] = coulomb::add(key[i], coulomb::mul(sigma, noise[first + i]));
      const bool tied = coulomb::descending_order(m, key, perm, order != Order::Random, tie_rtol);
      if (order == Order::Canonical && tied) {
        coulomb::CanonicalSearch<scalar_t> search(m, M, key, tie_rtol, {s.ints.data(), s.values.data()});
        const int32_t status = search.run(perm);
        if (status != coulomb::kOk) return status;
      }
    }
    for (int64_t k = 0; k < m; ++k) rank[perm[k]] = static_cast<int32_t>(k);

    out_t* o = out + b * width;
    std::fill(o, o + width, out_t(0));
    if (flatten) {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j) {
          const int64_t row = rank[i], col = rank[j];
          if (row <= col) o[coulomb::triangle_index(row, col, n)] = static_cast<out_t>(M[i * m + j]);
        }
    } else {
      for (int64_t i = 0; i < m; ++i) {
        out_t* row = o + rank[i] * n;
        for (int64_t j = 0; j < m; ++j) row[rank[j]] = static_cast<out_t>(M[i * m + j]);
      }
    }
    return coulomb::kOk;
  }
};

// Runs every molecule; returns the first one (by index) that failed, and its status, or (num_molecules, kOk).
template <typename scalar_t, typename out_t>
std::pair<int64_t, int32_t> run(const MoleculeWriter<scalar_t, out_t>& writer, int64_t num_molecules) {
  std::atomic<int64_t> first_bad{num_molecules};
  // About a millisecond of work per task: a few hundred molecules run on the
  // calling thread alone, since waking the pool costs more than they do.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, writer.width));
  at::parallel_for(0, num_molecules, grain, [&](int64_t begin, int64_t end) {
    typename MoleculeWriter<scalar_t, out_t>::Scratch scratch(writer.n, writer.order);
    for (int64_t b = begin; b < end; ++b) {
      if (writer.write(b, scratch) != coulomb::kOk) {
        int64_t seen = first_bad.load();
        while (b < seen && !first_bad.compare_exchange_weak(seen, b)) {
        }
        return;  // later molecules of this range cannot come first
      }
    }
  });
  const int64_t bad = first_bad.load();
  if (bad == num_molecules) return {bad, coulomb::kOk};
  // Rerun the first failure alone for its status (failures are rare and each costs one molecule).
  typename MoleculeWriter<scalar_t, out_t>::Scratch scratch(writer.n, writer.order);
  return {bad, writer.write(bad, scratch)};
}

}  // namespace

// z (N,) int64 atomic numbers 1..118, pos (N, 3) float32/float64 in Å, ptr
// (B + 1,) int64 atom offsets of the B molecules (molecule b holds atoms
// ptr[b]..ptr[b+1]-1), diagonal (119,) the entries 0.5 Z^2.4 in pos's dtype,
// noise (N,) in pos's dtype for "random". Output (B, n, n), or the upper
// triangle (B, n (n + 1) / 2) when flatten, in `dtype`; entries are computed
// in pos's dtype. Every argument is checked here (coulomb_args.cpp), so a
// direct call is as safe as the featurizer's.
Tensor coulomb_matrix_cpu(const Tensor& z_in, const Tensor& pos_in, const Tensor& ptr_in, const Tensor& diagonal_in,
                          const std::optional<Tensor>& noise_in, int64_t n_atoms_max, c10::string_view permutation,
                          double sigma, double tie_rtol, double distance_scale, bool flatten,
                          at::ScalarType dtype) {
  const CoulombCall call = prepare_coulomb_call(z_in, pos_in, ptr_in, diagonal_in, noise_in, n_atoms_max, permutation,
                                                distance_scale, flatten, dtype);
  const Tensor& pos = call.pos;
  const int64_t B = call.num_molecules;
  const int64_t* offsets = call.ptr.data_ptr<int64_t>();
  if (call.out.nbytes() >= (size_t(4) << 20)) advise_huge_pages(call.out);
  std::pair<int64_t, int32_t> failure{B, coulomb::kOk};
  AT_DISPATCH_FLOATING_TYPES(pos.scalar_type(), "coulomb_matrix_cpu", [&] {
    using compute_t = scalar_t;
    AT_DISPATCH_FLOATING_TYPES(dtype, "coulomb_matrix_cpu_out", [&] {
      MoleculeWriter<compute_t, scalar_t> writer{call.z.data_ptr<int64_t>(),
                                                 pos.data_ptr<compute_t>(),
                                                 offsets,
                                                 call.diagonal.data_ptr<compute_t>(),
                                                 call.noise.defined() ? call.noise.data_ptr<compute_t>() : nullptr,
                                                 call.out.data_ptr<scalar_t>(),
                                                 n_atoms_max,
                                                 call.width,
                                                 flatten,
                                                 call.order,
                                                 static_cast<compute_t>(sigma),
                                                 static_cast<compute_t>(distance_scale),
                                                 static_cast<compute_t>(tie_rtol)};
      failure = run(writer, B);
    });
  });
  if (failure.second != coulomb::kOk) {
    const int64_t b = failure.first;
    raise_bad_molecule(failure.second, b, pos.narrow(0, offsets[b], offsets[b + 1] - offsets[b]), distance_scale);
  }
  return call.out;
}

TORCH_LIBRARY_IMPL(geognn, CPU, m) { m.impl("coulomb_matrix", &coulomb_matrix_cpu); }

}  // namespace geognn
