// Host-side argument handling of geognn::coulomb_matrix, shared by the CPU and
// CUDA kernels (kernels/coulomb_args.cpp): both parse, check and report alike.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "geognn/coulomb.h"

namespace geognn {

coulomb::Order parse_coulomb_order(c10::string_view permutation);

// Shapes, dtypes, devices and settings; raises ValueError naming the argument.
void check_coulomb_args(const at::Tensor& z, const at::Tensor& pos, const at::Tensor& ptr, const at::Tensor& diagonal,
                        const std::optional<at::Tensor>& noise, int64_t n_atoms_max, coulomb::Order order,
                        double distance_scale, at::ScalarType dtype);

// Values: ptr runs from 0 to N without decreasing, no molecule has more than
// n_atoms_max atoms, every atomic number is in 1..118. Reads one small summary
// back to the host (a single synchronisation on a GPU); raises ValueError
// naming the first molecule or atom at fault.
void check_coulomb_values(const at::Tensor& z, const at::Tensor& ptr, int64_t n_atoms_max);

// Raises the ValueError for a molecule whose kernel reported `status` (a
// coulomb::Status other than kOk): a non-finite position, the closest pair of
// atoms (clash), or a canonical search that did not settle. pos_of_molecule
// (m, 3) holds its positions, on any device.
[[noreturn]] void raise_bad_molecule(int32_t status, int64_t molecule, const at::Tensor& pos_of_molecule,
                                     double distance_scale);

}  // namespace geognn
