"""Versioned vocabularies of the RDKit atom and bond features used by :func:`mol_to_graph`.

Each feature is one-hot over its listed values plus a final "other" slot
(booleans are a single 0/1 column). Changing a list changes the meaning of
the feature columns, so it must come with a new ``FEATURES_VERSION``;
models saved with one version must be fed graphs of the same version.

Version 1 atom features (``x``, 45 columns, in this order): element
(H B C N O F Si P S Cl Br I, other) 13, degree (0-5, other) 7, formal charge
(-2..2, other) 6, hybridisation (S SP SP2 SP3 SP3D SP3D2, other) 7,
aromatic 1, total H count (0-4, other) 6, in ring 1, chirality (unspecified,
tetrahedral CW, tetrahedral CCW, other) 4.

Version 1 bond features (``edge_attr``, 14 columns): bond type (single double
triple aromatic, other) 5, conjugated 1, in ring 1, stereo (none any Z E cis
trans, other) 7. ``atom_feature_slices()`` / ``bond_feature_slices()`` name
the columns.
"""

from __future__ import annotations

from rdkit.Chem import rdchem

__all__ = [
    "ATOM_FEATURES", "BOND_FEATURES", "FEATURES_VERSION",
    "atom_feature_slices", "bond_feature_slices", "num_atom_features", "num_bond_features",
]

FEATURES_VERSION = 1

_H = rdchem.HybridizationType
_CHI = rdchem.ChiralType
_BT = rdchem.BondType
_ST = rdchem.BondStereo

# (name, values) for one-hot features with an "other" slot; values None marks a boolean.
ATOM_FEATURES: tuple[tuple[str, tuple | None], ...] = (
    ("element", (1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 35, 53)),
    ("degree", (0, 1, 2, 3, 4, 5)),
    ("formal_charge", (-2, -1, 0, 1, 2)),
    ("hybridization", (_H.S, _H.SP, _H.SP2, _H.SP3, _H.SP3D, _H.SP3D2)),
    ("aromatic", None),
    ("total_num_hs", (0, 1, 2, 3, 4)),
    ("in_ring", None),
    ("chirality", (_CHI.CHI_UNSPECIFIED, _CHI.CHI_TETRAHEDRAL_CW, _CHI.CHI_TETRAHEDRAL_CCW)),
)

BOND_FEATURES: tuple[tuple[str, tuple | None], ...] = (
    ("bond_type", (_BT.SINGLE, _BT.DOUBLE, _BT.TRIPLE, _BT.AROMATIC)),
    ("conjugated", None),
    ("in_ring", None),
    ("stereo", (_ST.STEREONONE, _ST.STEREOANY, _ST.STEREOZ, _ST.STEREOE, _ST.STEREOCIS, _ST.STEREOTRANS)),
)


def _slices(features):
    out, start = {}, 0
    for name, values in features:
        width = 1 if values is None else len(values) + 1
        out[name] = slice(start, start + width)
        start += width
    return out


def atom_feature_slices() -> dict[str, slice]:
    """Column range of each atom feature in ``x``; a one-hot's last column is its "other" slot."""
    return _slices(ATOM_FEATURES)


def bond_feature_slices() -> dict[str, slice]:
    """Column range of each bond feature in ``edge_attr``; a one-hot's last column is "other"."""
    return _slices(BOND_FEATURES)


def num_atom_features() -> int:
    """Number of columns of ``x``."""
    return max(s.stop for s in atom_feature_slices().values())


def num_bond_features() -> int:
    """Number of columns of ``edge_attr``."""
    return max(s.stop for s in bond_feature_slices().values())


def atom_values(atom) -> dict:
    """Raw value of every atom feature of an RDKit atom."""
    return {
        "element": atom.GetAtomicNum(),
        "degree": atom.GetDegree(),
        "formal_charge": atom.GetFormalCharge(),
        "hybridization": atom.GetHybridization(),
        "aromatic": atom.GetIsAromatic(),
        "total_num_hs": atom.GetTotalNumHs(),
        "in_ring": atom.IsInRing(),
        "chirality": atom.GetChiralTag(),
    }


def bond_values(bond) -> dict:
    """Raw value of every bond feature of an RDKit bond."""
    return {
        "bond_type": bond.GetBondType(),
        "conjugated": bond.GetIsConjugated(),
        "in_ring": bond.IsInRing(),
        "stereo": bond.GetStereo(),
    }


def encode(features, values: dict) -> list[float]:
    """One row of features: one-hot with an "other" slot per listed feature, 0/1 per boolean."""
    row: list[float] = []
    for name, vocabulary in features:
        value = values[name]
        if vocabulary is None:
            row.append(1.0 if value else 0.0)
            continue
        hot = [0.0] * (len(vocabulary) + 1)
        hot[vocabulary.index(value) if value in vocabulary else len(vocabulary)] = 1.0
        row.extend(hot)
    return row
