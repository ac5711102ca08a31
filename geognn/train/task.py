"""What the training loop asks of a kind of problem: batches, loss, metrics, the selection metric.

:class:`geognn.train.Trainer` owns everything that does not depend on the
problem (seeding, optimiser and schedule, gradient clipping, EMA, early
stopping, progress bars, metrics files, the learning curve, atomic
checkpoints, exact resume, DDP). A :class:`Task` supplies the rest:

* ``examples(train_set)``: what the (distributed) sampler shuffles;
* ``batches(examples, sampler, batch_size)``: an iterable of batches with ``len``;
* ``train_loss(module, batch, device)``: the loss of one batch and its size;
* ``fit_groups(train_set)``: groups evaluation is also reported by (molecule sizes);
* ``evaluate(model, dataset, ctx, shard, collect)``: metrics on a set;
* ``selection_metric`` / ``higher_is_better``: which validation metric picks
  ``best.pt`` and drives early stopping (and a plateau schedule).

Two tasks ship: :class:`geognn.train.MoleculeRegression` (per-molecule
targets, lowest validation loss) and :class:`geognn.train.LinkPrediction`
(knowledge-graph 1-N training, highest validation MRR).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class Task:
    """Base class of training tasks; subclasses override what differs (see the module docstring).

    Class attributes:
        name: stored in checkpoints (``"task"``) so tools know what a file holds.
        selection_metric: key of the validation metrics compared across epochs.
        higher_is_better: direction of ``selection_metric``.
        curve_metric: validation metric drawn in ``learning_curve.png``.
        curve_label: its axis label (default: the metric's key).
        curve_log_scale: draw ``curve_metric`` on a log axis.
        loss_label: axis label of the loss panel.
    """

    name = "task"
    selection_metric = "loss"
    higher_is_better = False
    curve_metric = "loss"
    curve_label: str | None = None
    curve_log_scale = True
    loss_label = "loss"

    def check(self, train_set: Sequence, val_set: Sequence) -> None:
        """Raises ValueError for data this task cannot train on (called by the Trainer's constructor)."""
        if len(train_set) == 0 or len(val_set) == 0:
            raise ValueError(f"need non-empty training and validation sets, got {len(train_set)} and {len(val_set)}")

    def fit_groups(self, train_set: Sequence) -> None:
        """Fits what evaluation groups depend on the training set (molecule-size buckets); called by the
        Trainer's constructor, on resume too, so the groups never depend on how a run was started."""

    def prepare(self, model: nn.Module, train_set: Sequence) -> None:
        """Fits anything data-dependent before the first epoch (not called on resume)."""

    def examples(self, train_set: Sequence) -> Sequence:
        """The sized, indexable collection the training sampler draws from."""
        return train_set

    def batches(self, examples: Sequence, sampler: Iterable[int], batch_size: int):
        """Iterable of training batches (with ``len``) in the order of ``sampler``."""
        raise NotImplementedError

    def train_loss(self, module: nn.Module, batch, device: torch.device) -> tuple[torch.Tensor, int]:
        """The scalar loss of ``batch`` through ``module`` (maybe DDP-wrapped) and the batch size."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, dataset: Sequence, ctx, shard: bool, collect: bool) -> tuple[dict, Any]:
        """``(metrics, collected)`` on ``dataset``; ``model`` is in eval mode, gradients are off.

        With ``shard`` each process evaluates its share and the metrics are
        reduced over processes; ``collected`` is whatever :meth:`report`
        needs when ``collect`` (else None).
        """
        raise NotImplementedError

    def progress(self, metrics: dict) -> dict[str, str]:
        """Postfix of the epoch progress bar."""
        return {f"val_{self.selection_metric}": f"{metrics[self.selection_metric]:.4g}"}

    def checkpoint_extras(self) -> dict[str, Any]:
        """Entries added to every checkpoint (plain values only)."""
        return {}

    def summary_extras(self) -> dict[str, Any]:
        """Entries added to ``metrics.json``."""
        return {}

    def report(self, out_dir: Path, collected: Any, title: str) -> None:
        """Task-specific files written after training (e.g. a parity plot), from ``collected``."""


def unwrap(module: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (or ``module`` itself)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def local_share(dataset: Sequence, ctx, enabled: bool) -> Sequence:
    """This process's share of ``dataset`` (every ``world_size``-th item from ``rank``), without padding,
    so every item counts exactly once when the per-process metrics are summed."""
    if enabled and ctx.enabled:
        if isinstance(dataset, torch.Tensor):
            return dataset[ctx.rank::ctx.world_size]
        return [dataset[i] for i in range(ctx.rank, len(dataset), ctx.world_size)]
    return dataset
