"""Suite "kg": ConvE training epochs and filtered test ranking, geognn beside PyKEEN with the same recipe.

Runs ``benchmarks/kg.py speed``: each (graph, library) trains in its own
process, the libraries alternating per round. The peak memory is the whole
worker process's resident high-water mark. CPU only.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from geognn.bench.records import Record
from geognn.bench.suites.base import Invocation, Options, Parsed, Unsupported, library_list

NAME = "kg"
DESCRIPTION = "ConvE epoch and filtered test-ranking time vs PyKEEN (same recipe)"
PEERS = ("pykeen",)
LABELS = {"geognn": "geognn ConvE", "pykeen": "PyKEEN ConvE"}
SETTINGS = {"geognn": "default", "pykeen": "LCWA loop, BCE, geognn's recipe"}
GRAPHS = {"umls": "UMLS", "kinships": "Kinships", "nations": "Nations"}


def invocations(options: Options, usable: set[str], scripts_dir: Path) -> list[Invocation]:
    if options.device != "cpu":
        raise Unsupported("benchmarks/kg.py measures the CPU only")
    if options.quick:
        sizes = ["--datasets", "umls", "--epochs", "3", "--rounds", "1", "--eval-repeats", "2"]
        label = "UMLS, 3 epochs, 1 round"
    else:
        sizes = []  # the script's defaults: UMLS and Kinships, 20 epochs, 2 rounds, 5 rankings
        label = "UMLS and Kinships, 20 epochs, 2 rounds"
    args = ["speed", *sizes, "--threads", str(options.threads), "--libraries", library_list(PEERS, usable)]
    return [Invocation("kg", args, label, {})]


def training_triples(dataset: str) -> int | None:
    """Training triples of a bundled graph (before inverse triples are added)."""
    try:
        from geognn.data import KGDataset

        return int(KGDataset(dataset).summary()["train"])
    except (OSError, ValueError, KeyError):  # a graph not bundled: the record keeps size 0, the run goes on
        return None


def parse(lines: list[dict], invocation: Invocation, options: Options, usable: set[str]) -> Parsed:
    parsed = Parsed()
    pykeen_epoch: dict[str, Record] = {}
    for line in lines:
        if line.get("skipped"):
            parsed.failed_peers[line["library"]] = f"{line['dataset']}: {line.get('reason', 'failed')}"
        if line.get("measure") != "speed":
            continue
        library, dataset = line["library"], line["dataset"]
        common = dict(suite=NAME, impl=LABELS.get(library, library), library=library,
                      setting=SETTINGS.get(library, "default"), size=training_triples(dataset) or 0,
                      size_unit="training triples", device=options.device, primary=library == "geognn",
                      headline=library == "geognn" and dataset in ("umls", "kinships"),
                      peak_memory_bytes=line.get("peak_rss_bytes") or None)
        graph = GRAPHS.get(dataset, dataset)
        epoch = Record(what=f"ConvE training epoch, {graph}", median=line["epoch_s_median"],
                       min=line["epoch_s_min"], max=line["epoch_s_max"],
                       repeats=line["rounds"] * (line["epochs_per_round"] - 1),
                       extra={"first_epoch_s": line["first_epoch_s"],
                              "batches_per_epoch": line.get("batches_per_epoch"),
                              "metrics_after_epochs": line["metrics_after_epochs"],
                              "metrics_after_epochs_count": line["metrics_after_epochs_count"],
                              "profiled_epoch": line["profiled_epoch"], "peak_memory": "whole worker process"},
                       **common)
        ranking = Record(what=f"ConvE filtered test ranking (both directions), {graph}",
                         median=line["eval_test_s_median"], min=line.get("eval_test_s_min"),
                         max=line.get("eval_test_s_max"), repeats=line.get("eval_repeats"),
                         extra={"peak_memory": "whole worker process"}, **common)
        parsed.records += [epoch, ranking]
        if library == "pykeen":
            pykeen_epoch[dataset] = epoch
    for line in lines:
        if line.get("measure") == "ratio" and line["dataset"] in pykeen_epoch:
            pykeen_epoch[line["dataset"]].paired_ratio = statistics.median(line["epoch_speedup_per_round"])
    return parsed
