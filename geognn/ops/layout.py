"""Layout changes with fast backward passes: a gather without repeats, a permutation into contiguous memory.

Gathering with an index that has no repeats, whose backward is a gather too.

``x.index_select(dim, index)`` differentiates into an accumulating scatter
(``index_put_`` / ``index_add_``), which is slow on the CPU, above all along a
trailing dimension, and needs a zero-filled full-size gradient. When no
position is taken twice, the gradient of the input is simply the output's
gradient gathered back through the inverse permutation, with zeros where
nothing was taken. Cormorant's CG layers regroup columns this way every level.

A permuted copy (``x.permute(dims).contiguous()``) hands a *permuted view* to
the layers before it as their gradient, and batched matrix products on the
CPU fall back to a per-matrix loop for such strides (measured here: 2-3x
slower for 18,000 small matrices). :func:`contiguous_permute` copies the
gradient back into contiguous memory instead.
"""

from __future__ import annotations

import torch

__all__ = ["contiguous_permute", "take_unique"]


class _TakeUnique(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
        size = x.shape[dim]
        # inverse[k]: where input position k went in the output; len(index) (a zero slot) if nowhere.
        inverse = torch.full((size,), index.shape[0], dtype=torch.long, device=index.device)
        inverse[index] = torch.arange(index.shape[0], device=index.device)
        ctx.save_for_backward(inverse)
        ctx.dim = dim
        return x.index_select(dim, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inverse,) = ctx.saved_tensors
        dim = ctx.dim
        zeros = grad.new_zeros(*grad.shape[:dim], 1, *grad.shape[dim + 1:])
        # Plain differentiable ops: a second derivative (force training) goes through them.
        return torch.cat([grad, zeros], dim=dim).index_select(dim, inverse), None, None


def take_unique(x: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    """``x.index_select(dim, index)`` for an ``index`` without repeated values (not checked), with a fast backward.

    Args:
        x: any tensor. index: (L,) int64, distinct values in ``[0, x.shape[dim])``.
        dim: the dimension to gather along (non-negative).

    Returns:
        ``x`` with ``x.shape[dim]`` replaced by L.
    """
    return _TakeUnique.apply(x, index, dim)


class _ContiguousPermute(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        ctx.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return x.permute(dims).contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return contiguous_permute(grad, ctx.inverse), None


def contiguous_permute(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``x.permute(dims).contiguous()`` whose gradient is contiguous too (twice differentiable)."""
    return _ContiguousPermute.apply(x, tuple(dims))
