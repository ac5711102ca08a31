"""One trial of ``geognn tune``: a ``geognn train`` run with the trial's hyperparameters, pruned per epoch.

The trial builds the ``geognn train`` options (the study's own plus the
sampled parameters), parses them with ``geognn train``'s parser and trains
through the same function, so the command stored with the trial reproduces
it exactly. Its output goes to ``DIR/trials/NNNN/`` (``train.log`` holds what
training printed). The Trainer's per-epoch hook reports the objective to
Optuna and stops the run when the pruner says so. A run that fails in a way
a hyperparameter can cause (a NaN loss, out of memory, a combination the
model refuses) is recorded with its error; the study goes on.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import statistics
from pathlib import Path
from typing import Sequence

import optuna

from geognn.tune.memory import PeakMemory
from geognn.tune.objectives import Objective, ObjectiveError
from geognn.tune.spaces import SearchSpace

# What a hyperparameter can cause: the model refusing a combination (ValueError), running out of memory
# (torch.OutOfMemoryError and the CPU allocator's failures are RuntimeErrors; MemoryError), a NaN loss
# (TrainingDiverged is a FloatingPointError). Anything else is a problem of the study itself and stops it.
TRIAL_ERRORS = (ValueError, RuntimeError, ArithmeticError, MemoryError)


class TrialFailed(Exception):
    """A trial ended with an error its hyperparameters caused (recorded as the trial's ``error``)."""


class SurplusTrial(Exception):
    """A worker asked for a trial after the study already had its N trials (another worker was faster)."""


def trial_dir_name(number: int) -> str:
    """``0007`` for trial 7: the folder under ``DIR/trials/``."""
    return f"{number:04d}"


def parse_train_args(tokens: Sequence[str]):
    """``geognn train``'s namespace for ``tokens`` (its options, without the ``train`` word).

    Raises:
        ValueError: the options do not parse (the message is argparse's).
    """
    import io

    from geognn.cli.main import build_parser

    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(["train", *tokens])
    except SystemExit:
        lines = [line for line in errors.getvalue().splitlines() if line.strip()]
        raise ValueError(f"geognn train refused the options: {lines[-1] if lines else ' '.join(tokens)}") from None


class EpochReporter:
    """The Trainer's ``on_epoch_end`` hook: checks the objectives exist, reports one to the pruner.

    Args:
        trial: the Optuna trial.
        objectives: the study's objectives (checked against the first epoch's validation metrics).
        prune_on: the objective reported per epoch (None: no pruning, e.g. a multi-objective study).
    """

    def __init__(self, trial, objectives: Sequence[Objective], prune_on: Objective | None):
        self.trial, self.objectives, self.prune_on = trial, list(objectives), prune_on
        self.epochs = 0
        self.pruned_at: int | None = None

    def __call__(self, row: dict) -> bool:
        self.epochs = int(row["epoch"])
        for objective in self.objectives:
            if not objective.is_cost:
                objective.from_row(row)  # ObjectiveError at the first epoch for a metric the run lacks
        if self.prune_on is None:
            return False
        value = self.prune_on.from_row(row)
        if not math.isfinite(value):
            return False  # nothing to compare; a diverged loss fails the trial by itself
        self.trial.report(value, step=self.epochs)
        if self.trial.should_prune():
            self.pruned_at = self.epochs
            return True
        return False


class TrialRunner:
    """The objective function handed to ``study.optimize``.

    Args:
        out_dir: the study's folder (trials go to ``out_dir/trials/NNNN``).
        base_tokens: the ``geognn train`` options every trial shares (data, fixed options, seed).
        space: the :class:`SearchSpace`.
        objectives: what the trial returns, in order.
        prune: report the first objective per epoch to the pruner.
        device: the trials' device (for the memory measurement).
        is_surplus: ``trial -> bool``, True for a trial the study no longer needs.
    """

    def __init__(self, out_dir: Path, base_tokens: Sequence[str], space: SearchSpace,
                 objectives: Sequence[Objective], prune: bool, device: str, is_surplus):
        self.out_dir, self.base_tokens, self.space = Path(out_dir), list(base_tokens), space
        self.objectives, self.prune, self.device, self.is_surplus = list(objectives), prune, device, is_surplus

    def __call__(self, trial: optuna.Trial):
        if self.is_surplus(trial):
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"trial {trial.number}: the study already has its trials; not run")
        values = self.space.suggest(trial)
        tokens = self.base_tokens + self.space.argv(values)
        trial_dir = self.out_dir / "trials" / trial_dir_name(trial.number)
        if trial_dir.exists():  # left by an earlier study in this folder: a trial starts empty
            shutil.rmtree(trial_dir)
        trial_dir.mkdir(parents=True)
        trial.set_user_attr("train_args", tokens)
        trial.set_user_attr("dir", str(trial_dir.relative_to(self.out_dir)))
        reporter = EpochReporter(trial, self.objectives, self.objectives[0] if self.prune else None)
        memory = PeakMemory(self.device)
        try:
            with open(trial_dir / "train.log", "w", encoding="utf-8") as log, \
                    contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), memory:
                args = parse_train_args(tokens + ["--out", str(trial_dir), "--no-progress"])
                from geognn.cli.train import train_from_args

                summary = train_from_args(args, on_epoch_end=reporter, evaluate_test=False)
        except ObjectiveError:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        except TRIAL_ERRORS as err:
            message = f"{type(err).__name__}: {err}"
            trial.set_user_attr("error", message)
            trial.set_user_attr("epochs_run", reporter.epochs)
            raise TrialFailed(message) from err
        history = summary["history"]
        best_row = next(r for r in history if r["epoch"] == summary["best_epoch"])
        trial.set_user_attr("epochs_run", summary["epochs_run"])
        trial.set_user_attr("best_epoch", summary["best_epoch"])
        trial.set_user_attr("budget_epochs", summary["train_config"]["epochs"])
        trial.set_user_attr("step_time_s", statistics.median(r["step_time_s"] for r in history))
        trial.set_user_attr("peak_memory_mib", memory.peak_mib)
        trial.set_user_attr("validation", {k[4:]: v for k, v in best_row.items() if k.startswith("val_")})
        if reporter.pruned_at is not None:
            trial.set_user_attr("pruned_at_epoch", reporter.pruned_at)
            raise optuna.TrialPruned(f"pruned at epoch {reporter.pruned_at}")
        results = [o.from_trial(best_row, history, memory.peak_mib) for o in self.objectives]
        if not all(math.isfinite(v) for v in results):
            message = f"the objective is not finite: {dict(zip((o.name for o in self.objectives), results))}"
            trial.set_user_attr("error", message)
            raise TrialFailed(message)
        return results[0] if len(results) == 1 else results
