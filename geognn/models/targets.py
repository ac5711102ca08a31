"""Fitting the output scale of a model to its training targets.

Two pieces, both stored in the model as buffers so a checkpoint carries them:

* per-element reference energies ``atomref[Z]`` (eV): a least-squares fit of
  the molecular targets on the element counts, so the network only learns the
  part of the energy that composition does not explain;
* per-target mean and standard deviation of what remains, per atom for a
  ``"sum"`` readout (extensive targets such as U0) and per molecule for a
  ``"mean"`` readout (intensive targets such as the HOMO-LUMO gap).
"""

from __future__ import annotations

from typing import Sequence

import torch


def element_counts(zs: Sequence[torch.Tensor], max_z: int) -> torch.Tensor:
    """(B, max_z + 1) float64 matrix of how many atoms of each Z each molecule has."""
    counts = torch.zeros(len(zs), max_z + 1, dtype=torch.float64)
    for row, z in enumerate(zs):
        z = torch.as_tensor(z, dtype=torch.long).cpu()
        if z.numel() and (z.min() < 1 or z.max() > max_z):
            raise ValueError(f"molecule {row}: atomic numbers must lie in [1, {max_z}], got {z.tolist()}")
        counts[row] = torch.bincount(z, minlength=max_z + 1).to(torch.float64)
    return counts


def fit_atomref(zs: Sequence[torch.Tensor], y: torch.Tensor, max_z: int = 100) -> torch.Tensor:
    """Per-element reference values by least squares: ``y_b ~ sum_Z count_bZ * atomref[Z]``.

    Args:
        zs: B tensors of atomic numbers (n_b,).
        y: (B, T) molecular targets in their units (eV for energies).
        max_z: largest atomic number the model embeds.

    Returns:
        (max_z + 1, T) float64; elements absent from the data get 0. A
        minimum-norm solution is used when compositions are collinear.
    """
    y = torch.as_tensor(y, dtype=torch.float64).reshape(len(zs), -1)
    counts = element_counts(zs, max_z)
    present = counts.sum(0) > 0
    solution = torch.linalg.lstsq(counts[:, present], y, driver="gelsd").solution
    atomref = torch.zeros(max_z + 1, y.shape[1], dtype=torch.float64)
    atomref[present] = solution
    return atomref


def fit_target_statistics(zs: Sequence[torch.Tensor], y: torch.Tensor, readout: str | Sequence[str] = "sum",
                          atomref: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation the network output is scaled by.

    For a target with ``readout="sum"`` these are of the per-atom residual
    ``(y_b - sum_i atomref[z_i]) / n_b``; otherwise of the per-molecule
    residual ``y_b - mean_i atomref[z_i]``.

    Args:
        zs: B tensors of atomic numbers.
        y: (B, T) targets (eV for energies).
        readout: the model's readout, one for all targets or one per target.
        atomref: optional (max_z + 1, T) reference values.

    Returns:
        ``(mean, std)``, each (T,) float64; a zero std (constant target) is replaced by 1.
    """
    if len(zs) == 0:
        raise ValueError("cannot fit target statistics on an empty dataset")
    y = torch.as_tensor(y, dtype=torch.float64).reshape(len(zs), -1)
    readouts = [readout] * y.shape[1] if isinstance(readout, str) else list(readout)
    if len(readouts) != y.shape[1]:
        raise ValueError(f"{len(readouts)} readouts for {y.shape[1]} targets")
    residual = y.clone()
    sizes = torch.tensor([len(z) for z in zs], dtype=torch.float64).clamp(min=1)
    if atomref is not None:
        atomref = atomref.to(torch.float64)
        for b, z in enumerate(zs):
            ref = atomref[torch.as_tensor(z, dtype=torch.long).cpu()]
            for k, r in enumerate(readouts):
                residual[b, k] -= ref[:, k].sum() if r == "sum" else ref[:, k].mean()
    for k, r in enumerate(readouts):
        if r == "sum":
            residual[:, k] /= sizes
    mean = residual.mean(0)
    std = residual.std(0, unbiased=False) if len(zs) > 1 else torch.ones_like(mean)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return mean, std
