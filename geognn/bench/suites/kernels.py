"""Suite "kernels": geognn.ops scatter and message_sum beside torch's own paths and torch-scatter.

Runs ``benchmarks/kernels.py`` at the main size with every variant and peak
memory, then at smaller sizes with the message_sum variants only, for the
scaling plot (time against edges).
"""

from __future__ import annotations

from pathlib import Path

from geognn.bench.records import Record
from geognn.bench.scripts import takes_option
from geognn.bench.suites.base import Invocation, Options, Parsed, Unsupported

NAME = "kernels"
DESCRIPTION = "scatter/segment/message_sum (geognn.ops) vs torch index_add/scatter_reduce and torch-scatter"
PEERS = ("torch", "torch_scatter")
FEATURES = 128
EDGES_PER_NODE = 20  # E / N, as in the script's default 1,000,000 / 50,000

IMPLS = {  # the script's variant name -> (label, library)
    "geognn": ("geognn", "geognn"),
    "geognn_prebuilt_graph": ("geognn, CSR graph built once", "geognn"),
    "index_add_": ("Tensor.index_add_", "torch"),
    "index_add": ("index_add (autograd)", "torch"),
    "scatter_reduce": ("scatter_reduce amax/amin (autograd)", "torch"),
    "torch_scatter": ("torch_scatter.scatter", "torch_scatter"),
    "unfused_index_add": ("unfused x[src]*w + index_add (PyG-style)", "torch"),
    "unfused_torch_scatter": ("unfused x[src]*w + torch_scatter.scatter", "torch_scatter"),
    "torch_copy_": ("Tensor.copy_ (bandwidth reference)", "torch"),
}
HEADLINE = {("message_sum", "fwd+bwd", "random"), ("message_sum", "fwd+bwd", "sorted"),
            ("scatter_sum", "fwd", "random"), ("scatter_max", "fwd+bwd", "random"),
            ("scatter_min", "fwd+bwd", "random")}


def invocations(options: Options, usable: set[str], scripts_dir: Path) -> list[Invocation]:
    if options.quick:
        main_edges, repeats, scaling = 100_000, 3, (25_000, 50_000)
    else:
        main_edges, repeats, scaling = 1_000_000, 7, (100_000, 300_000)
    device = []
    if options.device != "cpu":
        if not takes_option(scripts_dir / "kernels.py", "--device"):
            raise Unsupported("benchmarks/kernels.py has no --device option here, so it runs on the CPU only")
        device = ["--device", options.device]
    common = ["--features", str(FEATURES), "--threads", str(options.threads), *device]
    out = [_invocation(main_edges, repeats, common, "every op, random and sorted index, peak memory")]
    for edges in scaling:
        out.append(_invocation(edges, repeats, [*common, "--only", "message_sum", "--orders", "random", "--no-memory"],
                               "message_sum only (scaling)"))
    return out


def _invocation(edges: int, repeats: int, common: list[str], what: str) -> Invocation:
    nodes = edges // EDGES_PER_NODE
    return Invocation("kernels", ["--edges", str(edges), "--nodes", str(nodes), "--repeats", str(repeats), *common],
                      f"{edges:,} edges: {what}", {"edges": edges, "nodes": nodes})


def parse(lines: list[dict], invocation: Invocation, options: Options, usable: set[str]) -> Parsed:
    parsed = Parsed()
    by_variant: dict[tuple[str, str, str, str], Record] = {}
    for line in lines:
        if line.get("kind") != "time":
            continue
        op, mode, variant = line["name"].split("/")
        label, library = IMPLS.get(variant, (variant, "geognn" if variant.startswith("geognn") else "torch"))
        if library not in usable and library != "geognn":
            continue  # a peer not requested with --peers
        record = Record(
            suite=NAME, what=f"{op} {mode}, {line['order']} index" if op != "copy" else "copy of an E x F tensor",
            impl=label, library=library, size=invocation.context["edges"], size_unit="edges", device=options.device,
            median=line["median_ms"] / 1e3, min=line["min_ms"] / 1e3, max=line["max_ms"] / 1e3,
            repeats=_repeats(invocation), primary=variant == "geognn",
            headline=variant == "geognn" and (op, mode, line["order"]) in HEADLINE,
            extra={"features": FEATURES, "nodes": invocation.context["nodes"], "GB_per_s": line.get("GB_per_s")},
        )
        if line.get("peak_extra_MB") is not None:
            record.peak_memory_bytes = int(line["peak_extra_MB"] * 2**20)
        by_variant[(op, mode, line["order"], variant)] = record
        parsed.records.append(record)
    for line in lines:  # the script's paired ratios (median of per-round ratios) go on the peer's record
        if line.get("kind") == "ratio":
            peer = by_variant.get((line["op"], line["mode"], line["order"], line["baseline"]))
            if peer is not None:
                peer.paired_ratio = line.get("paired_speedup")
    return parsed


def _repeats(invocation: Invocation) -> int:
    return int(invocation.args[invocation.args.index("--repeats") + 1])
