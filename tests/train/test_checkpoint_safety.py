"""A checkpoint file never runs code: every way geognn reads one refuses a malicious pickle.

Each malicious file here asks the unpickler to call ``os.system`` with a
command that writes a marker file. The first test proves the file really does
that under the unsafe loader, so the others, which check the marker stays
absent, cannot pass by accident.
"""

import os
import random

import ase
import ase.io
import numpy as np
import pytest
import torch

from geognn.cli.main import main
from geognn.train import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from geognn.train.checkpoint import FORMAT, VERSION
from geognn.train.checkpoint_upgrade import upgrade_checkpoint
from train_helpers import run


class RunsAShellCommand:
    """Unpickling this calls ``os.system(command)``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def malicious_checkpoint(folder, name="evil.pt", looks_like_geognn=False):
    """A file that writes ``folder/pwned.txt`` when unpickled; returns (file, marker)."""
    marker = folder / "pwned.txt"
    payload = RunsAShellCommand(f"echo PWNED > '{marker}'")
    if looks_like_geognn:
        state = {"format": FORMAT, "version": VERSION, "model_name": "schnet", "model_config": {},
                 "model_state": payload}
    else:
        state = {"model": payload}
    path = folder / name
    torch.save(state, path)
    return path, marker


def test_the_malicious_file_really_runs_code_under_the_unsafe_loader(tmp_path):
    path, marker = malicious_checkpoint(tmp_path)
    torch.load(path, weights_only=False)
    assert marker.read_text().strip() == "PWNED"


@pytest.mark.parametrize("looks_like_geognn", [False, True])
def test_load_checkpoint_refuses_it_and_names_what_it_would_call(tmp_path, looks_like_geognn):
    path, marker = malicious_checkpoint(tmp_path, looks_like_geognn=looks_like_geognn)
    with pytest.raises(CheckpointError, match=r"outside the safe set \((posix|nt|os)\.system\).*nothing in it was run"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="--trust"):
        model_from_checkpoint(path)
    assert not marker.exists()


def test_predict_refuses_it(tmp_path, capsys):
    path, marker = malicious_checkpoint(tmp_path)
    molecules = tmp_path / "molecules.smi"
    molecules.write_text("CCO ethanol\n")
    status = main(["predict", "--checkpoint", str(path), "--input", str(molecules)])
    err = capsys.readouterr().err
    assert status == 2 and "outside the safe set" in err and "Traceback" not in err
    assert not marker.exists()


def test_train_resume_refuses_it(tmp_path, capsys):
    from geognn.testing import morse_clusters
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for d in morse_clusters(20, seed=1, dtype=torch.float64):
        atoms = ase.Atoms(numbers=d.z.numpy(), positions=d.pos.numpy())
        atoms.calc = SinglePointCalculator(atoms, energy=float(d.y))
        frames.append(atoms)
    data = tmp_path / "frames.extxyz"
    ase.io.write(str(data), frames)
    out = tmp_path / "run"
    out.mkdir()
    _, marker = malicious_checkpoint(out, name="last.pt")
    status = main(["train", "--data", str(data), "--target-column", "energy", "--epochs", "2", "--resume",
                   "--out", str(out), "--hidden-channels", "8", "--num-filters", "8", "--num-interactions", "1",
                   "--num-rbf", "4", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "outside the safe set" in err
    assert not marker.exists()


def test_ase_calculator_refuses_it(tmp_path):
    from geognn.calculators import GeognnCalculator

    path, marker = malicious_checkpoint(tmp_path, looks_like_geognn=True)
    with pytest.raises(CheckpointError, match="outside the safe set"):
        GeognnCalculator(str(path))
    assert not marker.exists()


def test_checkpoint_commands_inspect_and_refuse_it_without_running_it(tmp_path, capsys):
    path, marker = malicious_checkpoint(tmp_path)
    assert main(["checkpoint", "info", str(path)]) == 2
    assert main(["checkpoint", "upgrade", str(path), str(tmp_path / "new.pt")]) == 2
    err = capsys.readouterr().err
    assert "outside the safe set" in err and "--trust" in err
    assert not marker.exists() and not (tmp_path / "new.pt").exists()


def test_saving_refuses_objects_the_safe_loader_could_not_rebuild(tmp_path):
    state = {"model_name": "schnet", "model_config": {}, "model_state": {}, "info": {"split": [1, object()]}}
    with pytest.raises(TypeError, match=r"\['info'\]\['split'\]\[1\] is a builtins.object"):
        save_checkpoint(tmp_path / "x.pt", state)
    assert not (tmp_path / "x.pt").exists()


def test_numpy_values_are_stored_as_plain_numbers_and_tensors(tmp_path):
    state = {"model_name": "schnet", "model_config": {"cutoff": np.float64(5.0)}, "model_state": {},
             "info": {"ids": np.arange(3), "where": tmp_path}}
    save_checkpoint(tmp_path / "x.pt", state)
    loaded = torch.load(tmp_path / "x.pt", weights_only=True)  # plain torch, no geognn allowlist
    assert type(loaded["model_config"]["cutoff"]) is float
    assert torch.equal(loaded["info"]["ids"], torch.arange(3)) and loaded["info"]["where"] == str(tmp_path)


# --- real checkpoints ----------------------------------------------------------------------


def test_training_checkpoints_load_with_torch_safe_loader_and_round_trip(tmp_path):
    summary, model = run(tmp_path / "run", epochs=2)
    for name in ("best.pt", "last.pt"):
        raw = torch.load(tmp_path / "run" / name, weights_only=True)
        assert raw["version"] == VERSION
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(last["model_state"][key], value, rtol=0, atol=0)
    assert last["history"] == summary["history"][: len(last["history"])]
    assert isinstance(last["rng"]["numpy"]["key"], torch.Tensor)
    rebuilt = model_from_checkpoint(tmp_path / "run" / "last.pt")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[key], value, rtol=0, atol=0)


def _as_format_1(path):
    """Rewrites a current checkpoint the way geognn 0.1 stored it (raw Python and NumPy RNG states)."""
    state = torch.load(path, weights_only=True)
    rng_python = state["rng"]["python"]
    numpy_state = state["rng"]["numpy"]
    state["rng"] = {
        "python": (rng_python["version"], tuple(rng_python["words"].tolist()), rng_python["gauss_next"]),
        "numpy": (numpy_state["bit_generator"], numpy_state["key"].numpy().astype(np.uint32), numpy_state["pos"],
                  numpy_state["has_gauss"], numpy_state["gauss"]),
        "torch": state["rng"]["torch"],
    }
    state["version"] = 1
    torch.save(state, path)


def test_a_format_1_checkpoint_is_refused_with_the_upgrade_command_then_upgrades_safely_and_resumes(tmp_path):
    _, straight = run(tmp_path / "straight", epochs=4)
    run(tmp_path / "old", epochs=2)
    last = tmp_path / "old" / "last.pt"
    _as_format_1(last)
    with pytest.raises(CheckpointError, match=r"earlier geognn \(checkpoint format 1.*geognn checkpoint upgrade"):
        load_checkpoint(last)
    result = upgrade_checkpoint(last, last)  # no trust needed: NumPy arrays only
    assert result == {"read_with": "safe loader + NumPy arrays", "from_version": 1, "to_version": VERSION,
                      "model_name": "schnet"}
    _, resumed = run(tmp_path / "old", epochs=4, resume=True)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_upgrade_of_a_file_naming_other_classes_needs_trust(tmp_path, capsys):
    run(tmp_path / "run", epochs=1)
    path = tmp_path / "run" / "best.pt"
    state = torch.load(path, weights_only=True)
    state["info"] = {"data": tmp_path / "frames.extxyz"}  # a pathlib object: outside the safe set
    torch.save(state, path)
    new = tmp_path / "new.pt"
    with pytest.raises(CheckpointError, match="pathlib.*--trust"):
        upgrade_checkpoint(path, new)
    assert not new.exists()
    assert main(["checkpoint", "upgrade", str(path), str(new), "--trust"]) == 0
    assert "runs code" in capsys.readouterr().err
    assert load_checkpoint(new)["info"] == {"data": str(tmp_path / "frames.extxyz")}


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    from geognn.train.rng import rng_state, set_rng_state

    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's state
    save_checkpoint(tmp_path / "x.pt", {"model_name": "schnet", "model_config": {}, "model_state": {},
                                        "rng": rng_state()})
    expected = (random.random(), np.random.standard_normal(), np.random.rand(), torch.rand(2))
    set_rng_state(load_checkpoint(tmp_path / "x.pt")["rng"])
    got = (random.random(), np.random.standard_normal(), np.random.rand(), torch.rand(2))
    assert expected[:3] == got[:3] and torch.equal(expected[3], got[3])


def test_checkpoint_info_summarises_a_real_checkpoint(tmp_path, capsys):
    run(tmp_path / "run", epochs=1)
    assert main(["checkpoint", "info", str(tmp_path / "run" / "last.pt")]) == 0
    out = capsys.readouterr().out
    assert f"version {VERSION} (read with the safe loader)" in out and "targets: energy (eV)" in out



def test_checkpoints_get_the_users_usual_permissions(tmp_path):
    import stat

    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "x.pt", {"model_name": "schnet", "model_config": {}, "model_state": {}})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.pt").stat().st_mode) == 0o644
