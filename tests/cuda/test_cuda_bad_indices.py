"""No entry point of geognn's ops crashes on a bad index: a clean Python error, and the device still works.

The calls run in a child process (tests/cuda/cuda_cases.py), so that a
segmentation fault or a poisoned CUDA context fails this test instead of the
test session. The CPU run needs no GPU and runs everywhere; the CUDA run skips
where there is no CUDA device or CUDA build.
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
REPO = HERE.parent.parent

DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(not ops.HAS_CPU_KERNELS, reason="native extension not built")),
    pytest.param("cuda", marks=pytest.mark.skipif(not (torch.cuda.is_available() and ops.HAS_CUDA_KERNELS),
                                                  reason="needs a CUDA device and a CUDA build of geognn._C")),
]


def run_cases(device):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, str(HERE / "cuda_cases.py"), device], capture_output=True, text=True,
                          env=env, timeout=600)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, records


@pytest.mark.parametrize("device", DEVICES)
def test_every_bad_index_entry_point_raises_a_clean_error_and_leaves_the_device_working(device):
    sys.path.insert(0, str(HERE))
    try:
        from cuda_cases import cases
    finally:
        sys.path.remove(str(HERE))
    names = [name for name, _, _, _ in cases()]
    proc, records = run_cases(device)
    done = [r["case"] for r in records if "case" in r]
    if not records or "done" not in records[-1]:
        crashed = names[len(done)] if len(done) < len(names) else "after the last case"
        pytest.fail(f"the child process died (exit code {proc.returncode}) in case {crashed!r}; "
                    f"stderr:\n{proc.stderr[-3000:]}")
    assert done == names
    problems = []
    for r in records[:-1]:
        if r["alive"] is not None:
            problems.append(f"{r['case']}: the device no longer works afterwards: {r['alive']}")
        if r["error"] is None:
            if not (device == "cpu" and r["may_pass_on_cpu"]):
                problems.append(f"{r['case']}: no error")
        elif not r["is_index_or_value_error"]:
            problems.append(f"{r['case']}: {r['error']} instead of IndexError/ValueError: {r['message']}\n"
                            f"{r.get('traceback', '')}")
        elif r["expected"] not in r["message"]:
            problems.append(f"{r['case']}: the message does not name {r['expected']!r}: {r['message']}")
    assert not problems, "\n".join(problems)
