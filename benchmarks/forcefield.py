"""Force fields on xTB-MD17: geognn SchNet and Cormorant beside SchNetPack's SchNet and MACE, one run.

    bash benchmarks/setup_peers.sh                     # once: .venv-bench (SchNetPack) and .venv-mace (MACE)
    .venv-bench/bin/python benchmarks/forcefield.py --molecule ethanol --epochs 30 --seeds 0,1
    python benchmarks/forcefield.py --parts md --libraries geognn,schnetpack      # MD steps/s only
    python benchmarks/forcefield.py --quick                                         # 2 epochs, 1 seed

Parts (``--parts``, comma-separated):

* ``train``: every library trains on the same 1,000 training frames of the shipped xTB-MD17
  split (``--train-split train_50`` for the low-data one) for the same number of epochs
  (``--epochs``: equal epochs, not equal wall time), with its own force recipe, once per seed;
  the weights of the epoch with the lowest validation loss (EMA weights where the recipe has
  EMA) are evaluated on the 500 test frames: energy MAE (meV), force MAE (meV/Å), force cosine.
  The median training-step time (forward, forces, backward and optimiser step of a batch of
  10 frames) comes from the same runs, every library on the same batches in the same order.
  geognn: ``geognn train --dataset xtb-md17:NAME`` (the force-field recipe). SchNetPack: its
  MD17 recipe (``configs/experiment/md17.yaml``: loss weights 0.01/0.99, AdamW lr 1e-3,
  ReduceLROnPlateau 0.5 with patience 75 and cooldown 10, EMA 0.995, mean energy offset removed,
  batches of 10), in a plain loop on its modules (no Lightning) with the same SchNet as
  geognn's (``--hidden``/``--interactions``/``--rbf``, default 64/3/25 Gaussians, cosine cutoff 5 Å). MACE: its rMD17 recipe (energy/force weights
  1/1000 on per-atom energies, AMSGrad lr 0.01, EMA 0.99, batches of 5, 256x0e+256x1o, L_max 1,
  correlation 3, r_max 5 Å, 8 Bessels), in its own environment ``.venv-mace`` (its e3nn pin
  conflicts with geognn's).
* ``md``: steps per second of NVE velocity Verlet (0.5 fs) from test frame 0 with each
  library's ASE calculator, float64, ``--threads`` threads, the same SchNet size, MACE at its recipe's
  size (untrained: speed does not depend on the weights).

One JSON line per measurement; a missing peer prints a ``skipped`` line with the command that
installs it. Speed figures are only comparable within one run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ("geognn", "geognn-cormorant", "schnetpack", "mace")
MACE_PYTHON = os.path.join(REPO, ".venv-mace", "bin", "python")
INSTALL = {
    "schnetpack": "bash benchmarks/setup_peers.sh   # schnetpack 2.1.1 into .venv-bench",
    "mace": "bash benchmarks/setup_peers.sh   # mace-torch into .venv-mace (python3.11 -m venv .venv-mace; "
            ".venv-mace/bin/pip install torch==2.13.0 mace-torch)",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecule", default="ethanol", help="xTB-MD17 molecule (default: ethanol)")
    p.add_argument("--libraries", default=",".join(LIBRARIES), help=f"comma-separated from {', '.join(LIBRARIES)}")
    p.add_argument("--parts", default="train,md", help="train, md or both (default: train,md)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs for every library (default: 30)")
    p.add_argument("--seeds", default="0,1", help="comma-separated training seeds (default: 0,1)")
    p.add_argument("--train-split", default="train", choices=["train", "train_50"], help="training frames")
    p.add_argument("--md-steps", type=int, default=1000, help="timed MD steps per library (default: 1000)")
    p.add_argument("--hidden", type=int, default=64, help="SchNet atom features and filters, both SchNets (default: 64)")
    p.add_argument("--interactions", type=int, default=3, help="SchNet interaction blocks (default: 3)")
    p.add_argument("--rbf", type=int, default=25, help="SchNet Gaussians over 0-5 Å (default: 25)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of every library (default: 2)")
    p.add_argument("--quick", action="store_true", help="2 epochs, seed 0, 200 MD steps: a smoke run")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--part", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.md_steps = 2, "0", 200
    return args


# --- data shared by every worker ---------------------------------------------------------------
def frames(args, split):
    """Frames of one split as plain tensors: list of dicts with z (n,), pos (n, 3) Å, energy eV, forces eV/Å."""
    sys.path.insert(0, REPO)
    from geognn.data import XTBMD17

    data = XTBMD17(args.molecule)
    out = []
    for d in data.split(split):
        out.append({"z": d.z, "pos": d.pos.double(), "energy": float(data.energy[int(d.idx)]),
                    "forces": d.forces.double()})
    return data, out


def batch_order(n, batch_size, epoch, seed):
    """The same shuffled batches for every library: a permutation per (seed, epoch)."""
    import numpy as np

    order = np.random.default_rng(1000 * seed + epoch).permutation(n)
    return [order[i:i + batch_size].tolist() for i in range(0, n, batch_size)]


def emit(record):
    print(json.dumps(record), flush=True)


# --- geognn ------------------------------------------------------------------------------------
def train_geognn(args, model_name):
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, REPO)
    from geognn.cli.main import main

    out = tempfile.mkdtemp(prefix="ff-geognn-")
    extra = (["--max-l", "2", "--num-channels", "8", "--num-levels", "3"] if model_name == "cormorant" else
             ["--hidden-channels", str(args.hidden), "--num-filters", str(args.hidden), "--num-interactions",
              str(args.interactions), "--num-rbf", str(args.rbf)])
    cmd = ["train", "--dataset", f"xtb-md17:{args.molecule}", "--model", model_name,
           *(["--n-train", "50"] if args.train_split == "train_50" else []), "--epochs", str(args.epochs), "--seed", str(args.seed), "--early-stopping-patience", str(args.epochs),
           "--no-progress", "--device", "cpu", "--out", out, *extra]
    t0 = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            main(cmd)
        finally:
            sys.stdout = stdout
    wall = time.perf_counter() - t0
    summary = json.load(open(os.path.join(out, "metrics.json")))
    test = summary["splits"]["test"]
    steps = [h["step_time_s"] for h in summary["history"] if h.get("step_time_s")]
    return {"energy_mae_meV": test["energy_mae_meV"], "force_mae_meV": test["force_mae_meV"],
            "force_cos": test["force_cos"], "step_ms": 1000 * statistics.median(steps) if steps else None,
            "wall_s": wall, "best_epoch": summary["best_epoch"],
            "command": "geognn " + " ".join(c for c in cmd if not c.startswith(out)).replace(f"--out ", "--out DIR ")}


def geognn_calculator(args):
    import torch

    sys.path.insert(0, REPO)
    from geognn.calculators import GeognnCalculator
    from geognn.models import SchNet

    torch.manual_seed(0)
    model = SchNet(hidden_channels=args.hidden, num_filters=args.hidden, num_interactions=args.interactions,
                   num_rbf=args.rbf)
    return GeognnCalculator(model, dtype=torch.float64)


# --- SchNetPack ------------------------------------------------------------------------------
def spk_modules():
    import torch.utils.data.dataloader as dataloader

    if not hasattr(dataloader, "T_co") and hasattr(dataloader, "_T_co"):
        dataloader.T_co = dataloader._T_co  # schnetpack 2.1.1 imports the old name (PEERS.md)
    import schnetpack as spk

    return spk


def spk_model(args):
    """SchNetPack's SchNet potential, the same size as geognn's SchNet here; energies in eV."""
    spk = spk_modules()
    representation = spk.representation.SchNet(
        n_atom_basis=args.hidden, n_interactions=args.interactions,
        radial_basis=spk.nn.GaussianRBF(n_rbf=args.rbf, cutoff=5.0), cutoff_fn=spk.nn.CosineCutoff(5.0),
        n_filters=args.hidden)
    return spk.model.NeuralNetworkPotential(
        representation=representation, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=args.hidden, output_key="energy"),
                        spk.atomistic.Forces(energy_key="energy", force_key="forces")])


def spk_batch(items, cutoff=5.0):
    import torch

    sys.path.insert(0, REPO)
    import schnetpack.properties as props
    from geognn.featurize import radius_graph

    z, pos, idx_i, idx_j, idx_m, n_atoms, energy, forces = [], [], [], [], [], [], [], []
    offset = 0
    for k, it in enumerate(items):
        edge_index = it.get("edge_index")
        if edge_index is None:
            edge_index, _ = radius_graph(it["pos"].float(), cutoff)
        z.append(it["z"]); pos.append(it["pos"].float()); energy.append(it["energy"]); forces.append(it["forces"])
        idx_i.append(edge_index[1] + offset); idx_j.append(edge_index[0] + offset)
        idx_m.append(torch.full((len(it["z"]),), k)); n_atoms.append(len(it["z"]))
        offset += len(it["z"])
    cat = torch.cat
    return {props.Z: cat(z), props.R: cat(pos), props.idx_i: cat(idx_i), props.idx_j: cat(idx_j),
            props.idx_m: cat(idx_m), props.n_atoms: torch.tensor(n_atoms),
            props.offsets: torch.zeros(sum(len(i) for i in idx_i), 3),
            "energy": torch.tensor(energy, dtype=torch.float32), "forces": cat(forces).float()}


def train_schnetpack(args):
    import copy

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spk_modules()
    _, train = frames(args, args.train_split)
    _, val = frames(args, "val")
    _, test = frames(args, "test")
    # Each frame's radius graph once, as geognn's training set holds its graphs: a timed step then
    # pays for collating a batch (both libraries do) but not for neighbour search.
    from geognn.featurize import radius_graph

    for item in train:
        item["edge_index"] = radius_graph(item["pos"].float(), 5.0)[0]
    n = len(train[0]["z"])
    # RemoveOffsets(remove_mean=True): the mean energy per atom is subtracted from the targets.
    mean_per_atom = sum(t["energy"] for t in train) / (len(train) * n)
    model = spk_model(args)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=75, cooldown=10, threshold=0.0)
    ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.995))
    val_batches = [spk_batch(val[i:i + 50]) for i in range(0, len(val), 50)]

    best, best_state, step_times, best_epoch = float("inf"), None, [], 0
    t_start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for ids in batch_order(len(train), 10, epoch, args.seed):
            t0 = time.perf_counter()
            b = spk_batch([train[i] for i in ids])
            loss = _spk_loss(model, b, mean_per_atom)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
            ema.update_parameters(model)
            step_times.append(time.perf_counter() - t0)
        val_loss = sum(float(_spk_loss(ema.module, b, mean_per_atom)[0].detach()) for b in val_batches)
        sched.step(val_loss)
        if val_loss < best:
            best, best_state, best_epoch = val_loss, copy.deepcopy(ema.module.state_dict()), epoch + 1
    wall = time.perf_counter() - t_start
    model.load_state_dict(best_state)
    model.eval()
    e_err, f_err, cos = [], [], []
    for i in range(0, len(test), 50):
        b = spk_batch(test[i:i + 50])
        out = model({k: (v.clone() if torch.is_tensor(v) else v) for k, v in b.items()})
        e_err.append((out["energy"].detach() + mean_per_atom * n - b["energy"]).abs())
        f_err.append((out["forces"].detach() - b["forces"]).abs().flatten())
        cos.append(torch.nn.functional.cosine_similarity(out["forces"].detach(), b["forces"], dim=1))
    return {"energy_mae_meV": 1000 * torch.cat(e_err).mean().item(), "force_mae_meV": 1000 * torch.cat(f_err).mean().item(),
            "force_cos": torch.cat(cos).mean().item(), "step_ms": 1000 * statistics.median(step_times), "wall_s": wall,
            "best_epoch": best_epoch, "command": "schnetpack MD17 recipe in benchmarks/forcefield.py (train_schnetpack)"}


def _spk_loss(model, b, mean_per_atom):
    """SchNetPack's MD17 loss: 0.01 MSE(energy - mean offset) + 0.99 MSE(forces), eV and eV/Å."""
    import schnetpack.properties as props
    import torch

    # The model writes into its input dict (derivatives, distances): give it a fresh one.
    out = model({k: (v.clone() if torch.is_tensor(v) else v) for k, v in b.items()})
    target = b["energy"] - mean_per_atom * b[props.n_atoms].float()
    e_loss = torch.nn.functional.mse_loss(out["energy"], target)
    f_loss = torch.nn.functional.mse_loss(out["forces"], b["forces"])
    return 0.01 * e_loss + 0.99 * f_loss, out


