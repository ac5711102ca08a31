"""Input validation for geognn.ops, run before any kernel.

Shape, dtype and device errors raise ``ValueError``; index values out of range
raise ``IndexError`` naming the offending value and its position. Value checks
need a host sync, so they are skipped while torch.compile traces (the C++
kernels check again on the CPU).
"""

from __future__ import annotations

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
INDEX_DTYPES = (torch.int32, torch.int64)
REDUCTIONS = ("sum", "mean", "max", "min")


def _compiling() -> bool:
    return torch.compiler.is_compiling()


def check_values(t, name: str) -> None:
    """``t`` must be a floating-point tensor with at least one dimension."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"geognn: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"geognn: {name} must be float16, bfloat16, float32 or float64, got {t.dtype}; "
            f"convert it with {name}.float()"
        )
    if t.dim() == 0:
        raise ValueError(f"geognn: {name} must have at least one dimension (rows), got a scalar")


def as_index(t, name: str) -> torch.Tensor:
    """Validates a 1-D int32/int64 index and returns it as int64 (no copy if already int64)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"geognn: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in INDEX_DTYPES:
        raise ValueError(f"geognn: {name} must be int32 or int64, got {t.dtype}")
    if t.dim() != 1:
        raise ValueError(f"geognn: {name} must be 1-D, got shape {tuple(t.shape)}")
    return t.long()


def check_reduce(reduce: str) -> None:
    if reduce not in REDUCTIONS:
        raise ValueError(f"geognn: reduce must be one of {REDUCTIONS}, got {reduce!r}")


def check_same_device(**tensors: torch.Tensor) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        listed = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise ValueError(f"geognn: all inputs must be on one device, got {listed}")


def check_index_range(index: torch.Tensor, upper: int, name: str) -> None:
    """Raises IndexError naming the first value of ``index`` outside ``[0, upper)``."""
    if _compiling() or index.numel() == 0:
        return
    bad = (index < 0) | (index >= upper)
    if bool(bad.any()):
        pos = int(bad.nonzero()[0, 0])
        raise IndexError(
            f"geognn: {name}[{pos}] = {int(index[pos])} is out of range for {upper} rows "
            f"(valid: 0..{upper - 1})"
        )


def check_indptr(indptr: torch.Tensor, num_src_rows: int) -> None:
    """CSR offsets: starts at 0, never decreases, ends at the number of source rows."""
    if indptr.numel() == 0:
        raise ValueError("geognn: indptr must hold num_segments + 1 entries, got an empty tensor")
    if _compiling():
        return
    if int(indptr[0]) != 0:
        raise IndexError(f"geognn: indptr[0] must be 0, got {int(indptr[0])}")
    steps = indptr[1:] - indptr[:-1]
    if bool((steps < 0).any()):
        pos = int((steps < 0).nonzero()[0, 0]) + 1
        raise IndexError(
            f"geognn: indptr must be non-decreasing, but indptr[{pos}] = {int(indptr[pos])} "
            f"< indptr[{pos - 1}] = {int(indptr[pos - 1])}"
        )
    if int(indptr[-1]) != num_src_rows:
        raise IndexError(
            f"geognn: indptr[-1] = {int(indptr[-1])} must equal the number of rows of src ({num_src_rows})"
        )
