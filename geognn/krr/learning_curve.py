"""Learning curves of kernel models: test error against training-set size, on log-log axes, with the slope.

The standard figure of the field (Rupp et al. 2012, Hansen et al. 2013): for
kernel ridge regression the error falls as a power of the training-set size,
``MAE ~ a N^b``, a straight line of slope b on log-log axes. The slope is
fitted by least squares on (log10 N, log10 MAE).
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from geognn.train.checkpoint import atomic_write_bytes  # noqa: E402

__all__ = ["fit_power_law", "plot_learning_curve"]


def fit_power_law(sizes: Sequence[float], errors: Sequence[float]) -> dict[str, float | None]:
    """Least-squares fit of ``log10 error = intercept + slope * log10 size``.

    Returns ``{"slope", "intercept", "prefactor"}`` (prefactor = 10**intercept,
    the error at N = 1 in the errors' unit); all None with fewer than two sizes.
    """
    sizes, errors = np.asarray(sizes, dtype=float), np.asarray(errors, dtype=float)
    if sizes.shape != errors.shape:
        raise ValueError(f"{sizes.size} sizes but {errors.size} errors")
    keep = (sizes > 0) & (errors > 0) & np.isfinite(errors)
    if keep.sum() < 2 or np.unique(sizes[keep]).size < 2:
        return {"slope": None, "intercept": None, "prefactor": None}
    slope, intercept = np.polyfit(np.log10(sizes[keep]), np.log10(errors[keep]), 1)
    return {"slope": float(slope), "intercept": float(intercept), "prefactor": float(10 ** intercept)}


def plot_learning_curve(sizes: Sequence[int], errors: dict[str, Sequence[float]], units: Sequence[str], path,
                        title: str = "", label: str = "test MAE") -> None:
    """Writes a log-log plot of ``errors[target]`` against ``sizes`` with each fitted slope (PNG, atomically).

    Args:
        sizes: training-set sizes (molecules).
        errors: per target name, the error at each size (in that target's unit).
        units: one unit per target, in the order of ``errors``.
    """
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for k, ((name, values), unit) in enumerate(zip(errors.items(), units)):
        fit = fit_power_law(sizes, values)
        text = f"{name} ({unit})"
        if fit["slope"] is not None:
            text += f", slope {fit['slope']:.2f}"
            grid = np.geomspace(min(sizes), max(sizes), 50)
            ax.plot(grid, fit["prefactor"] * grid ** fit["slope"], color=f"C{k}", lw=1, alpha=0.6)
        ax.plot(sizes, values, "o", color=f"C{k}", label=text)
    ax.set(xscale="log", yscale="log", xlabel="training molecules N", ylabel=label, title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))
    plt.close(fig)


def error_at(fit: dict[str, float | None], size: float) -> float | None:
    """The fitted error at ``size`` (None when there is no fit)."""
    if fit["slope"] is None:
        return None
    return float(fit["prefactor"] * math.pow(size, fit["slope"]))
