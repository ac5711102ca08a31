"""Trained models shipped inside the package: no download, checked before use.

Each model is a ``geognn train`` checkpoint stripped to what prediction needs
(``<name>.pt``) plus a card (``<name>.json``) saying what it predicts, in
which units, how it was trained (data, split, command) and how well it does
on its held-out test data (molecules, or triples of a knowledge graph). Both live in ``geognn/zoo/models/``; the card
holds the SHA-256 of the weights and the geognn version that made them, both
verified on every load.

    >>> from geognn import zoo
    >>> zoo.list()
    ['conve-umls', 'cormorant-qm9-small', 'krr-qm9-u0', 'schnet-qm9-small', 'schnet-xtb-ethanol']
    >>> zoo.families()                              # every model family, with its shipped models
    {'schnet': ['schnet-qm9-small', 'schnet-xtb-ethanol'], 'cormorant': ['cormorant-qm9-small'],
     'conve': ['conve-umls'], 'krr': ['krr-qm9-u0']}
    >>> model = zoo.load("schnet-qm9-small")        # a SchNet in eval mode, on the CPU
    >>> zoo.card("schnet-qm9-small")["metrics"]     # test MAE / RMSE per target, in the card's units
    >>> zoo.load("conve-umls").score(heads, relations)   # ConvE logits (B, 135 UMLS entities)

``cormorant-qm9-small`` is the E(3)-equivariant model of the zoo, trained at a
small budget (20,000 QM9 molecules, 14 epochs, max_l 2): it is less accurate
than ``schnet-qm9-small`` on both of its targets, as its card says. A finished
``geognn train`` run becomes a zoo entry with ``tools/make_zoo_model.py``.

The command line takes ``zoo:NAME`` wherever it takes a checkpoint:
``geognn predict --checkpoint zoo:schnet-qm9-small --input molecules.smi``,
``geognn predict --checkpoint zoo:conve-umls --query "virus,causes"``; the force field
``schnet-xtb-ethanol`` drives MD as ``GeognnCalculator("zoo:schnet-xtb-ethanol")``.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

__all__ = ["FAMILIES", "PREFIX", "ZooError", "available", "card", "checkpoint_path", "families", "list", "load",
           "resolve"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
PREFIX = "zoo:"

# Every model family geognn trains (`geognn train --model ...`): its class and task. A family that ships no
# model may say why in "none_shipped", which `geognn zoo list` prints in place of its models.
FAMILIES: dict[str, dict[str, str]] = {
    "schnet": {"label": "SchNet", "class": "geognn.models.SchNet", "task": "molecular properties"},
    "cormorant": {"label": "Cormorant", "class": "geognn.models.Cormorant", "task": "molecular properties"},
    "conve": {"label": "ConvE", "class": "geognn.models.ConvE", "task": "knowledge-graph link prediction"},
    "krr": {"label": "Kernel ridge regression", "class": "geognn.models.KernelRidge",
            "task": "molecular properties from Coulomb matrices"},
}


class ZooError(ValueError):
    """An unknown zoo name, or shipped weights that do not match their card or this geognn."""


def list() -> builtins.list[str]:  # noqa: A001 - the zoo's own list, as geognn.zoo.list()
    """Names of the shipped models, sorted."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


available = list  # the name this function had first


def families() -> dict[str, builtins.list[str]]:
    """Every model family (``FAMILIES``, in order) with the names of its shipped models (possibly none)."""
    out: dict[str, builtins.list[str]] = {family: [] for family in FAMILIES}
    for name in list():
        out.setdefault(_card(name).get("model", "other"), []).append(name)
    return out


@lru_cache(maxsize=None)
def _card(name: str) -> dict[str, Any]:
    path = MODELS_DIR / f"{name}.json"
    if not path.is_file():
        raise ZooError(f"no zoo model named {name!r}; available: {', '.join(list()) or 'none'}")
    return json.loads(path.read_text(encoding="utf-8"))


def card(name: str) -> dict[str, Any]:
    """The model card of ``name``: targets and units, training data and command, test metrics, caveats."""
    return json.loads(json.dumps(_card(name)))  # a copy the caller may modify


def checkpoint_path(name: str, verify: bool = True) -> Path:
    """Path of the weights of ``name``; with ``verify``, their SHA-256 and geognn version are checked."""
    info = _card(name)
    path = MODELS_DIR / info["file"]
    if not path.is_file():
        raise ZooError(f"zoo model {name!r}: its weights {path} are missing from this installation; "
                       "reinstall geognn")
    if verify:
        check_version(name, info)
        digest = _sha256(path)
        if digest != info["sha256"]:
            raise ZooError(f"zoo model {name!r}: {path} has SHA-256 {digest[:16]}…, its card says "
                           f"{info['sha256'][:16]}…; the file is damaged or was replaced; reinstall geognn")
    return path


def check_version(name: str, info: dict[str, Any]) -> None:
    """Refuses a model made by a newer geognn than this one (its layers may not exist here, or differ).

    A model made by an older geognn loads: checkpoints are versioned and older
    formats are read or refused by :func:`geognn.train.load_checkpoint` itself.
    """
    from geognn import __version__

    made_by = info.get("geognn_version")
    if made_by is None:
        raise ZooError(f"zoo model {name!r}: its card does not say which geognn made it; reinstall geognn")
    if _version_tuple(made_by) > _version_tuple(__version__):
        raise ZooError(f"zoo model {name!r} was made by geognn {made_by}, and this is geognn {__version__}: "
                       f"upgrade geognn (pip install -U geognn) to use it")


def _version_tuple(version: str) -> tuple[int, ...]:
    """"0.2.0" -> (0, 2, 0); suffixes such as ".dev1" or "+local" are ignored."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


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
