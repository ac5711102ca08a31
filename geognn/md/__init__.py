"""Molecular dynamics with learned force fields: runs, stability checks, h(r) and energy drift.

    >>> from geognn.calculators import GeognnCalculator
    >>> from geognn.data import XTBMD17
    >>> from geognn.md import stability_check, write_report
    >>> data = XTBMD17("ethanol")
    >>> report, runs = stability_check(GeognnCalculator("zoo:schnet-xtb-ethanol"), data, runs=10, time_ps=10)
    >>> report["stable_fraction"], report["hr_error"]
    >>> write_report("runs/md", report, runs, data)        # run<k>.extxyz, stability.json, energy.png, hr.png

The command line runs the same: ``geognn md --model zoo:schnet-xtb-ethanol --dataset xtb-md17:ethanol``.
"""

from geognn.md.observables import (BOND_STRETCH_FACTOR, COLLAPSE_DISTANCE, bond_lengths, distance_histogram,
                                   energy_drift, hr_error, pair_distances, unphysical_reason)
from geognn.md.simulate import ENSEMBLES, MDRun, simulate
from geognn.md.stability import stability_check, start_frames, write_report

__all__ = [
    "BOND_STRETCH_FACTOR",
    "COLLAPSE_DISTANCE",
    "ENSEMBLES",
    "MDRun",
    "bond_lengths",
    "distance_histogram",
    "energy_drift",
    "hr_error",
    "pair_distances",
    "simulate",
    "stability_check",
    "start_frames",
    "unphysical_reason",
    "write_report",
]
