"""Input validation for geognn.ops, run before any kernel.

Shape, dtype and device errors raise ``ValueError``; index values out of range
raise ``IndexError`` naming the offending value and its position.

Where the values are checked depends on the device. On the CPU the C++
kernels check them as they read them (the Python checks here serve the
reference fallback and keep the messages of :func:`geognn.ops.segment`). On
CUDA a check needs a host read, which waits for the GPU, so the CUDA ops check
each index tensor once, the first time they see it, and then remember it until
it is modified (``kernels/include/geognn/index_check.h``); :func:`check_indices`
checks a batch's indices up front, in one read, so that no op has to.
"""

from __future__ import annotations

from typing import Sequence

import torch

from geognn.ops import _native

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


def as_size(n, name: str = "size"):
    """A size argument as an int, left symbolic under torch.compile (``int()`` would specialise it)."""
    if isinstance(n, (int, torch.SymInt)):
        return n
    try:
        return int(n)
    except (TypeError, ValueError) as err:
        raise TypeError(f"geognn: {name} must be an integer, got {n!r}") from err


def check_indices(indices: Sequence[tuple[str, torch.Tensor, int]], flags: Sequence[torch.Tensor] = (),
                  required: Sequence[str] = ()) -> list[bool]:
    """Validates index tensors and reads boolean flags back, with one host read.

    Args:
        indices: ``(name, index, upper)`` triples: every value of ``index``
            (int32/int64, any shape) must lie in ``[0, upper)``.
        flags: 0-d bool tensors to read back in the same transfer.
        required: one message per flag; a non-empty message makes the flag
            required (``ValueError(message)`` when it is false).

    Returns:
        The flags' values (all True while a CUDA graph is being captured, when
        nothing can be read; required flags are then not checked either).

    Raises:
        IndexError: naming the first bad index tensor, the value and its position.

    On CUDA this is the batch's one synchronisation: the validated tensors are
    remembered (until modified in place), so the ops that read them later, in
    every layer and in the backward pass, do not check them again. Under
    torch.compile it runs as an op of the compiled graph, at run time.
    """
    required = list(required) or [""] * len(flags)
    if len(required) != len(flags):
        raise ValueError(f"geognn: {len(flags)} flags but {len(required)} messages")
    tensors = []
    for name, index, _ in indices:
        if not isinstance(index, torch.Tensor) or index.dtype not in INDEX_DTYPES:
            raise ValueError(f"geognn: {name} must be an int32 or int64 tensor, got "
                             f"{getattr(index, 'dtype', type(index).__name__)}")
        tensors.append(index.long())
    device_tensors = tensors or list(flags)
    if device_tensors and _native.use_native(device_tensors[0]):
        return list(torch.ops.geognn.check_indices(
            tensors, [as_size(upper, name) for name, _, upper in indices], [name for name, _, _ in indices],
            list(flags), required))
    for (name, _, upper), index in zip(indices, tensors):
        check_index_range(index.reshape(-1), upper, name)
    values = [bool(f) for f in flags]
    for value, message in zip(values, required):
        if message and not value:
            raise ValueError(message)
    return values


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
