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
        """(E, F) :meth:`filter_hidden` output and (E,) cutoff weights -> (E, F) filters."""
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


class _FilterBank(torch.autograd.Function):
    """The filters of several CFConvs on one basis, with a hand-written backward.

    Per convolution c: ``A_c = rbf W1_c^T + b1_c``, ``S_c = softplus(A_c)``,
    ``w_c = (S_c W2_c^T + b2_c - ln2 W2_c 1) * cutoff``. Backward: the
    gradients of the parameters only (the basis and cutoff carry none on
    this path).

    Memory traffic over the (E, F) tensors is what costs here, so the first
    layer's bias rides along as a column of ones next to the basis (no
    (E, F) bias copy forward, no bias sum backward: it comes out of the
    weight product), and nothing is split, concatenated or kept beyond A_c
    and S_c. Each tensor stays (E, F): one (E, sum F) tensor for all
    convolutions would pass glibc's largest mmap threshold (32 MiB) for a
    batch of 100 QM9 molecules and be page-faulted in afresh at every step.
    """

    @staticmethod
    def forward(ctx, rbf, edge_weight, *params):
        num = len(params) // 4
        weights1, biases1, weights2, biases2 = (params[i * num:(i + 1) * num] for i in range(4))
        rbf_ones = torch.cat([rbf, rbf.new_ones(rbf.shape[0], 1)], dim=1)
        cut = edge_weight.unsqueeze(-1)
        filters, saved = [], []
        for weight1, bias1, weight2, bias2 in zip(weights1, biases1, weights2, biases2):
            pre = torch.mm(rbf_ones, torch.cat([weight1, bias1.unsqueeze(-1)], dim=1).t())
            hidden = F.softplus(pre)
            bias = bias2 - _LN2 * weight2.sum(dim=1)  # the shift of the softplus, folded in
            filters.append(torch.addmm(bias, hidden, weight2.t()).mul_(cut))
            saved += [pre, hidden]
        ctx.num = num
        ctx.save_for_backward(rbf_ones, edge_weight, *weights2, *saved)
        return tuple(filters)

    @staticmethod
    def backward(ctx, *grad_filters):
        num = ctx.num
        rbf_ones, edge_weight, *rest = ctx.saved_tensors
        weights2, saved = rest[:num], rest[num:]
        cut = edge_weight.unsqueeze(-1)
        grads_w1, grads_b1, grads_w2, grads_b2 = [], [], [], []
        for k, (weight2, grad) in enumerate(zip(weights2, grad_filters)):
            pre, hidden = saved[2 * k], saved[2 * k + 1]
            grad_y = grad * cut
            grad_b2 = grad_y.sum(dim=0)
            # b2 - ln2 W2 1 is the bias used: W2 also gets -ln2 times the bias gradient
            grads_w2.append(torch.mm(grad_y.t(), hidden).sub_(_LN2 * grad_b2.unsqueeze(-1)))
            grads_b2.append(grad_b2)
            grad_a = torch.ops.aten.softplus_backward(torch.mm(grad_y, weight2), pre, 1, 20)  # F.softplus's
            grad_w1_b1 = torch.mm(grad_a.t(), rbf_ones)                                        # beta, threshold
            grads_w1.append(grad_w1_b1[:, :-1])
            grads_b1.append(grad_w1_b1[:, -1])
        return (None, None, *grads_w1, *grads_b1, *grads_w2, *grads_b2)


def cfconv_filters(convs: Sequence[CFConv], rbf: torch.Tensor, edge_weight: torch.Tensor) -> list[torch.Tensor]:
    """``[conv.filters(rbf, edge_weight) for conv in convs]``, computed together.

    When only the parameters need gradients (training on energies, the
    common case), a hand-written backward (:class:`_FilterBank`) makes fewer
    passes over the (E, F) tensors than autograd; when the basis or the
    cutoff needs a gradient (forces, which may be differentiated again), when
    nothing needs one, under ``torch.compile`` or under ``torch.autocast``
    (whose casts the hand-written backward would not see), plain autograd does.
    """
    needs_input_grad = rbf.requires_grad or edge_weight.requires_grad
    params_grad = torch.is_grad_enabled() and any(p.requires_grad for conv in convs for p in conv.parameters())
    if (len(convs) == 0 or needs_input_grad or not params_grad or torch.compiler.is_compiling()
            or torch.is_autocast_enabled(rbf.device.type)):
        return [conv.filters(rbf, edge_weight) for conv in convs]
    layers = [conv.filter_net[i] for i in (0, 2) for conv in convs]
    firsts, seconds = layers[:len(convs)], layers[len(convs):]
    params = [lin.weight for lin in firsts] + [lin.bias for lin in firsts]
    params += [lin.weight for lin in seconds] + [lin.bias for lin in seconds]
    return list(_FilterBank.apply(rbf, edge_weight, *params))
