// The per-molecule arithmetic of the Coulomb matrix, shared by the CPU kernel
// (kernels/cpu/coulomb.cpp) and the CUDA kernel (kernels/cuda/coulomb.cu):
// entries, row norms and the sorted order with its tie rule. One copy, so the
// CPU tests exercise the arithmetic the GPU runs, and the two devices compute
// the same bits for the same molecule.
//
// Everything here works on one molecule of m atoms with plain pointers and no
// allocation, so a CUDA thread can run it as it is.
#pragma once

#include <cmath>
#include <cstdint>

#include "geognn/host_device.h"

namespace geognn {
namespace coulomb {

enum class Order : int32_t { None = 0, SortedL2 = 1, Random = 2, Canonical = 3 };

// What happened to one molecule; the host turns anything but kOk into an error naming it.
enum Status : int32_t {
  kOk = 0,
  kNotFinite = 1,       // an entry is infinite or NaN: clashing atoms or a non-finite position
  kSearchLimit = 2,     // the canonical search did not settle (see canonical.h)
  kNeedsCanonical = 3,  // the CUDA order pass found tied norms: the canonical pass must order it
};

// Leaves the canonical search (canonical.h) explores before it gives up on a
// molecule (kSearchLimit). Exact symmetry keeps real molecules to a few dozen
// leaves; only atoms that nearly coincide could need more.
constexpr int64_t kMaxLeaves = int64_t(1) << 16;

// Products and sums rounded one at a time. nvcc fuses a * b + c into one FMA
// (one rounding) unless told not to; the explicit intrinsics keep the GPU's
// entries and norms bit for bit equal to the CPU's, so both sort alike.
template <typename T>
GEOGNN_HD T mul(T a, T b) {
#ifdef __CUDA_ARCH__
  if constexpr (sizeof(T) == 8) {
    return __dmul_rn(a, b);
  } else {
    return __fmul_rn(a, b);
  }
#else
  return a * b;
#endif
}

template <typename T>
GEOGNN_HD T add(T a, T b) {
#ifdef __CUDA_ARCH__
  if constexpr (sizeof(T) == 8) {
    return __dadd_rn(a, b);
  } else {
    return __fadd_rn(a, b);
  }
#else
  return a + b;
#endif
}

template <typename T>
GEOGNN_HD T square_root(T x) {
#ifdef __CUDA_ARCH__
  return ::sqrt(x);  // correctly rounded in float and double (nvcc's default -prec-sqrt=true)
#else
  return std::sqrt(x);
#endif
}

template <typename T>
GEOGNN_HD bool is_finite(T x) {
#ifdef __CUDA_ARCH__
  return ::isfinite(x);
#else
  return std::isfinite(x);
#endif
}

template <typename T>
GEOGNN_HD T magnitude(T x) { return x < T(0) ? -x : x; }

// Two values sorted largest first are distinct when the gap exceeds rtol times
// the larger; equal within it they tie. The one tie rule of every sort here.
template <typename T>
GEOGNN_HD bool is_gap(T larger, T smaller, T rtol) { return larger - smaller > rtol * magnitude(larger); }

// One molecule as the kernels see it: atoms first .. first + m - 1 of the batch.
template <typename T>
struct Molecule {
  const int64_t* z;    // (m,) atomic numbers 1..118
  const T* pos;        // (m, 3) positions in Å
  const T* diagonal;   // (119,) the entries 0.5 Z^2.4
  T scale;             // distances are divided by it (1 for Å, the Bohr radius in Å for Bohr)
  int64_t m;

  // M_ij = Z_i Z_j / |R_i - R_j| (in units of scale), M_ii = 0.5 Z_i^2.4. Bitwise symmetric.
  GEOGNN_HD T entry(int64_t i, int64_t j) const {
    if (i == j) return diagonal[z[i]];
    const T* a = pos + 3 * i;
    const T* b = pos + 3 * j;
    const T dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
    const T r = square_root(add(add(mul(dx, dx), mul(dy, dy)), mul(dz, dz))) / scale;
    return mul(static_cast<T>(z[i]), static_cast<T>(z[j])) / r;
  }

