"""What ``geognn tune`` writes and prints: trials.csv, best.json, plots, one line per trial, checkpoint pruning.

* ``trials.csv``: every trial (parameters, value(s), state, epochs, duration, step time, peak memory,
  error), rewritten atomically after each trial;
* ``best.json``: the best trial (or the Pareto front of a multi-objective study) with its validation
  metrics and the exact ``geognn train`` command that reproduces it, the trial counts, the epochs
  pruning saved and the disk the study uses;
* ``optimization_history.png``, ``param_importances.png``, ``intermediate_values.png`` (one objective),
  ``pareto_front.png`` (several), drawn by Optuna's matplotlib plots when a worker ends.

Only the best trial's checkpoints are kept (the Pareto-optimal trials' with several objectives): after
every trial the ``*.pt`` files of every other finished trial are deleted; their metrics stay.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
import warnings
from pathlib import Path
from typing import Sequence

import optuna
from optuna.trial import TrialState

from geognn.data.atomic_io import atomic_write_bytes, atomic_write_text
from geognn.tune.objectives import Objective
from geognn.tune.study import is_finished, study_folder_size
from geognn.tune.trial import trial_dir_name

RERUN_FOLDER = "best-rerun"


def state_name(trial) -> str:
    """COMPLETE, PRUNED, FAIL, RUNNING, WAITING, or SKIPPED (a surplus trial), KILLED (no heartbeat: retried)."""
    if trial.user_attrs.get("surplus"):
        return "SKIPPED"
    if trial.state == TrialState.FAIL and not is_finished(trial):
        return "INTERRUPTED" if trial.user_attrs.get("interrupted") else "KILLED"
    return trial.state.name


def reproduce_command(trial, out_dir: Path) -> str:
    """``geognn train ...`` with the trial's options, writing to ``out_dir/best-rerun``."""
    tokens = list(trial.user_attrs.get("train_args", []))
    return shlex.join(["geognn", "train", *tokens, "--out", str(Path(out_dir) / RERUN_FOLDER)])


def best_trials(study: optuna.Study, objectives: Sequence[Objective]) -> list:
    """The best completed trial (one objective) or the Pareto-optimal ones (several); [] if none completed."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return []
    return [study.best_trial] if len(objectives) == 1 else sorted(study.best_trials, key=lambda t: t.number)


def _duration(trial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _retries(study: optuna.Study) -> dict[int, int]:
    """Killed trial number -> the number of the trial that retried it."""
    out = {}
    for t in study.get_trials(deepcopy=False):
        history = t.system_attrs.get("retry_history") or []
        if history:
            out[history[-1]] = t.number
    return out


def trial_rows(study: optuna.Study, objectives: Sequence[Objective]) -> list[dict]:
    """One row per trial for trials.csv."""
    names = sorted({name for t in study.get_trials(deepcopy=False) for name in t.params})
    retried_as = _retries(study)
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = state_name(t)
        row = {"number": t.number, "state": state}
        values = t.values if t.values is not None else [None] * len(objectives)
        if t.state == TrialState.PRUNED and t.intermediate_values:
            values = [t.intermediate_values[max(t.intermediate_values)]]  # the last reported value
        for objective, value in zip(objectives, list(values) + [None] * len(objectives)):
            row[objective.name] = value
        row.update({f"param_{name}": t.params.get(name) for name in names})
        row.update({
            "epochs_run": t.user_attrs.get("epochs_run"), "budget_epochs": t.user_attrs.get("budget_epochs"),
            "best_epoch": t.user_attrs.get("best_epoch"), "pruned_at_epoch": t.user_attrs.get("pruned_at_epoch"),
            "duration_s": _duration(t), "step_time_s": t.user_attrs.get("step_time_s"),
            "peak_memory_mib": t.user_attrs.get("peak_memory_mib"),
            "started": t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
            "error": t.user_attrs.get("error") or (
                f"no heartbeat: its process died; retried as trial {retried_as[t.number]}"
                if state == "KILLED" and t.number in retried_as else
                "no heartbeat: its process died" if state == "KILLED" else
                "interrupted" if state == "INTERRUPTED" else
                "not run: the study already had its trials" if state == "SKIPPED" else None),
            "dir": t.user_attrs.get("dir"),
        })
        rows.append(row)
    return rows


def write_trials_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` as CSV (columns of the first row), atomically."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials per state name, and ``finished`` (what counts towards N)."""
    out: dict[str, int] = {}
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        out[state_name(t).lower()] = out.get(state_name(t).lower(), 0) + 1
    out["finished"] = sum(map(is_finished, trials))
    return out


def epochs_summary(study: optuna.Study) -> dict[str, int]:
    """Epochs trained over finished trials and the epochs pruning saved (budget minus epochs run of pruned ones)."""
    run = saved = 0
    for t in study.get_trials(deepcopy=False):
        if not is_finished(t):
            continue
        run += int(t.user_attrs.get("epochs_run") or 0)
        if t.state == TrialState.PRUNED:
            saved += int(t.user_attrs.get("budget_epochs") or 0) - int(t.user_attrs.get("epochs_run") or 0)
    return {"trained": run, "saved_by_pruning": saved}


