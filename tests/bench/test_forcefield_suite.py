"""The forcefield suite adapter: invocations, records over seeds (with ratios) from forcefield.py's lines, MACE's peer."""

import statistics
import sys
from pathlib import Path

import pytest

from geognn.bench import peers
from geognn.bench.records import attach_ratios
from geognn.bench.suites import DEFAULT_SUITES, SUITES, Options, Unsupported, parse_suites

SUITE = SUITES["forcefield"]
OPTIONS = Options(suites=["forcefield"], out=Path("x"))


def _train(library, seed, force, energy, step_ms, **extra):
    return {"suite": "forcefield", "library": library, "part": "train", "molecule": "ethanol", "seed": seed,
            "epochs": 30, "train_split": "train", "threads": 2, "energy_mae_meV": energy, "force_mae_meV": force,
            "force_cos": 0.99, "step_ms": step_ms, "wall_s": 100.0, "best_epoch": 29, "command": "x", **extra}


def _md(library, ms_per_step):
    return {"suite": "forcefield", "library": library, "part": "md", "molecule": "ethanol", "seed": 0, "epochs": 30,
            "train_split": "train", "threads": 2, "steps_per_s": 1000 / ms_per_step, "ms_per_step": ms_per_step,
            "md_steps": 1000, "finite": True}


def _lines():
    return [
        _md("geognn", 2.0), _md("schnetpack", 4.0), _md("mace", 30.0),
        _train("geognn", 0, 20.0, 5.0, 40.0), _train("geognn-cormorant", 0, 15.0, 4.0, 200.0),
        _train("schnetpack", 0, 40.0, 9.0, 80.0), _train("mace", 0, 10.0, 1.0, 100.0, batch_size=5, dtype="float64"),
        _train("geognn", 1, 30.0, 7.0, 60.0), _train("geognn-cormorant", 1, 17.0, 4.0, 220.0),
        _train("schnetpack", 1, 60.0, 11.0, 120.0), _train("mace", 1, 10.0, 3.0, 100.0, batch_size=5, dtype="float64"),
        {"summary": "geognn", "force_mae_meV": 25.0, "seeds": 2},
        {"ratio": "geognn / schnetpack", "force_mae": 0.5},
    ]


def _by(records, library, metric):
    return next(r for r in records if r.impl.startswith(library) and r.metric == metric)


def test_forcefield_runs_when_asked_for_by_name_or_all_never_by_default():
    assert "forcefield" not in DEFAULT_SUITES
    assert parse_suites("forcefield") == ["forcefield"] and "forcefield" in parse_suites("all")


def test_quick_and_full_invocations_pass_the_sizes_and_the_usable_peers():
    quick = SUITE.invocations(Options(suites=["forcefield"], out=Path("x"), quick=True), {"mace"}, Path("b"))[0]
    full = SUITE.invocations(OPTIONS, {"schnetpack", "mace"}, Path("b"))[0]
    assert quick.script == "forcefield" and "--quick" in quick.args
    assert quick.args[quick.args.index("--libraries") + 1] == "geognn,geognn-cormorant,mace"
    assert full.args[:4] == ["--epochs", "30", "--seeds", "0,1,2"]
    assert full.args[full.args.index("--libraries") + 1] == "geognn,geognn-cormorant,schnetpack,mace"
    with pytest.raises(Unsupported, match="CPU"):
        SUITE.invocations(Options(suites=["forcefield"], out=Path("x"), device="cuda"), set(), Path("b"))


