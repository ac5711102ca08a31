"""Accuracy at equal budget: geognn's SchNet beside PyTorch Geometric's, and geognn's Cormorant, on one QM9 split.

    bash benchmarks/setup_peers.sh                                   # once: .venv-bench with PyG
    .venv-bench/bin/python benchmarks/accuracy.py                    # 10,000 / 1,000 / 10,000 molecules, 20 epochs
    .venv-bench/bin/python benchmarks/accuracy.py --train 300 --valid 100 --test 200 --epochs 2 --out runs/accuracy-tiny
    .venv-bench/bin/python benchmarks/accuracy.py --libraries geognn --init-seed 1 --out runs/accuracy-init1  # another init
    .venv-bench/bin/python benchmarks/accuracy.py --check-equivalence   # same weights -> same energies and gradients
    .venv-bench/bin/python benchmarks/accuracy.py --summarize runs/accuracy*/results.jsonl  # all inits, with a test
    .venv-bench/bin/python benchmarks/accuracy.py --libraries cormorant,geognn --out runs/accuracy-cormorant-u0
    .venv-bench/bin/python benchmarks/accuracy.py --libraries cormorant,geognn --target gap --out runs/accuracy-gap

"cormorant" is geognn's Cormorant (``--max-l``, ``--max-sh``, ``--channels``,
``--levels``; the paper's 3, 3, 10, 4 by default) trained with the very same
recipe, split and target handling as the two SchNets. ``--target`` picks the
QM9 target: U0 (sum readout, per-element references) or an intensive one such
as gap (mean readout, no references; per-molecule mean and std).

Both libraries train SchNet (hidden 128, filters 128, 6 interactions, 50
Gaussians, cutoff 5 Å, sum readout) to predict the U0 atomization energy (eV)
of QM9, with ONE recipe, written here once and run for both:

- the same split: seeded random split of all of QM9 (``geognn.data.random_split``),
  saved to ``OUT/split.json`` before either library starts;
- the same target handling: per-element reference energies fitted by least
  squares on the training molecules (``geognn.models.targets.fit_atomref``),
  then the per-atom mean and standard deviation of the residual
  (``fit_target_statistics``); each model maps its per-atom output o_i to
  ``o_i * std + mean + atomref[z_i]`` and sums (geognn: ``set_atomref`` /
  ``set_target_statistics``; PyG: its ``mean``, ``std`` and ``atomref``
  arguments, which do exactly that; PyG's atomref embedding is frozen so that
  both keep the same fixed references);
- the same radius graph (``geognn.featurize.radius_graph``, cutoff 5 Å), passed
  to PyG through SchNet's ``interaction_graph`` hook (pyg-lib is not on PyPI);
- the same batches in the same order (shuffled with numpy seed + epoch), the
  same batch size, the same loss (MSE in eV), Adam with the same learning-rate
  schedule (default: cosine from ``--lr`` to ``--lr-min`` over all steps,
  stepped per batch; ``--schedule plateau`` halves it when the validation MAE
  has not improved for ``--patience`` epochs), no EMA, no gradient clipping;
- the test MAE (meV) of the weights with the best validation MAE.

The two models are the same function: ``--check-equivalence`` loads PyG's
weights into geognn's SchNet and compares energies and gradients on 50 QM9
molecules (float32 rounding apart, they agree). What differs between the two
runs is each library's random initialisation and the order of float
operations.

geognn's own ``Trainer`` (AdamW, warm-up, EMA) is deliberately NOT used: the
comparison is of the models under one recipe, not of two training loops.

Each library runs in its own subprocess with ``--threads`` torch threads
(default 1), the two side by side (``--sequential``: one after the other). On
this shared 2-core machine two threads per process, beside another person's
jobs, made a step 5-20x slower (OpenMP oversubscription); one thread each
does not. Wall times are therefore those of one core each, with the machine
shared; they are reported, not compared. PyG gets ``torch.set_flush_denormal(True)`` before
its first parallel op (its faster setting, PEERS.md); geognn runs with its
defaults. One JSON line per library (epochs, sizes, test MAE meV, wall time),
written to stdout and ``OUT/results.jsonl``; a learning curve per library in
``OUT/curve_<library>.csv``. Never asserts on time. geognn is imported from
this checkout, so the peers' virtual environment needs no geognn install.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import statistics
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ("geognn", "pyg", "cormorant")
INTENSIVE = {"mu", "homo", "lumo", "gap"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=int, default=10_000, help="training molecules (default: 10000)")
    p.add_argument("--valid", type=int, default=1_000, help="validation molecules (default: 1000)")
    p.add_argument("--test", type=int, default=10_000, help="test molecules (default: 10000)")
    p.add_argument("--seed", type=int, default=0, help="split, shuffling and initialisation seed (default: 0)")
    p.add_argument("--init-seed", type=int, default=None,
                   help="torch seed of the initial weights, to measure the spread over initialisations on one split "
                        "(default: --seed)")
    p.add_argument("--epochs", type=int, default=20, help="epochs, the same for both (default: 20)")
    p.add_argument("--batch-size", type=int, default=50, help="molecules per batch (default: 50)")
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate at the start (default: 5e-4)")
    p.add_argument("--lr-min", type=float, default=1e-5, help="cosine: final learning rate (default: 1e-5)")
    p.add_argument("--schedule", choices=["cosine", "plateau"], default="cosine",
                   help="cosine over all steps, or halving on a validation plateau (default: cosine)")
    p.add_argument("--patience", type=int, default=2, help="plateau: epochs without improvement (default: 2)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads per library (default: 1; the two libraries run side by side)")
    p.add_argument("--sequential", action="store_true",
                   help="run the libraries one after the other (default: side by side, one process each)")
    p.add_argument("--hidden", type=int, default=128, help="hidden channels = filters (default: 128)")
    p.add_argument("--interactions", type=int, default=6, help="interaction blocks (default: 6)")
    p.add_argument("--rbf", type=int, default=50, help="Gaussian basis size (default: 50)")
    p.add_argument("--cutoff", type=float, default=5.0, help="cutoff in Å (default: 5.0)")
    p.add_argument("--libraries", default="geognn,pyg",
                   help="comma-separated subset of " + ",".join(LIBRARIES) + " (default: geognn,pyg)")
    p.add_argument("--target", default="U0", help="QM9 target in its geognn unit: U0 (eV, sum readout) or an "
                   "intensive one, gap/homo/lumo (eV) or mu (D), with a mean readout (default: U0)")
    p.add_argument("--max-l", type=int, default=3, help="cormorant: largest degree l (default: 3)")
    p.add_argument("--max-sh", type=int, default=3, help="cormorant: largest spherical-harmonic degree (default: 3)")
    p.add_argument("--channels", type=int, default=10, help="cormorant: channels per (l, parity) (default: 10)")
    p.add_argument("--levels", type=int, default=4, help="cormorant: CG levels (default: 4)")
    p.add_argument("--out", default=os.path.join(REPO, "runs", "accuracy"),
                   help="folder for split.json, results.jsonl and the curves (default: runs/accuracy)")
    p.add_argument("--check-equivalence", action="store_true",
                   help="only check that both models, given PyG's weights, give the same energies and gradients")
    p.add_argument("--summarize", nargs="+", metavar="RESULTS_JSONL",
                   help="only summarise finished runs: test MAE per library over initialisations (mean, "
                        "standard deviation) and Welch's t-test of the difference; runs of other sizes are skipped")
    p.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --- worker side ------------------------------------------------------------------
def load_data(args):
    """Molecules of the saved split and the target handling fitted on the training part."""
    import torch

    from geognn.data import QM9, load_split
    from geognn.models.targets import fit_atomref, fit_target_statistics

    dataset = QM9(args.target, progress=False)
    split = load_split(os.path.join(args.out, "split.json"), n=len(dataset))
    parts = {}
    for name, idx in zip(("train", "valid", "test"), split):
        mols = [dataset[int(i)] for i in idx]
        parts[name] = with_graphs([(m.z, m.pos, m.y.reshape(-1)) for m in mols], args.cutoff)
    zs = [m[0] for m in parts["train"]]
    y = torch.stack([m[2] for m in parts["train"]]).double()
    if readout_of(args) == "sum":
        atomref = fit_atomref(zs, y, max_z=100)  # (101, 1) eV
    else:  # references per element only make sense for extensive targets
        atomref = torch.zeros(101, 1, dtype=torch.float64)
    mean, std = fit_target_statistics(zs, y, readout_of(args), atomref)
    return parts, atomref, float(mean[0]), float(std[0])


def readout_of(args) -> str:
    return "mean" if args.target in INTENSIVE else "sum"


def with_graphs(mols, cutoff, chunk=1000):
    """(z, pos, y) -> (z, pos, y, local edge_index): each molecule's radius graph, built once, in chunks."""
    import torch

    from geognn.featurize import radius_graph

    out = []
    for start in range(0, len(mols), chunk):
        part = mols[start:start + chunk]
        sizes = torch.tensor([len(m[0]) for m in part])
        offsets = torch.cumsum(sizes, 0) - sizes
        batch = torch.repeat_interleave(torch.arange(len(part)), sizes)
        edge_index, _ = radius_graph(torch.cat([m[1] for m in part]), cutoff, batch)
        mol_of_edge = batch[edge_index[1]]
        order = torch.argsort(mol_of_edge, stable=True)
        edge_index, mol_of_edge = edge_index[:, order], mol_of_edge[order]
        counts = torch.bincount(mol_of_edge, minlength=len(part)).tolist()
        for k, (m, e) in enumerate(zip(part, torch.split(edge_index, counts, dim=1))):
            out.append((*m, (e - offsets[k]).contiguous()))
    return out


