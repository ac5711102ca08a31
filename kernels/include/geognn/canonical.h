// Canonical atom order of one Coulomb matrix (permutation="sorted_canonical"),
// shared by the CPU kernel and the CUDA kernel (one thread per molecule).
//
// The definition is the one written out in geognn/featurize/canonical_order.py
// (the reference, which explores the whole search tree): row norm, then the
// sorted row, then colour refinement until no cell splits, then
// individualisation of each atom of the first cell that still holds several,
// keeping the leaf whose matrix is largest. Here the search is pruned with the
// automorphisms it finds (as graph canonicalisers such as nauty do): when two
// leaves give the same matrix, the permutation between them maps the matrix
// onto itself, and a child that such a permutation maps onto an explored
// child (fixing the atoms individualised above it) has the same leaves.
//
// An ordered partition is `order` (atoms by position) plus `start` (1 where a
// cell begins). No recursion and no allocation: the caller passes a Workspace
// of ints(n) int32 and values(n) entries, for molecules of up to n atoms.
#pragma once

#include <cstdint>

#include "geognn/coulomb.h"

namespace geognn {
namespace coulomb {

template <typename T>
struct Workspace {
  int32_t* ints;
  T* values;

  // Per search depth (0..n): order, start and orbit arrays of n; plus the best
  // leaf, a permutation, the individualised atoms and the node cursors.
  GEOGNN_HD static int64_t num_ints(int64_t n) { return 3 * (n + 1) * n + 2 * n + 4 * (n + 1); }
  // Row-sorted signatures, one of n entries per atom.
  GEOGNN_HD static int64_t num_values(int64_t n) { return n * n; }
};

template <typename T>
class CanonicalSearch {
 public:
  // M (m, m) the molecule's matrix, norms (m,) its row norms, rtol the tie tolerance.
  GEOGNN_HD CanonicalSearch(int64_t m, const T* M, const T* norms, T rtol, Workspace<T> ws)
      : m_(m), M_(M), norms_(norms), rtol_(rtol), sig_(ws.values) {
    int32_t* p = ws.ints;
    order_ = p, p += (m + 1) * m;
    start_ = p, p += (m + 1) * m;
    orbit_ = p, p += (m + 1) * m;
    best_ = p, p += m;
    automorphism_ = p, p += m;
    fixed_ = p, p += m + 1;
    cell_begin_ = p, p += m + 1;
    cell_end_ = p, p += m + 1;
    next_ = p;
  }

  // Writes the canonical order to perm (m,): output row k is atom perm[k]. Returns kOk or kSearchLimit.
  GEOGNN_HD int32_t run(int32_t* perm) {
    if (m_ == 0) return kOk;
    int32_t* order = order_;
    int32_t* start = start_;
    for (int64_t k = 0; k < m_; ++k) order[k] = static_cast<int32_t>(k), start[k] = k == 0;
    split_cell(order, start, 0, m_, norms_, 1, 0);  // 1. row norm
    for (int64_t c = 0, e = 0; c < m_; c = e) {  // 2. sorted row
      e = cell_end(start, c);  // before this cell splits
      if (e - c < 2) continue;
      for (int64_t p = c; p < e; ++p) sorted_row(order[p]);
      split_by_signatures(order, start, c, e, m_);
    }
    refine(order, start);  // 3. colour refinement
    if (!open_node(0)) {
      for (int64_t k = 0; k < m_; ++k) perm[k] = order[k];
      return kOk;
    }
    // 4. individualisation, depth first; node d's partition is level d of the arrays.
    int64_t depth = 0, leaves = 0;
    bool have_best = false;
    while (depth >= 0) {
      const int32_t atom = next_child(depth);
      if (atom < 0) {
        --depth;
        continue;
      }
      int32_t* o = level(order_, depth + 1);
      int32_t* s = level(start_, depth + 1);
      copy(level(order_, depth), o);
      copy(level(start_, depth), s);
      const int64_t b = cell_begin_[depth];
      for (int64_t p = b; p < cell_end_[depth]; ++p)
        if (o[p] == atom) o[p] = o[b], o[b] = atom;
      s[b + 1] = 1;
      fixed_[depth] = atom;
      refine(o, s);
      if (open_node(depth + 1)) {
        ++depth;
        continue;
      }
      if (++leaves > kMaxLeaves) return kSearchLimit;
      if (!have_best) {
        copy(o, best_);
        have_best = true;
      } else {
        const int c = compare(o, best_);
        if (c > 0) copy(o, best_);
        if (c == 0) record_automorphism(o, depth);
      }
    }
    for (int64_t k = 0; k < m_; ++k) perm[k] = best_[k];
    return kOk;
  }

