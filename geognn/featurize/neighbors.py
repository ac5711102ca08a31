"""Radius graphs: every pair of atoms closer than a cutoff, with periodic images.

The neighbour search itself is done by vesin (cell lists, O(N)). It was chosen
over matscipy by measurement on this project's machine (see
``benchmarks/featurize.py``): it is faster on a 10,000-atom periodic system,
it accepts a zero cell for non-periodic input and mixed periodicity, and one
call over a whole batch of molecules laid side by side costs a few µs per QM9
molecule, where a call per molecule costs 20-30 µs in either library.

vesin's own distances decide every pair except the few within 1e-6 Å of the
cutoff; those are decided by the exact distance computed from the caller's
positions, so batched and one-by-one results are identical and the result
does not depend on how the library rounds.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import torch
import vesin

from geognn.featurize._threads import one_thread_on_cpu

__all__ = ["NeighborsTruncatedWarning", "radius_graph"]

# The search runs with a slightly larger cutoff, and pairs whose distance is
# within this of the cutoff are decided by the exact distance; this covers the
# rounding of the library and of the offsets that lay molecules side by side.
_SEARCH_SLACK = 1e-6
# Gap (Å) added to the cutoff between neighbouring molecules of a batch.
_MOLECULE_GAP = 1.0
# Periodic cells of at least this many atoms are searched with the caller's torch thread count (_search_threads).
_THREADED_SEARCH_ATOMS = 1000


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


_cached = threading.local()


def _neighbor_list(search_cutoff, n_threads):
    """This thread's vesin calculator for that cutoff and thread count, reused so that its buffers are too.

    A fresh calculator per call allocates (and page-faults) its output anew:
    about 10 ms of a 10,000-atom periodic search on this project's machine.
    It holds on to the buffers of its last search until the thread ends.
    """
    lists = getattr(_cached, "lists", None)
    if lists is None:
        lists = _cached.lists = {}
    key = (search_cutoff, n_threads)
    nl = lists.get(key)
    if nl is None:
        if len(lists) >= 4:
            lists.clear()
        nl = lists[key] = vesin.NeighborList(cutoff=search_cutoff, full_list=True, n_threads=n_threads)
    return nl


def _search_threads(num_points, periodic, threads):
    """vesin threads for one search: ``threads`` for periodic cells of ``_THREADED_SEARCH_ATOMS`` atoms or more, else 1.

    Measured with vesin 0.6.2 on this project's 2-core machine by
    ``benchmarks/radius_graph_threads.py`` (2026-12-01): two threads build a
    periodic cell's graph 19-40 % faster from 500 to 50,000 atoms (10,000
    atoms: 64 against 90 ms) and stay within 5 % of one thread with the other
    core busy; batches of QM9 molecules gain 0-11 % quiet but lose 3-9 % busy,
    so they keep one thread.
    """
    return threads if periodic and num_points >= _THREADED_SEARCH_ATOMS else 1


def _search(points, box, periodic, cutoff, exact_pos, want_image=False, threads=1):
    """Edges of one vesin call, sorted by target, then source, then image.

    Returns fresh arrays (dst, src, image, shift): target and source (E,)
    int64, image (E, 3) int64 (only with ``want_image``, else None) and shift
    (E, 3) float64 Å (None when nothing is periodic).

    vesin's pair (i, j, S) is the vector pos[j] - pos[i] + S @ box; it is taken
    as the edge from source j to target i with image -S (the full list holds
    both directions, so the set of edges is the same). vesin's own distance
    decides every pair except those within ``_SEARCH_SLACK`` of the cutoff,
    which are decided by the exact distance computed from ``exact_pos``: the
    caller's positions, before any offset that lays molecules side by side.
    """
    any_periodic = bool(np.any(periodic))
    nl = _neighbor_list(cutoff + _SEARCH_SLACK, _search_threads(len(points), any_periodic, threads))
    # copy=False: vesin's own buffers, valid until nl's next search; everything returned is a new array.
    if any_periodic:
        i, j, s, d = nl.compute(points, box, periodic, "ijSd", copy=False)
        # Each image gets an integer code, ordered like the (n0, n1, n2) triples,
        # that is also its row in small tables of images and Cartesian shifts.
        image_low = -int(s.max()) if len(s) else 0
        span = int(s.max()) - int(s.min()) + 1 if len(s) else 1
        code = (s @ np.array([-span * span, -span, -1], dtype=np.int32)).astype(np.int64)
        code -= image_low * (span * span + span + 1)
        images = np.stack(np.unravel_index(np.arange(span**3), (span,) * 3), axis=1) + image_low
        table = _shifts(images, box)
    else:
        i, j, d = nl.compute(points, box, False, "ijd", copy=False)
        code = images = table = None
    target, source = i.view(np.int64), j.view(np.int64)  # indices < 2^63: the same bits
    near = np.nonzero(d >= cutoff - _SEARCH_SLACK)[0]
    if len(near):
        vec = exact_pos[target[near]] - exact_pos[source[near]]
        if table is not None:
            vec += table[code[near]]
        beyond = near[np.linalg.norm(vec, axis=1) >= cutoff]
        if len(beyond):
            keep = np.ones(len(target), dtype=bool)
            keep[beyond] = False
            target, source = target[keep], source[keep]
            code = None if code is None else code[keep]
    # Every (target, source, image) occurs once: packed into one integer per
    # edge, a plain sort of the integers orders the edges, and the fields come
    # back out with shifts and masks.
    source_bits = max(len(points) - 1, 1).bit_length()
    code_bits = 0 if code is None else max(len(table) - 1, 1).bit_length()
    if 2 * source_bits + code_bits > 63:
        raise ValueError(f"{len(points)} atoms are too many to sort edges by one 64-bit key")
    key = np.left_shift(target, source_bits)
    key |= source
    if code is not None:
        key <<= code_bits
        key |= code
    key.sort()
    del i, j, d
    # Decoded straight into the (2, E) edge_index layout: row 0 sources, row 1 targets.
    pairs = np.empty((2, len(key)), dtype=np.int64)
    np.right_shift(key, source_bits + code_bits, out=pairs[1])
    np.right_shift(key, code_bits, out=pairs[0])
    pairs[0] &= (1 << source_bits) - 1
    if code is None:
        return pairs[1], pairs[0], (np.zeros((len(key), 3), np.int64) if want_image else None), None
    code = key & ((1 << code_bits) - 1)
    return pairs[1], pairs[0], (images[code] if want_image else None), np.take(table, code, axis=0)


def _shifts(image, cell):
    """(K, 3) Cartesian shifts image @ cell, written out (no BLAS call, whose threads stall on such shapes)."""
    image = image.astype(np.float64)
    return image[:, 0:1] * cell[0] + image[:, 1:2] * cell[1] + image[:, 2:3] * cell[2]


def _search_molecules(pos64, batch_np, num_graphs, cutoff):
    """Non-periodic sorted (target, source) pairs of all molecules in one call, molecules laid out along x."""
    if batch_np is None:
        return _search(pos64, np.zeros((3, 3)), False, cutoff, pos64)[:2]
    lo, hi = _bounding_boxes(pos64, batch_np, num_graphs)
    width = np.where(np.isfinite(hi[:, 0]), hi[:, 0] - lo[:, 0], 0.0) + cutoff + _MOLECULE_GAP
    start = np.concatenate([[0.0], np.cumsum(width)[:-1]])
    offset = -np.where(np.isfinite(lo), lo, 0.0)
    offset[:, 0] += start
    return _search(pos64 + offset[batch_np], np.zeros((3, 3)), False, cutoff, pos64)[:2]


def _bounding_boxes(pos64, batch_np, num_graphs):
    """Per-molecule lowest and highest coordinates (B, 3); inf and -inf for molecules without atoms."""
    lo = np.full((num_graphs, 3), np.inf)
    hi = np.full((num_graphs, 3), -np.inf)
    if np.all(batch_np[1:] >= batch_np[:-1]):
        # Atoms grouped by molecule, the usual layout: one reduction per run, no slow ufunc.at.
        present = np.bincount(batch_np, minlength=num_graphs) > 0
        starts = np.searchsorted(batch_np, np.nonzero(present)[0])
        lo[present] = np.minimum.reduceat(pos64, starts, axis=0)
        hi[present] = np.maximum.reduceat(pos64, starts, axis=0)
    else:
        np.minimum.at(lo, batch_np, pos64)
        np.maximum.at(hi, batch_np, pos64)
    return lo, hi


def _search_periodic(pos64, batch_np, num_graphs, cell_np, pbc_np, cutoff, want_image, threads):
    """Sorted (target, source, image, shift) of each structure with its own cell; vesin threads as _search_threads."""
    if batch_np is None:
        return _search(pos64, cell_np[0], pbc_np[0].tolist(), cutoff, pos64, want_image, threads)
    grouped = bool(np.all(batch_np[1:] >= batch_np[:-1]))
    parts = []
    for b in range(num_graphs):
        atoms = np.nonzero(batch_np == b)[0]
        if len(atoms) == 0:
            continue
        dst, src, image, shift = _search(pos64[atoms], cell_np[b], pbc_np[b].tolist(), cutoff, pos64[atoms],
                                         want_image or not grouped, threads)
        if shift is None:  # a structure of the batch without periodic directions
            shift = np.zeros((len(dst), 3))
        parts.append((atoms[dst], atoms[src], image, shift))
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros((0, 3), np.int64), np.zeros((0, 3))
    dst, src = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    shift = np.concatenate([p[3] for p in parts])
    image = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
    if not grouped:  # structures' atoms interleaved: the per-structure orders must be merged
        order = np.lexsort((image[:, 2], image[:, 1], image[:, 0], src, dst))
        dst, src, image, shift = dst[order], src[order], image[order], shift[order]
    return dst, src, image, shift


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
    # The torch ops here are small and run on one thread; a large periodic search may use the caller's threads.
    threads = max(1, torch.get_num_threads())
    with one_thread_on_cpu(getattr(pos, "device", "cpu")):
        return _radius_graph(pos, cutoff, batch, cell, pbc, max_neighbors, threads)


def _radius_graph(pos, cutoff, batch, cell, pbc, max_neighbors, threads):
    _check_inputs(pos, cutoff, batch, max_neighbors)
    cutoff = float(cutoff)
    num_atoms = pos.shape[0]
    num_graphs = int(batch.max()) + 1 if batch is not None and num_atoms else 1
    cell_np, pbc_np = _normalise_cell(cell, pbc, num_graphs)
    pos64 = np.ascontiguousarray(pos.detach().cpu().numpy(), dtype=np.float64)
    batch_np = None if batch is None else batch.detach().cpu().numpy().astype(np.int64, copy=False)

    image = shift64 = None
    if num_atoms == 0:
        dst = src = np.zeros(0, np.int64)
    elif cell_np is None:
        dst, src = _search_molecules(pos64, batch_np, num_graphs, cutoff)
    else:
        dst, src, image, shift64 = _search_periodic(pos64, batch_np, num_graphs, cell_np, pbc_np, cutoff,
                                                    max_neighbors is not None, threads)
    if max_neighbors is not None:
        kept = _nearest(pos64, dst, src, image, shift64, int(max_neighbors), num_atoms)
        if kept is not None:
            dst, src = dst[kept], src[kept]
            shift64 = None if shift64 is None else shift64[kept]

    if src.base is not None and src.base is dst.base and src.base.shape == (2, len(src)):
        pairs = src.base  # already laid out as (2, E) by the search
    else:
        pairs = np.stack([src, dst])
    edge_index = torch.from_numpy(pairs).to(pos.device)
    if shift64 is None and pos.device.type == "cpu" and pos.dtype in (torch.float32, torch.float64):
        # NumPy's zeros come from the kernel's zero pages: nothing is written until the shifts are read.
        zeros = np.zeros((len(src), 3), dtype=np.float32 if pos.dtype == torch.float32 else np.float64)
        edge_shift = torch.from_numpy(zeros)
    elif shift64 is None:
        edge_shift = torch.zeros((len(src), 3), dtype=pos.dtype, device=pos.device)
    else:
        edge_shift = torch.from_numpy(shift64).to(device=pos.device, dtype=pos.dtype)
    return edge_index, edge_shift


def _nearest(pos64, dst, src, image, shift, k, num_atoms):
    """Sorted indices of the k nearest sources of each target (ties: lower source, then image), or None for all.

    Distances are exact, from the caller's positions.
    """
    counts = np.bincount(dst, minlength=num_atoms)
    if len(dst) == 0 or counts.max() <= k:
        return None
    vec = pos64[dst] - pos64[src]
    if shift is not None:
        vec += shift
    dist = np.linalg.norm(vec, axis=1)
    keys = (src, dist, dst) if image is None else (image[:, 2], image[:, 1], image[:, 0], src, dist, dst)
    order = np.lexsort(keys)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(order)) - first[dst[order]]
    kept = np.sort(order[rank < k])
    over = counts > k
    warnings.warn(
        NeighborsTruncatedWarning(
            f"max_neighbors={k} dropped {len(src) - len(kept)} edges: {int(over.sum())} atoms had more "
            f"neighbours within the cutoff (up to {int(counts.max())}); the nearest {k} were kept",
            int(over.sum()), len(src) - len(kept), int(counts.max()),
        ),
        stacklevel=3,
    )
    return kept
