import csv
import json

import pytest
import torch

from geognn.train import CheckpointError, TrainConfig, Trainer, load_checkpoint, model_from_checkpoint
from train_helpers import run, tiny_model, toy_sets


def test_training_lowers_the_error_and_writes_every_artifact(tmp_path):
    summary, model = run(tmp_path / "run", epochs=6)
    history = summary["history"]
    assert history[-1]["val_mae_energy"] < history[0]["val_mae_energy"]
    for name in ("best.pt", "last.pt", "metrics.csv", "metrics.json", "learning_curve.png", "parity.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert len(rows) == 6 and {"epoch", "lr", "train_loss", "val_loss", "val_mae_energy", "val_rmse_energy"} <= set(rows[0])
    stored = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert stored["units"] == {"energy": "eV"} and stored["metrics"]["mae_energy"] > 0
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_best_checkpoint_rebuilds_a_model_with_the_reported_error(tmp_path):
    summary, _ = run(tmp_path / "run", epochs=3)
    model = model_from_checkpoint(tmp_path / "run" / "best.pt")
    _, val = toy_sets()
    from torch_geometric.data import Batch
    batch = Batch.from_data_list(val)
    mae = (model(batch)["y"] - batch.y).abs().mean().item()
    assert mae == pytest.approx(summary["metrics"]["mae_energy"], rel=1e-4)


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path):
    _, straight = run(tmp_path / "straight", epochs=4)
    run(tmp_path / "interrupted", epochs=2)
    summary, resumed = run(tmp_path / "interrupted", epochs=4, resume=True)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    straight_hist = json.loads((tmp_path / "straight" / "metrics.json").read_text())["history"]
    assert [r["val_loss"] for r in summary["history"]] == [r["val_loss"] for r in straight_hist]


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        run(tmp_path / "empty", epochs=1, resume=True)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_corrupted_checkpoint_gives_a_clear_error(tmp_path, damage):
    run(tmp_path / "run", epochs=1)
    path = tmp_path / "run" / "last.pt"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 100)
    else:
        torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="corrupted|not a geognn checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        run(tmp_path / "run", epochs=2, resume=True)


def test_force_training_reports_force_errors_and_learns_them(tmp_path):
    summary, _ = run(tmp_path / "forces", epochs=5, force_weight=10.0)
    history = summary["history"]
    assert "val_force_mae" in history[0]
    assert history[-1]["val_force_mae"] < history[0]["val_force_mae"]
    assert summary["metrics"]["force_rmse"] >= summary["metrics"]["force_mae"]


def test_early_stopping_stops_when_validation_stalls(tmp_path):
    summary, _ = run(tmp_path / "stall", epochs=30, lr=1e-12, min_lr=1e-12, warmup_steps=0,
                     early_stopping_patience=2, ema_decay=0.0)
    assert summary["stopped_early"] and summary["epochs_run"] == 3


def test_training_is_reproducible_with_the_same_seed(tmp_path):
    _, a = run(tmp_path / "a", epochs=2, seed=3)
    _, b = run(tmp_path / "b", epochs=2, seed=3)
    _, c = run(tmp_path / "c", epochs=2, seed=4)
    w = "interactions.0.conv.lin_in.weight"
    assert torch.equal(a.state_dict()[w], b.state_dict()[w])
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])


def test_trainer_rejects_bad_options_and_empty_sets(tmp_path):
    train, val = toy_sets()
    with pytest.raises(ValueError, match="lr must be > 0"):
        Trainer(tiny_model(), train, val, TrainConfig(lr=0), tmp_path)
    with pytest.raises(ValueError, match="non-empty"):
        Trainer(tiny_model(), train, [], TrainConfig(), tmp_path)
    with pytest.raises(ValueError, match="nothing to train on"):
        TrainConfig(energy_weight=0, force_weight=0).validate()
