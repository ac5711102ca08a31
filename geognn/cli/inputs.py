"""The command line's view of a molecule file: :mod:`geognn.featurize.io` plus what a command needs.

The readers themselves live in :mod:`geognn.featurize.io`. This module only
adds what is specific to commands run on a user's file:

- every bad molecule is skipped and reported (``on_error="skip"``), never fatal;
- identifiers people recognise: the name on a ``.smi`` line, a CSV ``--id-column``,
  an SDF title or an extxyz ``name=``, else where the reader found the record;
- a progress bar while SMILES get their seeded 3D conformers (the slow part);
- error messages that name the option that fixes them.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

TABLE_SUFFIXES = (".csv", ".tsv")
SMILES_SUFFIXES = (".smi", ".smiles", ".txt")
SDF_SUFFIXES = (".sdf", ".sd", ".mol")
# Closer than this (Å) two atoms are a broken geometry rather than a molecule.
MIN_ATOM_DISTANCE = 0.1
_EMBED_CHUNK = 64


def read_inputs(path, *, smiles_column: str = "smiles", id_column: str | None = None, seed: int = 0,
                progress: bool = False):
    """Molecules of a .smi/.csv/.tsv/.sdf/.xyz/.extxyz file, and the ones skipped.

    Args:
        path: the file; its suffix picks the reader of :mod:`geognn.featurize.io`.
        smiles_column, id_column: CSV columns of the SMILES and of an identifier.
        seed: seed of the RDKit conformers made for SMILES.
        progress: show a progress bar while conformers are made.

    Returns:
        ``(molecules, skipped)``: :class:`geognn.featurize.io.Molecule` records
        with ``pos`` in Å and ``identifier`` set as described in the module
        docstring, and a list of ``SkippedRecord(where, reason)``.

    Raises:
        FileNotFoundError, ValueError: the file as a whole cannot be read (missing,
            unknown suffix, no such column); the message says which option fixes it.
    """
    from geognn.featurize import io

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist; check the path given to --input/--data")
    suffix = path.suffix.lower()
    is_table = suffix in TABLE_SUFFIXES
    if is_table:
        smiles_column = check_table_columns(path, smiles_column, id_column)
    elif id_column:
        raise ValueError(f"--id-column applies to .csv/.tsv tables, not to {path.name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the readers warn about skips; the command reports them itself
        if is_table or suffix in SMILES_SUFFIXES:
            graphs, report = io.read_smiles(path, column=smiles_column if is_table else None, embed=False,
                                            on_error="skip")
            molecules, skipped = _embed(graphs, seed, progress)
            skipped = report.skipped + skipped
        else:
            # read_xyz takes no seed (nothing to embed), so it is only passed to the SDF reader.
            options = {"seed": seed} if suffix in SDF_SUFFIXES else {}
            molecules, report = io.read_molecules(path, on_error="skip", **options)
            skipped = list(report.skipped)
    for m in molecules:
        m.identifier = _identifier(m, id_column)
    return molecules, skipped


def check_table_columns(path: Path, smiles_column: str, id_column: str | None) -> str:
    """The SMILES column's name as the header spells it (case aside); errors name the option to change."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, newline="") as handle:
        header = next(csv.reader(handle, delimiter=delimiter), [])
    if smiles_column not in header:
        smiles_column = next((h for h in header if h.strip().lower() == smiles_column.lower()), smiles_column)
    if smiles_column not in header:
        raise ValueError(f"{path}: no column {smiles_column!r} among {header}; name the SMILES column "
                         f"with --smiles-column")
    if id_column and id_column not in header:
        raise ValueError(f"{path}: no column {id_column!r} among {header}; fix --id-column or leave it out")
    return smiles_column


def _embed(graphs, seed: int, progress: bool):
    """3D conformers for molecules read as graphs, in chunks so that a progress bar can follow.

    Each molecule is embedded with the same ``seed`` whatever the chunking, so the
    coordinates equal those of reading the file with ``embed=True``.
    """
    from tqdm.auto import tqdm

    from geognn.featurize import io

    molecules, skipped = [], []
    with tqdm(total=len(graphs), desc="3D conformers", unit="mol", disable=not progress or len(graphs) < 2,
              leave=False) as bar:
        for first in range(0, len(graphs), _EMBED_CHUNK):
            chunk = graphs[first:first + _EMBED_CHUNK]
            embedded, report = io.read_smiles([g.smiles for g in chunk], embed=True, seed=seed, on_error="skip")
            failed = {s.where: s.reason for s in report.skipped}
            done = iter(embedded)
            for k, graph in enumerate(chunk):
                reason = failed.get(f"smiles[{k}]")
                if reason is not None:
                    skipped.append(io.SkippedRecord(graph.identifier, reason))
                    continue
                m = next(done)
                m.identifier, m.properties = graph.identifier, graph.properties
                molecules.append(m)
            bar.update(len(chunk))
    return molecules, skipped


def _identifier(m, id_column: str | None) -> str:
    value = m.properties.get(id_column) if id_column else m.properties.get("name")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the CSV reader parses numeric cells: show 7, not 7.0
    text = str(value).strip() if value is not None else ""
    return text or m.identifier


def geometry_problem(pos: np.ndarray) -> str | None:
    """Why positions (n, 3) Å cannot be a molecule (two atoms nearly on top of each other), or None."""
    if len(pos) < 2:
        return None
    diff = pos[:, None, :] - pos[None, :, :]
    dist = np.sqrt((diff**2).sum(-1)) + np.eye(len(pos)) * 1e9
    i, j = np.unravel_index(int(np.argmin(dist)), dist.shape)
    if dist[i, j] < MIN_ATOM_DISTANCE:
        return f"atoms {min(i, j)} and {max(i, j)} are {dist[i, j]:.3f} Å apart"
    return None


def report_skipped(skipped: Sequence, stream, limit: int = 20) -> None:
    """Prints how many molecules were skipped, where each was and why (the first ``limit``)."""
    if not skipped:
        return
    print(f"geognn: skipped {len(skipped)} molecule(s) that could not be used:", file=stream)
    for item in skipped[:limit]:
        print(f"  {item.where}: {item.reason}", file=stream)
    if len(skipped) > limit:
        print(f"  ... and {len(skipped) - limit} more", file=stream)
