"""Continuous-filter convolution (SchNet's CFConv) on the fused message op."""

from __future__ import annotations

import torch
from torch import nn

from geognn.nn.activation import ShiftedSoftplus
from geognn.ops import CSRGraph, message_sum


class CFConv(nn.Module):
    """``out_i = W_out( sum_{j in N(i)} (W_in x_j) * filter(rbf_ij) * cutoff(d_ij) )``.

    The filter is a two-layer network on the radial basis (Linear, shifted
    softplus, Linear), scaled by the cutoff weight of the edge. Aggregation is
    :func:`geognn.ops.message_sum`, which never materialises the E x F
    product of gathered features and filters.

    Args:
        in_channels: node feature size.
        out_channels: output feature size.
        num_filters: filter / message width F.
        num_rbf: radial basis size K.

    Shapes:
        x (N, in_channels); rbf (E, K); edge_weight (E,) cutoff values in [0, 1];
        graph: :class:`geognn.ops.CSRGraph` of the E edges (row 0 source j,
        row 1 target i), built once per batch. Output (N, out_channels).
    """

    def __init__(self, in_channels: int, out_channels: int, num_filters: int, num_rbf: int):
        super().__init__()
        self.lin_in = nn.Linear(in_channels, num_filters, bias=False)
        self.filter_net = nn.Sequential(
            nn.Linear(num_rbf, num_filters), ShiftedSoftplus(), nn.Linear(num_filters, num_filters)
        )
        self.lin_out = nn.Linear(num_filters, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin_in, self.filter_net[0], self.filter_net[2], self.lin_out):
            nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def filters(self, rbf: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        """(E, K) basis and (E,) cutoff weights -> (E, F) per-edge filters."""
        return self.filter_net(rbf) * edge_weight.unsqueeze(-1)

    def forward(self, x: torch.Tensor, rbf: torch.Tensor, edge_weight: torch.Tensor, graph: CSRGraph) -> torch.Tensor:
        w = self.filters(rbf, edge_weight)
        h = message_sum(self.lin_in(x), w, graph=graph)
        return self.lin_out(h)
