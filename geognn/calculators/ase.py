"""An ASE calculator around any geognn energy model, for optimisation and MD."""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes
from torch_geometric.data import Data


class GeognnCalculator(Calculator):
    """ASE ``Calculator`` giving ``energy`` (eV) and ``forces`` (eV/Å) from a geognn model.

    The model is called as ``model(data, forces=True)`` on a ``Data`` with
    ``z``, ``pos`` (Å), ``edge_index`` and ``edge_shift`` (Å, periodic images
    included when the atoms have a cell and pbc), and must return
    ``{"y": (1, 1) energy in eV, "forces": (N, 3) in eV/Å}`` - e.g. a single-target
    :class:`geognn.models.SchNet` trained with a sum readout.

    Args:
        model: the energy model, a path to a ``geognn train`` checkpoint, or
            ``"zoo:NAME"`` for a single-target energy model of :mod:`geognn.zoo`.
        cutoff: neighbour cutoff in Å; default ``model.cutoff``.
        device: torch device for the model.
        dtype: float dtype the model runs in (float64 gives MD with better
            energy conservation; the model is converted).
        skin: Verlet skin in Å (molecules only). The neighbour list is built with
            ``cutoff + skin`` and reused until an atom has moved more than ``skin / 2``
            since it was built, so MD does not rebuild the graph every step. Pairs between
            ``cutoff`` and ``cutoff + skin`` add exactly zero for models whose cutoff
            function vanishes beyond the cutoff (SchNet's and Cormorant's do); 0 rebuilds
            the exact radius graph on every call.

    Per call, only the positions change hands: atomic numbers (checked once), the graph
    and its ``Data`` are kept while the atoms' numbers, cell and pbc stay the same, and so
    is what the model prepares from the graph alone (:meth:`MoleculeModel.prepare_graph`:
    SchNet's validated indices, pairs and CSR layouts), rebuilt with the neighbour list.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model, cutoff: float | None = None, device: str = "cpu",
                 dtype: torch.dtype = torch.float64, skin: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, torch.nn.Module):
            from geognn.train.checkpoint import model_from_checkpoint
            from geognn.zoo import resolve

            model = model_from_checkpoint(resolve(model))
        from geognn.models.base import MoleculeModel

        if not isinstance(model, MoleculeModel) and not hasattr(model, "cutoff"):
            raise ValueError(f"the calculator needs an energy model of atoms (SchNet, Cormorant); "
                             f"{type(model).__name__} is not one")
        if getattr(model, "num_targets", 1) != 1:
            raise ValueError(f"the calculator needs a single-target energy model, this one predicts "
                             f"{model.num_targets} targets")
        self.cutoff = float(cutoff if cutoff is not None else getattr(model, "cutoff", 0.0))
        if self.cutoff <= 0:
            raise ValueError("give the neighbour cutoff in Å (the model has no `cutoff` attribute)")
        self.device = torch.device(device)
        self.dtype = dtype
        if skin < 0:
            raise ValueError(f"skin must be >= 0 Å, got {skin}")
        self.skin = float(skin)
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.graph_builds = 0  # how often the neighbour list was built (MD diagnostics)
        self._graph_key = None
        self._graph_pos: np.ndarray | None = None
        self._data: Data | None = None
        self._prepared = None  # the model's prepare_graph(self._data), or None

    def check_state(self, atoms, tol: float = 1e-15) -> list[str]:
        """What changed since the last calculation, of what a geognn energy depends on.

        Positions, atomic numbers, cell and pbc, compared exactly (a change below ``tol``
        recomputes too, which is harmless). ASE's default compares every per-atom array
        with ``numpy.isclose`` (twelve calls per MD step: ~0.4 ms of a 2.9 ms step of
        ethanol); charges and magnetic moments do not enter the model.
        """
        old = self.atoms
        if old is None or len(old) != len(atoms):
            return list(all_changes)
        changes = []
        for name, before, now in (("positions", old.positions, atoms.positions),
                                  ("numbers", old.numbers, atoms.numbers),
                                  ("cell", old.cell.array, atoms.cell.array), ("pbc", old.pbc, atoms.pbc)):
            if not np.array_equal(before, now):
                changes.append(name)
        return changes

    def _needs_graph(self, atoms) -> bool:
        key = (atoms.numbers.tobytes(), np.asarray(atoms.cell).tobytes(), atoms.pbc.tobytes())
        if self._data is None or key != self._graph_key or self.skin == 0 or atoms.pbc.any():
            self._graph_key = key
            return True
        moved = np.sqrt(((atoms.positions - self._graph_pos) ** 2).sum(axis=1).max(initial=0.0))
        return bool(moved > 0.5 * self.skin)

    def _build_graph(self, atoms, pos: torch.Tensor) -> Data:
        from geognn.featurize import radius_graph

        z = torch.as_tensor(atoms.numbers, dtype=torch.long, device=self.device)
        if atoms.pbc.any():
            # Periodic cells: the exact radius graph every call (image shifts depend on the positions).
            cell = torch.as_tensor(np.asarray(atoms.cell), dtype=self.dtype)
            pbc = torch.as_tensor(atoms.pbc)
            edge_index, edge_shift = radius_graph(pos, self.cutoff, cell=cell, pbc=pbc)
            edge_shift = edge_shift.to(device=self.device, dtype=self.dtype)
        else:
            edge_index, _ = radius_graph(pos, self.cutoff + self.skin)
            edge_shift = None  # a molecule: no shifts (SchNet then shares each pair's work between directions)
        self.graph_builds += 1
        self._graph_pos = atoms.positions.copy()
        data = Data(z=z, pos=pos, edge_index=edge_index.to(self.device))
        if edge_shift is not None:
            data.edge_shift = edge_shift
        return data

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        pos = torch.as_tensor(atoms.positions, dtype=self.dtype, device=self.device)
        if self._needs_graph(atoms):
            self._data = self._build_graph(atoms, pos)
            prepare = getattr(self.model, "prepare_graph", None)
            self._prepared = prepare(self._data) if prepare is not None else None
        data = self._data
        data.pos = pos
        out = self.model(data, forces=True) if self._prepared is None else \
            self.model(data, forces=True, graph=self._prepared)
        energy = float(out["y"].detach().reshape(-1)[0])
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = out["forces"].detach().cpu().numpy().astype(np.float64)