def collate(mols, cutoff=None):
    """One batch from (z, pos, y, local edge_index) tuples; the same tensors for every library."""
    import torch

    sizes = torch.tensor([len(m[0]) for m in mols])
    offsets = torch.cumsum(sizes, 0) - sizes
    z = torch.cat([m[0] for m in mols])
    pos = torch.cat([m[1] for m in mols])
    batch = torch.repeat_interleave(torch.arange(len(mols)), sizes)
    edge_index = torch.cat([m[3] + offsets[k] for k, m in enumerate(mols)], dim=1)
    y = torch.stack([m[2] for m in mols]).reshape(-1)
    return {"z": z, "pos": pos, "batch": batch, "edge_index": edge_index, "y": y, "num_graphs": len(mols)}


def build_geognn(args, atomref, mean, std):
    import torch

    from geognn.models import SchNet

    model = SchNet(args.hidden, args.hidden, args.interactions, args.rbf, args.cutoff, readout=readout_of(args))
    model.set_atomref(atomref.float())
    model.set_target_statistics(torch.tensor([mean]), torch.tensor([std]))
    return model, geognn_runner(model)


def geognn_runner(model):
    """``run(batch) -> (B,)`` predictions of a geognn molecule model on a collated batch."""
    from torch_geometric.data import Data

    def run(b):
        data = Data(z=b["z"], pos=b["pos"], batch=b["batch"], edge_index=b["edge_index"])
        data.num_graphs = b["num_graphs"]
        return model(data)["y"].reshape(-1)

    return run


