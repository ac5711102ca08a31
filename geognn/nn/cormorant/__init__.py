"""Cormorant's layers (Anderson, Hy & Kondor, NeurIPS 2019) on e3nn, with parity: E(3)-equivariant.

- :mod:`~geognn.nn.cormorant.irreps`: the feature layout (C channels per (l, parity)) and the CG paths;
- :mod:`~geognn.nn.cormorant.cg`: fast channel-wise CG products and per-irrep mixing (e3nn's coefficients);
- :mod:`~geognn.nn.cormorant.radial`: the sine/cosine radial basis and the trainable soft cutoff;
- :mod:`~geognn.nn.cormorant.levels`: input level, edge level, atom (CG) level, equivariant batch norm;
- :mod:`~geognn.nn.cormorant.readout`: invariants and vectors read off the features.

The complete model is :class:`geognn.models.Cormorant`.
"""

from geognn.nn.cormorant.cg import ChannelwiseCG, channel_major, channelwise_linear, irreps_major
from geognn.nn.cormorant.irreps import cg_paths, feature_irreps, present_irreps
from geognn.nn.cormorant.levels import (
    CormorantAtomLevel,
    CormorantEdgeLevel,
    CormorantInput,
    EquivariantBatchNorm,
    species_features,
)
from geognn.nn.cormorant.radial import SineRadialBasis, SoftCutoff
from geognn.nn.cormorant.readout import num_invariants, scalar_invariants, vector_blocks

__all__ = [
    "ChannelwiseCG",
    "CormorantAtomLevel",
    "CormorantEdgeLevel",
    "CormorantInput",
    "EquivariantBatchNorm",
    "SineRadialBasis",
    "SoftCutoff",
    "cg_paths",
    "channel_major",
    "channelwise_linear",
    "feature_irreps",
    "irreps_major",
    "num_invariants",
    "present_irreps",
    "scalar_invariants",
    "species_features",
    "vector_blocks",
]
