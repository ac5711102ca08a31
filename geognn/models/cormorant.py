"""Cormorant (Anderson, Hy & Kondor, NeurIPS 2019): covariant Clebsch–Gordan networks, here E(3)-equivariant.

Every hidden feature of an atom is a set of spherical tensors that rotate (and
reflect) exactly with the molecule; levels combine them with Clebsch–Gordan
products (e3nn). The paper's network is SO(3)-covariant only: it mixes
pseudo-vectors such as v x w into the channels of true vectors, so a
molecule and its mirror image can get different energies. Here every block
carries its parity (:mod:`geognn.nn.cormorant.irreps`), so scalar outputs
are invariant under rotations, reflections, translations and permutations.

Differences from the paper, each for a stated reason: the trainable soft
cutoff is multiplied by a cosine envelope that reaches zero at the graph
cutoff (energies continuous when an atom crosses it); an equivariant batch
norm after the input and every CG level (without it the CG squares shrink the
features level by level until the network barely trains); squared norms are the only
quadratic invariants read out (for real spherical tensors they equal the
self-contraction); and the default head is atom-wise (a per-atom MLP summed
over atoms, size-extensive like SchNet's), with the paper's sum-then-MLP head
available as ``head="molecular"``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from e3nn import o3
from torch import nn

from geognn.models.base import MoleculeModel
from geognn.nn import CosineCutoff, readout
from geognn.nn.cormorant import (
    CormorantAtomLevel,
    CormorantEdgeLevel,
    CormorantInput,
    EquivariantBatchNorm,
    SineRadialBasis,
    irreps_major,
    num_invariants,
    scalar_invariants,
    vector_blocks,
)
from geognn.ops import CSRGraph, neighbor_slots

__all__ = ["Cormorant", "QM9_SPECIES"]

QM9_SPECIES = (1, 6, 7, 8, 9)
DEBYE_NAME = "D"
HEADS = ("atomwise", "molecular")


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if k < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class Cormorant(MoleculeModel):
    """Cormorant predicting T scalars per molecule (or a dipole vector) from atomic numbers and positions.

    Args:
        max_l: largest degree l of the hidden spherical tensors (3 in the paper).
        max_sh: largest degree of the spherical harmonics of pair directions (3).
        num_channels: C, channels per (l, parity) block (10).
        num_levels: CG levels after the input level (4).
        cutoff: graph cutoff in Å: pairs closer than this interact, with a
            cosine envelope reaching zero there.
        readout: per-target reduction of the atom-wise head: ``"sum"``
            (energies), ``"mean"`` (intensive targets) or a list, one per target.
        num_targets: T.
        species: atomic numbers the model accepts (QM9's 1, 6, 7, 8, 9 by default).
        charge_power: input features are one-hot species times (Z/Z_max)^p, p <= this (2).
        num_basis: frequencies of the sine/cosine radial basis (10).
        soft_radius: initial radii (Å) of the trainable soft cutoffs, spread over
            the channels between the two values (default 0.4 and 0.9 of ``cutoff``).
        soft_width: initial width of the soft cutoffs in Å (0.5).
        head: ``"atomwise"`` (per-atom MLP -> 256 -> 64 -> T, scaled, then the
            readout: size-extensive) or ``"molecular"`` (the paper's: per-atom MLP
            -> 256 -> 64, sum over atoms, MLP -> 256 -> T).
        dipole: predict one target, the dipole moment in D, from an equivariant
            vector ``std * (sum_i q_i r_i + sum_i v_i)``: atomic charges q_i
            (neutral per molecule, so the result does not depend on the origin)
            from the invariants and atomic dipoles v_i from the 1o channels.
            ``"y"`` is its norm (trained against QM9's mu) and ``"dipole"`` the
            (B, 3) vector. Molecules only (no periodic cell).
        normalize: apply :class:`~geognn.nn.cormorant.EquivariantBatchNorm` after the input and every level.
        neighbor_norm: neighbour sums are divided by this, the typical number
            of neighbours within the cutoff (15 for QM9 at 5 Å; ``geognn train``
            measures it on the training set), so features stay of order one.

    Input and output as every :class:`~geognn.models.base.MoleculeModel`:
    ``model(batch)`` -> ``{"y": (B, T)}`` (plus ``"dipole"`` (B, 3) in D with
    ``dipole=True``), ``model(batch, forces=True)`` adds ``"forces"`` (N, 3)
    eV/Å. Output scale buffers are fitted by the training engine.
    """

    def __init__(self, max_l: int = 3, max_sh: int = 3, num_channels: int = 10, num_levels: int = 4,
                 cutoff: float = 5.0, readout: str | Sequence[str] = "sum", num_targets: int = 1,
                 species: Sequence[int] = QM9_SPECIES, charge_power: int = 2, num_basis: int = 10,
                 soft_radius: Sequence[float] | None = None, soft_width: float = 0.5, head: str = "atomwise",
                 dipole: bool = False, normalize: bool = True, neighbor_norm: float = 15.0):
        species = sorted({int(s) for s in species})
        if dipole and int(num_targets) != 1:
            raise ValueError(f"Cormorant(dipole=True) predicts one target, the dipole moment; got num_targets="
                             f"{num_targets}")
        super().__init__(num_targets, "mean" if dipole else readout, max(species) if species else 1, cutoff,
                         "Cormorant")
        for name, value, low in (("max_l", max_l, 0), ("max_sh", max_sh, 0), ("num_channels", num_channels, 1),
                                 ("num_levels", num_levels, 0), ("charge_power", charge_power, 0),
                                 ("num_basis", num_basis, 1)):
            if int(value) < low:
                raise ValueError(f"Cormorant needs {name} >= {low}, got {value}")
        if head not in HEADS:
            raise ValueError(f"Cormorant head must be one of {HEADS}, got {head!r}")
        soft_radius = tuple(soft_radius) if soft_radius is not None else (0.4 * cutoff, 0.9 * cutoff)
        self.config: dict[str, Any] = dict(
            max_l=max_l, max_sh=max_sh, num_channels=num_channels, num_levels=num_levels, cutoff=cutoff,
            readout=readout if isinstance(readout, str) else list(readout), num_targets=num_targets,
            species=species, charge_power=charge_power, num_basis=num_basis, soft_radius=list(soft_radius),
            soft_width=soft_width, head=head, dipole=dipole, normalize=normalize, neighbor_norm=neighbor_norm,
        )
        self.max_sh = int(max_sh)
        self.head_kind = head
        self.dipole = bool(dipole)
        self.radial_basis = SineRadialBasis(num_basis, cutoff, max_power=3)
        self.envelope = CosineCutoff(cutoff)
        num_radial = self.radial_basis.num_features
        self.input_level = CormorantInput(species, charge_power, num_channels, num_radial)
        self.input_norm = EquivariantBatchNorm(self.input_level.irreps_out) if normalize else nn.Identity()
        self.species = self.input_level.species
        irreps = self.input_level.irreps_out
        self.edge_levels = nn.ModuleList()
        self.atom_levels = nn.ModuleList()
        for level in range(num_levels):
            previous = 0 if level == 0 else num_channels
            self.edge_levels.append(CormorantEdgeLevel(irreps, previous, num_radial, num_channels, soft_radius,
                                                       soft_width))
            atom_level = CormorantAtomLevel(irreps, num_channels, max_l, max_sh, normalize, neighbor_norm)
            self.atom_levels.append(atom_level)
            irreps = atom_level.irreps_out
        self.level_irreps = [self.input_level.irreps_out] + [level.irreps_out for level in self.atom_levels]
        width = sum(num_invariants(ir) for ir in self.level_irreps)
        if self.dipole:
            self.charge_head = _mlp([width, 256, 64, 1])
            num_vectors = sum(mul for ir in self.level_irreps for mul, i in ir if i == o3.Irrep("1o"))
            self.vector_weight = nn.Parameter(torch.zeros(num_vectors))
        elif head == "atomwise":
            self.atom_head = _mlp([width, 256, 64, self.num_targets])
        else:
            self.atom_head = _mlp([width, 256, 64])
            self.molecule_head = _mlp([64, 256, self.num_targets])

    # --- input checks ---------------------------------------------------------------
    def _check_input(self, z: torch.Tensor, pos: torch.Tensor) -> None:
        super()._check_input(z, pos)
        if z.numel():
            unknown = sorted(set(z.unique().tolist()) - set(self.species))
            if unknown:
                raise ValueError(f"atomic numbers {unknown} are not among this Cormorant's species {self.species}; "
                                 "train a model with them (species=...)")

    # --- forward ----------------------------------------------------------------------
    def features(self, z: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
                 edge_shift: torch.Tensor | None = None, layout: str = "e3nn") -> list[torch.Tensor]:
        """The equivariant features of every level (input level first), irreps in ``level_irreps``.

        Args:
            z: (N,) atomic numbers. pos: (N, 3) Å. edge_index: (2, E) (source, target).
            edge_shift: (E, 3) Å periodic shifts, or None.
            layout: ``"e3nn"``: (N, dim irreps) tensors in e3nn's block-major
                layout (what :func:`geognn.testing.check_feature_equivariance`
                and e3nn take); ``"channels"``: the (N, C, K) channel-major
                tensors the model computes with.
        """
        graph = CSRGraph.from_edge_index(edge_index, num_src=z.shape[0])
        slots = neighbor_slots(graph)
        src, dst = graph.src, graph.dst
        edge_vec = pos[dst] - pos[src]
        if edge_shift is not None:
            edge_vec = edge_vec + edge_shift
        distance = edge_vec.norm(dim=-1)
        sh = o3.spherical_harmonics(list(range(self.max_sh + 1)), edge_vec, normalize=True,
                                    normalization="component")
        basis = self.radial_basis(distance)
        envelope = self.envelope(distance)
        psi = self.input_norm(self.input_level(z, basis, envelope, graph))
        features, edge = [psi], None
        for edge_level, atom_level in zip(self.edge_levels, self.atom_levels):
            edge = edge_level(psi[src], psi[dst], edge, basis, distance, envelope)
            psi = atom_level(psi, edge, sh, graph, slots)
            features.append(psi)
        if layout == "channels":
            return features
        if layout != "e3nn":
            raise ValueError(f"layout must be 'e3nn' or 'channels', got {layout!r}")
        return [irreps_major(f, irreps) for f, irreps in zip(features, self.level_irreps)]

    def use_e3nn(self, enabled: bool = True) -> "Cormorant":
        """Run the CG levels on e3nn's ``TensorProduct`` modules (same weights, same numbers, much slower).

        The fused channel-wise path is the default; this is its reference.
        """
        for level in self.atom_levels:
            level.use_e3nn(enabled)
        return self

    def predict_outputs(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor, edge_index: torch.Tensor,
                        edge_shift: torch.Tensor | None, num_graphs: int) -> dict[str, torch.Tensor]:
        """``{"y": (B, T)}``, plus ``"dipole"`` (B, 3) in D for a dipole model."""
        features = self.features(z, pos, edge_index, edge_shift, layout="channels")
        invariants = torch.cat([scalar_invariants(f, ir) for f, ir in zip(features, self.level_irreps)], dim=-1)
        if self.dipole:
            return self._dipole(features, invariants, pos, batch, num_graphs, edge_shift)
        if self.head_kind == "atomwise":
            return {"y": self.scale_and_reduce(self.atom_head(invariants), z, batch, num_graphs)}
        pooled = readout(self.atom_head(invariants), batch, num_graphs, "sum")
        baseline = self.scale_and_reduce(invariants.new_zeros(z.shape[0], self.num_targets), z, batch, num_graphs)
        return {"y": self.molecule_head(pooled) * self.target_std + baseline}

    def predict(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor, edge_index: torch.Tensor,
                edge_shift: torch.Tensor | None, num_graphs: int) -> torch.Tensor:
        """(B, T) predictions (see :meth:`predict_outputs`)."""
        return self.predict_outputs(z, pos, batch, edge_index, edge_shift, num_graphs)["y"]

    def _dipole(self, features, invariants, pos, batch, num_graphs, edge_shift) -> dict[str, torch.Tensor]:
        if edge_shift is not None and bool((edge_shift != 0).any()):
            raise ValueError("Cormorant(dipole=True) predicts dipoles of molecules; a periodic structure has none")
        charge = self.charge_head(invariants).squeeze(-1)
        # Neutral per molecule: sum_i q_i r_i then does not depend on where the origin is.
        charge = charge - readout(charge, batch, num_graphs, "mean")[batch]
        vectors = torch.cat([vector_blocks(f, ir) for f, ir in zip(features, self.level_irreps)], dim=1)
        atomic = charge.unsqueeze(-1) * pos + torch.einsum("nvc,v->nc", vectors, self.vector_weight)
        dipole = readout(atomic, batch, num_graphs, "sum") * self.target_std
        # A tiny floor keeps the gradient of the norm finite for a zero vector (1e-6 D at most).
        magnitude = (dipole.square().sum(-1, keepdim=True) + 1e-12).sqrt()
        return {"y": magnitude, "dipole": dipole}

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, species={self.species}, head={self.head_kind!r}, "
                f"dipole={self.dipole}, irreps={self.level_irreps[-1]}")
