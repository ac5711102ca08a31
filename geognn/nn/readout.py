"""Readout: per-atom values reduced to one value per molecule."""

from __future__ import annotations

import torch
from torch import nn

from geognn.ops import scatter

READOUTS = ("sum", "mean", "max", "min")


def readout(values: torch.Tensor, batch: torch.Tensor, num_graphs: int, reduce: str = "sum") -> torch.Tensor:
    """Reduces per-atom values to per-molecule values.

    Args:
        values: (N, *F) per-atom values.
        batch: (N,) int64 molecule of each atom, values in [0, num_graphs).
        num_graphs: number of molecules B (molecules without atoms get 0).
        reduce: "sum" (extensive targets such as energies), "mean"
            (intensive ones such as the HOMO-LUMO gap), "max" or "min".

    Returns:
        (B, *F) tensor.
    """
    if reduce not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {reduce!r}")
    return scatter(values, batch, dim_size=num_graphs, reduce=reduce)


class Readout(nn.Module):
    """Module form of :func:`readout` with a fixed reduction."""

    def __init__(self, reduce: str = "sum"):
        super().__init__()
        if reduce not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {reduce!r}")
        self.reduce = reduce

    def forward(self, values: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        return readout(values, batch, num_graphs, self.reduce)

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}"
