// Coulomb matrices on the GPU, in up to three passes over the molecules:
//   1. order: one thread per molecule computes its row norms (entries computed
//      on the fly, nothing stored), checks they are finite and sorts the atoms
//      (sorted_l2, random; sorted_canonical where no norms tie);
//   2. canonical: only for the molecules whose norms tie under
//      sorted_canonical, one thread per molecule runs the canonical search in
//      a scratch slot of its own (few molecules; slots are reused);
//   3. write: one block per molecule writes every output entry, padding
//      included, in order (coalesced), recomputing each entry from positions.
// The per-molecule arithmetic is the CPU kernel's (geognn/coulomb.h,
// geognn/canonical.h), with products rounded as the CPU rounds them, so both
// devices sort alike and compute the same entries.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>

#include "geognn/canonical.h"
#include "geognn/coulomb.h"
#include "geognn/coulomb_args.h"
#include "geognn/ops.h"
#include "launch.cuh"

namespace geognn {
namespace {

using coulomb::Order;

// Scratch of the canonical pass, all slots together, is kept below this.
constexpr int64_t kCanonicalScratchBytes = int64_t(256) << 20;

template <typename scalar_t>
struct Batch {
  const int64_t* z;
  const scalar_t* pos;
  const int64_t* ptr;
  const scalar_t* diagonal;
  scalar_t scale;

  __device__ coulomb::Molecule<scalar_t> molecule(int64_t b) const {
    const int64_t first = ptr[b];
    return {z + first, pos + 3 * first, diagonal, scale, ptr[b + 1] - first};
  }
};

// Pass 1. kCapacity > 0: per-thread arrays of that many atoms (local memory,
// interleaved across threads by the hardware); 0: `spill` (B, n) instead.
template <typename scalar_t, int kCapacity>
__global__ void order_kernel(Batch<scalar_t> batch, const scalar_t* __restrict__ noise, int64_t B, int64_t n,
                             Order order, scalar_t sigma, scalar_t tie_rtol, scalar_t* __restrict__ spill,
                             int32_t* __restrict__ perm_out, int32_t* __restrict__ status) {
  GEOGNN_GRID_STRIDE(b, B) {
    const coulomb::Molecule<scalar_t> molecule = batch.molecule(b);
    const int64_t m = molecule.m;
    scalar_t local_key[kCapacity > 0 ? kCapacity : 1];
    int32_t local_perm[kCapacity > 0 ? kCapacity : 1];
    scalar_t* key = kCapacity > 0 ? local_key : spill + b * n;
    int32_t* perm = kCapacity > 0 ? local_perm : perm_out + b * n;
    if (!coulomb::row_norms(m, molecule, key)) {
      status[b] = coulomb::kNotFinite;
      continue;
    }
    if (order == Order::None) {
      status[b] = coulomb::kOk;
      continue;
    }
    if (order == Order::Random) {
      const int64_t first = batch.ptr[b];
      for (int64_t i = 0; i < m; ++i) key[i] = coulomb::add(key[i], coulomb::mul(sigma, noise[first + i]));
    }
    const bool tied = coulomb::descending_order(m, key, perm, order != Order::Random, tie_rtol);
    if (kCapacity > 0)
      for (int64_t k = 0; k < m; ++k) perm_out[b * n + k] = perm[k];
    status[b] = (order == Order::Canonical && tied) ? coulomb::kNeedsCanonical : coulomb::kOk;
  }
}

// Pass 2: thread `slot` orders molecules[slot], molecules[slot + slots], ... in its own scratch.
template <typename scalar_t>
__global__ void canonical_kernel(Batch<scalar_t> batch, const int64_t* __restrict__ molecules, int64_t count,
                                 int64_t n, scalar_t tie_rtol, int64_t slots, int32_t* __restrict__ ints,
                                 int64_t ints_per_slot, scalar_t* __restrict__ values, int64_t values_per_slot,
                                 int32_t* __restrict__ perm_out, int32_t* __restrict__ status) {
  const int64_t slot = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (slot >= slots) return;  // the last block may hold more threads than slots are left
  scalar_t* M = values + slot * values_per_slot;
  scalar_t* norms = M + n * n;
  scalar_t* signatures = norms + n;
  for (int64_t t = slot; t < count; t += slots) {
    const int64_t b = molecules[t];
    const coulomb::Molecule<scalar_t> molecule = batch.molecule(b);
    molecule.fill(M);
    coulomb::row_norms(molecule.m, coulomb::MatrixEntries<scalar_t>{M, molecule.m}, norms);  // finite: pass 1 said so
    coulomb::CanonicalSearch<scalar_t> search(molecule.m, M, norms, tie_rtol,
                                              {ints + slot * ints_per_slot, signatures});
    status[b] = search.run(perm_out + b * n);
  }
}

// Pass 3: block by block over the molecules, thread by thread over the entries of one molecule's output.
template <typename scalar_t, typename out_t>
__global__ void write_kernel(Batch<scalar_t> batch, const int32_t* __restrict__ perm, int64_t B, int64_t n,
                             int64_t width, bool flatten, out_t* __restrict__ out) {
  for (int64_t b = blockIdx.x; b < B; b += gridDim.x) {
    const coulomb::Molecule<scalar_t> molecule = batch.molecule(b);
    const int32_t* rows = perm ? perm + b * n : nullptr;
    for (int64_t e = threadIdx.x; e < width; e += blockDim.x) {
      int64_t row, col;
      if (flatten) {
        row = coulomb::triangle_row(e, n);
        col = row + e - coulomb::triangle_index(row, row, n);
      } else {
        row = e / n;
        col = e - row * n;
      }
      out_t v = out_t(0);
      if (row < molecule.m && col < molecule.m)
        v = static_cast<out_t>(molecule.entry(rows ? rows[row] : row, rows ? rows[col] : col));
      out[b * width + e] = v;
    }
  }
}

int blocks_for_molecules(int64_t B, int threads) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((B + threads - 1) / threads, int64_t(1) << 20)));
}

