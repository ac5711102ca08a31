"""What a benchmark ran on: CPU, cores, memory, GPU, load, library versions and the git commit.

Figures from a shared machine mean little without the load beside them, so
the load average is taken before and after the run and both are recorded.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def gpus() -> list[str]:
    """Names of the CUDA devices torch sees (empty without a GPU or a CUDA build of torch)."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_state(root: Path) -> dict[str, object]:
    """Commit and whether the tree has uncommitted changes; ``{"commit": None}`` outside a checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}


def snapshot() -> dict[str, object]:
    """The machine record, taken when a run starts (``load_after`` is added when it ends)."""
    return {"cpu_model": cpu_model(), "cores": usable_cores(), "logical_cpus": os.cpu_count(),
            "memory_gib": memory_gib(), "gpus": gpus(), "os": f"{platform.system()} {platform.release()}",
            "load_before": load_average()}


def versions() -> dict[str, str]:
    """Python and the libraries every suite uses (peers' versions are in the peer status)."""
    import numpy
    import torch

    import geognn

    return {"python": platform.python_version(), "geognn": geognn.__version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "native_kernels": str(bool(geognn.ops.HAS_CPU_KERNELS)),
            "cuda": torch.version.cuda or "none (CPU build of torch)"}
