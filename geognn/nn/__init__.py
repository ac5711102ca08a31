"""Building blocks of models: radial bases, cutoffs, activations, CFConv, readout, the ConvE interaction.

Layers here aggregate over edges only through :mod:`geognn.ops`.
"""

from geognn.nn.activation import ShiftedSoftplus, shifted_softplus
from geognn.nn.cfconv import CFConv, cfconv_filters
from geognn.nn.conve import ConvEInteraction, image_shape
from geognn.nn.cutoff import CosineCutoff, PolynomialCutoff
from geognn.nn.pairs import PairGraph, symmetric_pairs
from geognn.nn.radial import SUBNORMAL_FLOOR, BesselRBF, GaussianRBF, gaussian_rbf
from geognn.nn.readout import READOUTS, Readout, readout

__all__ = [
    "BesselRBF",
    "CFConv",
    "ConvEInteraction",
    "CosineCutoff",
    "GaussianRBF",
    "PairGraph",
    "PolynomialCutoff",
    "READOUTS",
    "Readout",
    "SUBNORMAL_FLOOR",
    "ShiftedSoftplus",
    "cfconv_filters",
    "gaussian_rbf",
    "image_shape",
    "readout",
    "shifted_softplus",
    "symmetric_pairs",
]
