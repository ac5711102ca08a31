"""Featurizers: molecule readers, Coulomb matrices, RDKit molecular graphs and 3D radius graphs.

Readers live in :mod:`geognn.featurize.io` (``read_smiles``, ``read_sdf``,
``read_xyz``, ``read_molecules``); everything else is re-exported here.

Each name is imported from its module on first use (PEP 562), so that taking
one featurizer does not import the libraries of the others: ``CoulombMatrix``
needs only NumPy and torch, where the molecular graphs need RDKit, the readers
ASE and the radius graphs vesin (a machine with a GPU but without those, such
as a borrowed accelerator, can still compute Coulomb matrices there).
"""

from __future__ import annotations

import importlib

# Public name -> the module that defines it.
_EXPORTS = {
    "BOHR_IN_ANGSTROM": "coulomb",
    "CoulombMatrix": "coulomb",
    "FEATURES_VERSION": "vocabulary",
    "Molecule": "io",
    "MoleculeReadError": "io",
    "NeighborsTruncatedWarning": "neighbors",
    "RadiusGraph": "geometry",
    "ReadReport": "io",
    "atom_feature_slices": "vocabulary",
    "atoms_to_graph": "geometry",
    "bond_feature_slices": "vocabulary",
    "embed_molecule": "conformers",
    "mol_to_graph": "graphs",
    "positions_to_graph": "geometry",
    "radius_graph": "neighbors",
    "read_molecules": "io",
}

__all__ = sorted([*_EXPORTS, "io"])


def __getattr__(name: str):
    if name == "io":
        return importlib.import_module("geognn.featurize.io")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"geognn.featurize.{_EXPORTS[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'geognn.featurize' has no attribute {name!r}")


def __dir__():
    return __all__
