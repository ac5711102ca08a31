"""Error metrics in physical units and the per-run metrics files (CSV and JSON)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Sequence

import torch

from geognn.train.checkpoint import atomic_write_text


class ErrorAccumulator:
    """Running sums for MAE and RMSE per target (and of forces), mergeable across processes.

    ``add`` takes predictions and references in physical units: y (B, T) in
    the targets' units, forces (N, 3) in eV/Å. Forces also give the mean cosine
    similarity of predicted and reference force vectors per atom (atoms whose
    reference force is zero are left out of it).
    """

    def __init__(self, num_targets: int):
        self.num_targets = num_targets
        # [abs_sum (T), sq_sum (T), count, force_abs, force_sq, force_count, loss_sum, loss_count,
        #  force_cos_sum, force_cos_count]
        self.sums = torch.zeros(2 * num_targets + 8, dtype=torch.float64)

    def add(self, pred: torch.Tensor, target: torch.Tensor, loss: float | None = None,
            pred_forces: torch.Tensor | None = None, forces: torch.Tensor | None = None) -> None:
        t = self.num_targets
        err = (pred.detach() - target.detach()).to(torch.float64).cpu().reshape(-1, t)
        self.sums[:t] += err.abs().sum(0)
        self.sums[t:2 * t] += err.square().sum(0)
        self.sums[2 * t] += err.shape[0]
        if pred_forces is not None and forces is not None:
            ferr = (pred_forces.detach() - forces.detach()).to(torch.float64).cpu()
            self.sums[2 * t + 1] += ferr.abs().sum()
            self.sums[2 * t + 2] += ferr.square().sum()
            self.sums[2 * t + 3] += ferr.numel()
            pred_f = pred_forces.detach().to(torch.float64).cpu().reshape(-1, 3)
            ref_f = forces.detach().to(torch.float64).cpu().reshape(-1, 3)
            ref_norm, pred_norm = ref_f.norm(dim=1), pred_f.norm(dim=1)
            keep = ref_norm > 0
            cos = (pred_f * ref_f).sum(1)[keep] / (ref_norm[keep] * pred_norm[keep]).clamp(min=1e-30)
            self.sums[2 * t + 6] += cos.sum()
            self.sums[2 * t + 7] += cos.numel()
        if loss is not None:
            self.sums[2 * t + 4] += loss * err.shape[0]
            self.sums[2 * t + 5] += err.shape[0]

    def all_reduce(self) -> None:
        """Sums the accumulators of every process (no-op when not distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.sums)

    def result(self, names: Sequence[str]) -> dict[str, float]:
        """``{"mae_<name>", "rmse_<name>", ["force_mae", "force_rmse" (eV/Å), "force_cos"], ["loss"]}``."""
        t = self.num_targets
        n = max(float(self.sums[2 * t]), 1.0)
        out = {}
        for k, name in enumerate(names):
            out[f"mae_{name}"] = float(self.sums[k]) / n
            out[f"rmse_{name}"] = math.sqrt(float(self.sums[t + k]) / n)
        if self.sums[2 * t + 3] > 0:
            out["force_mae"] = float(self.sums[2 * t + 1] / self.sums[2 * t + 3])
            out["force_rmse"] = math.sqrt(float(self.sums[2 * t + 2] / self.sums[2 * t + 3]))
        if self.sums[2 * t + 7] > 0:
            out["force_cos"] = float(self.sums[2 * t + 6] / self.sums[2 * t + 7])
        if self.sums[2 * t + 5] > 0:
            out["loss"] = float(self.sums[2 * t + 4] / self.sums[2 * t + 5])
        return out


def write_metrics_csv(path, history: list[dict]) -> None:
    """One row per epoch, columns the union of the history's keys (first-seen order)."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, buffer.getvalue())


def write_json(path, payload: dict) -> None:
    """Pretty JSON, written atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
