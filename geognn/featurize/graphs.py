"""Molecular graphs from RDKit: atoms as nodes, bonds as edges in both directions."""

from __future__ import annotations

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Data

from geognn.featurize.vocabulary import (
    ATOM_FEATURES, BOND_FEATURES, FEATURES_VERSION, atom_values, bond_values, encode, num_bond_features,
)

__all__ = ["mol_to_graph"]


def _as_mol(mol_or_smiles):
    if isinstance(mol_or_smiles, Chem.Mol):
        return mol_or_smiles
    if isinstance(mol_or_smiles, str):
        mol = Chem.MolFromSmiles(mol_or_smiles)
        if mol is None:
            raise ValueError(f"RDKit could not parse the SMILES {mol_or_smiles!r}")
        return mol
    raise TypeError(f"mol_to_graph expects an RDKit Mol or a SMILES string, got {type(mol_or_smiles).__name__}")


def mol_to_graph(mol_or_smiles, *, add_hydrogens: bool = False, conformer_id: int = -1, dtype=None) -> Data:
    """Bond graph of a molecule with the versioned features of :mod:`geognn.featurize.vocabulary`.

    Args:
        mol_or_smiles: an RDKit ``Mol`` or a SMILES string.
        add_hydrogens: add explicit hydrogen atoms (nodes) first. A molecule's
            existing conformer is kept, with hydrogens placed by RDKit.
        conformer_id: which conformer gives ``pos`` (-1: the default one).
        dtype: float dtype of x, edge_attr and pos (default: torch's default).

    Returns:
        ``Data`` with ``z`` (N,) int64 atomic numbers, ``x`` (N, 45) atom
        features, ``edge_index`` (2, 2 * num_bonds) int64 with every bond in
        both directions (row 0 source, row 1 target, sorted by target then
        source), ``edge_attr`` (2 * num_bonds, 14) bond features, ``pos`` (N, 3)
        Å only when the molecule has a 3D conformer, and ``features_version``.
    """
    dtype = dtype or torch.get_default_dtype()
    mol = _as_mol(mol_or_smiles)
    if mol.GetNumAtoms() == 0:
        raise ValueError("the molecule has no atoms")
    if add_hydrogens:
        mol = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)

    z = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.int64)
    x = torch.tensor([encode(ATOM_FEATURES, atom_values(a)) for a in mol.GetAtoms()], dtype=dtype)

    src, dst, attr = [], [], []
    for bond in mol.GetBonds():
        row = encode(BOND_FEATURES, bond_values(bond))
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        src += [i, j]
        dst += [j, i]
        attr += [row, row]
    order = np.lexsort((np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)))
    edge_index = torch.tensor([src, dst], dtype=torch.int64).reshape(2, -1)[:, order]
    edge_attr = torch.tensor(attr, dtype=dtype).reshape(-1, num_bond_features())[order]

    data = Data(z=z, x=x, edge_index=edge_index, edge_attr=edge_attr, features_version=FEATURES_VERSION)
    if mol.GetNumConformers() > 0:
        conformer = mol.GetConformer(conformer_id)
        if conformer.Is3D():
            pos = np.asarray(conformer.GetPositions(), dtype=np.float64)
            if not np.isfinite(pos).all():
                bad = int(np.nonzero(~np.isfinite(pos).all(axis=1))[0][0])
                raise ValueError(f"conformer position of atom {bad} is not finite")
            data.pos = torch.from_numpy(pos).to(dtype)
    return data
