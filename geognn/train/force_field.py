"""The force-field task: energies and forces of MD frames (e.g. xTB-MD17), the field's recipe and metrics.

What differs from :class:`geognn.train.MoleculeRegression` (whose loss, loop and
checkpoints it keeps):

* **Per-atom energy scaling.** The model's per-atom output ``o_i`` becomes
  ``E_i = s * o_i + mu + atomref[z_i]``, with the shift ``mu`` the mean per-atom energy
  and the scale ``s`` the RMS of the training forces (eV/Å times 1 Å = eV), as NequIP and
  MACE scale: the network then predicts O(1) numbers whose position derivatives are O(1)
  forces. (The molecule default, the per-atom energy std, is ~0.02 eV for a 500 K aspirin
  trajectory, 40 times smaller than its forces, which makes forces huge derivatives of
  tiny outputs.) Both loss terms are divided by ``s``, so the weights keep their ratio
  in physical units: ``force_weight / energy_weight`` per (eV/Å)^2 against per eV^2.
* **Metrics of the field**, per split: energy MAE in meV (``energy_mae_meV``), force MAE in
  meV/Å (``force_mae_meV``), force RMSE and the mean cosine similarity of predicted and
  reference force vectors per atom (``force_cos``), besides the eV ones.

The recipe's defaults are :data:`geognn.train.config.FORCE_FIELD_DEFAULTS`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from geognn.train.molecules import MoleculeRegression


def force_rms(train_set: Sequence) -> float:
    """RMS of every force component of ``train_set`` (eV/Å); raises ValueError without forces."""
    total, count = 0.0, 0
    for d in train_set:
        forces = getattr(d, "forces", None)
        if forces is None:
            raise ValueError("the force-field task needs forces for every training frame")
        total += float(forces.double().square().sum())
        count += forces.numel()
    if count == 0 or total == 0:
        raise ValueError("the training forces are all zero: no scale to fit")
    return math.sqrt(total / count)


def add_field_units(metrics: dict, energy_name: str) -> dict:
    """Adds the field's units to eV metrics: ``energy_mae_meV``/``energy_rmse_meV`` and
    ``force_mae_meV``/``force_rmse_meV`` (meV/Å); returns ``metrics``."""
    if f"mae_{energy_name}" in metrics:
        metrics["energy_mae_meV"] = 1000.0 * metrics[f"mae_{energy_name}"]
        metrics["energy_rmse_meV"] = 1000.0 * metrics[f"rmse_{energy_name}"]
    if "force_mae" in metrics:
        metrics["force_mae_meV"] = 1000.0 * metrics["force_mae"]
        metrics["force_rmse_meV"] = 1000.0 * metrics["force_rmse"]
    return metrics


class ForceFieldRegression(MoleculeRegression):
    """Energy (eV) and force (eV/Å) regression of frames of molecules; see the module docstring.

    Args:
        config: the run's :class:`TrainConfig`; ``force_weight`` must be > 0.
        energy_name: name of the energy target (``y[:, 0]``, eV).
    """

    name = "force_field"

    def __init__(self, config, energy_name: str = "energy"):
        if config.force_weight <= 0:
            raise ValueError("the force-field task trains on forces: give force_weight > 0")
        super().__init__(config, [energy_name], ["eV"], size_buckets=0)
        self.largest_fraction = 0.0  # every frame has the same atoms: no size groups
        self.energy_scale: float | None = None
        self.curve_metric = "force_mae"

    def prepare(self, model: nn.Module, train_set: Sequence) -> None:
        """Shift (per-element references and mean per-atom energy) as the molecule task fits it, then the
        scale replaced by the RMS of the training forces."""
        super().prepare(model, train_set)
        if not hasattr(model, "set_target_statistics"):
            return
        if getattr(model, "readout", "sum") != "sum":
            raise ValueError("a force field sums per-atom energies: train it with readout 'sum'")
        self.energy_scale = force_rms(train_set)
        model.set_target_statistics(model.target_mean.clone(), torch.tensor([self.energy_scale]))

    def evaluate(self, model: nn.Module, dataset: Sequence, ctx, shard: bool, collect: bool):
        metrics, collected = super().evaluate(model, dataset, ctx, shard, collect)
        return add_field_units(metrics, self.target_names[0]), collected

    def progress(self, metrics: dict) -> dict[str, str]:
        return {"val_E": f"{metrics['energy_mae_meV']:.3g} meV", "val_F": f"{metrics['force_mae_meV']:.3g} meV/Å"}

    def summary_extras(self) -> dict:
        extras = super().summary_extras()
        if self.energy_scale is not None:
            extras["energy_scale_eV"] = self.energy_scale
        return extras


def evaluate_splits(trainer, sets: dict[str, Sequence], out_dir: Path | None = None) -> dict[str, dict]:
    """Metrics of the run's best weights (``best.pt``) on each named set, e.g. train/val/test.

    The trainer's model gets its final weights back afterwards. With ``out_dir`` the result
    is added to ``out_dir/metrics.json`` as ``"splits"``.
    """
    import json

    from geognn.train.checkpoint import load_checkpoint
    from geognn.train.metrics import write_json

    out_dir = Path(out_dir or trainer.out_dir)
    best = load_checkpoint(out_dir / "best.pt", map_location=trainer.ctx.device)
    final = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    ema, trainer.ema = trainer.ema, None  # best.pt holds the evaluation (EMA) weights already
    trainer.model.load_state_dict(best["model_state"])
    try:
        results = {name: trainer.evaluate(data, shard=False)[0] for name, data in sets.items() if len(data)}
    finally:
        trainer.model.load_state_dict(final)
        trainer.ema = ema
    path = out_dir / "metrics.json"
    if path.is_file():
        summary = json.loads(path.read_text(encoding="utf-8"))
        summary["splits"] = results
        write_json(path, summary)
    return results


def format_force_field_summary(summary: dict) -> str:
    """The per-split errors of a finished force-field run: energy MAE (meV), force MAE (meV/Å), cosine."""
    lines = [f"geognn: best epoch {summary['best_epoch']} of {summary['epochs_run']}; errors of the best weights:"]
    for name, m in summary.get("splits", {"": summary["metrics"]}).items():
        lines.append(f"  {name or summary['evaluated_on']:5}: energy MAE {m['energy_mae_meV']:.4g} meV, force MAE "
                     f"{m['force_mae_meV']:.4g} meV/Å (RMSE {m['force_rmse_meV']:.4g}), force cosine "
                     f"{m.get('force_cos', float('nan')):.4f}")
    return "\n".join(lines)
