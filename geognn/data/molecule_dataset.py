"""Datasets from the user's own files: a CSV of SMILES, an SDF with properties, an extxyz trajectory."""

from __future__ import annotations

import hashlib
import math
import json
import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from geognn.data.atomic_io import default_cache_dir
from geognn.data.packed import PackedMolecules
from geognn.data.splits import Size, Split, random_split, scaffold_split
from geognn.data.tensor_cache import load_tensors, save_tensors

MOLECULE_CACHE_VERSION = 1
_FORMATS = {".csv": "csv", ".sdf": "sdf", ".sd": "sdf", ".xyz": "extxyz", ".extxyz": "extxyz"}


class MoleculeDataset(PackedMolecules):
    """Molecules and their targets from one user file, as PyG ``Data``.

    Files are read by :mod:`geognn.featurize.io`. Formats (chosen by suffix, or by ``format``):

    - ``csv``: a SMILES column and numeric target columns (empty cell = NaN,
      a missing label). Each SMILES gets a 3D conformer (RDKit ETKDG with
      ``seed``, then MMFF94/UFF relaxation), hydrogens included.
    - ``sdf``: molecule blocks; 3D coordinates as written (2D ones get a seeded
      conformer); numeric ``> <name>`` data fields are the available targets.
    - ``extxyz`` (``.xyz``): frames with a per-frame ``energy`` (eV) and
      per-atom ``forces`` (eV/Å), the MD17 layout; periodic frames keep
      ``cell`` and ``pbc``.

    Each item has ``z`` (n,) int64, ``pos`` (n, 3) float32 Å, ``y`` (1, n_targets)
    float32 in the file's own units (geognn cannot know them; extxyz follows
    ASE: eV), ``idx`` (1,) position among the kept molecules, ``smiles``
    (empty unless read from SMILES) and ``name`` (where in the file: line,
    record or frame), plus ``forces``
    (n, 3), ``cell`` (1, 3, 3) and ``pbc`` (1, 3) where the file has them.

    Args:
        path: the file.
        targets: property names to serve in ``y``; default every numeric
            column (csv) or numeric property all molecules share (sdf),
            ``["energy"]`` (extxyz, when every frame has one).
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
        from_cache = store is not None
        if store is None:
            # The readers warn about what they skip; a cached load repeats the count below.
            store = _process(self.path, self.format, targets, smiles_column, on_error, seed)
            if self.cache_path:
                try:
                    save_tensors(self.cache_path, store, metadata)
                except OSError as err:  # a read-only cache must not stop the run
                    warnings.warn(f"could not write the cache {self.cache_path}: {err}", stacklevel=2)
        self.target_names: list[str] = json.loads(store["target_names"])
        self.skipped: list[tuple[str, str]] = [tuple(s) for s in json.loads(store["skipped"])]
        if self.skipped and from_cache:
            warnings.warn(f"{self.path}: {len(self.skipped)} molecules were skipped, first: "
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


def _read(path: Path, fmt: str, smiles_column: str, on_error: str, seed: int):
    # Imported here: geognn.featurize loads RDKit and ASE, which QM9 and KG users do not need.
    from geognn.featurize import io

    if fmt == "csv":
        return io.read_smiles(path, column=smiles_column, embed=True, seed=seed, on_error=on_error)
    if fmt == "sdf":
        return io.read_sdf(path, embed=True, seed=seed, on_error=on_error)
    return io.read_xyz(path, on_error=on_error)


def _as_target(value) -> float:
    # An empty CSV cell is a missing label (common in multi-task sets): NaN, not an error.
    if isinstance(value, str) and not value.strip():
        return math.nan
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{value!r} is not a number")


def _is_target(value) -> bool:
    try:
        _as_target(value)
        return True
    except ValueError:
        return False


def _process(path: Path, fmt: str, targets, smiles_column: str, on_error: str, seed: int) -> dict:
    molecules, report = _read(path, fmt, smiles_column, on_error, seed)
    skipped = [(s.where, s.reason) for s in report.skipped]
    names = _target_names(path, fmt, molecules, targets)
    kept, rows = [], []
    for m in molecules:
        try:
            if m.pos is None:
                raise ValueError("no 3D positions")
            _check_forces(m)
            row = _target_row(m, names)
        except ValueError as err:
            if on_error == "raise":
                raise ValueError(f"{m.identifier}: {err}") from None
            skipped.append((m.identifier, str(err)))
            continue
        kept.append(m)
        rows.append(row)
    if len(skipped) > report.num_skipped:
        extra = skipped[report.num_skipped:]
        warnings.warn(f"{path}: skipped {len(extra)} molecules with unusable targets or forces "
                      f"(first: {extra[0][0]}: {extra[0][1]})", stacklevel=3)
    if not kept:
        raise ValueError(f"{path}: no usable molecules ({len(skipped)} skipped)")
    atom_ptr = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum([len(m.z) for m in kept], out=atom_ptr[1:])
    store = {
        "z": torch.from_numpy(np.concatenate([m.z for m in kept]).astype(np.int64)),
        "pos": torch.from_numpy(np.concatenate([m.pos for m in kept]).astype(np.float32)),
        "atom_ptr": torch.from_numpy(atom_ptr),
        "y": torch.tensor(rows, dtype=torch.float32).reshape(len(kept), len(names)),
        "smiles": "\n".join(m.smiles or "" for m in kept),
        "name": "\n".join(m.identifier for m in kept),
        "target_names": json.dumps(names),
        "skipped": json.dumps(skipped),
    }
    if all("forces" in m.atom_properties for m in kept):
        store["forces"] = torch.from_numpy(np.concatenate([m.atom_properties["forces"] for m in kept]).astype(np.float32))
    if any(m.cell is not None for m in kept):
        store["cell"] = torch.tensor(np.stack([m.cell if m.cell is not None else np.zeros((3, 3)) for m in kept]),
                                     dtype=torch.float32)
        store["pbc"] = torch.tensor(np.stack([m.pbc if m.pbc is not None else np.zeros(3, bool) for m in kept]))
    return store


def _target_row(m, names: list[str]) -> list[float]:
    row = []
    for name in names:
        if name not in m.properties:
            raise ValueError(f"no property {name!r}")
        try:
            row.append(_as_target(m.properties[name]))
        except ValueError:
            raise ValueError(f"{name} holds {m.properties[name]!r}, not a number") from None
    return row


def _check_forces(m) -> None:
    forces = m.atom_properties.get("forces")
    if forces is None:
        return
    if forces.shape != (len(m.z), 3):
        raise ValueError(f"forces of shape {forces.shape} for {len(m.z)} atoms")
    if not np.isfinite(forces).all():
        raise ValueError("non-finite forces")


def _target_names(path: Path, fmt: str, molecules, targets) -> list[str]:
    if targets is not None:
        known = set().union(*(m.properties for m in molecules)) if molecules else set()
        missing = [t for t in targets if t not in known]
        if missing and molecules:
            raise ValueError(f"{path}: no property/column {missing} (available: {sorted(known)})")
        return list(targets)
    if not molecules:
        return []
    if fmt == "extxyz":
        return ["energy"] if all("energy" in m.properties for m in molecules) else []
    # Default: every property all molecules have as a number or an empty cell, at least one a number.
    shared = [k for k in molecules[0].properties if all(k in m.properties for m in molecules)]
    return [k for k in shared
            if all(_is_target(m.properties[k]) for m in molecules)
            and any(not isinstance(m.properties[k], str) for m in molecules)]
