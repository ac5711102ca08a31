"""Symmetric edge lists as unordered atom pairs, so per-distance work is done once per pair.

A radius graph without periodic images holds both directions of every pair
(j -> i and i -> j, with the same distance). Anything that depends only on the
distance (the radial basis, the cutoff, SchNet's filter network) is then
computed twice for nothing. :func:`symmetric_pairs` finds the P = E / 2 pairs
of such an edge list, and a :class:`PairGraph` aggregates over both
directions of each pair with one per-pair filter: ``out[i] = sum_p x[j_p] w_p``
over pairs (j_p -> i) plus ``x[i_p] w_p`` over the reversed pairs, which is the
same sum as over the E directed edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from geognn.ops import CSRGraph, message_sum


def symmetric_pairs(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor | None:
    """The unordered pairs of a symmetric edge list, or None when it is not symmetric.

    Args:
        edge_index: (2, E) int64, row 0 source, row 1 target.
        num_nodes: N, the number of atoms.

    Returns:
        (2, P) int64 ``pair_index`` holding the edges with source < target, in
        their input order, when every edge j -> i has exactly one reverse edge
        i -> j for each copy (as a multiset) and there are no self-loops;
        otherwise None (the caller then works edge by edge).
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        return None
    src, dst = edge_index[0], edge_index[1]
    lower = src < dst
    num_pairs = int(lower.sum())
    if 2 * num_pairs != edge_index.shape[1]:  # self-loops or unmatched directions
        return None
    pairs = edge_index[:, lower]
    upper = edge_index[:, ~lower]
    if bool((upper[0] == upper[1]).any()):
        return None
    n = max(int(num_nodes), 1)
    forward_keys = torch.sort(pairs[0] * n + pairs[1]).values
    reverse_keys = torch.sort(upper[1] * n + upper[0]).values
    if not torch.equal(forward_keys, reverse_keys):
        return None
    return pairs


@dataclass(frozen=True)
class PairGraph:
    """Both directions of P unordered pairs, each as a CSR graph built once per batch.

    Attributes:
        forward: pairs as edges pair_index[0] -> pair_index[1].
        reverse: the same pairs as edges pair_index[1] -> pair_index[0].

    Per-pair tensors (filters) are indexed by pair; :meth:`message_sum` sums
    over all 2P directed edges.
    """

    forward: CSRGraph
    reverse: CSRGraph

    @classmethod
    def from_pairs(cls, pair_index: torch.Tensor, num_nodes: int) -> "PairGraph":
        """Builds both directions from a (2, P) ``pair_index`` of N = ``num_nodes`` atoms."""
        return cls(
            CSRGraph.from_edge_index(pair_index, num_src=num_nodes),
            CSRGraph.from_edge_index(pair_index.flip(0), num_src=num_nodes),
        )

    @property
    def num_pairs(self) -> int:
        return self.forward.num_edges

    def message_sum(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``out[i] = sum over edges j -> i of x[j] * w[pair of the edge]``: x (N, F), w (P, F) -> (N, F)."""
        return message_sum(x, w, graph=self.forward) + message_sum(x, w, graph=self.reverse)
