"""Radius graphs: every pair of atoms closer than a cutoff, with periodic images.

The neighbour search itself is done by vesin (cell lists, O(N)). It was chosen
over matscipy by measurement on this project's machine (see
``benchmarks/featurize.py``): it is faster on a 10,000-atom periodic system,
it accepts a zero cell for non-periodic input and mixed periodicity, and one
call over a whole batch of molecules laid side by side costs a few µs per QM9
molecule, where a call per molecule costs 20-30 µs in either library.

Whatever the library returns is re-checked here against the exact distance
computed from the caller's positions, so batched and one-by-one results are
identical and the result does not depend on how the library rounds.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import vesin

__all__ = ["NeighborsTruncatedWarning", "radius_graph"]

# The search runs with a slightly larger cutoff, then every pair is filtered
# against the exact distance; this covers the rounding of the library and of
# the offsets used to lay molecules of a batch side by side.
_SEARCH_SLACK = 1e-6
# Gap (Å) added to the cutoff between neighbouring molecules of a batch.
_MOLECULE_GAP = 1.0


class NeighborsTruncatedWarning(UserWarning):
    """Raised (as a warning) when ``max_neighbors`` dropped edges.

    Attributes: ``num_atoms`` target atoms lost at least one neighbour,
    ``num_edges_dropped`` edges were removed in total, ``max_found`` is the
    largest number of neighbours any atom had before truncation.
    """

    def __init__(self, message: str, num_atoms: int, num_edges_dropped: int, max_found: int):
        super().__init__(message)
        self.num_atoms = num_atoms
        self.num_edges_dropped = num_edges_dropped
        self.max_found = max_found


def _check_inputs(pos, cutoff, batch, max_neighbors):
    if not isinstance(pos, torch.Tensor) or pos.dim() != 2 or pos.shape[1] != 3:
        shape = tuple(pos.shape) if isinstance(pos, torch.Tensor) else type(pos).__name__
        raise ValueError(f"pos must be a (N, 3) tensor of positions in Å, got {shape}")
    if not pos.is_floating_point():
        raise TypeError(f"pos must be a floating-point tensor, got {pos.dtype}")
    if not (isinstance(cutoff, (int, float)) and np.isfinite(cutoff) and cutoff > 0):
        raise ValueError(f"cutoff must be a positive finite number of Å, got {cutoff!r}")
    bad = (~torch.isfinite(pos).all(dim=1)).nonzero()
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"pos of atom {i} is not finite: {pos[i].tolist()} ({len(bad)} such atoms)")
    if batch is not None:
        if not isinstance(batch, torch.Tensor) or batch.shape != (pos.shape[0],):
            raise ValueError(f"batch must be a ({pos.shape[0]},) tensor, got {getattr(batch, 'shape', batch)}")
        if batch.dtype not in (torch.int64, torch.int32) or (len(batch) and int(batch.min()) < 0):
            raise ValueError("batch must hold non-negative integer molecule indices")
    if max_neighbors is not None and (int(max_neighbors) != max_neighbors or max_neighbors < 1):
        raise ValueError(f"max_neighbors must be a positive integer or None, got {max_neighbors!r}")


def _normalise_cell(cell, pbc, num_graphs):
    """Returns (cell (B,3,3) float64 numpy | None, pbc (B,3) bool numpy) for B molecules."""
    if cell is None and pbc is None:
        return None, np.zeros((num_graphs, 3), dtype=bool)
    if pbc is None:
        pbc_np = np.ones((num_graphs, 3), dtype=bool)  # a cell without pbc means periodic
    else:
        pbc_np = np.asarray(torch.as_tensor(pbc).cpu(), dtype=bool)
        if pbc_np.shape == ():
            pbc_np = np.full(3, bool(pbc_np))
        if pbc_np.size not in (3, 3 * num_graphs):
            raise ValueError(f"pbc must have shape (3,) or ({num_graphs}, 3), got {pbc_np.shape}")
        pbc_np = np.broadcast_to(pbc_np.reshape(-1, 3), (num_graphs, 3)).copy()
    if not pbc_np.any():
        return None, pbc_np
    if cell is None:
        raise ValueError("pbc asks for periodic directions but no cell was given")
    cell_np = np.asarray(torch.as_tensor(cell).detach().cpu(), dtype=np.float64)
    if cell_np.shape == (3, 3):
        cell_np = np.broadcast_to(cell_np, (num_graphs, 3, 3))
    elif cell_np.shape != (num_graphs, 3, 3):
        raise ValueError(f"cell must have shape (3, 3) or ({num_graphs}, 3, 3) in Å, got {cell_np.shape}")
    if not np.isfinite(cell_np).all():
        raise ValueError("cell contains NaN or inf")
    for b in range(num_graphs):
        periodic = cell_np[b][pbc_np[b]]
        if periodic.shape[0] and np.linalg.matrix_rank(periodic, tol=1e-8) < periodic.shape[0]:
            raise ValueError(f"cell of molecule {b} is degenerate along its periodic directions: {cell_np[b].tolist()}")
    return np.ascontiguousarray(cell_np), pbc_np


def _vesin(points, box, periodic, cutoff):
    n_threads = max(1, torch.get_num_threads())
    nl = vesin.NeighborList(cutoff=cutoff + _SEARCH_SLACK, full_list=True, n_threads=n_threads)
    i, j, s = nl.compute(points, box, periodic, "ijS")
    return i.astype(np.int64), j.astype(np.int64), s.astype(np.int64)


def _search_molecules(pos64, batch_np, num_graphs, cutoff):
    """Non-periodic pairs of all molecules in one call, molecules laid out along x."""
    if batch_np is None:
        i, j, _ = _vesin(pos64, np.zeros((3, 3)), False, cutoff)
        return i, j, np.zeros((len(i), 3), dtype=np.int64)
    lo = np.full((num_graphs, 3), np.inf)
    hi = np.full((num_graphs, 3), -np.inf)
    np.minimum.at(lo, batch_np, pos64)
    np.maximum.at(hi, batch_np, pos64)
    width = np.where(np.isfinite(hi[:, 0]), hi[:, 0] - lo[:, 0], 0.0) + cutoff + _MOLECULE_GAP
    start = np.concatenate([[0.0], np.cumsum(width)[:-1]])
    offset = -np.where(np.isfinite(lo), lo, 0.0)
    offset[:, 0] += start
    i, j, _ = _vesin(pos64 + offset[batch_np], np.zeros((3, 3)), False, cutoff)
    return i, j, np.zeros((len(i), 3), dtype=np.int64)


def _search_periodic(pos64, batch_np, num_graphs, cell_np, pbc_np, cutoff):
    """Pairs of each structure with its own cell; returns integer image counts too."""
    if batch_np is None:
        return _vesin(pos64, cell_np[0], pbc_np[0].tolist(), cutoff)
    src, dst, img = [], [], []
    for b in range(num_graphs):
        atoms = np.nonzero(batch_np == b)[0]
        if len(atoms) == 0:
            continue
        i, j, s = _vesin(pos64[atoms], cell_np[b], pbc_np[b].tolist(), cutoff)
        src.append(atoms[i])
        dst.append(atoms[j])
        img.append(s)
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64)
    return np.concatenate(src), np.concatenate(dst), np.concatenate(img)


def radius_graph(pos, cutoff, batch=None, *, cell=None, pbc=None, max_neighbors=None):
    """All directed pairs of atoms closer than ``cutoff``, periodic images included.

    Args:
        pos: (N, 3) float tensor, positions in Å (any device; the search runs on CPU).
        cutoff: radius in Å; a pair is an edge when its distance is strictly below it.
        batch: (N,) int64 molecule index of each atom, or None for one structure.
            Edges never join atoms of different molecules.
        cell: (3, 3) or (B, 3, 3) lattice vectors as rows, in Å, or None.
        pbc: (3,) or (B, 3) bool periodicity of each lattice direction. When a
            cell is given and pbc is None, all three directions are periodic.
        max_neighbors: keep at most this many nearest sources per target atom
            (ties broken by source index). Dropped edges are reported with a
            :class:`NeighborsTruncatedWarning`; nothing is dropped otherwise.

    Returns:
        edge_index: (2, E) int64; row 0 is the source j, row 1 the target i.
        edge_shift: (E, 3) Cartesian image shift in Å (pos.dtype), such that
            ``pos[edge_index[1]] - pos[edge_index[0]] + edge_shift`` is the
            vector from the source to the target. Zero for non-periodic input.

    Edges are sorted by target, then source, then shift. There is no edge from
    an atom to itself at zero shift; its periodic images are edges when they
    lie within the cutoff, and with cells smaller than twice the cutoff one
    atom can see several images of the same neighbour.
    """
    _check_inputs(pos, cutoff, batch, max_neighbors)
    cutoff = float(cutoff)
    num_atoms = pos.shape[0]
    num_graphs = int(batch.max()) + 1 if batch is not None and num_atoms else 1
    cell_np, pbc_np = _normalise_cell(cell, pbc, num_graphs)
    pos64 = np.ascontiguousarray(pos.detach().cpu().to(torch.float64).numpy())
    batch_np = None if batch is None else batch.detach().cpu().numpy().astype(np.int64)

    if num_atoms == 0:
        src = dst = np.zeros(0, np.int64)
        img = np.zeros((0, 3), np.int64)
    elif cell_np is None:
        src, dst, img = _search_molecules(pos64, batch_np, num_graphs, cutoff)
    else:
        src, dst, img = _search_periodic(pos64, batch_np, num_graphs, cell_np, pbc_np, cutoff)

    if cell_np is None:
        shift64 = np.zeros((len(src), 3))
    elif batch_np is None:
        shift64 = img @ cell_np[0]
    else:
        shift64 = np.einsum("ek,ekl->el", img.astype(np.float64), cell_np[batch_np[src]])
    dist = np.linalg.norm(pos64[dst] - pos64[src] + shift64, axis=1)
    keep = dist < cutoff
    src, dst, img, shift64, dist = src[keep], dst[keep], img[keep], shift64[keep], dist[keep]

    if max_neighbors is not None:
        src, dst, img, shift64 = _keep_nearest(src, dst, img, shift64, dist, int(max_neighbors), num_atoms)

    # One integer key sorts by target then source; images break the remaining ties.
    pair_key = dst * max(num_atoms, 1) + src
    order = np.argsort(pair_key, kind="stable") if cell_np is None else np.lexsort((_image_code(img), pair_key))
    edge_index = torch.from_numpy(np.stack([src[order], dst[order]])).to(pos.device)
    edge_shift = torch.from_numpy(shift64[order]).to(device=pos.device, dtype=pos.dtype)
    return edge_index, edge_shift


def _image_code(img):
    """One int64 per image triple, ordered like (n0, n1, n2); image counts stay far below 2^20."""
    shifted = img + (1 << 20)
    return (shifted[:, 0] << 42) | (shifted[:, 1] << 21) | shifted[:, 2]


def _keep_nearest(src, dst, img, shift, dist, k, num_atoms):
    order = np.lexsort((_image_code(img), src, dist, dst))
    counts = np.bincount(dst, minlength=num_atoms)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(order)) - first[dst[order]]
    kept = order[rank < k]
    if len(kept) < len(src):
        over = counts > k
        warnings.warn(
            NeighborsTruncatedWarning(
                f"max_neighbors={k} dropped {len(src) - len(kept)} edges: {int(over.sum())} atoms had more "
                f"neighbours within the cutoff (up to {int(counts.max())}); the nearest {k} were kept",
                int(over.sum()), len(src) - len(kept), int(counts.max()),
            ),
            stacklevel=3,
        )
    return src[kept], dst[kept], img[kept], shift[kept]
