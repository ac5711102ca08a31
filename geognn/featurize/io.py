"""Readers of the molecule files people have: SMILES lists/CSV, SDF/MOL, xyz/extxyz.

Every reader takes a path and returns ``ReadResult(molecules, report)``: the
``Molecule`` records read, and a ``ReadReport`` listing what was skipped and why.
With ``on_error="raise"`` (the default) the first bad record raises a
``MoleculeReadError`` naming the file, line and record; with ``"skip"`` it is
left out, listed in the report, and a warning says how many were skipped.
"""

from __future__ import annotations

import csv
import inspect
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
from ase.data import atomic_numbers as _SYMBOL_TO_Z
from rdkit import Chem, RDLogger

from geognn.featurize.conformers import embed_molecule

__all__ = [
    "Molecule", "MoleculeReadError", "ReadReport", "ReadResult", "SkippedRecord",
    "read_many", "read_molecules", "read_sdf", "read_smiles", "read_xyz",
]


@dataclass
class Molecule:
    """One molecule or periodic structure as read from a file.

    Attributes:
        z: (n,) int64 atomic numbers.
        pos: (n, 3) float64 positions in Å, or None when unknown.
        cell: (3, 3) float64 lattice vectors as rows in Å, or None.
        pbc: (3,) bool periodicity, or None (not periodic).
        properties: per-molecule values from the file (floats where they parse,
            else strings); ``energy`` is in eV when it comes from extxyz.
        atom_properties: per-atom arrays, e.g. ``forces`` (n, 3) eV/Å.
        identifier: where it came from, e.g. ``"mols.sdf:#3 (line 120)"``.
        smiles: the SMILES it was built from, when there was one.
    """

    z: np.ndarray
    pos: np.ndarray | None
    identifier: str
    cell: np.ndarray | None = None
    pbc: np.ndarray | None = None
    properties: dict = field(default_factory=dict)
    atom_properties: dict = field(default_factory=dict)
    smiles: str | None = None

    def to_atoms(self):
        """The record as an ASE ``Atoms`` (energy and forces attached as a single-point result)."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        if self.pos is None:
            raise ValueError(f"{self.identifier}: no 3D positions, cannot build ase.Atoms")
        atoms = Atoms(numbers=self.z, positions=self.pos, cell=self.cell, pbc=self.pbc if self.pbc is not None else False)
        results = {}
        if "energy" in self.properties:
            results["energy"] = float(self.properties["energy"])
        if "forces" in self.atom_properties:
            results["forces"] = np.asarray(self.atom_properties["forces"])
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        return atoms


class MoleculeReadError(ValueError):
    """A record that could not be read; ``where`` names file, line and record, ``reason`` says why."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass
class SkippedRecord:
    """A record left out by ``on_error="skip"``."""

    where: str
    reason: str


