"""SchNet training throughput: geognn beside PyTorch Geometric and SchNetPack, in one run.

    bash benchmarks/setup_peers.sh                                   # once: .venv-bench with PyG and SchNetPack
    .venv-bench/bin/python benchmarks/models.py                      # 2000 random QM9 molecules, batches of 100
    python benchmarks/models.py --molecules 200 --batches 2 --rounds 1 --hidden 16 --interactions 1  # quick check
    python benchmarks/models.py --device cuda --settings default --batch-size 1000   # on a GPU
    python benchmarks/models.py --device cuda --compile reduce-overhead   # geognn's step as CUDA graphs

A machine without QM9 (the qm9pack wheel), such as a borrowed GPU, takes the
molecules from a file written where QM9 is installed:

    .venv/bin/python benchmarks/models.py --molecules 10000 --save-molecules qm9-10k.pt --libraries geognn --batches 1
    python benchmarks/models.py --load-molecules qm9-10k.pt --device cuda --batch-size 1000

Every (library, setting) runs in its own subprocess, because
``torch.set_flush_denormal(True)`` only takes effect when it is called before
the OpenMP pool exists (PEERS.md). Settings: "default" (nothing set) and
"flush" (flush-to-zero of float32 subnormals set first thing). geognn is
measured with its defaults; its Gaussian basis zeroes values below 1e-30, so
it needs no flag. Each library gets the same molecules and the same
precomputed radius graph (cutoff 5 Å); the step timed is forward + backward
of the MSE on standardised U0 (no optimizer step), as in PEERS.md; edge
lengths are computed inside each model's forward. A missing peer prints a
"skipped" line and the run goes on.

The machine is shared and its speed drifts, so every (library, setting)
worker is started once, loads its model and the molecules, and then waits;
the driver asks them in turn for one batch each (A B C A B C ...), for
``--batches`` batches (after one warm-up batch each), ``--rounds`` times.
Every library thus runs each batch within seconds of the others. One JSON
line per measurement (median, min, max over all timed batches), then one
ratio line per peer: geognn with its defaults against the peer's faster
setting, as the ratio of medians and as the median of the per-batch ratios
(paired, the figure that drift moves least); never asserts on time. geognn
is imported from this checkout (the repository goes first on sys.path), so
the peers' virtual environment needs no geognn install, only its native build.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ("geognn", "pyg", "schnetpack")
SETTINGS = ("default", "flush")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecules", type=int, default=2000, help="QM9 molecules drawn (default: 2000)")
    p.add_argument("--sample", choices=["random", "first"], default="random",
                   help="random: drawn from all of QM9 with seed 0; first: the first N (default: random)")
    p.add_argument("--batch-size", type=int, default=100, help="molecules per batch (default: 100)")
    p.add_argument("--batches", type=int, default=10, help="timed batches per round (default: 10)")
    p.add_argument("--rounds", type=int, default=2, help="passes over those batches (default: 2)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: 2)")
    p.add_argument("--hidden", type=int, default=128, help="hidden channels = filters (default: 128)")
    p.add_argument("--interactions", type=int, default=6, help="interaction blocks (default: 6)")
    p.add_argument("--rbf", type=int, default=50, help="Gaussian basis size (default: 50)")
    p.add_argument("--cutoff", type=float, default=5.0, help="cutoff in Å (default: 5.0)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where models and batches live (default cpu); on cuda each step is timed between two "
                        "torch.cuda.synchronize() and peak memory is torch.cuda.max_memory_allocated")
    p.add_argument("--compile", choices=["none", "default", "reduce-overhead"], default="none",
                   help="geognn's step through torch.compile(model.predict, dynamic=True) in this mode "
                        "(reduce-overhead: CUDA graphs, on cuda); the peers stay eager; every batch is run once "
                        "before timing so compilation and graph recording are left out (default: none)")
    p.add_argument("--amp", choices=["none", "float16", "bfloat16"], default="none",
                   help="run every library's forward under torch.autocast in this dtype (mixed precision; the loss "
                        "in float32) (default: none)")
    p.add_argument("--libraries", default=",".join(LIBRARIES), help="comma-separated subset of " + ",".join(LIBRARIES))
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated subset of " + ",".join(SETTINGS))
    p.add_argument("--save-molecules", metavar="FILE",
                   help="also write the drawn molecules (z, pos in Å, counts, U0 in eV) to this .pt file")
    p.add_argument("--load-molecules", metavar="FILE",
                   help="take the molecules from a --save-molecules file instead of QM9 (--molecules and --sample "
                        "then only say how many of its molecules, from the start, to use)")
    p.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    p.add_argument("--setting", choices=SETTINGS, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --- worker side ------------------------------------------------------------------
def draw_molecules(args):
    """The benchmark's molecules: {"z": (A,) uint8, "pos": (A, 3) float32 Å, "counts": (M,), "y": (M,) U0 in eV}."""
    import torch

    if args.load_molecules:
        saved = torch.load(args.load_molecules, weights_only=True)
        if len(saved["counts"]) < args.molecules:
            raise SystemExit(f"models.py: {args.load_molecules} holds {len(saved['counts'])} molecules, fewer than "
                             f"--molecules {args.molecules}")
        counts = saved["counts"][:args.molecules]
        atoms = int(counts.sum())
        return {"z": saved["z"][:atoms], "pos": saved["pos"][:atoms], "counts": counts,
                "y": saved["y"][:args.molecules]}
    import numpy as np

    from geognn.data import QM9

    dataset = QM9("U0", limit=args.molecules if args.sample == "first" else None, progress=False)
    if args.sample == "first":
        idx = np.arange(args.molecules)
    else:
        idx = np.random.default_rng(0).choice(len(dataset), size=args.molecules, replace=False)
    mols = [dataset[int(i)] for i in idx]
    return {"z": torch.cat([m.z for m in mols]).to(torch.uint8), "pos": torch.cat([m.pos for m in mols]),
            "counts": torch.tensor([len(m.z) for m in mols]), "y": torch.cat([m.y for m in mols]).reshape(-1)}