def build_pyg(args, atomref, mean, std):
    from torch_geometric.nn.models import SchNet

    current = {}

    def interaction_graph(pos, batch):
        # The shared radius graph (pyg-lib's radius_graph is not on PyPI); lengths from pos, in forward.
        edge_index = current["edge_index"]
        return edge_index, (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)

    model = SchNet(args.hidden, args.hidden, args.interactions, args.rbf, args.cutoff,
                   readout="add" if readout_of(args) == "sum" else "mean",
                   mean=mean, std=std, atomref=atomref[:100].float(), interaction_graph=interaction_graph)
    model.atomref.weight.requires_grad_(False)  # fixed references, as geognn's buffer

    def run(b):
        current["edge_index"] = b["edge_index"]
        return model(b["z"], b["pos"], b["batch"]).reshape(-1)

    return model, run


def build_cormorant(args, atomref, mean, std):
    import torch

    from geognn.models import Cormorant

    model = Cormorant(max_l=args.max_l, max_sh=args.max_sh, num_channels=args.channels, num_levels=args.levels,
                      cutoff=args.cutoff, readout=readout_of(args))
    model.set_atomref(atomref[: model.max_z + 1].float())
    model.set_target_statistics(torch.tensor([mean]), torch.tensor([std]))
    return model, geognn_runner(model)