def schnetpack_calculator(args):
    import torch

    spk = spk_modules()
    torch.manual_seed(0)
    model = spk_model(args)

    class ModelCalculator(spk.interfaces.SpkCalculator):
        # SpkCalculator unpickles a model file with torch.load, which torch >= 2.6 refuses by default;
        # hand it the model instead (what it does after loading: float64, eval).
        def _load_model(self, model_file):
            return model.to(torch.float64).eval()

    return ModelCalculator(model_file="(in memory)", neighbor_list=spk.transform.MatScipyNeighborList(cutoff=5.0),
                           energy_unit="eV", position_unit="Angstrom", dtype=torch.float64)


# --- MD speed ----------------------------------------------------------------------------------
def timed_nve(atoms, calculator, steps):
    """NVE velocity Verlet at 0.5 fs from ``atoms`` with ``calculator``: 20 warm-up steps, then ``steps`` timed.
    Every library's MD speed is measured by this one function (the MACE worker imports it)."""
    import numpy as np
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms.calc = calculator
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    dyn.run(20)  # warm-up: first calls build caches
    t0 = time.perf_counter()
    dyn.run(steps)
    wall = time.perf_counter() - t0
    return {"steps_per_s": steps / wall, "ms_per_step": 1000 * wall / steps,
            "md_steps": steps, "finite": bool(np.isfinite(atoms.get_potential_energy()))}


