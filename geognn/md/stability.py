"""The MD stability check of a learned force field against its xTB-MD17 reference.

``stability_check`` starts ``runs`` trajectories from test frames of the data set
(their xTB positions and velocities), runs NVE or Langevin MD with the model, and
reports per run and overall: the fraction of runs that stay physical for the whole
time, the time until unphysical, the NVE energy drift (meV/atom/ps) and the error
of h(r) against the reference frames (every shipped frame: 500 K Langevin with
GFN2-xTB). ``write_report`` writes the trajectories (extxyz), ``stability.json`` and
the plots (energy against time, h(r) beside the reference).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from geognn.md.observables import (BOND_STRETCH_FACTOR, COLLAPSE_DISTANCE, HR_BINS, bond_lengths,
                                   distance_histogram, hr_error)
from geognn.md.simulate import MDRun, simulate


def start_frames(dataset, runs: int, seed: int = 0) -> list[int]:
    """``runs`` distinct test frames of ``dataset`` (an :class:`geognn.data.XTBMD17`), seeded."""
    test = dataset.splits["test"].numpy()
    if runs > len(test):
        raise ValueError(f"{runs} runs need {runs} start frames; the test split has {len(test)}")
    return [int(i) for i in np.random.default_rng(seed).choice(test, size=runs, replace=False)]


def stability_check(calculator, dataset, *, runs: int = 10, ensemble: str = "langevin", time_ps: float = 10.0,
                    timestep_fs: float = 0.5, temperature_K: float = 500.0, friction_per_fs: float = 0.05,
                    seed: int = 0, sample_every: int = 10, bond_factor: float = BOND_STRETCH_FACTOR,
                    progress=None) -> tuple[dict, list[MDRun]]:
    """Runs the check; returns ``(report, runs)``.

    ``report`` holds the settings, ``stable_fraction``, per-run ``stable_ps``, ``reason``,
    ``drift_meV_per_atom_ps`` (NVE), ``hr_error`` (runs' frames pooled against every shipped
    frame), ``steps_per_second`` (median over runs).
    """
    reference_lengths = bond_lengths(dataset.relaxed_positions.numpy(), dataset.bonds.numpy())
    bonds = dataset.bonds.numpy()
    frames = start_frames(dataset, runs, seed)
    results: list[MDRun] = []
    for k, frame in enumerate(frames):
        atoms = dataset.to_ase(frame)
        run = simulate(atoms, calculator, ensemble=ensemble, time_ps=time_ps, timestep_fs=timestep_fs,
                       temperature_K=temperature_K, friction_per_fs=friction_per_fs, seed=seed + k, bonds=bonds,
                       reference_bond_lengths=reference_lengths, sample_every=sample_every, bond_factor=bond_factor)
        results.append(run)
        if progress:
            progress(f"run {k + 1}/{runs} from test frame {frame}: "
                     + ("stable" if run.stable else f"unphysical at {run.stable_ps:.3f} ps ({run.reason})")
                     + f", {run.steps_per_second:.0f} steps/s")
    h_ref = distance_histogram(dataset.frame_positions().numpy())
    pooled = np.concatenate([r.positions for r in results])
    per_run = []
    for frame, run in zip(frames, results):
        per_run.append({
            "start_frame": frame, "stable": run.stable, "stable_ps": run.stable_ps, "reason": run.reason,
            "steps": run.steps, "steps_per_second": run.steps_per_second,
            "drift_meV_per_atom_ps": run.drift_meV_per_atom_ps() if ensemble == "nve" else None,
            "hr_error": hr_error(distance_histogram(run.positions), h_ref),
        })
    drifts = [r["drift_meV_per_atom_ps"] for r in per_run if r["drift_meV_per_atom_ps"] is not None]
    report = {
        "molecule": dataset.name, "ensemble": ensemble, "runs": runs, "time_ps": time_ps,
        "timestep_fs": timestep_fs, "temperature_K": temperature_K,
        "friction_per_fs": friction_per_fs if ensemble == "langevin" else None, "seed": seed,
        "criteria": {"bond_stretch_factor": bond_factor, "collapse_distance_A": COLLAPSE_DISTANCE,
                     "bonds": "the SMILES graph's bonds, against their lengths in the GFN2-xTB minimum"},
        "stable_runs": sum(r["stable"] for r in per_run),
        "stable_fraction": sum(r["stable"] for r in per_run) / runs,
        "mean_stable_ps": float(np.mean([r["stable_ps"] for r in per_run])),
        "hr_error": hr_error(distance_histogram(pooled), h_ref),
        "hr_error_definition": "integral |h(r) - h_xtb(r)| dr, h normalised to 1 over 0-10 Å (0.05 Å bins); "
                               "pooled over every run's frames, against every shipped xTB frame",
        "median_abs_drift_meV_per_atom_ps": float(np.median(np.abs(drifts))) if drifts else None,
        "median_steps_per_second": float(np.median([r["steps_per_second"] for r in per_run])),
        "per_run": per_run,
    }
    return report, results


def write_report(out_dir: Path, report: dict, runs: list[MDRun], dataset) -> None:
    """``stability.json``, ``run<k>.extxyz`` per run, ``energy.png`` and ``hr.png`` in ``out_dir``."""
    from geognn.data.atomic_io import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, run in enumerate(runs):
        run.write_extxyz(out_dir / f"run{k}.extxyz")
    atomic_write_text(out_dir / "stability.json", json.dumps(report, indent=1) + "\n")
    _plot_energy(out_dir / "energy.png", report, runs)
    _plot_hr(out_dir / "hr.png", report, runs, dataset)


def _plot_energy(path: Path, report: dict, runs: list[MDRun]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    n = len(runs[0].numbers) if runs else 1
    for k, run in enumerate(runs):
        e = run.total_energy if report["ensemble"] == "nve" else run.potential_energy
        ax.plot(run.time_ps, 1000.0 * (e - e[0]) / n, lw=0.7, label=f"run {k}" if k < 5 else None)
    which = "total" if report["ensemble"] == "nve" else "potential"
    ax.set_xlabel("time (ps)")
    ax.set_ylabel(f"{which} energy - start (meV/atom)")
    ax.set_title(f"{report['molecule']}, {report['ensemble']}: {report['stable_runs']}/{report['runs']} stable")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_hr(path: Path, report: dict, runs: list[MDRun], dataset) -> None:
    import matplotlib.pyplot as plt

    centres = 0.5 * (HR_BINS[1:] + HR_BINS[:-1])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(centres, distance_histogram(dataset.frame_positions().numpy()), color="k", lw=1.5,
            label="GFN2-xTB reference")
    ax.plot(centres, distance_histogram(np.concatenate([r.positions for r in runs])), lw=1, ls="--",
            label=f"learned model (error {report['hr_error']:.3f})")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("h(r) (1/Å)")
    ax.set_title(f"{report['molecule']}: interatomic distances, {report['ensemble']} at {report['temperature_K']:g} K")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
