"""Cormorant's three kinds of level: the input level, the edge level and the atom (CG) level.

Anderson, Hy & Kondor, "Cormorant: Covariant Molecular Neural Networks",
NeurIPS 2019. A network is an input level followed by ``num_levels`` pairs
(edge level, atom level). Atom features are channel-major tensors
``(N, C, K)``: C channels, each holding the K components of every block of
the level's irreps side by side (layout in :mod:`geognn.nn.cormorant.irreps`;
:func:`~geognn.nn.cormorant.cg.irreps_major` converts to e3nn's layout).
"""

from __future__ import annotations

from typing import Sequence

import torch
from e3nn import o3
from torch import nn
from torch.nn.functional import silu

from geognn.nn.cormorant.cg import (
    ChannelwiseCG,
    channel_major,
    channelwise_linear,
    component_offsets,
    irreps_major,
    linear_gather_index,
)
from geognn.nn.cormorant.irreps import cg_paths, feature_irreps, present_irreps
from geognn.nn.cormorant.radial import SoftCutoff
from geognn.ops import CSRGraph, message_sum, outer_message_sum, scatter

__all__ = ["CormorantAtomLevel", "CormorantEdgeLevel", "CormorantInput", "EquivariantBatchNorm", "species_features"]


def species_features(species_index: torch.Tensor, charges: torch.Tensor, z: torch.Tensor,
                     charge_power: int) -> torch.Tensor:
    """One-hot of each atom's species times ``(Z / Z_max)^p`` for p = 0..charge_power.

    Args:
        species_index: (max_z + 1,) int64 position of each Z in the species list.
        charges: (S,) Z / Z_max of each species.
        z: (N,) atomic numbers, all in the species list.

    Returns:
        (N, S (charge_power + 1)) features, species-major.
    """
    index = species_index[z]
    onehot = torch.zeros(z.shape[0], charges.shape[0], dtype=charges.dtype, device=z.device)
    onehot.scatter_(1, index.unsqueeze(1), 1.0)
    powers = charges[index].unsqueeze(1) ** torch.arange(charge_power + 1, device=z.device, dtype=charges.dtype)
    return (onehot.unsqueeze(2) * powers.unsqueeze(1)).flatten(1)


class CormorantInput(nn.Module):
    """Input level: species features, one message-passing step, mixed to C scalar channels.

    ``x_i`` = :func:`species_features` of atom i; ``m_i = sum_j R(r_ij) * x_j``
    (:func:`geognn.ops.message_sum`) with a learned linear map R of the radial
    basis, weighted by the cutoff envelope; the output is a linear mix of
    ``[x_i, silu(m_i)]``.

    Args:
        species: atomic numbers the model knows (QM9: 1, 6, 7, 8, 9).
        charge_power: largest power p of Z / Z_max (2 in the paper).
        num_channels: C.
        num_radial: size of the radial basis features.

    Shapes: z (N,); basis (E, num_radial); edge_weight (E,); graph of E
    edges -> (N, C, 1), irreps ``C x 0e``.
    """

    def __init__(self, species: Sequence[int], charge_power: int, num_channels: int, num_radial: int):
        super().__init__()
        species = sorted({int(s) for s in species})
        if not species or species[0] < 1:
            raise ValueError(f"species must be positive atomic numbers, got {species}")
        self.species = species
        self.charge_power = int(charge_power)
        index = torch.full((species[-1] + 1,), -1, dtype=torch.long)
        index[torch.tensor(species)] = torch.arange(len(species))
        self.register_buffer("species_index", index, persistent=False)
        self.register_buffer("charges", torch.tensor(species, dtype=torch.get_default_dtype()) / species[-1],
                             persistent=False)
        num_in = len(species) * (self.charge_power + 1)
        self.radial = nn.Linear(num_radial, num_in)
        self.mix = nn.Linear(2 * num_in, num_channels)
        self.irreps_out = o3.Irreps([(num_channels, (0, 1))])

    def forward(self, z: torch.Tensor, basis: torch.Tensor, edge_weight: torch.Tensor,
                graph: CSRGraph) -> torch.Tensor:
        x = species_features(self.species_index, self.charges.to(basis.dtype), z, self.charge_power)
        messages = message_sum(x, self.radial(basis) * edge_weight.unsqueeze(-1), graph=graph)
        return self.mix(torch.cat([x, silu(messages)], dim=-1)).unsqueeze(-1)


