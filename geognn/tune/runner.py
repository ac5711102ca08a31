"""``geognn tune`` from its options to a finished study: checks, the Optuna study, the loop, the reports."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from geognn.tune import optuna_setup
from geognn.tune.memory import can_measure
from geognn.tune.objectives import Objective, parse_objectives
from geognn.tune.report import counts, progress_line, prune_checkpoints, write_plots, write_reports
from geognn.tune.spaces import DEFAULT_SPACES, SearchSpace, build_space, option_tokens, tunable_options
from geognn.tune.study import StudyLoop, study_folder_size
from geognn.tune.trial import TrialRunner

# Train options every trial gets from the study rather than from what was typed.
_SET_BY_THE_STUDY = {"model", "seed", "progress"}


@dataclass
class TuneSettings:
    """What ``geognn tune`` was asked for (its options besides the ``geognn train`` ones in ``args``)."""

    model: str
    out_dir: Path
    n_trials: int
    timeout_s: float | None
    study_name: str
    storage_url: str | None
    space_file: Path | None
    objective: str | None
    pruner: str | None
    prune_warmup: int | None
    prune_startup: int
    sampler: str
    heartbeat_s: int
    reclaim_running: bool
    seed: int
    epochs: int
    device: str
    given: set = field(default_factory=set)
    args: argparse.Namespace | None = None


def train_actions() -> dict:
    """``geognn train``'s argparse actions by destination (types, choices, flags)."""
    from geognn.cli.train import add_train_options

    parser = argparse.ArgumentParser(add_help=False)
    add_train_options(parser)
    for group in parser._action_groups:
        for action in group._group_actions:
            action.group_title = group.title  # named in errors about options of another model
    return {a.dest: a for a in parser._actions if a.option_strings}


def base_train_tokens(args, given: set, actions: dict, seed: int) -> list[str]:
    """The ``geognn train`` options every trial shares: the model, what was typed, the seed."""
    tokens = ["--model", args.model]
    for dest, action in actions.items():
        if dest in given and dest not in _SET_BY_THE_STUDY:
            tokens += option_tokens(action, getattr(args, dest))
    return tokens + ["--seed", str(seed)]


def targets_and_units(args) -> tuple[list[str], list[str]]:
    """The molecule targets the options name and their units ([] for a knowledge graph)."""
    if args.model == "conve":
        return [], []
    if args.data is not None:
        if not args.target_column:
            raise ValueError("--data needs --target-column: the column / SDF property / extxyz key holding the target")
        targets = [t.strip() for t in args.target_column.split(",") if t.strip()]
        return targets, [args.target_unit] * len(targets)
    from geognn.data.qm9_targets import qm9_target

    targets = [t.strip() for t in args.target.split(",") if t.strip()]
    try:
        return targets, [qm9_target(t).unit for t in targets]
    except KeyError as err:
        raise ValueError(str(err.args[0])) from None


def preflight(args) -> None:
    """The checks a first trial would fail on for every trial alike, made before the study starts."""
    if args.model == "conve":
        from geognn.cli.train_kg import bucket_edges
        from geognn.data import KGDataset
        from geognn.train.relation_groups import dataset_groupings

        if args.data is not None or str(args.dataset).lower() == "qm9":
            raise ValueError("--model conve tunes on a knowledge graph: --dataset umls|kinships|nations|DIR")
        dataset_groupings(KGDataset(args.dataset), args.relation_buckets, bucket_edges(args.relation_bucket_edges))
    elif args.dataset not in (None, "qm9"):
        raise ValueError(f"--dataset {args.dataset!r}: {args.model} trains on molecules: --dataset qm9 or --data FILE")
    elif args.data is not None and not Path(args.data).is_file():
        raise FileNotFoundError(f"training file {args.data} does not exist; check --data")


def _check_same_study(study: optuna.Study, meta: dict, objectives, where: str) -> None:
    stored = study.user_attrs.get("geognn_tune")
    directions = [o.direction for o in objectives]
    if [d.name.lower() for d in study.directions] != directions:
        raise ValueError(f"study {study.study_name!r} in {where} optimises {len(study.directions)} objective(s) "
                         f"({', '.join(d.name.lower() for d in study.directions)}), not {', '.join(directions)}; "
                         f"give another --study or --out")
    if stored is None:
        study.set_user_attr("geognn_tune", meta)
        return
    for key, label in (("model", "--model"), ("train_args", "geognn train options"), ("objectives", "--objective")):
        if stored.get(key) != meta[key]:
            raise ValueError(f"study {study.study_name!r} in {where} was started with other {label}: "
                             f"{stored.get(key)} (now {meta[key]}); rerun it with the same options, or give another "
                             f"--study or --out")
    if stored.get("space") != meta["space"]:
        print(f"tune: note: the search space differs from the one study {study.study_name!r} started with; "
              f"Optuna's samplers handle the change, earlier trials keep their values", file=sys.stderr)


