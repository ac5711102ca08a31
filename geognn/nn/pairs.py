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
from geognn.ops.checks import check_indices

NOT_SYMMETRIC = ("geognn: edge_index is not symmetric (some edge j -> i has no reverse i -> j, or there are "
                 "self-loops), so its pairs cannot be shared; under torch.compile pass share_pairs=False for "
                 "such a graph")


def find_pairs(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The candidate unordered pairs of an edge list and whether they are its pairs, without a host read.

    Every shape is known from E alone, so this runs on the device without
    waiting for it and traces under ``torch.compile(dynamic=True)``.

    Args:
        edge_index: (2, E) int64, row 0 source, row 1 target, values in [0, num_nodes).
        num_nodes: N, the number of atoms.

    Returns:
        ``(pair_index, symmetric)``: (2, E // 2) int64 edges with source <
        target, in their input order (exactly these when the list is
        symmetric), and a 0-d bool tensor on the device saying whether every
        edge j -> i has exactly one reverse i -> j for each copy (as a
        multiset) and there are no self-loops.
    """
    src, dst = edge_index[0], edge_index[1]
    num_edges = edge_index.shape[1]
    half = num_edges // 2
    lower = src < dst
    # Edges with source < target first, each group in input order (a stable sort of a 0/1 key).
    order = torch.argsort((~lower).to(torch.uint8), stable=True)
    pairs = edge_index[:, order[:half]]
    others = edge_index[:, order[half:2 * half]]  # the reverse of each pair, if symmetric (an odd E is not)
    # Equal sorted keys <=> equal multisets; a self-loop's key (s, s) matches no pair's (a < b).
    forward_keys = torch.sort(pairs[0] * num_nodes + pairs[1]).values
    reverse_keys = torch.sort(others[1] * num_nodes + others[0]).values
    symmetric = (lower.sum() * 2 == num_edges) & (forward_keys == reverse_keys).all()
    return pairs, symmetric


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

    Deciding asks the device one question (one host read on CUDA); a model's
    step uses :func:`interaction_graph`, which asks it together with the index checks.
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        return None
    pairs, symmetric = find_pairs(edge_index, num_nodes)
    return pairs if bool(symmetric) else None


def interaction_graph(edge_index: torch.Tensor | None, num_nodes: int, *, batch: torch.Tensor | None = None,
                      num_graphs: int | None = None, pair_index: torch.Tensor | None = None,
                      share_pairs: bool = True, z: torch.Tensor | None = None,
                      num_species: int | None = None) -> tuple["CSRGraph | PairGraph", torch.Tensor]:
    """The graph a model aggregates over in one step, with one host read.

    Args:
        edge_index: (2, E) int64 edges (row 0 source, row 1 target); unused when ``pair_index`` is given.
        num_nodes: N, the number of atoms.
        batch, num_graphs: (N,) molecule of each atom and the number of molecules,
            validated in the same read (the readout then reads ``batch`` unchecked).
        pair_index: (2, P) unordered pairs known ahead (:func:`symmetric_pairs`).
        share_pairs: look for pairs in ``edge_index`` (False: edge by edge, for
            directed graphs and periodic images).
        z, num_species: (N,) atomic numbers and the size of the model's
            embedding table, checked in the same read (an out-of-range atomic
            number would otherwise be a device-side assert in the embedding).

    Returns:
        ``(graph, index)``: a :class:`PairGraph` and its (2, P) pairs, or a
        :class:`geognn.ops.CSRGraph` and ``edge_index``; per-distance work is
        done over the columns of ``index``.

    The host read (the step's one synchronisation on CUDA) validates every
    index and, when pairs are looked for, learns whether the list is symmetric;
    the graph's ops then trust these tensors without reading again. Under
    ``torch.compile`` the model cannot branch on that answer, so the pairs are
    used and a list that is not symmetric raises ``ValueError`` at run time
    (pass ``share_pairs=False``). While a CUDA graph is captured nothing is
    read or checked (``mode="reduce-overhead"`` replays what was captured:
    give it symmetric lists, or ``share_pairs=False``).
    """
    extra = [("batch", batch, num_graphs)] if batch is not None else []
    if z is not None:
        extra.append(("z", z, num_species))
    if pair_index is not None:
        check_indices([("pair_index", pair_index, num_nodes), *extra])
        return PairGraph.from_pairs(pair_index, num_nodes), pair_index
    checks = [("edge_index", edge_index, num_nodes), *extra]
    if not share_pairs:
        check_indices(checks)
        return CSRGraph.from_edge_index(edge_index, num_src=num_nodes), edge_index
    pairs, symmetric = find_pairs(edge_index, num_nodes)
    compiling = torch.compiler.is_compiling()
    (is_symmetric,) = check_indices([*checks, ("pair_index", pairs, num_nodes)], flags=[symmetric],
                                    required=[NOT_SYMMETRIC if compiling else ""])
    if compiling or is_symmetric:
        return PairGraph.from_pairs(pairs, num_nodes), pairs
    return CSRGraph.from_edge_index(edge_index, num_src=num_nodes), edge_index


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
        forward = CSRGraph.from_edge_index(pair_index, num_src=num_nodes)
        return cls(forward, forward.reversed())  # the reverse's layouts are the forward's, swapped

    @property
    def num_pairs(self) -> int:
        return self.forward.num_edges

    def message_sum(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``out[i] = sum over edges j -> i of x[j] * w[pair of the edge]``: x (N, F), w (P, F) -> (N, F)."""
        return message_sum(x, w, graph=self.forward) + message_sum(x, w, graph=self.reverse)
