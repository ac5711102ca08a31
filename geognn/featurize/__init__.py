"""Featurizers: molecule readers, Coulomb matrices, RDKit molecular graphs and 3D radius graphs."""

from geognn.featurize.coulomb import BOHR_IN_ANGSTROM, CoulombMatrix
from geognn.featurize.geometry import RadiusGraph, atoms_to_graph, positions_to_graph
from geognn.featurize.neighbors import NeighborsTruncatedWarning, radius_graph

__all__ = [
    "BOHR_IN_ANGSTROM",
    "CoulombMatrix",
    "NeighborsTruncatedWarning",
    "RadiusGraph",
    "atoms_to_graph",
    "positions_to_graph",
    "radius_graph",
]