 private:
  GEOGNN_HD int32_t* level(int32_t* base, int64_t depth) const { return base + depth * m_; }
  GEOGNN_HD void copy(const int32_t* from, int32_t* to) const {
    for (int64_t k = 0; k < m_; ++k) to[k] = from[k];
  }
  GEOGNN_HD int64_t cell_end(const int32_t* start, int64_t begin) const {
    int64_t e = begin + 1;
    while (e < m_ && !start[e]) ++e;
    return e;
  }
  GEOGNN_HD T at(int64_t i, int64_t j) const { return M_[i * m_ + j]; }

  // Sorts positions [b, e) by the key values[atom * stride + k], largest first,
  // and starts a new cell wherever neighbours differ by more than rtol.
  GEOGNN_HD bool split_cell(int32_t* order, int32_t* start, int64_t b, int64_t e, const T* values, int64_t stride,
                            int64_t k) const {
    for (int64_t p = b + 1; p < e; ++p) {
      const int32_t atom = order[p];
      const T v = values[atom * stride + k];
      int64_t j = p;
      for (; j > b && values[order[j - 1] * stride + k] < v; --j) order[j] = order[j - 1];
      order[j] = atom;
    }
    bool split = false;
    for (int64_t p = b + 1; p < e; ++p) {
      if (is_gap(values[order[p - 1] * stride + k], values[order[p] * stride + k], rtol_)) {
        start[p] = 1;
        split = true;
      }
    }
    return split;
  }

  // Splits [b, e) by each member's signature (sig_ rows of `length`), one coordinate after the other.
  GEOGNN_HD bool split_by_signatures(int32_t* order, int32_t* start, int64_t b, int64_t e, int64_t length) const {
    bool split = false;
    for (int64_t k = 0; k < length; ++k) {
      bool open = false;
      for (int64_t c = b; c < e;) {
        const int64_t end = cell_end(start, c);
        if (end - c > 1) {
          split |= split_cell(order, start, c, end, sig_, m_, k);
          open = true;
        }
        c = end;
      }
      if (!open) break;
    }
    return split;
  }

  GEOGNN_HD void sort_descending(T* v, int64_t n) const {
    for (int64_t p = 1; p < n; ++p) {
      const T x = v[p];
      int64_t j = p;
      for (; j > 0 && v[j - 1] < x; --j) v[j] = v[j - 1];
      v[j] = x;
    }
  }

  // Step 2's signature: the atom's row, sorted largest first.
  GEOGNN_HD void sorted_row(int32_t atom) const {
    T* v = sig_ + atom * m_;
    for (int64_t j = 0; j < m_; ++j) v[j] = at(atom, j);
    sort_descending(v, m_);
  }

  // Step 3's signature: for each cell in order, the entries towards its other atoms, sorted largest first.
  GEOGNN_HD void cell_signature(int32_t atom, const int32_t* order, const int32_t* start) const {
    T* v = sig_ + atom * m_;
    int64_t n = 0;
    for (int64_t c = 0; c < m_;) {
      const int64_t e = cell_end(start, c), first = n;
      for (int64_t p = c; p < e; ++p)
        if (order[p] != atom) v[n++] = at(atom, order[p]);
      sort_descending(v + first, n - first);
      c = e;
    }
  }

