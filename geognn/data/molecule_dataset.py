"""Datasets from the user's own files: a CSV of SMILES, an SDF with properties, an extxyz trajectory."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from geognn.data import _molecule_readers as readers
from geognn.data.atomic_io import default_cache_dir
from geognn.data.packed import PackedMolecules
from geognn.data.splits import Size, Split, random_split, scaffold_split
from geognn.data.tensor_cache import load_tensors, save_tensors

MOLECULE_CACHE_VERSION = 1
_FORMATS = {".csv": "csv", ".sdf": "sdf", ".sd": "sdf", ".xyz": "extxyz", ".extxyz": "extxyz"}


class MoleculeDataset(PackedMolecules):
    """Molecules and their targets from one user file, as PyG ``Data``.

    Formats (chosen by suffix, or by ``format``):

    - ``csv``: a SMILES column and numeric target columns (empty cell = NaN,
      a missing label). Each SMILES gets a 3D conformer (RDKit ETKDG with
      ``seed``, then MMFF94/UFF relaxation), hydrogens included.
    - ``sdf``: molecule blocks with coordinates; numeric ``> <name>`` data
      fields are the available targets.
    - ``extxyz`` (``.xyz``): frames with a per-frame ``energy`` (eV) and
      per-atom ``forces`` (eV/Å), the MD17 layout; periodic frames keep
      ``cell`` and ``pbc``.

    Each item has ``z`` (n,) int64, ``pos`` (n, 3) float32 Å, ``y`` (1, n_targets)
    float32 in the file's own units (geognn cannot know them; extxyz follows
    ASE: eV), ``idx`` (1,) position in the file's kept molecules, ``smiles``
    (empty for xyz) and ``name`` (file name and line or frame), plus ``forces``
    (n, 3), ``cell`` (1, 3, 3) and ``pbc`` (1, 3) where the file has them.

    Args:
        path: the file.
        targets: property names to serve in ``y``; default every numeric
            column (csv), every numeric property all molecules share (sdf),
            ``["energy"]`` (extxyz, when present).
        format: ``"csv"``, ``"sdf"`` or ``"extxyz"``; default from the suffix.
        smiles_column: the SMILES column of a CSV.
        transform: callable applied to each ``Data`` on access.
        on_error: ``"raise"`` on the first bad molecule (the error names file
            and line), or ``"skip"`` it; skipped ones are warned about and
            listed in :attr:`skipped` as (where, reason).
        seed: conformer seed for SMILES.
        root: cache directory (default :func:`geognn.data.atomic_io.default_cache_dir`).
        cache: cache the processed tensors, keyed by the file's SHA-256 and these options.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        targets: Sequence[str] | None = None,
        *,
        format: str | None = None,
        smiles_column: str = "smiles",
        transform: Callable[[Data], Data] | None = None,
        on_error: str = "raise",
        seed: int = 0,
        root: str | os.PathLike | None = None,
        cache: bool = True,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such file: {self.path}")
        self.format = format or _FORMATS.get(self.path.suffix.lower())
        if self.format not in ("csv", "sdf", "extxyz"):
            raise ValueError(f"{self.path}: unknown format {self.format!r}; pass format='csv', 'sdf' or 'extxyz'")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        options = {"format": self.format, "targets": None if targets is None else list(targets),
                   "smiles_column": smiles_column, "on_error": on_error, "seed": seed}
        metadata = {"dataset": "molecules", "version": MOLECULE_CACHE_VERSION,
                    "source_sha256": hashlib.sha256(self.path.read_bytes()).hexdigest(), "options": options}
        key = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode()).hexdigest()[:16]
        root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.cache_path = root / "molecules" / f"{self.path.stem}-{key}.pt" if cache else None

        store = load_tensors(self.cache_path, metadata) if self.cache_path else None
        if store is None:
            store = _process(self.path, self.format, targets, smiles_column, on_error, seed)
            if self.cache_path:
                save_tensors(self.cache_path, store, metadata)
        self.target_names: list[str] = json.loads(store["target_names"])
        self.skipped: list[tuple[str, str]] = [tuple(s) for s in json.loads(store["skipped"])]
        if self.skipped:
            warnings.warn(f"{self.path}: skipped {len(self.skipped)} molecules, first: "
                          f"{self.skipped[0][0]}: {self.skipped[0][1]}", stacklevel=2)
        n = store["atom_ptr"].numel() - 1
        super().__init__(
            store["z"], store["pos"], store["atom_ptr"], store["y"],
            {"smiles": _split_lines(store["smiles"], n), "name": _split_lines(store["name"], n)},
            torch.arange(n),
            forces=store.get("forces"), cell=store.get("cell"), pbc=store.get("pbc"),
            transform=transform,
        )

    @property
    def smiles(self) -> list[str]:
        """SMILES of the molecules of this view, in order (empty strings for xyz input)."""
        return [self.strings["smiles"][self.storage_index(i)] for i in range(len(self))]

    def random_split(self, sizes: Sequence[Size] = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
        """A seeded random split of this dataset (see :func:`geognn.data.random_split`)."""
        return random_split(len(self), sizes, seed)

    def scaffold_split(self, sizes: Sequence[Size] = (0.8, 0.1, 0.1), seed: int | None = None) -> Split:
        """A Bemis–Murcko scaffold split of this dataset (see :func:`geognn.data.scaffold_split`)."""
        smiles = self.smiles
        if not all(smiles):
            raise ValueError(f"{self.path}: scaffold splits need SMILES, and this {self.format} file has none")
        return scaffold_split(smiles, sizes, seed)


def _split_lines(text: str, n: int) -> list[str]:
    return text.split("\n") if n else []


def _process(path: Path, fmt: str, targets, smiles_column: str, on_error: str, seed: int) -> dict:
    if fmt == "csv":
        records, skipped = readers.read_csv(path, smiles_column, None if targets is None else list(targets),
                                            on_error, seed)
    elif fmt == "sdf":
        records, skipped = readers.read_sdf(path, on_error)
    else:
        records, skipped = readers.read_extxyz(path, on_error)
    if not records:
        raise ValueError(f"{path}: no usable molecules ({len(skipped)} skipped)")
    names = _target_names(path, fmt, records, targets)
    for r in records:
        absent = [t for t in names if t not in r.properties]
        if absent:
            raise ValueError(f"{path}: molecule {r.identifier} has no {absent}")
    counts = [len(r.z) for r in records]
    atom_ptr = np.zeros(len(records) + 1, dtype=np.int64)
    np.cumsum(counts, out=atom_ptr[1:])
    store = {
        "z": torch.from_numpy(np.concatenate([r.z for r in records]).astype(np.int64)),
        "pos": torch.from_numpy(np.concatenate([r.pos for r in records]).astype(np.float32)),
        "atom_ptr": torch.from_numpy(atom_ptr),
        "y": torch.tensor([[r.properties[t] for t in names] for r in records], dtype=torch.float32)
        .reshape(len(records), len(names)),
        "smiles": "\n".join(r.smiles for r in records),
        "name": "\n".join(r.identifier for r in records),
        "target_names": json.dumps(names),
        "skipped": json.dumps(skipped),
    }
    if all("forces" in r.properties for r in records):
        forces = [r.properties["forces"] for r in records]
        for r, f in zip(records, forces):
            if f.shape != (len(r.z), 3):
                raise ValueError(f"{path}: molecule {r.identifier} has forces of shape {f.shape}")
        store["forces"] = torch.from_numpy(np.concatenate(forces).astype(np.float32))
    if any(r.cell is not None for r in records):
        store["cell"] = torch.tensor(np.stack([r.cell if r.cell is not None else np.zeros((3, 3)) for r in records]),
                                     dtype=torch.float32)
        store["pbc"] = torch.tensor(np.stack([r.pbc if r.pbc is not None else np.zeros(3, bool) for r in records]))
    return store


def _target_names(path: Path, fmt: str, records, targets) -> list[str]:
    if targets is not None:
        return list(targets)
    if fmt == "csv":
        return [k for k in records[0].properties if all(isinstance(r.properties[k], float) for r in records)]
    shared = set.intersection(*(set(r.properties) for r in records)) - {"forces"}
    if fmt == "extxyz":
        return ["energy"] if "energy" in shared else []
    return sorted(shared)
