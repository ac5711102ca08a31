"""The molecule regression task: per-molecule targets (and forces), selected on the lowest validation loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch_geometric.loader import DataLoader

from geognn.models.targets import fit_atomref, fit_target_statistics
from geognn.train.config import TrainConfig
from geognn.train.metrics import ErrorAccumulator
from geognn.train.plots import plot_parity
from geognn.train.size_groups import (DEFAULT_LARGEST_FRACTION, DEFAULT_SIZE_BUCKETS, SizeBuckets, fit_size_buckets,
                                      largest_from)
from geognn.train.task import Task, local_share, unwrap


class MoleculeRegression(Task):
    """Regression of T per-molecule targets, optionally with forces.

    The loss is the mean squared error of the standardised targets (divided
    by the model's ``target_std`` when it has one), times
    ``config.energy_weight``, plus ``config.force_weight`` times the mean
    squared force error in the same standardised units. Metrics: MAE and
    RMSE per target in physical units (and of forces in eV/Å), and the loss.

    Args:
        config: the run's :class:`TrainConfig` (loss weights, ``fit_atomref``).
        target_names, target_units: names and units of the T targets.
        size_buckets: molecule-size buckets the MAE is also reported by, fitted on the training set
            (:mod:`geognn.train.size_groups`; 0: none).
        largest_fraction: the MAE is also reported on this fraction of the evaluated molecules, the
            largest by atom count (:func:`geognn.train.size_groups.largest_from`; 0: not reported).

    Metrics beyond the overall ones: ``mae_<target>_size1`` ... ``mae_<target>_sizeK`` (smallest
    molecules first, each where the evaluated set has such molecules) and ``mae_<target>_largest``.

    The model is called as ``model(batch)`` or ``model(batch, forces=True)``
    and returns ``{"y": (B, T), "forces": (N, 3)}``; with
    ``set_target_statistics``/``set_atomref`` methods its output scale is fitted
    on the training set before the first epoch (:meth:`prepare`). Data are
    sequences of PyG ``Data`` with ``y`` (1, T) and, for forces, ``forces`` (N, 3).
    """

    name = "molecule_regression"
    selection_metric = "loss"
    higher_is_better = False
    curve_log_scale = True
    loss_label = "loss (standardised MSE)"

    def __init__(self, config: TrainConfig, target_names: Sequence[str] = ("y",),
                 target_units: Sequence[str] = ("eV",), size_buckets: int = DEFAULT_SIZE_BUCKETS,
                 largest_fraction: float = DEFAULT_LARGEST_FRACTION):
        if len(target_names) != len(target_units):
            raise ValueError("target_names and target_units must have the same length")
        if size_buckets < 0:
            raise ValueError(f"size_buckets must be >= 0, got {size_buckets}")
        self.config = config
        if not 0 <= largest_fraction < 1:
            raise ValueError(f"largest_fraction must lie in [0, 1), got {largest_fraction}")
        self.num_size_buckets, self.largest_fraction = int(size_buckets), float(largest_fraction)
        self.sizes: SizeBuckets | None = None
        self.target_names, self.target_units = list(target_names), list(target_units)
        self.use_forces = config.force_weight > 0
        self.curve_metric = f"mae_{self.target_names[0]}"

    # --- before training ----------------------------------------------------------------
    def fit_groups(self, train_set: Sequence) -> None:
        """Molecule-size buckets at quantiles of the training molecules' atom counts."""
        if self.num_size_buckets:
            self.sizes = fit_size_buckets([d.z.numel() for d in train_set], self.num_size_buckets)

    def prepare(self, model: nn.Module, train_set: Sequence) -> None:
        """Fits the model's output scale (per-element references, target mean and std) on ``train_set``."""
        if not hasattr(model, "set_target_statistics"):
            return
        zs = [d.z for d in train_set]
        y = torch.cat([d.y.reshape(1, -1) for d in train_set]).to(torch.float64)
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

    # --- training -------------------------------------------------------------------------
    def batches(self, examples: Sequence, sampler, batch_size: int) -> DataLoader:
        return DataLoader(examples, batch_size=batch_size, sampler=sampler)

    def loss(self, model: nn.Module, out: dict, batch) -> torch.Tensor:
        """Weighted MSE of standardised targets (and forces) of one batch; ``model`` unwrapped (no DDP)."""
        raw = model
        scale = raw.target_std.to(out["y"]) if hasattr(raw, "target_std") else torch.ones_like(out["y"][0])
        y = batch.y.reshape(out["y"].shape).to(out["y"])
        loss = self.config.energy_weight * ((out["y"] - y) / scale).square().mean()
        if self.use_forces:
            loss = loss + self.config.force_weight * ((out["forces"] - batch.forces.to(out["forces"]))
                                                      / scale[0]).square().mean()
        return loss

    def forward(self, module: nn.Module, batch) -> dict:
        return module(batch, forces=True) if self.use_forces else module(batch)

    def train_loss(self, module: nn.Module, batch, device: torch.device) -> tuple[torch.Tensor, int]:
        batch = batch.to(device)
        return self.loss(unwrap(module), self.forward(module, batch), batch), batch.num_graphs

    # --- evaluation ---------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, dataset: Sequence, ctx, shard: bool, collect: bool):
        """Metrics as from :meth:`ErrorAccumulator.result`; collected: (B, T) predictions and references."""
        acc = ErrorAccumulator(len(self.target_names))
        groups = (self.sizes.labels if self.sizes is not None else []) + (["largest"] if self.largest_fraction else [])
        # Decided on the whole set (not this process's share), so every process uses the same threshold.
        largest = largest_from([d.z.numel() for d in dataset], self.largest_fraction) if self.largest_fraction else None
        group_acc = {label: ErrorAccumulator(len(self.target_names)) for label in groups}
        preds, trues = [], []
        for batch in DataLoader(local_share(dataset, ctx, shard), batch_size=self.config.batch_size, shuffle=False):
            batch = batch.to(ctx.device)
            out = self.forward(model, batch)  # a model computing forces enables grad itself
            y = batch.y.reshape(out["y"].shape).to(out["y"])
            loss = self.loss(model, {k: v.detach() for k, v in out.items()}, batch)
            acc.add(out["y"], y, float(loss), out.get("forces"), getattr(batch, "forces", None))
            if groups:
                num_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).cpu()
                pred_cpu, y_cpu = out["y"].detach().cpu(), y.cpu()
                if self.sizes is not None:
                    bucket = self.sizes.assign(num_atoms)
                    for k, label in enumerate(self.sizes.labels):
                        group_acc[label].add(pred_cpu[bucket == k], y_cpu[bucket == k])
                if largest is not None:
                    group_acc["largest"].add(pred_cpu[num_atoms >= largest], y_cpu[num_atoms >= largest])
            if collect:
                preds.append(out["y"].detach().cpu().double())
                trues.append(y.cpu().double())
        if shard:
            acc.all_reduce()
            for group in group_acc.values():
                group.all_reduce()
        metrics = acc.result(self.target_names)
        for label, group in group_acc.items():
            if group.sums[2 * len(self.target_names)] > 0:  # molecules of this group were evaluated
                errors = group.result(self.target_names)
                metrics.update({f"mae_{name}_{label}": errors[f"mae_{name}"] for name in self.target_names})
        if collect:
            return metrics, (torch.cat(preds).numpy(), torch.cat(trues).numpy())
        return metrics, None

    def progress(self, metrics: dict) -> dict[str, str]:
        first = self.target_names[0]
        return {"val_mae": f"{metrics[f'mae_{first}']:.4g} {self.target_units[0]}"}

    # --- outputs -------------------------------------------------------------------------------
    def checkpoint_extras(self) -> dict[str, Any]:
        return {"target_names": self.target_names, "target_units": self.target_units}

    def summary_extras(self) -> dict[str, Any]:
        """Units of the targets and the atom counts of each size group (``size_groups``)."""
        extras: dict[str, Any] = {"units": dict(zip(self.target_names, self.target_units))}
        groups = self.sizes.details() if self.sizes is not None else {}
        if self.largest_fraction:
            groups["largest"] = {"fraction_of_evaluated_set": self.largest_fraction}
        if groups:
            extras["size_groups"] = groups
        return extras

    def report(self, out_dir: Path, collected, title: str) -> None:
        pred, true = collected
        plot_parity(pred, true, self.target_names, self.target_units, out_dir / "parity.png", title=title)
