"""ConvE under torchrun (two CPU processes, gloo): identical replicas, batch-norm statistics included."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from geognn.data import KGDataset


def test_two_process_kg_training_keeps_replicas_and_their_batch_norm_statistics_identical(tmp_path):
    worker = Path(__file__).with_name("kg_ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
         str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0["world_size"] == 2
    # Each rank takes half of the unique (head, relation) pairs per epoch, in batches of 128.
    pairs = len(KGDataset("nations").training_index())
    assert rank0["steps"] == rank1["steps"] == 2 * -(-(pairs // 2 + pairs % 2) // 128)
    # Running means and variances are buffers each replica updates itself: rank 0's are sent to all.
    for key, value in rank0["state"].items():
        torch.testing.assert_close(value, rank1["state"][key], rtol=0, atol=0, msg=key)
    # Validation was ranked in two shards and summed: both ranks saw the same MRR.
    assert rank0["val_mrr"] == rank1["val_mrr"]
    assert rank0["num_ranked"] == 2 * 201 and (tmp_path / "best.pt").is_file()
