"""How many vesin threads `radius_graph` should use: one against two, on molecule batches and periodic cells.

    .venv/bin/python benchmarks/radius_graph_threads.py            # quiet machine
    .venv/bin/python benchmarks/radius_graph_threads.py --busy     # with a spinning process on one core

The evidence for ``geognn.featurize.neighbors._search_threads``: every case
runs ``radius_graph`` (cutoff 5 Å) with vesin forced to one and to two threads,
interleaved (1, 2, 1, 2, ...), each with its own cached calculator, and then
times a small ``torch.zeros`` to see whether vesin's idle threads stall the op
that follows. One JSON line per case: medians in ms (µs for the op after).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time

import numpy as np
import torch
import vesin

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from geognn.data import iter_qm9_rows  # noqa: E402
from geognn.featurize import neighbors, radius_graph  # noqa: E402


def spin():
    while True:
        pass


def cases():
    """(name, radius_graph keyword arguments): QM9 batches and skewed periodic cells at 0.1 atoms/Å^3."""
    rows = list(iter_qm9_rows(1000))
    for m in (10, 100, 1000):
        pos = [torch.as_tensor(r.pos) for r in rows[:m]]
        batch = torch.repeat_interleave(torch.arange(m), torch.tensor([len(p) for p in pos]))
        yield f"{m} QM9 molecules", {"pos": torch.cat(pos), "batch": batch}
    for n in (500, 2000, 10_000, 50_000):
        length = (n / 0.1) ** (1 / 3)
        cell = np.array([[length, 0, 0], [0.2 * length, length, 0], [0.1 * length, 0.1 * length, length]])
        pos = np.random.default_rng(0).random((n, 3)) @ cell
        yield f"periodic cell, {n} atoms", {"pos": torch.from_numpy(pos), "cell": torch.from_numpy(cell)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per thread count (default: 15)")
    parser.add_argument("--busy", action="store_true", help="keep one core busy with a spinning process")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    spinner = multiprocessing.Process(target=spin, daemon=True) if args.busy else None
    if spinner:
        spinner.start()
    real = vesin.NeighborList
    try:
        for name, kwargs in cases():
            lists = {1: {}, 2: {}}
            times, after = {1: [], 2: []}, {1: [], 2: []}
            for repeat in range(args.repeats + 1):
                for threads in (1, 2):
                    neighbors.vesin.NeighborList = (
                        lambda cutoff, full_list, n_threads=1, t=threads: real(cutoff=cutoff, full_list=full_list,
                                                                               n_threads=t))
                    neighbors._cached.lists = lists[threads]
                    t0 = time.perf_counter()
                    radius_graph(cutoff=5.0, **kwargs)
                    t1 = time.perf_counter()
                    torch.zeros(3500, 3)
                    t2 = time.perf_counter()
                    if repeat:  # the first call of each builds its calculator
                        times[threads].append(t1 - t0)
                        after[threads].append(t2 - t1)
            print(json.dumps({
                "case": name, "busy_core": args.busy,
                **{f"ms_{t}_thread": round(statistics.median(times[t]) * 1e3, 3) for t in (1, 2)},
                **{f"op_after_us_{t}_thread": round(statistics.median(after[t]) * 1e6, 1) for t in (1, 2)},
            }), flush=True)
    finally:
        neighbors.vesin.NeighborList = real
        if spinner:
            spinner.terminate()


if __name__ == "__main__":
    main()
