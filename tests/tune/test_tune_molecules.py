"""`geognn tune` on molecules: a tiny SchNet study on the largest molecules' MAE, a Cormorant accuracy-cost front."""

import csv
import json
import shlex
import statistics

import pytest

from geognn.cli.main import main

QM9 = ["--dataset", "qm9", "--qm9-limit", "80", "--n-train", "40", "--n-val", "20", "--n-test", "20",
       "--batch-size", "10", "--warmup-steps", "2"]


def _rows(out):
    with open(out / "trials.csv") as handle:
        return list(csv.DictReader(handle))


def test_schnet_study_on_the_largest_molecules_and_its_reproduce_command(tmp_path):
    (tmp_path / "space.yaml").write_text("hidden_channels: {choices: [8, 16]}\nnum_interactions: {low: 1, high: 2}\n"
                                         "num_rbf: {low: 8, high: 16, step: 8}\n")
    out = tmp_path / "schnet"
    assert main(["tune", "--model", "schnet", *QM9, "--target", "U0,gap", "--num-filters", "16", "--epochs", "2",
                 "--trials", "2", "--space", str(tmp_path / "space.yaml"), "--objective", "mae_largest",
                 "--out", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == 2 and {r["state"] for r in rows} == {"COMPLETE"}
    for r in rows:
        summary = json.loads((out / r["dir"] / "metrics.json").read_text())
        best = summary["history"][summary["best_epoch"] - 1]
        # The mean over targets of the MAE on the largest validation molecules, at the epoch geognn train selects.
        assert float(r["mae_largest"]) == pytest.approx(
            statistics.fmean([best["val_mae_U0_largest"], best["val_mae_gap_largest"]]))
        assert "val_mae_U0_size1" in best and (out / r["dir"] / "parity.png").is_file()
    best = json.loads((out / "best.json").read_text())["best_trial"]
    command = shlex.split(best["command"])
    command[-1] = str(tmp_path / "rerun")
    assert main(command[1:] + ["--no-progress"]) == 0
    rerun = json.loads((tmp_path / "rerun" / "metrics.json").read_text())
    row = rerun["history"][rerun["best_epoch"] - 1]
    assert statistics.fmean([row["val_mae_U0_largest"], row["val_mae_gap_largest"]]) == pytest.approx(
        best["values"]["mae_largest"], rel=1e-9)
    assert "mae_U0_largest" in rerun["metrics"] and rerun["evaluated_on"] == "test"


def test_cormorant_accuracy_against_step_time_gives_a_pareto_front(tmp_path):
    (tmp_path / "space.yaml").write_text("max_l: {low: 0, high: 1}\nmax_sh: 1\nnum_channels: {choices: [2, 3]}\n"
                                         "num_levels: 2\n")
    out = tmp_path / "cormorant"
    assert main(["tune", "--model", "cormorant", *QM9, "--target", "U0", "--cutoff", "4.0", "--epochs", "1",
                 "--trials", "3", "--space", str(tmp_path / "space.yaml"), "--objective", "mae,step_time",
                 "--out", str(out)]) == 0
    report = json.loads((out / "best.json").read_text())
    front = {t["number"] for t in report["pareto_front"]}
    assert front and report["pruner"] == "none" and report["sampler"] == "nsga2"
    rows = {int(r["number"]): r for r in _rows(out)}
    points = {n: (float(r["mae"]), float(r["step_time_s"])) for n, r in rows.items()}
    for n in front:  # no other trial is at least as good on both and better on one
        assert not any(o[0] <= points[n][0] and o[1] <= points[n][1] and o != points[n] for o in points.values())
        assert (out / rows[n]["dir"] / "best.pt").is_file()
    assert float(rows[min(front)]["step_time"]) == pytest.approx(points[min(front)][1])
    for n in set(rows) - front:
        assert not (out / rows[n]["dir"] / "best.pt").exists()
    assert (out / "pareto_front.png").stat().st_size > 1000
    assert all(r["param_max_l"] in ("0", "1") and "param_num_levels" not in r for r in rows.values())
