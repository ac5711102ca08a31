"""Exponential moving average of model weights, used for evaluation."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class EMA:
    """Keeps ``shadow = d * shadow + (1 - d) * weights`` after every optimizer step.

    The decay ramps up as ``min(decay, (1 + t) / (10 + t))`` over the first
    steps t, so early averages are not dominated by the random initial weights.
    Buffers (e.g. target statistics) are copied, not averaged.

    Args:
        model: the module whose parameters are averaged.
        decay: long-run decay in [0, 1).
    """

    def __init__(self, model: nn.Module, decay: float = 0.99):
        if not 0 <= decay < 1:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.steps = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        params = dict(model.named_parameters())
        for key, value in model.state_dict().items():
            if key in params and value.is_floating_point():
                self.shadow[key].mul_(d).add_(value.detach(), alpha=1 - d)
            else:
                self.shadow[key].copy_(value)

    @torch.no_grad()
    def copy_buffers(self, model: nn.Module) -> None:
        """Copies the model's buffers (e.g. batch-norm statistics) into the shadow, as :meth:`update` does."""
        params = dict(model.named_parameters())
        for key, value in model.state_dict().items():
            if key not in params:
                self.shadow[key].copy_(value)

    @contextlib.contextmanager
    def applied(self, model: nn.Module):
        """Temporarily loads the averaged weights into ``model``."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(backup)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "steps": self.steps, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.steps = state["decay"], state["steps"]
        for key, value in state["shadow"].items():
            self.shadow[key].copy_(value)
