"""3D graphs for models that see geometry: a PyG transform and ASE ``Atoms`` → ``Data``.

The pair search is :func:`geognn.featurize.neighbors.radius_graph`; this module
only attaches its result (and what follows from it) to ``Data`` objects.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from geognn.featurize.neighbors import radius_graph

__all__ = ["RadiusGraph", "atoms_to_graph", "positions_to_graph"]


def _edge_geometry(pos, edge_index, edge_shift):
    edge_vec = pos[edge_index[1]] - pos[edge_index[0]] + edge_shift
    return edge_vec, torch.linalg.vector_norm(edge_vec, dim=1)


class RadiusGraph(BaseTransform):
    """Transform that connects every pair of atoms closer than ``cutoff`` (Å).

    Reads ``data.pos`` (N, 3) Å, and when present ``data.batch`` (N,),
    ``data.cell`` ((3, 3), (1, 3, 3) or (B, 3, 3) Å) and ``data.pbc`` ((3,),
    (1, 3) or (B, 3) bool). Sets ``edge_index`` (2, E) int64 (source, target),
    ``edge_shift`` (E, 3) Å, ``edge_vec`` (E, 3) Å from source to target and
    ``edge_length`` (E,) Å. ``max_neighbors`` keeps the nearest sources of each
    target and warns with :class:`~geognn.featurize.NeighborsTruncatedWarning`
    when it drops any.
    """

    def __init__(self, cutoff: float, max_neighbors: int | None = None):
        self.cutoff = float(cutoff)
        self.max_neighbors = max_neighbors

    def forward(self, data: Data) -> Data:
        if getattr(data, "pos", None) is None:
            raise ValueError("RadiusGraph needs data.pos, the (N, 3) positions in Å")
        edge_index, edge_shift = radius_graph(
            data.pos, self.cutoff, getattr(data, "batch", None),
            cell=getattr(data, "cell", None), pbc=getattr(data, "pbc", None),
            max_neighbors=self.max_neighbors,
        )
        data.edge_index = edge_index
        data.edge_shift = edge_shift
        data.edge_vec, data.edge_length = _edge_geometry(data.pos, edge_index, edge_shift)
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cutoff={self.cutoff}, max_neighbors={self.max_neighbors})"


def positions_to_graph(z, pos, cutoff, *, cell=None, pbc=None, max_neighbors=None, dtype=None) -> Data:
    """Radius graph of one structure given as arrays.

    Args:
        z: (N,) atomic numbers. pos: (N, 3) positions in Å.
        cutoff: radius in Å. cell: (3, 3) lattice vectors as rows in Å, or None.
        pbc: (3,) bool, or None (periodic everywhere if a cell is given, else nowhere).
        dtype: float dtype of pos and the geometry (default: torch's default dtype).

    Returns:
        ``Data`` with z (N,) int64, pos (N, 3), edge_index (2, E), edge_shift
        (E, 3) Å, edge_vec (E, 3) Å, edge_length (E,) Å, and cell (1, 3, 3) Å and
        pbc (1, 3) bool (a leading 1 so that batching stacks them per structure).
    """
    dtype = dtype or torch.get_default_dtype()
    z = torch.as_tensor(np.asarray(z), dtype=torch.int64)
    pos = torch.as_tensor(np.asarray(pos, dtype=np.float64)).to(dtype)
    if z.dim() != 1 or pos.shape != (z.shape[0], 3):
        raise ValueError(f"z must be (N,) and pos (N, 3); got {tuple(z.shape)} and {tuple(pos.shape)}")
    if z.numel() == 0:
        raise ValueError("the structure has no atoms")
    if int(z.min()) < 1 or int(z.max()) > 118:
        raise ValueError(f"atomic numbers must lie in 1..118, got {int(z.min())}..{int(z.max())}")
    cell_t = torch.zeros(3, 3, dtype=dtype) if cell is None else torch.as_tensor(np.asarray(cell, dtype=np.float64)).to(dtype)
    if pbc is None:
        pbc = cell is not None
    pbc_t = torch.as_tensor(np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy())
    edge_index, edge_shift = radius_graph(pos, cutoff, cell=cell_t, pbc=pbc_t, max_neighbors=max_neighbors)
    edge_vec, edge_length = _edge_geometry(pos, edge_index, edge_shift)
    return Data(z=z, pos=pos, edge_index=edge_index, edge_shift=edge_shift, edge_vec=edge_vec,
                edge_length=edge_length, cell=cell_t.reshape(1, 3, 3), pbc=pbc_t.reshape(1, 3))


def atoms_to_graph(atoms, cutoff, *, max_neighbors=None, dtype=None) -> Data:
    """Radius graph of an ASE ``Atoms`` (or a :class:`geognn.featurize.io.Molecule`).

    Cell and periodicity are taken from the structure. Energy (eV) and forces
    (eV/Å) already stored on it are copied, never computed: from
    ``atoms.calc.results`` for ``Atoms`` (as the extxyz reader leaves them),
    from ``properties["energy"]`` / ``atom_properties["forces"]`` for a
    ``Molecule``.

    Returns:
        ``Data`` as :func:`positions_to_graph`, plus ``energy`` (1,) eV and
        ``forces`` (N, 3) eV/Å when the structure carries them.
    """
    dtype = dtype or torch.get_default_dtype()
    energy = forces = None
    if hasattr(atoms, "get_atomic_numbers"):
        z, pos = atoms.get_atomic_numbers(), atoms.get_positions()
        pbc = np.asarray(atoms.get_pbc(), dtype=bool)
        cell = np.asarray(atoms.get_cell()) if pbc.any() else None
        results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
        energy, forces = results.get("energy"), results.get("forces")
    elif hasattr(atoms, "z") and hasattr(atoms, "pos"):
        if atoms.pos is None:
            raise ValueError(f"{atoms.identifier}: no 3D positions, so no radius graph can be built")
        z, pos = atoms.z, atoms.pos
        pbc = np.zeros(3, bool) if atoms.pbc is None else np.asarray(atoms.pbc, dtype=bool)
        cell = atoms.cell if pbc.any() else None
        energy = atoms.properties.get("energy")
        forces = atoms.atom_properties.get("forces")
    else:
        raise TypeError(f"atoms_to_graph expects ase.Atoms or a Molecule record, got {type(atoms).__name__}")
    data = positions_to_graph(z, pos, cutoff, cell=cell, pbc=pbc, max_neighbors=max_neighbors, dtype=dtype)
    if energy is not None:
        data.energy = torch.tensor([float(energy)], dtype=dtype)
    if forces is not None:
        data.forces = torch.as_tensor(np.asarray(forces, dtype=np.float64)).to(dtype)
    return data
