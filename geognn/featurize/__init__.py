"""Featurizers: molecule readers, Coulomb matrices, RDKit molecular graphs and 3D radius graphs.

Readers live in :mod:`geognn.featurize.io` (``read_smiles``, ``read_sdf``,
``read_xyz``, ``read_molecules``); everything else is re-exported here.
"""

from geognn.featurize import io
from geognn.featurize.conformers import embed_molecule
from geognn.featurize.coulomb import BOHR_IN_ANGSTROM, CoulombMatrix
from geognn.featurize.geometry import RadiusGraph, atoms_to_graph, positions_to_graph
from geognn.featurize.graphs import mol_to_graph
from geognn.featurize.io import Molecule, MoleculeReadError, ReadReport, read_molecules
from geognn.featurize.neighbors import NeighborsTruncatedWarning, radius_graph
from geognn.featurize.vocabulary import FEATURES_VERSION, atom_feature_slices, bond_feature_slices

__all__ = [
    "BOHR_IN_ANGSTROM",
    "CoulombMatrix",
    "FEATURES_VERSION",
    "Molecule",
    "MoleculeReadError",
    "NeighborsTruncatedWarning",
    "RadiusGraph",
    "ReadReport",
    "atom_feature_slices",
    "atoms_to_graph",
    "bond_feature_slices",
    "embed_molecule",
    "io",
    "mol_to_graph",
    "positions_to_graph",
    "radius_graph",
    "read_molecules",
]
