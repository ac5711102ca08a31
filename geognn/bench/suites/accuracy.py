"""Suite "accuracy": SchNet test MAE at an equal training budget, geognn beside PyG, one recipe for both.

Runs ``benchmarks/accuracy.py`` with its defaults (10,000 / 1,000 / 10,000 QM9
molecules, 20 epochs, one initialisation); about half an hour on 2 cores, so
never part of ``--quick``. Its split, curves and result lines stay in
``OUT/accuracy``.
"""

from __future__ import annotations

from pathlib import Path

from geognn.bench.records import Record
from geognn.bench.suites.base import Invocation, Options, Parsed, Unsupported, library_list

NAME = "accuracy"
DESCRIPTION = "SchNet U0 test MAE at an equal budget vs PyG's SchNet (one recipe, one split); long"
PEERS = ("pyg",)
LABELS = {"geognn": "geognn SchNet", "pyg": "PyG SchNet", "cormorant": "geognn Cormorant"}


def invocations(options: Options, usable: set[str], scripts_dir: Path) -> list[Invocation]:
    if options.quick:
        raise Unsupported("equal-budget training takes about half an hour: never part of --quick")
    if options.device != "cpu":
        raise Unsupported("benchmarks/accuracy.py trains on the CPU only")
    out = options.out / "accuracy"
    return [Invocation("accuracy", ["--out", str(out), "--libraries", library_list(PEERS, usable)],
                       "SchNet, 10,000 QM9 training molecules, 20 epochs", {})]


def parse(lines: list[dict], invocation: Invocation, options: Options, usable: set[str]) -> Parsed:
    parsed = Parsed()
    for line in lines:
        if "skipped" in line or "error" in line:
            parsed.failed_peers[line["library"]] = str(line.get("skipped") or line.get("error"))
        if "test_mae_mev" not in line:
            continue
        library = "geognn" if line["library"] in ("geognn", "cormorant") else line["library"]
        parsed.records.append(Record(
            suite=NAME, what=f"{line['target']} test MAE at equal budget ({line['epochs']} epochs, SchNet's recipe)",
            impl=LABELS.get(line["library"], line["library"]), library=library, setting=line.get("setting", "default"),
            size=line["train"], size_unit="training molecules", device=options.device, metric="test MAE",
            unit="meV", median=line["test_mae_mev"], repeats=1, primary=line["library"] == "geognn",
            headline=line["library"] == "geognn",
            extra={k: line[k] for k in ("valid_mae_mev", "best_epoch", "test", "train_wall_s", "params", "init_seed",
                                        "threads") if k in line},
        ))
    return parsed
