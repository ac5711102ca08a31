// Host-side argument handling of geognn::coulomb_matrix, shared by the CPU and
// CUDA kernels (kernels/coulomb_args.cpp): both parse, check and report alike.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "geognn/coulomb.h"

namespace geognn {

// One call's inputs, checked and made contiguous, with its output allocated on
// pos's device and not yet written. The checks raise ValueError naming the
// argument, or the first molecule or atom at fault: shapes, dtypes, devices
// and settings; ptr running from 0 to N without decreasing; no molecule above
// n_atoms_max atoms; atomic numbers in 1..118. The value checks run as ATen
// ops and read one small summary back (a single synchronisation on a GPU).
struct CoulombCall {
  coulomb::Order order;
  at::Tensor z, pos, ptr, diagonal, noise;  // noise undefined unless Order::Random
  int64_t num_molecules, width;             // width: output entries per molecule
  at::Tensor out;                           // (B, n, n), or (B, n (n + 1) / 2) when flatten
};

CoulombCall prepare_coulomb_call(const at::Tensor& z, const at::Tensor& pos, const at::Tensor& ptr,
                                 const at::Tensor& diagonal, const std::optional<at::Tensor>& noise,
                                 int64_t n_atoms_max, c10::string_view permutation, double distance_scale,
                                 bool flatten, at::ScalarType dtype);

// Raises the ValueError for a molecule whose kernel reported `status` (a
// coulomb::Status other than kOk): a non-finite position, the closest pair of
// atoms (clash), or a canonical search that did not settle. pos_of_molecule
// (m, 3) holds its positions, on any device.
[[noreturn]] void raise_bad_molecule(int32_t status, int64_t molecule, const at::Tensor& pos_of_molecule,
                                     double distance_scale);

}  // namespace geognn
