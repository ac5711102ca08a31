"""Peak memory of one trial, for the ``memory`` objective of ``geognn tune``.

On a GPU: the most memory torch's allocator held during the trial
(``torch.cuda.max_memory_allocated`` after a reset). On a CPU under Linux:
the process's peak resident set size (``VmHWM``), reset at the start of the
trial by writing ``5`` to ``/proc/self/clear_refs``; it includes what the
process held before the trial (the interpreter, torch, the data), the same
for every trial of one worker, so trials compare on their differences.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _resident_peak_kib() -> int | None:
    try:
        match = re.search(r"VmHWM:\s+(\d+)\s+kB", _STATUS.read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_resident_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def can_measure(device: str) -> bool:
    """Whether :class:`PeakMemory` can measure trials on ``device`` ("cpu", "cuda", "cuda:N", "auto")."""
    if _is_cuda(device):
        return True
    return _resident_peak_kib() is not None and _reset_resident_peak()


class PeakMemory:
    """Context manager: ``peak_mib`` is the trial's peak memory in MiB after exit (None if not measurable)."""

    def __init__(self, device: str = "cpu"):
        self.cuda = _is_cuda(device)
        self.device = device
        self.peak_mib: float | None = None
        self._reset = False

    def __enter__(self) -> "PeakMemory":
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self._cuda_device())
        else:
            self._reset = _reset_resident_peak()
        return self

    def __exit__(self, *exc) -> bool:
        if self.cuda:
            self.peak_mib = torch.cuda.max_memory_allocated(self._cuda_device()) / 2**20
        elif self._reset:
            kib = _resident_peak_kib()
            self.peak_mib = kib / 1024 if kib is not None else None
        return False

    def _cuda_device(self):
        return None if self.device in ("auto", "cuda") else torch.device(self.device)


def _is_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