def _trial_entry(trial, objectives, out_dir: Path) -> dict:
    trial_dir = Path(out_dir) / trial.user_attrs.get("dir", f"trials/{trial_dir_name(trial.number)}")
    return {
        "number": trial.number,
        "values": {o.name: v for o, v in zip(objectives, trial.values)},
        "params": trial.params,
        "epochs_run": trial.user_attrs.get("epochs_run"), "best_epoch": trial.user_attrs.get("best_epoch"),
        "step_time_s": trial.user_attrs.get("step_time_s"), "peak_memory_mib": trial.user_attrs.get("peak_memory_mib"),
        "validation": trial.user_attrs.get("validation", {}),
        "dir": str(trial_dir), "checkpoint": str(trial_dir / "best.pt"),
        "command": reproduce_command(trial, out_dir),
    }


def best_report(study: optuna.Study, objectives: Sequence[Objective], out_dir: Path, n_trials: int,
                info: dict) -> dict:
    """The content of best.json."""
    best = best_trials(study, objectives)
    report = {
        "study": study.study_name, **info,
        "objectives": [{"name": o.name, "metrics": list(o.metrics), "direction": o.direction, "unit": o.unit}
                       for o in objectives],
        "trials": {**counts(study), "wanted": n_trials},
        "epochs": epochs_summary(study),
        "disk_bytes": study_folder_size(out_dir),
        "note": "each trial's value is its best epoch's validation metric (selected on the task's selection metric "
                "as in geognn train); the command reruns the trial and also evaluates the test set",
    }
    if len(objectives) == 1:
        report["best_trial"] = _trial_entry(best[0], objectives, out_dir) if best else None
    else:
        report["pareto_front"] = [_trial_entry(t, objectives, out_dir) for t in best]
    return report


def prune_checkpoints(study: optuna.Study, objectives: Sequence[Objective], out_dir: Path) -> None:
    """Deletes the ``*.pt`` files of every finished trial but the best (the Pareto-optimal ones)."""
    keep = {t.number for t in best_trials(study, objectives)}
    for t in study.get_trials(deepcopy=False):
        if t.number in keep or t.state in (TrialState.RUNNING, TrialState.WAITING) or "dir" not in t.user_attrs:
            continue
        for checkpoint in (Path(out_dir) / t.user_attrs["dir"]).glob("*.pt"):
            checkpoint.unlink(missing_ok=True)


def progress_line(study: optuna.Study, trial, objectives: Sequence[Objective], n_trials: int) -> str:
    """One line for a finished trial: state, value, best so far, epochs, time, parameters."""
    state = state_name(trial)
    parts = [f"tune: trial {trial.number} {state}"]
    if state == "COMPLETE":
        parts.append("  ".join(f"{o.name} {v:.5g}" for o, v in zip(objectives, trial.values)))
    elif state == "PRUNED":
        epoch = trial.user_attrs.get("pruned_at_epoch")
        budget = trial.user_attrs.get("budget_epochs")
        last = trial.intermediate_values.get(epoch) if epoch is not None else None
        parts.append(f"at epoch {epoch} of {budget} ({objectives[0].name} {last:.5g}; saved {budget - epoch} epochs)"
                     if last is not None and budget is not None else f"at epoch {epoch}")
    else:
        parts.append(str(trial.user_attrs.get("error", "")))
    best = best_trials(study, objectives)
    if len(objectives) == 1 and best:
        parts.append(f"best {best[0].value:.5g} (trial {best[0].number})")
    elif best:
        parts.append(f"Pareto front: trials {', '.join(str(t.number) for t in best)}")
    if state in ("COMPLETE", "PRUNED"):
        epochs = trial.user_attrs.get("epochs_run")
        parts.append(f"{epochs} epoch{'' if epochs == 1 else 's'}")
    duration = _duration(trial)
    if duration is not None:
        parts.append(f"{duration:.1f} s")
    parts.append(f"[{counts(study)['finished']}/{n_trials} finished]")
    parts.append(" ".join(f"{k}={_short(v)}" for k, v in trial.params.items()))
    return "  ".join(parts)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_plots(study: optuna.Study, objectives: Sequence[Objective], out_dir: Path) -> dict[str, str]:
    """Optuna's matplotlib plots as PNG files; returns file name -> "written" or why it was skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    single = len(objectives) == 1
    first = objectives[0]
    target = None if single else (lambda t: t.values[0])
    plots = {
        "optimization_history.png": lambda: vis.plot_optimization_history(study, target=target,
                                                                          target_name=first.label()),
        "param_importances.png": lambda: vis.plot_param_importances(study, target=target, target_name=first.label()),
    }
    if single:
        def intermediate():
            axes = vis.plot_intermediate_values(study)
            axes.set_xlabel("epoch")
            axes.set_ylabel(f"validation {first.label()}")
            return axes

        plots["intermediate_values.png"] = intermediate
    else:
        plots["pareto_front.png"] = lambda: vis.plot_pareto_front(study, target_names=[o.label() for o in objectives])
    outcome = {}
    for name, draw in plots.items():
        if not complete:
            outcome[name] = "skipped: no completed trial"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw()
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
            plt.close(figure)
            atomic_write_bytes(Path(out_dir) / name, buffer.getvalue())
            outcome[name] = "written"
        except Exception as err:  # e.g. importances need 2+ completed trials with varying parameters
            plt.close("all")
            outcome[name] = f"skipped: {err}"
    return outcome


def write_reports(study: optuna.Study, objectives: Sequence[Objective], out_dir: Path, n_trials: int,
                  info: dict) -> dict:
    """trials.csv and best.json; returns the best.json content."""
    write_trials_csv(Path(out_dir) / "trials.csv", trial_rows(study, objectives))
    report = best_report(study, objectives, out_dir, n_trials, info)
    atomic_write_text(Path(out_dir) / "best.json", json.dumps(report, indent=2, default=str) + "\n")
    return report
