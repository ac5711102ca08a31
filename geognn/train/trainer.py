"""The one training loop of geognn, for every model and every task.

:class:`Trainer` runs a seeded loop with the optimiser and schedule the
config names (AdamW with warm-up plus plateau decay for molecules, Adam with
exponential decay for ConvE), gradient clipping, an optional EMA of weights,
early stopping on the task's selection metric, progress bars, metrics (CSV
and JSON), a learning-curve plot and checkpoints (``last.pt`` every epoch,
``best.pt`` at the best validation value, both written atomically), and
resumes from ``last.pt`` to the same result as an uninterrupted run. Under
``torchrun`` it trains one DDP replica per process.

What depends on the problem (batches, loss, metrics, which metric selects
the best epoch) comes from a :class:`geognn.train.Task`: by default
:class:`geognn.train.MoleculeRegression`; :class:`geognn.train.LinkPrediction`
for knowledge graphs.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from geognn.train import distributed
from geognn.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from geognn.train.config import TrainConfig
from geognn.train.ema import EMA
from geognn.train.metrics import write_json, write_metrics_csv
from geognn.train.molecules import MoleculeRegression
from geognn.train.optim import build_optimizer, build_schedule
from geognn.train.plots import plot_learning_curve
from geognn.train.rng import rng_state, seed_everything, set_rng_state
from geognn.train.schedule import improves
from geognn.train.task import Task


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite: the run cannot go on (lower the learning rate)."""


