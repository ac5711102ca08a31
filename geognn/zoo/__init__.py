"""Trained models shipped inside the package: no download, checked before use.

Each model is a ``geognn train`` checkpoint stripped to what prediction needs
(``<name>.pt``) plus a card (``<name>.json``) saying what it predicts, in
which units, how it was trained (data, split, command) and how well it does
on its held-out test data (molecules, or triples of a knowledge graph). Both live in ``geognn/zoo/models/``; the card
holds the SHA-256 of the weights, verified on every load.

    >>> from geognn import zoo
    >>> zoo.available()
    ['conve-umls', 'schnet-qm9-small']
    >>> model = zoo.load("schnet-qm9-small")        # a SchNet in eval mode, on the CPU
    >>> zoo.card("schnet-qm9-small")["metrics"]     # test MAE / RMSE per target, in the card's units
    >>> zoo.load("conve-umls").score(heads, relations)   # ConvE logits (B, 135 UMLS entities)

The command line takes ``zoo:NAME`` wherever it takes a checkpoint:
``geognn predict --checkpoint zoo:schnet-qm9-small --input molecules.smi``,
``geognn predict --checkpoint zoo:conve-umls --query "virus,causes"``.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

__all__ = ["PREFIX", "ZooError", "available", "card", "checkpoint_path", "load", "resolve"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
PREFIX = "zoo:"


class ZooError(ValueError):
    """An unknown zoo name, or shipped weights that do not match their card."""


def available() -> list[str]:
    """Names of the shipped models, sorted."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def _card(name: str) -> dict[str, Any]:
    path = MODELS_DIR / f"{name}.json"
    if not path.is_file():
        raise ZooError(f"no zoo model named {name!r}; available: {', '.join(available()) or 'none'}")
    return json.loads(path.read_text(encoding="utf-8"))


def card(name: str) -> dict[str, Any]:
    """The model card of ``name``: targets and units, training data and command, test metrics, caveats."""
    return json.loads(json.dumps(_card(name)))  # a copy the caller may modify


def checkpoint_path(name: str, verify: bool = True) -> Path:
    """Path of the weights of ``name``; with ``verify``, their SHA-256 is checked against the card."""
    info = _card(name)
    path = MODELS_DIR / info["file"]
    if not path.is_file():
        raise ZooError(f"zoo model {name!r}: its weights {path} are missing from this installation; "
                       "reinstall geognn")
    if verify:
        digest = _sha256(path)
        if digest != info["sha256"]:
            raise ZooError(f"zoo model {name!r}: {path} has SHA-256 {digest[:16]}…, its card says "
                           f"{info['sha256'][:16]}…; the file is damaged or was replaced; reinstall geognn")
    return path


def load(name: str, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained model ``name`` in eval mode on ``device`` (weights verified first).

    What it takes is in ``card(name)["inputs"]``. A molecule model takes a PyG
    ``Data``/``Batch`` with ``z`` (N,) atomic numbers and ``pos`` (N, 3) in Å
    (the radius graph is built when absent) and returns ``{"y": (B, T)}`` in
    the units of ``card(name)["units"]``; a knowledge-graph model (ConvE) scores
    (B,) head and relation ids against every entity, ``(B, num_entities)``
    logits. The labels of a knowledge-graph model are in its checkpoint
    (``load_checkpoint(checkpoint_path(name))["entities"]``).
    """
    from geognn.train.checkpoint import model_from_checkpoint

    return model_from_checkpoint(checkpoint_path(name), map_location=device).to(device)


def resolve(checkpoint: str | Path) -> Path:
    """``zoo:NAME`` -> the verified weights of that zoo model; anything else is returned as a path."""
    text = str(checkpoint)
    if text.startswith(PREFIX):
        return checkpoint_path(text[len(PREFIX):])
    return Path(checkpoint)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