def load_batches(args):
    """Lists of per-batch tensors: z, pos, batch, edge_index, y (standardised U0)."""
    import torch
    from molecule_graphs import radius_graph  # vesin's, or the same edges by brute force where it is missing

    mols = draw_molecules(args)
    y = (mols["y"] - mols["y"].mean()) / mols["y"].std()
    z_all, pos_all = mols["z"].long().split(mols["counts"].tolist()), mols["pos"].split(mols["counts"].tolist())
    batches = []
    for start in range(0, len(z_all), args.batch_size):
        z = torch.cat(z_all[start:start + args.batch_size])
        pos = torch.cat(pos_all[start:start + args.batch_size])
        counts = mols["counts"][start:start + args.batch_size]
        batch = torch.repeat_interleave(torch.arange(len(counts)), counts)
        edge_index = radius_graph(pos, args.cutoff, batch)
        batches.append({"z": z, "pos": pos, "batch": batch, "edge_index": edge_index,
                        "y": y[start:start + len(counts)].clone(), "num_graphs": len(counts)})
    return [{k: v.to(args.device) if isinstance(v, torch.Tensor) else v for k, v in b.items()} for b in batches]


def build_geognn(args):
    from torch_geometric.data import Data

    from geognn.models import SchNet

    model = SchNet(args.hidden, args.hidden, args.interactions, args.rbf, args.cutoff)
    if args.compile != "none":
        import torch

        # model.predict is the tensor-only forward (pair finding included) that torch.compile traces whole.
        predict = torch.compile(model.predict, mode=None if args.compile == "default" else args.compile,
                                fullgraph=True, dynamic=True)

        def run(b):
            return predict(b["z"], b["pos"], b["batch"], b["edge_index"], None, b["num_graphs"]).reshape(-1)

        return model, run

    def run(b):
        data = Data(z=b["z"], pos=b["pos"], batch=b["batch"], edge_index=b["edge_index"])
        data.num_graphs = b["num_graphs"]
        return model(data)["y"].reshape(-1)

    return model, run