def md_speed(args, calculator):
    import torch

    torch.set_num_threads(args.threads)
    data, _ = frames(args, "test")
    return timed_nve(data.to_ase(int(data.splits["test"][0])), calculator, args.md_steps)


def worker(args):
    library = args.worker
    try:
        if args.part == "train":
            if library in ("geognn", "geognn-cormorant"):
                result = train_geognn(args, "cormorant" if library == "geognn-cormorant" else "schnet")
            elif library == "schnetpack":
                result = train_schnetpack(args)
            else:
                result = train_mace(args)
        else:
            calc = {"geognn": geognn_calculator, "schnetpack": schnetpack_calculator}[library](args)
            result = md_speed(args, calc)
    except ImportError as err:
        emit({"library": library, "part": args.part, "skipped": f"{library} is not installed here ({err}); "
              f"install: {INSTALL.get(library, 'pip install ' + library)}"})
        return
    emit({"suite": "forcefield", "library": library, "part": args.part, "molecule": args.molecule,
          "seed": args.seed, "epochs": args.epochs, "train_split": args.train_split, "threads": args.threads,
          **result})


def train_mace(args):
    raise ImportError("the MACE worker runs in .venv-mace")


def python_for(library):
    if library == "mace":
        if not os.path.exists(MACE_PYTHON):
            return None
        return MACE_PYTHON
    return sys.executable


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    libraries = [x for x in args.libraries.split(",") if x]
    parts = [x for x in args.parts.split(",") if x]
    seeds = [int(s) for s in args.seeds.split(",")]
    passthrough = ["--molecule", args.molecule, "--epochs", str(args.epochs), "--train-split", args.train_split,
                   "--md-steps", str(args.md_steps), "--threads", str(args.threads), "--hidden", str(args.hidden),
                   "--interactions", str(args.interactions), "--rbf", str(args.rbf)]
    jobs = []
    if "md" in parts:
        jobs += [(lib, "md", 0) for lib in libraries if lib in ("geognn", "schnetpack", "mace")]
    if "train" in parts:
        # Seed-major order: every library's seed-0 run before any seed-1 run, so drift hits all alike.
        jobs += [(lib, "train", seed) for seed in seeds for lib in libraries]
    results = []
    for library, part, seed in jobs:
        python = python_for(library)
        if python is None:
            emit({"library": library, "part": part, "skipped": f"not installed; install: {INSTALL[library]}"})
            continue
        script = os.path.join(REPO, "benchmarks", "forcefield_mace.py") if library == "mace" else os.path.abspath(__file__)
        cmd = [python, script, *passthrough, "--worker", library, "--part", part, "--seed", str(seed)]
        # Every library on the same thread count (OpenMP included: an oversubscribed pool is slow on a busy box).
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
        if not lines:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            lines = [{"library": library, "part": part, "skipped": f"failed: {tail}"}]
        for line in lines:
            emit(line)
            results.append(line)
    summarize(results)
    return 0


