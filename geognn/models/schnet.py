"""SchNet (Schütt et al., 2017): continuous-filter convolutions on interatomic distances.

The model composes layers of :mod:`geognn.nn`; the radial basis and cutoff
function are injectable. It predicts T scalars per molecule (eV for
energies) and, with ``forces=True``, the forces ``-dE/dpos`` (eV/Å) by automatic
differentiation. Edge vectors are recomputed from ``pos`` (and the PBC
``edge_shift``) inside ``forward`` so that the forces see every dependence on
the positions.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from geognn.models.base import MoleculeModel
from geognn.nn import (
    BesselRBF,
    CFConv,
    CosineCutoff,
    GaussianRBF,
    PairGraph,
    PolynomialCutoff,
    ShiftedSoftplus,
    cfconv_filters,
)
from geognn.nn.pairs import StepGraph, interaction_graph
from geognn.ops import CSRGraph


class SchNetInteraction(nn.Module):
    """One SchNet interaction: CFConv, shifted softplus, linear; added to the input (residual).

    Shapes: x (N, H); rbf (E, K); edge_weight (E,); graph of E edges -> (N, H).
    """

    def __init__(self, hidden_channels: int, num_filters: int, num_rbf: int):
        super().__init__()
        self.conv = CFConv(hidden_channels, hidden_channels, num_filters, num_rbf)
        self.act = ShiftedSoftplus()
        self.lin = nn.Linear(hidden_channels, hidden_channels)
        nn.init.xavier_uniform_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, x: torch.Tensor, rbf: torch.Tensor, edge_weight: torch.Tensor,
                graph: CSRGraph | PairGraph) -> torch.Tensor:
        return self.update(x, self.conv.filters(rbf, edge_weight), graph)

    def update(self, x: torch.Tensor, filters: torch.Tensor, graph: CSRGraph | PairGraph) -> torch.Tensor:
        """The interaction given the conv's (E, F) filters (computed ahead, see :meth:`SchNet.predict`)."""
        return x + self.lin(self.act(self.conv.aggregate(x, filters, graph)))


def _make_basis(radial_basis: str | nn.Module, num_rbf: int, cutoff: float) -> nn.Module:
    if isinstance(radial_basis, nn.Module):
        return radial_basis
    if radial_basis == "gaussian":
        return GaussianRBF(num_rbf, 0.0, cutoff)
    if radial_basis == "bessel":
        return BesselRBF(num_rbf, cutoff)
    raise ValueError(f"radial_basis must be 'gaussian', 'bessel' or an nn.Module, got {radial_basis!r}")


def _make_cutoff(cutoff_fn: str | nn.Module, cutoff: float) -> nn.Module:
    if isinstance(cutoff_fn, nn.Module):
        return cutoff_fn
    if cutoff_fn == "cosine":
        return CosineCutoff(cutoff)
    if cutoff_fn == "polynomial":
        return PolynomialCutoff(cutoff)
    raise ValueError(f"cutoff_fn must be 'cosine', 'polynomial' or an nn.Module, got {cutoff_fn!r}")


