"""Input validation for geognn.ops, run before any kernel.

Shape, dtype and device errors raise ``ValueError``; index values out of range
raise ``IndexError`` naming the offending value and its position.

Where the values are checked depends on the device. On the CPU the C++
kernels check them as they read them (the Python checks here serve the
reference fallback and keep the messages of :func:`geognn.ops.segment`). On
CUDA a check needs a host read, which waits for the GPU: the CUDA ops check
every index tensor a caller gives them, at every call, and trust only the
tensors geognn made itself (CSR layouts, and the copies :func:`check_indices`
returns) until they are modified (``kernels/include/geognn/index_check.h``
says what that relies on). So a batch's indices are checked up front, in one
read, and the graph is built from the returned copies: no op has to read again.
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


IndexSpec = tuple  # (name, index, upper[, lower[, unit[, value_error]]])


def check_indices(indices: Sequence[IndexSpec], flags: Sequence[torch.Tensor] = (),
                  required: Sequence[str] = (), *, recheck: bool = True) -> tuple[list[torch.Tensor], list[bool]]:
    """Validates index tensors and reads boolean flags back, with one host read, and returns checked copies.

    Args:
        indices: ``(name, index, upper)`` triples, optionally with a lower
            bound, a unit and an error kind (``(name, index, upper, lower,
            unit, value_error)``, defaults 0, ``"rows"`` and False): every
            value of ``index`` (int32/int64, any shape) must lie in ``[lower,
            upper)``; ``unit`` names what the bounds count in the error
            message; ``value_error`` raises ValueError instead of IndexError
            (for inputs that are values, such as atomic numbers).
        flags: 0-d bool tensors to read back in the same transfer.
        required: one message per flag; a non-empty message makes the flag
            required (``ValueError(message)`` when it is false).
        recheck: read every index (the default). ``False`` trusts the tensors
            geognn already remembers as valid (the copies an earlier call
            returned, views of them, CSR layouts geognn built) and reads only
            the others.

    Returns:
        ``(checked, values)``: int64 contiguous copies of ``indices``, which
        geognn owns and remembers as valid, and the flags' values (all True
        while a CUDA graph is being captured, when nothing can be read;
        required flags are then not checked either, and the copies are not
        remembered).

    Raises:
        IndexError: naming the first bad index tensor, the value and its position
            (ValueError for a check marked ``value_error``).

    On CUDA this is a batch's one synchronisation: the ops that later read the
    returned copies (in every layer and in the backward pass) do not check them
    again, while a caller's own tensors are checked at every op that receives
    them, so nothing a caller does to its tensors afterwards can fool the ops.
    Under torch.compile it runs as an op of the compiled graph, at run time.
    """
    required = list(required) or [""] * len(flags)
    if len(required) != len(flags):
        raise ValueError(f"geognn: {len(flags)} flags but {len(required)} messages")
    names, tensors, lower, upper, units, value_errors = [], [], [], [], [], []
    for spec in indices:
        name, index, up = spec[0], spec[1], spec[2]
        low = spec[3] if len(spec) > 3 else 0
        unit = spec[4] if len(spec) > 4 else "rows"
        value_errors.append(bool(spec[5]) if len(spec) > 5 else False)
        if not isinstance(index, torch.Tensor) or index.dtype not in INDEX_DTYPES:
            raise ValueError(f"geognn: {name} must be an int32 or int64 tensor, got "
                             f"{getattr(index, 'dtype', type(index).__name__)}")
        names.append(name)
        tensors.append(index)
        lower.append(as_size(low, name))
        upper.append(as_size(up, name))
        units.append(unit)
    device_tensors = tensors or list(flags)
    if device_tensors and _native.use_native(device_tensors[0]):
        checked, values = torch.ops.geognn.check_indices(tensors, lower, upper, names, units, value_errors,
                                                         list(flags), required, recheck)
        return list(checked), list(values)
    checked = [index.long() for index in tensors]
    for name, index, low, up, unit, value_error in zip(names, checked, lower, upper, units, value_errors):
        try:
            check_index_range(index.reshape(-1), up, name, low, unit)
        except IndexError as err:
            if value_error:
                raise ValueError(str(err)) from None
            raise
    values = [bool(f) for f in flags]
    for value, message in zip(values, required):
        if message and not value:
            raise ValueError(message)
    return checked, values


def check_index_range(index: torch.Tensor, upper: int, name: str, lower: int = 0, unit: str = "rows") -> None:
    """Raises IndexError naming the first value of ``index`` outside ``[lower, upper)``."""
    if _compiling() or index.numel() == 0:
        return
    bad = (index < lower) | (index >= upper)
    if bool(bad.any()):
        pos = int(bad.nonzero()[0, 0])
        extent = f"{upper} {unit}" if lower == 0 else unit
        raise IndexError(
            f"geognn: {name}[{pos}] = {int(index[pos])} is out of range for {extent} "
            f"(valid: {lower}..{upper - 1})"
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
