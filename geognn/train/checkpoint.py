"""Checkpoints: written atomically, read with clear errors.

A checkpoint is a ``torch.save`` dict. Writing goes to a temporary file in the
same directory, is flushed to disk, then renamed over the target, so a crash
mid-write leaves the previous checkpoint intact rather than a truncated one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "geognn-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "model_name", "model_config", "model_state")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupted or not a geognn checkpoint."""


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Calls ``write(file_object)`` on a temporary file beside ``path``, then renames it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Saves ``state`` (must hold model_name, model_config, model_state) atomically."""
    state = {"format": FORMAT, "version": VERSION, **state}
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Loads a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: the file does not exist, cannot be unpickled
            (truncated or corrupted), or is not a geognn checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        # weights_only=False: the checkpoint holds RNG states and config dicts
        # written by geognn itself; only load checkpoints you trust.
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises several types for a damaged zip/pickle
        raise CheckpointError(
            f"checkpoint {path} is corrupted or truncated and cannot be read ({type(err).__name__}: {err}); "
            f"use best.pt or an earlier copy, or start again without --resume"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a geognn checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state.get('version')}, this geognn reads {VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    return state


def model_from_checkpoint(state_or_path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuilds the model a checkpoint was saved from (weights loaded, in eval mode)."""
    from geognn.models import build_model

    state = load_checkpoint(state_or_path, map_location) if not isinstance(state_or_path, dict) else state_or_path
    config = {k: v for k, v in state["model_config"].items() if v is not None}
    model = build_model(state["model_name"], **config)
    model.load_state_dict(state["model_state"])
    return model.eval()
