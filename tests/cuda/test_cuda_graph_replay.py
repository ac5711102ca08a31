"""CUDA-graph replays reach the kernels' own bounds checks: bad edges are dropped, nothing asserts.

The replay runs in a child process (tests/cuda/graph_replay.py), so that a
device-side assert, which poisons the CUDA context, or a fault fails this test
instead of the session. scripts/gpu_checks.sh runs the same script under
compute-sanitizer (memcheck and racecheck). Skipped without a CUDA device.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import geognn.ops as ops

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and ops.HAS_CUDA_KERNELS),
                                reason="needs a CUDA device and a CUDA build of geognn._C")


def test_replays_with_new_and_bad_data_equal_the_cpu_on_the_valid_edges():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent.parent), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, str(HERE / "graph_replay.py")], capture_output=True, text=True, env=env,
                          timeout=300)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["replay"] for r in records] == ["recorded data", "new data", "bad edges", "new data after bad"], (
        f"exit code {proc.returncode}; stderr:\n{proc.stderr[-3000:]}")
    assert all(r["ok"] for r in records), records
    assert proc.returncode == 0
