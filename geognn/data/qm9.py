"""QM9 (130,831 molecules, B3LYP/6-31G(2df,p)) from the qm9pack wheel, as PyG ``Data``.

Processing parses the CSVs once into flat tensors holding every target in
served units (energies in eV) and caches them; choosing targets and
atomization happens at load time, so switching targets never reprocesses.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch_geometric.data import Data
from tqdm.auto import tqdm

from geognn.data.atomic_io import default_cache_dir
from geognn.data.packed import PackedMolecules
from geognn.data.qm9_source import QM9_NUM_MOLECULES, iter_qm9_rows, qm9_csv_paths
from geognn.data.qm9_targets import (
    ATOMIZATION_TARGETS,
    QM9_TARGETS,
    convert_raw_targets,
    qm9_atomref,
    qm9_target,
)
from geognn.data.tensor_cache import load_tensors, save_tensors

# Bump when the processed content or its layout changes: old caches become stale.
QM9_CACHE_VERSION = 1


class QM9(PackedMolecules):
    """QM9 molecules with their DFT properties, read from the ``qm9pack`` package.

    Each item is a ``torch_geometric.data.Data`` with

    - ``z``: (n,) int64 atomic numbers (H, C, N, O, F),
    - ``pos``: (n, 3) float32 positions in Å,
    - ``y``: (1, n_targets) float32 targets, in the units of :attr:`targets`,
    - ``idx``: (1,) int64 QM9 index (1-based, as in the ``dsgdb9nsd_XXXXXX`` names),
    - ``smiles``: the molecule's SMILES string.

    No edges: pass a transform (e.g. ``geognn.featurize.RadiusGraph(cutoff)``,
    or any callable ``Data -> Data``) to build them on access.

    Units (:attr:`targets`): mu in Debye, alpha in Bohr³, homo/lumo/gap/zpve and
    U0/U/H/G in **eV** (converted from Hartree with CODATA 27.211386245988),
    r2 in Bohr², Cv in cal/(mol K).

    Args:
        target: a target name or a list of names from :attr:`targets`.
        root: cache directory; default :func:`geognn.data.atomic_io.default_cache_dir`
            (``$GEOGNN_CACHE``, else ``$XDG_CACHE_HOME/geognn``, else ``~/.cache/geognn``).
        transform: callable applied to each ``Data`` on access.
        atomization: if True, U0, U, H and G are atomization energies (total minus
            the B3LYP single-atom energies of :meth:`atomref`, in eV, negative for
            bound molecules); if False, totals. Other targets are unaffected.
        limit: use only the first ``limit`` molecules in QM9 order (for quick runs).
        force_reload: reprocess even if a valid cache exists.
        progress: show a progress bar while processing (only on a terminal).

    The processed tensors are cached in ``root/qm9`` keyed by
    :data:`QM9_CACHE_VERSION`, ``limit`` and the size and time stamp of the
    source files; a cache that is stale or fails its checksum is rebuilt.
    """

    targets: dict[str, str] = {t.name: t.unit for t in QM9_TARGETS}
    """All target names, in QM9 order, with the unit geognn serves them in."""

    def __init__(
        self,
        target: str | Sequence[str] = "U0",
        root: str | os.PathLike | None = None,
        transform: Callable[[Data], Data] | None = None,
        atomization: bool = True,
        limit: int | None = None,
        *,
        force_reload: bool = False,
        progress: bool = True,
    ) -> None:
        names = [target] if isinstance(target, str) else list(target)
        if not names:
            raise ValueError("QM9 needs at least one target")
        self.target_names = [qm9_target(n).name for n in names]
        if limit is not None and (int(limit) != limit or limit < 1):
            raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.atomization = atomization
        self.limit = None if limit is None else int(limit)
        self.cache_path = self.root / "qm9" / f"qm9-v{QM9_CACHE_VERSION}-{self.limit or 'all'}.pt"

        store = None if force_reload else load_tensors(self.cache_path, self._cache_metadata())
        if store is None:
            store = process_qm9(self.limit, progress=progress)
            try:
                save_tensors(self.cache_path, store, self._cache_metadata())
            except OSError as err:  # a read-only cache must not stop the run, only slow the next one
                warnings.warn(f"could not write the QM9 cache {self.cache_path}: {err}", stacklevel=2)

        z = store["z"].long()
        atom_ptr = store["atom_ptr"]
        all_targets = store["targets"]  # (M, 12) float64, totals
        columns = [self._column(n) for n in self.target_names]
        y = all_targets[:, columns].clone()
        if atomization:
            molecule_of_atom = torch.repeat_interleave(
                torch.arange(atom_ptr.numel() - 1), atom_ptr[1:] - atom_ptr[:-1]
            )
            for k, name in enumerate(self.target_names):
                if name in ATOMIZATION_TARGETS:
                    reference = torch.zeros(y.shape[0], dtype=torch.float64)
                    reference.index_add_(0, molecule_of_atom, qm9_atomref(name)[z])
                    y[:, k] -= reference
        super().__init__(
            z,
            store["pos"],
            atom_ptr,
            y.float(),
            {"smiles": store["smiles"].split("\n")},
            store["idx"].long(),
            transform=transform,
        )

    @property
    def smiles(self) -> list[str]:
        """SMILES of the molecules of this view, in order."""
        return [self.strings["smiles"][self.storage_index(i)] for i in range(len(self))]

    @property
    def units(self) -> list[str]:
        """Units of the columns of ``y``, in order."""
        return [self.targets[n] for n in self.target_names]

    @staticmethod
    def atomref(target: str = "U0", num_elements: int = 10) -> torch.Tensor:
        """(num_elements,) float64 single-atom reference energies in eV, indexed by atomic number.

        Zero for targets other than U0, U, H, G. Adding ``atomref(t)[z].sum()``
        to an atomization energy gives the total energy of the molecule.
        """
        return qm9_atomref(target, num_elements)

    def atomrefs(self, num_elements: int = 101) -> torch.Tensor:
        """(num_elements, n_targets) float64 single-atom energies (eV) of this dataset's targets.

        Column ``k`` is :meth:`atomref` of ``target_names[k]``; all zeros when
        this dataset serves totals (``atomization=False``), so adding
        ``atomrefs()[z].sum(0)`` to ``y`` always gives the total. The default
        101 rows fit a model with an embedding for Z = 0..100.
        """
        columns = [qm9_atomref(name, num_elements) for name in self.target_names]
        table = torch.stack(columns, dim=1)
        return table if self.atomization else torch.zeros_like(table)

    @staticmethod
    def reference_energy(
        target: str, z: torch.Tensor, batch: torch.Tensor | None = None, num_graphs: int | None = None
    ) -> torch.Tensor:
        """(num_graphs,) float64 sum of single-atom energies (eV) per molecule.

        ``z``: (n_atoms,) atomic numbers; ``batch``: (n_atoms,) molecule of
        each atom (PyG convention), all atoms in one molecule if ``None``.
        """
        per_atom = qm9_atomref(target).to(z.device)[z]
        if batch is None:
            return per_atom.sum().reshape(1)
        size = int(batch.max()) + 1 if num_graphs is None else num_graphs
        return torch.zeros(size, dtype=per_atom.dtype, device=z.device).index_add_(0, batch, per_atom)

    @staticmethod
    def _column(name: str) -> int:
        return [t.name for t in QM9_TARGETS].index(name)

    def _cache_metadata(self) -> dict:
        sources = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in qm9_csv_paths()]
        return {"dataset": "qm9", "version": QM9_CACHE_VERSION, "limit": self.limit, "sources": sources}


def process_qm9(limit: int | None = None, progress: bool = True) -> dict[str, torch.Tensor | str]:
    """Parses the qm9pack CSVs into flat tensors (the content of the QM9 cache).

    Returns ``z`` (A,) uint8, ``pos`` (A, 3) float32 Å, ``atom_ptr`` (M+1,)
    int64, ``targets`` (M, 12) float64 in served units (totals, energies in
    eV, QM9_TARGETS order), ``idx`` (M,) int64 QM9 index, ``smiles`` (one
    string, newline-separated).
    """
    total = QM9_NUM_MOLECULES if limit is None else min(limit, QM9_NUM_MOLECULES)
    columns = [t.column for t in QM9_TARGETS]
    zs, positions, counts, raw, idx, smiles = [], [], [], [], [], []
    bar = tqdm(iter_qm9_rows(limit), total=total, desc="processing QM9", unit="mol",
               disable=None if progress else True, mininterval=0.5)
    for row in bar:
        zs.append(row.z)
        positions.append(row.pos)
        counts.append(len(row.z))
        raw.append([row.properties[c] for c in columns])
        idx.append(row.index)
        smiles.append(row.smiles)
    if not zs:
        raise ValueError(f"no molecules read from {[str(p) for p in qm9_csv_paths()]}")
    atom_ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=atom_ptr[1:])
    return {
        "z": torch.from_numpy(np.concatenate(zs).astype(np.uint8)),
        "pos": torch.from_numpy(np.concatenate(positions).astype(np.float32)),
        "atom_ptr": torch.from_numpy(atom_ptr),
        "targets": torch.from_numpy(convert_raw_targets(np.asarray(raw, dtype=np.float64))),
        "idx": torch.tensor(idx, dtype=torch.int64),
        "smiles": "\n".join(smiles),
    }
