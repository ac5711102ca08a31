"""Canonical atom order of one Coulomb matrix: the reference implementation (NumPy).

``permutation="sorted_canonical"`` of :class:`~geognn.featurize.CoulombMatrix`
orders atoms so that the matrix does not depend on the order in which they were
listed. The native kernels (``kernels/include/geognn/canonical.h``, shared by
the CPU and CUDA kernels) implement the same definition with a pruned search;
this module explores the whole search tree, so the two are independent
routes to the same matrix, and the tests compare them.

The definition, on an ordered partition of the atoms into cells ("colours"):

1. **Row norm**, largest first; norms equal to the tie tolerance (chained, as
   ``sorted_l2`` does) share a cell. Without such ties the order is exactly
   ``sorted_l2``'s.
2. **Sorted row**: each cell is split by the row's entries sorted largest first
   (diagonal included), compared coordinate by coordinate.
3. **Colour refinement** (1-dimensional Weisfeiler-Leman on the complete
   weighted graph): an atom's signature is, for each cell C in order, its
   entries towards the atoms of C (itself excluded), sorted largest first;
   every cell is split by the signatures until no cell splits.
4. **Individualisation**: while a cell holds more than one atom, each atom of
   the first such cell is in turn put in a cell of its own before the rest of
   that cell, and step 3 runs again. Every branch ends in an order of single
   atoms (a leaf); the leaf whose matrix is largest (upper triangle, row by
   row, first entry that differs by more than the tolerance decides) is the
   canonical order.

Every key is compared in one number at a time: members of a cell are sorted
by their exact value and split where two neighbours differ by more than
``rtol`` times the larger, so which atoms share a cell depends on the values
only, not on the input order.

What it guarantees: every step depends on the matrix entries, never on the
input order, and the kept leaf is the largest of all, so any atom order of the
same geometry (and any rotation or translation, which change entries by
rounding only) gives the same matrix, to rounding. Where several leaves tie
for the largest, their matrices agree, so which one is kept does not matter.
No case is left open in exact arithmetic, including molecules whose
symmetric atoms colour refinement cannot tell apart (the search covers them).
What it cannot guarantee: with a tolerance, two values that differ by about
``rtol`` (a symmetry broken at that scale, e.g. ~1e-5 in float32) may count
as equal in one atom order and as different in another once rounding moves
them; the output can then differ between the two orders. The search ends:
atoms with distinct positions are told apart by their distances to four
individualised atoms that span space, so it is at most a few levels deep; the
native kernels still stop with an error after 65,536 leaves, reachable only
by atoms closer to one another than the tolerance.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["canonical_order", "equitable_partition", "search_leaves"]

Partition = list  # list of cells, each a list of atom indices, in order


def canonical_order(matrix: np.ndarray, norms: np.ndarray, rtol: float) -> np.ndarray:
    """Atom order (m,) of the canonical Coulomb matrix: output row k is atom ``order[k]``.

    ``matrix`` (m, m) is one molecule's Coulomb matrix (entries positive, any
    unit), ``norms`` (m,) its row norms, ``rtol`` the relative tie tolerance.
    """
    best = None
    for leaf in search_leaves(matrix, norms, rtol):
        if best is None or compare_leaves(matrix, leaf, best, rtol) > 0:
            best = leaf
    return np.asarray(best if best is not None else [], dtype=np.int64)


def search_leaves(matrix: np.ndarray, norms: np.ndarray, rtol: float) -> Iterator[list]:
    """Every leaf (an atom order) of the individualisation-refinement tree, in search order."""
    m = matrix.shape[0]
    if m == 0:
        return iter(())
    start = _split(list(range(m)), norms, rtol)
    start = _refine_by_vectors(start, {a: -np.sort(-matrix[a]) for a in range(m)}, rtol)
    return _leaves(matrix, equitable_partition(matrix, start, rtol), rtol)


def equitable_partition(matrix: np.ndarray, partition: Partition, rtol: float) -> Partition:
    """Step 3: splits cells by their entries towards each cell until no cell splits."""
    while True:
        refined = _refine_by_vectors(partition, _signatures(matrix, partition), rtol)
        if len(refined) == len(partition):
            return refined
        partition = refined


def compare_leaves(matrix: np.ndarray, a: list, b: list, rtol: float) -> int:
    """+1 if order ``a`` gives the larger matrix, -1 if ``b`` does, 0 if they agree to ``rtol``."""
    rows, cols = np.triu_indices(len(a))
    x = matrix[np.ix_(a, a)][rows, cols]
    y = matrix[np.ix_(b, b)][rows, cols]
    differ = np.nonzero(np.abs(x - y) > rtol * np.maximum(np.abs(x), np.abs(y)))[0]
    if len(differ) == 0:
        return 0
    k = differ[0]
    return 1 if x[k] > y[k] else -1


def _leaves(matrix, partition, rtol):
    target = next((t for t, cell in enumerate(partition) if len(cell) > 1), None)
    if target is None:
        yield [cell[0] for cell in partition]
        return
    cell = partition[target]
    for atom in cell:
        rest = [a for a in cell if a != atom]
        child = partition[:target] + [[atom], rest] + partition[target + 1:]
        yield from _leaves(matrix, equitable_partition(matrix, child, rtol), rtol)


def _signatures(matrix, partition):
    """Per atom of a cell with more than one atom: its entries towards each cell in turn, sorted largest first."""
    signatures = {}
    for cell in partition:
        if len(cell) < 2:
            continue
        for i in cell:
            parts = [-np.sort(-matrix[i, [j for j in other if j != i]]) for other in partition]
            signatures[i] = np.concatenate(parts)
    return signatures


def _refine_by_vectors(partition, vectors, rtol):
    """Splits each cell by its members' vectors, one coordinate after the other."""
    refined = []
    for cell in partition:
        parts = [cell]
        if len(cell) > 1:
            for k in range(len(vectors[cell[0]])):
                if all(len(p) == 1 for p in parts):
                    break
                key = {a: vectors[a][k] for a in cell}
                parts = [group for p in parts for group in (_split(p, key, rtol) if len(p) > 1 else [p])]
        refined.extend(parts)
    return refined


def _split(cell, key, rtol):
    """The cell sorted by key, largest first, and cut where neighbours differ by more than rtol relative."""
    members = sorted(cell, key=lambda a: -key[a])
    groups = [[members[0]]]
    for previous, atom in zip(members, members[1:]):
        if key[previous] - key[atom] > rtol * abs(key[previous]):
            groups.append([atom])
        else:
            groups[-1].append(atom)
    return groups
