"""Turning the training data a user names on the command line into graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch_geometric.data import Data

from geognn.cli.inputs import MoleculeRecord, Skipped, read_molecules

# QM9 targets that are per-molecule properties rather than sums over atoms.
INTENSIVE_QM9_TARGETS = {"mu", "homo", "lumo", "gap"}


def attach_graph(data: Data, cutoff: float) -> Data:
    """Adds ``edge_index`` (2, E) for pairs closer than ``cutoff`` Å (no PBC); done once, before training."""
    from geognn.featurize import radius_graph

    data.edge_index, _ = radius_graph(data.pos, cutoff)  # non-periodic: the shifts are all zero
    return data


def default_readouts(targets: Sequence[str]) -> list[str]:
    """"mean" for intensive QM9 targets (dipole, orbital energies, gap), "sum" otherwise."""
    return ["mean" if t in INTENSIVE_QM9_TARGETS else "sum" for t in targets]


def qm9_sets(targets: Sequence[str], sizes: tuple[int | None, int | None, int | None], seed: int, cutoff: float,
             limit: int | None = None, progress: bool = True):
    """Random train/validation/test lists of QM9 graphs; returns ``(train, val, test, units, info)``."""
    from geognn.data import QM9, random_split

    dataset = QM9(list(targets), limit=limit, progress=progress)
    n_train, n_val, n_test = sizes
    n_train = 110_000 if n_train is None else n_train
    n_val = 10_000 if n_val is None else n_val
    split = random_split(len(dataset), (n_train, n_val, n_test), seed=seed)
    make = lambda idx: [attach_graph(dataset[int(i)], cutoff) for i in idx]  # noqa: E731
    info = {"dataset": "qm9", "atomization": True, "split_seed": seed, "qm9_molecules": len(dataset),
            "n_train": len(split.train), "n_val": len(split.valid), "n_test": len(split.test)}
    return make(split.train), make(split.valid), make(split.test), dataset.units, info


def record_to_data(record: MoleculeRecord, targets: Sequence[str] = (), dtype=torch.float32) -> Data:
    """A PyG ``Data`` (z, pos in Å, y (1, T), forces if present) from a read molecule."""
    data = Data(z=torch.as_tensor(record.z, dtype=torch.long), pos=torch.as_tensor(record.pos, dtype=dtype))
    if targets:
        data.y = torch.tensor([[record.properties[t] for t in targets]], dtype=dtype)
    if "forces" in record.properties:
        data.forces = torch.as_tensor(record.properties["forces"], dtype=dtype)
    data.identifier = record.identifier
    return data


def file_sets(path: Path, targets: Sequence[str], smiles_column: str, sizes, seed: int, cutoff: float,
              conformer_seed: int = 0):
    """Train/validation/test lists from a user file; returns ``(train, val, test, skipped, info)``.

    Without sizes the split is 80/10/10 %.
    """
    from geognn.data import random_split

    records, skipped = read_molecules(path, smiles_column=smiles_column, property_columns=tuple(targets),
                                      seed=conformer_seed)
    if len(records) < 3:
        raise ValueError(f"{path}: only {len(records)} usable molecules ({len(skipped)} skipped); need at least 3")
    data = [attach_graph(record_to_data(r, targets), cutoff) for r in records]
    n = len(data)
    n_train, n_val, n_test = sizes
    if n_train is None and n_val is None and n_test is None:
        n_val = max(1, n // 10)
        n_test = max(1, n // 10)
        n_train = None
    split = random_split(n, (n_train, n_val, n_test), seed=seed)
    info = {"dataset": str(path), "split_seed": seed, "molecules": n, "skipped": len(skipped),
            "n_train": len(split.train), "n_val": len(split.valid), "n_test": len(split.test)}
    pick = lambda idx: [data[int(i)] for i in idx]  # noqa: E731
    return pick(split.train), pick(split.valid), pick(split.test), skipped, info


def report_skipped(skipped: Sequence[Skipped], stream) -> None:
    """Prints how many molecules were skipped and why (first 20)."""
    if not skipped:
        return
    print(f"geognn: skipped {len(skipped)} molecule(s) that could not be read:", file=stream)
    for item in skipped[:20]:
        print(f"  {item.identifier}: {item.reason}", file=stream)
    if len(skipped) > 20:
        print(f"  ... and {len(skipped) - 20} more", file=stream)
