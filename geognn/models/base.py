"""What every geognn molecule model shares: input checks, the graph, forces, and the output scale.

A model subclasses :class:`MoleculeModel` and implements :meth:`~MoleculeModel.predict`,
a tensor-only forward pass from atomic numbers, positions and the graph to
(B, T) predictions. The base class turns a PyG ``Data``/``Batch`` into those
tensors (building the radius graph when the input has none), computes forces
as ``-dE/dpos`` by automatic differentiation, and holds the buffers the
training engine fits on the training set (:mod:`geognn.models.targets`):
per-target mean and std and per-element reference values, applied per atom by
:meth:`~MoleculeModel.scale_and_reduce`. So every model trains, predicts,
checkpoints and runs MD through the same code.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from geognn.nn import READOUTS
from geognn.nn import readout as readout_fn


def parse_readouts(readout: str | Sequence[str], num_targets: int, model: str) -> list[str]:
    """One reduction per target from a single name or a list (raises ValueError naming the model)."""
    readouts = [readout] * int(num_targets) if isinstance(readout, str) else list(readout)
    if len(readouts) != int(num_targets) or any(r not in READOUTS for r in readouts):
        raise ValueError(f"{model}: readout must be one of {READOUTS} or a list of them, one per target "
                         f"({num_targets}), got {readout!r}")
    return readouts


class MoleculeModel(nn.Module):
    """Base of models predicting T scalars per molecule from ``z`` and ``pos`` (Å).

    Subclasses call ``super().__init__(num_targets, readout, max_z, cutoff)``
    and implement :meth:`predict`. Attributes set here: ``cutoff`` (Å),
    ``readouts`` (one reduction per target), ``readout`` (their common name,
    or ``"mixed"``), ``num_targets``, ``max_z``, and the buffers
    ``target_mean`` (T,), ``target_std`` (T,), ``atomref`` (max_z + 1, T).
    """

    #: Whether :meth:`predict` validates the atomic numbers itself (with the step's other indices, in one
    #: host read); otherwise :meth:`forward` checks them against 1..``max_z`` first.
    checks_z_in_predict = False

    def __init__(self, num_targets: int, readout: str | Sequence[str], max_z: int, cutoff: float, name: str):
        super().__init__()
        for label, value in (("num_targets", num_targets), ("max_z", max_z)):
            if int(value) < 1:
                raise ValueError(f"{name} needs {label} >= 1, got {value}")
        if cutoff <= 0:
            raise ValueError(f"{name} needs cutoff > 0 Å, got {cutoff}")
        self.readouts = parse_readouts(readout, num_targets, name)
        # One name when every target shares a readout (what the shipped checks read).
        self.readout = self.readouts[0] if len(set(self.readouts)) == 1 else "mixed"
        self.num_targets = int(num_targets)
        self.max_z = int(max_z)
        self.cutoff = float(cutoff)
        self.register_buffer("target_mean", torch.zeros(num_targets))
        self.register_buffer("target_std", torch.ones(num_targets))
        self.register_buffer("atomref", torch.zeros(max_z + 1, num_targets))

    # --- output scale -----------------------------------------------------------
    def set_target_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Sets the (T,) mean and std the per-atom (sum) or per-molecule output is scaled by."""
        mean = torch.as_tensor(mean).reshape(-1)
        std = torch.as_tensor(std).reshape(-1)
        if mean.shape != (self.num_targets,) or std.shape != (self.num_targets,):
            raise ValueError(f"mean and std must have {self.num_targets} entries, got {tuple(mean.shape)}, "
                             f"{tuple(std.shape)}")
        if not (std > 0).all():
            raise ValueError(f"target std must be positive, got {std.tolist()}")
        self.target_mean.copy_(mean)
        self.target_std.copy_(std)

    def set_atomref(self, atomref: torch.Tensor) -> None:
        """Sets the (max_z + 1, T) per-element reference values (eV for energies)."""
        atomref = torch.as_tensor(atomref)
        if atomref.dim() == 1:
            atomref = atomref.unsqueeze(-1)
        if atomref.shape != self.atomref.shape:
            raise ValueError(f"atomref must have shape {tuple(self.atomref.shape)}, got {tuple(atomref.shape)}")
        self.atomref.copy_(atomref)

    def scale_and_reduce(self, per_atom: torch.Tensor, z: torch.Tensor, batch: torch.Tensor,
                         num_graphs: int) -> torch.Tensor:
        """(N, T) network outputs -> (B, T) predictions: ``o * std + mean + atomref[z]``, then each target's readout."""
        per_atom = per_atom * self.target_std + self.target_mean + self.atomref[z]
        if self.readout != "mixed":
            return readout_fn(per_atom, batch, num_graphs, self.readout)
        reduced = {r: readout_fn(per_atom, batch, num_graphs, r) for r in sorted(set(self.readouts))}
        return torch.stack([reduced[r][:, k] for k, r in enumerate(self.readouts)], dim=1)

    # --- forward ------------------------------------------------------------------
    def predict(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor, edge_index: torch.Tensor,
                edge_shift: torch.Tensor | None, num_graphs: int) -> torch.Tensor:
        """Tensor-only forward pass: z (N,), pos (N, 3) Å, batch (N,), edge_index (2, E),
        edge_shift (E, 3) Å or None -> (B, T). Implemented by each model."""
        raise NotImplementedError

    def predict_outputs(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor, edge_index: torch.Tensor,
                        edge_shift: torch.Tensor | None, num_graphs: int, **graph) -> dict[str, torch.Tensor]:
        """``{"y": predict(...)}``; a model with outputs beyond ``"y"`` (a dipole vector) adds them here.
        ``graph``: ``step_graph=`` from :meth:`prepare_graph`, for models that have one."""
        return {"y": self.predict(z, pos, batch, edge_index, edge_shift, num_graphs, **graph)}

    def prepare_graph(self, data) -> object | None:
        """The part of a step that depends on the graph only, built once for reuse; None if the model has none.

        ``data`` holds ``z`` (N,), ``edge_index`` (2, E) and optionally ``batch``
        (N,) and ``edge_shift`` (E, 3) Å. The result (SchNet: the validated
        indices, the pairs and their CSR layouts) is passed as
        ``forward(data, graph=...)`` for as long as those tensors stay the same:
        an MD calculator between neighbour-list builds, where only the positions
        change, then skips the per-call index checks and sorts. It is the
        caller's promise that they did not change; nothing re-checks them.
        """
        return None

    def forward(self, data, forces: bool = False, graph: object | None = None) -> dict[str, torch.Tensor]:
        """``{"y": (B, T)}`` and, with ``forces=True`` (single target), ``"forces"`` (N, 3) = -dy/dpos.

        ``data``: a PyG ``Data``/``Batch`` with ``z`` (N,) int64, ``pos`` (N, 3)
        in Å, optionally ``batch`` (N,), ``edge_index`` (2, E) (row 0 source,
        row 1 target) and ``edge_shift`` (E, 3) Å for periodic images; without
        ``edge_index`` the radius graph is built here (with ``cell``/``pbc``
        when the input has them). ``graph``: what :meth:`prepare_graph` returned
        for the same ``z``, ``edge_index``, ``batch`` and ``edge_shift``.
        """
        z, pos = data.z, data.pos
        self._check_input(z, pos)
        batch, num_graphs = self._batch_of(data)
        edge_index = getattr(data, "edge_index", None)
        edge_shift = getattr(data, "edge_shift", None)
        if edge_index is None:
            if graph is not None:
                raise ValueError("graph= needs the edge_index it was prepared from in data")
            edge_index, edge_shift = self._radius_graph(data, pos, batch)
        extra = {} if graph is None else {"step_graph": graph}
        if forces:
            if self.num_targets != 1:
                raise ValueError(f"forces=True needs a single energy target, this model predicts {self.num_targets}")
            with torch.enable_grad():
                if not pos.requires_grad:
                    pos = pos.detach().requires_grad_(True)
                out = self.predict_outputs(z, pos, batch, edge_index, edge_shift, num_graphs, **extra)
                # create_graph in training so that a force loss can be differentiated
                # with respect to the weights; at inference the graph is freed.
                (grad,) = torch.autograd.grad(out["y"].sum(), pos, create_graph=self.training)
            return {**out, "forces": -grad}
        return self.predict_outputs(z, pos, batch, edge_index, edge_shift, num_graphs, **extra)

    @staticmethod
    def _batch_of(data) -> tuple[torch.Tensor, int]:
        """``data``'s (N,) molecule index of each atom and the number of molecules B."""
        batch = getattr(data, "batch", None)
        if batch is None:  # one molecule: nothing to read from the device
            return torch.zeros_like(data.z), 1
        # A PyG Batch knows its size; a bare batch vector costs a host read.
        num_graphs = getattr(data, "num_graphs", None)
        return batch, int(num_graphs) if num_graphs is not None else (int(batch.max()) + 1 if batch.numel() else 1)

    def _check_input(self, z: torch.Tensor, pos: torch.Tensor) -> None:
        if z.dtype not in (torch.int64, torch.int32) or z.dim() != 1:
            raise ValueError(f"z must be a 1-D int64 tensor of atomic numbers, got {z.dtype} of shape {tuple(z.shape)}")
        if pos.dim() != 2 or pos.shape[1] != 3 or pos.shape[0] != z.shape[0]:
            raise ValueError(f"pos must have shape ({z.shape[0]}, 3) in Å, got {tuple(pos.shape)}")
        # A model that validates z in predict, in the step's one host read, is not asked twice.
        if not self.checks_z_in_predict and z.numel() and (int(z.min()) < 1 or int(z.max()) > self.max_z):
            raise ValueError(f"atomic numbers must lie in [1, {self.max_z}], got min {int(z.min())}, "
                             f"max {int(z.max())}")

    def _radius_graph(self, data, pos: torch.Tensor, batch: torch.Tensor):
        from geognn.featurize import radius_graph  # late: featurize pulls in RDKit/ASE

        cell = getattr(data, "cell", None)
        pbc = getattr(data, "pbc", None)
        if cell is None:
            return radius_graph(pos.detach(), self.cutoff, batch)
        return radius_graph(pos.detach(), self.cutoff, batch, cell=cell, pbc=pbc)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff} Å, readout={self.readouts!r}, num_targets={self.num_targets}"
