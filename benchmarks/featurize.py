"""Featurizer benchmarks: geognn beside DScribe, vesin, matscipy and ASE in one run.

Prints one JSON line per measurement (median, min and max of --repeats, in
seconds, with the library measured and its setting; a peer that is not
installed gets a "skipped" line) and never asserts on time. `geognn bench
--suite featurize` runs this script and turns its lines into records.
Full-size run (as in benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/featurize.py --n-molecules 10000 --periodic-atoms 10000 --threads 2

The Coulomb matrix on a GPU (the CUDA kernel beside the CPU kernel, host-to-device copies timed apart):

    python benchmarks/featurize.py --only coulomb --device cuda --n-molecules 100000 --sample random

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


def spread(times):
    """Median, min and max of a list of seconds, and how many there are."""
    return statistics.median(times), min(times), max(times), len(times)


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return spread(times)


def timed_interleaved(cases, repeats):
    """Median, min, max and count of each case, the cases run in turn (A B C A B C ...) so drifts of a shared machine hit all."""
    times = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, fn in cases:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: spread(t) for name, t in times.items()}


def emit(suite, impl, n_items, item, median_s, min_s, max_s, repeats, library="geognn", setting="default", **extra):
    """One measurement line: ``library`` is "geognn" or the peer measured, ``setting`` the peer's setting."""
    print(json.dumps({
        "suite": suite, "impl": impl, "library": library, "setting": setting, "n": n_items, "item": item,
        "median_s": round(median_s, 6), "min_s": round(min_s, 6), "max_s": round(max_s, 6), "repeats": repeats,
        "per_item_us": round(1e6 * median_s / n_items, 3), "items_per_s": round(n_items / median_s, 1), **extra,
    }), flush=True)


def skipped(suite, library, err):
    """A peer that is not installed here: said, never silently left out."""
    print(json.dumps({"suite": suite, "library": library, "skipped": f"{library} is not installed here ({err})"}),
          flush=True)


def load_qm9(n, sample, seed=0):
    from geognn.data import iter_qm9_rows
    from geognn.data.qm9_source import QM9_NUM_MOLECULES

    if sample == "first":
        return list(iter_qm9_rows(n))
    wanted = set(np.random.default_rng(seed).choice(QM9_NUM_MOLECULES, size=n, replace=False).tolist())
    return [r for k, r in enumerate(iter_qm9_rows()) if k in wanted]


def as_tensors(rows):
    """Atomic numbers (N,), positions (N, 3) float64 Å and molecule index (N,) of the rows, concatenated."""
    z = torch.from_numpy(np.concatenate([r.z for r in rows]))
    pos = torch.from_numpy(np.concatenate([r.pos for r in rows]))
    batch = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor([len(r.z) for r in rows]))
    return z, pos, batch


def coulomb_suite(rows, repeats):
    import ase

    from geognn.featurize import CoulombMatrix

    try:
        from dscribe.descriptors import CoulombMatrix as DScribeCM
    except ImportError as err:
        DScribeCM = None
        skipped("coulomb_matrix sorted_l2 n_atoms_max=29", "dscribe", err)
    n = len(rows)
    atoms = [ase.Atoms(numbers=r.z, positions=r.pos) for r in rows]
    z, pos, batch = as_tensors(rows)
    ours = CoulombMatrix(29, permutation="sorted_l2")
    ours_to32 = CoulombMatrix(29, permutation="sorted_l2", dtype=torch.float32)
    canonical = CoulombMatrix(29, permutation="sorted_canonical")
    ours.create(atoms[:5])  # warm-up of lazy initialisation on both sides
    if DScribeCM is not None:
        theirs = DScribeCM(n_atoms_max=29, permutation="sorted_l2")
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
        ("geognn create(list of Atoms), sorted_canonical", "torch.float64", lambda: canonical.create(atoms)),
        ("geognn tensors float64, sorted_canonical", "torch.float64", lambda: canonical(z, pos, batch)),
    ]
    if DScribeCM is not None:
        cases.append(("dscribe n_jobs=1", "float64", lambda: theirs.create(atoms, n_jobs=1)))
    results = timed_interleaved([(name, fn) for name, _, fn in cases], repeats)
    if DScribeCM is not None:
        # n_jobs=2 runs apart, after the others: its joblib worker processes outlive each call and
        # took a core from whatever ran next, which doubled DScribe n_jobs=1's median when interleaved.
        cases.append(("dscribe n_jobs=2", "float64", lambda: theirs.create(atoms, n_jobs=2)))
        results["dscribe n_jobs=2"] = timed(cases[-1][2], repeats)
    dscribe_1 = results["dscribe n_jobs=1"][0] if DScribeCM is not None else None
    for name, dtype, _ in cases:
        median_s = results[name][0]
        suite = "coulomb_matrix " + ("sorted_canonical" if "canonical" in name else "sorted_l2") + " n_atoms_max=29"
        peer = {"library": "dscribe", "setting": name.split()[-1]} if name.startswith("dscribe") else {}
        ratio = {"speedup_vs_dscribe_n_jobs_1": round(dscribe_1 / median_s, 2)} if dscribe_1 else {}
        emit(suite, name, n, "molecule", *results[name], output_dtype=dtype, **peer, **ratio)


