"""Reading the molecules a user gives the command line: .smi, .csv, .sdf, .xyz/.extxyz.

Every reader yields :class:`MoleculeRecord` objects and collects the molecules
it could not read in a list of :class:`Skipped` (identifier and reason), so one
bad line never stops a run and nothing is dropped silently. SMILES get a 3D
conformer from RDKit (ETKDG with a fixed seed, then an MMFF relaxation, UFF if
MMFF lacks parameters), as the featurizer does.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SMILES_SUFFIXES = (".smi", ".smiles", ".txt")
TABLE_SUFFIXES = (".csv",)
SDF_SUFFIXES = (".sdf", ".mol")
XYZ_SUFFIXES = (".xyz", ".extxyz")


@dataclass
class MoleculeRecord:
    """One molecule: ``z`` (n,) int64, ``pos`` (n, 3) float64 in Å, an identifier,
    the SMILES it came from (or ""), and any properties read with it
    (``"forces"`` as an (n, 3) array in eV/Å when an extxyz file has them)."""

    identifier: str
    z: np.ndarray
    pos: np.ndarray
    smiles: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skipped:
    """A molecule that could not be read: where it was and why."""

    identifier: str
    reason: str


def _check_geometry(identifier: str, z: np.ndarray, pos: np.ndarray) -> None:
    if len(z) == 0:
        raise ValueError("the molecule has no atoms")
    if not np.isfinite(pos).all():
        raise ValueError("coordinates contain NaN or inf")
    if len(z) > 1:
        diff = pos[:, None, :] - pos[None, :, :]
        dist = np.sqrt((diff**2).sum(-1)) + np.eye(len(z)) * 1e9
        if dist.min() < 0.1:
            raise ValueError(f"two atoms are {dist.min():.3f} Å apart")


def smiles_to_record(smiles: str, identifier: str, seed: int = 0) -> MoleculeRecord:
    """Parses ``smiles``, adds hydrogens and embeds a 3D conformer (ETKDG, seeded, then MMFF or UFF)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")  # failures are reported as Skipped instead
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse the SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise ValueError(f"RDKit could not embed a 3D conformer for {smiles!r}")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=500)
    else:
        AllChem.UFFOptimizeMolecule(mol, maxIters=500)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    pos = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
    _check_geometry(identifier, z, pos)
    return MoleculeRecord(identifier, z, pos, smiles)


def _read_smiles_lines(path: Path, seed: int, records: list, skipped: list) -> None:
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        identifier = parts[1] if len(parts) > 1 else f"{path.name}:{line_no}"
        try:
            records.append(smiles_to_record(parts[0], identifier, seed))
        except ValueError as err:
            skipped.append(Skipped(f"{path.name}:{line_no}", str(err)))


def _read_csv(path: Path, smiles_column: str, id_column: str | None, seed: int, records: list,
              skipped: list, keep_columns: tuple[str, ...] = ()) -> None:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or smiles_column not in reader.fieldnames:
            raise ValueError(f"{path}: no column {smiles_column!r} (columns: {reader.fieldnames}); "
                             f"choose one with --smiles-column")
        for column in (*keep_columns, *( [id_column] if id_column else [])):
            if column not in reader.fieldnames:
                raise ValueError(f"{path}: no column {column!r} (columns: {reader.fieldnames})")
        for row_no, row in enumerate(reader, start=2):  # line 1 is the header
            where = f"{path.name}:{row_no}"
            identifier = row[id_column] if id_column else where
            try:
                record = smiles_to_record((row[smiles_column] or "").strip(), identifier, seed)
                record.properties = {c: _number(row[c], c) for c in keep_columns}
                records.append(record)
            except ValueError as err:
                skipped.append(Skipped(where, str(err)))


def _number(text: str, column: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} holds {text!r}, not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"column {column!r} holds {text!r}")
    return value


