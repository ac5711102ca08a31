"""``geognn tune``: hyperparameter search on Optuna, each trial a ``geognn train`` run, resumable and distributed."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from geognn.tune.spaces import describe_defaults

_DESCRIPTION = """Search the hyperparameters of a model family with Optuna. Every trial is a `geognn train` run
with the trial's parameters (same data options, same seed) in DIR/trials/NNNN/, selected on its best epoch's
validation metrics; the test set is never looked at. Units: positions Å, energies eV, forces eV/Å."""

_EPILOG = f"""default search spaces (--space FILE overrides; an option given on this command line is fixed):
{describe_defaults()}

objectives (--objective; several, comma-separated, make a multi-objective study on NSGA-II):
  conve: mrr (default), worst_bucket_mrr (lowest MRR over the relation-frequency buckets), worst_category_mrr
         (over 1-1/1-N/N-1/N-N), or a validation metric key: hits@10, freq1_mrr, tail_cat_1-N_mrr, ...
  schnet, cormorant: mae (default: the mean over targets of their MAE, each in its unit), mae_largest (on the
         largest molecules), mae_<target> (mae_U0), mae_<target>_size1, loss, ...
  costs: step_time (median s per training step), memory (peak MiB of the trial), e.g. --objective mae,step_time

a --space file (YAML, or JSON by its .json suffix), names as the options of geognn train:
  lr: {{low: 1.0e-4, high: 3.0e-3, log: true}}    # a range; for a default one, give only what changes
  kernel_size: {{choices: [3, 5]}}               # choices
  embedding_dim: 200                           # fixed (or {{fixed: 200}})
  label_smoothing: null                        # left out: geognn train's default
  weight_decay: {{low: 0, high: 1.0e-4}}         # any training option of the family

examples:
  geognn tune --model conve --dataset kinships --epochs 30 --trials 40 --out runs/tune-kinships
  geognn tune --model conve --dataset kinships --epochs 30 --trials 40 --objective worst_bucket_mrr --out runs/robust
  geognn tune --model schnet --dataset qm9 --target U0 --n-train 2000 --n-val 500 --epochs 30 --trials 20 \\
      --out runs/tune-schnet
  geognn tune --model cormorant --dataset qm9 --target U0 --n-train 2000 --epochs 10 --trials 16 \\
      --objective mae,step_time --space cormorant.yaml --out runs/cormorant-front

  rerunning the same command continues the study until it has --trials finished trials (a trial whose
  process died is detected by its missing heartbeat and run again). Several workers share one study:
  give each the same command and a storage they can all reach, e.g. on one machine
    geognn tune ... --storage sqlite:///$PWD/runs/t/study.db --out runs/t &    # worker 1
    geognn tune ... --storage sqlite:///$PWD/runs/t/study.db --out runs/t &    # worker 2
  or on several machines --storage postgresql://user@dbhost/optuna (with DIR on a shared disk), or
  --storage journal:/shared/runs/t/study.log on a shared file system where SQLite locking is unreliable.

