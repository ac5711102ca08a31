"""Cutoff functions: smooth envelopes that take edge weights to zero at the cutoff.

Each maps distances d (Å) to weights in [0, 1], equal to 1 (or close) at d = 0
and reaching 0 at d = cutoff with zero first derivative, so an atom entering or
leaving a neighbourhood changes the energy continuously (and forces too). Both
return exactly 0 for d >= cutoff, so edges longer than the cutoff are harmless.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class CosineCutoff(nn.Module):
    """``f(d) = 0.5 (cos(pi d / c) + 1)`` for d < c, else 0 (Behler's cutoff, used by SchNet).

    Args:
        cutoff: c in Å (> 0).

    Shapes: distance (E,) in Å -> (E,) dimensionless.
    """

    def __init__(self, cutoff: float = 5.0):
        super().__init__()
        if cutoff <= 0:
            raise ValueError(f"CosineCutoff needs cutoff > 0 Å, got {cutoff}")
        self.cutoff = float(cutoff)

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        value = 0.5 * (torch.cos(distance * (math.pi / self.cutoff)) + 1.0)
        return torch.where(distance < self.cutoff, value, torch.zeros_like(value))

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff} Å"


class PolynomialCutoff(nn.Module):
    """Polynomial envelope of DimeNet with exponent p, in x = d / c:

    ``f(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)`` for x < 1, else 0.

    f(0) = 1, and f, f' and f'' vanish at x = 1.

    Args:
        cutoff: c in Å (> 0).
        p: exponent (>= 1), 6 by default.

    Shapes: distance (E,) in Å -> (E,) dimensionless.
    """

    def __init__(self, cutoff: float = 5.0, p: int = 6):
        super().__init__()
        if cutoff <= 0:
            raise ValueError(f"PolynomialCutoff needs cutoff > 0 Å, got {cutoff}")
        if p < 1:
            raise ValueError(f"PolynomialCutoff needs p >= 1, got {p}")
        self.cutoff = float(cutoff)
        self.p = int(p)

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = distance / self.cutoff
        xp = x**p
        value = 1.0 - 0.5 * (p + 1) * (p + 2) * xp + p * (p + 2) * xp * x - 0.5 * p * (p + 1) * xp * x * x
        return torch.where(x < 1.0, value, torch.zeros_like(value))

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff} Å, p={self.p}"
