"""Generates the xTB-MD17 force-field data set: GFN2-xTB Langevin MD at 500 K.

For each molecule (MD17's ethanol, malonaldehyde and aspirin):

1. build it from SMILES (RDKit, hydrogens added, one seeded ETKDG conformer);
2. relax it with GFN2-xTB (tblite's ASE calculator, BFGS to ``fmax`` 1e-3 eV/Å);
3. draw Maxwell-Boltzmann velocities at 500 K (seeded), remove the centre-of-mass
   momentum and keep it fixed (``ase.constraints.FixCom``);
4. run Langevin MD at 500 K (MD17's temperature), time step 0.5 fs (MD17's), friction
   0.05 fs^-1 (thermostat relaxation time 20 fs), every random number from one seeded
   NumPy generator;
5. discard the first 2 ps (100 thermostat relaxation times) as equilibration;
6. keep one frame every 50 fs (100 steps). The potential energy of *every* production
   step is recorded and its autocorrelation function is written to the card: the
   spacing is justified there (ACF at the spacing, integrated autocorrelation time).

Why this friction and spacing: a pilot on ethanol at 0.01 fs^-1 left an energy ACF of
0.22 at 100 fs (0.05 only after 235 fs), and at 0.02 fs^-1 0.12 at 100 fs; the frame
spacing sets the cost (steps per frame), so the stronger thermostat buys decorrelated
frames at half the steps. The frames sample the canonical ensemble at 500 K either way
(Langevin samples it for any friction); only the dynamics between frames is damped.

Energies are in eV (tblite's total energy, no reference subtracted), forces in eV/Å,
positions in Å, velocities in Å/fs. Frames are written as a tensor file the safe loader
reads (``torch.load(weights_only=True)``): ``<name>.pt`` beside this script, plus
``<name>.json`` (the card: seeds, tblite version, method, settings, generation time,
autocorrelation) and ``<name>_acf.png``. Splits (train 1,000, val 100, test 500, and
``train_50``, the first 50 training frames) are drawn once from a seeded permutation
of the frames and shipped in the file.

Run (the measured generation times are on each card)::

    python datasets/xtb_md17/make.py ethanol malonaldehyde aspirin

Determinism: tblite runs on one OpenMP thread (set below, before it loads), so the
same seed, tblite version and machine type give the same frames; the test
``tests/data/test_xtb_md17_regenerate.py`` regenerates the first frames and compares.
"""

from __future__ import annotations

import os

# One thread, set before tblite's OpenMP runtime starts: the order of floating-point
# reductions (and so the chaotic trajectory) must not depend on the core count.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Molecule:
    """One molecule of the set: its name, SMILES and the seed of every random choice."""

    name: str
    smiles: str
    seed: int


MOLECULES = {
    m.name: m
    for m in (
        Molecule("ethanol", "CCO", 17001),
        # The Z enol with its internal O-H...O hydrogen bond, as in MD17.
        Molecule("malonaldehyde", "O=C/C=C\\O", 17002),
        Molecule("aspirin", "CC(=O)Oc1ccccc1C(=O)O", 17003),
    )
}


@dataclass(frozen=True)
class Settings:
    """Every setting that decides the frames (written to the card)."""

    method: str = "GFN2-xTB"
    accuracy: float = 1.0
    electronic_temperature_K: float = 300.0
    relax_fmax_eV_per_A: float = 1e-3
    temperature_K: float = 500.0
    timestep_fs: float = 0.5
    friction_per_fs: float = 0.05
    equilibration_fs: float = 2000.0
    spacing_fs: float = 50.0
    n_frames: int = 1600
    split_sizes: dict = field(default_factory=lambda: {"train": 1000, "val": 100, "test": 500})
    low_data_size: int = 50

    @property
    def spacing_steps(self) -> int:
        return int(round(self.spacing_fs / self.timestep_fs))

    @property
    def equilibration_steps(self) -> int:
        return int(round(self.equilibration_fs / self.timestep_fs))


def build_atoms(molecule: Molecule):
    """ASE ``Atoms`` of one seeded RDKit conformer (heavy atoms first, then H) and the
    bonds of the SMILES graph as a (B, 2) int64 array of atom indices."""
    from ase import Atoms
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(molecule.smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = molecule.seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError(f"RDKit could not embed {molecule.name} ({molecule.smiles})")
    atoms = Atoms(
        numbers=[a.GetAtomicNum() for a in mol.GetAtoms()],
        positions=mol.GetConformer().GetPositions(),
    )
    bonds = np.array(
        sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
               for b in mol.GetBonds()),
        dtype=np.int64,
    )
    return atoms, bonds


