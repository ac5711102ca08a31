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


class _FilterBank(torch.autograd.Function):
    """The filters of several CFConvs on one basis, with a hand-written backward.

    Forward: ``A = rbf W1^T + b1`` for all convolutions at once (E x sum F),
    ``S = softplus(A)``, then per convolution ``w_c = (S_c W2_c^T + b2_c - ln2 W2_c 1) * cutoff``.
    Backward: the gradients of the parameters only (the basis and cutoff
    carry none on this path).

    Memory traffic over the (E, F) tensors is what costs here, so: the first
    layer's bias rides along as a column of ones next to the basis (no
    (E, sum F) bias copy forward, no bias sum backward: it comes out of the
    weight product), and every convolution's gradient with respect to S_c is
    written straight into one (E, sum F) buffer (no split/cat).
    """

    @staticmethod
    def forward(ctx, rbf, edge_weight, weight1, bias1, *second):
        num = len(second) // 2
        weights2, biases2 = second[:num], second[num:]
        rbf_ones = torch.cat([rbf, rbf.new_ones(rbf.shape[0], 1)], dim=1)
        pre = torch.mm(rbf_ones, torch.cat([weight1, bias1.unsqueeze(-1)], dim=1).t())
        hidden = F.softplus(pre)
        cut = edge_weight.unsqueeze(-1)
        filters, start = [], 0
        for weight2, bias2 in zip(weights2, biases2):
            width = weight2.shape[1]
            bias = bias2 - _LN2 * weight2.sum(dim=1)  # the shift of the softplus, folded in
            filters.append(torch.addmm(bias, hidden[:, start:start + width], weight2.t()).mul_(cut))
            start += width
        ctx.save_for_backward(rbf_ones, edge_weight, pre, hidden, *weights2)
        return tuple(filters)

    @staticmethod
    def backward(ctx, *grad_filters):
        rbf_ones, edge_weight, pre, hidden, *weights2 = ctx.saved_tensors
        cut = edge_weight.unsqueeze(-1)
        grad_hidden = torch.empty_like(hidden)
        grads_w2, grads_b2, start = [], [], 0
        for weight2, grad in zip(weights2, grad_filters):
            width = weight2.shape[1]
            block = slice(start, start + width)
            if grad is None:
                grad_hidden[:, block].zero_()
                grads_w2.append(torch.zeros_like(weight2))
                grads_b2.append(weight2.new_zeros(weight2.shape[0]))
            else:
                grad_y = grad * cut
                grad_b2 = grad_y.sum(dim=0)
                # b2 - ln2 W2 1 is the bias used: W2 also gets -ln2 times the bias gradient
                grads_w2.append(torch.mm(grad_y.t(), hidden[:, block]).sub_(_LN2 * grad_b2.unsqueeze(-1)))
                grads_b2.append(grad_b2)
                torch.mm(grad_y, weight2, out=grad_hidden[:, block])
            start += width
        grad_a = torch.ops.aten.softplus_backward(grad_hidden, pre, 1, 20)  # F.softplus's beta and threshold
        grad_w1_b1 = torch.mm(grad_a.t(), rbf_ones)
        return (None, None, grad_w1_b1[:, :-1], grad_w1_b1[:, -1], *grads_w2, *grads_b2)


def cfconv_filters(convs: Sequence[CFConv], rbf: torch.Tensor, edge_weight: torch.Tensor) -> list[torch.Tensor]:
    """``[conv.filters(rbf, edge_weight) for conv in convs]``, computed together.

    The first filter layers run as one matrix product (:func:`filter_hidden_all`).
    When only the parameters need gradients (training on energies, the
    common case), a hand-written backward (:class:`_FilterBank`) does the
    rest with fewer passes over the (E, F) tensors; when the basis or the
    cutoff needs a gradient (forces, which may be differentiated again) or
    under ``torch.compile``, plain autograd does.
    """
    if len(convs) == 0:
        return []
    needs_input_grad = rbf.requires_grad or edge_weight.requires_grad
    params_grad = torch.is_grad_enabled() and any(p.requires_grad for conv in convs for p in conv.parameters())
    if needs_input_grad or not params_grad or torch.compiler.is_compiling():
        hidden = filter_hidden_all(convs, rbf)
        return [conv.filters_from_hidden(h, edge_weight) for conv, h in zip(convs, hidden)]
    firsts = [conv.filter_net[0] for conv in convs]
    seconds = [conv.filter_net[2] for conv in convs]
    weight1 = torch.cat([lin.weight for lin in firsts])
    bias1 = torch.cat([lin.bias for lin in firsts])
    return list(_FilterBank.apply(rbf, edge_weight, weight1, bias1, *[lin.weight for lin in seconds],
                                  *[lin.bias for lin in seconds]))