class Trainer:
    """Trains ``model`` on ``train_set``, selecting on ``val_set``.

    Args:
        model: the ``nn.Module`` to train; what it is called with is the task's
            business (molecules: ``model(batch)`` -> ``{"y": (B, T)}``, e.g.
            :class:`geognn.models.SchNet`; link prediction:
            ``model(heads, relations)`` -> (B, num_entities), e.g. :class:`geognn.models.ConvE`).
        train_set, val_set, test_set: the data in the task's form (molecules:
            sequences of PyG ``Data`` with ``z``, ``pos`` (Å), ``y`` (1, T) in
            ``target_units`` and, to train on forces, ``forces`` (N, 3) in eV/Å;
            link prediction: (n, 3) int64 triples).
        config: :class:`TrainConfig`.
        out_dir: directory for checkpoints, metrics and plots.
        task: the :class:`Task`; default :class:`MoleculeRegression` with
            ``target_names`` and ``target_units``.
        model_name, model_config: how to rebuild the model from a checkpoint
            (``geognn.models.build_model(model_name, **model_config)``).
        target_names, target_units: names and units of the T targets (molecule task).
        resume: continue from ``out_dir/last.pt``.
        info: extra JSON-able facts stored in checkpoints and metrics.json
            (dataset, split sizes, ...).
        on_epoch_end: called after every epoch, once its checkpoints are written, with the epoch's
            history row (``epoch``, ``train_loss``, ``val_<metric>`` for every validation metric,
            ``epoch_time_s``, ``step_time_s`` (the median seconds per optimiser step), ...); returning True stops training there, like
            early stopping (``stopped_by_callback`` in the summary). A hyperparameter search prunes
            through it. Under torchrun it is called on every process with the same row and must
            answer the same on all.

    Raises:
        TrainingDiverged (from :meth:`fit`): the mean training loss of an epoch is not finite.
    """

    def __init__(self, model: nn.Module, train_set: Sequence, val_set: Sequence, config: TrainConfig,
                 out_dir: str | Path, *, model_name: str = "schnet", model_config: dict | None = None,
                 target_names: Sequence[str] = ("y",), target_units: Sequence[str] = ("eV",),
                 test_set: Sequence | None = None, resume: bool = False, info: dict | None = None,
                 ctx: distributed.DistributedContext | None = None, task: Task | None = None,
                 on_epoch_end: Callable[[dict], bool | None] | None = None):
        config.validate()
        self.task = task if task is not None else MoleculeRegression(config, target_names, target_units)
        self.task.check(train_set, val_set)
        self.task.fit_groups(train_set)
        self.on_epoch_end = on_epoch_end
        self.model = model
        self.train_set, self.val_set, self.test_set = train_set, val_set, test_set
        self.config = config
        self.out_dir = Path(out_dir)
        self.model_name = model_name
        self.model_config = dict(model_config if model_config is not None else getattr(model, "config", {}))
        self.resume = resume
        self.info = dict(info or {})
        self.ctx = ctx or distributed.setup(config.device)
        self.best_key = f"best_val_{self.task.selection_metric}"

    # --- one epoch ---------------------------------------------------------------------
    def _train_epoch(self, module, loader, bar) -> float:
        module.train()
        # [sum of batch loss x batch size, number of examples], in float64 like every metric.
        loss_sums = torch.zeros(2, dtype=torch.float64)
        self._step_times = []
        tick = time.perf_counter()
        for batch in loader:
            loss, size = self.task.train_loss(module, batch, self.ctx.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip > 0:
                nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.scheduler.step_batch()
            if self.ema is not None:
                self.ema.update(self.model)
            loss_value = float(loss.detach())
            loss_sums[0] += loss_value * size
            loss_sums[1] += size
            bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{self.scheduler.lr:.2e}")
            bar.update(1)
            # float(loss) above waits for the device, so this is the step's real duration (batch loading included).
            now = time.perf_counter()
            self._step_times.append(now - tick)
            tick = now
        if self.ctx.enabled:
            torch.distributed.all_reduce(loss_sums)
        return float(loss_sums[0] / loss_sums[1])

    @torch.no_grad()
    def evaluate(self, dataset: Sequence, shard: bool = True, collect: bool = False):
        """The task's metrics on ``dataset`` with the evaluation (EMA) weights.

        Returns ``(metrics, collected)``: metrics reduced over processes when
        ``shard``, and with ``collect`` what the task's report needs (molecules:
        the (B, T) predictions and references as NumPy arrays), else None.
        """
        model = self.model
        context = self.ema.applied(model) if self.ema is not None else _null_context(model)
        with context:
            model.eval()
            return self.task.evaluate(model, dataset, self.ctx, shard, collect)

    # --- checkpoints ------------------------------------------------------------------
    def _state(self, epoch: int, for_best: bool) -> dict:
        model_state = self.ema.shadow if (for_best and self.ema is not None) else self.model.state_dict()
        return {
            "model_name": self.model_name, "model_config": self.model_config, "model_state": model_state,
            "optimizer_state": self.optimizer.state_dict(), "scheduler_state": self.scheduler.state_dict(),
            "ema_state": self.ema.state_dict() if self.ema is not None else None,
            "epoch": epoch, self.best_key: self.best_value, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "history": self.history, "rng": rng_state(),
            "train_config": self.config.to_dict(), **self.task.checkpoint_extras(), "info": self.info,
            "weights": "ema" if (for_best and self.ema is not None) else "raw",
            "task": self.task.name, "selection_metric": self.task.selection_metric,
        }

    def _restore(self, path: Path) -> int:
        if not path.is_file():
            raise CheckpointError(f"--resume: no checkpoint at {path}; run once without --resume first")
        state = load_checkpoint(path, map_location=self.ctx.device)
        if state["model_name"] != self.model_name:
            raise CheckpointError(f"{path} holds a {state['model_name']!r} model, not {self.model_name!r}")
        if self.best_key not in state:
            raise CheckpointError(f"{path} was selected on {state.get('selection_metric')!r}, this run on "
                                  f"{self.task.selection_metric!r}: it is a different kind of run")
        try:
            self.model.load_state_dict(state["model_state"])
            self.optimizer.load_state_dict(state["optimizer_state"])
            self.scheduler.load_state_dict(state["scheduler_state"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{path} does not match this model or its hyperparameters: {err}") from err
        if self.ema is not None and state.get("ema_state") is not None:
            self.ema.load_state_dict(state["ema_state"])
        self.best_value, self.best_epoch = state[self.best_key], state["best_epoch"]
        self.bad_epochs, self.history = state["bad_epochs"], list(state["history"])
        set_rng_state(state["rng"])
        return int(state["epoch"]) + 1

    # --- the loop ---------------------------------------------------------------------
    def fit(self) -> dict:
        """Trains, then evaluates the best weights; returns the summary written to metrics.json."""
        cfg, ctx, task = self.config, self.ctx, self.task
        seed_everything(cfg.seed)
        self.model.to(ctx.device)
        if not self.resume:
            task.prepare(self.model, self.train_set)
        # Wrapping first: DDP broadcasts rank 0's weights and buffers, and the
        # EMA shadow must start from those, not from this rank's own init.
        module = (DistributedDataParallel(self.model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
                  if ctx.enabled else self.model)
        self.optimizer = build_optimizer(self.model, cfg)
        self.scheduler = build_schedule(self.optimizer, cfg, task.higher_is_better)
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.best_value = float("-inf") if task.higher_is_better else float("inf")
        self.best_epoch, self.bad_epochs, self.history = -1, 0, []
        start = self._restore(self.out_dir / "last.pt") if self.resume else 0
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        examples = task.examples(self.train_set)
        sampler = DistributedSampler(examples, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                     seed=cfg.seed, drop_last=False)
        loader = task.batches(examples, sampler, cfg.batch_size)
        show = cfg.progress and ctx.is_main
        epochs_bar = tqdm(total=cfg.epochs, initial=start, desc="epochs", unit="epoch", disable=not show)
        stopped_early = stopped_by_callback = False
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            with tqdm(total=len(loader), desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                      disable=not show) as bar:
                train_loss = self._train_epoch(module, loader, bar)
            if not math.isfinite(train_loss):
                # The same value on every process (all-reduced), so all of them stop here.
                raise TrainingDiverged(f"the training loss is {train_loss} in epoch {epoch + 1} (learning rate "
                                       f"{self.scheduler.lr:.3g}): the run diverged")
            distributed.broadcast_buffers(self.model, ctx)
            if ctx.enabled and self.ema is not None:
                self.ema.copy_buffers(self.model)  # the shadow's copies must be rank 0's too
            train_time = time.perf_counter() - t0
            metrics, _ = self.evaluate(self.val_set)
            value = metrics[task.selection_metric]
            lr = self.scheduler.lr
            self.scheduler.step_epoch(value)
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss}
            if "loss" in metrics:
                row["val_loss"] = metrics["loss"]
            row.update({f"val_{k}": v for k, v in metrics.items() if k != "loss"})
            row["epoch_time_s"] = time.perf_counter() - t0
            row["train_time_s"] = train_time
            # The median step: robust to the first steps' warm-up (allocator, caches, lazy initialisation).
            row["step_time_s"] = statistics.median(self._step_times) if self._step_times else float("nan")
            self.history.append(row)
            # Same relative threshold as the plateau schedule: noise-level gains
            # neither reset early stopping nor rewrite best.pt.
            improved = improves(value, self.best_value, task.higher_is_better)
            if improved:
                self.best_value, self.best_epoch, self.bad_epochs = value, epoch + 1, 0
            else:
                self.bad_epochs += 1
            if ctx.is_main:
                if improved:
                    save_checkpoint(self.out_dir / "best.pt", self._state(epoch, for_best=True))
                save_checkpoint(self.out_dir / "last.pt", self._state(epoch, for_best=False))
                write_metrics_csv(self.out_dir / "metrics.csv", self.history)
            epochs_bar.set_postfix(task.progress(metrics))
            epochs_bar.update(1)
            distributed.barrier(ctx)
            if self.on_epoch_end is not None and self.on_epoch_end(dict(row)):
                stopped_by_callback = True
                break
            if cfg.early_stopping_patience and self.bad_epochs >= cfg.early_stopping_patience:
                stopped_early = True
                break
        epochs_bar.close()
        return self._finish(stopped_early, stopped_by_callback)

    def _finish(self, stopped_early: bool, stopped_by_callback: bool = False) -> dict:
        ctx, task = self.ctx, self.task
        summary: dict[str, Any] = {}
        if ctx.is_main:
            best = load_checkpoint(self.out_dir / "best.pt", map_location=ctx.device)
            final_weights = {k: v.clone() for k, v in self.model.state_dict().items()}
            ema, self.ema = self.ema, None  # best.pt already holds the evaluation weights
            self.model.load_state_dict(best["model_state"])
            name, dataset = ("test", self.test_set) if self.test_set is not None and len(self.test_set) else (
                "validation", self.val_set)
            t0 = time.perf_counter()
            metrics, collected = self.evaluate(dataset, shard=False, collect=True)
            eval_time = time.perf_counter() - t0
            self.model.load_state_dict(final_weights)
            self.ema = ema
            task.report(self.out_dir, collected, title=f"{name} set, best epoch {self.best_epoch}")
            plot_learning_curve(self.history, self.out_dir / "learning_curve.png", task.curve_metric,
                                loss_label=task.loss_label, log_metric=task.curve_log_scale,
                                metric_label=task.curve_label)
            summary = {
                "best_epoch": self.best_epoch, self.best_key: self.best_value,
                "epochs_run": len(self.history), "stopped_early": stopped_early,
                "stopped_by_callback": stopped_by_callback,
                "evaluated_on": name, "metrics": metrics, **task.summary_extras(),
                "eval_time_s": eval_time, "task": task.name,
                "train_config": self.config.to_dict(), "model_name": self.model_name,
                "model_config": self.model_config, "info": self.info, "history": self.history,
            }
            write_json(self.out_dir / "metrics.json", summary)
        distributed.barrier(ctx)
        return summary


class _null_context:
    def __init__(self, model):
        self.model = model

    def __enter__(self):
        return self.model

    def __exit__(self, *exc):
        return False
