"""xTB-MD17: MD17-style force-field frames of small molecules, generated here with GFN2-xTB.

The frames ship in ``datasets/xtb_md17/`` (one ``<name>.pt`` tensor file per molecule,
read with the safe loader, and a ``<name>.json`` card); ``datasets/xtb_md17/make.py``
generated them (500 K Langevin MD, one frame every 50 fs) and regenerates them.
Nothing is downloaded and nothing is computed on load.

    >>> from geognn.data import XTBMD17
    >>> aspirin = XTBMD17("aspirin")          # 1,600 frames of 21 atoms
    >>> aspirin[0]                            # Data(z, pos (Å), y (1, 1) energy (eV), forces (eV/Å), ...)
    >>> train = aspirin.split("train")        # 1,000 frames; also "val" (100), "test" (500), "train_50"
    >>> aspirin.card["autocorrelation"]["at_spacing"]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import torch
from torch_geometric.data import Data

from geognn.data.packed import PackedMolecules

XTB_MD17_MOLECULES = ("ethanol", "malonaldehyde", "aspirin")
FORMAT = "geognn.xtb_md17/1"


def xtb_md17_dir() -> Path:
    """The folder holding the shipped frames (``$GEOGNN_DATASETS/xtb_md17``, the wheel's copy, or the
    checkout's ``datasets/xtb_md17``)."""
    from geognn.data.kg import bundled_datasets_dir

    return bundled_datasets_dir() / "xtb_md17"


def load_generator():
    """The generator script ``make.py`` beside the shipped frames, as a module (``generate``,
    ``make_splits``, ``MOLECULES``, ``Settings``); it needs ``tblite`` (``pip install 'geognn[xtb]'``)
    only to generate."""
    import importlib.util
    import sys

    path = xtb_md17_dir() / "make.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the generator ships beside the frames in datasets/xtb_md17/")
    name = "geognn_xtb_md17_make"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the script runs
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_xtb_md17_file(path: str | os.PathLike) -> dict:
    """The tensors of one shipped frame file, read with the safe loader (no code runs).

    Raises ``ValueError`` for a file that is not an xTB-MD17 frame file.
    """
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an xTB-MD17 frame file (format {FORMAT!r})")
    return payload


class XTBMD17(PackedMolecules):
    """The frames of one xTB-MD17 molecule as PyG ``Data``, with the shipped splits.

    Each item has ``z`` (n,) int64, ``pos`` (n, 3) float32 Å, ``y`` (1, 1) float32 total
    GFN2-xTB energy in eV (float32 resolves about 1e-4 eV at aspirin's -1077 eV; the
    float64 values are in :attr:`energy`), ``forces`` (n, 3) float32 eV/Å, ``idx`` (1,)
    the frame number and ``name`` ("aspirin:17"). Frames are in time order.

    Args:
        name: ``"ethanol"``, ``"malonaldehyde"`` or ``"aspirin"``, or a path to a ``.pt``
            frame file written by ``datasets/xtb_md17/make.py``.
        transform: callable applied to each ``Data`` on access (e.g. a radius graph).

    Attributes:
        name, smiles: the molecule.
        energy: (F,) float64 energies (eV); velocities: (F, n, 3) float32 Å/fs;
        time_fs: (F,) float64 simulation time of each frame (fs).
        relaxed_positions: (n, 3) float64 GFN2-xTB minimum (Å); bonds: (B, 2) int64 atom pairs of
            the SMILES graph (the bonds the MD stability check watches).
        splits: {"train", "val", "test", "train_50"} -> sorted int64 frame indices
            (train/val/test disjoint, ``train_50`` a subset of ``train``).
        card: the generation card (seeds, tblite version, settings, autocorrelation, times).
    """

    def __init__(self, name: str | os.PathLike = "aspirin", transform: Callable[[Data], Data] | None = None):
        path = Path(name)
        if path.suffix != ".pt":
            key = str(name).lower()
            if key not in XTB_MD17_MOLECULES:
                raise ValueError(f"unknown xTB-MD17 molecule {name!r}; choose from {', '.join(XTB_MD17_MOLECULES)}")
            path = xtb_md17_dir() / f"{key}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the xTB-MD17 frames ship in datasets/xtb_md17/ of a "
                                    f"geognn checkout (regenerate with python datasets/xtb_md17/make.py)")
        payload = load_xtb_md17_file(path)
        card_path = path.with_suffix(".json")
        self.card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
        self.name, self.smiles = str(payload["name"]), str(payload["smiles"])
        z_one = payload["z"].long()
        positions = payload["positions"].float()
        frames, n = positions.shape[0], z_one.numel()
        self.energy = payload["energy"].double()
        self.velocities = payload["velocities"].float()
        self.time_fs = payload["time_fs"].double()
        self.relaxed_positions = payload["relaxed_positions"].double()
        self.bonds = payload["bonds"].long()
        self.splits = {k: v.long() for k, v in payload["splits"].items()}
        self.tblite_version = str(payload.get("tblite_version", ""))
        super().__init__(
            z_one.repeat(frames),
            positions.reshape(frames * n, 3),
            torch.arange(frames + 1, dtype=torch.int64) * n,
            self.energy.float().reshape(frames, 1),
            {"name": [f"{self.name}:{i}" for i in range(frames)]},
            torch.arange(frames, dtype=torch.int64),
            forces=payload["forces"].float().reshape(frames * n, 3),
            transform=transform,
        )

    def split(self, name: str) -> PackedMolecules:
        """The frames of one shipped split (``train``, ``val``, ``test``, ``train_50``) as a view."""
        if name not in self.splits:
            raise ValueError(f"{self.name}: no split {name!r}; shipped: {', '.join(self.splits)}")
        return self.index_select(self.splits[name])

    @property
    def num_atoms_per_frame(self) -> int:
        """Atoms of the molecule (every frame has the same)."""
        return int(self._atom_ptr[1])

    def frame_positions(self, indices=None) -> torch.Tensor:
        """(F', n, 3) float32 positions (Å) of the given frames (default: every frame)."""
        pos = self._pos.reshape(-1, self.num_atoms_per_frame, 3)
        return pos if indices is None else pos[torch.as_tensor(indices, dtype=torch.long)]

    def frame_forces(self, indices=None) -> torch.Tensor:
        """(F', n, 3) float32 forces (eV/Å) of the given frames (default: every frame)."""
        forces = self._forces.reshape(-1, self.num_atoms_per_frame, 3)
        return forces if indices is None else forces[torch.as_tensor(indices, dtype=torch.long)]

    def to_ase(self, index: int):
        """Frame ``index`` as ASE ``Atoms`` with its xTB velocities (ASE units), energy and forces attached
        as a single-point calculator: a start for MD."""
        from ase import Atoms, units
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = Atoms(numbers=self._z[: self.num_atoms_per_frame].numpy(),
                      positions=self.frame_positions([index])[0].double().numpy())
        atoms.set_velocities(self.velocities[index].double().numpy() / units.fs)
        atoms.calc = SinglePointCalculator(atoms, energy=float(self.energy[index]),
                                           forces=self.frame_forces([index])[0].double().numpy())
        return atoms

    def __repr__(self) -> str:
        return f"XTBMD17({self.name!r}, frames={len(self)}, atoms={self.num_atoms_per_frame})"