class CormorantEdgeLevel(nn.Module):
    """Edge level: invariant pair features from the atoms' features, the previous level and the distance.

    For each pair (source j, target i): per block and channel the dot product
    ``psi_i . psi_j / (2l + 1)`` (an O(3) invariant, since both factors rotate
    and reflect alike), concatenated with the previous edge level's channels
    and the radial basis, mixed linearly to C channels and multiplied by a
    trainable :class:`SoftCutoff` and the smooth cutoff envelope.

    Shapes: psi_src, psi_dst (E, C, K) channel-major with ``irreps_in``;
    previous (E, num_previous) or None; basis (E, num_radial); distance (E,)
    Å; envelope (E,) -> (E, C).
    """

    def __init__(self, irreps_in: o3.Irreps, num_previous: int, num_radial: int, num_channels: int,
                 soft_radius: float | tuple[float, float], soft_width: float):
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.num_previous = int(num_previous)
        # (K, blocks) matrix averaging each block's components: the dot products in one matrix product.
        average = torch.zeros(self.irreps_in.dim // self.irreps_in[0].mul, len(self.irreps_in))
        for b, block in enumerate(component_offsets(self.irreps_in)):
            average[block, b] = 1.0 / (block.stop - block.start)
        self.register_buffer("block_average", average.to(torch.get_default_dtype()), persistent=False)
        num_dots = sum(mul for mul, _ in self.irreps_in)
        self.mix = nn.Linear(num_dots + self.num_previous + num_radial, num_channels)
        self.soft_cutoff = SoftCutoff(num_channels, soft_radius, soft_width)

    def forward(self, psi_src: torch.Tensor, psi_dst: torch.Tensor, previous: torch.Tensor | None,
                basis: torch.Tensor, distance: torch.Tensor, envelope: torch.Tensor) -> torch.Tensor:
        dots = ((psi_src * psi_dst) @ self.block_average).transpose(1, 2).flatten(1)  # (E, blocks * C)
        parts = [dots] + ([previous] if previous is not None else []) + [basis]
        mixed = self.mix(torch.cat(parts, dim=-1))
        return mixed * self.soft_cutoff(distance) * envelope.unsqueeze(-1)


class EquivariantBatchNorm(nn.Module):
    """Batch normalisation of equivariant features: each (block, channel) divided by its RMS over the batch.

    Not in the paper. A CG level squares its input, so features of RMS r at
    one level have RMS about r^2 at the next: below 1 they vanish level by
    level, above 1 they explode (measured at initialisation with the paper's
    4 levels: 0.2 at the input, 0.003 at the last level, and the network
    barely trained). This keeps every block at unit scale. The divisor is a
    statistic of the training data (the batch while training, a running
    average in ``eval()``), not of the atom itself, so an atom's magnitude
    (its number of neighbours, how far it is from symmetric) stays in its
    features, and near-zero blocks of symmetric environments are not blown
    up. True scalars (0e) are centred first; no other block is (a mean vector
    would break equivariance). Dividing by invariants and scaling per channel
    keeps it E(3)-equivariant; a learned per-(block, channel) scale, and a
    bias for scalars, follow, as in e3nn's ``BatchNorm``.

    Shapes: (N, C, K) channel-major with ``irreps`` -> same.
    """

    def __init__(self, irreps: o3.Irreps, eps: float = 1e-5, momentum: float = 0.1, soft_cap: bool = True):
        super().__init__()
        self.soft_cap = bool(soft_cap)
        self.irreps = o3.Irreps(irreps)
        self.eps, self.momentum = float(eps), float(momentum)
        blocks = component_offsets(self.irreps)
        channels = self.irreps[0].mul
        # Column k belongs to block_of[k]: statistics per block and their broadcast back are one
        # matrix product and one index, not per-block slices (whose backward allocates a full-size
        # gradient per block).
        average = torch.zeros(blocks[-1].stop, len(blocks))
        block_of = torch.zeros(average.shape[0], dtype=torch.long)
        scalar = torch.zeros(average.shape[0])
        for b, ((_, ir), block) in enumerate(zip(self.irreps, blocks)):
            average[block, b] = 1.0 / ir.dim
            block_of[block] = b
            if ir == o3.Irrep("0e"):
                scalar[block] = 1.0
        self.register_buffer("block_average", average.to(torch.get_default_dtype()), persistent=False)
        self.register_buffer("block_of", block_of, persistent=False)
        self.register_buffer("scalar_column", scalar.to(torch.get_default_dtype()), persistent=False)
        self.register_buffer("running_mean", torch.zeros(channels, average.shape[0]))
        self.register_buffer("running_var", torch.ones(channels, len(blocks)))
        self.weight = nn.Parameter(torch.ones(channels, len(blocks)))
        self.bias = nn.Parameter(torch.zeros(channels, average.shape[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] > 1:
            mean = x.mean(dim=0) * self.scalar_column                       # (C, K): scalars only
            var = (x - mean).square().mean(dim=0) @ self.block_average      # (C, blocks)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        x = (x - mean) * torch.rsqrt(var + self.eps)[:, self.block_of]
        if self.soft_cap:
            # Per atom, blocks far above the batch scale are pulled back towards it (x / sqrt(1 + |x|^2/...)):
            # the CG square of a rare large block would otherwise dominate the next level.
            atom_ms = x.square().mean(dim=1) @ self.block_average                # (N, blocks)
            x = x * torch.rsqrt(1.0 + atom_ms)[:, self.block_of].unsqueeze(1)
        return x * self.weight[:, self.block_of] + self.bias * self.scalar_column


class CormorantAtomLevel(nn.Module):
    """Atom level: CG message from the neighbours, the atom itself and its CG square, mixed per irrep.

    ``psi_i' = Mix( sum_j CG(e_ij Y(r_ij) (x) psi_j),  psi_i,  CG(psi_i (x) psi_i) )``

    where e_ij are the edge level's C channels, Y the spherical harmonics of
    the pair direction up to ``max_sh``, every CG product is taken channel by
    channel (e3nn "uuu") over every path up to ``max_l`` (see
    :func:`~geognn.nn.cormorant.irreps.cg_paths`), and Mix is a learned linear
    map per irrep (an :class:`e3nn.o3.Linear`) back to C channels per block.
    The CG square is the network's only non-linearity besides :class:`EquivariantBatchNorm`.

    The neighbour sum is taken before the CG contraction (it is linear), with
    :func:`geognn.ops.outer_message_sum`, and the contractions run as
    :class:`~geognn.nn.cormorant.cg.ChannelwiseCG` matrix products.
    :meth:`use_e3nn` switches to e3nn's own ``TensorProduct`` modules with
    the same weights: the reference the fast path is tested against.

    Args:
        irreps_in: irreps of psi (every block C channels).
        num_channels: C.
        max_l: largest degree kept.
        max_sh: largest degree of the spherical harmonics.
        normalize: apply :class:`EquivariantBatchNorm` to the output.
        neighbor_norm: the neighbour sum is divided by this (a typical number
            of neighbours), so that messages stay of order one.

    Shapes: psi (N, C, K_in); edge (E, C); sh (E, (max_sh + 1)^2); graph of
    E edges; slots from :func:`geognn.ops.neighbor_slots` -> (N, C, K_out),
    channel-major with ``irreps_out``: the blocks of
    :func:`~geognn.nn.cormorant.irreps.feature_irreps` reachable from ``irreps_in``.
    """

    def __init__(self, irreps_in: o3.Irreps, num_channels: int, max_l: int, max_sh: int, normalize: bool = True,
                 neighbor_norm: float = 1.0):
        super().__init__()
        self.neighbor_norm = float(neighbor_norm)
        self.irreps_in = o3.Irreps(irreps_in)
        self.num_channels = int(num_channels)
        self.max_sh = int(max_sh)
        self.edge_irreps = o3.Irreps([(num_channels, ir) for _, ir in o3.Irreps.spherical_harmonics(max_sh)])
        self.message_paths = cg_paths(self.edge_irreps, self.irreps_in, max_l)
        self.square_paths = cg_paths(self.irreps_in, self.irreps_in, max_l, square=True)
        self.message_cg = ChannelwiseCG(self.edge_irreps, self.irreps_in, *self.message_paths)
        self.square_cg = ChannelwiseCG(self.irreps_in, self.irreps_in, *self.square_paths)
        combined = self.message_paths[0] + self.irreps_in + self.square_paths[0]
        self.irreps_out = present_irreps(feature_irreps(num_channels, max_l), combined)
        self.mix = o3.Linear(combined, self.irreps_out)
        self.register_buffer("mix_columns", linear_gather_index(self.mix), persistent=False)
        self.norm = EquivariantBatchNorm(self.irreps_out) if normalize else nn.Identity()
        self.reference: nn.ModuleDict | None = None

    def use_e3nn(self, enabled: bool = True) -> None:
        """Compute with e3nn's ``TensorProduct`` and ``Linear`` on its own layout (slow; the reference)."""
        if not enabled:
            self.reference = None
            return
        like = self.mix.weight
        # e3nn stores its CG coefficients in the default dtype: build them in float64 so that a float64
        # model gets exact ones.
        default = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            self.reference = nn.ModuleDict({
                "message": o3.TensorProduct(self.edge_irreps, self.irreps_in, *self.message_paths),
                "square": o3.TensorProduct(self.irreps_in, self.irreps_in, *self.square_paths),
            })
        finally:
            torch.set_default_dtype(default)
        self.reference.to(device=like.device, dtype=like.dtype)

    def forward(self, psi: torch.Tensor, edge: torch.Tensor, sh: torch.Tensor, graph: CSRGraph,
                slots: torch.Tensor) -> torch.Tensor:
        if self.reference is not None:
            return self._forward_e3nn(psi, edge, sh, graph)
        atoms, channels = psi.shape[0], psi.shape[1]
        weighted = edge.unsqueeze(-1) * sh.unsqueeze(1)                                 # (E, C, S)
        summed = outer_message_sum(weighted, psi, graph, slots) / self.neighbor_norm    # (N, C, S, K)
        message = self.message_cg(summed.reshape(atoms * channels, *summed.shape[2:]))
        rows = psi.reshape(atoms * channels, -1)
        square = self.square_cg.product(rows, rows)
        combined = torch.cat([message.reshape(atoms, channels, -1), psi, square.reshape(atoms, channels, -1)], -1)
        return self.norm(channelwise_linear(self.mix, combined, self.mix_columns))

    def _forward_e3nn(self, psi: torch.Tensor, edge: torch.Tensor, sh: torch.Tensor,
                      graph: CSRGraph) -> torch.Tensor:
        psi_blocks = irreps_major(psi, self.irreps_in)
        harmonics = torch.cat([(edge.unsqueeze(-1) * sh[:, l * l:(l + 1) ** 2].unsqueeze(1)).flatten(1)
                               for l in range(self.max_sh + 1)], dim=-1)
        messages = self.reference["message"](harmonics, psi_blocks[graph.src])
        summed = scatter(messages, graph.dst, psi.shape[0], "sum") / self.neighbor_norm
        square = self.reference["square"](psi_blocks, psi_blocks)
        mixed = self.mix(torch.cat([summed, psi_blocks, square], dim=-1))
        return self.norm(channel_major(mixed, self.irreps_out))