class SchNet(MoleculeModel):
    """SchNet predicting T scalars per molecule from atomic numbers and positions.

    Args:
        hidden_channels: atom feature size H.
        num_filters: continuous-filter width F.
        num_interactions: number of interaction blocks.
        num_rbf: radial basis size K (ignored when ``radial_basis`` is a module
            that has a ``num_rbf`` attribute).
        cutoff: interaction radius in Å; the graph is built with it when the
            input has no ``edge_index``.
        readout: ``"sum"`` for extensive targets (energies), ``"mean"`` for
            intensive ones (gaps), ``"max"``/``"min"``, or a list with one
            of these per target (e.g. ``["sum", "mean"]`` for U0 and the gap).
        num_targets: T, the number of scalars predicted per molecule.
        max_z: largest atomic number accepted.
        radial_basis: ``"gaussian"`` (default, SchNet's), ``"bessel"`` or any
            module mapping (E,) distances in Å to (E, K) features.
        cutoff_fn: ``"cosine"`` (default), ``"polynomial"`` or any module
            mapping (E,) distances in Å to (E,) weights vanishing at the cutoff.

    Output scale: the network's per-atom output o_i is mapped to
    ``o_i * target_std + target_mean + atomref[z_i]`` before the readout.
    The buffers default to std 1, mean 0, atomref 0; set them from training
    data with :meth:`set_target_statistics` and :meth:`set_atomref`
    (see :mod:`geognn.models.targets`).

    Input (``forward``): a PyG ``Data``/``Batch`` with ``z`` (N,) int64, ``pos``
    (N, 3) in Å, optionally ``batch`` (N,), ``edge_index`` (2, E) (row 0
    source j, row 1 target i) and ``edge_shift`` (E, 3) in Å for periodic
    images; without ``edge_index`` the radius graph is built here (with
    ``cell``/``pbc`` when the input has them).

    Output: dict with ``"y"`` (B, T) in the targets' units and, with
    ``forces=True`` (only for T = 1), ``"forces"`` (N, 3) = -dy/dpos in eV/Å.
    """

    checks_z_in_predict = True  # interaction_graph checks z against 1..max_z in the step's one host read

    def __init__(self, hidden_channels: int = 128, num_filters: int = 128, num_interactions: int = 6,
                 num_rbf: int = 50, cutoff: float = 5.0, readout: str | Sequence[str] = "sum", num_targets: int = 1,
                 max_z: int = 100, radial_basis: str | nn.Module = "gaussian",
                 cutoff_fn: str | nn.Module = "cosine"):
        super().__init__(num_targets, readout, max_z, cutoff, "SchNet")
        for name, value in (("hidden_channels", hidden_channels), ("num_filters", num_filters)):
            if int(value) < 1:
                raise ValueError(f"SchNet needs {name} >= 1, got {value}")
        if num_interactions < 0:
            raise ValueError(f"SchNet needs num_interactions >= 0, got {num_interactions}")
        self.config: dict[str, Any] = dict(
            hidden_channels=hidden_channels, num_filters=num_filters, num_interactions=num_interactions,
            num_rbf=num_rbf, cutoff=cutoff, readout=readout if isinstance(readout, str) else list(readout),
            num_targets=num_targets, max_z=max_z,
            radial_basis=radial_basis if isinstance(radial_basis, str) else None,
            cutoff_fn=cutoff_fn if isinstance(cutoff_fn, str) else None,
        )
        self.radial_basis = _make_basis(radial_basis, num_rbf, cutoff)
        self.cutoff_fn = _make_cutoff(cutoff_fn, cutoff)
        num_rbf = int(getattr(self.radial_basis, "num_rbf", num_rbf))
        self.embedding = nn.Embedding(max_z + 1, hidden_channels)
        self.interactions = nn.ModuleList(
            SchNetInteraction(hidden_channels, num_filters, num_rbf) for _ in range(num_interactions)
        )
        half = max(hidden_channels // 2, 1)
        self.head = nn.Sequential(nn.Linear(hidden_channels, half), ShiftedSoftplus(), nn.Linear(half, num_targets))
        for lin in (self.head[0], self.head[2]):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    # --- forward ------------------------------------------------------------------
    def prepare_graph(self, data) -> StepGraph:
        """The validated indices, pairs and CSR layouts of ``data``'s graph, for ``forward(data, graph=...)``.

        ``data``: ``z`` (N,), ``edge_index`` (2, E), optionally ``batch`` (N,) and
        ``edge_shift`` (E, 3) Å (periodic images: edge by edge). Validates
        everything with one host read now, so that calls reusing it read nothing
        (see :meth:`geognn.models.base.MoleculeModel.prepare_graph`).
        """
        edge_index = getattr(data, "edge_index", None)
        if edge_index is None:
            raise ValueError("prepare_graph needs data.edge_index (build it with geognn.featurize.radius_graph)")
        z = data.z
        batch, num_graphs = self._batch_of(data)
        return interaction_graph(edge_index, z.shape[0], batch=batch, num_graphs=num_graphs,
                                 share_pairs=getattr(data, "edge_shift", None) is None, z=z, z_range=(1, self.max_z))

    def predict(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor, edge_index: torch.Tensor | None,
                edge_shift: torch.Tensor | None, num_graphs: int,
                pair_index: torch.Tensor | None = None, share_pairs: bool = True,
                step_graph: StepGraph | None = None) -> torch.Tensor:
        """Tensor-only forward pass (the part ``torch.compile`` sees).

        Shapes: z (N,) int64; pos (N, 3) Å; batch (N,) int64; edge_index (2, E);
        edge_shift (E, 3) Å or None -> (B, T) predictions.

        ``pair_index`` (2, P), the unordered pairs of a symmetric edge list
        (:func:`geognn.nn.symmetric_pairs`), replaces ``edge_index``: distances,
        basis, cutoff and filters are then computed once per pair and used for
        both directions (the same energies, about half the filter work). It is
        found here, on the device, when the graph has no periodic shifts and is
        symmetric (a radius graph is); under ``torch.compile`` the graph must then
        be symmetric (checked at run time). ``share_pairs=False`` forces the
        edge-by-edge computation (the reference the tests compare with, and the
        way to compile a directed graph). ``step_graph`` (:meth:`prepare_graph`)
        replaces all of that with a graph validated and built earlier: no read.

        Host synchronisations on CUDA: one per call, the read in
        :func:`geognn.nn.pairs.interaction_graph` that validates every index
        (edges, pairs, ``batch``, ``z`` against 1..``max_z``) and learns
        whether the graph is symmetric; every op after it trusts the copies it
        returns.
        """
        if pair_index is not None and edge_shift is not None:
            raise ValueError("pair_index is for graphs without periodic shifts; pass edge_index with edge_shift")
        graph: CSRGraph | PairGraph
        # From here on, the validated copies of the indices: the ops of every layer trust them.
        if step_graph is None:
            step_graph = interaction_graph(edge_index, z.shape[0], batch=batch, num_graphs=num_graphs,
                                           pair_index=pair_index if share_pairs else None,
                                           share_pairs=share_pairs and edge_shift is None,
                                           z=z, z_range=(1, self.max_z))
        graph, index, batch, z = step_graph
        src, dst = index[0], index[1]
        edge_vec = pos[dst] - pos[src]
        if edge_shift is not None:
            edge_vec = edge_vec + edge_shift
        edge_length = edge_vec.norm(dim=-1)
        rbf = self.radial_basis(edge_length)
        edge_weight = self.cutoff_fn(edge_length)
        # Every interaction's filter depends on the basis only: their first
        # layers run as one matrix product before the interactions.
        filters = cfconv_filters([interaction.conv for interaction in self.interactions], rbf, edge_weight)
        h = self.embedding(z)
        for interaction, interaction_filters in zip(self.interactions, filters):
            h = interaction.update(h, interaction_filters, graph)
        return self.scale_and_reduce(self.head(h), z, batch, num_graphs)
