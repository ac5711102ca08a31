import csv
import io
import json

import numpy as np
import pytest

from geognn.cli.main import build_parser, main

TINY = ["--hidden-channels", "16", "--num-filters", "16", "--num-interactions", "1", "--num-rbf", "10",
        "--batch-size", "10", "--no-progress", "--warmup-steps", "2"]


def _all_actions(parser):
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            for sub in action.choices.values():
                yield from _all_actions(sub)
        else:
            yield action


def test_every_option_of_every_command_has_help_with_its_default():
    for action in _all_actions(build_parser()):
        if action.dest in ("help", "version", "command"):
            continue
        assert action.help, f"option {action.option_strings} has no help"
        if action.option_strings and not action.required and action.default not in (None, False):
            assert "default" in action.help, f"{action.option_strings} does not state its default"


@pytest.mark.parametrize("command", ["train", "predict", "featurize"])
def test_help_mentions_units(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "Å" in text and "eV" in text


@pytest.fixture(scope="module")
def qm9_run(tmp_path_factory):
    """A 2-epoch SchNet on 40 QM9 molecules predicting U0 and the gap."""
    root = tmp_path_factory.mktemp("qm9run")
    mp = pytest.MonkeyPatch()
    mp.setenv("GEOGNN_CACHE", str(root / "cache"))
    status = main(["train", "--dataset", "qm9", "--target", "U0,gap", "--qm9-limit", "60", "--n-train", "40",
                   "--n-val", "10", "--n-test", "10", "--epochs", "2", "--out", str(root / "run"), *TINY])
    mp.undo()
    assert status == 0
    return root / "run"


def test_train_on_qm9_writes_checkpoints_metrics_and_plots(qm9_run):
    for name in ("best.pt", "last.pt", "metrics.csv", "metrics.json", "learning_curve.png", "parity.png"):
        assert (qm9_run / name).stat().st_size > 0
    summary = json.loads((qm9_run / "metrics.json").read_text())
    assert summary["units"] == {"U0": "eV", "gap": "eV"}
    assert summary["model_config"]["readout"] == ["sum", "mean"]
    assert summary["info"]["n_train"] == 40 and summary["evaluated_on"] == "test"


def _predict(checkpoint, path, capsys, *extra):
    status = main(["predict", "--checkpoint", str(checkpoint), "--input", str(path), *extra])
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    return status, rows, captured.err


def test_predict_smiles_reports_and_skips_bad_molecules(qm9_run, tmp_path, capsys):
    path = tmp_path / "mols.smi"
    path.write_text("CCO ethanol\nnot_a_smiles\nc1ccccc1 benzene\nC1CC\n")
    status, rows, err = _predict(qm9_run / "best.pt", path, capsys)
    assert status == 0
    assert [r["id"] for r in rows] == ["ethanol", "benzene"]
    assert set(rows[0]) == {"id", "smiles", "num_atoms", "U0 (eV)", "gap (eV)"}
    assert rows[0]["num_atoms"] == "9"
    assert all(np.isfinite(float(r["U0 (eV)"])) for r in rows)
    assert "skipped 2 molecule(s)" in err and "mols.smi:2" in err and "mols.smi:4" in err


def test_predict_csv_with_id_column_to_a_file(qm9_run, tmp_path, capsys):
    path = tmp_path / "table.csv"
    path.write_text("name,smi\nwater,O\nbroken,C(C\nmethane,C\n")
    out = tmp_path / "pred.csv"
    status = main(["predict", "--checkpoint", str(qm9_run / "best.pt"), "--input", str(path),
                   "--smiles-column", "smi", "--id-column", "name", "--output", str(out)])
    err = capsys.readouterr().err
    assert status == 0 and "table.csv:3" in err
    rows = list(csv.DictReader(open(out)))
    assert [r["id"] for r in rows] == ["water", "methane"]


def test_predict_sdf_and_xyz_agree_for_the_same_geometry(qm9_run, tmp_path, capsys):
    import ase
    import ase.io
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)O"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    mol.SetProp("_Name", "acetic_acid")
    sdf = tmp_path / "m.sdf"
    writer = Chem.SDWriter(str(sdf))
    writer.write(mol)
    writer.close()
    # A second record whose counts line promises 3 atoms that are not there.
    broken = "broken\n     RDKit          3D\n\n  3  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"
    sdf.write_text(sdf.read_text() + broken)
    xyz = tmp_path / "m.xyz"
    atoms = ase.Atoms(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()], positions=mol.GetConformer().GetPositions())
    ase.io.write(str(xyz), atoms)
    status_sdf, rows_sdf, err = _predict(qm9_run / "best.pt", sdf, capsys)
    assert status_sdf == 0 and len(rows_sdf) == 1 and "skipped 1" in err and "m.sdf:#1" in err
    status_xyz, rows_xyz, _ = _predict(qm9_run / "best.pt", xyz, capsys)
    assert status_xyz == 0
    assert float(rows_sdf[0]["U0 (eV)"]) == pytest.approx(float(rows_xyz[0]["U0 (eV)"]), abs=1e-4)