def _reclaim_running(study: optuna.Study) -> int:
    """Fails every running trial and queues it again (for storages without a heartbeat); returns how many."""
    retry = optuna_setup._retry_callback()
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in running:
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        retry(study, study._storage.get_trial(trial._trial_id))
    return len(running)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def run_study(s: TuneSettings) -> dict:
    """Runs (or continues) the study ``s`` describes in this process; returns the best.json content plus
    ``plots`` and ``worker`` (what this process did)."""
    optuna_setup.quiet_optuna()
    args = s.args
    if s.model not in DEFAULT_SPACES:
        raise ValueError(f"geognn tune searches {', '.join(DEFAULT_SPACES)}, not --model {s.model}"
                         + (" (kernel ridge regression picks sigma and lambda by cross-validation itself)"
                            if s.model == "krr" else ""))
    actions = train_actions()
    fixed = set(s.given) & tunable_options(s.model, actions)
    space: SearchSpace = build_space(s.model, actions, fixed, s.space_file)
    targets, units = targets_and_units(args)
    objectives: list[Objective] = parse_objectives(s.objective, s.model, targets, units)
    multi = len(objectives) > 1
    pruner_name = s.pruner or ("none" if multi else "median")
    if multi and pruner_name != "none":
        raise ValueError(f"--pruner {pruner_name}: Optuna prunes single-objective studies only; leave --pruner out "
                         f"or give one --objective")
    if any(o.name == "memory" for o in objectives) and not can_measure(s.device):
        raise ValueError("--objective memory: this machine cannot measure a trial's peak memory (needs a GPU, or "
                         "Linux with a writable /proc/self/clear_refs)")
    if s.prune_startup < 0 or (s.prune_warmup is not None and s.prune_warmup < 0):
        raise ValueError("--prune-startup and --prune-warmup must be >= 0")
    preflight(args)
    warmup = s.prune_warmup if s.prune_warmup is not None else max(1, s.epochs // 10)
    sampler = optuna_setup.resolve_sampler(s.sampler, multi)
    base_tokens = base_train_tokens(args, s.given, actions, s.seed)
    out_dir = Path(s.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = s.storage_url or optuna_setup.default_storage_url(out_dir)
    storage = optuna_setup.make_storage(url, s.heartbeat_s)
    study = optuna.create_study(
        study_name=s.study_name, storage=storage, load_if_exists=True,
        sampler=optuna_setup.make_sampler(sampler, s.seed, multi),
        pruner=optuna_setup.make_pruner(pruner_name, warmup, s.prune_startup, s.epochs),
        directions=[o.direction for o in objectives])
    where = optuna_setup.redacted(url)
    meta = {"model": s.model, "train_args": base_tokens, "objectives": [o.name for o in objectives],
            "space": space.to_spec()}
    _check_same_study(study, meta, objectives, where)
    if s.reclaim_running:
        print(f"tune: --reclaim-running: {_reclaim_running(study)} running trial(s) failed and queued again",
              file=sys.stderr)
    info = {"storage": where, "model": s.model, "pruner": pruner_name, "prune_warmup_epochs": warmup,
            "sampler": sampler, "seed": s.seed, "budget_epochs": s.epochs, "space": space.to_spec(),
            "train_args": base_tokens}
    before = counts(study)["finished"]
    print(f"tune: study {s.study_name!r} in {where}: {s.model}, objective "
          f"{', '.join(f'{o.name} ({o.direction})' for o in objectives)}, pruner {pruner_name}"
          f"{f' after {warmup} epoch(s)' if pruner_name != 'none' else ''}, sampler {sampler} (seed {s.seed}); "
          f"{before} of {s.n_trials} trials finished; trials of up to {s.epochs} epochs; searching: {space.describe()}",
          flush=True)

    def on_trial(study, trial):
        prune_checkpoints(study, objectives, out_dir)
        write_reports(study, objectives, out_dir, s.n_trials, info)
        print(progress_line(study, trial, objectives, s.n_trials), flush=True)

    runner = TrialRunner(out_dir, base_tokens, space, objectives, prune=pruner_name != "none", device=s.device,
                         is_surplus=None)
    loop = StudyLoop(study, storage, runner, s.n_trials, s.timeout_s, s.heartbeat_s, on_trial)
    try:
        loop.run()
    finally:
        prune_checkpoints(study, objectives, out_dir)
        report = write_reports(study, objectives, out_dir, s.n_trials, info)
    report["plots"] = write_plots(study, objectives, out_dir)
    report["worker"] = {"trials_run": len(loop.ran)}
    _print_summary(report, objectives, out_dir, s.n_trials)
    return report


def _print_summary(report: dict, objectives, out_dir: Path, n_trials: int) -> None:
    trials = report["trials"]
    states = ", ".join(f"{trials[k]} {k}" for k in ("complete", "pruned", "fail", "killed", "skipped", "running")
                       if trials.get(k))
    line = f"tune: study {report['study']!r}: {trials['finished']} of {n_trials} trials finished ({states})"
    best = report.get("best_trial")
    if best:
        line += f"; best trial {best['number']}: " + ", ".join(f"{k} {v:.5g}" for k, v in best["values"].items())
    elif report.get("pareto_front"):
        line += f"; Pareto front: trials {', '.join(str(t['number']) for t in report['pareto_front'])}"
    print(line)
    epochs = report["epochs"]
    print(f"tune: {epochs['trained']} epochs trained; pruning saved {epochs['saved_by_pruning']} epochs "
          f"(budget {report['budget_epochs']} per trial, pruner {report['pruner']})")
    disk = study_folder_size(out_dir)
    print(f"tune: {_megabytes(disk['total'])} on disk in {out_dir} (checkpoints {_megabytes(disk['checkpoints'])}, "
          f"kept for the best trial only; storage file {_megabytes(disk['storage'])})")
    plots = ", ".join(f"{name}" + ("" if state == "written" else f" ({state})") for name, state in
                      report["plots"].items())
    print(f"tune: wrote {out_dir / 'trials.csv'}, {out_dir / 'best.json'}; plots: {plots}")
