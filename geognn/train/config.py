"""Hyperparameters of a training run, with units and defaults in one place.

The command line builds its ``--help`` from the field descriptions here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Everything the training loop needs besides the model and the data."""

    epochs: int = _opt(100, "maximum number of passes over the training set")
    batch_size: int = _opt(100, "molecules per batch (per process under torchrun)")
    lr: float = _opt(5e-4, "peak learning rate of Adam (AdamW), reached after the warm-up")
    weight_decay: float = _opt(0.0, "decoupled weight decay of AdamW")
    warmup_steps: int = _opt(100, "optimizer steps of linear learning-rate warm-up from lr/100")
    plateau_patience: int = _opt(10, "epochs without validation improvement before the learning rate is cut")
    plateau_factor: float = _opt(0.5, "factor the learning rate is multiplied by on a plateau")
    min_lr: float = _opt(1e-6, "the learning rate is never cut below this")
    early_stopping_patience: int = _opt(30, "epochs without validation improvement before training stops (0: never)")
    grad_clip: float = _opt(10.0, "maximum global gradient norm (0: no clipping)")
    ema_decay: float = _opt(0.99, "decay of the exponential moving average of weights used for evaluation (0: off)")
    energy_weight: float = _opt(1.0, "weight of the (standardised) target term in the loss")
    force_weight: float = _opt(0.0, "weight of the force term in the loss, in (eV/Å)^-2 relative units (0: no forces)")
    seed: int = _opt(0, "seed of weights, shuffling and everything random")
    device: str = _opt("auto", "'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available)")
    progress: bool = _opt(True, "show progress bars (epoch and batch, with loss and ETA)")
    fit_atomref: bool = _opt(True, "fit per-element reference values on the training set (sum readout only)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training options: {sorted(unknown)}")
        return cls(**values)

    def validate(self) -> None:
        """Raises ValueError naming the first option out of range."""
        positive = ("epochs", "batch_size", "lr")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        non_negative = ("weight_decay", "warmup_steps", "plateau_patience", "min_lr", "early_stopping_patience",
                        "grad_clip", "energy_weight", "force_weight")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.plateau_factor < 1:
            raise ValueError(f"plateau_factor must lie in (0, 1), got {self.plateau_factor}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")
        if self.energy_weight == 0 and self.force_weight == 0:
            raise ValueError("energy_weight and force_weight are both 0: nothing to train on")
