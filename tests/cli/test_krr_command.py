"""geognn train --model krr (learning curve over sizes) and geognn predict with its checkpoints."""

import csv
import io
import json

import pytest
import torch

from geognn.cli.main import main

QM9 = ["--dataset", "qm9", "--qm9-limit", "400", "--n-val", "30", "--n-test", "60", "--cv-size", "60",
       "--cv-folds", "3", "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One small learning curve: U0 and gap, three sizes."""
    out = tmp_path_factory.mktemp("krr-cli") / "run"
    assert main(["train", "--model", "krr", "--target", "U0,gap", "--n-train", "40,80,160", "--out", str(out),
                 "--sigma", "500,2000,8000", "--lambda", "1e-10,1e-6", *QM9]) == 0
    return out


def test_train_writes_a_learning_curve_and_the_usual_files(run):
    for name in ("best.pt", "krr-n40.pt", "krr-n80.pt", "krr-n160.pt", "metrics.csv", "metrics.json",
                 "learning_curve.png", "parity.png"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "metrics.json").read_text())
    curve = summary["learning_curve"]
    assert curve["sizes"] == [40, 80, 160] and len(curve["test_mae"]["U0"]) == 3
    assert curve["fits"]["U0"]["slope"] < 0  # more data, smaller error
    assert summary["evaluated_on"] == "test" and summary["metrics"]["mae_U0"] > 0
    assert set(summary["cross_validation"]) == {"40", "80", "160"}
    assert summary["cross_validation"]["160"]["sigmas"] == [500.0, 2000.0, 8000.0]
    rows = list(csv.DictReader(io.StringIO((run / "metrics.csv").read_text())))
    assert [int(r["n_train"]) for r in rows] == [40, 80, 160]
    assert float(rows[-1]["sigma"]) in (500.0, 2000.0, 8000.0)
    best = next(r for r in rows if int(r["n_train"]) == summary["best_n_train"])
    assert float(best["test_mae_U0"]) == pytest.approx(summary["metrics"]["mae_U0"])


def _predict(checkpoint, path, capsys):
    capsys.readouterr()
    status = main(["predict", "--checkpoint", str(checkpoint), "--input", str(path), "--no-progress"])
    captured = capsys.readouterr()
    return status, list(csv.DictReader(io.StringIO(captured.out))), captured.err


def test_predict_on_smiles_skips_what_the_model_cannot_take(run, tmp_path, capsys):
    smi = tmp_path / "m.smi"
    smi.write_text("CCO ethanol\nCC(C)=O acetone\n[He] helium\nCCCCCCCCCCCC dodecane\n")
    status, rows, err = _predict(run / "best.pt", smi, capsys)
    assert status == 0 and [r["id"] for r in rows] == ["ethanol", "acetone"]
    assert "helium: atomic numbers [2] are not among the model's elements" in err
    assert "dodecane: 38 atoms, more than the 29 of the model's Coulomb matrices" in err
    assert -60 < float(rows[0]["U0 (eV)"]) < -10 and "gap (eV)" in rows[0]


def test_predict_on_xyz_and_sdf_equals_the_python_model(run, tmp_path, capsys):
    import ase.io

    from geognn.data import QM9
    from geognn.featurize.io import read_molecules
    from geognn.train.checkpoint import model_from_checkpoint

    data = QM9(["U0"], limit=5, progress=False)[4]
    atoms = ase.Atoms(numbers=data.z.numpy(), positions=data.pos.double().numpy())
    model = model_from_checkpoint(run / "best.pt")
    for name in ("m.xyz", "m.sdf"):
        ase.io.write(tmp_path / name, atoms)
        # The file's own precision (SDF: 4 decimals) is what both routes see.
        read, _ = read_molecules(tmp_path / name)
        expected = model.predict_molecules(read)[0]
        status, rows, _ = _predict(run / "best.pt", tmp_path / name, capsys)
        assert status == 0 and len(rows) == 1
        assert float(rows[0]["U0 (eV)"]) == pytest.approx(float(expected[0]), abs=2e-6)
        assert float(rows[0]["gap (eV)"]) == pytest.approx(float(expected[1]), abs=2e-6)


def test_several_sizes_are_for_krr_only(tmp_path, capsys):
    assert main(["train", "--model", "schnet", "--n-train", "10,20", "--out", str(tmp_path / "x"), *QM9]) == 2
    assert "several sizes (a learning curve) are for --model krr" in capsys.readouterr().err


def test_augment_needs_random_permutation(tmp_path, capsys):
    assert main(["train", "--model", "krr", "--n-train", "40", "--augment", "3", "--out", str(tmp_path / "x"),
                 *QM9]) == 2
    assert "--augment 3 needs --permutation random" in capsys.readouterr().err


def test_best_checkpoint_holds_coefficients_as_tensors(run):
    from geognn.train.checkpoint import load_checkpoint

    state = load_checkpoint(run / "best.pt")
    assert state["model_name"] == "krr"
    assert isinstance(state["model_state"]["alpha"], torch.Tensor)
    assert state["model_state"]["alpha"].dtype == torch.float64