def coulomb_symmetric_suite(n, repeats):
    """sorted_canonical beside sorted_l2 where ties are common: ASE's g2 collection, repeated to n molecules.

    QM9's optimised geometries rarely tie exactly (a few molecules in a thousand), so the QM9 suite shows the
    canonical order's cost where it has nothing to do; g2's symmetric molecules (CH4, benzene, SF6, ...) show it
    where it searches.
    """
    from ase.collections import g2

    from geognn.featurize import CoulombMatrix

    rows = [g2[name] for name in g2.names]
    rows = [type("Row", (), {"z": a.numbers.astype(np.int64), "pos": a.positions}) for a in rows]
    rows = (rows * (n // len(rows) + 1))[:n]
    z, pos, batch = as_tensors(rows)
    cases = [(p, CoulombMatrix(29, permutation=p)) for p in ("sorted_l2", "sorted_canonical")]
    results = timed_interleaved([(p, lambda cm=cm: cm(z, pos, batch)) for p, cm in cases], repeats)
    sorted_l2 = results["sorted_l2"][0]
    for name, times in results.items():
        emit("coulomb_matrix g2 collection repeated, n_atoms_max=29, tensors float64", f"geognn {name}", n,
             "molecule", *times, cost_vs_sorted_l2=round(times[0] / sorted_l2, 2))


def cuda_timed(fn, repeats):
    """Median, min and max seconds of fn() on the GPU: synchronised before and after each call, after one warm-up."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return spread(times)


def coulomb_cuda_suite(z, pos, batch, repeats):
    """The CUDA kernel (every order, float64 and float32) beside the CPU kernel on the same molecules.

    Inputs are copied to the GPU once, and the copies are timed apart (pageable and pinned host memory), so the
    kernel figures are device-resident throughput; the output's copy back is reported too.
    """
    from geognn.featurize import CoulombMatrix
    from geognn.featurize.coulomb import _has_kernel

    if not (torch.cuda.is_available() and _has_kernel("cuda")):
        raise SystemExit("--device cuda needs a GPU and a CUDA build of geognn._C (FORCE_CUDA=1 pip install -e .)")
    n = int(batch[-1]) + 1
    device = torch.device("cuda")
    suite = f"coulomb_matrix on {torch.cuda.get_device_name(device)}, n_atoms_max=29"
    pinned = [t.pin_memory() for t in (z, pos, batch)]
    for name, tensors in (("host-to-device copy of z, pos, batch (pageable)", (z, pos, batch)),
                          ("host-to-device copy of z, pos, batch (pinned)", pinned)):
        emit(suite, name, n, "molecule", *cuda_timed(lambda ts=tensors: [t.to(device) for t in ts], repeats),
             bytes=sum(t.numel() * t.element_size() for t in tensors))
    z_d, pos_d, batch_d = (t.to(device) for t in (z, pos, batch))
    pos32_d = pos_d.float()

    cpu_kernel = CoulombMatrix(29, permutation="sorted_l2")
    cpu_s = timed(lambda: cpu_kernel(z, pos, batch), repeats)
    emit(suite, "CPU kernel sorted_l2, tensors float64 (the baseline)", n, "molecule", *cpu_s,
         threads=torch.get_num_threads())
    cases = []
    for permutation in ("none", "sorted_l2", "sorted_canonical", "random", "eigenspectrum"):
        sigma = 1.0 if permutation == "random" else None
        cm = CoulombMatrix(29, permutation=permutation, sigma=sigma, seed=0 if sigma else None)
        cases.append((f"CUDA {permutation}, float64", cm, pos_d))
        if permutation in ("sorted_l2", "sorted_canonical"):
            cases.append((f"CUDA {permutation}, float32", cm, pos32_d))
    torch_path = CoulombMatrix(29, permutation="sorted_l2")
    torch_path.use_native = False
    cases.append(("torch path sorted_l2, float64 (no CUDA kernel)", torch_path, pos_d))
    for name, cm, p in cases:
        times = cuda_timed(lambda cm=cm, p=p: cm(z_d, p, batch_d), repeats)
        emit(suite, name, n, "molecule", *times, speedup_vs_cpu_kernel=round(cpu_s[0] / times[0], 2))
    out = CoulombMatrix(29, permutation="sorted_l2")(z_d, pos_d, batch_d)
    emit(suite, "device-to-host copy of the float64 (B, 29, 29) output", n, "molecule",
         *cuda_timed(lambda: out.cpu(), repeats), bytes=out.numel() * out.element_size())


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
    for name, times in results.items():
        library = name.split()[0]
        emit(suite, name, n, "molecule", *times, library=library,
             **({"edges": num_edges} if "all in one" in name else {}))
    few = [Atoms(numbers=r.z, positions=r.pos) for r in rows[:ase_limit]]
    emit(suite, "ase.neighborlist (one call per molecule)", len(few), "molecule",
         *timed(lambda: [ase_neighbor_list("ijS", a, cutoff) for a in few], max(1, repeats // 2)), library="ase")


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
    for name, times in results.items():
        extra = {"edges": num_edges} if name.startswith("geognn") else {}
        emit(suite, name, n_atoms, "atom", *times, library=name.split()[0], **extra)
    emit(suite, "ase.neighborlist", n_atoms, "atom", *timed(lambda: ase_neighbor_list("ijS", atoms, cutoff), 1),
         library="ase")


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
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: the Coulomb suite runs the CUDA kernel beside the CPU kernel (no peers)")
    parser.add_argument("--symmetric-molecules", type=int, default=10_000,
                        help="size of the g2-collection set on which sorted_canonical is timed beside sorted_l2")
    parser.add_argument("--save-molecules", help="write the loaded QM9 molecules (z, pos, counts) to this .pt file")
    parser.add_argument("--load-molecules", help="read molecules from a --save-molecules file instead of QM9 "
                        "(for a machine without the qm9pack wheel, such as a borrowed GPU)")
    args = parser.parse_args(argv)
    # Before any parallel op: the OpenMP pool size is fixed at its first use.
    torch.set_num_threads(args.threads)
    print(json.dumps({"suite": "featurize", "machine": platform.processor() or platform.machine(),
                      "threads": args.threads, "torch": torch.__version__, "args": vars(args)}), flush=True)
    only = set(args.only or ("coulomb", "molecules", "periodic"))
    if args.load_molecules:
        if only != {"coulomb"} or args.device != "cuda":
            parser.error("--load-molecules serves --only coulomb --device cuda")
        saved = torch.load(args.load_molecules)
        z, pos = saved["z"].long(), saved["pos"]
        batch = torch.repeat_interleave(torch.arange(len(saved["counts"])), saved["counts"])
        coulomb_cuda_suite(z, pos, batch, args.repeats)
        return
    rows = load_qm9(args.n_molecules, args.sample) if only & {"coulomb", "molecules"} else []
    if args.save_molecules:
        z, pos, _ = as_tensors(rows)
        torch.save({"z": z.to(torch.uint8), "pos": pos, "counts": torch.tensor([len(r.z) for r in rows])},
                   args.save_molecules)
    if "coulomb" in only and args.device == "cuda":
        coulomb_cuda_suite(*as_tensors(rows), args.repeats)
    elif "coulomb" in only:
        coulomb_suite(rows, args.repeats)
        coulomb_symmetric_suite(args.symmetric_molecules, args.repeats)
    if "molecules" in only:
        molecule_graph_suite(rows, args.repeats, args.cutoff, min(args.ase_molecules, len(rows)))
    if "periodic" in only:
        periodic_suite(args.periodic_atoms, args.repeats, args.cutoff)


if __name__ == "__main__":
    main()
