"""Train/validation/test splits: seeded random, Bemis–Murcko scaffold, and their JSON files.

A split is saved with the run that used it, so an evaluation can be repeated
on exactly the same molecules even if a random generator changes between
library versions.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch

from geognn.data.atomic_io import atomic_write_text

_SPLIT_FORMAT = "geognn-split/1"
Size = int | float | None


class Split(NamedTuple):
    """Three disjoint (k,) int64 index tensors into a dataset: ``train``, ``valid``, ``test``.

    Unpacks like a tuple: ``train, valid, test = random_split(len(ds))``.
    """

    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    def save(self, path: str | os.PathLike, n: int | None = None, **info: Any) -> Path:
        """Writes this split to a JSON file atomically; see :func:`save_split`."""
        return save_split(self, path, n=n, **info)


def _resolve_sizes(n: int, sizes: Sequence[Size]) -> list[int]:
    if len(sizes) != 3:
        raise ValueError(f"sizes must have three entries (train, valid, test), got {sizes!r}")
    sizes = list(sizes)
    if all(isinstance(s, float) for s in sizes) and abs(sum(sizes) - 1.0) < 1e-9:
        # Fractions that cover everything: rounding must not lose or add items, so train takes the rest.
        sizes[0] = None
    if sum(s is None for s in sizes) > 1:
        raise ValueError(f"at most one size may be None (the rest), got {sizes!r}")
    counts: list[int | None] = []
    for s in sizes:
        if s is None:
            counts.append(None)
        elif isinstance(s, float) and 0.0 <= s <= 1.0:
            counts.append(int(s * n))
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0:
            counts.append(int(s))
        else:
            raise ValueError(f"each size must be a count >= 0, a fraction in [0, 1] or None, got {s!r}")
    fixed = sum(c for c in counts if c is not None)
    if fixed > n:
        raise ValueError(f"split sizes {sizes!r} need {fixed} items but the dataset has {n}")
    return [n - fixed if c is None else c for c in counts]


def random_split(n: int, sizes: Sequence[Size] = (110_000, 10_000, None), seed: int = 0) -> Split:
    """A seeded random split of ``range(n)``.

    ``sizes`` holds three counts (ints), fractions of ``n`` (floats below 1)
    or ``None`` for "the rest" (at most one). The default is the usual QM9
    split: 110,000 train, 10,000 validation, the rest (10,831) test. The
    permutation comes from ``numpy.random.default_rng(seed)``; save the split
    (:meth:`Split.save`) to keep it exact across versions.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    counts = _resolve_sizes(n, sizes)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n).astype(np.int64))
    a, b = counts[0], counts[0] + counts[1]
    return Split(order[:a], order[a:b], order[b : b + counts[2]])


def murcko_scaffold(smiles: str, include_chirality: bool = False) -> str:
    """The Bemis–Murcko scaffold SMILES of a molecule ("" for an acyclic one).

    Raises ``ValueError`` when RDKit cannot parse ``smiles``.
    """
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=include_chirality)


def scaffold_split(
    smiles: Sequence[str], sizes: Sequence[Size] = (0.8, 0.1, 0.1), seed: int | None = None
) -> Split:
    """Splits molecules so that no Bemis–Murcko scaffold is shared between parts.

    Molecules are grouped by scaffold (:func:`murcko_scaffold`). With
    ``seed=None`` (deterministic, the common benchmark convention) groups go
    to train, then valid, then test, largest first. With a seed, groups larger
    than half the test size go first and the rest in a seeded random order, so
    several seeds give several scaffold splits. Part sizes are met as closely
    as whole groups allow; a group never straddles two parts, and a group
    that fits in no part goes to the part with the most room left.

    Raises ``ValueError`` naming the position of a SMILES RDKit cannot parse.
    """
    n = len(smiles)
    target = _resolve_sizes(n, sizes)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(smiles):
        try:
            groups[murcko_scaffold(s)].append(i)
        except ValueError as err:
            raise ValueError(f"molecule {i}: {err}") from None
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    if seed is not None:
        big = [g for g in ordered if len(g) > target[2] / 2]
        small = [g for g in ordered if len(g) <= target[2] / 2]
        rng = np.random.default_rng(seed)
        ordered = big + [small[k] for k in rng.permutation(len(small))]
    parts: list[list[int]] = [[], [], []]
    for group in ordered:
        fits = [k for k in range(3) if len(parts[k]) + len(group) <= target[k]]
        # A group that fits nowhere goes where the most room is left, so one huge
        # scaffold (e.g. all acyclic molecules) lands in train rather than in test.
        k = fits[0] if fits else max(range(3), key=lambda j: (target[j] - len(parts[j]), -j))
        parts[k].extend(group)
    return Split(*(torch.tensor(sorted(p), dtype=torch.int64) for p in parts))


def save_split(split: Split, path: str | os.PathLike, n: int | None = None, **info: Any) -> Path:
    """Writes ``split`` to ``path`` as JSON, atomically.

    ``n`` (the dataset size) and any JSON-serialisable ``info`` (seed,
    dataset name, sizes) are stored beside the indices and checked or
    returned by :func:`load_split`.
    """
    record = {
        "format": _SPLIT_FORMAT,
        "n": n,
        "info": info,
        **{name: part.tolist() for name, part in zip(Split._fields, split)},
    }
    return atomic_write_text(path, json.dumps(record) + "\n")


def load_split(path: str | os.PathLike, n: int | None = None) -> Split:
    """Reads a split written by :func:`save_split`.

    Raises ``ValueError`` naming the file when it is not a geognn split, the
    parts overlap, an index is out of range, or ``n`` differs from the stored
    dataset size.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(record, dict) or record.get("format") != _SPLIT_FORMAT:
        raise ValueError(f"{path}: not a geognn split file (format {_SPLIT_FORMAT!r} expected)")
    stored_n = record.get("n")
    if n is not None and stored_n is not None and n != stored_n:
        raise ValueError(f"{path}: split was made for {stored_n} items, dataset has {n}")
    limit = n if n is not None else stored_n
    parts = []
    for name in Split._fields:
        values = record.get(name)
        if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
            raise ValueError(f"{path}: {name!r} must be a list of integers")
        part = torch.tensor(values, dtype=torch.int64)
        if part.numel() and (int(part.min()) < 0 or (limit is not None and int(part.max()) >= limit)):
            raise ValueError(f"{path}: {name!r} holds an index outside [0, {limit})")
        parts.append(part)
    joined = torch.cat(parts)
    if joined.unique().numel() != joined.numel():
        raise ValueError(f"{path}: train, valid and test overlap or repeat an index")
    return Split(*parts)


def split_info(path: str | os.PathLike) -> dict[str, Any]:
    """The ``n`` and ``info`` stored with a split file (see :func:`save_split`)."""
    record = json.loads(Path(path).read_text())
    return {"n": record.get("n"), **record.get("info", {})}
