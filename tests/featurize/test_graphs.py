"""mol_to_graph: bonds in both directions, documented feature columns, "other" slots, positions."""

import numpy as np
import pytest
import torch
from rdkit import Chem

from geognn.data import iter_qm9_rows
from geognn.featurize import FEATURES_VERSION, atom_feature_slices, bond_feature_slices, embed_molecule, mol_to_graph

ATOM = atom_feature_slices()
BOND = bond_feature_slices()


def test_every_bond_appears_in_both_directions_with_the_same_attributes():
    data = mol_to_graph("CC(=O)Nc1ccccc1")
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccccc1")
    assert data.edge_index.shape == (2, 2 * mol.GetNumBonds())
    edges = {tuple(e): k for k, e in enumerate(data.edge_index.T.tolist())}
    for (s, t), k in edges.items():
        assert torch.equal(data.edge_attr[k], data.edge_attr[edges[(t, s)]])
    key = data.edge_index[1] * 100 + data.edge_index[0]
    assert torch.all(key[1:] > key[:-1]), "sorted by target, then source"


def test_features_are_one_hot_per_feature_and_match_rdkit():
    data = mol_to_graph("C[C@H](N)C(=O)[O-]")
    assert data.features_version == FEATURES_VERSION
    for name, cols in ATOM.items():
        if cols.stop - cols.start > 1:
            assert torch.all(data.x[:, cols].sum(dim=1) == 1), name
    mol = Chem.MolFromSmiles("C[C@H](N)C(=O)[O-]")
    element_index = {6: 2, 7: 3, 8: 4}
    for atom, row in zip(mol.GetAtoms(), data.x):
        assert row[ATOM["element"]][element_index[atom.GetAtomicNum()]] == 1
        assert row[ATOM["degree"]][atom.GetDegree()] == 1
        assert row[ATOM["formal_charge"]][atom.GetFormalCharge() + 2] == 1
        assert row[ATOM["total_num_hs"]][atom.GetTotalNumHs()] == 1
    chiral = data.x[1, ATOM["chirality"]]
    assert chiral[0] == 0 and chiral[1:3].sum() == 1, "the stereocentre is tagged CW or CCW"


def test_aromatic_ring_and_conjugation_flags():
    data = mol_to_graph("c1ccccc1C")
    assert data.x[:6, ATOM["aromatic"]].sum() == 6 and data.x[6, ATOM["aromatic"]] == 0
    assert data.x[:6, ATOM["in_ring"]].sum() == 6 and data.x[6, ATOM["in_ring"]] == 0
    ring_bonds = data.edge_attr[:, BOND["in_ring"]].squeeze(1) == 1
    assert ring_bonds.sum() == 12
    assert torch.all(data.edge_attr[ring_bonds, BOND["bond_type"]][:, 3] == 1), "aromatic bond type"
    assert torch.all(data.edge_attr[ring_bonds, BOND["conjugated"]] == 1)


def test_elements_and_charges_outside_the_vocabulary_use_the_other_slot():
    data = mol_to_graph("[Se-2].[Na+]")  # Se is not in the element list; -2 is in the charge list
    other_element = ATOM["element"].stop - 1
    assert data.x[0, other_element] == 1 and data.x[1, other_element] == 1
    assert data.x[0, ATOM["formal_charge"]][0] == 1
    assert mol_to_graph("[O-3]").x[0, ATOM["formal_charge"].stop - 1] == 1


def test_double_bond_stereo_is_encoded():
    trans = mol_to_graph("C/C=C/C").edge_attr[:, BOND["stereo"]]
    cis = mol_to_graph("C/C=C\\C").edge_attr[:, BOND["stereo"]]
    assert not torch.equal(trans, cis)
    assert trans[:, 0].sum() < trans.shape[0], "the double bond is not STEREONONE"


def test_positions_come_from_a_3d_conformer_only():
    assert "pos" not in mol_to_graph("CCO")
    mol = embed_molecule(Chem.MolFromSmiles("CCO"), seed=3)
    data = mol_to_graph(mol)
    assert data.pos.shape == (9, 3) and data.z.tolist() == [6, 6, 8, 1, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(data.pos.double().numpy(), mol.GetConformer().GetPositions(), atol=1e-6)
    flat = Chem.MolFromSmiles("CCO")
    Chem.rdDepictor.Compute2DCoords(flat)
    assert "pos" not in mol_to_graph(flat)


def test_add_hydrogens_matches_qm9_atoms():
    for row in list(iter_qm9_rows(30))[1:]:
        data = mol_to_graph(row.smiles, add_hydrogens=True)
        assert sorted(data.z.tolist()) == sorted(row.z.tolist()), row.smiles


def test_graph_is_equivariant_to_atom_renumbering():
    mol = Chem.MolFromSmiles("OC(=O)c1ccncc1")
    order = list(reversed(range(mol.GetNumAtoms())))
    renumbered = Chem.RenumberAtoms(mol, order)
    a, b = mol_to_graph(mol), mol_to_graph(renumbered)
    assert torch.equal(b.x, a.x[order])
    edges_a = {(order.index(s), order.index(t)): tuple(f.tolist()) for (s, t), f in zip(a.edge_index.T.tolist(), a.edge_attr)}
    edges_b = {(s, t): tuple(f.tolist()) for (s, t), f in zip(b.edge_index.T.tolist(), b.edge_attr)}
    assert edges_a == edges_b


def test_bad_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="could not parse the SMILES 'C1CC'"):
        mol_to_graph("C1CC")
    with pytest.raises(ValueError, match="no atoms"):
        mol_to_graph("")
    with pytest.raises(TypeError, match="RDKit Mol or a SMILES"):
        mol_to_graph(42)
