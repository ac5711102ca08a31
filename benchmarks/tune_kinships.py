"""`geognn tune` on ConvE / Kinships: a study at a reduced epoch budget, with and without pruning, then the best
configuration trained in full beside the defaults (several seeds), test MRR overall and per relation group.

    flock -x /tmp/geognn-cpu.lock .venv/bin/python benchmarks/tune_kinships.py study --pruner median \\
        --out runs/bench-tune/median                              # timed: run it alone on the machine
    flock -x /tmp/geognn-cpu.lock .venv/bin/python benchmarks/tune_kinships.py study --pruner none \\
        --out runs/bench-tune/none --timeout 300                  # a study may be run in timed pieces
    .venv/bin/python benchmarks/tune_kinships.py final --study runs/bench-tune/median --seeds 0,1,2 \\
        --out runs/bench-tune/final                               # accuracy: no timing, any load
    .venv/bin/python benchmarks/tune_kinships.py report --studies runs/bench-tune/median,runs/bench-tune/none \\
        --final runs/bench-tune/final                             # the tables for RESULTS.md

``study`` runs ``geognn tune --model conve --dataset kinships --epochs E --trials N --seed S --pruner P`` in
a subprocess and appends one JSON line to ``OUT/bench_runs.jsonl``: its wall time, the 1-minute load average
before and after, and the study's counts when it stopped. A study is resumable, so it can be measured in
pieces (``--timeout`` stops starting trials after that many seconds; rerun the same command to continue): its
wall time is the sum of its pieces, each of which pays the start of a process (about 5 s).

``final`` trains, for every seed, the best trial's ``geognn train`` command (from ``best.json``) with the full
budget (``--epochs`` and the seed replaced: up to 500 epochs, early stopping after 50 without a better
validation MRR) and ``geognn train --model conve --dataset kinships`` with the defaults, and prints one JSON
line per run with its filtered test metrics: overall, per relation-frequency bucket and per Bordes category,
both directions together and each.

``report`` prints the markdown tables. Never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GEOGNN = [sys.executable, "-m", "geognn.cli.main"]
GROUP_KEYS = ("freq1", "freq2", "freq3", "cat_1-1", "cat_1-N", "cat_N-1", "cat_N-N")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["study", "final", "report"], help="what to run")
    p.add_argument("--out", type=Path, help="study: the study folder; final: the folder of the full runs")
    p.add_argument("--pruner", default="median", help="study: geognn tune --pruner (default: median)")
    p.add_argument("--trials", type=int, default=30, help="study: trials (default: 30)")
    p.add_argument("--epochs", type=int, default=15, help="study: each trial's epoch budget (default: 15)")
    p.add_argument("--seed", type=int, default=0, help="study: sampler and training seed (default: 0)")
    p.add_argument("--timeout", type=float, help="study: stop starting trials after S seconds (default: none)")
    p.add_argument("--study", type=Path, help="final: the study whose best trial is trained in full")
    p.add_argument("--seeds", default="0,1,2", help="final: comma-separated seeds (default: 0,1,2)")
    p.add_argument("--studies", help="report: comma-separated study folders")
    p.add_argument("--final", type=Path, help="report: the folder of `final`")
    return p.parse_args(argv)


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _environment() -> dict:
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def run_study(args) -> None:
    command = [*GEOGNN, "tune", "--model", "conve", "--dataset", "kinships", "--epochs", str(args.epochs),
               "--trials", str(args.trials), "--seed", str(args.seed), "--pruner", args.pruner, "--out", str(args.out)]
    if args.timeout is not None:
        command += ["--timeout", str(args.timeout)]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    done = subprocess.run(command, env=_environment(), cwd=REPO, text=True, capture_output=True)
    wall = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_stdout.txt").open("a").write(done.stdout + done.stderr)
    report = json.loads((args.out / "best.json").read_text()) if (args.out / "best.json").is_file() else {}
    record = {"measurement": "geognn tune study piece", "dataset": "kinships", "pruner": args.pruner,
              "trials_wanted": args.trials, "budget_epochs": args.epochs, "seed": args.seed, "wall_s": round(wall, 2),
              "returncode": done.returncode, "load_avg_1min_before": round(load_before, 2),
              "load_avg_1min_after": round(os.getloadavg()[0], 2), "trials": report.get("trials"),
              "epochs": report.get("epochs"), "cpu_count": os.cpu_count(),
              "command": shlex.join(["geognn", *command[3:]])}
    with open(args.out / "bench_runs.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")
    emit(record)


def _group_metrics(metrics: dict) -> dict:
    keep = {"mrr", "hits@1", "hits@10", "tail_mrr", "head_mrr", "worst_freq_mrr", "worst_cat_mrr"}
    for g in GROUP_KEYS:
        keep |= {f"{g}_mrr", f"tail_{g}_mrr", f"head_{g}_mrr", f"{g}_hits@10", f"{g}_num_ranked"}
    return {k: v for k, v in metrics.items() if k in keep}


def _without(tokens: list[str], flags: set[str]) -> list[str]:
    out, skip = [], False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token in flags:
            skip = True
            continue
        out.append(token)
    return out


def run_final(args) -> None:
    best = json.loads((args.study / "best.json").read_text())["best_trial"]
    tuned = _without(shlex.split(best["command"])[2:], {"--epochs", "--seed", "--out"})
    configs = {"tuned": tuned, "defaults": ["--model", "conve", "--dataset", "kinships"]}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name, tokens in configs.items():
            out = args.out / f"{name}-seed{seed}"
            if not (out / "metrics.json").is_file():
                command = [*GEOGNN, "train", *tokens, "--seed", str(seed), "--no-progress", "--out", str(out)]
                t0 = time.perf_counter()
                done = subprocess.run(command, env=_environment(), cwd=REPO, text=True, capture_output=True)
                if done.returncode != 0:
                    emit({"config": name, "seed": seed, "error": done.stderr[-2000:]})
                    continue
                (out / "bench_wall_s.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
            summary = json.loads((out / "metrics.json").read_text())
            emit({"measurement": "ConvE Kinships full training", "config": name, "seed": seed,
                  "trial": best["number"] if name == "tuned" else None, "best_epoch": summary["best_epoch"],
                  "epochs_run": summary["epochs_run"], "best_val_mrr": summary["best_val_mrr"],
                  "test": _group_metrics(summary["metrics"]),
                  "command": shlex.join(["geognn", "train", *tokens, "--seed", str(seed), "--out", str(out)])})


def _mean_sd(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def run_report(args) -> None:
    print("| study | trials (complete / pruned / failed) | epochs trained | epochs saved by pruning | wall time | "
          "load (1-min, before → after each piece) | best trial: validation MRR |")
    print("|---|---|---|---|---|---|---|")
    for folder in [Path(f) for f in args.studies.split(",")]:
        runs = [json.loads(line) for line in (folder / "bench_runs.jsonl").read_text().splitlines() if line.strip()]
        report = json.loads((folder / "best.json").read_text())
        t = report["trials"]
        loads = ", ".join(f"{r['load_avg_1min_before']} → {r['load_avg_1min_after']}" for r in runs)
        best = report["best_trial"]
        print(f"| pruner {report['pruner']} | {t['finished']} ({t.get('complete', 0)} / {t.get('pruned', 0)} / "
              f"{t.get('fail', 0)}) | {report['epochs']['trained']} | {report['epochs']['saved_by_pruning']} | "
              f"{sum(r['wall_s'] for r in runs):.0f} s in {len(runs)} piece(s) | {loads} | "
              f"{best['values']['mrr']:.4f} (trial {best['number']}) |")
    if args.final is None:
        return
    runs = {}
    for folder in sorted(args.final.iterdir()):
        if (folder / "metrics.json").is_file():
            name = folder.name.rsplit("-seed", 1)[0]
            runs.setdefault(name, []).append(json.loads((folder / "metrics.json").read_text()))
    columns = ["mrr", "hits@1", "hits@10", "tail_mrr", "head_mrr", "worst_freq_mrr"] + [
        f"{g}_mrr" for g in GROUP_KEYS]
    print()
    print("| config | seeds | best epoch | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for name, summaries in runs.items():
        cells = [_mean_sd([s["metrics"].get(c) for s in summaries]) for c in columns]
        epochs = ", ".join(str(s["best_epoch"]) for s in summaries)
        print(f"| {name} | {len(summaries)} | {epochs} | " + " | ".join(cells) + " |")
    print()
    print("per-bucket query counts (test, both directions): " + ", ".join(
        f"{g} {next(iter(runs.values()))[0]['metrics'].get(f'{g}_num_ranked', 0)}" for g in GROUP_KEYS))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.mode == "study":
        if args.out is None:
            raise SystemExit("study needs --out")
        run_study(args)
    elif args.mode == "final":
        if args.out is None or args.study is None:
            raise SystemExit("final needs --study and --out")
        run_final(args)
    else:
        if not args.studies:
            raise SystemExit("report needs --studies")
        run_report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
