"""Radius graphs for the benchmark scripts, also where vesin is not installed (the borrowed GPU machine).

geognn's radius_graph searches with vesin; a machine without it (the GPU machine
has neither vesin nor ASE nor RDKit) gets the same edges from a brute-force
search on the tensors' own device: every ordered pair of atoms of one molecule
closer than the cutoff, sorted by target, then source, as geognn's graph is.
"""

from __future__ import annotations

import torch


def brute_force_radius_graph(pos: torch.Tensor, cutoff: float, batch: torch.Tensor) -> torch.Tensor:
    """(2, E) int64 edges (row 0 source j, row 1 target i) of atoms of one molecule closer than ``cutoff`` Å.

    pos: (N, 3) Å; batch: (N,) molecule of each atom, sorted. Memory grows as the
    square of the largest molecule times the molecules, done one molecule block at a time.
    """
    counts = torch.bincount(batch).tolist()
    edges, start = [], 0
    for n in counts:
        p = pos[start:start + n].detach()
        close = torch.cdist(p, p) < cutoff
        close.fill_diagonal_(False)
        dst, src = torch.nonzero(close, as_tuple=True)  # row-major: sorted by target, then source
        edges.append(torch.stack([src, dst]) + start)
        start += n
    return torch.cat(edges, dim=1) if edges else torch.zeros(2, 0, dtype=torch.long, device=pos.device)


def radius_graph(pos: torch.Tensor, cutoff: float, batch: torch.Tensor) -> torch.Tensor:
    """geognn's radius graph (vesin) where vesin is installed, else :func:`brute_force_radius_graph`."""
    try:
        from geognn.featurize import radius_graph as searched
    except ImportError:  # no vesin (or ASE/RDKit) here
        return brute_force_radius_graph(pos, cutoff, batch)
    edge_index, _ = searched(pos, cutoff, batch)
    return edge_index
