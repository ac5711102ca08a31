"""Laplacian and Gaussian kernels of feature vectors (float64), as functions of pairwise distances.

    laplacian: k(a, b) = exp(-||a - b||_1 / sigma)
    gaussian:  k(a, b) = exp(-||a - b||_2^2 / (2 sigma^2))

the definitions of Rupp et al. 2012 and Hansen et al. 2013, and of qmllib's
``laplacian_kernel`` / ``gaussian_kernel``. ``sigma`` is in the unit of the
features (for Coulomb matrices: e^2 / Å with the default distance unit).
"""

from __future__ import annotations

import torch

from geognn.krr.distances import PackedRows, pairwise_distances

__all__ = ["KERNELS", "kernel_from_distances_", "kernel_matrix", "metric_of"]

KERNELS = ("laplacian", "gaussian")
_METRIC = {"laplacian": "l1", "gaussian": "sqeuclidean"}


def metric_of(kernel: str) -> str:
    """The distance a kernel is a function of: "l1" (laplacian) or "sqeuclidean" (gaussian)."""
    if kernel not in _METRIC:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    return _METRIC[kernel]


def check_sigma(sigma: float) -> float:
    sigma = float(sigma)
    if not sigma > 0 or sigma == float("inf"):
        raise ValueError(f"kernel width sigma must be a positive finite number, got {sigma!r}")
    return sigma


def kernel_from_distances_(distances: torch.Tensor, kernel: str, sigma: float) -> torch.Tensor:
    """Turns distances (L1, or squared L2 for "gaussian") into kernel values in place; returns the tensor."""
    metric_of(kernel)
    sigma = check_sigma(sigma)
    scale = -1.0 / sigma if kernel == "laplacian" else -0.5 / (sigma * sigma)
    return distances.mul_(scale).exp_()


def kernel_matrix(a: torch.Tensor | PackedRows, b: torch.Tensor | PackedRows | None = None,
                  kernel: str = "laplacian", sigma: float = 1.0, order: torch.Tensor | None = None,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """Kernel matrix (na, nb) float64 between the rows of ``a`` and ``b`` (``b=None``: a with itself).

    Memory: the output alone (na * nb * 8 bytes), written in place into
    ``out`` when given; see :func:`geognn.krr.distances.pairwise_distances` for
    the arguments and devices.
    """
    sigma = check_sigma(sigma)
    distances = pairwise_distances(a, b, metric_of(kernel), order=order, out=out)
    return kernel_from_distances_(distances, kernel, sigma)
