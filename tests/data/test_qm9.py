"""QM9 from the qm9pack wheel: documented values, units, atomization, views, transforms."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from geognn.data import QM9, HARTREE_TO_EV, qm9_atomref

# Values of the first QM9 molecules as published (Ramakrishnan et al. 2014), in
# the units of the data files: Hartree, Debye, Bohr^3, Bohr^2, cal/(mol K).
METHANE_HARTREE = {"homo": -0.3877, "lumo": 0.1171, "gap": 0.5048, "zpve": 0.044749,
                   "U0": -40.47893, "U": -40.476062, "H": -40.475117, "G": -40.498597}
METHANE_OTHER = {"mu": 0.0, "alpha": 13.21, "r2": 35.3641, "Cv": 6.469}
# B3LYP/6-31G(2df,p) energies of the isolated atoms (QM9 "atomref" table), Hartree.
ATOM_U0_HARTREE = {"H": -0.500273, "C": -37.846772, "N": -54.583861, "O": -75.064579}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("geognn-cache")


def test_methane_atomization_energy_matches_a_hand_computation(cache):
    # U0(CH4) - U0(C) - 4 U0(H) = -40.47893 + 37.846772 + 4 * 0.500273 = -0.631066 Ha
    by_hand_ev = -0.631066 * 27.211386245988
    methane = QM9("U0", root=cache, limit=3)[0]
    assert methane.y.shape == (1, 1) and methane.y.dtype == torch.float32
    assert methane.y.item() == pytest.approx(by_hand_ev, abs=1e-4)
    assert by_hand_ev == pytest.approx(-17.1722, abs=1e-4)


def test_first_molecules_have_documented_values_in_documented_units(cache):
    names = list(QM9.targets)
    data = QM9(names, root=cache, limit=3, atomization=False)
    assert data.units == ["D", "Bohr^3", "eV", "eV", "eV", "Bohr^2", "eV", "eV", "eV", "eV", "eV", "cal/(mol K)"]
    methane = dict(zip(names, data[0].y[0].tolist()))
    for name, hartree in METHANE_HARTREE.items():
        assert methane[name] == pytest.approx(hartree * HARTREE_TO_EV, rel=1e-6), name
    for name, value in METHANE_OTHER.items():
        assert methane[name] == pytest.approx(value, rel=1e-6, abs=1e-6), name
    ammonia, water = data[1], data[2]
    assert ammonia.y[0, names.index("U0")].item() == pytest.approx(-56.525887 * HARTREE_TO_EV, rel=1e-7)
    assert water.y[0, names.index("mu")].item() == pytest.approx(1.8511, rel=1e-6)


def test_items_carry_atoms_positions_index_and_smiles(cache):
    data = QM9("U0", root=cache, limit=3)
    methane, ammonia, water = data[0], data[1], data[2]
    assert methane.z.tolist() == [6, 1, 1, 1, 1] and methane.z.dtype == torch.int64
    assert ammonia.z.tolist() == [7, 1, 1, 1]
    assert (water.smiles, water.idx.tolist()) == ("O", [3])
    assert methane.pos.dtype == torch.float32 and methane.pos.shape == (5, 3)
    bond_lengths = (methane.pos[1:] - methane.pos[0]).norm(dim=1)
    assert torch.allclose(bond_lengths, torch.full((4,), 1.0919), atol=2e-3)  # C-H in Å
    assert methane.edge_index is None  # edges come from a transform


def test_atomization_energies_add_back_to_totals(cache):
    atomized = QM9(["U0", "G", "gap"], root=cache, limit=50)
    totals = QM9(["U0", "G", "gap"], root=cache, limit=50, atomization=False)
    for i in (0, 17, 49):
        mol = atomized[i]
        for k, target in enumerate(["U0", "G"]):
            restored = mol.y[0, k].double() + QM9.reference_energy(target, mol.z)
            assert restored.item() == pytest.approx(totals[i].y[0, k].item(), abs=2e-3)
        assert mol.y[0, 2] == totals[i].y[0, 2]  # the gap has no atomic reference
    assert atomized[0].y[0, 0] < 0  # bound molecules: negative atomization energy


def test_atomref_table_holds_the_published_single_atom_energies():
    u0 = qm9_atomref("U0")
    assert u0.shape == (10,)
    for z, symbol in ((1, "H"), (6, "C"), (7, "N"), (8, "O")):
        assert u0[z].item() == pytest.approx(ATOM_U0_HARTREE[symbol] * HARTREE_TO_EV, rel=1e-12)
    assert torch.count_nonzero(u0) == 5
    assert torch.count_nonzero(QM9.atomref("gap")) == 0 and torch.count_nonzero(QM9.atomref("zpve")) == 0


def test_reference_energy_sums_per_molecule_of_a_batch():
    z = torch.tensor([6, 1, 1, 1, 1, 8, 1, 1])
    batch = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    sums = QM9.reference_energy("U0", z, batch)
    expected_hartree = [ATOM_U0_HARTREE["C"] + 4 * ATOM_U0_HARTREE["H"], ATOM_U0_HARTREE["O"] + 2 * ATOM_U0_HARTREE["H"]]
    assert sums.tolist() == pytest.approx([e * HARTREE_TO_EV for e in expected_hartree], rel=1e-12)


def test_any_callable_transform_is_applied_on_access(cache):
    def add_complete_graph(data: Data) -> Data:
        n = data.num_nodes
        row, col = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        keep = row != col
        data.edge_index = torch.stack([row[keep], col[keep]])
        return data

    data = QM9("U0", root=cache, limit=3, transform=add_complete_graph)
    assert data[0].edge_index.shape == (2, 20)
    assert data[2].edge_index.shape == (2, 6)


def test_indexing_with_a_split_gives_a_view_of_those_molecules(cache):
    data = QM9("U0", root=cache, limit=10)
    view = data[torch.tensor([9, 0, 4])]
    assert len(view) == 3
    assert [m.idx.item() for m in view] == [10, 1, 5]
    assert view[1:][0].idx.item() == 1
    assert view.num_atoms.tolist() == [data[9].num_nodes, 5, data[4].num_nodes]
    assert data[-1].idx.item() == 10 and data[np.int64(2)].idx.item() == 3
    with pytest.raises(IndexError):
        data[10]
    with pytest.raises(TypeError):
        data[1.5]


def test_unknown_target_is_rejected_with_the_valid_names(cache):
    with pytest.raises(KeyError, match="U0"):
        QM9("energy", root=cache, limit=3)


def test_target_names_are_the_twelve_qm9_properties():
    assert list(QM9.targets) == ["mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "Cv"]
    assert QM9.targets["U0"] == "eV" and QM9.targets["alpha"] == "Bohr^3"


@pytest.mark.slow
def test_full_qm9_processes_every_molecule(tmp_path):
    data = QM9(["U0", "gap"], root=tmp_path, progress=False)
    assert len(data) == 130_831
    assert data.z.numel() == 2_359_210
    assert data[-1].idx.item() == 133_885  # the last QM9 index; 3,054 failed molecules are absent
    assert torch.isfinite(data.y).all()
    reloaded = QM9("U0", root=tmp_path)
    assert torch.equal(reloaded.y[:, 0], data.y[:, 0])


def test_atomrefs_table_restores_totals_for_every_selected_target(cache):
    names = ["gap", "U0", "H"]
    atomized = QM9(names, root=cache, limit=20)
    totals = QM9(names, root=cache, limit=20, atomization=False)
    table = atomized.atomrefs()
    assert table.shape == (101, 3) and torch.count_nonzero(table[:, 0]) == 0
    assert torch.count_nonzero(totals.atomrefs()) == 0
    for i in (0, 19):
        restored = atomized[i].y[0].double() + table[atomized[i].z].sum(0)
        assert torch.allclose(restored, totals[i].y[0].double(), atol=2e-3)


def test_pyg_loader_batches_molecules_with_one_target_row_each(cache):
    from torch_geometric.loader import DataLoader

    data = QM9(["U0", "gap"], root=cache, limit=10)
    batch = next(iter(DataLoader(data[torch.arange(4)], batch_size=4)))
    assert batch.y.shape == (4, 2) and batch.num_graphs == 4
    assert batch.z.numel() == int(data.num_atoms[:4].sum())
    assert batch.smiles == ["C", "N", "O", "C#C"] and batch.idx.tolist() == [1, 2, 3, 4]


def test_tensors_of_a_view_cover_only_its_molecules(cache):
    data = QM9(["U0", "gap"], root=cache, limit=10)
    view = data[torch.tensor([9, 0, 4])]
    items = [data[9], data[0], data[4]]
    assert torch.equal(view.y, torch.cat([m.y for m in items]))
    assert torch.equal(view.z, torch.cat([m.z for m in items]))
    assert torch.equal(view.pos, torch.cat([m.pos for m in items]))
    assert view.idx.tolist() == [10, 1, 5]
    assert view.atom_ptr.tolist() == [0, items[0].num_nodes, items[0].num_nodes + 5, view.z.numel()]
    assert view.batch.bincount().tolist() == [m.num_nodes for m in items]
    assert data.y.shape == (10, 2) and torch.equal(data.z, data._z)
