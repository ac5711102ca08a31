"""Fast channel-wise Clebsch–Gordan products and per-irrep mixing, on channel-major features.

e3nn's :class:`~e3nn.o3.TensorProduct` evaluates each CG path as its own
einsum over the block-major layout; for Cormorant's many small paths
(68 message paths at max_l = max_sh = 3) that spends most of its time
allocating and filling outputs: 30 s for the forward and backward pass of 25
QM9 molecules on this project's 2-core CPU. Here the features are kept
channel-major, ``(rows, C, K)`` with K = the components of every block of one
channel side by side, and each group of paths sharing the same two input
blocks is one dense matrix product with a matrix assembled from e3nn's
:func:`~e3nn.o3.wigner_3j` coefficients. The numbers are e3nn's, with e3nn's
"component" normalisation (each path scaled by sqrt(2l + 1)): the tests
compare both implementations on the same inputs.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn

from geognn.ops.layout import contiguous_permute, take_unique

__all__ = ["ChannelwiseCG", "channel_major", "channelwise_linear", "component_offsets", "irreps_major",
           "linear_gather_index"]


def component_offsets(irreps: o3.Irreps) -> list[slice]:
    """Where each block's components sit along the last axis of a channel-major tensor."""
    offsets, start = [], 0
    for _, ir in o3.Irreps(irreps):
        offsets.append(slice(start, start + ir.dim))
        start += ir.dim
    return offsets


def channel_major(x: torch.Tensor, irreps: o3.Irreps) -> torch.Tensor:
    """e3nn's block-major (N, dim irreps) -> (N, C, K), every block having C channels."""
    irreps = o3.Irreps(irreps)
    blocks = [x[:, block].reshape(x.shape[0], mul, ir.dim) for (mul, ir), block in zip(irreps, irreps.slices())]
    return torch.cat(blocks, dim=-1)


def irreps_major(x: torch.Tensor, irreps: o3.Irreps) -> torch.Tensor:
    """(N, C, K) channel-major -> e3nn's block-major (N, dim irreps)."""
    return torch.cat([x[:, :, block].flatten(1) for block in component_offsets(irreps)], dim=-1)


