"""Pure-PyTorch implementations of every geognn op.

They are the oracle the native kernels are tested against, and the fallback
when the extension is missing or a device has no kernels. They are written for
clarity, not speed: ``message_sum_reference`` materialises the E x F message
tensor that the fused kernel avoids.
"""

from __future__ import annotations

import torch


def _broadcast_index(index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return index.view(-1, *([1] * (like.dim() - 1))).expand_as(like)


def scatter_reference(src: torch.Tensor, index: torch.Tensor, dim_size: int, reduce: str = "sum") -> torch.Tensor:
    """``out[i] = reduce_{e: index[e] = i} src[e]`` along dim 0; empty groups give 0.

    Shapes: src (E, *F), index (E,) int64 -> out (dim_size, *F).
    """
    out = src.new_zeros((dim_size, *src.shape[1:]))
    if reduce == "sum":
        return out.index_add(0, index, src)
    if reduce == "mean":
        total = out.index_add(0, index, src)
        count = torch.bincount(index, minlength=dim_size).clamp(min=1).to(src.dtype)
        return total / count.view(-1, *([1] * (src.dim() - 1)))
    if reduce in ("max", "min"):
        op = "amax" if reduce == "max" else "amin"
        return out.scatter_reduce(0, _broadcast_index(index, src), src, op, include_self=False)
    raise ValueError(f"unknown reduce {reduce!r}")


def indptr_to_index(indptr: torch.Tensor, num_rows: int | None = None) -> torch.Tensor:
    """Expands CSR offsets (N + 1,) into the row index of every entry (indptr[-1],)."""
    counts = indptr[1:] - indptr[:-1]
    return torch.repeat_interleave(torch.arange(counts.numel(), device=indptr.device), counts,
                                   output_size=num_rows)


def segment_reference(src: torch.Tensor, indptr: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """Segment reduction of CSR-sorted rows: segment i covers ``src[indptr[i]:indptr[i+1]]``."""
    index = indptr_to_index(indptr, src.shape[0])
    return scatter_reference(src, index, indptr.numel() - 1, reduce)


def csr_reference(index: torch.Tensor, num_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stable sort of ``index`` into (perm, indptr), the same result as the native ``csr``."""
    perm = torch.sort(index, stable=True).indices
    counts = torch.bincount(index, minlength=num_rows)
    indptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    return perm, indptr


def message_sum_reference(
    x: torch.Tensor, w: torch.Tensor, edge_index: torch.Tensor, num_nodes: int
) -> torch.Tensor:
    """``out[i] = sum_{e: edge_index[1, e] = i} x[edge_index[0, e]] * w[e]`` (unfused, PyG-style).

    Shapes: x (N_src, *F), w (E, *F), edge_index (2, E) -> out (num_nodes, *F).
    """
    return scatter_reference(x[edge_index[0]] * w, edge_index[1], num_nodes, "sum")


def outer_message_sum_reference(w: torch.Tensor, x: torch.Tensor, edge_index: torch.Tensor,
                                num_nodes: int) -> torch.Tensor:
    """``out[i, c, a, b] = sum_{e: dst(e) = i} w[e, c, a] * x[src(e), c, b]``, materialising every outer product.

    Shapes: w (E, C, A), x (N_src, C, B), edge_index (2, E) -> (num_nodes, C, A, B).
    """
    products = w.unsqueeze(-1) * x[edge_index[0]].unsqueeze(-2)
    return scatter_reference(products, edge_index[1], num_nodes, "sum")
