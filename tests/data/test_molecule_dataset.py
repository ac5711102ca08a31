"""MoleculeDataset from user files, built here from the first QM9 molecules."""

import math

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from rdkit import Chem
from rdkit.Chem import rdDetermineBonds

from geognn.data import QM9, MoleculeDataset, murcko_scaffold


@pytest.fixture(scope="module")
def qm9(tmp_path_factory):
    return QM9(["gap", "U0"], root=tmp_path_factory.mktemp("cache"), limit=12, atomization=False)


@pytest.fixture
def csv_file(qm9, tmp_path):
    lines = ["name,smiles,gap"]
    for m in qm9:
        gap = "" if m.idx.item() == 6 else repr(m.y[0, 0].item())
        lines.append(f"qm9_{m.idx.item()},{m.smiles},{gap}")
    path = tmp_path / "mols.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_of_smiles_gives_3d_molecules_with_their_targets(qm9, csv_file, tmp_path):
    data = MoleculeDataset(csv_file, root=tmp_path / "c")
    assert len(data) == 12 and data.target_names == ["gap"]  # the text column is not a target
    for i in (0, 3, 11):
        assert sorted(data[i].z.tolist()) == sorted(qm9[i].z.tolist())  # hydrogens added
        assert data[i].smiles == qm9[i].smiles and data[i].name == f"mols.csv:{i + 2}"
    assert data[0].y.item() == pytest.approx(qm9[0].y[0, 0].item())
    assert math.isnan(data[5].y.item())  # empty cell: a missing label
    methane = data[0]
    ch = (methane.pos[methane.z == 1] - methane.pos[methane.z == 6]).norm(dim=1)
    assert torch.allclose(ch, torch.full((4,), 1.09), atol=0.02)  # relaxed C-H bonds in Å


def test_conformers_are_reproducible_for_a_seed(csv_file, tmp_path):
    a = MoleculeDataset(csv_file, cache=False, seed=3)
    b = MoleculeDataset(csv_file, cache=False, seed=3)
    assert torch.equal(a.pos, b.pos)


def test_bad_smiles_names_the_line_or_is_skipped_with_a_warning(csv_file, tmp_path):
    text = csv_file.read_text().splitlines()
    text[3] = "broken,C1CC(,1.0"
    csv_file.write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match=r"mols\.csv:4: RDKit could not parse the SMILES 'C1CC\('"):
        MoleculeDataset(csv_file, cache=False)
    with pytest.warns(UserWarning, match="skipped 1 of 12"):
        data = MoleculeDataset(csv_file, root=tmp_path / "c", on_error="skip")
    assert len(data) == 11 and data.skipped[0][0] == "mols.csv:4"
    with pytest.warns(UserWarning, match="1 molecules were skipped"):
        MoleculeDataset(csv_file, root=tmp_path / "c", on_error="skip")  # a cached load still says so


def test_requested_target_must_be_numeric(csv_file):
    with pytest.raises(ValueError, match=r"mols\.csv:2: name holds 'qm9_1', not a number"):
        MoleculeDataset(csv_file, targets=["name"], cache=False)
    with pytest.raises(ValueError, match=r"mols\.csv: no property/column \['mu'\]"):
        MoleculeDataset(csv_file, targets=["mu"], cache=False)


def test_scaffold_split_of_a_smiles_file_keeps_scaffolds_apart(csv_file):
    data = MoleculeDataset(csv_file, cache=False)
    split = data.scaffold_split((0.5, 0.25, 0.25))
    scaffolds = [{murcko_scaffold(data.smiles[i]) for i in part.tolist()} for part in split]
    assert not (scaffolds[0] & scaffolds[1]) and not (scaffolds[0] & scaffolds[2])
    assert sum(len(p) for p in split) == 12


def _qm9_to_sdf(qm9, path, n=6):
    writer = Chem.SDWriter(str(path))
    for m in list(qm9)[:n]:
        symbols = [Chem.GetPeriodicTable().GetElementSymbol(int(z)) for z in m.z]
        block = f"{len(symbols)}\n\n" + "".join(
            f"{s} {x:.6f} {y:.6f} {z:.6f}\n" for s, (x, y, z) in zip(symbols, m.pos.tolist()))
        mol = Chem.MolFromXYZBlock(block)
        rdDetermineBonds.DetermineBonds(mol, charge=0)
        mol.SetProp("_Name", f"qm9_{m.idx.item()}")
        mol.SetDoubleProp("U0", m.y[0, 1].item())
        mol.SetProp("comment", "from QM9")
        writer.write(mol)
    writer.close()
    return path


