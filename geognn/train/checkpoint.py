"""Checkpoints: written atomically, read with torch's safe loader only.

A checkpoint is a ``torch.save`` dict of plain values: tensors, numbers,
strings, booleans, ``None`` and lists, tuples and dicts of them (model and
optimiser state dicts, configuration, history, generator states as tensors).
:func:`save_checkpoint` refuses anything else, and :func:`load_checkpoint`
reads with ``torch.load(weights_only=True)``, whose unpickler rebuilds only
those types and never imports or calls a function named in the file. A model
file from a colleague, a paper or a forum therefore cannot run code on the
machine that loads it; a file that needs anything more is refused with a
:class:`CheckpointError` saying which functions or classes it names.

Format versions: 2 (this one) stores the generator states as tensors.
Format 1 (geognn 0.1) stored NumPy's generator state as a NumPy array,
which the safe loader refuses; ``geognn checkpoint upgrade OLD.pt NEW.pt``
converts such a file without running anything in it (see
:mod:`geognn.train.checkpoint_upgrade`). Format-1 files that hold no NumPy
object (the weights-only files of the zoo) load as they are.

Writing goes to a temporary file in the same directory, is flushed to disk,
then renamed over the target, so a crash mid-write leaves the previous
checkpoint intact rather than a truncated one.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools
import zipfile
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

FORMAT = "geognn-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
REQUIRED_KEYS = ("format", "version", "model_name", "model_config", "model_state")
_PLAIN_SCALARS = (bool, int, float, str, type(None), torch.dtype, torch.device)


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupted, unsafe or not a geognn checkpoint."""


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Calls ``write(file_object)`` on a temporary file beside ``path``, then renames it to ``path``.

    The file gets the user's usual permissions (0666 minus the umask), as every file geognn writes.
    """
    from geognn.data.atomic_io import _create_temporary

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def to_plain(value: Any, where: str = "state") -> Any:
    """A copy of ``value`` made only of types the safe loader rebuilds.

    Tensors (parameters become plain tensors), bool/int/float/str/None, torch
    dtypes and devices, and lists, tuples and dicts of them pass; NumPy arrays
    become tensors, NumPy scalars Python numbers, paths strings. A state
    dict's ``OrderedDict`` type and ``_metadata`` are kept so
    ``load_state_dict`` sees what it saved.

    Raises:
        TypeError: naming the entry (e.g. ``state['history'][3]['lr']``) that
            holds any other object.
    """
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            raise TypeError(f"checkpoint entry {where} is a tensor subclass {type(value).__qualname__}, "
                            "which the safe loader refuses; store a plain tensor")
        return value.detach() if type(value) is torch.nn.Parameter else value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"checkpoint entry {where} is a NumPy array of Python objects; store numbers")
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        plain = collections.OrderedDict() if isinstance(value, collections.OrderedDict) else {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise TypeError(f"checkpoint entry {where} has a key of type {type(key).__qualname__}")
            plain[key] = to_plain(item, f"{where}[{key!r}]")
        if hasattr(value, "_metadata"):
            plain._metadata = to_plain(value._metadata, f"{where}._metadata")
        return plain
    if isinstance(value, (list, tuple)):
        items = [to_plain(item, f"{where}[{k}]") for k, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"checkpoint entry {where} is a {type(value).__module__}.{type(value).__qualname__}; "
                    "checkpoints hold only tensors, numbers, strings, booleans, None, lists and dicts")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Saves ``state`` (must hold model_name, model_config, model_state) atomically.

    The state is converted with :func:`to_plain` first, so what is written
    always loads with the safe loader.

    Raises:
        ValueError: a required key is missing.
        TypeError: an entry holds an object the safe loader cannot rebuild.
    """
    state = {**state, "format": FORMAT, "version": VERSION}
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    plain = to_plain(state)
    atomic_write_bytes(path, lambda f: torch.save(plain, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Loads a checkpoint written by :func:`save_checkpoint`, never running code from the file.

    Raises:
        CheckpointError: the file does not exist; it names functions or
            classes outside the safe set (nothing in it is run; the message
            lists them and says how to upgrade a format-1 file); it is
            truncated or corrupted; or it is not a geognn checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(explain_refusal(path, err)) from None
    except Exception as err:  # torch raises several types for a damaged zip/pickle
        raise CheckpointError(
            f"checkpoint {path} is corrupted or truncated and cannot be read ({type(err).__name__}: {err}); "
            f"use best.pt or an earlier copy, or start again without --resume"
        ) from err
    return check_state(state, path)


def check_state(state: Any, path: str | os.PathLike) -> dict[str, Any]:
    """``state`` if it is a geognn checkpoint of a readable version, else a :class:`CheckpointError`."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a geognn checkpoint")
    if state.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"{path} has checkpoint format {state.get('version')}; this geognn reads "
                              f"{', '.join(map(str, READABLE_VERSIONS))}: update geognn to read it")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    return state


def explain_refusal(path: str | os.PathLike, err: Exception | None = None) -> str:
    """Why the safe loader refused ``path`` and what the user can do, found without unpickling it."""
    from geognn.train.checkpoint_upgrade import NUMPY_DATA_NAMES

    names = unsafe_globals(path)
    if not names:
        detail = f" ({err})" if err is not None else ""
        return (f"checkpoint {path} is corrupted and cannot be read{detail}; "
                "use best.pt or an earlier copy, or start again without --resume")
    listed = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    if set(names) <= NUMPY_DATA_NAMES and declares_geognn_format(path):
        return (f"{path} was written by an earlier geognn (checkpoint format 1, with NumPy arrays inside), "
                f"which the safe loader refuses; nothing in it was run. Convert it once with "
                f"`geognn checkpoint upgrade {path} NEW.pt`: the conversion reads only NumPy arrays and numbers, "
                f"never code")
    return (f"{path} was refused: it names Python functions or classes outside the safe set ({listed}), and "
            f"unpickling it would import and call them, so nothing in it was run. geognn checkpoints hold only "
            f"tensors, numbers and strings. If, and only if, you trust where this file came from, convert it "
            f"with `geognn checkpoint upgrade {path} NEW.pt --trust`")


def unsafe_globals(path: str | os.PathLike) -> list[str]:
    """Functions and classes a ``torch.save`` file names outside the safe set (read, never imported)."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # not a torch file, or damaged: there is nothing to list
        return []


def declares_geognn_format(path: str | os.PathLike) -> bool:
    """Whether the pickle inside ``path`` contains the string ``"geognn-checkpoint"``.

    Read by walking the pickle's opcodes (:func:`pickletools.genops`), which
    decodes them without executing any. A file can claim to be anything, so
    this only chooses the advice given, never whether a file is loaded.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
            if not names:
                return False
            payload = archive.read(names[0])
        return any(arg == FORMAT for _, arg, _ in pickletools.genops(io.BytesIO(payload)))
    except Exception:  # damaged zip or pickle: no claim found
        return False


def model_from_checkpoint(state_or_path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuilds the model a checkpoint was saved from (weights loaded, in eval mode).

    Args:
        state_or_path: a path (loaded safely with :func:`load_checkpoint`) or
            the dict :func:`load_checkpoint` returned.
    """
    from geognn.models import build_model

    state = load_checkpoint(state_or_path, map_location) if not isinstance(state_or_path, dict) else state_or_path
    config = {k: v for k, v in state["model_config"].items() if v is not None}
    model = build_model(state["model_name"], **config)
    model.load_state_dict(state["model_state"])
    return model.eval()