template <typename scalar_t>
void launch_order(const Batch<scalar_t>& batch, const scalar_t* noise, int64_t B, int64_t n, Order order,
                  scalar_t sigma, scalar_t tie_rtol, int32_t* perm, int32_t* status, const at::Tensor& pos) {
  constexpr int kOrderThreads = 128;
  const auto stream = at::cuda::getCurrentCUDAStream();
  const int blocks = blocks_for_molecules(B, kOrderThreads);
  if (n <= 32) {
    order_kernel<scalar_t, 32><<<blocks, kOrderThreads, 0, stream>>>(batch, noise, B, n, order, sigma, tie_rtol,
                                                                      nullptr, perm, status);
  } else if (n <= 128) {
    order_kernel<scalar_t, 128><<<blocks, kOrderThreads, 0, stream>>>(batch, noise, B, n, order, sigma, tie_rtol,
                                                                       nullptr, perm, status);
  } else {
    at::Tensor spill = at::empty({B, n}, pos.options());
    order_kernel<scalar_t, 0><<<blocks, kOrderThreads, 0, stream>>>(batch, noise, B, n, order, sigma, tie_rtol,
                                                                     spill.data_ptr<scalar_t>(), perm, status);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t>
void launch_canonical(const Batch<scalar_t>& batch, const at::Tensor& molecules, int64_t n, scalar_t tie_rtol,
                      int32_t* perm, int32_t* status, const at::Tensor& pos) {
  const int64_t count = molecules.numel();
  const int64_t ints_per_slot = coulomb::Workspace<scalar_t>::num_ints(n);
  const int64_t values_per_slot = n * n + n + coulomb::Workspace<scalar_t>::num_values(n);
  const int64_t slot_bytes = ints_per_slot * 4 + values_per_slot * static_cast<int64_t>(sizeof(scalar_t));
  const int64_t slots = std::max<int64_t>(1, std::min<int64_t>(count, kCanonicalScratchBytes / slot_bytes));
  at::Tensor ints = at::empty({slots, ints_per_slot}, pos.options().dtype(at::kInt));
  at::Tensor values = at::empty({slots, values_per_slot}, pos.options());
  constexpr int kSearchThreads = 64;
  const int blocks = static_cast<int>((slots + kSearchThreads - 1) / kSearchThreads);
  canonical_kernel<scalar_t><<<blocks, kSearchThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      batch, molecules.data_ptr<int64_t>(), count, n, tie_rtol, slots, ints.data_ptr<int32_t>(), ints_per_slot,
      values.data_ptr<scalar_t>(), values_per_slot, perm, status);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The index of the first molecule (by index, B when none) that failed: the CPU kernel reports that one.
Tensor first_failure(const Tensor& status) {
  const int64_t B = status.numel();
  const Tensor failed = status.eq(coulomb::kNotFinite).logical_or(status.eq(coulomb::kSearchLimit));
  return at::where(failed, at::arange(B, status.options().dtype(at::kLong)), B).min();
}

// Molecule b failed: raised as the CPU kernel raises it (reads only on the way to the error).
[[noreturn]] void raise_molecule(const at::Tensor& status, int64_t b, const at::Tensor& pos, const at::Tensor& ptr,
                                 double distance_scale) {
  const int32_t code = status[b].item<int32_t>();
  const int64_t first = ptr[b].item<int64_t>(), last = ptr[b + 1].item<int64_t>();
  raise_bad_molecule(code, b, pos.narrow(0, first, last - first), distance_scale);
  TORCH_CHECK(false, "unreachable");
}

}  // namespace

// The CUDA twin of coulomb_matrix_cpu (kernels/cpu/coulomb.cpp): same
// arguments, checks and errors (the first failed molecule by index), same numbers.
// Synchronises with the host twice, to check the arguments and to learn whether any
// molecule failed or needs the canonical pass, and once more when some molecule does.
Tensor coulomb_matrix_cuda(const Tensor& z_in, const Tensor& pos_in, const Tensor& ptr_in, const Tensor& diagonal_in,
                           const std::optional<Tensor>& noise_in, int64_t n_atoms_max, c10::string_view permutation,
                           double sigma, double tie_rtol, double distance_scale, bool flatten,
                           at::ScalarType dtype) {
  const CoulombCall call = prepare_coulomb_call(z_in, pos_in, ptr_in, diagonal_in, noise_in, n_atoms_max, permutation,
                                                distance_scale, flatten, dtype);
  const c10::cuda::CUDAGuard guard(call.pos.device());
  const Tensor &pos = call.pos, &ptr = call.ptr;
  const int64_t B = call.num_molecules, n = n_atoms_max;
  const Order order = call.order;
  if (B == 0) return call.out;
  Tensor status = at::empty({B}, pos.options().dtype(at::kInt));
  Tensor perm = order == Order::None ? Tensor() : at::empty({B, n}, pos.options().dtype(at::kInt));
  int32_t* perm_ptr = perm.defined() ? perm.data_ptr<int32_t>() : nullptr;
  const auto stream = at::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES(pos.scalar_type(), "coulomb_matrix_cuda", [&] {
    using compute_t = scalar_t;
    const Batch<compute_t> batch{call.z.data_ptr<int64_t>(), pos.data_ptr<compute_t>(), ptr.data_ptr<int64_t>(),
                                 call.diagonal.data_ptr<compute_t>(), static_cast<compute_t>(distance_scale)};
    const compute_t rtol = static_cast<compute_t>(tie_rtol);
    launch_order(batch, call.noise.defined() ? call.noise.data_ptr<compute_t>() : nullptr, B, n, order,
                 static_cast<compute_t>(sigma), rtol, perm_ptr, status.data_ptr<int32_t>(), pos);
    // One read: the first failed molecule and how many need the canonical pass.
    const Tensor summary =
        at::stack({first_failure(status), status.eq(coulomb::kNeedsCanonical).sum()}).cpu();
    int64_t failed = summary[0].item<int64_t>();
    const int64_t tied = summary[1].item<int64_t>();
    if (tied > 0) {
      // The count is known, so collecting the molecules needs no further read; the first failure is
      // looked at again after the search, which may fail too (a molecule of lower index than `failed`).
      const Tensor molecules = at::nonzero_static(status.eq(coulomb::kNeedsCanonical), tied).view({-1});
      launch_canonical(batch, molecules, n, rtol, perm_ptr, status.data_ptr<int32_t>(), pos);
      failed = first_failure(status).item<int64_t>();
    }
    if (failed < B) raise_molecule(status, failed, pos, ptr, distance_scale);
    AT_DISPATCH_FLOATING_TYPES(dtype, "coulomb_matrix_cuda_out", [&] {
      const int blocks = static_cast<int>(std::min<int64_t>(B, int64_t(1) << 20));
      write_kernel<compute_t, scalar_t><<<blocks, kThreads, 0, stream>>>(batch, perm_ptr, B, n, call.width, flatten,
                                                                         call.out.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return call.out;
}

TORCH_LIBRARY_IMPL(geognn, CUDA, m) { m.impl("coulomb_matrix", &coulomb_matrix_cuda); }

}  // namespace geognn