def test_errors_are_means_and_standard_deviations_over_seeds_with_ratios_to_each_peer():
    records = SUITE.parse(_lines(), SUITE.invocations(OPTIONS, {"schnetpack", "mace"}, Path("b"))[0], OPTIONS,
                          {"schnetpack", "mace"}).records
    attach_ratios(records)
    force = _by(records, "geognn SchNet", "test force MAE")
    assert force.primary and force.library == "geognn" and force.unit == "meV/Å"
    assert force.mean == 25.0 and force.std == pytest.approx(statistics.stdev([20.0, 30.0]))
    assert (force.min, force.max, force.repeats, force.size, force.size_unit) == (20.0, 30.0, 2, 1000, "training frames")
    assert force.extra["force_mae_meV_per_seed"] == [20.0, 30.0] and force.extra["seeds"] == [0, 1]
    ratios = {e["library"]: e["ratio"] for e in force.ratios}
    assert ratios == {"schnetpack": pytest.approx(2.0), "mace": pytest.approx(0.4)}  # MACE leads: flagged as trailing
    cormorant = _by(records, "geognn Cormorant", "test force MAE")
    assert cormorant.library == "geognn" and not cormorant.primary and cormorant.mean == 16.0
    energy = _by(records, "MACE", "test energy MAE")
    assert energy.unit == "meV" and energy.mean == 2.0 and energy.setting == "float64"


def test_training_steps_are_compared_per_frame_and_md_steps_per_step():
    records = SUITE.parse(_lines(), SUITE.invocations(OPTIONS, {"schnetpack", "mace"}, Path("b"))[0], OPTIONS,
                          {"schnetpack", "mace"}).records
    attach_ratios(records)
    step = next(r for r in records if r.primary and "training step" in r.what)
    assert step.unit == "s" and step.median == pytest.approx(0.05) and step.per_item and step.size == 10
    ratios = {e["library"]: e["ratio"] for e in step.ratios}
    # per frame: geognn 5 ms, SchNetPack 10 ms (batches of 10), MACE 20 ms (100 ms for 5 frames)
    assert ratios == {"schnetpack": pytest.approx(2.0), "mace": pytest.approx(4.0)}
    md = next(r for r in records if r.primary and "MD step" in r.what)
    assert md.median == pytest.approx(0.002) and md.size == 1000 and md.extra["steps_per_s"] == 500
    assert {e["library"]: e["ratio"] for e in md.ratios} == {"schnetpack": pytest.approx(2.0),
                                                            "mace": pytest.approx(15.0)}


def test_an_unusable_peer_is_left_out_and_skipped_lines_are_reported():
    lines = [*_lines(), {"library": "mace", "part": "train", "skipped": "not installed; install: bash x"},
             {"library": "geognn-cormorant", "part": "md", "skipped": "failed: boom"}]
    parsed = SUITE.parse(lines, SUITE.invocations(OPTIONS, {"schnetpack"}, Path("b"))[0], OPTIONS, {"schnetpack"})
    assert {r.library for r in parsed.records} == {"geognn", "schnetpack"}
    assert parsed.failed_peers == {"mace": "not installed; install: bash x"}
    assert parsed.notes and "geognn Cormorant" in parsed.notes[0] and "boom" in parsed.notes[0]


def test_mace_is_absent_with_its_install_command_when_its_own_environment_is_missing(monkeypatch):
    missing = peers.Peer("mace", "MACE", "mace", "mace-torch", ("forcefield",), peers.PEERS["mace"].install,
                         python=".venv-geognn-no-such-env/bin/python")
    monkeypatch.setitem(peers.PEERS, "mace", missing)
    status = peers.status({"mace", "schnetpack"}, ["forcefield"])
    assert status["mace"]["status"] == "absent" and "setup_peers.sh" in status["mace"]["install"]
    assert ".venv-mace" in status["mace"]["install"] and "schnetpack" in status
    assert "mace" not in peers.usable(status)


def test_a_peer_in_its_own_interpreter_is_installed_when_that_interpreter_imports_it(monkeypatch):
    elsewhere = peers.Peer("mace", "MACE", "torch", "torch", ("forcefield",), "x", python=sys.executable)
    monkeypatch.setitem(peers.PEERS, "mace", elsewhere)
    status = peers.status({"mace"}, ["forcefield"])
    assert status["mace"]["status"] == "installed" and status["mace"]["version"].startswith("2.")
    absent = peers.Peer("mace", "MACE", "geognn_no_such_module", "x", ("forcefield",), "x", python=sys.executable)
    monkeypatch.setitem(peers.PEERS, "mace", absent)
    assert peers.status({"mace"}, ["forcefield"])["mace"]["status"] == "absent"
