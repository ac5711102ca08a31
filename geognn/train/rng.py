"""Seeding and the random-number-generator state stored in checkpoints.

The state is kept as tensors, integers and strings only, so a checkpoint that
holds it loads with ``torch.load(weights_only=True)``: Python's Mersenne
Twister as its 625 words, NumPy's legacy global generator as its key tensor
plus position and Gaussian cache, torch's CPU generator as its byte tensor.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["rng_state", "seed_everything", "set_rng_state"]


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators, as plain values and tensors."""
    version, words, gauss_next = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": {"version": version, "words": torch.tensor(words, dtype=torch.int64), "gauss_next": gauss_next},
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores the generators from :func:`rng_state`'s output."""
    python = state["python"]
    random.setstate((python["version"], tuple(int(w) for w in python["words"].tolist()), python["gauss_next"]))
    numpy_state = state["numpy"]
    np.random.set_state({
        "bit_generator": numpy_state["bit_generator"],
        "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
        "has_gauss": numpy_state["has_gauss"],
        "gauss": numpy_state["gauss"],
    })
    torch.set_rng_state(state["torch"])


def rng_state_from_format_1(old: dict[str, Any]) -> dict[str, Any]:
    """Converts the generator state of a format-1 checkpoint (Python's and NumPy's raw tuples).

    Format 1 stored ``random.getstate()`` and ``np.random.get_state()``
    as they are: ``(version, words, gauss_next)`` and ``("MT19937", key,
    pos, has_gauss, gauss)`` with ``key`` a uint32 array (already turned into a
    tensor or kept as an array).
    """
    version, words, gauss_next = old["python"]
    name, key, pos, has_gauss, gauss = old["numpy"]
    key = torch.as_tensor(np.asarray(key, dtype=np.int64))
    return {
        "python": {"version": int(version), "words": torch.tensor([int(w) for w in words], dtype=torch.int64),
                   "gauss_next": gauss_next},
        "numpy": {"bit_generator": str(name), "key": key, "pos": int(pos), "has_gauss": int(has_gauss),
                  "gauss": float(gauss)},
        "torch": old["torch"],
    }
