"""One MD run with any ASE calculator, watched for unphysical frames (NVE or Langevin).

``simulate`` integrates with ASE's ``VelocityVerlet`` (NVE) or ``Langevin`` (NVT),
checks every ``sample_every`` steps whether the structure is still physical
(:func:`geognn.md.observables.unphysical_reason`) and stops at the first frame
that is not, and keeps those sampled frames (positions, energies) for the
trajectory file and h(r).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from geognn.md.observables import BOND_STRETCH_FACTOR, COLLAPSE_DISTANCE, energy_drift, unphysical_reason

ENSEMBLES = ("nve", "langevin")


@dataclass
class MDRun:
    """The record of one run. Times in ps, energies in eV, positions (F, n, 3) in Å."""

    ensemble: str
    steps: int
    time_ps: np.ndarray
    potential_energy: np.ndarray
    kinetic_energy: np.ndarray
    positions: np.ndarray
    numbers: np.ndarray
    planned_ps: float
    stable_ps: float
    reason: str | None
    wall_s: float
    extra: dict = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        """Whether the run stayed physical for the whole planned time."""
        return self.reason is None

    @property
    def total_energy(self) -> np.ndarray:
        return self.potential_energy + self.kinetic_energy

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.wall_s if self.wall_s > 0 else float("nan")

    def drift_meV_per_atom_ps(self) -> float:
        """NVE energy drift over the physical part of the run (meV/atom/ps)."""
        return energy_drift(self.time_ps, self.total_energy, len(self.numbers))

    def write_extxyz(self, path) -> None:
        """The sampled frames as extxyz (energy, time_fs in the comment line), written atomically."""
        import io

        import ase.io
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        from geognn.data.atomic_io import atomic_write_text

        frames = []
        for t, pos, e in zip(self.time_ps, self.positions, self.potential_energy):
            atoms = Atoms(numbers=self.numbers, positions=pos)
            atoms.info["time_fs"] = float(t * 1000.0)
            atoms.calc = SinglePointCalculator(atoms, energy=float(e))
            frames.append(atoms)
        buffer = io.StringIO()
        ase.io.write(buffer, frames, format="extxyz")
        atomic_write_text(path, buffer.getvalue())


def simulate(atoms, calculator, *, ensemble: str = "nve", time_ps: float = 10.0, timestep_fs: float = 0.5,
             temperature_K: float = 500.0, friction_per_fs: float = 0.05, seed: int = 0, bonds=None,
             reference_bond_lengths=None, sample_every: int = 10, bond_factor: float = BOND_STRETCH_FACTOR,
             collapse_distance: float = COLLAPSE_DISTANCE, progress=None) -> MDRun:
    """Runs MD from ``atoms`` (positions Å, velocities as set on them) with ``calculator``.

    Args:
        ensemble: ``"nve"`` (velocity Verlet) or ``"langevin"`` (at ``temperature_K`` with ``friction_per_fs``).
        time_ps, timestep_fs: length of the run and the time step.
        bonds, reference_bond_lengths: (B, 2) atom pairs and their (B,) reference lengths (Å)
            watched for stretching; none: only collapse is watched.
        sample_every: steps between checks and kept frames.
        progress: optional callable(str), told every 10% of the run.
    """
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet

    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    if time_ps <= 0 or timestep_fs <= 0 or sample_every < 1:
        raise ValueError("time_ps and timestep_fs must be > 0 and sample_every >= 1")
    atoms = atoms.copy()
    atoms.calc = calculator
    bonds = np.zeros((0, 2), dtype=np.int64) if bonds is None else np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    if len(bonds) and reference_bond_lengths is None:
        raise ValueError("give reference_bond_lengths (Å) for the bonds to watch")
    reference = None if reference_bond_lengths is None else np.asarray(reference_bond_lengths, dtype=np.float64)
    if ensemble == "nve":
        dynamics = VelocityVerlet(atoms, timestep_fs * units.fs)
    else:
        dynamics = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K,
                            friction=friction_per_fs / units.fs, fixcm=False, rng=np.random.default_rng(seed))
    total_steps = int(round(time_ps * 1000.0 / timestep_fs))
    times, epot, ekin, frames = [], [], [], []
    reason: str | None = None
    steps = 0

    def sample():
        times.append(steps * timestep_fs / 1000.0)
        epot.append(float(atoms.get_potential_energy()))
        ekin.append(float(atoms.get_kinetic_energy()))
        frames.append(atoms.get_positions())

    start = time.perf_counter()
    sample()
    next_report = total_steps // 10
    while steps < total_steps:
        chunk = min(sample_every, total_steps - steps)
        try:
            dynamics.run(chunk)
        except (ValueError, FloatingPointError, RuntimeError) as err:  # e.g. a non-finite model output
            steps += chunk
            reason = f"the calculator failed: {err}"
            break
        steps += chunk
        reason = unphysical_reason(atoms.get_positions(), bonds, reference, bond_factor, collapse_distance)
        if reason is None and not np.isfinite(atoms.get_potential_energy()):
            reason = "non-finite energy"
        if reason is not None:
            break
        sample()
        if progress and next_report and steps >= next_report:
            progress(f"{ensemble}: {steps * timestep_fs / 1000:.2f} of {time_ps:g} ps")
            next_report += total_steps // 10
    wall = time.perf_counter() - start
    stable_ps = times[-1] if reason is not None else steps * timestep_fs / 1000.0
    return MDRun(ensemble=ensemble, steps=steps, time_ps=np.asarray(times), potential_energy=np.asarray(epot),
                 kinetic_energy=np.asarray(ekin), positions=np.asarray(frames), numbers=atoms.get_atomic_numbers(),
                 planned_ps=float(time_ps), stable_ps=float(stable_ps), reason=reason, wall_s=wall,
                 extra={"timestep_fs": timestep_fs, "temperature_K": temperature_K,
                        "friction_per_fs": friction_per_fs if ensemble == "langevin" else None, "seed": seed,
                        "sample_every": sample_every})
