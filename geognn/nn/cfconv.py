"""Continuous-filter convolution (SchNet's CFConv) on the fused message op."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from geognn.nn.activation import ShiftedSoftplus
from geognn.nn.pairs import PairGraph
from geognn.ops import CSRGraph, message_sum

_LN2 = math.log(2.0)


class CFConv(nn.Module):
    """``out_i = W_out( sum_{j in N(i)} (W_in x_j) * filter(rbf_ij) * cutoff(d_ij) )``.

    The filter is a two-layer network on the radial basis (Linear, shifted
    softplus, Linear), scaled by the cutoff weight of the edge. Aggregation is
    :func:`geognn.ops.message_sum`, which never materialises the E x F
    product of gathered features and filters.

    How it is computed (the same function, fewer passes over E x F data):
    the ``- ln 2`` of the shifted softplus is folded into the second filter
    layer's bias (``W (softplus(a) - ln 2) + b = W softplus(a) + (b - ln 2 W 1)``),
    so no E x F subtraction is done; and with a :class:`geognn.nn.PairGraph`
    the filter is computed once per unordered pair and used for both
    directions, since it depends on the distance only.

    Args:
        in_channels: node feature size.
        out_channels: output feature size.
        num_filters: filter / message width F.
        num_rbf: radial basis size K.

    Shapes:
        x (N, in_channels); rbf (E, K); edge_weight (E,) cutoff values in [0, 1];
        graph: :class:`geognn.ops.CSRGraph` of the E edges (row 0 source j,
        row 1 target i), or a :class:`geognn.nn.PairGraph` of E pairs (then
        rbf and edge_weight are per pair), built once per batch.
        Output (N, out_channels).
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

    def filter_hidden(self, rbf: torch.Tensor) -> torch.Tensor:
        """(E, K) basis -> (E, F) ``softplus(first filter layer)``, without the ``- ln 2`` shift."""
        return F.softplus(self.filter_net[0](rbf))

    def filters_from_hidden(self, hidden: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        """(E, F) :meth:`filter_hidden` output and (E,) cutoff weights -> (E, F) filters.

        ``hidden`` may be a strided view (a slice of :func:`filter_hidden_all`'s output).
        """
        second = self.filter_net[2]
        bias = second.bias - _LN2 * second.weight.sum(dim=1)  # the shift of the softplus, folded in
        return F.linear(hidden, second.weight, bias) * edge_weight.unsqueeze(-1)

    def filters(self, rbf: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        """(E, K) basis and (E,) cutoff weights -> (E, F) per-edge filters."""
        return self.filters_from_hidden(self.filter_hidden(rbf), edge_weight)

    def aggregate(self, x: torch.Tensor, w: torch.Tensor, graph: CSRGraph | PairGraph) -> torch.Tensor:
        """``W_out(sum_j (W_in x_j) * w_ij)`` for (E, F) filters ``w`` on ``graph``."""
        h = self.lin_in(x)
        if isinstance(graph, PairGraph):
            h = graph.message_sum(h, w)
        else:
            h = message_sum(h, w, graph=graph)
        return self.lin_out(h)

    def forward(self, x: torch.Tensor, rbf: torch.Tensor, edge_weight: torch.Tensor,
                graph: CSRGraph | PairGraph) -> torch.Tensor:
        return self.aggregate(x, self.filters(rbf, edge_weight), graph)


def filter_hidden_all(convs: Sequence[CFConv], rbf: torch.Tensor) -> list[torch.Tensor]:
    """:meth:`CFConv.filter_hidden` of several convolutions on one basis, in one matrix product.

    The first filter layers of all ``convs`` read the same (E, K) basis, so they
    are applied as one (E, K) @ (K, sum F) product followed by one softplus;
    the result is split into (E, F_c) views, one per convolution. Same values as
    calling ``conv.filter_hidden(rbf)`` for each, fewer passes over E.
    """
    if len(convs) == 0:
        return []
    if len(convs) == 1:
        return [convs[0].filter_hidden(rbf)]
    firsts = [conv.filter_net[0] for conv in convs]
    weight = torch.cat([lin.weight for lin in firsts])
    bias = torch.cat([lin.bias for lin in firsts])
    hidden = F.softplus(F.linear(rbf, weight, bias))
    return list(hidden.split([lin.out_features for lin in firsts], dim=-1))
