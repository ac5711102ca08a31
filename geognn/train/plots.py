"""Learning-curve and parity plots (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from geognn.train.checkpoint import atomic_write_bytes  # noqa: E402


def _save(fig, path) -> None:
    atomic_write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))
    plt.close(fig)


def plot_learning_curve(history: list[dict], path, metric: str, loss_label: str = "loss (standardised MSE)",
                        log_metric: bool = True, metric_label: str | None = None) -> None:
    """Training loss, validation loss (when the history has one) and the validation ``metric`` per epoch.

    ``log_metric``: draw the metric on a log axis (errors); else linear (an MRR in [0, 1]).
    ``metric_label``: how the metric is named on the plot (default: its key).
    """
    metric_label = metric_label or metric
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [row.get("train_loss", np.nan) for row in history], label="train")
    if any("val_loss" in row for row in history):
        ax_loss.plot(epochs, [row.get("val_loss", np.nan) for row in history], label="validation")
    ax_loss.set(xlabel="epoch", ylabel=loss_label, yscale="log", title="Loss")
    ax_loss.legend()
    ax_metric.plot(epochs, [row.get(f"val_{metric}", np.nan) for row in history], color="C2")
    ax_metric.set(xlabel="epoch", ylabel=metric_label, yscale="log" if log_metric else "linear",
                  title=f"Validation {metric_label}")
    fig.tight_layout()
    _save(fig, path)


def plot_parity(pred: np.ndarray, true: np.ndarray, names: Sequence[str], units: Sequence[str], path,
                title: str = "") -> None:
    """Predicted vs reference, one panel per target, with MAE in the corner.

    Args:
        pred, true: (B, T) arrays in the targets' units.
    """
    pred, true = np.asarray(pred).reshape(len(pred), -1), np.asarray(true).reshape(len(true), -1)
    t = pred.shape[1]
    fig, axes = plt.subplots(1, t, figsize=(4.5 * t, 4.2), squeeze=False)
    for k, ax in enumerate(axes[0]):
        lo = float(min(pred[:, k].min(), true[:, k].min()))
        hi = float(max(pred[:, k].max(), true[:, k].max()))
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
        ax.scatter(true[:, k], pred[:, k], s=6, alpha=0.6)
        mae = float(np.abs(pred[:, k] - true[:, k]).mean())
        ax.text(0.04, 0.94, f"MAE {mae:.4g} {units[k]}\nn = {len(pred)}", transform=ax.transAxes, va="top")
        ax.set(xlabel=f"reference {names[k]} ({units[k]})", ylabel=f"predicted {names[k]} ({units[k]})",
               title=title)
    fig.tight_layout()
    _save(fig, path)
