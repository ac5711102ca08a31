"""The study loop of ``geognn tune``: N finished trials over any number of workers, resumable.

A trial counts as finished when it completed, was pruned, or failed with an
error of its own (a NaN loss, out of memory, a refused combination). A
trial whose process died (no heartbeat for the grace period) is failed by
Optuna and queued again with the same parameters; the dead one does not
count. Every worker, started with the same command, runs trials until the
study has N finished ones: it stops starting trials once the finished and
running ones reach N, then waits for the running ones of other workers, so
a trial they leave dead is retried here. Two workers asking for the last
trial at the same moment both get one; the one with the higher number sees
the other and is marked surplus without running (``SKIPPED`` in
``trials.csv``), so a study ends with exactly N.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import TrialState

from geognn.tune.optuna_setup import has_heartbeat
from geognn.tune.trial import SurplusTrial, TrialFailed, TrialRunner

# No trial completed and this many finished ones failed with the same error: the command is wrong,
# not the hyperparameters; stop instead of failing every trial.
SAME_ERROR_LIMIT = 3


def is_finished(trial) -> bool:
    """Counts towards the study's N: completed, pruned, or failed with a recorded error."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "error" in trial.user_attrs


def is_in_flight(trial) -> bool:
    """Running, or queued to run again (a killed trial's retry)."""
    return trial.state in (TrialState.RUNNING, TrialState.WAITING)


@dataclass
class Census:
    """How many trials of a study are finished, running and waiting."""

    finished: int
    running: int
    waiting: int

    @classmethod
    def of(cls, study: optuna.Study) -> "Census":
        trials = study.get_trials(deepcopy=False)
        return cls(sum(map(is_finished, trials)), sum(t.state == TrialState.RUNNING for t in trials),
                   sum(t.state == TrialState.WAITING for t in trials))


@dataclass
class StudyLoop:
    """Runs trials of ``study`` in this process until it has ``n_trials`` finished ones.

    Args:
        study: the Optuna study (loaded or created).
        storage: the storage behind it, as :func:`geognn.tune.optuna_setup.make_storage` made it.
        runner: the :class:`TrialRunner` (its ``is_surplus`` is set here).
        n_trials: finished trials the study should end with.
        timeout_s: stop starting trials after this many seconds (None: no limit).
        heartbeat_s: how often to look at other workers' running trials while waiting for them.
        on_trial: called with each trial this worker finished (progress line, reports).
    """

    study: optuna.Study
    storage: object
    runner: TrialRunner
    n_trials: int
    timeout_s: float | None
    heartbeat_s: float
    on_trial: Callable = lambda study, trial: None
    ran: list[int] = field(default_factory=list)
    abort: str | None = None

    def run(self) -> None:
        """Runs the loop; raises ValueError when the study stopped on repeated identical failures."""
        self.runner.is_surplus = self.is_surplus
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        waited_note = False
        while self.abort is None:
            census = Census.of(self.study)
            remaining = None if deadline is None else deadline - time.monotonic()
            if census.finished >= self.n_trials or (remaining is not None and remaining <= 0):
                break
            if census.waiting or census.finished + census.running < self.n_trials:
                self.study.optimize(self.runner, n_trials=None, timeout=remaining, catch=(TrialFailed, SurplusTrial),
                                    callbacks=[self._after_trial], gc_after_trial=True)
                continue
            # Only other workers' trials are left: wait for them; a dead one is failed and queued again.
            if not has_heartbeat(self.storage):
                print(f"tune: {census.running} trial(s) still running elsewhere; this storage has no heartbeat, "
                      f"so a dead one is only retried by a worker started with --reclaim-running", file=sys.stderr)
                break
            if not waited_note:
                print(f"tune: waiting for {census.running} running trial(s) of other workers (a dead one is "
                      f"retried here after {2 * self.heartbeat_s:g} s without a heartbeat)", file=sys.stderr)
                waited_note = True
            time.sleep(self.heartbeat_s if remaining is None else max(min(self.heartbeat_s, remaining), 0.0))
            optuna.storages.fail_stale_trials(self.study)
        if self.abort is not None:
            raise ValueError(self.abort)

    def is_surplus(self, trial) -> bool:
        """True when trials numbered below ``trial`` already make up the study's N (finished or in flight)."""
        earlier = [t for t in self.study.get_trials(deepcopy=False) if t.number < trial.number]
        return sum(is_finished(t) or is_in_flight(t) for t in earlier) >= self.n_trials

    def _after_trial(self, study: optuna.Study, trial) -> None:
        if trial.user_attrs.get("surplus"):
            print(f"tune: trial {trial.number} not run: the study already had its {self.n_trials} trials",
                  file=sys.stderr)
        else:
            self.ran.append(trial.number)
            self.on_trial(study, trial)
        census = Census.of(study)
        if census.waiting == 0 and census.finished + census.running >= self.n_trials:
            study.stop()
        self._check_repeated_failures(study)

    def _check_repeated_failures(self, study: optuna.Study) -> None:
        trials = [t for t in study.get_trials(deepcopy=False) if is_finished(t)]
        if any(t.state != TrialState.FAIL for t in trials) or len(trials) < SAME_ERROR_LIMIT:
            return
        errors = {t.user_attrs["error"] for t in trials[-SAME_ERROR_LIMIT:]}
        if len(errors) == 1:
            self.abort = (f"the first {len(trials)} trials all failed with the same error, so the command rather "
                          f"than a hyperparameter is at fault: {errors.pop()}")
            study.stop()


def study_folder_size(out_dir: Path) -> dict[str, int]:
    """Bytes under ``out_dir``: ``total``, ``checkpoints`` (``*.pt``) and ``storage`` (the study file)."""
    total = checkpoints = storage = 0
    for path in Path(out_dir).rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            total += size
            if path.suffix == ".pt":
                checkpoints += size
            elif path.name.startswith("study."):
                storage += size
    return {"total": total, "checkpoints": checkpoints, "storage": storage}
