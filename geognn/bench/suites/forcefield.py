"""Suite "forcefield": force fields on xTB-MD17 ethanol, geognn SchNet and Cormorant beside SchNetPack and MACE.

Runs ``benchmarks/forcefield.py`` (full: 30 epochs, seeds 0, 1, 2; ``--quick``: 2 epochs,
seed 0, 200 MD steps): every library trains on the same 1,000 frames with its own recipe
for the same number of epochs; records are the test energy and force MAE (mean and
standard deviation over seeds; the force cosine rides along), the median training-step
time, compared per frame (MACE's recipe takes batches of 5, the others 10), and the time
of one NVE MD step with each library's ASE calculator. MACE runs in ``.venv-mace``
(benchmarks/forcefield_mace.py). Long (a few hours in full): asked for by name or "all".
"""

from __future__ import annotations

import statistics
from pathlib import Path

from geognn.bench.records import Record
from geognn.bench.suites.base import Invocation, Options, Parsed, Unsupported

NAME = "forcefield"
DESCRIPTION = ("force fields on xTB-MD17 ethanol (test energy/force MAE over seeds, training step, MD step) vs "
               "SchNetPack and MACE; long")
PEERS = ("schnetpack", "mace")
OURS = ("geognn", "geognn-cormorant")
LABELS = {"geognn": "geognn SchNet", "geognn-cormorant": "geognn Cormorant", "schnetpack": "SchNetPack SchNet",
          "mace": "MACE"}
TRAIN_FRAMES = {"train": 1000, "train_50": 50}
BATCH_FRAMES = {"geognn": 10, "geognn-cormorant": 10, "schnetpack": 10, "mace": 5}  # each recipe's batch size
ERRORS = (("force_mae_meV", "test force MAE", "meV/Å"), ("energy_mae_meV", "test energy MAE", "meV"))


def invocations(options: Options, usable: set[str], scripts_dir: Path) -> list[Invocation]:
    if options.device != "cpu":
        raise Unsupported("benchmarks/forcefield.py trains and runs MD on the CPU only")
    libraries = ",".join([*OURS, *[p for p in PEERS if p in usable]])
    size = ["--quick"] if options.quick else ["--epochs", "30", "--seeds", "0,1,2"]
    label = ("ethanol, 1,000 training frames, " + ("2 epochs, seed 0" if options.quick else "30 epochs, seeds 0, 1, 2")
             + ", and MD steps")
    return [Invocation("forcefield", [*size, "--threads", str(options.threads), "--libraries", libraries], label,
                       {"md_steps": 200 if options.quick else 1000})]


def _library_key(library: str) -> str:
    """The peer key a worker's library counts under: geognn's two models are both "geognn"."""
    return "geognn" if library in OURS else library


def parse(lines: list[dict], invocation: Invocation, options: Options, usable: set[str]) -> Parsed:
    parsed = Parsed()
    runs: dict[tuple, list[dict]] = {}
    for line in lines:
        library = line.get("library")
        if "skipped" in line:
            if library in OURS:
                parsed.notes.append(f"{LABELS.get(library, library)} did not run ({line.get('part')}): {line['skipped']}")
            else:
                parsed.failed_peers[library] = line["skipped"]
            continue
        if line.get("suite") != NAME:  # forcefield.py's summary and ratio lines: the runner computes its own
            continue
        if _library_key(library) != "geognn" and library not in usable:
            continue
        if line.get("part") == "train" and line.get("force_mae_meV") is not None:
            runs.setdefault((library, line["molecule"], line["train_split"], line["epochs"]), []).append(line)
        elif line.get("part") == "md" and line.get("ms_per_step") is not None:
            parsed.records.append(_md_record(line, invocation, options))
    for (library, molecule, split, epochs), rows in runs.items():
        parsed.records.extend(_train_records(library, molecule, split, epochs, rows, options))
    return parsed


def _train_records(library, molecule, split, epochs, rows, options) -> list[Record]:
    frames = TRAIN_FRAMES.get(split, 0)
    common = dict(suite=NAME, impl=LABELS.get(library, library), library=_library_key(library),
                  setting=rows[0].get("dtype", "default"), device=options.device, primary=library == "geognn")
    seeds = [r["seed"] for r in rows]
    extra = {"seeds": seeds, "train_split": split, "threads": rows[0].get("threads"),
             "best_epoch": [r.get("best_epoch") for r in rows], "train_wall_s": [r.get("wall_s") for r in rows],
             "command": rows[0].get("command")}
    records = []
    for key, metric, unit in ERRORS:
        values = [r[key] for r in rows]
        figures = {**extra, f"{key}_per_seed": values}
        if key == "force_mae_meV":
            cosines = [r["force_cos"] for r in rows if r.get("force_cos") is not None]
            figures["force_cos"] = statistics.mean(cosines) if cosines else None
        records.append(Record(
            what=f"{molecule} {metric} after {epochs} epochs (xTB-MD17, each library's force recipe)",
            size=frames, size_unit="training frames", median=None, mean=statistics.mean(values),
            std=statistics.stdev(values) if len(values) > 1 else None, min=min(values), max=max(values),
            repeats=len(values), metric=metric, unit=unit, extra=figures, **common))
    steps = [r["step_ms"] / 1000 for r in rows if r.get("step_ms") is not None]
    if steps:
        batch = rows[0].get("batch_size") or BATCH_FRAMES.get(library, 10)
        records.append(Record(
            what=f"{molecule} force-field training step (forward, forces, backward, optimiser step), per frame",
            size=batch, size_unit="frames", median=statistics.median(steps), min=min(steps), max=max(steps),
            repeats=len(steps), per_item=True, extra={**extra, "batch_size": batch, "step_s_per_seed": steps},
            **common))
    return records


def _md_record(line: dict, invocation: Invocation, options: Options) -> Record:
    """Time per MD step (the mean over the timed steps, as forcefield.py measures it)."""
    library = line["library"]
    return Record(
        suite=NAME, what=f"{line['molecule']} NVE MD step (ASE velocity Verlet, 0.5 fs, float64, untrained model)",
        impl=f"{LABELS.get(library, library)} ASE calculator", library=_library_key(library),
        size=line.get("md_steps", invocation.context.get("md_steps", 0)), size_unit="timed MD steps",
        median=line["ms_per_step"] / 1000, device=options.device, primary=library == "geognn",
        extra={k: line[k] for k in ("steps_per_s", "finite", "threads", "params") if k in line})
