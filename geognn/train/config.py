"""Hyperparameters of a training run, with units and defaults in one place.

The command line builds its ``--help`` from the field descriptions here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("warmup-plateau", "exponential")


def _opt(default, help: str, choices: tuple | None = None):
    return field(default=default, metadata={"help": help, "choices": choices})


# What differs from the molecule defaults when training knowledge-graph embeddings (ConvE): the recipe
# of the ConvE README that reproduced the paper (Adam, lr 0.003 decayed by 0.995 per epoch, batches of
# 128, label smoothing 0.1, no warm-up, clipping or weight averaging), with selection and early stopping
# on the validation MRR.
LINK_PREDICTION_DEFAULTS: dict[str, Any] = dict(
    epochs=500, batch_size=128, lr=0.003, optimizer="adam", schedule="exponential", lr_decay=0.995,
    warmup_steps=0, early_stopping_patience=50, grad_clip=0.0, ema_decay=0.0, label_smoothing=0.1,
)
# The force-field recipe (energies and forces of MD frames, e.g. xTB-MD17), what differs from the molecule
# defaults: SchNetPack's MD17 recipe (loss weights 0.01 energy / 0.99 forces on mean squared errors, so
# forces count 99 times as much per (eV/Å)^2 as energies per eV^2; batches of 10; lr 1e-3 halved on
# validation plateaus; EMA of the weights; no warm-up and no gradient clipping) with patience scaled to
# budgets of a few hundred epochs. On xTB-MD17 ethanol (SchNet 64/3, seed 0, 30 epochs) dropping the
# molecule defaults' warm-up (200 steps) and clipping (norm 10) took the validation force MAE from 49.5 to
# 46.4 meV/Å. Per-atom energies are scaled by the RMS of the training forces (ForceFieldRegression.prepare).
# Adam rather than AdamW: without weight decay they are the same update, and Adam runs torch's fused kernel,
# which matters at batches of 10 (the optimiser step of a 60k-weight SchNet: 7.8 ms -> 1.4 ms on this CPU).
FORCE_FIELD_DEFAULTS: dict[str, Any] = dict(
    epochs=300, batch_size=10, lr=1e-3, optimizer="adam", weight_decay=0.0, energy_weight=0.01, force_weight=0.99,
    warmup_steps=0, grad_clip=0.0,
    plateau_patience=15, plateau_factor=0.5, early_stopping_patience=60, ema_decay=0.995, min_lr=1e-5,
)
TASK_DEFAULTS: dict[str, dict[str, Any]] = {"molecule_regression": {}, "link_prediction": LINK_PREDICTION_DEFAULTS,
                                            "force_field": FORCE_FIELD_DEFAULTS}


@dataclass
class TrainConfig:
    """Everything the training loop needs besides the model and the data."""

    epochs: int = _opt(100, "maximum number of passes over the training set")
    batch_size: int = _opt(100, "molecules (link prediction: (head, relation) queries) per batch, per process "
                           "under torchrun")
    lr: float = _opt(5e-4, "peak learning rate of Adam (AdamW), reached after the warm-up")
    weight_decay: float = _opt(0.0, "weight decay: decoupled with adamw, L2 added to the gradient with adam")
    optimizer: str = _opt("adamw", "adamw (AdamW) or adam (Adam)", OPTIMIZERS)
    schedule: str = _opt("warmup-plateau", "learning-rate schedule: warmup-plateau (linear warm-up, then cuts on "
                         "validation plateaus) or exponential (warm-up, then times lr_decay after every epoch)",
                         SCHEDULES)
    lr_decay: float = _opt(0.995, "with the exponential schedule: factor the learning rate is multiplied by "
                           "after every epoch")
    warmup_steps: int = _opt(100, "optimizer steps of linear learning-rate warm-up from lr/100")
    plateau_patience: int = _opt(10, "epochs without validation improvement before the learning rate is cut")
    plateau_factor: float = _opt(0.5, "factor the learning rate is multiplied by on a plateau")
    min_lr: float = _opt(1e-6, "the learning rate is never cut below this")
    early_stopping_patience: int = _opt(30, "epochs without validation improvement before training stops (0: never)")
    grad_clip: float = _opt(10.0, "maximum global gradient norm (0: no clipping)")
    ema_decay: float = _opt(0.99, "decay of the exponential moving average of weights used for evaluation (0: off)")
    energy_weight: float = _opt(1.0, "weight of the (standardised) target term in the loss")
    force_weight: float = _opt(0.0, "weight of the force term in the loss, in (eV/Å)^-2 relative units (0: no forces)")
    label_smoothing: float = _opt(0.1, "link prediction: binary targets become (1 - eps) * target + 1 / num_entities")
    seed: int = _opt(0, "seed of weights, shuffling and everything random")
    device: str = _opt("auto", "'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available)")
    progress: bool = _opt(True, "show progress bars (epoch and batch, with loss and ETA)")
    fit_atomref: bool = _opt(True, "fit per-element reference values on the training set (sum readout only)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_task(cls, task: str, **options) -> "TrainConfig":
        """The defaults of ``task`` ("molecule_regression" or "link_prediction"), overridden by ``options``."""
        if task not in TASK_DEFAULTS:
            raise ValueError(f"unknown task {task!r}; known: {sorted(TASK_DEFAULTS)}")
        return cls.from_dict({**TASK_DEFAULTS[task], **options})

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
        for name, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must lie in (0, 1], got {self.lr_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        if self.energy_weight == 0 and self.force_weight == 0:
            raise ValueError("energy_weight and force_weight are both 0: nothing to train on")
