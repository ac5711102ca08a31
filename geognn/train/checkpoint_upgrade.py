"""Converting older or foreign checkpoints to the current, safely loadable format.

``geognn checkpoint upgrade OLD.pt NEW.pt`` runs :func:`upgrade_checkpoint`.
It reads ``OLD.pt`` in the first of these ways that works:

1. the safe loader (``torch.load(weights_only=True)``): the file is already
   plain and is only rewritten in the current format;
2. the safe loader with NumPy's array, scalar and dtype constructors added to
   its allowlist: what format-1 geognn checkpoints need (NumPy's generator
   state was stored as an array). These constructors rebuild data and call
   nothing else, so this is still safe for a file of unknown origin;
3. only with ``trust=True`` (``--trust``): the full unpickler, which runs
   whatever functions the file names. Use it only on a file whose origin you
   trust; without it the file is refused with the list of what it names.

The result is converted to plain values (:func:`~geognn.train.checkpoint.to_plain`),
written atomically and read back with the safe loader before the command
reports success.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geognn.train.checkpoint import (
    VERSION, CheckpointError, check_state, load_checkpoint, save_checkpoint, unsafe_globals)
from geognn.train.rng import rng_state_from_format_1

__all__ = ["NUMPY_DATA_GLOBALS", "NUMPY_DATA_NAMES", "upgrade_checkpoint"]


def _numpy_data_globals() -> list[tuple[Any, str]]:
    # NumPy 2 moved numpy.core to numpy._core; files name whichever wrote them.
    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    found: list[tuple[Any, str]] = []
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found += [(core._reconstruct, f"{module}._reconstruct"), (core.scalar, f"{module}.scalar")]
    found += [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:  # NumPy >= 1.25 pickles dtypes through their classes
        for name in dir(dtypes):
            cls = getattr(dtypes, name)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                found.append((cls, f"numpy.dtypes.{name}"))
    return found


NUMPY_DATA_GLOBALS = _numpy_data_globals()
NUMPY_DATA_NAMES = frozenset(name for _, name in NUMPY_DATA_GLOBALS)


def upgrade_checkpoint(source: str | os.PathLike, target: str | os.PathLike, trust: bool = False) -> dict[str, Any]:
    """Rewrites the geognn checkpoint ``source`` as a current-format file ``target``.

    Args:
        source: a format-1 or format-2 geognn checkpoint.
        target: where to write the converted file (atomically; may equal ``source``).
        trust: allow the full unpickler for a file that names functions or
            classes beyond NumPy's data types. That runs code from the file:
            pass it only for a file whose origin you trust.

    Returns:
        ``{"read_with": "safe loader" | "safe loader + NumPy arrays" | "full unpickler (trusted)",
        "from_version": int, "to_version": int, "model_name": str}``.

    Raises:
        CheckpointError: the file is missing, damaged, not a geognn checkpoint,
            or (without ``trust``) names functions or classes outside the safe set.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise CheckpointError(f"checkpoint {source} does not exist")
    state, read_with = _read(source, trust)
    state = check_state(state, source)
    from_version = state["version"]
    if from_version == 1 and isinstance(state.get("rng"), dict) and isinstance(state["rng"].get("numpy"), tuple):
        state["rng"] = rng_state_from_format_1(state["rng"])
    try:
        save_checkpoint(target, state)
    except TypeError as err:
        raise CheckpointError(f"{source} cannot be converted: {err}") from err
    load_checkpoint(target)  # proves the new file reads with the safe loader
    return {"read_with": read_with, "from_version": from_version, "to_version": VERSION,
            "model_name": state["model_name"]}


def _read(source: Path, trust: bool) -> tuple[Any, str]:
    attempts = (("safe loader", []), ("safe loader + NumPy arrays", NUMPY_DATA_GLOBALS))
    for label, extra in attempts:
        try:
            with torch.serialization.safe_globals(extra):
                return torch.load(source, map_location="cpu", weights_only=True), label
        except pickle.UnpicklingError:
            continue
        except Exception as err:
            raise CheckpointError(f"checkpoint {source} is corrupted or truncated and cannot be read "
                                  f"({type(err).__name__}: {err})") from err
    names = [n for n in unsafe_globals(source) if n not in NUMPY_DATA_NAMES]
    if not trust:
        listed = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise CheckpointError(
            f"{source} names Python functions or classes outside the safe set ({listed or 'unknown'}); reading "
            f"it would import and call them, so it was not read. If, and only if, you trust where this file "
            f"came from, run the upgrade again with --trust")
    try:
        # The user vouched for this file (--trust): the full unpickler is what they asked for.
        return torch.load(source, map_location="cpu", weights_only=False), "full unpickler (trusted)"
    except Exception as err:
        raise CheckpointError(f"{source} cannot be read even by the full unpickler "
                              f"({type(err).__name__}: {err})") from err