def summarize(results):
    """Mean and spread over seeds per library, and geognn's ratios to SchNetPack and MACE.

    ``step_speedup`` compares one training step of each recipe; ``frame_speedup`` the step time per
    frame (MACE's recipe takes batches of 5, the others 10).
    """
    by = {}
    for r in results:
        if r.get("part") == "train" and "force_mae_meV" in r:
            by.setdefault(r["library"], []).append(r)
    stats = {}
    for lib, rows in by.items():
        stats[lib] = {k: statistics.mean(r[k] for r in rows) for k in ("energy_mae_meV", "force_mae_meV", "step_ms")
                      if all(r.get(k) is not None for r in rows)}
        stats[lib]["seeds"] = len(rows)
        stats[lib]["force_mae_meV_range"] = [min(r["force_mae_meV"] for r in rows), max(r["force_mae_meV"] for r in rows)]
        emit({"summary": lib, **stats[lib]})
    batch = {lib: rows[0].get("batch_size", 10) for lib, rows in by.items()}
    md = {r["library"]: r for r in results if r.get("part") == "md" and "steps_per_s" in r}
    for peer in ("schnetpack", "mace"):
        if "geognn" in stats and peer in stats:
            g, s = stats["geognn"], stats[peer]
            ratio = {"ratio": f"geognn / {peer}", "force_mae": g["force_mae_meV"] / s["force_mae_meV"],
                     "energy_mae": g["energy_mae_meV"] / s["energy_mae_meV"]}
            if "step_ms" in g and "step_ms" in s:
                ratio["step_speedup"] = s["step_ms"] / g["step_ms"]
                ratio["frame_speedup"] = (s["step_ms"] / batch[peer]) / (g["step_ms"] / batch["geognn"])
            emit(ratio)
        if "geognn" in md and peer in md:
            emit({"ratio": f"MD steps/s geognn / {peer}", "value": md["geognn"]["steps_per_s"] / md[peer]["steps_per_s"]})


if __name__ == "__main__":
    sys.exit(main())