class ChannelwiseCG(nn.Module):
    """Channel-wise ("uuu") CG products of all paths in ``instructions``, from the outer product of the inputs.

    Args:
        irreps1, irreps2, irreps_out, instructions: as for
            ``o3.TensorProduct(irreps1, irreps2, irreps_out, instructions)``
            (from :func:`~geognn.nn.cormorant.irreps.cg_paths`: every
            instruction ``"uuu"``, untrained, one output block each, grouped
            by input pair).

    Shapes: outer (R, K1, K2), with ``outer[r, i, j] = x1[r, i] * x2[r, j]``
    (or any sum of such products, e.g. over neighbours) -> (R, K_out), the
    output blocks in the order of ``irreps_out``.
    """

    def __init__(self, irreps1: o3.Irreps, irreps2: o3.Irreps, irreps_out: o3.Irreps, instructions: list[tuple]):
        super().__init__()
        irreps1, irreps2, irreps_out = o3.Irreps(irreps1), o3.Irreps(irreps2), o3.Irreps(irreps_out)
        offsets1, offsets2 = component_offsets(irreps1), component_offsets(irreps2)
        groups: list[tuple[int, int, list]] = []
        for k, (i1, i2, i_out, mode, train, *_) in enumerate(instructions):
            if mode != "uuu" or train or i_out != k:
                raise ValueError("ChannelwiseCG takes untrained 'uuu' instructions, one output block each, in order")
            if not groups or groups[-1][:2] != (i1, i2):
                groups.append((i1, i2, []))
            groups[-1][2].append(irreps_out[i_out].ir.l)
        # One gather puts every group's (i, j) entries side by side; each group is then a contiguous
        # chunk. (Slicing the outer tensor group by group instead makes autograd allocate and add a
        # full-size zero gradient per group: most of the backward time.)
        width2 = sum(ir.dim for _, ir in irreps2)
        columns, self.chunks = [], []
        # Kept in float64 and cast on use (not buffers): a model built in float32 and moved to float64
        # must still get exact coefficients, or equivariance would only hold to float32 rounding.
        self._matrices: list[torch.Tensor] = []
        self._cast: dict[tuple, list[torch.Tensor]] = {}
        for g, (i1, i2, ls) in enumerate(groups):
            l1, l2 = irreps1[i1].ir.l, irreps2[i2].ir.l
            rows = torch.arange(offsets1[i1].start, offsets1[i1].stop).unsqueeze(1) * width2
            columns.append((rows + torch.arange(offsets2[i2].start, offsets2[i2].stop)).flatten())
            self.chunks.append((2 * l1 + 1) * (2 * l2 + 1))
            # e3nn's "component" normalisation: every path scaled by sqrt(2l + 1).
            self._matrices.append(torch.cat([
                math.sqrt(2 * l + 1) * o3.wigner_3j(l1, l2, l, dtype=torch.float64).reshape(self.chunks[-1], -1)
                for l in ls], dim=1))
        self.register_buffer("columns", torch.cat(columns) if columns else torch.zeros(0, dtype=torch.long),
                             persistent=False)
        self.register_buffer("rows1", self.columns // width2, persistent=False)
        self.register_buffer("rows2", self.columns % width2, persistent=False)

    def _matrices_like(self, x: torch.Tensor) -> list[torch.Tensor]:
        key = (x.device, x.dtype)
        if key not in self._cast:
            self._cast[key] = [m.t().contiguous().to(device=x.device, dtype=x.dtype) for m in self._matrices]
        return self._cast[key]

    def _contract(self, grouped: torch.Tensor) -> torch.Tensor:
        parts = [matrix @ part for part, matrix in zip(grouped.split(self.chunks, dim=0), self._matrices_like(grouped))]
        return contiguous_permute(torch.cat(parts, dim=0), (1, 0))

    def forward(self, outer: torch.Tensor) -> torch.Tensor:
        rows = outer.shape[0]
        if not self.chunks:
            return outer.new_zeros(rows, 0)
        # Feature-major (K1 K2, R): regrouping the entries then copies whole rows, in the forward and the
        # backward pass, instead of picking single elements out of every row.
        return self._contract(take_unique(contiguous_permute(outer.reshape(rows, -1), (1, 0)), self.columns, 0))

    def product(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """CG products of ``x1`` (R, K1) and ``x2`` (R, K2) row by row -> (R, K_out), the outer product never formed.

        Only the entries the paths use are multiplied (for a square, about half of them).
        """
        if not self.chunks:
            return x1.new_zeros(x1.shape[0], 0)
        a = contiguous_permute(x1, (1, 0))
        b = a if x2 is x1 else contiguous_permute(x2, (1, 0))
        return self._contract(a.index_select(0, self.rows1) * b.index_select(0, self.rows2))


def channelwise_linear(linear: o3.Linear, x: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """``linear`` (an e3nn :class:`~e3nn.o3.Linear` between C-channel irreps) applied to channel-major ``x``.

    Uses the module's own weights and path normalisation, so both layouts
    give the same result (tested).

    Args:
        linear: the e3nn module (its ``weight`` is what trains).
        x: (N, C_in, K_in) channel-major input.
        columns: from :func:`linear_gather_index`.

    Returns:
        (N, C_out, K_out) channel-major output.
    """
    views = list(linear.weight_views(yield_instruction=True))
    atoms, channels = x.shape[0], x.shape[1]
    # Component-major (K, N, C): gathering the input blocks copies whole rows (see ChannelwiseCG).
    gathered = take_unique(contiguous_permute(x, (2, 0, 1)), columns, 0)
    sizes = []
    for o, (_, ir_out) in enumerate(linear.irreps_out):
        sizes.append(ir_out.dim * sum(1 for _, ins, _ in views if ins.i_out == o))
    parts = []
    for o, ((mul_out, ir_out), block) in enumerate(zip(linear.irreps_out, gathered.split(sizes, dim=0))):
        weights = [ins.path_weight * w for _, ins, w in views if ins.i_out == o]
        if not weights:
            parts.append(x.new_zeros(ir_out.dim, atoms, mul_out))
            continue
        # (n, d, N, C) -> (d N, n C) @ (n C, C_out)
        block = block.reshape(len(weights), ir_out.dim, atoms, channels).permute(1, 2, 0, 3)
        mixed = block.reshape(ir_out.dim * atoms, -1) @ torch.cat(weights, dim=0).to(x.dtype)
        parts.append(mixed.reshape(ir_out.dim, atoms, mul_out))
    return contiguous_permute(torch.cat(parts, dim=0), (1, 2, 0))


def linear_gather_index(linear: o3.Linear) -> torch.Tensor:
    """The channel-major columns :func:`channelwise_linear` gathers: per output block, its input blocks in order."""
    offsets = component_offsets(linear.irreps_in)
    columns = [torch.arange(offsets[ins.i_in].start, offsets[ins.i_in].stop)
               for o in range(len(linear.irreps_out)) for ins in linear.instructions if ins.i_out == o]
    return torch.cat(columns) if columns else torch.zeros(0, dtype=torch.long)
