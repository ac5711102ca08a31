"""Raw access to the QM9 CSV files shipped inside the ``qm9pack`` wheel.

``import qm9pack`` fails on current setuptools (it imports ``pkg_resources``),
so the files are located with ``importlib.util.find_spec``, which finds the
package without executing it. Rows are returned as they are stored: positions
in Å, properties in the file's units (Hartree, Debye, Bohr³, cal/mol K).
Unit conversion and targets live in :mod:`geognn.data.qm9`.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

QM9_PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
QM9_NUM_MOLECULES = 130_831

_SYMBOL_TO_Z = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}


def qm9_csv_paths() -> list[Path]:
    """Paths of the three QM9 CSV files of the installed ``qm9pack`` wheel, in order."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "QM9 comes from the qm9pack package, which is not installed: run `pip install geognn[qm9]` "
            "(or `pip install qm9pack`). Nothing is downloaded at run time."
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "data"
    paths = [root / name for name in QM9_PARTS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"qm9pack is installed but its data files are missing: {missing}")
    return paths


@dataclass
class QM9Row:
    """One QM9 molecule as stored: ``z`` (n,) int64, ``pos`` (n, 3) float64 in Å, raw properties."""

    index: int
    name: str
    smiles: str
    z: np.ndarray
    pos: np.ndarray
    properties: dict[str, float] = field(default_factory=dict)


def _parse_elements(text: str, where: str) -> np.ndarray:
    symbols = [s.strip().strip("'\"") for s in text.strip("[]").split(",")]
    try:
        return np.array([_SYMBOL_TO_Z[s] for s in symbols], dtype=np.int64)
    except KeyError as err:
        raise ValueError(f"{where}: unknown element symbol {err.args[0]!r} in {text[:60]!r}") from None


def _parse_positions(text: str, n_atoms: int, where: str) -> np.ndarray:
    # "[[x,y,z],[x,y,z]]"; values such as "0." are valid floats but not JSON.
    flat = text.replace("[", "").replace("]", "").split(",")
    try:
        pos = np.array(flat, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{where}: unparsable coordinates ({err})") from None
    if pos.size != 3 * n_atoms:
        raise ValueError(f"{where}: {pos.size} coordinate values for {n_atoms} atoms")
    return pos.reshape(n_atoms, 3)


_PROPERTY_COLUMNS = (
    "RotA_GHz", "RotB_GHz", "RotC_GHz", "Dipole_debye", "Polarizability_bohr3", "HOMO_au", "LUMO_au",
    "HOMO_LUMO_gap_au", "R2_bohr2", "ZPVE_au", "InternalEnergy_0K_au", "InternalEnergy_298K_au",
    "Enthalphy_298K_au", "GibbsFreeEnergy_298K_au", "Heatcapacity_Cv_cal_mol_K",
)


def _parse_properties(row: dict[str, str], where: str) -> dict[str, float]:
    props = {}
    for key in _PROPERTY_COLUMNS:
        text = row.get(key)
        try:
            props[key] = float(text)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: column {key} holds {text!r}, not a number") from None
    return props


def iter_qm9_rows(limit: int | None = None) -> Iterator[QM9Row]:
    """Yields QM9 molecules in file order (QM9 index 1, 2, ...), at most ``limit`` of them."""
    csv.field_size_limit(sys.maxsize)
    count = 0
    for path in qm9_csv_paths():
        with open(path, newline="") as handle:
            for line_no, row in enumerate(csv.DictReader(handle), start=2):
                if limit is not None and count >= limit:
                    return
                where = f"{path.name}:{line_no}"
                z = _parse_elements(row["Elements"], where)
                pos = _parse_positions(row["XYZ_Ang"], len(z), where)
                props = _parse_properties(row, where)
                yield QM9Row(int(row["Index"]), row["XYZ_file"], row["SMILES"], z, pos, props)
                count += 1
