"""Featurizer benchmarks: geognn beside DScribe, vesin, matscipy and ASE in one run.

Prints one JSON line per measurement (median of --repeats, seconds) and never
asserts on time. Full-size run (as in benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/featurize.py --n-molecules 10000 --periodic-atoms 10000 --threads 2

Within a suite the implementations run in turn (A B C A B C ...), so that a
load that comes and goes on a shared machine moves all of them alike; DScribe
with n_jobs=2 runs apart, last, because its worker processes outlive each call.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def timed_interleaved(cases, repeats):
    """Median and min of each case, the cases run in turn (A B C A B C ...) so drifts of a shared machine hit all."""
    times = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, fn in cases:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def emit(suite, impl, n_items, item, median_s, min_s, **extra):
    print(json.dumps({
        "suite": suite, "impl": impl, "n": n_items, "item": item,
        "median_s": round(median_s, 6), "min_s": round(min_s, 6),
        "per_item_us": round(1e6 * median_s / n_items, 3), "items_per_s": round(n_items / median_s, 1), **extra,
    }), flush=True)


def load_qm9(n, sample, seed=0):
    from geognn.data import iter_qm9_rows
    from geognn.data.qm9_source import QM9_NUM_MOLECULES

    if sample == "first":
        return list(iter_qm9_rows(n))
    wanted = set(np.random.default_rng(seed).choice(QM9_NUM_MOLECULES, size=n, replace=False).tolist())
    return [r for k, r in enumerate(iter_qm9_rows()) if k in wanted]


def coulomb_suite(rows, repeats):
    import ase
    from dscribe.descriptors import CoulombMatrix as DScribeCM

    from geognn.featurize import CoulombMatrix

    n = len(rows)
    atoms = [ase.Atoms(numbers=r.z, positions=r.pos) for r in rows]
    z = torch.from_numpy(np.concatenate([r.z for r in rows]))
    pos = torch.from_numpy(np.concatenate([r.pos for r in rows]))
    batch = torch.repeat_interleave(torch.arange(n), torch.tensor([len(r.z) for r in rows]))
    ours = CoulombMatrix(29, permutation="sorted_l2")
    ours_to32 = CoulombMatrix(29, permutation="sorted_l2", dtype=torch.float32)
    theirs = DScribeCM(n_atoms_max=29, permutation="sorted_l2")
    ours.create(atoms[:5])  # warm-up of lazy initialisation on both sides
    theirs.create(atoms[:5])
    pos32 = pos.float()
    reference = CoulombMatrix(29, permutation="sorted_l2")
    reference.use_native = False  # the pure-PyTorch path (GPU path, and the kernel's reference)

    cases = [  # (name, output dtype, function)
        ("geognn create(list of Atoms)", "torch.float64", lambda: ours.create(atoms)),
        ("geognn create(list of Atoms), torch path", "torch.float64", lambda: reference.create(atoms)),
        ("geognn create(list of Atoms), dtype=float32", "torch.float32", lambda: ours_to32.create(atoms)),
        ("geognn tensors float64", "torch.float64", lambda: ours(z, pos, batch)),
        ("geognn tensors float64, dtype=float32", "torch.float32", lambda: ours_to32(z, pos, batch)),
        ("geognn tensors float32", "torch.float32", lambda: ours(z, pos32, batch)),
        ("dscribe n_jobs=1", "float64", lambda: theirs.create(atoms, n_jobs=1)),
    ]
    results = timed_interleaved([(name, fn) for name, _, fn in cases], repeats)
    # n_jobs=2 runs apart, after the others: its joblib worker processes outlive each call and
    # took a core from whatever ran next, which doubled DScribe n_jobs=1's median when interleaved.
    cases.append(("dscribe n_jobs=2", "float64", lambda: theirs.create(atoms, n_jobs=2)))
    results["dscribe n_jobs=2"] = timed(cases[-1][2], repeats)
    dscribe_1 = results["dscribe n_jobs=1"][0]
    for name, dtype, _ in cases:
        median_s, min_s = results[name]
        emit("coulomb_matrix sorted_l2 n_atoms_max=29", name, n, "molecule", median_s, min_s,
             output_dtype=dtype, speedup_vs_dscribe_n_jobs_1=round(dscribe_1 / median_s, 2))


def molecule_graph_suite(rows, repeats, cutoff, ase_limit):
    import vesin
    from ase import Atoms
    from ase.neighborlist import neighbor_list as ase_neighbor_list
    from matscipy.neighbours import neighbour_list as matscipy_neighbour_list

    from geognn.featurize import radius_graph

    n = len(rows)
    pos = torch.from_numpy(np.concatenate([r.pos for r in rows]))
    batch = torch.repeat_interleave(torch.arange(n), torch.tensor([len(r.z) for r in rows]))
    box = np.zeros((3, 3))
    n_threads = torch.get_num_threads()
    suite = f"radius_graph QM9 molecules cutoff={cutoff}"
    num_edges = radius_graph(pos, cutoff, batch)[0].shape[1]

    first_atom = np.concatenate([[0], np.cumsum([len(r.z) for r in rows])])

    def geognn_batches_of(size):
        # As a loader hands them out: each batch's atoms are one contiguous slice.
        def run():
            for first in range(0, n, size):
                start, stop = first_atom[first], first_atom[min(first + size, n)]
                radius_graph(pos[start:stop], cutoff, batch[start:stop] - first)
        return run

    def vesin_each():
        nl = vesin.NeighborList(cutoff=cutoff, full_list=True, n_threads=n_threads)
        for r in rows:
            nl.compute(r.pos, box, False, "ijS")

    def matscipy_each():
        for r in rows:
            span = np.ptp(r.pos, axis=0) + 2 * cutoff + 1.0
            matscipy_neighbour_list("ijS", positions=r.pos - r.pos.min(0) + cutoff, cell=np.diag(span),
                                    pbc=[False] * 3, cutoff=cutoff)

    results = timed_interleaved([
        ("geognn radius_graph (all in one call)", lambda: radius_graph(pos, cutoff, batch)),
        ("geognn radius_graph (batches of 100)", geognn_batches_of(100)),
        ("vesin (one call per molecule)", vesin_each),
        ("matscipy (one call per molecule)", matscipy_each),
    ], repeats)
    for name, (median_s, min_s) in results.items():
        emit(suite, name, n, "molecule", median_s, min_s, **({"edges": num_edges} if "all in one" in name else {}))
    few = [Atoms(numbers=r.z, positions=r.pos) for r in rows[:ase_limit]]
    emit(suite, "ase.neighborlist (one call per molecule)", len(few), "molecule",
         *timed(lambda: [ase_neighbor_list("ijS", a, cutoff) for a in few], max(1, repeats // 2)))


def periodic_suite(n_atoms, repeats, cutoff):
    import vesin
    from ase import Atoms
    from ase.neighborlist import neighbor_list as ase_neighbor_list
    from matscipy.neighbours import neighbour_list as matscipy_neighbour_list

    from geognn.featurize import radius_graph

    # A skewed cell at liquid-water-like atom density (0.1 Å^-3).
    length = (n_atoms / 0.1) ** (1 / 3)
    cell = np.array([[length, 0, 0], [0.2 * length, length, 0], [0.1 * length, 0.1 * length, length]])
    frac = np.random.default_rng(0).random((n_atoms, 3))
    points = frac @ cell
    pos, cell_t = torch.from_numpy(points), torch.from_numpy(cell)
    suite = f"radius_graph periodic {n_atoms} atoms cutoff={cutoff}"
    atoms = Atoms(numbers=np.ones(n_atoms, int), positions=points, cell=cell, pbc=True)
    nl = vesin.NeighborList(cutoff=cutoff, full_list=True, n_threads=torch.get_num_threads())
    num_edges = radius_graph(pos, cutoff, cell=cell_t)[0].shape[1]
    results = timed_interleaved([
        ("geognn radius_graph", lambda: radius_graph(pos, cutoff, cell=cell_t)),
        ("vesin", lambda: nl.compute(points, cell, True, "ijS")),
        ("matscipy", lambda: matscipy_neighbour_list("ijS", positions=points, cell=cell, pbc=[True] * 3,
                                                      cutoff=cutoff)),
    ], repeats)
    for name, (median_s, min_s) in results.items():
        extra = {"edges": num_edges} if name.startswith("geognn") else {}
        emit(suite, name, n_atoms, "atom", median_s, min_s, **extra)
    emit(suite, "ase.neighborlist", n_atoms, "atom", *timed(lambda: ase_neighbor_list("ijS", atoms, cutoff), 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-molecules", type=int, default=10_000)
    parser.add_argument("--sample", choices=("first", "random"), default="first")
    parser.add_argument("--periodic-atoms", type=int, default=10_000)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ase-molecules", type=int, default=1000, help="ASE is slow: time it on this many molecules")
    parser.add_argument("--only", choices=("coulomb", "molecules", "periodic"), action="append")
    args = parser.parse_args(argv)
    # Before any parallel op: the OpenMP pool size is fixed at its first use.
    torch.set_num_threads(args.threads)
    print(json.dumps({"suite": "featurize", "machine": platform.processor() or platform.machine(),
                      "threads": args.threads, "torch": torch.__version__, "args": vars(args)}), flush=True)
    only = set(args.only or ("coulomb", "molecules", "periodic"))
    rows = load_qm9(args.n_molecules, args.sample) if only & {"coulomb", "molecules"} else []
    if "coulomb" in only:
        coulomb_suite(rows, args.repeats)
    if "molecules" in only:
        molecule_graph_suite(rows, args.repeats, args.cutoff, min(args.ase_molecules, len(rows)))
    if "periodic" in only:
        periodic_suite(args.periodic_atoms, args.repeats, args.cutoff)


if __name__ == "__main__":
    main()
