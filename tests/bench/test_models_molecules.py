"""benchmarks/models.py carries its QM9 molecules to a machine without QM9 (a borrowed GPU) through a file."""

import json
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
TINY = ["--batches", "1", "--rounds", "1", "--hidden", "8", "--interactions", "1", "--rbf", "8",
        "--libraries", "geognn", "--settings", "default", "--threads", "1"]


def models_py(*args):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "models.py"), *args, *TINY],
                          capture_output=True, text=True, timeout=300)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done, records


def test_saved_molecules_replace_qm9_and_give_the_same_batches(tmp_path):
    saved = tmp_path / "qm9-12.pt"
    done, drawn = models_py("--molecules", "12", "--batch-size", "4", "--save-molecules", str(saved))
    assert done.returncode == 0, done.stderr
    molecules = torch.load(saved, weights_only=True)
    assert molecules["counts"].shape == (12,) and molecules["y"].shape == (12,)
    assert molecules["z"].dtype == torch.uint8 and molecules["z"].numel() == int(molecules["counts"].sum())
    assert molecules["pos"].shape == (molecules["z"].numel(), 3)
    assert 1 <= int(molecules["z"].min()) and int(molecules["z"].max()) <= 9  # QM9: H, C, N, O, F

    done, loaded = models_py("--molecules", "12", "--batch-size", "4", "--load-molecules", str(saved))
    assert done.returncode == 0, done.stderr
    (first,), (again,) = drawn, loaded
    # Same molecules, same radius graphs: the same edge count per timed batch.
    assert first["edges_per_batch"] == again["edges_per_batch"] and first["params"] == again["params"]


def test_a_short_molecules_file_is_refused_before_any_worker_starts(tmp_path):
    saved = tmp_path / "qm9-3.pt"
    torch.save({"z": torch.ones(6, dtype=torch.uint8), "pos": torch.zeros(6, 3), "counts": torch.tensor([2, 2, 2]),
                "y": torch.zeros(3)}, saved)
    done, records = models_py("--molecules", "5", "--load-molecules", str(saved))
    assert done.returncode != 0 and records == []
    assert f"{saved} holds 3 molecules, fewer than --molecules 5" in done.stderr


def test_the_brute_force_graph_of_a_machine_without_vesin_is_vesins():
    """The GPU machine has no vesin: the benchmarks search by brute force there and must time the same graph."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from molecule_graphs import brute_force_radius_graph
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    from geognn.data import iter_qm9_rows
    from geognn.featurize import radius_graph

    rows = list(iter_qm9_rows(30))
    pos = torch.cat([torch.as_tensor(r.pos, dtype=torch.float32) for r in rows])
    batch = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor([len(r.z) for r in rows]))
    expected, _ = radius_graph(pos, 5.0, batch)
    assert torch.equal(brute_force_radius_graph(pos, 5.0, batch), expected)