@dataclass
class ReadReport:
    """What a reader did: the source, how many records it read, which it skipped and why."""

    source: str
    num_read: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    def __str__(self) -> str:
        lines = [f"{self.source}: read {self.num_read}, skipped {self.num_skipped}"]
        lines += [f"  {s.where}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


class ReadResult(NamedTuple):
    """``molecules, report = read_xxx(path)``."""

    molecules: list[Molecule]
    report: ReadReport


class _Collector:
    """Applies the on_error policy to each record of one source."""

    def __init__(self, source: str, on_error: str):
        if on_error not in ("raise", "skip"):
            raise ValueError(f'on_error must be "raise" or "skip", got {on_error!r}')
        self.on_error = on_error
        self.molecules: list[Molecule] = []
        self.report = ReadReport(source)

    def add(self, make, where: str):
        try:
            molecule = make()
            _validate(molecule)
        except MoleculeReadError as err:
            self._fail(err.where, err.reason)
        except (ValueError, KeyError, IndexError, RuntimeError) as err:
            self._fail(where, _reason(err))
        else:
            self.molecules.append(molecule)
            self.report.num_read += 1

    def _fail(self, where, reason):
        if self.on_error == "raise":
            raise MoleculeReadError(where, reason)
        self.report.skipped.append(SkippedRecord(where, reason))

    def result(self) -> ReadResult:
        if self.report.skipped:
            first = self.report.skipped[0]
            warnings.warn(f"{self.report.source}: skipped {self.report.num_skipped} of "
                          f"{self.report.num_read + self.report.num_skipped} records "
                          f"(first: {first.where}: {first.reason}); see the returned report", stacklevel=3)
        return ReadResult(self.molecules, self.report)


def _reason(err: Exception) -> str:
    text = str(err) if not isinstance(err, KeyError) else f"unknown key {err.args[0]!r}"
    return f"{type(err).__name__}: {text}" if not isinstance(err, ValueError) else text


def _validate(m: Molecule):
    if len(m.z) == 0:
        raise MoleculeReadError(m.identifier, "empty molecule (no atoms)")
    if m.pos is not None:
        bad = np.nonzero(~np.isfinite(m.pos).all(axis=1))[0]
        if len(bad):
            raise MoleculeReadError(m.identifier, f"non-finite coordinates for atom {int(bad[0])}: {m.pos[bad[0]].tolist()}")


def _parse_value(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


# ---------------------------------------------------------------- SMILES

def _from_rdkit(mol, identifier: str, properties: dict, smiles: str | None, embed: bool, seed: int) -> Molecule:
    """Record of an RDKit molecule; positions from its 3D conformer, or embedded when asked."""
    if mol.GetNumAtoms() == 0:
        raise MoleculeReadError(identifier, "empty molecule (no atoms)")
    has_3d = mol.GetNumConformers() > 0 and mol.GetConformer().Is3D()
    if not has_3d:
        mol = embed_molecule(mol, seed=seed) if embed else Chem.AddHs(mol)
    elif mol.GetNumBonds() > 0 and any(atom.GetTotalNumHs(includeNeighbors=False) for atom in mol.GetAtoms()):
        # A 3D record with bonds but without its hydrogens: a geometric model must see them,
        # so they are added where RDKit's geometry rules put them (heavy atoms stay as written).
        # A record without bonds says nothing about hydrogens, so its atoms are taken as complete.
        mol = Chem.AddHs(mol, addCoords=True)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    if (z == 0).any():
        raise MoleculeReadError(identifier, f"dummy/unknown atom (atomic number 0) at index {int(np.argmax(z == 0))}")
    pos = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64) if mol.GetNumConformers() else None
    return Molecule(z=z, pos=pos, identifier=identifier, properties=properties, smiles=smiles)


def _smiles_to_molecule(smiles: str, identifier: str, properties: dict, embed: bool, seed: int) -> Molecule:
    if not smiles.strip():
        raise MoleculeReadError(identifier, "empty SMILES")
    with _quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise MoleculeReadError(identifier, f"RDKit could not parse the SMILES {smiles!r}")
    return _from_rdkit(mol, identifier, properties, smiles, embed, seed)


def read_smiles(source, *, column: str | None = None, delimiter: str | None = None, embed: bool = True,
                seed: int = 0, on_error: str = "raise") -> ReadResult:
    """Molecules from SMILES: a ``.smi``-style file, a CSV/TSV column, or a list of strings.

    Args:
        source: path, or an iterable of SMILES strings.
        column: CSV column holding the SMILES. Given, or when the file ends in
            ``.csv``/``.tsv``, the file is read as a table (first column named
            ``smiles``, any case, when not given); every other column becomes a
            property. Otherwise each non-blank line is ``SMILES [name]``, and
            lines starting with ``#`` are comments.
        delimiter: CSV delimiter (default ``,``, or tab for ``.tsv``).
        embed: generate a 3D conformer (ETKDG + MMFF/UFF, seeded); otherwise
            ``pos`` is None. Hydrogens are always explicit atoms.
        seed: conformer seed; the same seed gives the same coordinates.
        on_error: ``"raise"`` or ``"skip"`` (see the module docstring).

    Identifiers are ``file:line`` (with the name, when the line has one) or ``smiles[i]``.
    """
    if not isinstance(source, (str, Path)):
        collector = _Collector("smiles list", on_error)
        for k, smiles in enumerate(source):
            collector.add(lambda s=smiles, k=k: _smiles_to_molecule(s, f"smiles[{k}]", {}, embed, seed), f"smiles[{k}]")
        return collector.result()
    path = Path(source)
    collector = _Collector(str(path), on_error)
    is_table = column is not None or path.suffix.lower() in (".csv", ".tsv")
    with open(path, newline="") as handle:
        if is_table:
            _read_smiles_table(handle, path, column, delimiter, embed, seed, collector)
        else:
            for line_no, line in enumerate(handle, start=1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                smiles, _, name = text.partition(" ") if " " in text else text.partition("\t")
                where = f"{path.name}:{line_no}" + (f" ({name.strip()})" if name.strip() else "")
                props = {"name": name.strip()} if name.strip() else {}
                collector.add(lambda s=smiles, w=where, p=props: _smiles_to_molecule(s, w, p, embed, seed), where)
    return collector.result()


def _read_smiles_table(handle, path, column, delimiter, embed, seed, collector):
    delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    reader = csv.DictReader(handle, delimiter=delimiter)
    fields = reader.fieldnames or []
    if column is None:
        column = next((f for f in fields if f.strip().lower() == "smiles"), None)
        if column is None:
            raise ValueError(f"{path}: no 'smiles' column among {fields}; pass column=")
    elif column not in fields:
        raise ValueError(f"{path}: column {column!r} not among {fields}")
    for line_no, row in enumerate(reader, start=2):
        where = f"{path.name}:{line_no}"
        props = {k: _parse_value(v) for k, v in row.items() if k != column and k is not None}
        smiles = row[column] or ""
        collector.add(lambda s=smiles, w=where, p=props: _smiles_to_molecule(s, w, p, embed, seed), where)


class _quiet_rdkit:
    """RDKit prints parse errors to stderr; ours name the record instead."""

    def __enter__(self):
        RDLogger.DisableLog("rdApp.*")

    def __exit__(self, *exc):
        RDLogger.EnableLog("rdApp.*")


# ---------------------------------------------------------------- SDF

def _sdf_blocks(text: str):
    """(first line number, block text) of each record, split on ``$$$$`` lines."""
    block, start = [], 1
    for line_no, line in enumerate(text.splitlines(keepends=True), start=1):
        block.append(line)
        if line.strip() == "$$$$":
            yield start, "".join(block)
            block, start = [], line_no + 1
    if "".join(block).strip():
        yield start, "".join(block)


def _sdf_record(block: str, where: str, embed: bool, seed: int, sanitize: bool) -> Molecule:
    supplier = Chem.SDMolSupplier()
    supplier.SetData(block, sanitize=False, removeHs=False)
    with _quiet_rdkit():
        mol = next(iter(supplier), None)
    if mol is None:
        raise MoleculeReadError(where, "RDKit could not parse the molblock (broken counts line, atom or bond block)")
    if sanitize:
        try:
            with _quiet_rdkit():
                Chem.SanitizeMol(mol)
        except Exception as err:  # RDKit raises its own exception types for each chemistry problem
            raise MoleculeReadError(where, f"sanitization failed: {err}") from None
    properties = {k: _parse_value(v) for k, v in mol.GetPropsAsDict(includePrivate=False).items()}
    if mol.HasProp("_Name") and mol.GetProp("_Name").strip():
        properties.setdefault("name", mol.GetProp("_Name").strip())
    return _from_rdkit(mol, where, properties, None, embed, seed)


def read_sdf(path, *, embed: bool = True, seed: int = 0, sanitize: bool = True, on_error: str = "raise") -> ReadResult:
    """Molecules of an SDF (or single MOL) file.

    3D coordinates in the file are used as they are (Å); hydrogens the record
    leaves implicit are added with RDKit-generated coordinates. Records with 2D or no
    coordinates get a seeded 3D conformer (with explicit hydrogens) when
    ``embed`` is true, else ``pos`` is None. SD data fields become properties.
    Identifiers are ``file:#k (line L)``, k counting records from 0.
    """
    path = Path(path)
    collector = _Collector(str(path), on_error)
    text = path.read_text()
    for k, (line_no, block) in enumerate(_sdf_blocks(text)):
        where = f"{path.name}:#{k} (line {line_no})"
        collector.add(lambda b=block, w=where: _sdf_record(b, w, embed, seed, sanitize), where)
    return collector.result()


# ---------------------------------------------------------------- xyz / extxyz

def _xyz_frames(lines: list[str], path: Path, collector: _Collector):
    """(first line number, frame lines) of each frame; broken count lines are reported and skipped over."""
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        head = lines[i].strip()
        try:
            n = int(head)
            if n < 0:
                raise ValueError
        except ValueError:
            collector.add(_raiser(f"{path.name}:{i + 1}", f"expected an atom count, found {head[:40]!r}"), "")
            i = _next_count_line(lines, i + 1)
            continue
        if i + 2 + n > len(lines):
            collector.add(_raiser(f"{path.name}:{i + 1}", f"frame announces {n} atoms but the file ends after "
                                  f"{max(0, len(lines) - i - 2)} atom lines"), "")
            return
        yield i + 1, lines[i:i + 2 + n]
        i += 2 + n


def _next_count_line(lines, start):
    for j in range(start, len(lines)):
        if lines[j].strip().isdigit():
            return j
    return len(lines)


def _raiser(where, reason):
    def fail():
        raise MoleculeReadError(where, reason)
    return fail


def _xyz_frame(frame: list[str], path: Path, first_line: int, k: int) -> Molecule:
    where = f"{path.name}:{first_line} (frame {k})"
    for offset, line in enumerate(frame[2:], start=2):
        parts = line.split()
        if len(parts) < 4:
            raise MoleculeReadError(f"{path.name}:{first_line + offset}", f"atom line needs a symbol and x y z, got {line.strip()!r}")
        symbol = parts[0]
        if symbol not in _SYMBOL_TO_Z and not symbol.isdigit():
            raise MoleculeReadError(f"{path.name}:{first_line + offset}", f"unknown element symbol {symbol!r}")
    from ase.io import read as ase_read

    try:
        atoms = ase_read(io.StringIO("".join(frame)), format="extxyz")
    except Exception as err:  # ASE raises many exception types for malformed frames
        raise MoleculeReadError(where, f"ASE could not read the frame: {type(err).__name__}: {err}") from None
    properties = {k2: v for k2, v in atoms.info.items() if np.isscalar(v)}
    atom_properties = {k2: np.asarray(v) for k2, v in atoms.arrays.items() if k2 not in ("numbers", "positions")}
    if atoms.calc is not None:
        results = atoms.calc.results
        if "energy" in results:
            properties["energy"] = float(results["energy"])
        if "forces" in results:
            atom_properties["forces"] = np.asarray(results["forces"], dtype=np.float64)
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    return Molecule(
        z=np.asarray(atoms.get_atomic_numbers(), dtype=np.int64),
        pos=np.asarray(atoms.get_positions(), dtype=np.float64),
        identifier=where,
        cell=np.asarray(atoms.get_cell(), dtype=np.float64) if pbc.any() else None,
        pbc=pbc if pbc.any() else None,
        properties=properties,
        atom_properties=atom_properties,
    )


def read_xyz(path, *, on_error: str = "raise") -> ReadResult:
    """Frames of an xyz or extended-xyz file (parsed by ASE), positions in Å.

    Extended-xyz ``Lattice``/``pbc`` give cell and pbc; energy (eV) and forces
    (eV/Å) go to ``properties["energy"]`` and ``atom_properties["forces"]``;
    other scalar info fields become properties. Each frame is checked before
    parsing (atom count, element symbols, coordinate lines), so an error names
    the exact line; with ``on_error="skip"`` reading resumes at the next frame.
    Identifiers are ``file:line (frame k)``.
    """
    path = Path(path)
    collector = _Collector(str(path), on_error)
    lines = path.read_text().splitlines(keepends=True)
    for k, (first_line, frame) in enumerate(_xyz_frames(lines, path, collector)):
        collector.add(lambda f=frame, l=first_line, k=k: _xyz_frame(f, path, l, k), f"{path.name}:{first_line} (frame {k})")
    return collector.result()


# ---------------------------------------------------------------- dispatch

_READERS = {
    ".smi": read_smiles, ".smiles": read_smiles, ".txt": read_smiles, ".csv": read_smiles, ".tsv": read_smiles,
    ".sdf": read_sdf, ".sd": read_sdf, ".mol": read_sdf,
    ".xyz": read_xyz, ".extxyz": read_xyz,
}


def read_molecules(path, **options) -> ReadResult:
    """Reads any supported file, chosen by suffix; ``options`` go to that reader.

    ``.smi .smiles .txt .csv .tsv`` → :func:`read_smiles`, ``.sdf .sd .mol`` →
    :func:`read_sdf`, ``.xyz .extxyz`` → :func:`read_xyz`.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; supported: {sorted(_READERS)}")
    # Options one kind of file has no use for (a conformer seed for xyz coordinates) are dropped,
    # so the same options can be given for any file; unknown names are still an error.
    known = {name for reader_ in set(_READERS.values()) for name in inspect.signature(reader_).parameters}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"read_molecules: unknown option(s) {unknown}; readers take {sorted(known - {'path', 'source'})}")
    accepted = inspect.signature(reader).parameters
    return reader(path, **{k: v for k, v in options.items() if k in accepted})


def read_many(paths: Iterable, **options) -> ReadResult:
    """Reads several files with :func:`read_molecules`; one combined list and report."""
    molecules, report = [], ReadReport(source="several files")
    for p in paths:
        result = read_molecules(p, **options)
        molecules += result.molecules
        report.num_read += result.report.num_read
        report.skipped += result.report.skipped
    return ReadResult(molecules, report)
