"""Learning-rate schedules: linear warm-up per step, then plateau cuts or exponential decay per epoch.

Both expose the same interface to the training loop: :meth:`step_batch` after
every optimizer step, :meth:`step_epoch` with the validation selection value
after every epoch, ``lr``, ``steps`` and ``state_dict``/``load_state_dict``.
"""

from __future__ import annotations

import torch

RELATIVE_THRESHOLD = 1e-4


def improves(value: float, best: float, higher_is_better: bool = False,
             threshold: float = RELATIVE_THRESHOLD) -> bool:
    """Whether ``value`` beats ``best`` by more than a relative ``threshold``.

    The relative threshold keeps noise-level gains from counting as
    improvements; ``best`` may be ``inf`` (or ``-inf`` when higher is better)
    before the first epoch.
    """
    if higher_is_better:
        return value > best * (1 + threshold) if best >= 0 else value > best * (1 - threshold)
    return value < best * (1 - threshold) if best >= 0 else value < best * (1 + threshold)


def warmup_factor(steps: int, warmup_steps: int) -> float:
    """Linear warm-up from 1/100 to 1 over ``warmup_steps`` optimizer steps."""
    return min(1.0, 0.01 + 0.99 * steps / warmup_steps) if warmup_steps > 0 else 1.0


class WarmupSchedule:
    """Base of the schedules: a linear warm-up over ``warmup_steps`` optimizer steps times what
    :meth:`epoch_factor` says, written into the optimizer's parameter groups after every change."""

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, warmup_steps: int):
        self.optimizer = optimizer
        self.base_lr = lr
        self.warmup_steps = warmup_steps
        self.steps = 0

    def epoch_factor(self) -> float:
        """The factor the epochs so far put on the learning rate."""
        return 1.0

    @property
    def lr(self) -> float:
        return self.base_lr * self.epoch_factor() * warmup_factor(self.steps, self.warmup_steps)

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def step_batch(self) -> None:
        self.steps += 1
        self._apply()


class WarmupPlateau(WarmupSchedule):
    """Warm-up from ``lr / 100`` to ``lr`` over ``warmup_steps`` optimizer steps,
    then multiply by ``factor`` whenever the validation loss has not improved
    for ``patience`` epochs, never going below ``min_lr``.

    Call :meth:`step_batch` after every optimizer step and :meth:`step_epoch`
    with the validation loss after every epoch (``higher_is_better``: a
    validation metric to maximise, such as the MRR, instead).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, warmup_steps: int = 100,
                 patience: int = 10, factor: float = 0.5, min_lr: float = 1e-6, higher_is_better: bool = False):
        super().__init__(optimizer, lr, warmup_steps)
        self.patience = patience
        self.factor = factor
        self.min_lr = min_lr
        self.scale = 1.0  # product of plateau cuts
        self.higher_is_better = higher_is_better
        self.best = float("-inf") if higher_is_better else float("inf")
        self.bad_epochs = 0
        self._apply()

    def epoch_factor(self) -> float:
        # min_lr bounds the plateau cuts (in step_epoch), not the warm-up.
        return self.scale

    def step_epoch(self, val_loss: float) -> None:
        if improves(val_loss, self.best, self.higher_is_better):
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


class ExponentialDecay(WarmupSchedule):
    """Warm-up from ``lr / 100`` to ``lr`` over ``warmup_steps`` optimizer steps, times ``decay`` after every epoch.

    ``lr_epoch = lr * decay ** epochs_done`` (ConvE's schedule: 0.995 per
    epoch); the validation value given to :meth:`step_epoch` is not used.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, decay: float = 0.995, warmup_steps: int = 0):
        if not 0 < decay <= 1:
            raise ValueError(f"decay must lie in (0, 1], got {decay}")
        super().__init__(optimizer, lr, warmup_steps)
        self.decay = decay
        self.epochs = 0
        self._apply()

    def epoch_factor(self) -> float:
        return self.decay ** self.epochs

    def step_epoch(self, value: float | None = None) -> None:
        self.epochs += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.epochs = state["steps"], state["epochs"]
        self._apply()
