"""Force-field training on xTB-MD17: the recipe, per-split metrics, forces, a tiny training that learns."""

import json

import pytest
import torch
from torch_geometric.loader import DataLoader

from geognn.cli.datasets import xtb_md17_sets
from geognn.cli.main import main
from geognn.models import SchNet
from geognn.train import Trainer, TrainConfig
from geognn.train.force_field import ForceFieldRegression, force_rms

TINY = ["--hidden-channels", "16", "--num-filters", "16", "--num-interactions", "2", "--num-rbf", "16",
        "--no-progress", "--device", "cpu"]


def tiny_schnet(seed=0):
    torch.manual_seed(seed)
    return SchNet(hidden_channels=32, num_filters=32, num_interactions=2, num_rbf=20, cutoff=5.0)


def force_mae(model, frames):
    errors = []
    for batch in DataLoader(frames, batch_size=50):
        errors.append((model(batch, forces=True)["forces"].detach() - batch.forces).abs().flatten())
    return torch.cat(errors).mean().item()


def test_the_force_field_recipe_is_the_default_for_xtb_md17():
    from geognn.cli.main import build_parser
    from geognn.cli.train import training_config

    args = build_parser().parse_args(["train", "--dataset", "xtb-md17:ethanol", "--out", "x"])
    config = training_config(args)
    assert (config.energy_weight, config.force_weight, config.batch_size, config.lr) == (0.01, 0.99, 10, 1e-3)
    assert config.ema_decay > 0 and config.schedule == "warmup-plateau"
    args = build_parser().parse_args(["train", "--dataset", "xtb-md17:ethanol", "--force-weight", "5", "--out", "x"])
    assert training_config(args).force_weight == 5


def test_fixed_splits_only_and_a_clear_error_for_other_sizes():
    train, val, test, info = xtb_md17_sets("xtb-md17:ethanol", 5.0, 50)
    assert (len(train), len(val), len(test), info["train_split"]) == (50, 100, 500, "train_50")
    with pytest.raises(ValueError, match="fixed training splits of 50 and 1000"):
        xtb_md17_sets("xtb-md17:ethanol", 5.0, 200)
    with pytest.raises(ValueError, match="fixed at 500"):
        xtb_md17_sets("xtb-md17:ethanol", 5.0, None, None, 20)


def test_per_atom_energies_are_scaled_by_the_training_force_rms():
    train, val, _, _ = xtb_md17_sets("xtb-md17:ethanol", 5.0, 50)
    model = tiny_schnet()
    task = ForceFieldRegression(TrainConfig.for_task("force_field"))
    task.prepare(model, train)
    assert model.target_std.item() == pytest.approx(force_rms(train))
    assert 0.4 < model.target_std.item() < 2.5  # eV: about 1 eV/Å times 1 Å
    # The shift puts an untrained model's energy near the data: within a few eV of ~-310 eV.
    energies = torch.cat([d.y for d in train]).mean()
    assert abs(model(train[0])["y"].item() - energies.item()) < 10.0


def test_a_tiny_training_on_50_frames_lowers_the_force_error(tmp_path):
    train, val, _, _ = xtb_md17_sets("xtb-md17:ethanol", 5.0, 50)
    model = tiny_schnet()
    config = TrainConfig.for_task("force_field", epochs=15, warmup_steps=10, progress=False, device="cpu")
    task = ForceFieldRegression(config)
    task.prepare(model, train)
    before = force_mae(model.eval(), val[:50])
    trainer = Trainer(model, train, val[:50], config, tmp_path, model_name="schnet", model_config=model.config,
                      task=task)
    summary = trainer.fit()
    after = summary["metrics"]["force_mae"]
    assert after < 0.7 * before, f"force MAE {before:.3f} -> {after:.3f} eV/Å"
    assert summary["metrics"]["force_mae_meV"] == pytest.approx(1000 * after)
    assert -1 <= summary["metrics"]["force_cos"] <= 1


def test_geognn_train_on_xtb_md17_reports_energy_and_force_errors_per_split(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["train", "--dataset", "xtb-md17:ethanol", "--n-train", "50", "--epochs", "1", "--out", str(out),
                   *TINY])
    assert status == 0
    printed = capsys.readouterr().out
    assert "force MAE" in printed and "meV/Å" in printed and "test" in printed
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["splits"]) == {"train", "val", "test"}
    for metrics in summary["splits"].values():
        assert {"energy_mae_meV", "force_mae_meV", "force_cos", "force_rmse_meV"} <= set(metrics)
    assert summary["info"]["train_split"] == "train_50" and summary["train_config"]["force_weight"] == 0.99


def test_forces_equal_finite_differences_on_shipped_frames():
    from geognn.data import XTBMD17

    data = XTBMD17("aspirin")
    model = tiny_schnet().double().eval()
    frame = data[3]
    frame.pos = frame.pos.double()
    forces = model(frame, forces=True)["forces"]
    h = 1e-5
    for atom, axis in [(0, 0), (7, 1), (20, 2)]:
        shifted = []
        for sign in (1, -1):
            moved = frame.clone()
            moved.pos = frame.pos.clone()
            moved.pos[atom, axis] += sign * h
            shifted.append(model(moved)["y"].item())
        numeric = -(shifted[0] - shifted[1]) / (2 * h)
        assert forces[atom, axis].item() == pytest.approx(numeric, abs=1e-6)
