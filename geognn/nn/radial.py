"""Radial bases: expansions of an interatomic distance (Å) into smooth features.

Both bases here are written so that they cannot emit float32 subnormals
(magnitudes below ~1.2e-38). CPU matrix products slow down several-fold when an
operand holds subnormals, and a 50-centre Gaussian basis would otherwise put a
few percent of its outputs there (see DESIGN.md, "Performance traps"). The
Gaussian basis therefore returns exactly 0 wherever exp() would fall below
``GaussianRBF.floor`` (1e-30); the Bessel basis has no tiny-but-nonzero regime
except at isolated zero crossings, which are flushed the same way. This is done
inside the layer, so no process-wide flag (``torch.set_flush_denormal``) is
needed.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Values below this are replaced by exact zeros. ln(1e-30) = -69.08: Gaussians
# that far down the tail carry no information in float32 (they are 1e-30 of
# the peak) and are 8 orders of magnitude above the subnormal range.
SUBNORMAL_FLOOR = 1e-30
_LOG_FLOOR = math.log(SUBNORMAL_FLOOR)


def gaussian_rbf(distance: torch.Tensor, centers: torch.Tensor, gamma: float | torch.Tensor) -> torch.Tensor:
    """``exp(-gamma * (d - mu_k)^2)``, with values below 1e-30 set to exactly 0.

    Args:
        distance: (E,) distances in Å.
        centers: (K,) centres mu_k in Å.
        gamma: width parameter in Å^-2.

    Returns:
        (E, K) basis values in [0, 1].
    """
    exponent = -gamma * (distance.unsqueeze(-1) - centers) ** 2
    # exp() is clamped first so that it never computes a subnormal either (on
    # this CPU exp() is about 10x slower on inputs whose result is subnormal);
    # torch.where (not the clamp alone) so the cut entries are exact zeros with
    # zero gradient, rather than a constant 1e-30 that still flows through matmuls.
    keep = exponent > _LOG_FLOOR
    return torch.where(keep, torch.exp(exponent.clamp_min(_LOG_FLOOR)), torch.zeros_like(exponent))


class GaussianRBF(nn.Module):
    """Gaussian radial basis of SchNet: K centres evenly spaced in [start, stop].

    ``f_k(d) = exp(-gamma (d - mu_k)^2)`` with ``mu_k = start + k (stop - start) / (K - 1)``
    and, by default, ``gamma = 0.5 / spacing^2`` (the width equals the spacing,
    as in SchNet: 50 centres over 0-5 Å give gamma = 48.0 Å^-2).

    Args:
        num_rbf: number of centres K (>= 1).
        start, stop: first and last centre in Å.
        gamma: width parameter in Å^-2; default from the spacing as above.
        trainable: learn centres and width.

    Shapes: distance (E,) in Å -> (E, K). Outputs below 1e-30 are exact zeros
    (subnormal-free, see the module docstring).
    """

    floor = SUBNORMAL_FLOOR

    def __init__(self, num_rbf: int = 50, start: float = 0.0, stop: float = 5.0, gamma: float | None = None,
                 trainable: bool = False):
        super().__init__()
        if num_rbf < 1:
            raise ValueError(f"GaussianRBF needs num_rbf >= 1, got {num_rbf}")
        if stop < start:
            raise ValueError(f"GaussianRBF needs stop >= start, got start={start} Å, stop={stop} Å")
        centers = torch.linspace(start, stop, num_rbf, dtype=torch.get_default_dtype())
        if gamma is None:
            spacing = (stop - start) / (num_rbf - 1) if num_rbf > 1 else max(stop - start, 1.0)
            if spacing <= 0:
                raise ValueError("GaussianRBF: start == stop with several centres; give gamma explicitly")
            gamma = 0.5 / spacing**2
        if gamma <= 0:
            raise ValueError(f"GaussianRBF needs gamma > 0 (Å^-2), got {gamma}")
        gamma_t = torch.tensor(float(gamma), dtype=torch.get_default_dtype())
        if trainable:
            self.centers = nn.Parameter(centers)
            self.gamma = nn.Parameter(gamma_t)
        else:
            self.register_buffer("centers", centers)
            self.register_buffer("gamma", gamma_t)
        self.num_rbf = num_rbf

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        return gaussian_rbf(distance, self.centers, self.gamma)

    def extra_repr(self) -> str:
        return f"num_rbf={self.num_rbf}, gamma={float(self.gamma):.4g} Å^-2"


class BesselRBF(nn.Module):
    """Spherical Bessel (sine) basis of DimeNet: ``sqrt(2/c) sin(n pi d / c) / d``, n = 1..K.

    At d = 0 the limit ``sqrt(2/c) n pi / c`` is returned instead of 0/0.

    Args:
        num_rbf: number of frequencies K (>= 1).
        cutoff: c in Å (> 0); every function is 0 at d = c.
        trainable: learn the frequencies.

    Shapes: distance (E,) in Å -> (E, K), in Å^-3/2.
    """

    def __init__(self, num_rbf: int = 20, cutoff: float = 5.0, trainable: bool = False):
        super().__init__()
        if num_rbf < 1:
            raise ValueError(f"BesselRBF needs num_rbf >= 1, got {num_rbf}")
        if cutoff <= 0:
            raise ValueError(f"BesselRBF needs cutoff > 0 Å, got {cutoff}")
        # Fixed frequencies are recomputed in the input's dtype at each call, so
        # a float64 model gets pi / c to float64 precision (a float32 buffer cast
        # up would leave 1e-7 residuals at d = c).
        self.frequencies = (
            nn.Parameter(torch.arange(1, num_rbf + 1, dtype=torch.get_default_dtype()) * math.pi / cutoff)
            if trainable else None
        )
        self.cutoff = float(cutoff)
        self.num_rbf = num_rbf
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        d = distance.unsqueeze(-1)
        freq = self.frequencies
        if freq is None:
            freq = torch.arange(1, self.num_rbf + 1, dtype=d.dtype, device=d.device) * (math.pi / self.cutoff)
        # Safe denominator: the d -> 0 limit is taken separately, and the
        # where() keeps NaN gradients from the 0/0 branch out of backward.
        small = d < 1e-6
        d_safe = torch.where(small, torch.ones_like(d), d)
        values = torch.where(small, freq.expand(d.shape[:-1] + freq.shape), torch.sin(freq * d_safe) / d_safe)
        values = self.prefactor * values
        # sin() passes through zero at d = m c / n; flush the last few ulps there.
        return torch.where(values.abs() > SUBNORMAL_FLOOR, values, torch.zeros_like(values))

    def extra_repr(self) -> str:
        return f"num_rbf={self.num_rbf}, cutoff={self.cutoff} Å"
