"""Suite "models": SchNet training steps beside PyG and SchNetPack, and geognn's Cormorant beside its SchNet.

``benchmarks/models.py`` runs at several batch sizes (time against molecules
for the scaling plot), every peer at its default setting and with flushed
subnormals ("flush"), geognn with its defaults. ``benchmarks/cormorant.py``
times Cormorant against geognn's SchNet on the same batches (no peer has a
Cormorant).
"""

from __future__ import annotations

from pathlib import Path

from geognn.bench.records import Record
from geognn.bench.scripts import takes_option
from geognn.bench.suites.base import Invocation, Options, Parsed, Unsupported, library_list

NAME = "models"
DESCRIPTION = "SchNet training step vs PyG and SchNetPack (default and flushed subnormals); Cormorant vs SchNet"
PEERS = ("pyg", "schnetpack")
LABELS = {"geognn": "geognn SchNet", "pyg": "PyG SchNet", "schnetpack": "SchNetPack SchNet"}
SCHNET_STEP = "SchNet training step (forward + backward), random QM9 molecules"
CORMORANT_STEP = "geognn models' training step (forward + backward), random QM9 molecules"
MAIN_BATCH = 100


def invocations(options: Options, usable: set[str], scripts_dir: Path) -> list[Invocation]:
    device = []
    if options.device != "cpu":
        if not takes_option(scripts_dir / "models.py", "--device"):
            raise Unsupported("benchmarks/models.py has no --device option here, so it runs on the CPU only")
        device = ["--device", options.device]
    common = ["--threads", str(options.threads), "--libraries", library_list(PEERS, usable), *device]
    if options.quick:
        runs = [(25, ["--molecules", "200", "--batches", "2", "--rounds", "1"]),
                (MAIN_BATCH, ["--molecules", "200", "--batches", "2", "--rounds", "1"])]
        cormorant = ["--batch-sizes", "10,25,50", "--max-l", "1,2", "--rounds", "2", "--no-memory"]
    else:
        runs = [(25, ["--batches", "10", "--rounds", "1"]), (50, ["--batches", "10", "--rounds", "1"]),
                (MAIN_BATCH, [])]  # batch 100: the script's defaults (2000 molecules, 10 batches, 2 rounds)
        cormorant = []  # its defaults: batches of 25 and 100, max_l 1-3, 5 rounds, peak memory
    out = [Invocation("models", ["--batch-size", str(size), *extra, *common],
                      f"SchNet, batches of {size} molecules", {"batch": size}) for size, extra in runs]
    out.append(Invocation("cormorant", [*cormorant, "--threads", str(options.threads), *device],
                          "Cormorant beside geognn's SchNet", {}))
    return out


def parse(lines: list[dict], invocation: Invocation, options: Options, usable: set[str]) -> Parsed:
    if invocation.script == "cormorant":
        return _parse_cormorant(lines, options)
    parsed = Parsed()
    by_setting: dict[tuple[str, str], Record] = {}
    for line in lines:
        if "skipped" in line or "error" in line:
            parsed.failed_peers[line["library"]] = str(line.get("skipped") or line.get("error"))
        elif "fwd_bwd_ms" in line:
            library = line["library"]
            record = Record(
                suite=NAME, what=SCHNET_STEP, impl=LABELS.get(library, library), library=library,
                setting=line["setting"], size=line["batch_size"], size_unit="molecules", device=options.device,
                median=line["fwd_bwd_ms"] / 1e3, min=line["fwd_bwd_ms_min"] / 1e3, max=line["fwd_bwd_ms_max"] / 1e3,
                repeats=line["timed_batches"], primary=library == "geognn" and line["setting"] == "default",
                extra={k: line[k] for k in ("edges_per_batch", "params", "fwd_ms", "mol_per_s", "sample", "molecules")},
            )
            record.headline = record.primary and line["batch_size"] == MAIN_BATCH
            by_setting[(library, line["setting"])] = record
            parsed.records.append(record)
    for line in lines:  # the script's per-batch paired ratio, geognn against the peer's faster setting
        if "ratio" in line and (line["peer"], line["peer_setting"]) in by_setting:
            by_setting[(line["peer"], line["peer_setting"])].paired_ratio = line["speedup_paired_median"]
    return parsed


def _parse_cormorant(lines: list[dict], options: Options) -> Parsed:
    parsed = Parsed()
    for line in lines:
        if "median_ms" not in line or "model" not in line:
            continue
        model = line["model"]
        impl = "geognn SchNet" if model == "schnet" else f"geognn Cormorant max_l {model.rsplit('L', 1)[1]}"
        record = Record(
            suite=NAME, what=CORMORANT_STEP, impl=impl, library="geognn", size=line["batch"], size_unit="molecules",
            device=options.device, median=line["median_ms"] / 1e3, min=line["min_ms"] / 1e3,
            max=line["max_ms"] / 1e3, repeats=line["repeats"], primary=model == "schnet",
            extra={k: line[k] for k in ("atoms", "edges", "params", "vs_schnet") if k in line},
        )
        if line.get("peak_extra_MB") is not None:
            record.peak_memory_bytes = int(line["peak_extra_MB"] * 2**20)
        parsed.records.append(record)
    return parsed