def xtb_calculator(settings: Settings):
    """tblite's ASE calculator with the card's settings (quiet)."""
    from tblite.ase import TBLite

    return TBLite(
        method=settings.method,
        accuracy=settings.accuracy,
        electronic_temperature=settings.electronic_temperature_K,
        verbosity=0,
    )


def energy_autocorrelation(energy: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of a (T,) series (unbiased estimator, FFT), (T,)."""
    x = energy - energy.mean()
    n = len(x)
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    acf = acf / (n - np.arange(n))
    return acf / acf[0]


def integrated_autocorrelation_time(acf: np.ndarray, timestep_fs: float) -> float:
    """tau_int = dt (1/2 + sum of the ACF up to its first zero crossing), fs."""
    below = np.nonzero(acf <= 0.0)[0]
    stop = below[0] if len(below) else len(acf)
    return float(timestep_fs * (0.5 + acf[1:stop].sum()))


def generate(molecule: Molecule, settings: Settings = Settings(), n_frames: int | None = None,
             progress=print) -> dict:
    """Runs the protocol of the module docstring; returns the frames and statistics.

    ``n_frames`` (default ``settings.n_frames``) may be smaller to regenerate only the
    first frames: the random stream is consumed identically, so they equal the full run's.
    Returns a dict of NumPy arrays (``z`` (n,), ``positions``/``forces``/``velocities``
    (F, n, 3) in Å, eV/Å, Å/fs, ``energy`` (F,) eV, ``time_fs`` (F,), ``relaxed_positions``
    (n, 3) Å, ``bonds`` (B, 2), ``production_energy`` (T,) eV every step) and timings.
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.optimize import BFGS

    n_frames = settings.n_frames if n_frames is None else n_frames
    started = time.perf_counter()
    atoms, bonds = build_atoms(molecule)
    atoms.calc = xtb_calculator(settings)
    BFGS(atoms, logfile=None).run(fmax=settings.relax_fmax_eV_per_A, steps=2000)
    relaxed = atoms.get_positions().copy()
    relaxed_energy = float(atoms.get_potential_energy())
    relax_s = time.perf_counter() - started

    rng = np.random.default_rng(molecule.seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=settings.temperature_K, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dynamics = Langevin(
        atoms,
        settings.timestep_fs * units.fs,
        temperature_K=settings.temperature_K,
        friction=settings.friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )
    production_energy: list[float] = []
    recording = [False]

    def record():
        if recording[0]:
            production_energy.append(float(atoms.get_potential_energy()))

    dynamics.attach(record, interval=1)
    dynamics.run(settings.equilibration_steps)
    recording[0] = True
    equilibrated_s = time.perf_counter() - started

    frames = {k: [] for k in ("positions", "energy", "forces", "velocities", "time_fs")}
    for i in range(n_frames):
        dynamics.run(settings.spacing_steps)
        frames["positions"].append(atoms.get_positions())
        frames["energy"].append(atoms.get_potential_energy())
        # The potential's forces, -dE/dx: get_forces() would return FixCom's constrained forces,
        # f_i - m_i (sum_j m_j f_j) / sum_j m_j^2, which no energy model can fit (they are not a
        # gradient) and which differ from -dE/dx by up to 1 eV/Å here. The dynamics is the same
        # either way: the constraint's term is a uniform acceleration that FixCom removes again.
        frames["forces"].append(atoms.get_forces(apply_constraint=False))
        frames["velocities"].append(atoms.get_velocities() * units.fs)  # Å/fs
        frames["time_fs"].append(settings.equilibration_fs + (i + 1) * settings.spacing_fs)
        if progress and ((i + 1) % 50 == 0 or i + 1 == n_frames):
            elapsed = time.perf_counter() - started
            rate = (i + 1) / max(elapsed - equilibrated_s, 1e-9)
            progress(f"{molecule.name}: frame {i + 1}/{n_frames}, {elapsed:.0f} s, "
                     f"ETA {(n_frames - i - 1) / rate:.0f} s, E {frames['energy'][-1]:.4f} eV")
    out = {k: np.asarray(v) for k, v in frames.items()}
    out.update(
        z=atoms.get_atomic_numbers().astype(np.int64),
        relaxed_positions=relaxed,
        relaxed_energy=relaxed_energy,
        bonds=bonds,
        production_energy=np.asarray(production_energy),
        relax_s=relax_s,
        equilibration_s=equilibrated_s - relax_s,
        total_s=time.perf_counter() - started,
    )
    return out


def make_splits(n_frames: int, settings: Settings, seed: int) -> dict[str, np.ndarray]:
    """Disjoint train/val/test frame indices from one seeded permutation; ``train_50``
    is the first ``low_data_size`` training frames (a subset of ``train``)."""
    order = np.random.default_rng(seed + 1).permutation(n_frames)
    splits, start = {}, 0
    for name, size in settings.split_sizes.items():
        splits[name] = np.sort(order[start:start + size])
        start += size
    if start > n_frames:
        raise ValueError(f"splits need {start} frames, only {n_frames} generated")
    splits[f"train_{settings.low_data_size}"] = np.sort(order[:settings.low_data_size])
    return splits


def write(molecule: Molecule, settings: Settings, result: dict, out_dir: Path = HERE) -> None:
    """Writes ``<name>.pt`` (frames, splits), ``<name>.json`` (card) and the ACF plot."""
    import torch

    sys.path.insert(0, str(HERE.parents[1]))
    from geognn.data.atomic_io import atomic_write_bytes, atomic_write_text

    splits = make_splits(len(result["energy"]), settings, molecule.seed)
    acf = energy_autocorrelation(result["production_energy"])
    dt = settings.timestep_fs
    lag_steps = settings.spacing_steps
    first_below = lambda level: float(dt * int(np.argmax(acf < level)))  # noqa: E731
    tblite_version = version("tblite")
    payload = {
        "format": "geognn.xtb_md17/1",
        "name": molecule.name,
        "smiles": molecule.smiles,
        "z": torch.from_numpy(result["z"]),
        # float32 positions/forces/velocities: their rounding (~2e-7 Å) is far below the
        # force labels' meaning; energies stay float64 (eV totals of ~1e3 need 1e-6 eV).
        "positions": torch.from_numpy(result["positions"]).float(),
        "energy": torch.from_numpy(result["energy"]).double(),
        "forces": torch.from_numpy(result["forces"]).float(),
        "velocities": torch.from_numpy(result["velocities"]).float(),
        "time_fs": torch.from_numpy(result["time_fs"]).double(),
        "relaxed_positions": torch.from_numpy(result["relaxed_positions"]).double(),
        "relaxed_energy": float(result["relaxed_energy"]),
        "bonds": torch.from_numpy(result["bonds"]),
        "splits": {k: torch.from_numpy(v).long() for k, v in splits.items()},
        "units": {"positions": "Å", "energy": "eV", "forces": "eV/Å", "velocities": "Å/fs", "time": "fs"},
        "tblite_version": tblite_version,
    }
    buffer = __import__("io").BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(out_dir / f"{molecule.name}.pt", buffer.getvalue())

    card = {
        "name": molecule.name,
        "smiles": molecule.smiles,
        "n_atoms": int(len(result["z"])),
        "seed": molecule.seed,
        "split_seed": molecule.seed + 1,
        "method": settings.method,
        "tblite_version": tblite_version,
        "ase_version": version("ase"),
        "rdkit_version": version("rdkit"),
        "numpy_version": version("numpy"),
        "settings": {**asdict(settings), "thermostat": "ase.md.langevin.Langevin (fixcm=False, FixCom)",
                     "relaxation": "ase.optimize.BFGS", "conformer": "RDKit ETKDGv3",
                     "omp_num_threads": 1},
        "splits": {k: int(len(v)) for k, v in splits.items()},
        "relaxed_energy_eV": float(result["relaxed_energy"]),
        "energy_mean_eV": float(result["energy"].mean()),
        "energy_std_eV": float(result["energy"].std()),
        "forces": "unconstrained",
        "force_rms_eV_per_A": float(np.sqrt((result["forces"] ** 2).mean())),
        "autocorrelation": {
            "what": "normalised ACF of the potential energy over every production step",
            "at_spacing": float(acf[lag_steps]),
            "integrated_time_fs": integrated_autocorrelation_time(acf, dt),
            "first_below_0.1_fs": first_below(0.1),
            "first_below_0.05_fs": first_below(0.05),
            "lag_fs": [float(dt * k) for k in range(0, min(len(acf), 2 * lag_steps * 5), 10)],
            "acf": [round(float(acf[k]), 4) for k in range(0, min(len(acf), 2 * lag_steps * 5), 10)],
        },
        "generation_seconds": {"relax": round(result["relax_s"], 1),
                               "equilibration": round(result["equilibration_s"], 1),
                               "total": round(result["total_s"], 1)},
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "command": f"python datasets/xtb_md17/make.py {molecule.name}",
    }
    atomic_write_text(out_dir / f"{molecule.name}.json", json.dumps(card, indent=1) + "\n")
    _plot_acf(acf, dt, settings, out_dir / f"{molecule.name}_acf.png", molecule.name)


def _plot_acf(acf: np.ndarray, dt: float, settings: Settings, path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lags = np.arange(min(len(acf), 2000)) * dt
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(lags, acf[: len(lags)], lw=1)
    ax.axvline(settings.spacing_fs, color="k", ls="--", lw=0.8, label=f"frame spacing {settings.spacing_fs:g} fs")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("lag (fs)")
    ax.set_ylabel("potential-energy ACF")
    ax.set_title(f"{name}: GFN2-xTB Langevin, {settings.temperature_K:g} K")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def repair_constrained_forces(name: str, out_dir: Path = HERE) -> float:
    """Rewrites ``<name>.pt`` made before forces were stored unconstrained; returns the largest change (eV/Å).

    Those files hold FixCom's constrained forces g_i = f_i - m_i λ with λ = Σ m_j f_j / Σ m_j²
    (ASE's FixCom.adjust_forces). For an isolated molecule Σ f_j = 0, so Σ g_j = -M λ and
    f_i = g_i - m_i Σ_j g_j / M: the potential's forces are recovered exactly (to float32
    rounding), without recomputing a frame. The card records the repair; a file already
    unconstrained is left alone (returns 0).
    """
    import torch
    from ase.data import atomic_masses

    sys.path.insert(0, str(HERE.parents[1]))
    from geognn.data.atomic_io import atomic_write_bytes, atomic_write_text

    path, card_path = out_dir / f"{name}.pt", out_dir / f"{name}.json"
    card = json.loads(card_path.read_text())
    if card.get("forces") == "unconstrained":
        return 0.0
    payload = torch.load(path, map_location="cpu", weights_only=True)
    masses = torch.as_tensor(atomic_masses[payload["z"].numpy()], dtype=torch.float64)
    g = payload["forces"].double()
    f = g - masses[None, :, None] * g.sum(1, keepdim=True) / masses.sum()
    change = float((f - g).abs().max())
    payload["forces"] = f.float()
    buffer = __import__("io").BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    card["forces"] = "unconstrained"
    card["forces_repair"] = (f"generated with FixCom's constrained forces stored; repaired by "
                             f"make.py --repair-forces (f = g - m sum(g) / M, exact for a molecule), "
                             f"largest change {change:.3f} eV/Å")
    card["force_rms_eV_per_A"] = float(f.square().mean().sqrt())
    atomic_write_text(card_path, json.dumps(card, indent=1) + "\n")
    return change


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("molecules", nargs="*", default=list(MOLECULES),
                        help=f"molecules to generate (default: all of {', '.join(MOLECULES)})")
    parser.add_argument("--n-frames", type=int, default=Settings().n_frames,
                        help="frames to keep per molecule (default %(default)s)")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: beside this script)")
    parser.add_argument("--repair-forces", action="store_true",
                        help="rewrite files generated before the forces were stored unconstrained (no MD)")
    args = parser.parse_args(argv)
    if args.repair_forces:
        for name in args.molecules:
            print(f"{name}: forces repaired, largest change {repair_constrained_forces(name, args.out):.3f} eV/Å")
        return 0
    settings = Settings(n_frames=args.n_frames)
    for name in args.molecules:
        if name not in MOLECULES:
            parser.error(f"unknown molecule {name!r}; choose from {', '.join(MOLECULES)}")
    for name in args.molecules:
        result = generate(MOLECULES[name], settings, progress=lambda m: print(m, flush=True))
        write(MOLECULES[name], settings, result, args.out)
        print(f"{name}: wrote {args.out / (name + '.pt')} in {result['total_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
