"""Molecules stored as flat tensors, served one PyG ``Data`` at a time.

All atoms of all molecules sit in one ``z``/``pos`` array with an offset
vector ``atom_ptr``, so a dataset of 130k molecules is a handful of tensors
(fast to cache, fast to load) instead of 130k Python objects. ``Data``
objects are cut out on access, which costs microseconds.
"""

from __future__ import annotations

import copy
import operator
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch_geometric.data import Data


class PackedMolecules(Dataset):
    """A dataset of molecules held as flat tensors.

    Args:
        z: (n_atoms_total,) int64 atomic numbers of all molecules, concatenated.
        pos: (n_atoms_total, 3) float32 positions in Å.
        atom_ptr: (n_molecules + 1,) int64; molecule ``i`` owns atoms
            ``atom_ptr[i]:atom_ptr[i+1]``.
        y: (n_molecules, n_targets) float32 targets, or ``None``.
        strings: per-molecule string fields, e.g. ``{"smiles": [...], "name": [...]}``; each
            item gets one attribute per key.
        idx: (n_molecules,) int64 index of each molecule in its source (e.g. the QM9 index).
        forces: (n_atoms_total, 3) float32 forces in eV/Å, or ``None``.
        cell: (n_molecules, 3, 3) float32 cell vectors in Å (rows), or ``None``.
        pbc: (n_molecules, 3) bool periodic directions, or ``None``.
        transform: any callable ``Data -> Data`` applied on access (e.g. a radius graph).

    Indexing with an int gives a ``Data`` with ``z`` (n,), ``pos`` (n, 3),
    ``y`` (1, n_targets), ``idx`` (1,), the string fields, and ``forces`` (n, 3),
    ``cell`` (1, 3, 3), ``pbc`` (1, 3) when present. Indexing with a slice, a
    list or an index tensor gives a dataset of those molecules sharing storage.
    """

    def __init__(
        self,
        z: torch.Tensor,
        pos: torch.Tensor,
        atom_ptr: torch.Tensor,
        y: torch.Tensor | None,
        strings: dict[str, Sequence[str]],
        idx: torch.Tensor,
        *,
        forces: torch.Tensor | None = None,
        cell: torch.Tensor | None = None,
        pbc: torch.Tensor | None = None,
        transform: Callable[[Data], Data] | None = None,
    ) -> None:
        n = atom_ptr.numel() - 1
        if z.numel() != int(atom_ptr[-1]) or pos.shape != (z.numel(), 3):
            raise ValueError(
                f"inconsistent packing: {z.numel()} atomic numbers, positions {tuple(pos.shape)}, "
                f"atom_ptr ends at {int(atom_ptr[-1])}"
            )
        for name, value, rows in (("y", y, n), ("idx", idx, n), ("forces", forces, z.numel()),
                                  ("cell", cell, n), ("pbc", pbc, n)):
            if value is not None and value.shape[0] != rows:
                raise ValueError(f"{name} has {value.shape[0]} rows, expected {rows}")
        for key, values in strings.items():
            if len(values) != n:
                raise ValueError(f"{len(values)} values of {key!r} for {n} molecules")
        # Packed storage of every molecule; the public properties below respect views.
        self._z, self._pos, self._atom_ptr, self._y = z, pos, atom_ptr, y
        self.strings, self._idx = strings, idx
        self._forces, self._cell, self._pbc = forces, cell, pbc
        self.transform = transform
        self._indices: torch.Tensor | None = None

    def __len__(self) -> int:
        return self._atom_ptr.numel() - 1 if self._indices is None else self._indices.numel()

    def __getitem__(self, key):
        if isinstance(key, slice) or (torch.is_tensor(key) and key.dim() > 0):
            return self.index_select(key)
        if isinstance(key, (list, tuple, range, np.ndarray)) and np.ndim(key) > 0:
            return self.index_select(key)
        return self.get(operator.index(key))

    def __iter__(self):
        for i in range(len(self)):
            yield self.get(i)

    def storage_index(self, i: int) -> int:
        """Position in the packed storage of this view's ``i``-th molecule."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} molecules")
        i %= n
        return i if self._indices is None else int(self._indices[i])

    def get(self, i: int) -> Data:
        """The ``i``-th molecule as a ``Data`` (after the transform, if any)."""
        j = self.storage_index(i)
        start, stop = int(self._atom_ptr[j]), int(self._atom_ptr[j + 1])
        data = Data(z=self._z[start:stop], pos=self._pos[start:stop], idx=self._idx[j : j + 1])
        if self._y is not None:
            data.y = self._y[j : j + 1]
        for key, values in self.strings.items():
            data[key] = values[j]
        if self._forces is not None:
            data.forces = self._forces[start:stop]
        if self._cell is not None:
            data.cell = self._cell[j : j + 1]
        if self._pbc is not None:
            data.pbc = self._pbc[j : j + 1]
        return data if self.transform is None else self.transform(data)

    def index_select(self, key) -> "PackedMolecules":
        """A view of the molecules selected by a slice, a list/array of ints or a bool/int tensor."""
        current = torch.arange(len(self)) if self._indices is None else self._indices
        if isinstance(key, slice):
            chosen = current[key]
        else:
            key = torch.as_tensor(key)
            if key.dtype == torch.bool:
                if key.numel() != len(self):
                    raise IndexError(f"boolean mask of length {key.numel()} for {len(self)} molecules")
                key = key.nonzero().flatten()
            elif key.is_floating_point():
                raise IndexError(f"molecule indices must be integers, got {key.dtype}")
            key = key.long().flatten()
            if key.numel() and (int(key.max()) >= len(self) or int(key.min()) < -len(self)):
                raise IndexError(f"index out of range for a dataset of {len(self)} molecules")
            chosen = current[key]
        view = copy.copy(self)
        view._indices = chosen
        return view

    # --- whole-view tensors (for statistics, splits, atom references) ---------
    @property
    def num_atoms(self) -> torch.Tensor:
        """(len(self),) int64 number of atoms of each molecule of this view."""
        counts = self._atom_ptr[1:] - self._atom_ptr[:-1]
        return counts if self._indices is None else counts[self._indices]

    @property
    def atom_ptr(self) -> torch.Tensor:
        """(len(self) + 1,) int64 offsets of this view's molecules in :attr:`z` / :attr:`pos`."""
        if self._indices is None:
            return self._atom_ptr
        return torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(self.num_atoms, 0)])

    @property
    def batch(self) -> torch.Tensor:
        """(n_atoms,) int64 molecule (position in this view) of each atom of :attr:`z`."""
        return torch.repeat_interleave(torch.arange(len(self)), self.num_atoms)

    @property
    def z(self) -> torch.Tensor:
        """(n_atoms,) int64 atomic numbers of this view's molecules, concatenated."""
        return self._per_atom(self._z)

    @property
    def pos(self) -> torch.Tensor:
        """(n_atoms, 3) float32 positions (Å) of this view's molecules, concatenated."""
        return self._per_atom(self._pos)

    @property
    def forces(self) -> torch.Tensor | None:
        """(n_atoms, 3) float32 forces (eV/Å) of this view's molecules, or ``None``."""
        return None if self._forces is None else self._per_atom(self._forces)

    @property
    def y(self) -> torch.Tensor | None:
        """(len(self), n_targets) float32 targets of this view's molecules, or ``None``."""
        return self._per_molecule(self._y)

    @property
    def idx(self) -> torch.Tensor:
        """(len(self),) int64 source index of each molecule of this view."""
        return self._per_molecule(self._idx)

    @property
    def cell(self) -> torch.Tensor | None:
        """(len(self), 3, 3) float32 cells (Å) of this view's molecules, or ``None``."""
        return self._per_molecule(self._cell)

    @property
    def pbc(self) -> torch.Tensor | None:
        """(len(self), 3) bool periodic directions of this view's molecules, or ``None``."""
        return self._per_molecule(self._pbc)

    def _per_molecule(self, values: torch.Tensor | None) -> torch.Tensor | None:
        if values is None or self._indices is None:
            return values
        return values[self._indices]

    def _per_atom(self, values: torch.Tensor) -> torch.Tensor:
        if self._indices is None:
            return values
        counts = self.num_atoms
        starts = self._atom_ptr[self._indices]
        # Atom k of the view is atom (start of its molecule) + (its rank within the molecule).
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        return values[torch.repeat_interleave(starts, counts) + offsets]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)})"
