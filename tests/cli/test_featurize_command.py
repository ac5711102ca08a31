import json

import numpy as np
import pytest
import torch

from geognn.cli.main import main

SMILES = "CCO ethanol\nnot_a_smiles\nc1ccccc1 benzene\nO water\nCC(=O)O acetic_acid\n"


@pytest.fixture
def smiles_file(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text(SMILES)
    return path


def _npz(path):
    f = np.load(path, allow_pickle=False)
    return {k: f[k] for k in f.files}, json.loads(str(f["metadata"]))


def test_coulomb_npz_equals_the_library_featurizer_on_the_same_conformers(smiles_file, tmp_path, capsys):
    from geognn.featurize import CoulombMatrix
    from geognn.featurize.io import read_smiles

    out = tmp_path / "cm.npz"
    status = main(["featurize", "coulomb", "--input", str(smiles_file), "--output", str(out), "--dtype", "float64",
                   "--no-progress", "--seed", "3"])
    err = capsys.readouterr().err
    assert status == 0
    assert "skipped 1" in err and "mols.smi:2" in err and "featurized 4 molecule(s)" in err
    arrays, meta = _npz(out)
    assert arrays["ids"].tolist() == ["ethanol", "benzene", "water", "acetic_acid"]
    assert arrays["features"].shape == (4, 12, 12)  # benzene with hydrogens: 12 atoms
    assert meta["n_atoms_max"] == 12 and meta["distance_unit"] == "angstrom" and meta["skipped"][0][0] == "mols.smi:2"
    molecules, _ = read_smiles(["CCO", "c1ccccc1", "O", "CC(=O)O"], seed=3)
    expected = CoulombMatrix(12, permutation="sorted_l2").create(molecules)
    np.testing.assert_allclose(arrays["features"], expected.numpy(), rtol=1e-12)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically


def test_coulomb_options_eigenspectrum_in_bohr_and_size_limit(smiles_file, tmp_path, capsys):
    out = tmp_path / "spectra.pt"
    status = main(["featurize", "coulomb", "--input", str(smiles_file), "--output", str(out), "--no-progress",
                   "--permutation", "eigenspectrum", "--distance-unit", "bohr", "--n-atoms-max", "9"])
    err = capsys.readouterr().err
    assert status == 0 and "benzene: 12 atoms, more than --n-atoms-max 9" in err
    saved = torch.load(out, weights_only=True)
    assert saved["features"].shape == (3, 9) and saved["features"].dtype == torch.float32
    assert saved["ids"] == ["ethanol", "water", "acetic_acid"]
    assert saved["metadata"]["entry_unit"].startswith("e^2/bohr")


def test_radius_graph_of_a_periodic_extxyz_keeps_images_energy_and_forces(tmp_path, capsys):
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from geognn.featurize import radius_graph

    rng = np.random.default_rng(0)
    crystal = ase.Atoms("Cu4", positions=rng.uniform(0, 3.6, (4, 3)), cell=np.eye(3) * 3.6, pbc=True)
    crystal.calc = SinglePointCalculator(crystal, energy=-1.5, forces=rng.normal(size=(4, 3)))
    molecule = ase.Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    molecule.calc = SinglePointCalculator(molecule, energy=-0.5, forces=np.zeros((3, 3)))
    path = tmp_path / "frames.extxyz"
    ase.io.write(str(path), [crystal, molecule])
    out = tmp_path / "graphs.npz"
    status = main(["featurize", "radius-graph", "--input", str(path), "--output", str(out), "--cutoff", "4.0",
                   "--no-progress"])
    assert status == 0 and "periodic images included" in capsys.readouterr().err
    g, meta = _npz(out)
    assert g["atom_ptr"].tolist() == [0, 4, 7] and meta["cutoff_angstrom"] == 4.0 and meta["periodic"]
    index, shift = radius_graph(torch.tensor(crystal.positions), 4.0, cell=torch.tensor(crystal.cell[:]),
                                pbc=torch.tensor([True] * 3))
    assert g["edge_ptr"][1] == index.shape[1] and g["edge_ptr"][2] - g["edge_ptr"][1] == 6  # water: 3 atoms, 6 pairs
    np.testing.assert_array_equal(g["edge_index"][:, :index.shape[1]], index.numpy())
    vec = g["pos"][g["edge_index"][1]] - g["pos"][g["edge_index"][0]] + g["edge_shift"]
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), g["edge_length"], rtol=1e-5)
    assert g["edge_length"].max() < 4.0
    np.testing.assert_allclose(g["energy"], [-1.5, -0.5])
    assert g["forces"].shape == (7, 3) and g["pbc"].tolist() == [[True] * 3, [False] * 3]


@pytest.mark.parametrize("options, message", [
    (["coulomb", "--output", "x.csv"], "must end in .pt"),
    (["coulomb", "--output", "x.pt", "--permutation", "random"], "add --sigma"),
    (["coulomb", "--output", "x.pt", "--sigma", "1"], "only used with --permutation random"),
    (["radius-graph", "--output", "x.pt", "--cutoff", "0"], "--cutoff must be a positive distance"),
])
def test_bad_options_are_clear_errors(options, message, smiles_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = main(["featurize", options[0], "--input", str(smiles_file), *options[1:]])
    assert status == 2 and message in capsys.readouterr().err


def test_csv_with_a_misnamed_smiles_column_says_which_option_fixes_it(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("name,smi\nwater,O\n")
    status = main(["featurize", "coulomb", "--input", str(path), "--output", str(tmp_path / "x.npz")])
    assert status == 2 and "--smiles-column" in capsys.readouterr().err


def test_featurize_sorted_canonical_does_not_depend_on_the_atom_order(tmp_path):
    import ase
    import ase.io
    import numpy as np
    from ase.build import molecule

    from geognn.cli.main import main

    ethane = molecule("C2H6")  # its hydrogens tie in row norm: sorted_l2 follows the file order here
    shuffled = ethane[np.random.default_rng(0).permutation(len(ethane))]
    for name, atoms in (("a", ethane), ("b", shuffled)):
        ase.io.write(str(tmp_path / f"{name}.xyz"), atoms)
        assert main(["featurize", "coulomb", "--input", str(tmp_path / f"{name}.xyz"), "--permutation",
                     "sorted_canonical", "--n-atoms-max", "8", "--dtype", "float64", "--output",
                     str(tmp_path / f"{name}.npz")]) == 0
    a = np.load(tmp_path / "a.npz", allow_pickle=False)["features"]
    b = np.load(tmp_path / "b.npz", allow_pickle=False)["features"]
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
