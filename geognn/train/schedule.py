"""Learning-rate schedule: linear warm-up per step, then plateau decay per epoch."""

from __future__ import annotations

import torch


class WarmupPlateau:
    """Warm-up from ``lr / 100`` to ``lr`` over ``warmup_steps`` optimizer steps,
    then multiply by ``factor`` whenever the validation loss has not improved
    for ``patience`` epochs, never going below ``min_lr``.

    Call :meth:`step_batch` after every optimizer step and :meth:`step_epoch`
    with the validation loss after every epoch.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, warmup_steps: int = 100,
                 patience: int = 10, factor: float = 0.5, min_lr: float = 1e-6):
        self.optimizer = optimizer
        self.base_lr = lr
        self.warmup_steps = warmup_steps
        self.patience = patience
        self.factor = factor
        self.min_lr = min_lr
        self.steps = 0
        self.scale = 1.0  # product of plateau cuts
        self.best = float("inf")
        self.bad_epochs = 0
        self._apply()

    @property
    def lr(self) -> float:
        warm = min(1.0, 0.01 + 0.99 * self.steps / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        # min_lr bounds the plateau cuts (in step_epoch), not the warm-up.
        return self.base_lr * self.scale * warm

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def step_batch(self) -> None:
        self.steps += 1
        self._apply()

    def step_epoch(self, val_loss: float) -> None:
        # A relative threshold keeps noise-level improvements from resetting patience.
        if val_loss < self.best * (1 - 1e-4):
            self.best, self.bad_epochs = val_loss, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.scale = max(self.scale * self.factor, self.min_lr / self.base_lr)
                self.bad_epochs = 0
        self._apply()

    def state_dict(self) -> dict:
        return {"steps": self.steps, "scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.scale, self.best, self.bad_epochs = (
            state["steps"], state["scale"], state["best"], state["bad_epochs"])
        self._apply()
