"""Suite "featurize": Coulomb matrices beside DScribe, radius graphs beside vesin, matscipy and ASE.

Runs ``benchmarks/featurize.py`` once. Implementations are compared per item
(molecule or atom): ASE is timed on fewer molecules than the others, being
about 30 times slower. With ``--device cuda`` only the Coulomb-matrix suite
runs (the CUDA kernel beside the CPU kernel; the peers have no GPU path).
"""

from __future__ import annotations

import re
from pathlib import Path

from geognn.bench.records import Record
from geognn.bench.suites.base import Invocation, Options, Parsed

NAME = "featurize"
DESCRIPTION = "Coulomb matrix vs DScribe; radius graphs vs vesin, matscipy and ASE"
PEERS = ("dscribe", "vesin", "matscipy", "ase")

PRIMARY = {  # geognn's like-for-like implementation in each comparison
    "geognn create(list of Atoms)", "geognn create(list of Atoms), sorted_canonical", "geognn sorted_canonical",
    "geognn radius_graph (all in one call)", "geognn radius_graph", "CUDA sorted_l2, float64",
}
HEADLINE = {"geognn create(list of Atoms)", "geognn tensors float64", "geognn radius_graph (all in one call)",
            "geognn radius_graph"}


def invocations(options: Options, usable: set[str], scripts_dir: Path) -> list[Invocation]:
    if options.quick:
        sizes = {"n_molecules": 500, "periodic_atoms": 1000, "symmetric_molecules": 500, "ase_molecules": 100,
                 "repeats": 3}
    else:
        sizes = {"n_molecules": 10_000, "periodic_atoms": 10_000, "symmetric_molecules": 10_000,
                 "ase_molecules": 1000, "repeats": 5}
    args = [f"--{k.replace('_', '-')}={v}" for k, v in sizes.items()] + ["--threads", str(options.threads)]
    if options.device != "cpu":
        args += ["--only", "coulomb", "--device", options.device]
        label = f"Coulomb matrix on {options.device}, {sizes['n_molecules']:,} QM9 molecules"
    else:
        label = f"{sizes['n_molecules']:,} QM9 molecules, {sizes['periodic_atoms']:,} periodic atoms"
    return [Invocation("featurize", args, label, sizes)]


WHAT = (  # the script's suite names -> what a record says; sizes are fields of the record, not of this text
    (r"coulomb_matrix (\w+) n_atoms_max=(\d+)$", r"Coulomb matrix, \1, n_atoms_max \2, QM9 molecules"),
    (r"coulomb_matrix g2 collection repeated, n_atoms_max=(\d+), tensors float64",
     r"Coulomb matrix, sorted_canonical beside sorted_l2, ASE g2 molecules repeated, n_atoms_max \1"),
    (r"coulomb_matrix on (.+), n_atoms_max=(\d+)", r"Coulomb matrix on \1, n_atoms_max \2, QM9 molecules"),
    (r"radius_graph QM9 molecules cutoff=(\S+)", r"radius graph, QM9 molecules, cutoff \1 Å"),
    (r"radius_graph periodic \d+ atoms cutoff=(\S+)", r"radius graph, periodic skewed cell, cutoff \1 Å"),
)


def what(script_suite: str) -> str:
    for pattern, replacement in WHAT:
        if re.match(pattern, script_suite):
            return re.sub(pattern, replacement, script_suite)
    return script_suite


def parse(lines: list[dict], invocation: Invocation, options: Options, usable: set[str]) -> Parsed:
    parsed = Parsed()
    for line in lines:
        if "skipped" in line:
            parsed.failed_peers[line["library"]] = line["skipped"]
            continue
        if "impl" not in line:
            continue  # the settings line
        library = line.get("library", "geognn")
        if library != "geognn" and library not in usable:
            continue  # a peer not requested with --peers
        # DScribe's setting (n_jobs) is its own column; the implementation is the same call.
        impl = "DScribe create(list of Atoms)" if library == "dscribe" else line["impl"]
        extra = {k: line[k] for k in ("output_dtype", "edges", "speedup_vs_dscribe_n_jobs_1", "cost_vs_sorted_l2",
                                      "speedup_vs_cpu_kernel", "bytes") if k in line}
        parsed.records.append(Record(
            suite=NAME, what=what(line["suite"]), impl=impl, library=library, setting=line.get("setting", "default"),
            size=line["n"], size_unit=line["item"] + "s", device=options.device, median=line["median_s"],
            min=line["min_s"], max=line.get("max_s"), repeats=line.get("repeats"), per_item=True,
            primary=impl in PRIMARY, headline=impl in HEADLINE, extra=extra,
        ))
    return parsed
