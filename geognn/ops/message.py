"""Fused continuous-filter message passing (the SchNet filter product)."""

from __future__ import annotations

import torch

from geognn.ops import _native
from geognn.ops.checks import as_size, check_index_range, check_same_device, check_values
from geognn.ops.csr import CSRGraph
from geognn.ops.reference import message_sum_reference
from geognn.ops.scatter import as_rows


def message_sum(
    x: torch.Tensor,
    w: torch.Tensor,
    edge_index: torch.Tensor | None = None,
    num_nodes: int | None = None,
    *,
    graph: CSRGraph | None = None,
) -> torch.Tensor:
    """``out[i] = sum_{e: edge_index[1, e] = i} x[edge_index[0, e]] * w[e]``.

    The product of node features and per-edge filters summed into each
    destination, as in SchNet's continuous-filter convolution, computed without
    materialising the E x F message tensor. The backward pass does not
    materialise it either, except the gradient of ``w``, which is an output.
    It is differentiable twice (training on forces needs that). Under
    ``torch.autocast`` both inputs are cast to the autocast dtype, as for a
    matrix product (sums are accumulated in float32 whatever the dtype).

    Args:
        x: (N_src, *F) node features.
        w: (E, *F) edge filters, same dtype and trailing shape as ``x``.
        edge_index: (2, E) int32/int64; row 0 source, row 1 destination.
        num_nodes: number of destination nodes; defaults to ``x.shape[0]``.
        graph: a :class:`CSRGraph` built once for this batch; replaces
            ``edge_index``/``num_nodes`` and skips the per-call sorting.

    Returns:
        (num_nodes, *F) tensor.
    """
    check_values(x, "x")
    check_values(w, "w")
    if torch.is_autocast_enabled(x.device.type) and not _native.use_native(x):
        # The native op casts under autocast itself (kernels/registration.cpp); the reference casts here alike.
        dtype = torch.get_autocast_dtype(x.device.type)
        x, w = (t.to(dtype) if t.dtype != torch.float64 else t for t in (x, w))
    if x.dtype != w.dtype and not torch.is_autocast_enabled(x.device.type):
        raise ValueError(f"geognn: x is {x.dtype} but w is {w.dtype}; cast one of them so they match")
    if x.shape[1:] != w.shape[1:]:
        raise ValueError(
            f"geognn: x has feature shape {tuple(x.shape[1:])} but w has {tuple(w.shape[1:])}; they must match"
        )
    check_same_device(x=x, w=w)
    if graph is None:
        if edge_index is None:
            raise ValueError("geognn: message_sum needs edge_index or graph")
        check_same_device(x=x, edge_index=edge_index)
        num_nodes = x.shape[0] if num_nodes is None else as_size(num_nodes, "num_nodes")
        if edge_index.dim() == 2 and edge_index.shape[0] == 2 and edge_index.shape[1] != w.shape[0]:
            raise ValueError(f"geognn: edge_index has {edge_index.shape[1]} edges but w has {w.shape[0]} rows")
        graph = CSRGraph.from_edge_index(edge_index, num_src=x.shape[0], num_dst=num_nodes)
    else:
        check_same_device(x=x, graph=graph.src)
        if graph.num_src != x.shape[0]:
            raise ValueError(f"geognn: graph was built for {graph.num_src} source nodes but x has {x.shape[0]} rows")
        if num_nodes is not None and num_nodes != graph.num_dst:
            raise ValueError(f"geognn: num_nodes={num_nodes} disagrees with graph.num_dst={graph.num_dst}")
    if graph.num_edges != w.shape[0]:
        raise ValueError(f"geognn: the graph has {graph.num_edges} edges but w has {w.shape[0]} rows")

    if not _native.use_native(x):
        check_index_range(graph.src, graph.num_src, "edge_index[0]")
        check_index_range(graph.dst, graph.num_dst, "edge_index[1]")
        return message_sum_reference(x, w, graph.edge_index, graph.num_dst)
    out = torch.ops.geognn.message_sum(
        as_rows(x), as_rows(w),
        graph.src, graph.dst, graph.dst_perm, graph.dst_ptr, graph.src_perm, graph.src_ptr,
    )
    return out.view(graph.num_dst, *x.shape[1:])
