"""Cormorant speed and memory: a training step (forward + backward) on QM9 batches, beside SchNet.

    .venv/bin/python benchmarks/cormorant.py                      # batches of 25 and 100, max_l 1-3, 2 threads
    .venv/bin/python benchmarks/cormorant.py --quick              # batch 25, max_l 1-2, few repeats (a test runs it)
    .venv/bin/python benchmarks/cormorant.py --implementations    # fused CG path vs e3nn's TensorProduct, jit modes
    .venv/bin/python benchmarks/cormorant.py --breakdown          # where the time of a step goes, max_l 3
    .venv/bin/python benchmarks/cormorant.py --device cuda        # the same on a GPU
    python3 benchmarks/cormorant.py --device cuda --load-molecules qm9.pt   # a GPU machine without QM9

Molecules: 100 drawn at random from QM9 (seed 0), radius graph at 5 Å built
once; a batch of B is the first B of them. Cormorant runs with the paper's
defaults (10 channels, 4 levels, max_sh = max_l) at max_l = 1, 2, 3; SchNet
with geognn's defaults (128 channels, 6 interactions, 50 Gaussians). The step
timed is the MSE on U0 and its backward pass (no optimizer step), models in
training mode. Configurations are interleaved (A B C A B C ...) so drift of
this shared machine hits them alike; the figure is the median, with min and
max. Peak memory: on the CPU the peak RSS of the first step above the RSS
before it (model and batch loaded), in a fresh process per configuration; on
a GPU ``max_memory_allocated``.

``--implementations`` times, at one size (default batch 25, max_l 2), the
fused channel-wise CG path (the default) against e3nn's own
``o3.TensorProduct`` modules with the same weights (``Cormorant.use_e3nn``)
under e3nn's jit modes: "eager" (e3nn's default on torch >= 2.10), "script"
(TorchScript of its generated code) and "inductor" (e3nn's setting, plus
``torch.compile`` of the model), and the fused path under ``torch.compile``.
The first step (compilation included) is reported apart.

``--breakdown`` times the parts of one CG level on inputs captured from a real
batch (edge level, neighbour sum, message CG, square CG, mixing, batch norm),
each forward + backward, and reports them as fractions of a whole step.

One JSON line per measurement; never asserts on time.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", default="25,100", help="molecules per batch (default: 25,100)")
    p.add_argument("--max-l", default="1,2,3", help="Cormorant degrees to time (default: 1,2,3)")
    p.add_argument("--rounds", type=int, default=5, help="timed steps per configuration (default: 5)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: 2)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--load-molecules", metavar="FILE",
                   help="molecules from a benchmarks/models.py --save-molecules file instead of QM9 (for a machine "
                        "without QM9, such as a borrowed GPU)")
    p.add_argument("--quick", action="store_true", help="batch 25, max_l 1 and 2, 2 rounds, no memory probes")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    p.add_argument("--implementations", action="store_true", help="fused path vs e3nn jit modes (see above)")
    p.add_argument("--impl-batch", type=int, default=25, help="--implementations: batch size (default: 25)")
    p.add_argument("--impl-max-l", type=int, default=2, help="--implementations: max_l (default: 2)")
    p.add_argument("--breakdown", action="store_true", help="time the parts of a step (see above)")
    p.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.max_l, args.rounds, args.no_memory = "25", "1,2", 2, True
    return args


# --- data and models ----------------------------------------------------------------
def load_molecules(count: int = 100, path: str | None = None):
    """``count`` random QM9 molecules (seed 0) with their radius graph at 5 Å.

    With ``path`` (a ``benchmarks/models.py --save-molecules`` file, for a machine without QM9 such as the
    borrowed GPU) its first ``count`` molecules; the graph by brute force where vesin is missing.
    """
    import numpy as np
    import torch
    from molecule_graphs import radius_graph
    from torch_geometric.data import Data

    if path is not None:
        saved = torch.load(path, weights_only=True)
        if len(saved["counts"]) < count:
            raise SystemExit(f"cormorant.py: {path} holds {len(saved['counts'])} molecules, fewer than {count}")
        counts = saved["counts"][:count].tolist()
        zs = saved["z"][:sum(counts)].long().split(counts)
        positions = saved["pos"][:sum(counts)].split(counts)
        ys = saved["y"][:count]
        out = []
        for z, pos, y in zip(zs, positions, ys):
            data = Data(z=z, pos=pos, y=y.reshape(1, 1))
            data.edge_index = radius_graph(pos, 5.0, torch.zeros(len(z), dtype=torch.long))
            out.append(data)
        return out
    from geognn.data import QM9

    dataset = QM9("U0", progress=False)
    out = []
    for i in np.random.default_rng(0).choice(len(dataset), size=count, replace=False):
        data = dataset[int(i)]
        data.edge_index = radius_graph(data.pos, 5.0, torch.zeros(len(data.z), dtype=torch.long))
        out.append(data)
    return out


def make_batch(molecules, size: int, device):
    from torch_geometric.data import Batch

    return Batch.from_data_list(molecules[:size]).to(device)


def build(name: str, device):
    """"schnet" or "cormorant-L<l>" -> the model in training mode."""
    import torch

    from geognn.models import Cormorant, SchNet

    torch.manual_seed(0)
    if name == "schnet":
        model = SchNet()
    else:
        degree = int(name.rsplit("L", 1)[1])
        model = Cormorant(max_l=degree, max_sh=degree)
    return model.to(device).train()


def step(model, batch) -> None:
    out = model(batch)["y"]
    loss = (out - batch.y.reshape(out.shape)).square().mean()
    loss.backward()


def sync(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def stats(times: list[float]) -> dict:
    return {"median_ms": round(1e3 * statistics.median(times), 2), "min_ms": round(1e3 * min(times), 2),
            "max_ms": round(1e3 * max(times), 2), "repeats": len(times)}


# --- peak memory ------------------------------------------------------------------------
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_probe(args) -> None:
    """In a fresh process: peak memory of the first step above what was in use before it (model, batch)."""
    import torch

    torch.set_num_threads(args.threads)
    name, size = args.memory_probe.split("@")
    batch = make_batch(load_molecules(path=args.load_molecules), int(size), args.device)
    model = build(name, args.device)
    # The first step is measured: after it the allocator keeps what it freed, so a second step would
    # reuse that memory and show almost no growth of the resident set.
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step(model, batch)
        peak = torch.cuda.max_memory_allocated() - base
    else:
        base = _rss()
        with open("/proc/self/clear_refs", "w") as f:  # reset the high-water mark (Linux >= 4.0)
            f.write("5")
        step(model, batch)
        peak = _peak_rss() - base
    print(json.dumps({"peak_extra_bytes": max(0, peak)}))


def peak_memory_mb(name: str, size: int, args) -> float | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-probe", f"{name}@{size}", "--threads",
           str(args.threads), "--device", args.device,
           *(["--load-molecules", args.load_molecules] if args.load_molecules else [])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return round(json.loads(lines[-1])["peak_extra_bytes"] / 2**20, 1) if lines else None


# --- suites ---------------------------------------------------------------------------------
def speed(args, molecules, machine) -> None:
    import torch

    names = ["schnet"] + [f"cormorant-L{degree}" for degree in args.max_l.split(",")]
    for size in (int(s) for s in args.batch_sizes.split(",")):
        batch = make_batch(molecules, size, args.device)
        models = {name: build(name, args.device) for name in names}
        for model in models.values():
            step(model, batch)  # warm-up
        times = {name: [] for name in names}
        for _ in range(args.rounds):
            for name, model in models.items():
                model.zero_grad(set_to_none=True)
                times[name].append(timed(lambda: step(model, batch), args.device))
        schnet = statistics.median(times["schnet"])
        for name in names:
            row = {"suite": "cormorant", "what": "train step (forward + backward)", "model": name,
                   "batch": size, "atoms": int(batch.num_nodes), "edges": int(batch.edge_index.shape[1]),
                   "params": sum(p.numel() for p in models[name].parameters()), **stats(times[name]),
                   "vs_schnet": round(statistics.median(times[name]) / schnet, 2), **machine}
            if not args.no_memory:
                row["peak_extra_MB"] = peak_memory_mb(name, size, args)
            print(json.dumps(row), flush=True)
        del models
        torch.cuda.empty_cache() if args.device.startswith("cuda") else None


def implementations(args, molecules, machine) -> None:
    import e3nn
    import torch

    batch = make_batch(molecules, args.impl_batch, args.device)
    base = build(f"cormorant-L{args.impl_max_l}", args.device)
    variants = {}
    for mode in ("eager", "script", "inductor"):
        e3nn.set_optimization_defaults(jit_mode=mode)
        model = copy.deepcopy(base).use_e3nn()
        variants[f"e3nn {mode}"] = torch.compile(model) if mode == "inductor" else model
    e3nn.set_optimization_defaults(jit_mode="eager")
    variants["fused eager (default)"] = copy.deepcopy(base)
    variants["fused + torch.compile"] = torch.compile(copy.deepcopy(base))
    first, times = {}, {name: [] for name in variants}
    for name, model in variants.items():
        try:
            first[name] = timed(lambda: step(model, batch), args.device)
        except Exception as err:  # report and go on: a mode that fails is a finding too
            first[name] = None
            print(json.dumps({"suite": "cormorant", "what": "implementation", "variant": name,
                              "error": f"{type(err).__name__}: {str(err)[:300]}"}), flush=True)
    for _ in range(args.rounds):
        for name, model in variants.items():
            if first[name] is not None:
                model.zero_grad(set_to_none=True)
                times[name].append(timed(lambda: step(model, batch), args.device))
    fused = statistics.median(times["fused eager (default)"])
    for name in variants:
        if first[name] is None:
            continue
        print(json.dumps({"suite": "cormorant", "what": "implementation, train step", "variant": name,
                          "batch": args.impl_batch, "max_l": args.impl_max_l, "first_step_s": round(first[name], 2),
                          **stats(times[name]), "vs_fused_eager": round(statistics.median(times[name]) / fused, 2),
                          **machine}), flush=True)


def breakdown(args, molecules, machine) -> None:
    """Forward + backward of each part of the CG levels, on inputs captured from a real batch."""
    import torch

    from geognn.nn.cormorant.cg import channelwise_linear
    from geognn.ops import CSRGraph, neighbor_slots, outer_message_sum

    batch = make_batch(molecules, int(args.batch_sizes.split(",")[0]), args.device)
    model = build("cormorant-L3", args.device)
    captured = []

    def capture(level, inputs, _output):
        captured.append((level, [t.detach() if isinstance(t, torch.Tensor) else t for t in inputs]))

    hooks = [level.register_forward_hook(capture) for level in model.atom_levels]
    step(model, batch)
    for hook in hooks:
        hook.remove()
    total = statistics.median([timed(lambda: step(model, batch), args.device) for _ in range(args.rounds)])

    def fwd_bwd(fn, *tensors):
        leaves = [t.clone().requires_grad_(True) for t in tensors]
        out = fn(*leaves)
        out.backward(torch.randn_like(out))

    parts: dict[str, float] = {}
    for level, (psi, edge, sh, graph, slots) in captured:
        atoms, channels = psi.shape[0], psi.shape[1]
        weighted = (edge.unsqueeze(-1) * sh.unsqueeze(1)).detach()
        summed = outer_message_sum(weighted, psi, graph, slots).detach()
        with torch.no_grad():
            message = level.message_cg(summed.reshape(atoms * channels, *summed.shape[2:]))
            square = level.square_cg.product(psi.reshape(atoms * channels, -1), psi.reshape(atoms * channels, -1))
            combined = torch.cat([message.reshape(atoms, channels, -1), psi, square.reshape(atoms, channels, -1)],
                                 -1)
            mixed = channelwise_linear(level.mix, combined, level.mix_columns)
        jobs = {
            "neighbour sum (outer_message_sum)": (lambda w, x: outer_message_sum(w, x, graph, slots), weighted, psi),
            "message CG": (lambda t: level.message_cg(t.reshape(atoms * channels, *t.shape[2:])), summed),
            "square CG": (lambda x: level.square_cg.product(x.reshape(atoms * channels, -1),
                                                             x.reshape(atoms * channels, -1)), psi),
            "per-irrep mixing (o3.Linear weights)": (
                lambda c: channelwise_linear(level.mix, c, level.mix_columns), combined),
            "batch norm": (lambda m: level.norm(m), mixed),
        }
        for name, (fn, *tensors) in jobs.items():
            fwd_bwd(fn, *tensors)  # warm-up
            parts[name] = parts.get(name, 0.0) + statistics.median(
                [timed(lambda: fwd_bwd(fn, *tensors), args.device) for _ in range(args.rounds)])
    edge_levels = 0.0
    for edge_level, (level, (psi, edge, sh, graph, slots)) in zip(model.edge_levels, captured):
        src, dst = graph.src, graph.dst
        previous = torch.randn_like(edge) if edge_level.num_previous else None
        distance = torch.rand(edge.shape[0], device=edge.device) * 4 + 1
        basis = model.radial_basis(distance).detach()
        envelope = model.envelope(distance)
        fn = lambda p: edge_level(p[src], p[dst], previous, basis, distance, envelope)  # noqa: E731
        fwd_bwd(fn, psi)
        edge_levels += statistics.median([timed(lambda: fwd_bwd(fn, psi), args.device) for _ in range(args.rounds)])
    parts["edge levels (dot products, mixing, cutoffs)"] = edge_levels
    accounted = sum(parts.values())
    for name, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(json.dumps({"suite": "cormorant", "what": "breakdown, forward + backward", "part": name,
                          "batch": batch.num_graphs, "max_l": 3, "ms": round(1e3 * seconds, 1),
                          "fraction_of_step": round(seconds / total, 3), **machine}), flush=True)
    print(json.dumps({"suite": "cormorant", "what": "breakdown, whole step", "batch": batch.num_graphs, "max_l": 3,
                      "step_ms": round(1e3 * total, 1), "accounted_fraction": round(accounted / total, 3),
                      "rest": "input level, radial basis, spherical harmonics, readout, head, autograd overhead",
                      **machine}), flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.memory_probe:
        memory_probe(args)
        return 0
    import platform

    machine = {"device": args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(0),
               "cpu": platform.processor() or platform.machine(), "threads": args.threads,
               "load_avg_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__}
    molecules = load_molecules(path=args.load_molecules)
    if args.implementations:
        implementations(args, molecules, machine)
    elif args.breakdown:
        breakdown(args, molecules, machine)
    else:
        speed(args, molecules, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
