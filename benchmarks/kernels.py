"""Kernel benchmarks: geognn.ops beside the PyTorch paths PyG-style models use, in one run.

    python benchmarks/kernels.py                       # E=1,000,000, F=128, N=50,000, float32, 2 threads
    python benchmarks/kernels.py --edges 100000 --repeats 3   # quick check
    python benchmarks/kernels.py --device cuda --edges 10000000   # on a GPU: CUDA events, torch.cuda peak memory

Prints one JSON line per measurement (median and min/max over --repeats
interleaved rounds after one warm-up), then ratios against each baseline
measured in this same run: the ratio of medians and the median of per-round
ratios. Peak memory is measured in a fresh subprocess per variant (peak RSS above
the RSS after the inputs exist). Bandwidth is the op's compulsory traffic
(each input read once, each output written once) divided by its median time,
next to the copy bandwidth of this machine measured the same way. Never
asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

import geognn
from geognn.ops import CSRGraph, message_sum, scatter

try:  # optional peer; `make bench` tries to build it
    import torch_scatter
except ImportError:  # pragma: no cover - depends on the machine
    torch_scatter = None

FLOAT = 4  # bytes per float32
INDEX = 8  # bytes per int64


def make_inputs(args, order: str):
    g = torch.Generator().manual_seed(0)
    E, F, N = args.edges, args.features, args.nodes
    src_vals = torch.randn(E, F, generator=g)
    x = torch.randn(N, F, generator=g)
    edge_index = torch.randint(0, N, (2, E), generator=g)
    if order == "sorted":  # destination-sorted, as a radius graph delivers it
        edge_index = edge_index[:, torch.argsort(edge_index[1], stable=True)]
    grad_out = torch.randn(N, F, generator=g)
    return tuple(t.to(args.device) for t in (src_vals, x, edge_index, grad_out))


# ---- the variants: each returns a callable running one forward(+backward) --
def variants(args, order):
    src_vals, x, edge_index, grad_out = make_inputs(args, order)
    N = args.nodes
    index = edge_index[1].contiguous()
    src_rg = src_vals.clone().requires_grad_(True)
    x_rg = x.clone().requires_grad_(True)
    w_rg = src_vals.clone().requires_grad_(True)
    graph = CSRGraph.from_edge_index(edge_index, num_src=N)
    index_f = index.view(-1, 1).expand_as(src_vals)

    def backward(out):
        out.backward(grad_out)

    v = {}
    # scatter sum ------------------------------------------------------------
    v["scatter_sum/fwd/geognn"] = lambda: scatter(src_vals, index, N, "sum")
    v["scatter_sum/fwd/index_add_"] = lambda: src_vals.new_zeros(N, args.features).index_add_(0, index, src_vals)
    v["scatter_sum/fwd+bwd/geognn"] = lambda: backward(scatter(src_rg, index, N, "sum"))
    v["scatter_sum/fwd+bwd/index_add"] = lambda: backward(src_rg.new_zeros(N, args.features).index_add(0, index, src_rg))
    # scatter max/min with autograd -----------------------------------------
    for red, amax in (("max", "amax"), ("min", "amin")):
        v[f"scatter_{red}/fwd+bwd/geognn"] = lambda red=red: backward(scatter(src_rg, index, N, red))
        v[f"scatter_{red}/fwd+bwd/scatter_reduce"] = lambda amax=amax: backward(
            src_rg.new_zeros(N, args.features).scatter_reduce(0, index_f, src_rg, amax, include_self=False)
        )
    # fused message passing, forward + backward -----------------------------
    v["message_sum/fwd/geognn"] = lambda: message_sum(x, src_vals, graph=graph)  # the graph is built once per batch
    v["message_sum/fwd/unfused_index_add"] = lambda: _unfused(x, src_vals, edge_index, N)
    v["message_sum/fwd+bwd/geognn"] = lambda: backward(message_sum(x_rg, w_rg, edge_index, N))
    v["message_sum/fwd+bwd/geognn_prebuilt_graph"] = lambda: backward(message_sum(x_rg, w_rg, graph=graph))
    v["message_sum/fwd+bwd/unfused_index_add"] = lambda: backward(_unfused(x_rg, w_rg, edge_index, N))
    if torch_scatter is not None:
        v["scatter_sum/fwd/torch_scatter"] = lambda: torch_scatter.scatter(src_vals, index, 0, dim_size=N, reduce="sum")
        v["scatter_sum/fwd+bwd/torch_scatter"] = lambda: backward(
            torch_scatter.scatter(src_rg, index, 0, dim_size=N, reduce="sum"))
        for red in ("max", "min"):
            v[f"scatter_{red}/fwd+bwd/torch_scatter"] = lambda red=red: backward(
                torch_scatter.scatter(src_rg, index, 0, dim_size=N, reduce=red))
        v["message_sum/fwd+bwd/unfused_torch_scatter"] = lambda: backward(
            torch_scatter.scatter(x_rg[edge_index[0]] * w_rg, index, 0, dim_size=N, reduce="sum"))
    copy_dst = torch.empty_like(src_vals).fill_(0)  # pages touched once: this times bandwidth, not page faults
    v["copy/fwd/torch_copy_"] = lambda: copy_dst.copy_(src_vals)
    return v


def _unfused(x, w, edge_index, num_nodes):
    """The PyG-style SchNet path: gather x[src], multiply by the filter, index_add into targets."""
    messages = x[edge_index[0]] * w
    return messages.new_zeros(num_nodes, x.shape[1]).index_add(0, edge_index[1], messages)


def traffic_bytes(name: str, args) -> int:
    """Compulsory memory traffic of one call (inputs read once, outputs written once)."""
    E, F, N = args.edges, args.features, args.nodes
    op, mode, _ = name.split("/")
    if op == "copy":
        return 2 * E * F * FLOAT
    if op.startswith("scatter"):
        fwd = E * F * FLOAT + E * INDEX + N * F * FLOAT
        bwd = N * F * FLOAT + E * F * FLOAT + (E * INDEX if op == "scatter_sum" else N * F * INDEX)
        return fwd + (bwd if mode == "fwd+bwd" else 0)
    if op == "message_sum":
        fwd = E * F * FLOAT + N * F * FLOAT + N * F * FLOAT + 2 * E * INDEX  # w, x, out, src + perm
        bwd = (N * F + E * F + N * F) * FLOAT + (N * F + E * F + N * F) * FLOAT  # grad_x pass, grad_w pass
        return fwd + (bwd if mode == "fwd+bwd" else 0)
    raise ValueError(name)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_probe(args) -> None:
    """Run in a fresh process: peak RSS of one call above the RSS once inputs exist."""
    torch.set_num_threads(args.threads)
    fn = variants(args, args.order)[args.memory_probe]
    fn()  # first call: lazy initialisation is not the op's memory
    base = rss_bytes()
    # Reset the kernel's high-water mark so set-up peaks do not count (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    fn()
    print(json.dumps({"peak_extra_bytes": max(0, _peak_rss_bytes() - base)}))


def cuda_peak_memory(fn) -> int:
    """Bytes allocated by one call on the GPU above what was allocated before it (torch.cuda's peak)."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return max(0, torch.cuda.max_memory_allocated() - base)


def timed(fn, device: str) -> float:
    """Seconds of one call: wall clock on the CPU, CUDA events (kernel time on the stream) on the GPU."""
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def peak_memory(name: str, order: str, args) -> int:
    cmd = [sys.executable, __file__, "--memory-probe", name, "--order", order, "--edges", str(args.edges),
           "--features", str(args.features), "--nodes", str(args.nodes), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return json.loads(out)["peak_extra_bytes"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--edges", type=int, default=1_000_000, help="number of edges / scattered rows E (default 1e6)")
    p.add_argument("--features", type=int, default=128, help="features per row F (default 128)")
    p.add_argument("--nodes", type=int, default=50_000, help="number of nodes / output rows N (default 5e4)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per variant after one warm-up (default 7)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--orders", default="random,sorted", help="index orders to run: random, sorted (default both)")
    p.add_argument("--only", default="", help="run only variants whose name contains this text (default all)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-variant peak-memory measurements")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the tensors live (default cpu); cuda times with CUDA events and measures peak "
                        "memory with torch.cuda.max_memory_allocated")
    p.add_argument("--memory-probe", help=argparse.SUPPRESS)
    p.add_argument("--order", default="random", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_probe:
        memory_probe(args)
        return 0

    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error(f"--device cuda: torch {torch.__version__} sees no GPU on this machine")
    meta = {"device": args.device,
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "kind": "meta", "geognn": geognn.__version__, "torch": torch.__version__, "threads": args.threads,
        "cpu": platform.processor() or platform.machine(), "E": args.edges, "F": args.features, "N": args.nodes,
        "native": geognn.ops.HAS_CUDA_KERNELS if args.device == "cuda" else geognn.ops.HAS_CPU_KERNELS,
        "torch_scatter": getattr(torch_scatter, "__version__", None) if torch_scatter else "not installed",
    }
    print(json.dumps(meta), flush=True)
    results, samples = {}, {}
    for order in args.orders.split(","):
        chosen = {name: fn for name, fn in variants(args, order).items()
                  if args.only in name and not (name.startswith("copy") and order != "random")}
        for fn in chosen.values():
            fn()  # warm-up: allocator, OpenMP pool, lazy init
        # Interleaved rounds: every variant runs once per round, so a burst of load
        # on this shared machine hits all variants alike and the ratios stay meaningful.
        times = {name: [] for name in chosen}
        for _ in range(args.repeats):
            for name, fn in chosen.items():
                times[name].append(timed(fn, args.device))
        for name, ts in times.items():
            med = statistics.median(ts)
            row = {"kind": "time", "name": name, "order": order, "median_ms": round(med * 1e3, 2),
                   "min_ms": round(min(ts) * 1e3, 2), "max_ms": round(max(ts) * 1e3, 2),
                   "GB_per_s": round(traffic_bytes(name, args) / med / 1e9, 2)}
            if name.startswith("message_sum") and not args.no_memory:
                peak = cuda_peak_memory(chosen[name]) if args.device == "cuda" else peak_memory(name, order, args)
                row["peak_extra_MB"] = round(peak / 2**20, 1)
            results[(name, order)] = row
            samples[(name, order)] = ts
            print(json.dumps(row), flush=True)
    # ratios: baseline median / geognn median (> 1 means geognn is faster)
    for (name, order), row in results.items():
        op, mode, impl = name.split("/")
        if impl.startswith("geognn") or op == "copy":
            continue
        mine = results.get((f"{op}/{mode}/geognn", order))
        if mine is None:
            continue
        paired = [b / g for b, g in zip(samples[(name, order)], samples[(f"{op}/{mode}/geognn", order)])]
        ratio = {"kind": "ratio", "op": op, "mode": mode, "order": order, "baseline": impl,
                 "speedup": round(row["median_ms"] / mine["median_ms"], 2),
                 "paired_speedup": round(statistics.median(paired), 2)}
        if "peak_extra_MB" in row and "peak_extra_MB" in mine and mine["peak_extra_MB"] > 0:
            ratio["memory_ratio"] = round(row["peak_extra_MB"] / mine["peak_extra_MB"], 2)
        print(json.dumps(ratio), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
