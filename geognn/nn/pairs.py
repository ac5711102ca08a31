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
from typing import NamedTuple

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


class StepGraph(NamedTuple):
    """What :func:`interaction_graph` returns: the graph of one step and its validated tensors.

    Attributes:
        graph: a :class:`PairGraph` (pairs shared) or a :class:`geognn.ops.CSRGraph`.
        index: (2, P) pairs or (2, E) edges, int64: per-distance work is done over its columns.
        batch: (N,) int64 molecule of each atom, or None when none was given.
        z: (N,) int64 atomic numbers, or None when none were given.

    ``index``, ``batch`` and ``z`` are geognn's validated copies of the caller's
    tensors: the ops of the step read them without checking them again.
    """

    graph: "CSRGraph | PairGraph"
    index: torch.Tensor
    batch: torch.Tensor | None
    z: torch.Tensor | None


def interaction_graph(edge_index: torch.Tensor | None, num_nodes: int, *, batch: torch.Tensor | None = None,
                      num_graphs: int | None = None, pair_index: torch.Tensor | None = None,
                      share_pairs: bool = True, z: torch.Tensor | None = None,
                      z_range: tuple[int, int] | None = None) -> StepGraph:
    """The graph a model aggregates over in one step, with one host read.

    Args:
        edge_index: (2, E) int64 edges (row 0 source, row 1 target); unused when ``pair_index`` is given.
        num_nodes: N, the number of atoms.
        batch, num_graphs: (N,) molecule of each atom and the number of molecules,
            validated in the same read (the readout then reads the copy unchecked).
        pair_index: (2, P) unordered pairs known ahead (:func:`symmetric_pairs`).
        share_pairs: look for pairs in ``edge_index`` (False: edge by edge, for
            directed graphs and periodic images).
        z, z_range: (N,) atomic numbers and the range ``(lowest, highest)`` the
            model accepts (its embedding table), checked in the same read (an
            out-of-range atomic number would otherwise be a device-side assert
            in the embedding); a bad one is a ValueError naming it.

    Returns:
        A :class:`StepGraph`: a :class:`PairGraph` and its (2, P) pairs, or a
        :class:`geognn.ops.CSRGraph` and ``edge_index``, with the validated
        copies of ``batch`` and ``z``; per-distance work is done over the
        columns of ``index``.

    The host read (the step's one synchronisation on CUDA) validates every
    index and, when pairs are looked for, learns whether the list is symmetric;
    the graph's ops then trust the copies it returns without reading again.
    Under ``torch.compile`` the model cannot branch on that answer, so the pairs
    are used and a list that is not symmetric raises ``ValueError`` at run time
    (pass ``share_pairs=False``). While a CUDA graph is captured nothing is
    read or checked (``mode="reduce-overhead"`` replays what was captured:
    give it symmetric lists, or ``share_pairs=False``).
    """
    extra = [("batch", batch, num_graphs, 0, "molecules")] if batch is not None else []
    if z is not None:
        low, high = z_range if z_range is not None else (0, None)
        if high is None:
            raise ValueError("interaction_graph: z needs z_range=(lowest, highest) atomic numbers")
        extra.append(("z", z, high + 1, low, "atomic numbers", True))

    def split(copies):  # the copies of batch and z, after the graph's own
        rest = iter(copies)
        return (next(rest) if batch is not None else None), (next(rest) if z is not None else None)

    if pair_index is not None:
        (pairs, *rest), _ = check_indices([("pair_index", pair_index, num_nodes, 0, "atoms"), *extra])
        return StepGraph(PairGraph.from_pairs(pairs, num_nodes), pairs, *split(rest))
    checks = [("edge_index", edge_index, num_nodes, 0, "atoms"), *extra]
    if not share_pairs:
        (edges, *rest), _ = check_indices(checks)
        return StepGraph(CSRGraph.from_edge_index(edges, num_src=num_nodes), edges, *split(rest))
    pairs, symmetric = find_pairs(edge_index, num_nodes)
    compiling = torch.compiler.is_compiling()
    (edges, *rest, pairs), (is_symmetric,) = check_indices(
        [*checks, ("pair_index", pairs, num_nodes, 0, "atoms")], flags=[symmetric],
        required=[NOT_SYMMETRIC if compiling else ""])
    if compiling or is_symmetric:
        return StepGraph(PairGraph.from_pairs(pairs, num_nodes), pairs, *split(rest))
    return StepGraph(CSRGraph.from_edge_index(edges, num_src=num_nodes), edges, *split(rest))


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
