"""Cormorant's radial functions: a trainable sine/cosine basis and a trainable soft cutoff.

Anderson, Hy & Kondor, "Cormorant: Covariant Molecular Neural Networks",
NeurIPS 2019: the pair features of every level are built from
``sin(f_k r + phi_k) r^-p`` and ``cos(f_k r + phi_k) r^-p`` with trainable
frequencies f_k and phases phi_k and powers p = 0..3, and pair messages are
weighted by ``sigmoid((r_c - r) / w)`` with trainable r_c and w.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.functional import softplus

__all__ = ["SineRadialBasis", "SoftCutoff"]


class SineRadialBasis(nn.Module):
    """``[sin(f_k r + phi_k), cos(f_k r + phi_k)] * r^-p`` for k < K, p = 0..max_power.

    Args:
        num_basis: K frequencies.
        cutoff: Å; the frequencies start spread over (0, K pi / cutoff].
        max_power: largest inverse power p of the distance (3 in the paper).

    Shapes: distance (E,) in Å -> (E, 2 K (max_power + 1)). Distances must be
    positive (the radius graph has no self-pairs).
    """

    def __init__(self, num_basis: int = 10, cutoff: float = 5.0, max_power: int = 3):
        super().__init__()
        if num_basis < 1 or max_power < 0 or cutoff <= 0:
            raise ValueError(f"SineRadialBasis needs num_basis >= 1, max_power >= 0 and cutoff > 0 Å, got "
                             f"{num_basis}, {max_power}, {cutoff}")
        self.num_basis = int(num_basis)
        self.max_power = int(max_power)
        self.frequency = nn.Parameter(torch.arange(1, num_basis + 1, dtype=torch.float32) * (math.pi / cutoff))
        self.phase = nn.Parameter(torch.zeros(num_basis))

    @property
    def num_features(self) -> int:
        return 2 * self.num_basis * (self.max_power + 1)

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        angle = distance.unsqueeze(-1) * self.frequency + self.phase
        waves = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)  # (E, 2K)
        inverse = distance.reciprocal().unsqueeze(-1)
        powers = torch.cat([torch.ones_like(inverse)] + [inverse ** p for p in range(1, self.max_power + 1)], dim=-1)
        return (waves.unsqueeze(-1) * powers.unsqueeze(-2)).flatten(-2)

    def extra_repr(self) -> str:
        return f"num_basis={self.num_basis}, max_power={self.max_power}"


class SoftCutoff(nn.Module):
    """Per-channel ``sigmoid((r_c - r) / w)`` with trainable r_c (Å) and width w (Å, kept positive).

    The sigmoid never reaches zero, so models multiply it with a smooth
    envelope that does (:class:`geognn.nn.CosineCutoff` at the graph's cutoff):
    the energy then stays continuous when an atom crosses the graph cutoff.

    Args:
        num_channels: C.
        radius: initial r_c in Å, one value for every channel or a (low, high)
            pair spread evenly over the channels (short- and long-range channels).
        width: initial w in Å.

    Shapes: distance (E,) in Å -> (E, C) in (0, 1).
    """

    # The argument is clamped here: exp(-30) stays a normal float32, while a
    # learned narrow width could otherwise push weights into the subnormal
    # range, where CPU matrix products are many times slower.
    MIN_ARGUMENT = -30.0

    def __init__(self, num_channels: int, radius: float | tuple[float, float], width: float = 0.2):
        super().__init__()
        low, high = (radius, radius) if isinstance(radius, (int, float)) else radius
        if min(low, high) <= 0 or width <= 0:
            raise ValueError(f"SoftCutoff needs radius > 0 and width > 0 Å, got {radius} and {width}")
        self.radius = nn.Parameter(torch.linspace(float(low), float(high), num_channels))
        # softplus(raw) = width
        self.raw_width = nn.Parameter(torch.full((num_channels,), math.log(math.expm1(width))))

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        argument = (self.radius - distance.unsqueeze(-1)) / softplus(self.raw_width)
        return torch.sigmoid(argument.clamp(min=self.MIN_ARGUMENT))
