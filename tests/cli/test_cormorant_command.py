"""Cormorant through the shared engine: geognn train, predict (with the dipole vector), resume."""

import csv
import io
import json

import pytest
import torch

from geognn.cli.main import main

TINY = ["--max-l", "1", "--max-sh", "1", "--num-channels", "3", "--num-levels", "2", "--batch-size", "10",
        "--no-progress", "--warmup-steps", "2", "--cutoff", "4.0"]
QM9 = ["--dataset", "qm9", "--qm9-limit", "60", "--n-train", "40", "--n-val", "10", "--n-test", "10"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("cormorant-cli")
    mp = pytest.MonkeyPatch()
    mp.setenv("GEOGNN_CACHE", str(root / "cache"))
    yield root
    mp.undo()


def _predict(checkpoint, tmp_path, capsys):
    capsys.readouterr()  # what training printed
    smi = tmp_path / "m.smi"
    smi.write_text("CCO ethanol\nO=C=O co2\n[He] helium\n")
    status = main(["predict", "--checkpoint", str(checkpoint), "--input", str(smi), "--no-progress"])
    captured = capsys.readouterr()
    return status, list(csv.DictReader(io.StringIO(captured.out))), captured.err


def test_train_and_predict_u0_with_cormorant(cache, tmp_path, capsys):
    out = cache / "u0"
    assert main(["train", "--model", "cormorant", "--target", "U0", "--epochs", "2", "--out", str(out),
                 *QM9, *TINY]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["model_name"] == "cormorant" and summary["model_config"]["species"] == [1, 6, 7, 8, 9]
    assert summary["metrics"]["mae_U0"] > 0
    status, rows, err = _predict(out / "best.pt", tmp_path, capsys)
    assert status == 0 and [r["id"] for r in rows] == ["ethanol", "co2"]
    assert "helium: atomic numbers [2] are not among the model's elements [1, 6, 7, 8, 9]" in err
    assert "U0 (eV)" in rows[0]


def test_dipole_model_trains_on_mu_and_predicts_the_vector(cache, tmp_path, capsys):
    out = cache / "mu"
    assert main(["train", "--model", "cormorant", "--target", "mu", "--epochs", "1", "--out", str(out),
                 *QM9, *TINY]) == 0
    assert json.loads((out / "metrics.json").read_text())["model_config"]["dipole"] is True
    status, rows, _ = _predict(out / "best.pt", tmp_path, capsys)
    assert status == 0
    for row in rows:
        vector = torch.tensor([float(row[f"dipole_{a} (D)"]) for a in "xyz"])
        assert float(row["mu (D)"]) == pytest.approx(float(vector.norm()), abs=2e-6)


def test_dipole_vector_needs_mu_alone(cache, capsys):
    status = main(["train", "--model", "cormorant", "--target", "U0,mu", "--dipole", "vector", "--epochs", "1",
                   "--out", str(cache / "bad"), *QM9, *TINY])
    assert status == 2 and "train it alone with --target mu" in capsys.readouterr().err


def test_cormorant_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path):
    from geognn.models import Cormorant
    from geognn.testing import morse_clusters
    from geognn.train import TrainConfig, Trainer
    from geognn.featurize import radius_graph

    data = morse_clusters(20, seed=0)
    for d in data:
        d.edge_index = radius_graph(d.pos, 4.0)[0]
    species = sorted({int(z) for d in data for z in d.z})

    def run(out, epochs, resume=False):
        torch.manual_seed(0)
        config = dict(max_l=1, max_sh=1, num_channels=3, num_levels=2, cutoff=4.0, species=species)
        model = Cormorant(**config)
        settings = TrainConfig(epochs=epochs, batch_size=5, lr=3e-3, warmup_steps=2, progress=False)
        Trainer(model, data[:15], data[15:], settings, out, model_name="cormorant", model_config=config,
                target_names=["energy"], target_units=["eV"], resume=resume).fit()
        return model

    straight = run(tmp_path / "straight", 3)
    run(tmp_path / "interrupted", 1)
    resumed = run(tmp_path / "interrupted", 3, resume=True)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