  // Colour refinement: splits every cell by the signatures towards the cells, until none splits.
  GEOGNN_HD void refine(int32_t* order, int32_t* start) const {
    for (;;) {
      bool open = false;
      for (int64_t c = 0; c < m_;) {
        const int64_t e = cell_end(start, c);
        if (e - c > 1) {
          open = true;
          for (int64_t p = c; p < e; ++p) cell_signature(order[p], order, start);
        }
        c = e;
      }
      if (!open) return;
      bool split = false;
      for (int64_t c = 0; c < m_;) {
        const int64_t e = cell_end(start, c);  // the cell before this pass splits it
        if (e - c > 1) split |= split_by_signatures(order, start, c, e, m_ - 1);
        c = e;
      }
      if (!split) return;
    }
  }

  // Makes level `depth` a search node on its first cell of several atoms; false if there is none (a leaf).
  GEOGNN_HD bool open_node(int64_t depth) {
    const int32_t* start = level(start_, depth);
    for (int64_t c = 0; c < m_;) {
      const int64_t e = cell_end(start, c);
      if (e - c > 1) {
        cell_begin_[depth] = static_cast<int32_t>(c);
        cell_end_[depth] = static_cast<int32_t>(e);
        next_[depth] = static_cast<int32_t>(c);
        int32_t* orbit = level(orbit_, depth);
        for (int64_t k = 0; k < m_; ++k) orbit[k] = static_cast<int32_t>(k);
        return true;
      }
      c = e;
    }
    return false;
  }

  GEOGNN_HD static int32_t find(int32_t* orbit, int32_t a) {
    while (orbit[a] != a) a = orbit[a] = orbit[orbit[a]];
    return a;
  }

  // The next atom of node `depth`'s cell that no automorphism found so far maps onto an earlier one; -1 if none.
  GEOGNN_HD int32_t next_child(int64_t depth) {
    const int32_t* order = level(order_, depth);
    int32_t* orbit = level(orbit_, depth);
    for (int32_t p = next_[depth]; p < cell_end_[depth]; ++p) {
      const int32_t root = find(orbit, order[p]);
      bool seen = false;
      for (int32_t q = cell_begin_[depth]; q < p && !seen; ++q) seen = find(orbit, order[q]) == root;
      if (!seen) {
        next_[depth] = p + 1;
        return order[p];
      }
    }
    next_[depth] = cell_end_[depth];
    return -1;
  }

  // +1 if `leaf` gives the larger matrix than best_, -1 if smaller, 0 if equal to rtol
  // (upper triangle, row by row: the first entry that differs decides).
  GEOGNN_HD int compare(const int32_t* leaf, const int32_t* best) const {
    for (int64_t r = 0; r < m_; ++r)
      for (int64_t c = r; c < m_; ++c) {
        const T a = at(leaf[r], leaf[c]), b = at(best[r], best[c]);
        const T larger = magnitude(a) > magnitude(b) ? magnitude(a) : magnitude(b);
        if (magnitude(a - b) > rtol_ * larger) return a > b ? 1 : -1;
      }
    return 0;
  }

  // `leaf` and best_ give the same matrix, so best_[p] -> leaf[p] maps the matrix onto itself.
  // Each node of the current path whose individualised atoms it fixes merges its orbits.
  GEOGNN_HD void record_automorphism(const int32_t* leaf, int64_t depth) {
    for (int64_t p = 0; p < m_; ++p) automorphism_[best_[p]] = leaf[p];
    for (int64_t d = 0; d <= depth; ++d) {
      if (d > 0 && automorphism_[fixed_[d - 1]] != fixed_[d - 1]) return;
      int32_t* orbit = level(orbit_, d);
      for (int32_t a = 0; a < m_; ++a) {
        const int32_t x = find(orbit, a), y = find(orbit, automorphism_[a]);
        if (x != y) orbit[x > y ? x : y] = x < y ? x : y;
      }
    }
  }

  int64_t m_;
  const T* M_;
  const T* norms_;
  T rtol_;
  T* sig_;
  int32_t *order_, *start_, *orbit_, *best_, *automorphism_, *fixed_, *cell_begin_, *cell_end_, *next_;
};

}  // namespace coulomb
}  // namespace geognn
