"""Stand-in readers for :class:`geognn.data.MoleculeDataset`: CSV of SMILES, SDF, extxyz.

They exist because ``geognn.featurize.io`` (the library's readers) had not
landed when the dataset was written; they are private and minimal, and the
dataset should switch to ``geognn.featurize.io`` once it exists. Each reader
returns records plus the list of skipped molecules, and names the file and
line (or record) of any bad input.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class MoleculeRecord:
    """One molecule: ``z`` (n,) int64, ``pos`` (n, 3) float64 Å, optional cell/pbc, properties."""

    z: np.ndarray
    pos: np.ndarray
    identifier: str
    smiles: str = ""
    properties: dict = field(default_factory=dict)
    cell: np.ndarray | None = None
    pbc: np.ndarray | None = None


class _Skipper:
    """Raises or records a bad molecule, according to ``on_error``."""

    def __init__(self, on_error: str) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.skipped: list[tuple[str, str]] = []

    def __call__(self, where: str, reason: str) -> None:
        if self.on_error == "raise":
            raise ValueError(f"{where}: {reason}")
        self.skipped.append((where, reason))


def _check_geometry(z: np.ndarray, pos: np.ndarray) -> str | None:
    if len(z) == 0:
        return "empty molecule (no atoms)"
    if not np.isfinite(pos).all():
        return "non-finite coordinates"
    return None


def embed_smiles(smiles: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers (n,) and a relaxed 3D conformer (n, 3) Å for a SMILES, hydrogens included.

    ETKDG (v3) embedding with ``seed``, then an MMFF94 relaxation (UFF when
    MMFF lacks parameters). Raises ``ValueError`` with the reason on failure.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise ValueError(f"no 3D conformer could be embedded for {smiles!r}")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol)
    else:
        AllChem.UFFOptimizeMolecule(mol)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    return z, mol.GetConformer().GetPositions()


def _number(text: str) -> float:
    # Empty cells are missing labels (common in multi-task sets), kept as NaN.
    return math.nan if text.strip() == "" else float(text)


def read_csv(path: Path, smiles_column: str, columns: list[str] | None, on_error: str, seed: int):
    """Records from a CSV with a SMILES column.

    ``columns`` (default: all others) become properties: numbers (empty cells
    NaN), or the raw text of an unrequested column that is not numeric.
    """
    skip = _Skipper(on_error)
    records = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if smiles_column not in header:
            raise ValueError(f"{path}:1: no column {smiles_column!r} (columns: {header})")
        wanted = [c for c in header if c != smiles_column] if columns is None else columns
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ValueError(f"{path}:1: no column(s) {missing} (columns: {header})")
        for line_no, row in enumerate(reader, start=2):
            where = f"{path}:{line_no}"
            if None in row or any(v is None for v in row.values()):
                skip(where, f"expected {len(header)} fields")
                continue
            smiles = row[smiles_column].strip()
            # Requested columns must be numbers; unrequested text columns (names, notes) are kept as text.
            bad = [c for c in wanted if not _is_number(row[c])]
            if columns is not None and bad:
                skip(where, f"column {bad[0]} holds {row[bad[0]]!r}, not a number")
                continue
            props = {c: row[c] if c in bad else _number(row[c]) for c in wanted}
            try:
                z, pos = embed_smiles(smiles, seed)
            except ValueError as err:
                skip(where, str(err))
                continue
            records.append(MoleculeRecord(z, pos, f"{path.name}:{line_no}", smiles, props))
    return records, skip.skipped


def _is_number(text: str) -> bool:
    try:
        _number(text)
        return True
    except ValueError:
        return False


def read_sdf(path: Path, on_error: str):
    """Records from an SDF file, hydrogens kept, with the numeric ``> <name>`` properties."""
    from rdkit import Chem

    skip = _Skipper(on_error)
    starts = _sdf_record_lines(path)
    records = []
    supplier = Chem.SDMolSupplier(str(path), removeHs=False, sanitize=True)
    for k, mol in enumerate(supplier):
        where = f"{path}:{starts[k] if k < len(starts) else '?'} (record {k})"
        if mol is None:
            skip(where, "RDKit cannot parse this molecule block")
            continue
        if mol.GetNumConformers() == 0:
            skip(where, "no coordinates")
            continue
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
        pos = mol.GetConformer().GetPositions()
        reason = _check_geometry(z, pos)
        if reason:
            skip(where, reason)
            continue
        props = {}
        for key, value in mol.GetPropsAsDict(includePrivate=False, includeComputed=False).items():
            try:
                props[key] = float(value)
            except (TypeError, ValueError):
                continue  # text properties (names, notes) are not targets
        name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
        smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))  # heavy-atom SMILES, as in CSV files
        records.append(MoleculeRecord(z, pos, name or f"{path.name}#{k}", smiles, props))
    return records, skip.skipped


def _sdf_record_lines(path: Path) -> list[int]:
    starts, line_no, at_start = [], 0, True
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            if at_start:
                starts.append(line_no)
                at_start = False
            if line.startswith("$$$$"):
                at_start = True
    return starts


def read_extxyz(path: Path, on_error: str):
    """Frames of an (ext)xyz file via ASE: energy (eV) and per-atom forces (eV/Å) when present."""
    import ase.io

    skip = _Skipper(on_error)
    records = []
    frames = ase.io.iread(str(path), index=":", format="extxyz")
    k = 0
    while True:
        try:
            atoms = next(frames)
        except StopIteration:
            break
        except Exception as err:
            # ASE stops at a broken block, so the rest of the file cannot be read: always an error.
            raise ValueError(f"{path}: frame {k} is not valid extxyz ({type(err).__name__}: {err})") from None
        where = f"{path} (frame {k})"
        z, pos = atoms.numbers.astype(np.int64), atoms.positions.astype(np.float64)
        reason = _check_geometry(z, pos)
        props = {key: float(v) for key, v in atoms.info.items() if isinstance(v, (int, float, np.number))}
        if atoms.calc is not None:
            results = atoms.calc.results
            if "energy" in results:
                props["energy"] = float(results["energy"])
            if "forces" in results:
                props["forces"] = np.asarray(results["forces"], dtype=np.float64)
        elif "forces" in atoms.arrays:
            props["forces"] = np.asarray(atoms.arrays["forces"], dtype=np.float64)
        if reason is None and "forces" in props and not np.isfinite(props["forces"]).all():
            reason = "non-finite forces"
        if reason:
            skip(where, reason)
        else:
            cell = atoms.cell.array.astype(np.float64) if atoms.pbc.any() else None
            pbc = atoms.pbc.copy() if atoms.pbc.any() else None
            records.append(MoleculeRecord(z, pos, f"{path.name}#{k}", "", props, cell, pbc))
        k += 1
    return records, skip.skipped
