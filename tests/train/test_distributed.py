"""Two CPU processes under torchrun (gloo): the DDP replicas end with identical weights."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.mark.parametrize("model", ["schnet", "cormorant"])
def test_two_process_gloo_training_keeps_replicas_identical(tmp_path, model):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
         str(tmp_path), model],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0["world_size"] == 2
    # 24 training molecules, 2 ranks, batches of 4: 3 steps per epoch per rank, 2 epochs.
    assert rank0["steps"] == rank1["steps"] == 6
    # The replicas started from different random weights (seeded by rank);
    # DDP broadcasts rank 0's at wrap time and averages gradients after.
    for key, value in rank0["state"].items():
        torch.testing.assert_close(value, rank1["state"][key], rtol=0, atol=0, msg=key)
    for key, value in rank0["ema"].items():
        torch.testing.assert_close(value, rank1["ema"][key], rtol=0, atol=0, msg=f"EMA {key}")
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "metrics.json").is_file()