def build_pyg(args):
    from torch_geometric.nn.models import SchNet

    current = {}

    def interaction_graph(pos, batch):
        # The precomputed graph (pyg-lib's radius_graph is not on PyPI); lengths from pos, in forward.
        edge_index = current["edge_index"]
        return edge_index, (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)

    model = SchNet(args.hidden, args.hidden, args.interactions, args.rbf, args.cutoff,
                   interaction_graph=interaction_graph)

    def run(b):
        current["edge_index"] = b["edge_index"]
        return model(b["z"], b["pos"], b["batch"]).reshape(-1)

    return model, run


def build_schnetpack(args):
    import torch
    import torch.utils.data.dataloader as dataloader

    if not hasattr(dataloader, "T_co") and hasattr(dataloader, "_T_co"):
        dataloader.T_co = dataloader._T_co  # schnetpack 2.1.1 imports the old name (PEERS.md)
    import schnetpack as spk
    import schnetpack.properties as props

    representation = spk.representation.SchNet(
        n_atom_basis=args.hidden, n_interactions=args.interactions,
        radial_basis=spk.nn.GaussianRBF(n_rbf=args.rbf, cutoff=args.cutoff),
        cutoff_fn=spk.nn.CosineCutoff(args.cutoff), n_filters=args.hidden,
    )
    model = spk.model.NeuralNetworkPotential(
        representation=representation, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=args.hidden, output_key="energy")],
    )

    def run(b):
        # schnetpack pairs: idx_i is the centre, idx_j the neighbour; R_ij = R[j] - R[i] + offset.
        inputs = {
            props.Z: b["z"], props.R: b["pos"], props.idx_m: b["batch"],
            props.idx_i: b["edge_index"][1], props.idx_j: b["edge_index"][0],
            props.offsets: torch.zeros(b["edge_index"].shape[1], 3, device=b["pos"].device),
            props.n_atoms: torch.bincount(b["batch"], minlength=b["num_graphs"]),
        }
        return model(inputs)["energy"].reshape(-1)

    return model, run


BUILDERS = {"geognn": build_geognn, "pyg": build_pyg, "schnetpack": build_schnetpack}


def worker(args) -> None:
    """Serves one (library, setting): after a "ready" line, times batch k for each k read from stdin."""
    import torch

    if args.setting == "flush":
        torch.set_flush_denormal(True)  # before anything starts the OpenMP pool
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sys.path.insert(0, REPO)  # geognn from this checkout
    try:
        model, run = BUILDERS[args.worker](args)
        model.to(args.device)
    except ImportError as err:
        print(json.dumps({"skipped": f"{args.worker} is not installed here ({err}); install it to compare"}),
              flush=True)
        return
    batches = load_batches(args)
    print(json.dumps({"ready": True, "params": sum(p.numel() for p in model.parameters()),
                      "torch": torch.__version__}), flush=True)
    cuda = args.device == "cuda"

    def autocast():
        dtype = getattr(torch, args.amp) if args.amp != "none" else None
        return torch.autocast(args.device, dtype=dtype, enabled=dtype is not None)

    def now():
        if cuda:  # every kernel of the step finished, so wall time is the step's time
            torch.cuda.synchronize()
        return time.perf_counter()

    for line in sys.stdin:
        b = batches[int(line) % len(batches)]
        model.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = now()
        with autocast():
            y = run(b)
        loss = torch.nn.functional.mse_loss(y.float(), b["y"])
        loss.backward()
        t1 = now()
        peak = torch.cuda.max_memory_allocated() if cuda else None
        with torch.no_grad(), autocast():
            run(b)
        t2 = now()
        print(json.dumps({"fwd_bwd_s": t1 - t0, "fwd_s": t2 - t1, "edges": b["edge_index"].shape[1],
                          "peak_bytes": peak}), flush=True)