def test_sdf_keeps_coordinates_and_numeric_properties(qm9, tmp_path):
    path = _qm9_to_sdf(qm9, tmp_path / "mols.sdf")
    data = MoleculeDataset(path, root=tmp_path / "c")
    assert data.target_names == ["U0"] and len(data) == 6
    for i in range(6):
        assert torch.equal(data[i].z, qm9[i].z)
        assert torch.allclose(data[i].pos, qm9[i].pos, atol=1e-4)  # SDF keeps 4 decimals
        assert data[i].y.item() == pytest.approx(qm9[i].y[0, 1].item(), rel=1e-6)
        assert data[i].name.startswith(f"mols.sdf:#{i} (line ")


def test_broken_sdf_block_names_its_line(qm9, tmp_path):
    path = _qm9_to_sdf(qm9, tmp_path / "mols.sdf")
    lines = path.read_text().splitlines()
    third_record_start = [i for i, line in enumerate(lines) if line.startswith("$$$$")][1] + 1
    lines[third_record_start + 3] = "garbage counts line"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"mols\.sdf:#2 \(line {third_record_start + 1}\)"):
        MoleculeDataset(path, cache=False)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(MoleculeDataset(path, cache=False, on_error="skip")) == 5


def _qm9_to_extxyz(qm9, path, periodic_last=False):
    frames = []
    for k, m in enumerate(list(qm9)[:4]):
        atoms = Atoms(numbers=m.z.numpy(), positions=m.pos.double().numpy())
        if periodic_last and k == 3:
            atoms.set_cell(np.diag([8.0, 9.0, 10.0]))
            atoms.set_pbc(True)
        atoms.calc = EMT()  # EMT has H, C, N, O: real geometries with energies and forces
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    ase.io.write(str(path), frames, format="extxyz")
    return frames


def test_extxyz_gives_energies_forces_and_cells(qm9, tmp_path):
    path = tmp_path / "traj.extxyz"
    frames = _qm9_to_extxyz(qm9, path, periodic_last=True)
    data = MoleculeDataset(path, root=tmp_path / "c")
    assert data.target_names == ["energy"] and len(data) == 4
    for i, atoms in enumerate(frames):
        item = data[i]
        assert item.y.item() == pytest.approx(atoms.get_potential_energy(), rel=1e-6)
        assert torch.allclose(item.forces, torch.tensor(atoms.get_forces(), dtype=torch.float32), atol=1e-5)
        assert item.forces.shape == (len(atoms), 3)
    assert data[3].cell.shape == (1, 3, 3) and data[3].cell[0, 2, 2].item() == 10.0
    assert data[3].pbc.tolist() == [[True, True, True]] and data[0].pbc.tolist() == [[False, False, False]]


def test_broken_xyz_block_is_reported_with_the_file(tmp_path):
    path = tmp_path / "bad.xyz"
    path.write_text("3\nenergy=1.0\nO 0 0 0\nH 0 0 0.96\n")
    with pytest.raises(ValueError, match=r"bad\.xyz:1: frame announces 3 atoms"):
        MoleculeDataset(path, cache=False)


def test_cache_is_keyed_by_file_content(csv_file, tmp_path, monkeypatch):
    first = MoleculeDataset(csv_file, root=tmp_path / "c")
    assert first.cache_path.is_file()

    def no_processing(*args, **kwargs):
        raise AssertionError("should have been read from the cache")

    with monkeypatch.context() as patch:
        patch.setattr("geognn.data.molecule_dataset._process", no_processing)
        again = MoleculeDataset(csv_file, root=tmp_path / "c")
    assert torch.equal(again.pos, first.pos) and again.smiles == first.smiles
    csv_file.write_text(csv_file.read_text().replace("qm9_1,C,", "qm9_1,CC,"))
    changed = MoleculeDataset(csv_file, root=tmp_path / "c")
    assert changed.cache_path != first.cache_path and changed[0].smiles == "CC"


def test_unknown_format_is_rejected(tmp_path):
    path = tmp_path / "mols.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="unknown format"):
        MoleculeDataset(path)


def test_non_finite_forces_name_their_frame(qm9, tmp_path):
    path = tmp_path / "traj.extxyz"
    _qm9_to_extxyz(qm9, path)
    lines = path.read_text().splitlines()
    second_frame = 2 + len(qm9[0].z)  # line index of the second frame's count line
    fields = lines[second_frame + 2].split()
    fields[-1] = "nan"
    lines[second_frame + 2] = " ".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"traj\.extxyz:{second_frame + 1} \(frame 1\): non-finite forces"):
        MoleculeDataset(path, cache=False)
    with pytest.warns(UserWarning, match="skipped 1 molecules with unusable targets or forces"):
        assert len(MoleculeDataset(path, cache=False, on_error="skip")) == 3