BUILDERS = {"geognn": build_geognn, "pyg": build_pyg, "cormorant": build_cormorant}


def pyg_to_geognn(pyg_state, geognn_state, interactions):
    """geognn SchNet parameters holding PyG SchNet's weights (the same function: see --check-equivalence)."""
    import torch

    new = {"embedding.weight": torch.cat([pyg_state["embedding.weight"],
                                          geognn_state["embedding.weight"][pyg_state["embedding.weight"].shape[0]:]])}
    names = {"conv.lin_in.weight": "conv.lin1.weight", "conv.filter_net.0.weight": "mlp.0.weight",
             "conv.filter_net.0.bias": "mlp.0.bias", "conv.filter_net.2.weight": "mlp.2.weight",
             "conv.filter_net.2.bias": "mlp.2.bias", "conv.lin_out.weight": "conv.lin2.weight",
             "conv.lin_out.bias": "conv.lin2.bias", "lin.weight": "lin.weight", "lin.bias": "lin.bias"}
    for i in range(interactions):
        for ours, theirs in names.items():
            new[f"interactions.{i}.{ours}"] = pyg_state[f"interactions.{i}.{theirs}"]
    for ours, theirs in (("head.0", "lin1"), ("head.2", "lin2")):
        new[f"{ours}.weight"], new[f"{ours}.bias"] = pyg_state[f"{theirs}.weight"], pyg_state[f"{theirs}.bias"]
    return {**geognn_state, **new}


def check_equivalence(args) -> dict:
    """Both models with PyG's weights on 50 QM9 molecules: largest differences of energies and gradients."""
    import torch

    from geognn.data import QM9

    torch.manual_seed(args.seed)
    dataset = QM9("U0", progress=False)
    b = collate(with_graphs([(m.z, m.pos, m.y.reshape(-1)) for m in (dataset[i] for i in range(1000, 1050))],
                            args.cutoff))
    atomref = torch.randn(101, 1, dtype=torch.float64) * 0.1
    ours, run_ours = build_geognn(args, atomref, -0.2, 0.3)
    theirs, run_theirs = build_pyg(args, atomref, -0.2, 0.3)
    ours.load_state_dict(pyg_to_geognn(theirs.state_dict(), ours.state_dict(), args.interactions))
    for model, run in ((ours, run_ours), (theirs, run_theirs)):
        model.zero_grad()
        torch.nn.functional.mse_loss(run(b), b["y"]).backward()
    with torch.no_grad():
        energy = (run_ours(b) - run_theirs(b)).abs().max().item()
    grads = [(ours.head[2].weight.grad, theirs.lin2.weight.grad),
             (ours.embedding.weight.grad[:100], theirs.embedding.weight.grad),
             (ours.interactions[0].conv.filter_net[0].weight.grad, theirs.interactions[0].mlp[0].weight.grad)]
    rel = max(((a - c).abs().max() / c.abs().max()).item() for a, c in grads)
    return {"suite": "accuracy", "check": "geognn SchNet with PyG SchNet's weights", "molecules": 50,
            "max_abs_energy_diff_ev": energy, "max_rel_grad_diff": rel}


def evaluate(model, run, batches):
    """MAE in eV over precollated batches."""
    import torch

    model.eval()
    err, n = 0.0, 0
    with torch.no_grad():
        for b in batches:
            err += (run(b) - b["y"]).abs().sum().item()
            n += b["num_graphs"]
    model.train()
    return err / max(n, 1)