outputs in --out: study.db (the default storage), trials/NNNN/ (each trial's metrics.csv, metrics.json,
learning_curve.png, train.log; checkpoints only for the best trial), trials.csv, best.json (the best trial,
its validation metrics and the exact geognn train command reproducing it), optimization_history.png,
param_importances.png, intermediate_values.png or pareto_front.png.
"""


def add_parser(subparsers) -> None:
    from geognn.cli.train import add_train_options
    from geognn.tune.optuna_setup import PRUNERS, SAMPLERS

    p = subparsers.add_parser(
        "tune", help="search hyperparameters with Optuna (resumable, several workers)", description=_DESCRIPTION,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )
    add_train_options(p)
    study = p.add_argument_group("study (besides the options of geognn train above; --seed also seeds the sampler, "
                                 "--epochs is each trial's budget)")
    study.add_argument("--trials", type=int, required=True, metavar="N",
                       help="finished trials (completed, pruned or failed) the study should have; a rerun continues "
                            "to N")
    study.add_argument("--timeout", type=float, metavar="S",
                       help="start no trial after S seconds of this worker (a running trial finishes; default: none)")
    study.add_argument("--study", metavar="NAME", help="study name in the storage (default: the name of --out)")
    study.add_argument("--storage", metavar="URL",
                       help="Optuna storage shared by every worker: a database URL (sqlite:///path/study.db, "
                            "postgresql://user@host/db, mysql+pymysql://...) or journal:PATH (default: "
                            "sqlite:///DIR/study.db)")
    study.add_argument("--space", type=Path, metavar="FILE",
                       help="YAML or JSON file overriding the default search space (see below)")
    study.add_argument("--objective", metavar="NAMES",
                       help="what to optimise, comma-separated for several (default: mrr for conve, mae for "
                            "molecules; see below)")
    study.add_argument("--pruner", choices=PRUNERS, default=None,
                       help="stop unpromising trials early on their per-epoch validation value: median (worse than "
                            "the median of earlier trials at the same epoch), halving (successive halving), "
                            "hyperband, none (default: median; none for several objectives, which Optuna cannot "
                            "prune)")
    study.add_argument("--prune-warmup", type=int, metavar="EPOCHS",
                       help="epochs a trial always trains before it may be pruned; for halving and hyperband the "
                            "first rung (default: a tenth of --epochs, at least 1)")
    study.add_argument("--prune-startup", type=int, default=5, metavar="TRIALS",
                       help="median pruner: trials that finish unpruned before pruning starts (default: 5)")
    study.add_argument("--sampler", choices=SAMPLERS, default="auto",
                       help="auto: TPE for one objective, NSGA-II for several; or tpe, random, nsga2 (default: auto)")
    study.add_argument("--heartbeat", type=int, default=60, metavar="S",
                       help="seconds between a running trial's heartbeats; a trial without one for 2*S is taken "
                            "as dead and run again (default: 60)")
    study.add_argument("--reclaim-running", action="store_true",
                       help="first fail every trial the storage says is running and run it again: for a journal "
                            "storage (no heartbeat) after its workers died; never while other workers run")
    study.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="study folder: trials, reports, plots and the default storage")
    p.set_defaults(func=run_tune, given_options=None)
    # The options of geognn train the user typed are fixed for every trial and leave the search space:
    # their actions record themselves when argparse meets them on the command line.
    for action in p._actions:
        if action.option_strings and action.dest not in _TUNE_DESTS:
            _record_when_given(action)


_TUNE_DESTS = {"trials", "timeout", "study", "storage", "space", "objective", "pruner", "prune_warmup",
               "prune_startup", "sampler", "heartbeat", "reclaim_running", "out", "help"}


def _record_when_given(action) -> None:
    base = type(action)

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(namespace, "given_options", None) or set()
        given.add(self.dest)
        namespace.given_options = given
        base.__call__(self, parser, namespace, values, option_string)

    action.__class__ = type(f"Given{base.__name__}", (base,), {"__call__": __call__})


def run_tune(args) -> int:
    from geognn.cli.train import training_config
    from geognn.tune.runner import TuneSettings, run_study

    given = set(args.given_options or ())
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("geognn tune runs one worker per process: start several `geognn tune` commands on one "
                         "storage instead of torchrun")
    if args.trials < 1:
        raise ValueError(f"--trials must be >= 1, got {args.trials}")
    if args.timeout is not None and args.timeout <= 0:
        raise ValueError(f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.heartbeat < 1:
        raise ValueError(f"--heartbeat must be >= 1 second, got {args.heartbeat}")
    config = training_config(args)
    config.validate()
    settings = TuneSettings(
        model=args.model, out_dir=args.out, n_trials=args.trials, timeout_s=args.timeout,
        study_name=args.study or args.out.resolve().name, storage_url=args.storage, space_file=args.space,
        objective=args.objective, pruner=args.pruner, prune_warmup=args.prune_warmup,
        prune_startup=args.prune_startup, sampler=args.sampler, heartbeat_s=args.heartbeat,
        reclaim_running=args.reclaim_running, seed=config.seed, epochs=config.epochs, device=config.device,
        given=given, args=args,
    )
    started = time.perf_counter()
    try:
        report = run_study(settings)
    except KeyboardInterrupt:
        print(f"tune: interrupted; the study is kept in {args.out} (rerun the same command to continue)",
              file=sys.stderr)
        return 130
    best = report.get("best_trial")
    print(f"tune: this worker ran {report['worker']['trials_run']} trial(s) in {time.perf_counter() - started:.1f} s")
    if best:
        print(f"tune: reproduce the best trial: {best['command']}")
    return 0 if report["trials"].get("complete", 0) else 1
