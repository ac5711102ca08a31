"""The kernel ridge system (K + lambda I) alpha = y, solved by a Cholesky factorisation in place (torch).

One factorisation serves every target: ``y`` (N, T) gives ``alpha`` (N, T).
The kernel matrix is factorised where it lies (CPU or CUDA), so a fit holds
one N x N matrix, not two.
"""

from __future__ import annotations

import torch

__all__ = ["NotPositiveDefinite", "check_lambda", "solve_in_place"]


class NotPositiveDefinite(ValueError):
    """K + lambda I is not positive definite in float64: lambda is too small for this kernel."""


def check_lambda(lam: float) -> float:
    lam = float(lam)
    if not lam >= 0 or lam == float("inf"):
        raise ValueError(f"regularisation lambda must be a finite number >= 0, got {lam!r}")
    return lam


def solve_in_place(kernel: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    """Solves ``(K + lam I) alpha = y``; K (N, N) float64 symmetric is overwritten by its factor.

    Args:
        kernel: (N, N) float64 symmetric kernel matrix, contiguous; destroyed.
        y: (N, T) or (N,) float64 right-hand sides (centred targets), on K's device.
        lam: regulariser added to the diagonal (in kernel units: K_ii = 1).

    Returns:
        alpha (N, T) float64 (or (N,) for a 1-D y).

    Raises:
        NotPositiveDefinite: the factorisation failed at a leading minor (raise lam).
    """
    lam = check_lambda(lam)
    n = kernel.shape[0]
    if kernel.shape != (n, n) or kernel.dtype != torch.float64 or not kernel.is_contiguous():
        raise ValueError(f"kernel must be a contiguous square float64 matrix, got {tuple(kernel.shape)} "
                         f"{kernel.dtype}")
    vector = y.dim() == 1
    rhs = (y[:, None] if vector else y).to(device=kernel.device, dtype=torch.float64)
    if rhs.shape[0] != n:
        raise ValueError(f"y has {rhs.shape[0]} rows for a {n} x {n} kernel matrix")
    kernel.diagonal().add_(lam)
    # K is symmetric, so its transpose is the same matrix in column-major order, the layout LAPACK and
    # cuSOLVER factorise in place: written through `out`, no copy of K is made, and cholesky_solve reads
    # the factor where it lies.
    factor = kernel.mT
    info = torch.empty((), dtype=torch.int32, device=kernel.device)
    torch.linalg.cholesky_ex(factor, out=(factor, info))
    failed = int(info)
    if failed:
        raise NotPositiveDefinite(
            f"K + lambda I with lambda={lam:g} is not positive definite (its leading minor of order {failed} "
            f"of {n} is not): raise lambda, or narrow the kernel (a smaller sigma for a Gaussian kernel); "
            f"duplicate training molecules make K singular")
    alpha = torch.cholesky_solve(rhs, factor)
    return alpha[:, 0] if vector else alpha