def worker(args) -> None:
    import numpy as np
    import torch

    t_start = time.perf_counter()
    if args.worker == "pyg":
        torch.set_flush_denormal(True)  # PyG's faster setting: before anything starts the OpenMP pool
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed if args.init_seed is None else args.init_seed)
    sys.path.insert(0, REPO)  # geognn from this checkout
    try:
        parts, atomref, mean, std = load_data(args)
        model, run = BUILDERS[args.worker](args, atomref, mean, std)
    except ImportError as err:
        print(json.dumps({"suite": "accuracy", "library": args.worker,
                          "skipped": f"{args.worker} is not installed here ({err}); install it to compare"}), flush=True)
        return
    bs = args.batch_size
    valid = [collate(parts["valid"][i:i + bs], args.cutoff) for i in range(0, len(parts["valid"]), bs)]
    train = parts["train"]
    steps_per_epoch = math.ceil(len(train) / bs)
    total_steps = steps_per_epoch * args.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=args.lr)
    if args.schedule == "cosine":
        def lr_at(step):
            return args.lr_min + 0.5 * (args.lr - args.lr_min) * (1 + math.cos(math.pi * step / total_steps))
        plateau = None
    else:
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5,
                                                             patience=args.patience)
    setup_s = time.perf_counter() - t_start
    curve_path = os.path.join(args.out, f"curve_{args.worker}.csv")
    fields = ["epoch", "lr_end", "train_loss_mse_ev2", "train_mae_mev", "valid_mae_mev", "best", "epoch_s", "elapsed_s"]
    best_val, best_state, best_epoch, step = math.inf, None, 0, 0
    t_train = time.perf_counter()
    with open(curve_path, "w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=fields)
        out.writeheader()
        for epoch in range(1, args.epochs + 1):
            t0 = time.perf_counter()
            order = np.random.default_rng(args.seed * 1000 + epoch).permutation(len(train))
            loss_sum, abs_sum, seen = 0.0, 0.0, 0
            for start in range(0, len(train), bs):
                b = collate([train[int(i)] for i in order[start:start + bs]], args.cutoff)
                if plateau is None:
                    for group in optimizer.param_groups:
                        group["lr"] = lr_at(step)
                optimizer.zero_grad(set_to_none=True)
                pred = run(b)
                loss = torch.nn.functional.mse_loss(pred, b["y"])
                loss.backward()
                optimizer.step()
                step += 1
                loss_sum += loss.item() * b["num_graphs"]
                abs_sum += (pred.detach() - b["y"]).abs().sum().item()
                seen += b["num_graphs"]
            val = evaluate(model, run, valid)
            if plateau is not None:
                plateau.step(val)
            improved = val < best_val
            if improved:
                best_val, best_epoch = val, epoch
                best_state = copy.deepcopy(model.state_dict())
            row = {"epoch": epoch, "lr_end": f"{optimizer.param_groups[0]['lr']:.3g}",
                   "train_loss_mse_ev2": f"{loss_sum / seen:.6g}", "train_mae_mev": f"{1e3 * abs_sum / seen:.2f}",
                   "valid_mae_mev": f"{1e3 * val:.2f}", "best": int(improved),
                   "epoch_s": f"{time.perf_counter() - t0:.1f}", "elapsed_s": f"{time.perf_counter() - t_train:.1f}"}
            out.writerow(row)
            fh.flush()
            print(json.dumps({"progress": args.worker, **row}), file=sys.stderr, flush=True)
    train_s = time.perf_counter() - t_train
    test = [collate(parts["test"][i:i + bs], args.cutoff) for i in range(0, len(parts["test"]), bs)]
    test_last = evaluate(model, run, test)
    model.load_state_dict(best_state)
    test_best = evaluate(model, run, test)
    print(json.dumps({
        "suite": "accuracy", "library": args.worker,
        "setting": "flush" if args.worker == "pyg" else "default",
        "target": "U0 atomization energy (eV)" if args.target == "U0" else f"{args.target} (geognn's QM9 unit)",
        "target_name": args.target, "readout": readout_of(args), "train": len(train), "valid": len(parts["valid"]),
        "test": len(parts["test"]), "epochs": args.epochs, "batch_size": bs, "optimizer": "Adam",
        "lr": args.lr, "schedule": args.schedule, "seed": args.seed,
        "init_seed": args.seed if args.init_seed is None else args.init_seed, "best_epoch": best_epoch,
        "valid_mae_mev": round(1e3 * best_val, 2), "test_mae_mev": round(1e3 * test_best, 2),
        "test_mae_mev_last_epoch": round(1e3 * test_last, 2),
        "params": sum(p.numel() for p in model.parameters()),
        "train_wall_s": round(train_s, 1), "wall_s": round(time.perf_counter() - t_start, 1),
        "setup_s": round(setup_s, 1), "threads": args.threads, "torch": torch.__version__,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }), flush=True)


# --- summary of finished runs --------------------------------------------------------
def summarize(paths, args):
    """Test MAE per library over initialisation seeds, and whether the difference is more than noise.

    Only runs with this invocation's split sizes, epochs, batch size, seed and
    schedule count; a library's repeated init seed keeps its latest result.
    """
    from scipy import stats

    wanted = dict(train=args.train, valid=args.valid, test=args.test, epochs=args.epochs,
                  batch_size=args.batch_size, seed=args.seed, schedule=args.schedule, lr=args.lr,
                  target_name=args.target)
    runs = {}
    for path in paths:
        with open(path) as fh:
            for line in fh:
                r = json.loads(line)
                r.setdefault("seed", 0)  # the first runs predate the field; 0 was the default
                r.setdefault("target_name", "U0")  # and so do the first U0 runs
                if "test_mae_mev" not in r or any(r.get(k) != v for k, v in wanted.items()):
                    continue
                runs.setdefault(r["library"], {})[r.get("init_seed", r["seed"])] = r["test_mae_mev"]
    summary = {"suite": "accuracy", "summary": "test_mae_mev over init seeds", **wanted}
    for library, by_seed in sorted(runs.items()):
        values = [by_seed[k] for k in sorted(by_seed)]
        summary[library] = {"init_seeds": sorted(by_seed), "test_mae_mev": values,
                            "mean": round(statistics.mean(values), 2),
                            "std": round(statistics.stdev(values), 2) if len(values) > 1 else None}
    if all(len(runs.get(lib, {})) > 1 for lib in ("geognn", "pyg")):
        a, b = list(runs["geognn"].values()), list(runs["pyg"].values())
        test = stats.ttest_ind(a, b, equal_var=False)
        diff = statistics.mean(a) - statistics.mean(b)
        ci = test.confidence_interval(0.95)
        summary["geognn_minus_pyg_mev"] = {"mean": round(diff, 2), "ci95": [round(ci.low, 2), round(ci.high, 2)],
                                           "welch_p": round(float(test.pvalue), 3)}
    print(json.dumps(summary), flush=True)
    return summary


# --- driver side ------------------------------------------------------------------
def main(argv=None) -> int:
    args = parse_args(argv)
    args.out = os.path.abspath(args.out)
    if args.summarize:
        summarize(args.summarize, args)
        return 0
    if args.worker:
        worker(args)
        return 0
    sys.path.insert(0, REPO)
    if args.check_equivalence:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(check_equivalence(args)), flush=True)
        return 0
    from geognn.data import QM9, random_split, save_split

    os.makedirs(args.out, exist_ok=True)
    n = len(QM9("U0", progress=False))
    split = random_split(n, (args.train, args.valid, args.test), seed=args.seed)
    save_split(split, os.path.join(args.out, "split.json"), n=n, dataset="qm9", seed=args.seed,
               sizes=[args.train, args.valid, args.test])
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
    results, procs = [], []
    for library in args.libraries.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), *passthrough, "--out", args.out, "--worker", library]
        # progress goes to stderr, live; side by side unless --sequential
        procs.append((library, subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)))
        if args.sequential:
            procs[-1][1].wait()
    for library, proc in procs:
        stdout, _ = proc.communicate()
        lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        if not lines:
            lines = [{"suite": "accuracy", "library": library, "error": f"worker exited with {proc.returncode}"}]
        results.extend(lines)
        for line in lines:
            print(json.dumps(line), flush=True)
    with open(os.path.join(args.out, "results.jsonl"), "w") as fh:
        for line in results:
            fh.write(json.dumps(line) + "\n")
    done = {r["library"]: r for r in results if "test_mae_mev" in r}
    if "geognn" in done and "pyg" in done:
        print(json.dumps({"suite": "accuracy", "comparison": "test_mae_mev geognn / pyg",
                          "ratio": round(done["geognn"]["test_mae_mev"] / done["pyg"]["test_mae_mev"], 3),
                          "geognn_no_worse": done["geognn"]["test_mae_mev"] <= done["pyg"]["test_mae_mev"]}),
              flush=True)
    if "geognn" in done and "cormorant" in done:
        print(json.dumps({"suite": "accuracy", "comparison": "test_mae_mev cormorant / geognn schnet",
                          "target": args.target,
                          "ratio": round(done["cormorant"]["test_mae_mev"] / done["geognn"]["test_mae_mev"], 3)}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