def _read_sdf(path: Path, records: list, skipped: list, keep_columns: tuple[str, ...] = ()) -> None:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    supplier = Chem.SDMolSupplier(str(path), removeHs=False)
    for index, mol in enumerate(supplier):
        where = f"{path.name}#{index + 1}"
        try:
            if mol is None:
                raise ValueError("RDKit cannot parse this record")
            if mol.GetNumConformers() == 0:
                raise ValueError("the record has no coordinates")
            if any(a.GetNumImplicitHs() for a in mol.GetAtoms()):
                mol = Chem.AddHs(mol, addCoords=True)  # implicit H would be invisible to the model
            z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
            pos = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
            _check_geometry(where, z, pos)
            name = mol.GetProp("_Name") if mol.HasProp("_Name") and mol.GetProp("_Name").strip() else where
            props = {}
            for column in keep_columns:
                if not mol.HasProp(column):
                    raise ValueError(f"the record has no property {column!r}")
                props[column] = _number(mol.GetProp(column), column)
            records.append(MoleculeRecord(name, z, pos, Chem.MolToSmiles(Chem.RemoveHs(mol)), props))
        except ValueError as err:
            skipped.append(Skipped(where, str(err)))


def _read_xyz(path: Path, records: list, skipped: list, keep_columns: tuple[str, ...] = ()) -> None:
    import ase.io

    try:
        frames = ase.io.read(str(path), index=":")
    except Exception as err:  # ASE raises many types for a broken file
        raise ValueError(f"{path}: cannot be read as (ext)xyz: {err}") from err
    for index, atoms in enumerate(frames):
        where = f"{path.name}#{index + 1}"
        try:
            z = np.asarray(atoms.numbers, dtype=np.int64)
            pos = np.asarray(atoms.positions, dtype=np.float64)
            _check_geometry(where, z, pos)
            props: dict[str, Any] = {}
            for column in keep_columns:
                if column in atoms.info:
                    props[column] = _number(atoms.info[column], column)
                elif column == "energy" and atoms.calc is not None:
                    props[column] = float(atoms.get_potential_energy())
                else:
                    raise ValueError(f"frame has no {column!r} in its comment line")
            forces = atoms.arrays.get("forces")
            if forces is None and atoms.calc is not None and "forces" in atoms.calc.results:
                forces = atoms.calc.results["forces"]
            if forces is not None:
                props["forces"] = np.asarray(forces, dtype=np.float64)
            records.append(MoleculeRecord(str(atoms.info.get("name", where)), z, pos, "", props))
        except ValueError as err:
            skipped.append(Skipped(where, str(err)))


def read_molecules(path: str | Path, *, smiles_column: str = "smiles", id_column: str | None = None,
                   property_columns: tuple[str, ...] = (), seed: int = 0
                   ) -> tuple[list[MoleculeRecord], list[Skipped]]:
    """Reads every molecule of a .smi/.csv/.sdf/.xyz/.extxyz file.

    Args:
        path: the file; its suffix picks the reader.
        smiles_column, id_column: CSV columns of the SMILES and of an identifier.
        property_columns: numbers to read with each molecule (CSV columns, SDF
            properties, extxyz comment-line keys; "energy" also from an extxyz
            calculator block). A molecule lacking one is skipped.
        seed: conformer seed for SMILES.

    Returns:
        ``(records, skipped)``.

    Raises:
        FileNotFoundError, ValueError: the file is missing, of an unknown kind,
            or unreadable as a whole (e.g. a CSV without the SMILES column).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    records: list[MoleculeRecord] = []
    skipped: list[Skipped] = []
    if suffix in SMILES_SUFFIXES:
        if property_columns:
            raise ValueError(f"{path}: a SMILES list has no property columns; use a CSV")
        _read_smiles_lines(path, seed, records, skipped)
    elif suffix in TABLE_SUFFIXES:
        _read_csv(path, smiles_column, id_column, seed, records, skipped, tuple(property_columns))
    elif suffix in SDF_SUFFIXES:
        _read_sdf(path, records, skipped, tuple(property_columns))
    elif suffix in XYZ_SUFFIXES:
        _read_xyz(path, records, skipped, tuple(property_columns))
    else:
        kinds = SMILES_SUFFIXES + TABLE_SUFFIXES + SDF_SUFFIXES + XYZ_SUFFIXES
        raise ValueError(f"{path}: unknown file kind {suffix!r}; expected one of {', '.join(kinds)}")
    return records, skipped