def test_predict_with_a_corrupted_checkpoint_is_a_clear_error(qm9_run, tmp_path, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes((qm9_run / "best.pt").read_bytes()[:1000])
    smi = tmp_path / "m.smi"
    smi.write_text("C\n")
    status = main(["predict", "--checkpoint", str(broken), "--input", str(smi)])
    err = capsys.readouterr().err
    assert status == 2 and "corrupted or truncated" in err and "Traceback" not in err


def test_train_on_an_extxyz_file_with_forces(tmp_path, capsys):
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from geognn.testing import morse_clusters

    frames = []
    for d in morse_clusters(30, seed=2, dtype=__import__("torch").float64):
        atoms = ase.Atoms(numbers=d.z.numpy(), positions=d.pos.numpy())
        atoms.calc = SinglePointCalculator(atoms, energy=float(d.y), forces=d.forces.numpy())
        frames.append(atoms)
    path = tmp_path / "frames.extxyz"
    ase.io.write(str(path), frames)
    status = main(["train", "--data", str(path), "--target-column", "energy", "--force-weight", "5",
                   "--epochs", "2", "--out", str(tmp_path / "run"), *TINY])
    out = capsys.readouterr().out
    assert status == 0 and "forces: MAE" in out
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["info"]["n_train"] == 24 and "force_mae" in summary["metrics"]


def test_train_with_data_but_no_target_column_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("smiles,e\nC,1.0\n")
    status = main(["train", "--data", str(path), "--out", str(tmp_path / "r")])
    assert status == 2 and "--target-column" in capsys.readouterr().err


def test_train_on_a_csv_skips_bad_smiles_and_missing_targets_with_a_report(tmp_path, capsys):
    smiles = ["C", "CC", "CCC", "CCCC", "CO", "CCO", "CCCO", "CN", "CCN", "O", "N", "C=O", "CC=O", "C#N"]
    rows = [f"{s},{-1.0 * len(s)}" for s in smiles] + ["C(C,-3.0", "CCCCC,"]
    path = tmp_path / "mols.csv"
    path.write_text("smiles,energy\n" + "\n".join(rows) + "\n")
    status = main(["train", "--data", str(path), "--target-column", "energy", "--epochs", "1",
                   "--out", str(tmp_path / "run"), *TINY])
    err = capsys.readouterr().err
    assert status == 0
    assert "skipped 2 molecule(s)" in err and "mols.csv:16" in err and "no value for target(s) ['energy']" in err
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["info"]["molecules"] == len(smiles) and summary["info"]["skipped"] == 2


def test_train_with_an_unknown_target_column_names_the_option(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("smiles,e\nC,1.0\nCC,2.0\nCCC,3.0\n")
    status = main(["train", "--data", str(path), "--target-column", "energy", "--out", str(tmp_path / "r"), *TINY])
    err = capsys.readouterr().err
    assert status == 2 and "'energy'" in err and "--target-column" in err


def test_predict_numeric_id_column_and_geometry_problems(qm9_run, tmp_path, capsys):
    import ase
    import ase.io

    path = tmp_path / "ids.csv"
    path.write_text("id,smiles\n7,C\n8,O\n")
    status, rows, _ = _predict(qm9_run / "best.pt", path, capsys, "--id-column", "id", "--no-progress")
    assert status == 0 and [r["id"] for r in rows] == ["7", "8"]
    clash = ase.Atoms("CH4", positions=[[0, 0, 0], [0, 0, 0.01], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                      info={"name": "clash"})
    good = ase.Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]], info={"name": "h2"})
    xyz = tmp_path / "two.xyz"
    ase.io.write(str(xyz), [clash, good], format="extxyz")
    status, rows, err = _predict(qm9_run / "best.pt", xyz, capsys)
    assert status == 0 and [r["id"] for r in rows] == ["h2"]
    assert "clash: atoms 0 and 1 are 0.010 Å apart" in err


def test_predict_where_nothing_can_be_read_exits_non_zero(qm9_run, tmp_path, capsys):
    path = tmp_path / "bad.smi"
    path.write_text("C1CC\nxyz\n")
    status, rows, err = _predict(qm9_run / "best.pt", path, capsys)
    assert status == 1 and rows == [] and "no molecule could be predicted" in err


def test_predict_missing_input_is_a_clear_error(qm9_run, tmp_path, capsys):
    status = main(["predict", "--checkpoint", str(qm9_run / "best.pt"), "--input", str(tmp_path / "none.smi")])
    assert status == 2 and "does not exist" in capsys.readouterr().err


def test_predict_completes_implicit_hydrogens_of_an_sdf_record(qm9_run, tmp_path, capsys):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    sdf = tmp_path / "implicit_h.sdf"
    sdf.write_text(Chem.MolToMolBlock(Chem.RemoveHs(mol)) + "$$$$\n")
    status, rows, err = _predict(qm9_run / "best.pt", sdf, capsys)
    assert status == 0 and rows[0]["num_atoms"] == "9"
    assert "no hydrogen atom" not in err


def test_predict_notes_molecules_whose_hydrogens_are_missing(qm9_run, tmp_path, capsys):
    xyz = tmp_path / "bare_carbon.xyz"
    xyz.write_text("3\nbare\nC 0 0 0\nC 1.5 0 0\nO 2.2 1.1 0\n")  # coordinates say nothing of hydrogens
    status, rows, err = _predict(qm9_run / "best.pt", xyz, capsys)
    assert status == 0 and rows[0]["num_atoms"] == "3"
    assert "no hydrogen atom" in err and "addCoords=True" in err
