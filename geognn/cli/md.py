"""``geognn md``: the MD stability check of a learned force field on an xTB-MD17 molecule."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_EPILOG = """examples:
  geognn md --model zoo:schnet-xtb-ethanol --dataset xtb-md17:ethanol --out runs/md-ethanol
  geognn md --model runs/aspirin/best.pt --dataset xtb-md17:aspirin --ensemble nve --runs 3 --time-ps 2 --out runs/md

A run is unphysical from the first checked frame where a bond of the molecule's graph is longer than
--bond-factor times its length in the GFN2-xTB minimum, or two atoms are closer than 0.5 Å.
outputs in --out: stability.json (per run: stable, time until unphysical, NVE drift in meV/atom/ps, h(r)
error), run<k>.extxyz (the checked frames), energy.png, hr.png (h(r) beside the xTB reference).
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "md", help="MD stability check of a learned force field (NVE drift, time to unphysical, h(r))",
        description="Run NVE or Langevin MD with a learned energy model from test frames of an xTB-MD17 "
                    "molecule and measure what a force field is for: does it stay physical, does NVE conserve "
                    "energy, does it sample the reference distances.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="a geognn train checkpoint (best.pt) or zoo:NAME")
    p.add_argument("--dataset", required=True, help="xtb-md17:NAME (ethanol, malonaldehyde, aspirin): start frames "
                   "(test split, with their xTB velocities) and the h(r) reference")
    p.add_argument("--ensemble", choices=["langevin", "nve"], default="langevin",
                   help="langevin (NVT at --temperature) or nve (velocity Verlet) (default: langevin)")
    p.add_argument("--runs", type=int, default=10, help="independent runs, each from its own test frame (default: 10)")
    p.add_argument("--time-ps", type=float, default=10.0, help="length of each run in ps (default: 10)")
    p.add_argument("--timestep-fs", type=float, default=0.5, help="time step in fs (default: 0.5, as the data)")
    p.add_argument("--temperature", type=float, default=500.0, help="Langevin temperature in K (default: 500)")
    p.add_argument("--friction", type=float, default=0.05, help="Langevin friction in 1/fs (default: 0.05, as the data)")
    p.add_argument("--bond-factor", type=float, default=1.5, help="a bond longer than this times its reference "
                   "length makes a frame unphysical (default: 1.5)")
    p.add_argument("--sample-every", type=int, default=10, help="steps between physicality checks and written "
                   "frames (default: 10, i.e. 5 fs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the start frames and Langevin noise (default: 0)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                   help="precision the model runs in (default: float64, better NVE conservation)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the report and trajectories")
    p.set_defaults(func=run_md)


def run_md(args) -> int:
    import torch

    from geognn.calculators import GeognnCalculator
    from geognn.cli.datasets import XTB_MD17_PREFIX
    from geognn.data import XTBMD17
    from geognn.md import stability_check, write_report

    if not args.dataset.lower().startswith(XTB_MD17_PREFIX):
        raise ValueError(f"--dataset {args.dataset!r}: give xtb-md17:NAME")
    if args.runs < 1 or args.time_ps <= 0 or args.timestep_fs <= 0 or args.bond_factor <= 1:
        raise ValueError("--runs must be >= 1, --time-ps and --timestep-fs > 0, --bond-factor > 1")
    dataset = XTBMD17(args.dataset[len(XTB_MD17_PREFIX):])
    calculator = GeognnCalculator(args.model, dtype=getattr(torch, args.dtype))
    print(f"geognn md: {args.runs} {args.ensemble} run(s) of {args.time_ps:g} ps of {dataset.name} with {args.model}",
          file=sys.stderr)
    report, runs = stability_check(calculator, dataset, runs=args.runs, ensemble=args.ensemble, time_ps=args.time_ps,
                                   timestep_fs=args.timestep_fs, temperature_K=args.temperature,
                                   friction_per_fs=args.friction, seed=args.seed, sample_every=args.sample_every,
                                   bond_factor=args.bond_factor, progress=lambda m: print(m, file=sys.stderr))
    report["model"] = str(args.model)
    write_report(args.out, report, runs, dataset)
    drift = report["median_abs_drift_meV_per_atom_ps"]
    print(f"geognn md: {report['stable_runs']}/{report['runs']} runs stayed physical for {args.time_ps:g} ps "
          f"(mean {report['mean_stable_ps']:.3g} ps); h(r) error {report['hr_error']:.4f}"
          + (f"; median |drift| {drift:.3g} meV/atom/ps" if drift is not None else "")
          + f"; {report['median_steps_per_second']:.0f} steps/s")
    print(f"  outputs in {args.out}/ (stability.json, run*.extxyz, energy.png, hr.png)")
    return 0
