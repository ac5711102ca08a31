"""The training loop shared by every geognn model that predicts per-molecule targets.

One :class:`Trainer` runs a seeded loop with AdamW, warm-up plus plateau decay,
early stopping, gradient clipping and an EMA of weights; it optimises a loss on
the standardised targets and, optionally, on forces; it reports MAE and RMSE
per target in physical units, draws progress bars, writes metrics (CSV and
JSON), plots (learning curve, parity) and checkpoints (``last.pt`` every epoch,
``best.pt`` at the best validation loss), and resumes from ``last.pt``. Under
``torchrun`` it trains one DDP replica per process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from torch_geometric.loader import DataLoader
from tqdm.auto import tqdm

from geognn.models.targets import fit_atomref, fit_target_statistics
from geognn.train import distributed
from geognn.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from geognn.train.config import TrainConfig
from geognn.train.ema import EMA
from geognn.train.metrics import ErrorAccumulator, write_json, write_metrics_csv
from geognn.train.plots import plot_learning_curve, plot_parity
from geognn.train.rng import rng_state, seed_everything, set_rng_state
from geognn.train.schedule import WarmupPlateau


class Trainer:
    """Trains ``model`` on ``train_set``, selecting on ``val_set``.

    Args:
        model: an ``nn.Module`` called as ``model(batch)`` / ``model(batch, forces=True)``
            returning ``{"y": (B, T), "forces": (N, 3)}`` (e.g. :class:`geognn.models.SchNet`).
            With ``set_target_statistics``/``set_atomref`` methods its output
            scale is fitted on the training set before the first epoch.
        train_set, val_set, test_set: sequences of PyG ``Data`` with ``z``,
            ``pos`` (Å), ``y`` (1, T) in ``target_units`` and, to train on
            forces, ``forces`` (N, 3) in eV/Å. Graphs (``edge_index``) are best
            precomputed with a transform; otherwise the model builds them.
        config: :class:`TrainConfig`.
        out_dir: directory for checkpoints, metrics and plots.
        model_name, model_config: how to rebuild the model from a checkpoint
            (``geognn.models.build_model(model_name, **model_config)``).
        target_names, target_units: names and units of the T targets.
        resume: continue from ``out_dir/last.pt``.
        info: extra JSON-able facts stored in checkpoints and metrics.json
            (dataset, split sizes, ...).
    """

    def __init__(self, model: nn.Module, train_set: Sequence, val_set: Sequence, config: TrainConfig,
                 out_dir: str | Path, *, model_name: str = "schnet", model_config: dict | None = None,
                 target_names: Sequence[str] = ("y",), target_units: Sequence[str] = ("eV",),
                 test_set: Sequence | None = None, resume: bool = False, info: dict | None = None,
                 ctx: distributed.DistributedContext | None = None):
        config.validate()
        if len(train_set) == 0 or len(val_set) == 0:
            raise ValueError(f"need non-empty training and validation sets, got {len(train_set)} and {len(val_set)}")
        if len(target_names) != len(target_units):
            raise ValueError("target_names and target_units must have the same length")
        self.model = model
        self.train_set, self.val_set, self.test_set = train_set, val_set, test_set
        self.config = config
        self.out_dir = Path(out_dir)
        self.model_name = model_name
        self.model_config = dict(model_config if model_config is not None else getattr(model, "config", {}))
        self.target_names, self.target_units = list(target_names), list(target_units)
        self.resume = resume
        self.info = dict(info or {})
        self.ctx = ctx or distributed.setup(config.device)
        self.use_forces = config.force_weight > 0

    # --- set-up -------------------------------------------------------------------
    def _fit_output_scale(self) -> None:
        model = self.model
        if not hasattr(model, "set_target_statistics"):
            return
        zs = [d.z for d in self.train_set]
        y = torch.cat([d.y.reshape(1, -1) for d in self.train_set]).to(torch.float64)
        if y.shape[1] != len(self.target_names):
            raise ValueError(f"the data has {y.shape[1]} targets but target_names lists {len(self.target_names)}")
        readouts = list(getattr(model, "readouts", [getattr(model, "readout", "sum")] * y.shape[1]))
        atomref = None
        if self.config.fit_atomref and "sum" in readouts and hasattr(model, "set_atomref"):
            atomref = fit_atomref(zs, y, max_z=model.atomref.shape[0] - 1)
            # Reference values per element only make sense for extensive targets.
            atomref[:, [k for k, r in enumerate(readouts) if r != "sum"]] = 0.0
            model.set_atomref(atomref)
        mean, std = fit_target_statistics(zs, y, readouts, atomref)
        model.set_target_statistics(mean, std)

    def _loader(self, dataset: Sequence, shuffle: bool) -> tuple[DataLoader, DistributedSampler]:
        sampler = DistributedSampler(dataset, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
                                     shuffle=shuffle, seed=self.config.seed, drop_last=False)
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler), sampler

    def _eval_loader(self, dataset: Sequence, shard: bool) -> DataLoader:
        # Evaluation shards without padding so every molecule counts exactly once.
        if shard and self.ctx.enabled:
            dataset = [dataset[i] for i in range(self.ctx.rank, len(dataset), self.ctx.world_size)]
        return DataLoader(dataset, batch_size=self.config.batch_size, shuffle=False)

    # --- one step -------------------------------------------------------------------
    def _loss(self, out: dict, batch) -> torch.Tensor:
        raw = self.model
        scale = raw.target_std.to(out["y"]) if hasattr(raw, "target_std") else torch.ones_like(out["y"][0])
        y = batch.y.reshape(out["y"].shape).to(out["y"])
        loss = self.config.energy_weight * ((out["y"] - y) / scale).square().mean()
        if self.use_forces:
            loss = loss + self.config.force_weight * ((out["forces"] - batch.forces.to(out["forces"]))
                                                      / scale[0]).square().mean()
        return loss

    def _forward(self, module: nn.Module, batch) -> dict:
        return module(batch, forces=True) if self.use_forces else module(batch)

    def _train_epoch(self, module, loader, epoch: int, bar) -> float:
        module.train()
        acc = ErrorAccumulator(len(self.target_names))
        for batch in loader:
            batch = batch.to(self.ctx.device)
            out = self._forward(module, batch)
            loss = self._loss(out, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip > 0:
                nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.scheduler.step_batch()
            if self.ema is not None:
                self.ema.update(self.model)
            loss_value = float(loss.detach())
            acc.add(out["y"], batch.y.reshape(out["y"].shape), loss_value)
            bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{self.scheduler.lr:.2e}")
            bar.update(1)
        acc.all_reduce()
        return acc.result(self.target_names)["loss"]

    @torch.no_grad()
    def evaluate(self, dataset: Sequence, shard: bool = True, collect: bool = False):
        """Errors on ``dataset`` with the evaluation (EMA) weights.

        Returns ``(metrics, pred, true)``: metrics as from
        :meth:`ErrorAccumulator.result` (reduced over processes when
        ``shard``), and with ``collect`` the (B, T) predictions and references
        as NumPy arrays (else None).
        """
        model = self.model
        context = self.ema.applied(model) if self.ema is not None else _null_context(model)
        acc = ErrorAccumulator(len(self.target_names))
        preds, trues = [], []
        with context:
            model.eval()
            for batch in self._eval_loader(dataset, shard):
                batch = batch.to(self.ctx.device)
                out = self._forward(model, batch)  # a model computing forces enables grad itself
                y = batch.y.reshape(out["y"].shape).to(out["y"])
                loss = self._loss({k: v.detach() for k, v in out.items()}, batch)
                acc.add(out["y"], y, float(loss), out.get("forces"), getattr(batch, "forces", None))
                if collect:
                    preds.append(out["y"].detach().cpu().double())
                    trues.append(y.cpu().double())
        if shard:
            acc.all_reduce()
        metrics = acc.result(self.target_names)
        if collect:
            return metrics, torch.cat(preds).numpy(), torch.cat(trues).numpy()
        return metrics, None, None

    # --- checkpoints ------------------------------------------------------------------
    def _state(self, epoch: int, for_best: bool) -> dict:
        model_state = self.ema.shadow if (for_best and self.ema is not None) else self.model.state_dict()
        return {
            "model_name": self.model_name, "model_config": self.model_config, "model_state": model_state,
            "optimizer_state": self.optimizer.state_dict(), "scheduler_state": self.scheduler.state_dict(),
            "ema_state": self.ema.state_dict() if self.ema is not None else None,
            "epoch": epoch, "best_val_loss": self.best_val_loss, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "history": self.history, "rng": rng_state(),
            "train_config": self.config.to_dict(), "target_names": self.target_names,
            "target_units": self.target_units, "info": self.info,
            "weights": "ema" if (for_best and self.ema is not None) else "raw",
        }

    def _restore(self, path: Path) -> int:
        if not path.is_file():
            raise CheckpointError(f"--resume: no checkpoint at {path}; run once without --resume first")
        state = load_checkpoint(path, map_location=self.ctx.device)
        if state["model_name"] != self.model_name:
            raise CheckpointError(f"{path} holds a {state['model_name']!r} model, not {self.model_name!r}")
        try:
            self.model.load_state_dict(state["model_state"])
            self.optimizer.load_state_dict(state["optimizer_state"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{path} does not match this model or its hyperparameters: {err}") from err
        self.scheduler.load_state_dict(state["scheduler_state"])
        if self.ema is not None and state.get("ema_state") is not None:
            self.ema.load_state_dict(state["ema_state"])
        self.best_val_loss, self.best_epoch = state["best_val_loss"], state["best_epoch"]
        self.bad_epochs, self.history = state["bad_epochs"], list(state["history"])
        set_rng_state(state["rng"])
        return int(state["epoch"]) + 1

    # --- the loop ---------------------------------------------------------------------
    def fit(self) -> dict:
        """Trains, then evaluates the best weights; returns the summary written to metrics.json."""
        cfg, ctx = self.config, self.ctx
        seed_everything(cfg.seed)
        self.model.to(ctx.device)
        if not self.resume:
            self._fit_output_scale()
        # Wrapping first: DDP broadcasts rank 0's weights and buffers, and the
        # EMA shadow must start from those, not from this rank's own init.
        module = (DistributedDataParallel(self.model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
                  if ctx.enabled else self.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = WarmupPlateau(self.optimizer, cfg.lr, cfg.warmup_steps, cfg.plateau_patience,
                                       cfg.plateau_factor, cfg.min_lr)
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.best_val_loss, self.best_epoch, self.bad_epochs, self.history = float("inf"), -1, 0, []
        start = self._restore(self.out_dir / "last.pt") if self.resume else 0
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        loader, sampler = self._loader(self.train_set, shuffle=True)
        show = cfg.progress and ctx.is_main
        epochs_bar = tqdm(total=cfg.epochs, initial=start, desc="epochs", unit="epoch", disable=not show)
        stopped_early = False
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            with tqdm(total=len(loader), desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                      disable=not show) as bar:
                train_loss = self._train_epoch(module, loader, epoch, bar)
            metrics, _, _ = self.evaluate(self.val_set)
            lr = self.scheduler.lr
            self.scheduler.step_epoch(metrics["loss"])
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "val_loss": metrics["loss"]}
            row.update({f"val_{k}": v for k, v in metrics.items() if k != "loss"})
            row["epoch_time_s"] = time.perf_counter() - t0
            self.history.append(row)
            # Same relative threshold as the plateau schedule: noise-level gains
            # neither reset early stopping nor rewrite best.pt.
            improved = metrics["loss"] < self.best_val_loss * (1 - 1e-4)
            if improved:
                self.best_val_loss, self.best_epoch, self.bad_epochs = metrics["loss"], epoch + 1, 0
            else:
                self.bad_epochs += 1
            if ctx.is_main:
                if improved:
                    save_checkpoint(self.out_dir / "best.pt", self._state(epoch, for_best=True))
                save_checkpoint(self.out_dir / "last.pt", self._state(epoch, for_best=False))
                write_metrics_csv(self.out_dir / "metrics.csv", self.history)
            first = self.target_names[0]
            epochs_bar.set_postfix(val_mae=f"{metrics[f'mae_{first}']:.4g} {self.target_units[0]}")
            epochs_bar.update(1)
            distributed.barrier(ctx)
            if cfg.early_stopping_patience and self.bad_epochs >= cfg.early_stopping_patience:
                stopped_early = True
                break
        epochs_bar.close()
        return self._finish(stopped_early)

    def _finish(self, stopped_early: bool) -> dict:
        ctx = self.ctx
        summary: dict[str, Any] = {}
        if ctx.is_main:
            best = load_checkpoint(self.out_dir / "best.pt", map_location=ctx.device)
            final_weights = {k: v.clone() for k, v in self.model.state_dict().items()}
            ema, self.ema = self.ema, None  # best.pt already holds the evaluation weights
            self.model.load_state_dict(best["model_state"])
            name, dataset = ("test", self.test_set) if self.test_set else ("validation", self.val_set)
            metrics, pred, true = self.evaluate(dataset, shard=False, collect=True)
            self.model.load_state_dict(final_weights)
            self.ema = ema
            plot_parity(pred, true, self.target_names, self.target_units, self.out_dir / "parity.png",
                        title=f"{name} set, best epoch {self.best_epoch}")
            plot_learning_curve(self.history, self.out_dir / "learning_curve.png", f"mae_{self.target_names[0]}")
            summary = {
                "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "epochs_run": len(self.history), "stopped_early": stopped_early,
                "evaluated_on": name, "metrics": metrics,
                "units": dict(zip(self.target_names, self.target_units)),
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
