"""Where an MD step with GeognnCalculator spends its time, on one small molecule.

    flock -x /tmp/geognn-cpu.lock .venv/bin/python benchmarks/md_overhead.py --model zoo:schnet-xtb-ethanol
    .venv/bin/python benchmarks/md_overhead.py --molecule aspirin --steps 500 --threads 1

For a molecule of a few atoms an MD step is dominated by fixed costs, not by the
network's arithmetic, so the step is timed at three depths from the same start
(an xTB-MD17 test frame, float64, the model in eval mode):

* ``model``: ``model(data, forces=True)`` on a kept ``Data`` whose positions change
  each call (the network's forward, the autograd backward for the forces);
* ``calculator``: ``atoms.get_forces()`` after a move (ASE's cache check, the
  calculator's graph reuse, tensor conversion in and out), once with the Verlet
  skin (the default) and once with ``skin=0`` (the exact radius graph rebuilt every
  call: what every call paid before the skin);
* ``md step``: one ``VelocityVerlet`` step of 0.5 fs (the integrator's NumPy work on top).

The differences say what the calculator and the integrator add to the network; a
cProfile of the MD steps lists the functions that hold the rest. One JSON line per
measurement (median of ``--repeats`` interleaved rounds of ``--steps`` calls each).
Never asserts on time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="zoo:NAME or a checkpoint (default: an untrained SchNet 64/3/25, as benchmarks/forcefield.py)")
    p.add_argument("--molecule", default="ethanol", help="xTB-MD17 molecule of the start frame (default: ethanol)")
    p.add_argument("--steps", type=int, default=300, help="calls per round (default: 300)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default: 5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1; a 9-atom step has no "
                   "parallel work worth a second thread)")
    p.add_argument("--profile-top", type=int, default=12, help="functions of the cProfile listing (default: 12)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import torch
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from geognn.calculators import GeognnCalculator
    from geognn.data import XTBMD17
    from geognn.models import SchNet

    torch.set_num_threads(args.threads)
    data = XTBMD17(args.molecule)
    start = data.to_ase(int(data.splits["test"][0]))
    if args.model is None:
        torch.manual_seed(0)
        model = SchNet(hidden_channels=64, num_filters=64, num_interactions=3, num_rbf=25)
        label = "untrained SchNet 64/3/25"
    else:
        model, label = args.model, args.model
    skin = GeognnCalculator(model, dtype=torch.float64)
    exact = GeognnCalculator(skin.model, dtype=torch.float64, skin=0.0)
    rng = np.random.default_rng(0)
    moves = 0.005 * rng.standard_normal((args.steps, len(start), 3))  # small MD-sized moves, Å

    def time_model():
        atoms = start.copy()
        atoms.calc = skin
        atoms.get_forces()
        model_data = skin._data
        base = torch.as_tensor(start.positions, dtype=torch.float64)
        steps = torch.as_tensor(moves)
        t0 = time.perf_counter()
        for k in range(args.steps):
            model_data.pos = base + steps[k]
            skin.model(model_data, forces=True)
        return time.perf_counter() - t0

    def time_calculator(calc):
        atoms = start.copy()
        atoms.calc = calc
        atoms.get_forces()
        base = start.positions.copy()
        t0 = time.perf_counter()
        for k in range(args.steps):
            atoms.positions = base + moves[k]
            atoms.get_forces()
        return time.perf_counter() - t0

    def md_run(calc, steps):
        atoms = start.copy()
        atoms.calc = calc
        dyn = VelocityVerlet(atoms, 0.5 * units.fs)
        dyn.run(5)
        t0 = time.perf_counter()
        dyn.run(steps)
        return time.perf_counter() - t0

    cases = {
        "model (forward + forces)": time_model,
        "calculator, Verlet skin 1 Å": lambda: time_calculator(skin),
        "calculator, radius graph every call (skin 0)": lambda: time_calculator(exact),
        "MD step (velocity Verlet), skin 1 Å": lambda: md_run(skin, args.steps),
        "MD step (velocity Verlet), skin 0": lambda: md_run(exact, args.steps),
    }
    for fn in cases.values():  # warm-up: caches, the allocator, first-call dispatch
        fn()
    times = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            times[name].append(1000 * fn() / args.steps)
    medians = {name: statistics.median(v) for name, v in times.items()}
    for name, values in times.items():
        print(json.dumps({"what": name, "molecule": args.molecule, "atoms": len(start), "model": label,
                          "threads": args.threads, "ms_per_call": round(medians[name], 4),
                          "min_ms": round(min(values), 4), "max_ms": round(max(values), 4),
                          "steps_per_s": round(1000 / medians[name], 1)}), flush=True)
    model_ms = medians["model (forward + forces)"]
    print(json.dumps({"breakdown_ms": {
        "network forward + forces": round(model_ms, 4),
        "calculator (ASE cache, graph reuse check, conversions)": round(medians["calculator, Verlet skin 1 Å"] - model_ms, 4),
        "integrator (velocity Verlet NumPy work)": round(medians["MD step (velocity Verlet), skin 1 Å"]
                                                        - medians["calculator, Verlet skin 1 Å"], 4),
        "radius graph rebuilt every call (saved by the skin)": round(
            medians["calculator, radius graph every call (skin 0)"] - medians["calculator, Verlet skin 1 Å"], 4)},
        "graph_builds_with_skin": skin.graph_builds}), flush=True)

    profiler = cProfile.Profile()
    profiler.enable()
    md_run(skin, args.steps)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.profile_top)
    print(text.getvalue(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