# --- driver side ------------------------------------------------------------------
class Worker:
    """A worker subprocess for one (library, setting)."""

    def __init__(self, args, passthrough, library, setting):
        self.library, self.setting = library, setting
        cmd = [sys.executable, os.path.abspath(__file__), *passthrough, "--worker", library, "--setting", setting]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.times, self.info = [], self._read()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        return {"error": (self.proc.stderr.read().strip().splitlines() or ["no output"])[-1]}

    def step(self, k):
        self.proc.stdin.write(f"{k}\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def summarize(args, worker):
    fb = [t["fwd_bwd_s"] * 1e3 for t in worker.times]
    med = statistics.median(fb)
    return {
        "suite": "models", "library": worker.library, "setting": worker.setting, "sample": args.sample,
        "molecules": args.molecules, "batch_size": args.batch_size, "timed_batches": len(fb),
        "edges_per_batch": round(statistics.mean(t["edges"] for t in worker.times), 1),
        "params": worker.info["params"], "fwd_bwd_ms": round(med, 2), "fwd_bwd_ms_min": round(min(fb), 2),
        "fwd_bwd_ms_max": round(max(fb), 2), "fwd_ms": round(statistics.median(t["fwd_s"] * 1e3 for t in worker.times), 2),
        "mol_per_s": round(args.batch_size / (med / 1e3), 1), "threads": args.threads, "torch": worker.info["torch"],
        "load_avg_1min": round(os.getloadavg()[0], 2), "device": args.device,
        **({"compile": args.compile} if worker.library == "geognn" and args.compile != "none" else {}),
        **({"amp": args.amp} if args.amp != "none" else {}),
        **({"peak_MB": round(max(t["peak_bytes"] for t in worker.times) / 2**20, 1)} if args.device == "cuda" else {}),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(f"models.py: --device cuda: torch {torch.__version__} sees no GPU on this machine")
    if args.load_molecules:
        draw_molecules(args)  # a missing or short file stops here, before any worker starts
    if args.save_molecules:
        import torch

        sys.path.insert(0, REPO)
        from geognn.train.checkpoint import atomic_write_bytes

        molecules = draw_molecules(args)
        atomic_write_bytes(args.save_molecules, lambda f: torch.save(molecules, f))
    passthrough, skip_value = [], False
    for a in (argv if argv is not None else sys.argv[1:]):  # the workers get all but --libraries/--settings/--save
        if skip_value or a.startswith(("--libraries", "--settings", "--save-molecules")):
            skip_value = not skip_value and "=" not in a
            continue
        passthrough.append(a)
    workers, results = [], []
    for library in args.libraries.split(","):
        for setting in args.settings.split(","):
            w = Worker(args, passthrough, library, setting)
            if "ready" in w.info:
                workers.append(w)
            else:
                w.close()
                results.append({"suite": "models", "library": library, "setting": setting, **w.info})
    try:
        # Warm-up: allocators, thread pool; with --compile every batch once (compilation, CUDA-graph recording).
        for k in (range(args.batches + 1) if args.compile != "none" else [0]):
            for w in workers:
                w.step(k)
        for _ in range(max(args.rounds, 1)):
            for k in range(1, args.batches + 1):
                for w in workers:  # the same batch, one library after the other
                    w.times.append(w.step(k))
    finally:
        for w in workers:
            w.close()
    for w in workers:
        results.append(summarize(args, w))
    for line in results:
        print(json.dumps(line), flush=True)
    ours = [w for w in workers if w.library == "geognn" and w.setting == "default"]
    best = {}
    for w in workers:  # each peer at its faster setting
        if w.library != "geognn":
            med = statistics.median(t["fwd_bwd_s"] for t in w.times)
            if w.library not in best or med < best[w.library][0]:
                best[w.library] = (med, w)
    if ours and best:
        mine = ours[0]
        my_med = statistics.median(t["fwd_bwd_s"] for t in mine.times)
        for med, peer in sorted(best.values(), key=lambda mw: mw[0]):
            paired = [p["fwd_bwd_s"] / g["fwd_bwd_s"] for p, g in zip(peer.times, mine.times)]
            print(json.dumps({"suite": "models", "ratio": "geognn_default_vs_peer_faster_setting",
                              "peer": peer.library, "peer_setting": peer.setting,
                              "speedup": round(med / my_med, 3), "speedup_paired_median": round(statistics.median(paired), 3),
                              "fastest_peer": peer is min(best.values(), key=lambda mw: mw[0])[1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
