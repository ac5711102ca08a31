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
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model, cutoff: float | None = None, device: str = "cpu",
                 dtype: torch.dtype = torch.float64, **kwargs):
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
        self.model = model.to(device=self.device, dtype=dtype).eval()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from geognn.featurize import radius_graph

        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        pos = torch.as_tensor(atoms.positions, dtype=self.dtype, device=self.device)
        z = torch.as_tensor(atoms.numbers, dtype=torch.long, device=self.device)
        if atoms.pbc.any():
            cell = torch.as_tensor(np.asarray(atoms.cell), dtype=self.dtype)
            pbc = torch.as_tensor(atoms.pbc)
            edge_index, edge_shift = radius_graph(pos, self.cutoff, cell=cell, pbc=pbc)
        else:
            edge_index, edge_shift = radius_graph(pos, self.cutoff)
        data = Data(z=z, pos=pos, edge_index=edge_index.to(self.device),
                    edge_shift=edge_shift.to(device=self.device, dtype=self.dtype))
        out = self.model(data, forces=True)
        energy = float(out["y"].detach().reshape(-1)[0])
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = out["forces"].detach().cpu().numpy().astype(np.float64)
