"""Shifted softplus, SchNet's activation."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

_LN2 = math.log(2.0)


def shifted_softplus(x: torch.Tensor) -> torch.Tensor:
    """``ssp(x) = ln(1 + e^x) - ln 2``: smooth, ssp(0) = 0, slope 1/2 at 0. Any shape."""
    return F.softplus(x) - _LN2


class ShiftedSoftplus(nn.Module):
    """Module form of :func:`shifted_softplus` (elementwise, any shape)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x) - _LN2
