"""Turning the data a user names on the command line into graphs: QM9, or a file through MoleculeDataset."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Sequence

import torch
from torch_geometric.data import Data

from geognn.cli.inputs import TABLE_SUFFIXES, check_table_columns

# QM9 targets that are per-molecule properties rather than sums over atoms.
INTENSIVE_QM9_TARGETS = {"mu", "homo", "lumo", "gap"}


def attach_graph(data: Data, cutoff: float, periodic: bool = False) -> Data:
    """Adds ``edge_index`` (2, E) for pairs closer than ``cutoff`` Å; done once, before training.

    With ``periodic`` the molecule's ``cell``/``pbc`` are used and ``edge_shift``
    (E, 3) Å is attached too (zeros for a molecule that is not periodic), so
    that every molecule of one dataset batches together.
    """
    from geognn.featurize import radius_graph

    if periodic:
        cell = getattr(data, "cell", None)
        pbc = getattr(data, "pbc", None)
        data.edge_index, data.edge_shift = radius_graph(
            data.pos, cutoff, cell=None if cell is None else cell.reshape(3, 3),
            pbc=None if pbc is None else pbc.reshape(3))
    else:
        data.edge_index, _ = radius_graph(data.pos, cutoff)
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


def molecule_to_data(molecule, dtype=torch.float32, periodic: bool = False) -> Data:
    """A PyG ``Data`` (z, pos in Å, and cell/pbc when ``periodic``) from a read ``Molecule``."""
    data = Data(z=torch.as_tensor(molecule.z, dtype=torch.long), pos=torch.as_tensor(molecule.pos, dtype=dtype))
    if periodic:
        cell = molecule.cell if molecule.cell is not None else torch.zeros(3, 3)
        pbc = molecule.pbc if molecule.pbc is not None else torch.zeros(3, dtype=torch.bool)
        data.cell = torch.as_tensor(cell, dtype=dtype).reshape(1, 3, 3)
        data.pbc = torch.as_tensor(pbc, dtype=torch.bool).reshape(1, 3)
    return data


def file_sets(path: Path, targets: Sequence[str], smiles_column: str, sizes, seed: int, cutoff: float,
              conformer_seed: int = 0):
    """Train/validation/test lists from a user file read by :class:`geognn.data.MoleculeDataset`.

    Molecules that cannot be read, or lack a value for a target, are skipped.
    Without sizes the split is 80/10/10 %.

    Returns:
        ``(train, val, test, skipped, info)``; ``skipped`` holds ``SkippedRecord(where, reason)``.
    """
    from geognn.data import MoleculeDataset, random_split
    from geognn.featurize.io import SkippedRecord

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training file {path} does not exist; check --data")
    if path.suffix.lower() in TABLE_SUFFIXES:
        smiles_column = check_table_columns(path, smiles_column, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what is skipped is reported by the command
        try:
            dataset = MoleculeDataset(path, list(targets), smiles_column=smiles_column, on_error="skip",
                                      seed=conformer_seed)
        except ValueError as err:
            hint = "; name the target(s) with --target-column" if "no property" in str(err) else ""
            raise ValueError(f"{err}{hint}") from None
    skipped = [SkippedRecord(where, reason) for where, reason in dataset.skipped]
    # An empty CSV cell is a missing label (NaN); the loss cannot use it, so the molecule is left out.
    keep = []
    for i, row in enumerate(dataset.y.tolist()):
        missing = [t for t, v in zip(targets, row) if math.isnan(v)]
        if missing:
            skipped.append(SkippedRecord(dataset.strings["name"][i], f"no value for target(s) {missing}"))
        else:
            keep.append(i)
    if len(keep) < 3:
        raise ValueError(f"{path}: only {len(keep)} usable molecules ({len(skipped)} skipped); need at least 3")
    periodic = dataset.cell is not None
    data = [attach_graph(dataset[i], cutoff, periodic) for i in keep]
    n = len(data)
    n_train, n_val, n_test = sizes
    if n_train is None and n_val is None and n_test is None:
        n_val = max(1, n // 10)
        n_test = max(1, n // 10)
    split = random_split(n, (n_train, n_val, n_test), seed=seed)
    info = {"dataset": str(path), "split_seed": seed, "molecules": n, "skipped": len(skipped),
            "n_train": len(split.train), "n_val": len(split.valid), "n_test": len(split.test)}
    pick = lambda idx: [data[int(i)] for i in idx]  # noqa: E731
    return pick(split.train), pick(split.valid), pick(split.test), skipped, info


XTB_MD17_PREFIX = "xtb-md17:"


def xtb_md17_sets(spec: str, cutoff: float, n_train: int | None = None, n_val: int | None = None,
                  n_test: int | None = None):
    """The shipped train/validation/test frames of ``xtb-md17:NAME`` with radius graphs attached.

    The splits are fixed (shipped with the frames): ``n_train`` may be the full training split
    (1,000, the default) or 50 (the low-data split ``train_50``); ``n_val``/``n_test`` may only
    restate the shipped sizes. Returns ``(train, val, test, info)``.
    """
    from geognn.data import XTB_MD17_MOLECULES, XTBMD17

    name = spec[len(XTB_MD17_PREFIX):].strip().lower()
    if name not in XTB_MD17_MOLECULES:
        raise ValueError(f"--dataset {spec!r}: choose xtb-md17:NAME with NAME one of {', '.join(XTB_MD17_MOLECULES)}")
    frames = XTBMD17(name)
    sizes = {k: len(v) for k, v in frames.splits.items()}
    train_splits = {len(v): k for k, v in frames.splits.items() if k.startswith("train")}
    train_split = "train" if n_train is None else train_splits.get(n_train)
    if train_split is None:
        raise ValueError(f"--n-train {n_train}: xtb-md17 ships fixed training splits of "
                         f"{' and '.join(str(n) for n in sorted(train_splits))} frames; pick one of them")
    for option, given, split in (("--n-val", n_val, "val"), ("--n-test", n_test, "test")):
        if given is not None and given != sizes[split]:
            raise ValueError(f"{option} {given}: the {split} split of xtb-md17:{name} is fixed at {sizes[split]} frames")
    make = lambda split: [attach_graph(d, cutoff) for d in frames.split(split)]  # noqa: E731
    train, val, test = make(train_split), make("val"), make("test")
    info = {"dataset": f"xtb-md17:{name}", "train_split": train_split, "n_train": len(train), "n_val": len(val),
            "n_test": len(test), "tblite_version": frames.tblite_version, "atoms": frames.num_atoms_per_frame}
    return train, val, test, info
