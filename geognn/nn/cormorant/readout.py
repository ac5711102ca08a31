"""Invariant and vector read-outs of channel-major equivariant features."""

from __future__ import annotations

import torch
from e3nn import o3

from geognn.nn.cormorant.cg import component_offsets

__all__ = ["num_invariants", "scalar_invariants", "vector_blocks"]


def num_invariants(irreps: o3.Irreps) -> int:
    """Length of :func:`scalar_invariants`' output for ``irreps``."""
    irreps = o3.Irreps(irreps)
    return sum(mul for mul, _ in irreps) + sum(mul for mul, ir in irreps if ir == o3.Irrep("0e"))


def scalar_invariants(x: torch.Tensor, irreps: o3.Irreps) -> torch.Tensor:
    """The E(3)-invariant channels of ``x``: every true scalar (0e), and per block and channel ``|psi|^2 / (2l + 1)``.

    The squared norm of any block is invariant under rotations and reflections
    (a pseudo-scalar 0o changes sign, its square does not). For real spherical
    tensors it equals the paper's self-contraction, so one is kept.

    Shapes: x (N, C, K) channel-major with ``irreps`` -> (N, :func:`num_invariants`).
    """
    irreps = o3.Irreps(irreps)
    scalars, norms = [], []
    for (_, ir), block in zip(irreps, component_offsets(irreps)):
        values = x[:, :, block]
        if ir == o3.Irrep("0e"):
            scalars.append(values[..., 0])
        norms.append(values.square().mean(dim=-1))
    return torch.cat(scalars + norms, dim=-1)


def vector_blocks(x: torch.Tensor, irreps: o3.Irreps) -> torch.Tensor:
    """The true-vector (1o) channels of ``x`` (N, C, K): (N, V, 3), Cartesian (x, y, z) order (e3nn's l = 1)."""
    parts = [x[:, :, block] for (_, ir), block in zip(o3.Irreps(irreps), component_offsets(irreps))
             if ir == o3.Irrep("1o")]
    return torch.cat(parts, dim=1) if parts else x.new_zeros(x.shape[0], 0, 3)
