"""`geognn tune --model conve`: tiny studies on Nations (14 entities), 1-4 epochs of a 16-d ConvE."""

import contextlib
import csv
import io
import json
import shlex

import pytest

from geognn.cli.main import main

TINY = ["--model", "conve", "--dataset", "nations", "--embedding-dim", "16", "--conv-filters", "4"]


def _tune(out, *options, trials=3, epochs=1):
    return main(["tune", *TINY, "--epochs", str(epochs), "--trials", str(trials), "--out", str(out), *options])


def _rows(out):
    with open(out / "trials.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Three one-epoch trials; the folder and what the command printed."""
    out = tmp_path_factory.mktemp("tune") / "nations"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert _tune(out) == 0
    (out / "stdout.txt").write_text(printed.getvalue())
    return out


def test_a_study_writes_every_trial_its_reports_and_plots(study):
    rows = _rows(study)
    assert [r["number"] for r in rows] == ["0", "1", "2"] and {r["state"] for r in rows} == {"COMPLETE"}
    assert {"mrr", "param_lr", "param_kernel_size", "epochs_run", "duration_s", "step_time_s", "peak_memory_mib",
            "error", "dir"} <= set(rows[0])
    for r in rows:
        trial = study / r["dir"]
        summary = json.loads((trial / "metrics.json").read_text())
        # A trial is a geognn train run judged on validation only: the test set is never evaluated.
        assert summary["evaluated_on"] == "validation" and "val_freq1_mrr" in summary["history"][0]
        assert float(r["mrr"]) == pytest.approx(summary["best_val_mrr"])
        assert (trial / "train.log").read_text().startswith("geognn: training conve on nations")
    for name in ("optimization_history.png", "param_importances.png", "intermediate_values.png"):
        assert (study / name).stat().st_size > 1000
    lines = [line for line in (study / "stdout.txt").read_text().splitlines() if line.startswith("tune: trial")]
    assert len(lines) == 3 and all("COMPLETE" in line and "finished]" in line for line in lines)


def test_only_the_best_trial_keeps_its_checkpoints_and_disk_use_is_reported(study):
    best = json.loads((study / "best.json").read_text())
    number = best["best_trial"]["number"]
    values = {int(r["number"]): float(r["mrr"]) for r in _rows(study)}
    assert number == max(values, key=values.get)
    for r in _rows(study):
        has = (study / r["dir"] / "best.pt").exists() and (study / r["dir"] / "last.pt").exists()
        assert has == (int(r["number"]) == number)
    assert best["trials"] == {"complete": 3, "finished": 3, "wanted": 3}
    assert 0 < best["disk_bytes"]["checkpoints"] < best["disk_bytes"]["total"]
    assert "MB on disk" in (study / "stdout.txt").read_text()
    validation = best["best_trial"]["validation"]
    assert validation["mrr"] == best["best_trial"]["values"]["mrr"] and "cat_N-N_mrr" in validation


def test_the_command_in_best_json_trains_to_the_trial_validation_value(study, tmp_path):
    best = json.loads((study / "best.json").read_text())["best_trial"]
    command = shlex.split(best["command"])
    assert command[:2] == ["geognn", "train"] and command[-2:] == ["--out", str(study / "best-rerun")]
    command[-1] = str(tmp_path / "rerun")
    assert main(command[1:] + ["--no-progress"]) == 0
    rerun = json.loads((tmp_path / "rerun" / "metrics.json").read_text())
    assert rerun["best_val_mrr"] == pytest.approx(best["values"]["mrr"], rel=1e-9)
    assert rerun["evaluated_on"] == "test"


def test_rerunning_continues_the_study_to_n_trials(study, capsys):
    before = _rows(study)
    assert _tune(study, trials=3) == 0  # already done: nothing runs
    assert "this worker ran 0 trial(s)" in capsys.readouterr().out
    assert _tune(study, trials=4) == 0
    after = _rows(study)
    assert len(after) == 4 and after[3]["state"] == "COMPLETE"
    assert [(r["param_lr"], r["mrr"]) for r in after[:3]] == [(r["param_lr"], r["mrr"]) for r in before]


def test_other_options_on_a_rerun_are_refused(study, capsys):
    assert _tune(study, "--objective", "worst_bucket_mrr", trials=5) == 2
    assert "was started with other --objective" in capsys.readouterr().err
    assert main(["tune", *TINY, "--epochs", "2", "--trials", "5", "--out", str(study)]) == 2
    assert "other geognn train options" in capsys.readouterr().err


def test_the_same_seed_proposes_the_same_parameters(tmp_path):
    for name, seed, trials in (("a", "0", 2), ("b", "0", 2), ("c", "1", 1)):
        assert _tune(tmp_path / name, "--seed", seed, trials=trials) == 0
    params = {name: [{k: v for k, v in r.items() if k.startswith("param_")} for r in _rows(tmp_path / name)]
              for name in "abc"}
    assert params["a"] == params["b"] and params["a"][0] != params["c"][0]
    assert [r["mrr"] for r in _rows(tmp_path / "a")] == [r["mrr"] for r in _rows(tmp_path / "b")]


def test_a_nan_trial_is_recorded_failed_and_the_study_goes_on(tmp_path):
    (tmp_path / "space.yaml").write_text("lr: {choices: [1.0e30, 0.003]}\n")
    assert _tune(tmp_path / "s", "--space", str(tmp_path / "space.yaml"), trials=4) == 0
    rows = _rows(tmp_path / "s")
    failed = [r for r in rows if r["state"] == "FAIL"]
    assert failed and all(float(r["param_lr"]) == 1e30 and "diverged" in r["error"] for r in failed)
    assert all(r["state"] == "COMPLETE" for r in rows if float(r["param_lr"]) == 0.003) and len(rows) == 4
    assert int(failed[0]["number"]) < 3  # a trial ran after the failure


def test_a_command_that_fails_every_trial_alike_stops_with_its_error(tmp_path, capsys):
    assert _tune(tmp_path / "s", "--lr", "1e30", trials=6) == 2
    assert "the first 3 trials all failed with the same error" in capsys.readouterr().err
    assert len(_rows(tmp_path / "s")) == 3


def test_pruning_stops_poor_trials_and_reports_the_epochs_saved(tmp_path, capsys):
    (tmp_path / "space.yaml").write_text("lr: {choices: [1.0e-5, 0.01]}\n")
    assert _tune(tmp_path / "s", "--space", str(tmp_path / "space.yaml"), "--prune-startup", "1",
                 "--prune-warmup", "1", trials=4, epochs=3) == 0
    rows = _rows(tmp_path / "s")
    pruned = [r for r in rows if r["state"] == "PRUNED"]
    assert pruned and all(int(r["epochs_run"]) == int(r["pruned_at_epoch"]) < 3 for r in pruned)
    saved = sum(3 - int(r["epochs_run"]) for r in pruned)
    assert json.loads((tmp_path / "s" / "best.json").read_text())["epochs"]["saved_by_pruning"] == saved
    assert f"pruning saved {saved} epochs" in capsys.readouterr().out


def test_the_worst_bucket_objective_is_the_best_epoch_lowest_bucket_mrr(tmp_path):
    assert _tune(tmp_path / "s", "--objective", "worst_bucket_mrr", "--relation-buckets", "2", trials=2) == 0
    for r in _rows(tmp_path / "s"):
        summary = json.loads((tmp_path / "s" / r["dir"] / "metrics.json").read_text())
        row = summary["history"][summary["best_epoch"] - 1]
        assert float(r["worst_bucket_mrr"]) == pytest.approx(min(row["val_freq1_mrr"], row["val_freq2_mrr"]))
        assert "--relation-buckets 2" in json.loads((tmp_path / "s" / "best.json").read_text())["best_trial"]["command"]


@pytest.mark.parametrize("options, message", [
    (["--space", "missing.yaml"], "no such file"),
    (["--objective", "accuracy"], "not a link-prediction metric"),
    (["--objective", "mrr,step_time", "--pruner", "median"], "prunes single-objective studies only"),
    (["--dataset", "qm9"], "knowledge graph"),
    (["--storage", "study.db"], "give a database URL"),
])
def test_bad_study_options_are_clear_errors(tmp_path, capsys, options, message):
    argv = ["tune", *TINY, "--epochs", "1", "--trials", "1", "--out", str(tmp_path / "s"), *options]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
