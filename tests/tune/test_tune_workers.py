"""`geognn tune` as separate processes: a worker killed mid-trial, and two workers sharing one study."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TINY = ["--model", "conve", "--dataset", "nations", "--embedding-dim", "16", "--conv-filters", "4",
        "--pruner", "none", "--heartbeat", "1"]
ROOT = Path(__file__).resolve().parents[2]


def _command(out, trials, epochs):
    return [sys.executable, "-m", "geognn.cli.main", "tune", *TINY, "--epochs", str(epochs), "--trials", str(trials),
            "--out", str(out)]


def _environment():
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _rows(out):
    with open(out / "trials.csv") as handle:
        return list(csv.DictReader(handle))


def test_a_worker_killed_mid_trial_is_resumed_to_exactly_n_finished_trials(tmp_path):
    out = tmp_path / "study"
    worker = subprocess.Popen(_command(out, 3, 12), env=_environment(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    second = out / "trials" / "0001" / "metrics.csv"  # written after trial 1's first epoch
    deadline = time.monotonic() + 180
    while not second.exists():
        assert worker.poll() is None, worker.stderr.read().decode()
        assert time.monotonic() < deadline, "trial 1 never started"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert len(second.read_text().splitlines()) < 13  # killed before its 12 epochs were done
    rerun = subprocess.run(_command(out, 3, 12), env=_environment(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = _rows(out)
    states = {r["number"]: r["state"] for r in rows}
    assert states["1"] == "KILLED" and sum(s == "COMPLETE" for s in states.values()) == 3
    killed = next(r for r in rows if r["number"] == "1")
    assert "no heartbeat" in killed["error"] and "retried as trial " in killed["error"]
    retry = next(r for r in rows if r["number"] == killed["error"].split("retried as trial ")[1])
    assert retry["state"] == "COMPLETE" and int(retry["number"]) > 1
    # The retry runs the killed trial's parameters again.
    assert {k: v for k, v in retry.items() if k.startswith("param_")} == {
        k: v for k, v in killed.items() if k.startswith("param_")}
    assert json.loads((out / "best.json").read_text())["trials"]["finished"] == 3


def test_two_workers_share_a_study_and_together_run_n_trials(tmp_path):
    out = tmp_path / "study"
    workers = [subprocess.Popen(_command(out, 4, 3), env=_environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]
    rows = [r for r in _rows(out) if r["state"] != "SKIPPED"]
    assert len(rows) == 4 and {r["state"] for r in rows} == {"COMPLETE"}
    numbers = [r["number"] for r in rows]
    dirs = [r["dir"] for r in rows]
    assert len(set(numbers)) == 4 and len(set(dirs)) == 4
    assert all((out / d / "metrics.json").is_file() for d in dirs)
    ran = [int(stdout.split("this worker ran ")[1].split()[0]) for stdout, _ in outputs]
    assert sum(ran) == 4 and min(ran) >= 1, ran  # both workers did part of the study
