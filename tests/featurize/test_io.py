"""Readers: records with positions in Å and identifiers; every bad record named, raised or skipped and reported."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write as ase_write
from rdkit import Chem

from geognn.data import iter_qm9_rows
from geognn.featurize.io import MoleculeReadError, read_molecules, read_sdf, read_smiles, read_xyz


@pytest.fixture(scope="module")
def qm9():
    return list(iter_qm9_rows(12))


def test_smiles_file_gives_3d_molecules_with_hydrogens_and_names(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("# a comment\nCCO ethanol\n\nc1ccccc1\n")
    molecules, report = read_smiles(path)
    assert report.num_read == 2 and report.num_skipped == 0
    ethanol, benzene = molecules
    assert ethanol.identifier == "mols.smi:2 (ethanol)" and ethanol.properties["name"] == "ethanol"
    assert sorted(ethanol.z.tolist()) == [1] * 6 + [6, 6, 8]
    assert benzene.pos.shape == (12, 3) and benzene.identifier == "mols.smi:4"
    bonded = np.linalg.norm(benzene.pos[0] - benzene.pos[1])
    assert 1.3 < bonded < 1.5, "an aromatic C-C bond relaxed by the force field is about 1.39 Å"


def test_conformers_are_reproducible_with_a_seed():
    a = read_smiles(["CC(C)CO"], seed=5).molecules[0].pos
    b = read_smiles(["CC(C)CO"], seed=5).molecules[0].pos
    c = read_smiles(["CC(C)CO"], seed=6).molecules[0].pos
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_csv_column_and_other_columns_as_properties(tmp_path, qm9):
    path = tmp_path / "data.csv"
    lines = ["id,SMILES,u0"] + [f"{r.name},{r.smiles},{r.properties['InternalEnergy_0K_au']}" for r in qm9[1:6]]
    path.write_text("\n".join(lines) + "\n")
    molecules, _ = read_smiles(path, embed=False)
    assert [m.identifier for m in molecules] == [f"data.csv:{k}" for k in range(2, 7)]
    assert molecules[0].pos is None
    for m, row in zip(molecules, qm9[1:6]):
        assert sorted(m.z.tolist()) == sorted(row.z.tolist())
        assert m.properties["u0"] == pytest.approx(row.properties["InternalEnergy_0K_au"])
        assert m.properties["id"] == row.name


def test_bad_smiles_raise_naming_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("smiles,y\nCCO,1\nC1CC,2\n,3\n")
    with pytest.raises(MoleculeReadError, match=r"bad.csv:3: RDKit could not parse the SMILES 'C1CC'"):
        read_smiles(path, embed=False)


def test_skip_reports_every_bad_record_and_warns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("smiles,y\nCCO,1\nC1CC,2\n,3\nXx,4\nN,5\n")
    with pytest.warns(UserWarning, match="skipped 3 of 5"):
        molecules, report = read_smiles(path, embed=False, on_error="skip")
    assert len(molecules) == 2 and report.num_read == 2
    assert [s.where for s in report.skipped] == ["bad.csv:3", "bad.csv:4", "bad.csv:5"]
    assert "empty SMILES" in report.skipped[1].reason
    assert "bad.csv:5" in str(report)


def write_sdf(path, qm9):
    writer = Chem.SDWriter(str(path))
    for row in qm9:
        mol = Chem.RWMol()
        for z in row.z:
            mol.AddAtom(Chem.Atom(int(z)))
        conf = Chem.Conformer(len(row.z))
        for k, p in enumerate(row.pos):
            conf.SetAtomPosition(k, p.tolist())
        mol.AddConformer(conf)
        m = mol.GetMol()
        m.SetProp("_Name", row.name)
        m.SetProp("u0", str(row.properties["InternalEnergy_0K_au"]))
        writer.write(m)
    writer.close()


def test_sdf_keeps_file_coordinates_and_data_fields(tmp_path, qm9):
    path = tmp_path / "qm9.sdf"
    write_sdf(path, qm9)
    molecules, report = read_sdf(path)
    assert report.num_read == len(qm9)
    for m, row in zip(molecules, qm9):
        np.testing.assert_array_equal(m.z, row.z)
        np.testing.assert_allclose(m.pos, row.pos, atol=1e-4)  # molblocks hold 4 decimals
        assert m.properties["u0"] == pytest.approx(row.properties["InternalEnergy_0K_au"])
        assert m.properties["name"] == row.name
    assert molecules[3].identifier.startswith("qm9.sdf:#3 (line ")


def test_sdf_with_2d_coordinates_is_embedded_in_3d(tmp_path):
    mol = Chem.MolFromSmiles("CCN")
    Chem.rdDepictor.Compute2DCoords(mol)
    path = tmp_path / "flat.mol"
    Chem.MolToMolFile(mol, str(path))
    (m,), _ = read_molecules(path, seed=1)
    assert len(m.z) == 10 and np.ptp(m.pos[:, 2]) > 0.1


def test_broken_sdf_records_are_named_and_skipped(tmp_path, qm9):
    path = tmp_path / "mixed.sdf"
    write_sdf(path, qm9[:3])
    text = path.read_text().split("$$$$\n")
    broken = text[1].splitlines()
    broken[3] = "  x  y  0  0  0  0  0  0  0  0999 V2000"  # corrupt counts line
    pentavalent = Chem.MolToMolBlock(Chem.MolFromSmiles("C(C)(C)(C)(C)C", sanitize=False))
    path.write_text("$$$$\n".join([text[0], "\n".join(broken) + "\n", text[2], pentavalent + "\n", ""]))
    with pytest.raises(MoleculeReadError, match=r"mixed.sdf:#1 \(line \d+\): RDKit could not parse"):
        read_sdf(path)
    with pytest.warns(UserWarning):
        molecules, report = read_sdf(path, on_error="skip")
    assert len(molecules) == 2
    assert [s.where.split(" ")[0] for s in report.skipped] == ["mixed.sdf:#1", "mixed.sdf:#3"]
    assert "sanitization failed" in report.skipped[1].reason and "valence" in report.skipped[1].reason.lower()


def test_extxyz_round_trip_with_cell_energy_and_forces(tmp_path, qm9):
    frames = []
    for k, row in enumerate(qm9[:4]):
        atoms = Atoms(numbers=row.z, positions=row.pos)
        if k == 2:
            atoms.set_cell(np.diag([8.0, 9.0, 10.0]))
            atoms.set_pbc(True)
        forces = np.random.default_rng(k).normal(size=(len(row.z), 3))
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 * (k + 1), forces=forces)
        frames.append((atoms, forces))
    path = tmp_path / "frames.extxyz"
    ase_write(str(path), [f for f, _ in frames], format="extxyz")
    molecules, report = read_xyz(path)
    assert report.num_read == 4
    for m, (atoms, forces) in zip(molecules, frames):
        np.testing.assert_array_equal(m.z, atoms.numbers)
        np.testing.assert_allclose(m.pos, atoms.positions, atol=1e-7)  # extxyz writes 8 decimals
        np.testing.assert_allclose(m.atom_properties["forces"], forces, atol=1e-7)
        assert m.properties["energy"] == pytest.approx(atoms.calc.results["energy"])
    assert molecules[2].pbc.all() and np.allclose(molecules[2].cell, np.diag([8.0, 9.0, 10.0]))
    assert molecules[0].pbc is None and molecules[0].cell is None
    assert molecules[1].identifier.startswith("frames.extxyz:") and molecules[1].identifier.endswith("(frame 1)")
    round_trip = molecules[3].to_atoms()
    assert round_trip.get_potential_energy() == pytest.approx(-40.0)


XYZ_WITH_PROBLEMS = """3
water
O 0.0 0.0 0.0
H 0.0 0.0 0.96
H 0.93 0.0 -0.24
2
unknown element
Xq 0.0 0.0 0.0
H 0.0 0.0 1.0
2
nan coordinate
H 0.0 0.0 0.0
H nan 0.0 1.0
two
broken count line
H 0 0 0
2
short atom line
H 0.0 0.0
H 0.0 0.0 0.7
1
lonely
He 1.0 2.0 3.0
"""


def test_xyz_problems_are_named_by_line_and_reading_resumes(tmp_path):
    path = tmp_path / "problems.xyz"
    path.write_text(XYZ_WITH_PROBLEMS)
    with pytest.raises(MoleculeReadError, match=r"problems.xyz:8: unknown element symbol 'Xq'"):
        read_xyz(path)
    with pytest.warns(UserWarning, match="skipped 4"):
        molecules, report = read_xyz(path, on_error="skip")
    assert [m.z.tolist() for m in molecules] == [[8, 1, 1], [2]]
    reasons = {s.where: s.reason for s in report.skipped}
    assert "unknown element symbol 'Xq'" in reasons["problems.xyz:8"]
    assert any("non-finite" in r or "could not read" in r for w, r in reasons.items() if w.startswith("problems.xyz:10"))
    assert "expected an atom count" in reasons["problems.xyz:14"]
    assert "needs a symbol and x y z" in reasons["problems.xyz:19"]


def test_truncated_xyz_is_an_error_naming_the_frame(tmp_path):
    path = tmp_path / "short.xyz"
    path.write_text("3\ncomment\nH 0 0 0\n")
    with pytest.raises(MoleculeReadError, match=r"short.xyz:1: frame announces 3 atoms"):
        read_xyz(path)


def test_empty_molecule_is_an_error(tmp_path):
    path = tmp_path / "empty.xyz"
    path.write_text("0\nnothing here\n")
    with pytest.raises(MoleculeReadError, match="empty molecule"):
        read_xyz(path)


def test_read_molecules_dispatches_on_suffix_and_rejects_unknown_ones(tmp_path):
    (tmp_path / "a.smi").write_text("C\n")
    (m,), _ = read_molecules(tmp_path / "a.smi", embed=False)
    assert m.z.tolist() == [6, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="unsupported file type '.pdb'"):
        read_molecules(tmp_path / "a.pdb")
    with pytest.raises(ValueError, match='on_error must be "raise" or "skip"'):
        read_smiles(["C"], on_error="ignore")


def test_sdf_record_without_hydrogens_gets_them_with_coordinates(tmp_path):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    heavy = Chem.RemoveHs(mol)  # 3D heavy-atom record, as many files hold them
    path = tmp_path / "ethanol_heavy.sdf"
    writer = Chem.SDWriter(str(path))
    writer.write(heavy)
    writer.close()
    (molecule,), _ = read_sdf(path)
    assert sorted(molecule.z.tolist()) == [1] * 6 + [6, 6, 8]
    heavy_pos = heavy.GetConformer().GetPositions()
    assert np.allclose(molecule.pos[:3], heavy_pos, atol=1e-4), "heavy atoms keep their coordinates"
    assert np.isfinite(molecule.pos).all()
    h_pos = molecule.pos[molecule.z == 1]
    dists = np.linalg.norm(h_pos[:, None] - molecule.pos[None, molecule.z != 1], axis=-1).min(1)
    assert np.all((dists > 0.9) & (dists < 1.2)), "each H sits about a bond length from a heavy atom"


def test_read_molecules_takes_the_same_options_for_every_file_kind(tmp_path):
    path = tmp_path / "water.xyz"
    path.write_text("3\nwater\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    (molecule,), _ = read_molecules(path, seed=3, on_error="skip")  # seed means nothing for xyz
    assert molecule.z.tolist() == [8, 1, 1]
    with pytest.raises(TypeError, match="unknown option"):
        read_molecules(path, sed=3)
