"""atoms_to_graph and the RadiusGraph transform: Data fields, units, periodic crystals, batching."""

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list
from torch_geometric.data import Batch, Data

from geognn.featurize import RadiusGraph, atoms_to_graph
from geognn.featurize.io import Molecule


def ase_pairs(atoms, cutoff):
    i, j, S = neighbor_list("ijS", atoms, cutoff)
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, S)}


def graph_pairs(data):
    cell = data.cell[0].double().numpy()
    images = np.round(data.edge_shift.double().numpy() @ np.linalg.pinv(cell)).astype(int) if data.pbc.any() \
        else np.zeros((data.edge_index.shape[1], 3), int)
    return {(s, t, *n) for (s, t), n in zip(data.edge_index.T.tolist(), images.tolist())}


def test_crystal_graph_matches_ase_neighbour_list():
    atoms = bulk("Si", "diamond", a=5.43).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=1)
    data = atoms_to_graph(atoms, 4.0, dtype=torch.float64)
    assert graph_pairs(data) == ase_pairs(atoms, 4.0)
    assert data.cell.shape == (1, 3, 3) and data.pbc.tolist() == [[True, True, True]]
    expected = data.pos[data.edge_index[1]] - data.pos[data.edge_index[0]] + data.edge_shift
    torch.testing.assert_close(data.edge_vec, expected)
    torch.testing.assert_close(data.edge_length, expected.norm(dim=1))


def test_molecule_graph_carries_energy_and_forces_without_computing_them():
    atoms = molecule("CH3CH2OH")
    forces = np.random.default_rng(0).normal(size=(len(atoms), 3))
    atoms.calc = SinglePointCalculator(atoms, energy=-12.5, forces=forces)
    data = atoms_to_graph(atoms, 3.0)
    assert data.energy.tolist() == [-12.5] and data.forces.shape == (len(atoms), 3)
    assert graph_pairs(data) == ase_pairs(atoms, 3.0)
    assert torch.count_nonzero(data.edge_shift) == 0
    assert "energy" not in atoms_to_graph(molecule("H2O"), 3.0)


def test_molecule_record_gives_the_same_graph_as_atoms():
    atoms = molecule("C6H6")
    record = Molecule(z=atoms.numbers, pos=atoms.positions, identifier="benzene", properties={"energy": 1.0})
    a, b = atoms_to_graph(atoms, 2.5), atoms_to_graph(record, 2.5)
    assert torch.equal(a.edge_index, b.edge_index) and b.energy.item() == 1.0
    with pytest.raises(ValueError, match="benzene: no 3D positions"):
        atoms_to_graph(Molecule(z=atoms.numbers, pos=None, identifier="benzene"), 2.5)


def test_non_finite_positions_name_the_atom():
    atoms = molecule("H2O")
    atoms.positions[1, 0] = np.inf
    with pytest.raises(ValueError, match="atom 1 is not finite"):
        atoms_to_graph(atoms, 3.0)


def test_transform_on_a_batch_equals_transform_per_structure():
    crystal = atoms_to_graph(bulk("Cu", "fcc", a=3.6), 3.0)
    mol = atoms_to_graph(molecule("CH4"), 3.0)
    singles = [Data(z=d.z, pos=d.pos, cell=d.cell, pbc=d.pbc) for d in (crystal, mol)]
    batch = RadiusGraph(3.0)(Batch.from_data_list(singles))
    per_structure = [RadiusGraph(3.0)(s.clone()) for s in singles]
    expected = Batch.from_data_list(per_structure)
    assert torch.equal(batch.edge_index, expected.edge_index)
    torch.testing.assert_close(batch.edge_vec, expected.edge_vec)
    torch.testing.assert_close(batch.edge_length, expected.edge_length)
    assert (batch.edge_length < 3.0).all()
    # One Cu atom in a 3.6 Å fcc cell sees its 12 nearest images at 2.55 Å.
    assert int((batch.batch[batch.edge_index[1]] == 0).sum()) == 12


def test_transform_keeps_gradients_to_positions():
    data = Data(z=torch.tensor([8, 1, 1]), pos=torch.tensor([[0.0, 0, 0], [0, 0, 0.96], [0.93, 0, -0.24]], requires_grad=True))
    out = RadiusGraph(2.0)(data)
    out.edge_length.sum().backward()
    assert data.pos.grad is not None and torch.isfinite(data.pos.grad).all()


def test_transform_requires_positions():
    with pytest.raises(ValueError, match="needs data.pos"):
        RadiusGraph(3.0)(Data(z=torch.tensor([1])))