  GEOGNN_HD T operator()(int64_t i, int64_t j) const { return entry(i, j); }

  // Fills the (m, m) row-major matrix M.
  GEOGNN_HD void fill(T* M) const {
    for (int64_t i = 0; i < m; ++i) {
      M[i * m + i] = entry(i, i);
      for (int64_t j = 0; j < i; ++j) M[i * m + j] = M[j * m + i] = entry(i, j);
    }
  }
};

// The entries of an (m, m) row-major matrix already filled.
template <typename T>
struct MatrixEntries {
  const T* M;
  int64_t m;
  GEOGNN_HD T operator()(int64_t i, int64_t j) const { return M[i * m + j]; }
};

// Row norms of the entries `at(i, j)` gives (a MatrixEntries, or a Molecule computing them);
// false if any is not finite. Every entry is positive, so a finite sum of
// squares means every entry of the row is finite: one check finds clashes.
template <typename T, typename Entries>
GEOGNN_HD bool row_norms(int64_t m, const Entries& at, T* norms) {
  for (int64_t i = 0; i < m; ++i) {
    T squares = T(0);
    for (int64_t j = 0; j < m; ++j) {
      const T v = at(i, j);
      squares = add(squares, mul(v, v));
    }
    if (!is_finite(squares)) return false;
    norms[i] = square_root(squares);
  }
  return true;
}

// perm (m,) gets the atoms ordered by key, largest first; equal keys keep input
// order. With `ties`, each run of keys within rtol of its neighbour (chained)
// goes back to input order, so symmetric atoms, whose norms differ only by
// rounding, sort the same way alone and in any batch (the rule of
// _descending_order in geognn/featurize/coulomb.py). Returns whether such a
// run holds more than one atom.
template <typename T>
GEOGNN_HD bool descending_order(int64_t m, const T* key, int32_t* perm, bool ties, T rtol) {
  for (int64_t k = 0; k < m; ++k) perm[k] = static_cast<int32_t>(k);
  // Insertion sort: stable, in place, and the fastest for the tens of atoms of a molecule.
  for (int64_t k = 1; k < m; ++k) {
    const int32_t atom = perm[k];
    int64_t j = k;
    for (; j > 0 && key[perm[j - 1]] < key[atom]; --j) perm[j] = perm[j - 1];
    perm[j] = atom;
  }
  if (!ties) return false;
  bool tied = false;
  int64_t start = 0;
  for (int64_t k = 1; k <= m; ++k) {
    if (k < m && !is_gap(key[perm[k - 1]], key[perm[k]], rtol)) continue;
    if (k - start > 1) {
      tied = true;
      for (int64_t a = start + 1; a < k; ++a) {  // the run back to input (index) order
        const int32_t atom = perm[a];
        int64_t j = a;
        for (; j > start && perm[j - 1] > atom; --j) perm[j] = perm[j - 1];
        perm[j] = atom;
      }
    }
    start = k;
  }
  return tied;
}

// Where entry (row, col), row <= col, of an n x n matrix lies in its upper
// triangle stored row by row (diagonal included).
GEOGNN_HD int64_t triangle_index(int64_t row, int64_t col, int64_t n) {
  return row * n - row * (row - 1) / 2 + (col - row);
}

// The row of the upper-triangle entry stored at `index` (the inverse of triangle_index).
GEOGNN_HD int64_t triangle_row(int64_t index, int64_t n) {
  const double b = 2.0 * static_cast<double>(n) + 1.0;
  int64_t row = static_cast<int64_t>((b - square_root(b * b - 8.0 * static_cast<double>(index))) / 2.0);
  // The square root may round across an integer: settle on the row whose span holds index.
  while (row > 0 && triangle_index(row, row, n) > index) --row;
  while (row + 1 < n && triangle_index(row + 1, row + 1, n) <= index) ++row;
  return row;
}

}  // namespace coulomb
}  // namespace geognn
