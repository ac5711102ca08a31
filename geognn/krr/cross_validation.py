"""k-fold cross-validation of the kernel width sigma and the regulariser lambda on a log grid.

The distances between the rows are computed once; each sigma turns them into
one kernel matrix, and every fold and lambda reuses it. Per fold, two ways
solve the system for all lambdas of the grid:

- ``"cholesky"``: one Cholesky factorisation per lambda (N^3 / 3 each);
- ``"eigh"``: one eigendecomposition per fold, K = V diag(w) V^T, after which
  each lambda costs a matrix-vector product: alpha = V (V^T y / (w + lambda)).

Measured on this project's 2-core CPU (torch 2.13, MKL, float64, ``geognn
bench --suite krr``, see benchmarks/RESULTS.md): on folds of 1,600 rows one
eigendecomposition costs about as much as 14 Cholesky solves, so with the
default grid's 7 lambdas repeated Cholesky is about twice as fast (a 3 x 8
grid: 4.3 s against 7.3 s); ``"auto"`` therefore takes ``"cholesky"`` unless
the grid has more than 14 lambdas.

Molecules augmented with several rows (randomly sorted Coulomb matrices) are
kept together: folds are drawn over ``groups``, never over rows, so that no
copy of a validation molecule is trained on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
from tqdm.auto import tqdm

from geognn.krr.distances import pairwise_distances
from geognn.krr.kernels import check_sigma, kernel_from_distances_, metric_of
from geognn.krr.solve import NotPositiveDefinite, check_lambda, solve_in_place

__all__ = ["CV_METHODS", "CrossValidation", "cross_validate", "default_lambdas", "default_sigmas", "fold_of"]

CV_METHODS = ("auto", "cholesky", "eigh")
# Lambdas per fold beyond which one eigendecomposition beats repeated Cholesky solves (measured, see above).
_EIGH_BREAK_EVEN = 14
# Default grids. sigma: multiples of a typical distance of the data (the median L1 distance for the
# Laplacian kernel, the root of the median squared distance for the Gaussian), 2^-1 .. 2^9; lambda:
# 1e-14 .. 1e-2 (in units of K_ii = 1). On 2,000 QM9 molecules (sorted and eigenspectrum Coulomb
# matrices) the best values lay at 4-64 times the typical distance and anywhere from 1e-12 to 1e-2,
# the Gaussian kernel being the sensitive one; the result says when a choice sits at a grid's end.
SIGMA_FACTORS = tuple(2.0 ** k for k in range(-1, 10))
DEFAULT_LAMBDAS = (1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2)


@dataclass
class CrossValidation:
    """The grid, the validation errors on it and the chosen hyperparameters.

    ``mae`` (S, L, T): validation MAE per sigma, lambda and target (in the
    targets' units), averaged over folds; ``score`` (S, L): the selection
    criterion, the mean over targets of MAE / std(target) (inf where K +
    lambda I was not positive definite).
    """

    sigmas: list[float]
    lambdas: list[float]
    folds: int
    method: str
    rows: int
    mae: torch.Tensor
    score: torch.Tensor
    best_sigma: float
    best_lambda: float
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, target_names: Sequence[str] | None = None) -> dict:
        """JSON-able summary: the grid, the chosen values, and one row per (sigma, lambda)."""
        names = list(target_names) if target_names is not None else [str(k) for k in range(self.mae.shape[2])]
        grid = []
        for i, s in enumerate(self.sigmas):
            for j, lam in enumerate(self.lambdas):
                row = {"sigma": s, "lambda": lam, "score": _finite(float(self.score[i, j]))}
                row.update({f"mae_{n}": _finite(float(self.mae[i, j, k])) for k, n in enumerate(names)})
                grid.append(row)
        return {"sigma": self.best_sigma, "lambda": self.best_lambda, "folds": self.folds, "method": self.method,
                "rows": self.rows, "sigmas": self.sigmas, "lambdas": self.lambdas, "seconds": round(self.seconds, 3),
                "warnings": self.warnings, "grid": grid}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def default_sigmas(distances: torch.Tensor, kernel: str) -> list[float]:
    """The default sigma grid for ``distances`` (n, n) of the kind ``kernel`` uses (see ``SIGMA_FACTORS``)."""
    metric_of(kernel)
    # The first 2,000 rows are plenty for a median, and keep the mask small.
    block = distances[:2000, :2000]
    off = block[~torch.eye(block.shape[0], dtype=torch.bool, device=block.device)]
    if off.numel() == 0:
        raise ValueError("cross-validation needs at least two rows")
    typical = float(off.median())
    if kernel == "gaussian":
        typical = math.sqrt(typical)
    if not typical > 0:
        raise ValueError("every pair of rows has the same features: there is nothing to learn from")
    return [float(f"{typical * f:.6g}") for f in SIGMA_FACTORS]


def default_lambdas() -> list[float]:
    return list(DEFAULT_LAMBDAS)


def fold_of(groups: torch.Tensor, folds: int, seed: int) -> torch.Tensor:
    """(n,) fold index of each row: the distinct groups are shuffled (seeded) and dealt into ``folds``."""
    unique, inverse = torch.unique(groups, return_inverse=True)
    if unique.numel() < folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least {folds} molecules, got {unique.numel()}")
    generator = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(unique.numel(), generator=generator)
    fold_of_group = torch.empty_like(order)
    fold_of_group[order] = torch.arange(unique.numel()) % folds
    return fold_of_group[inverse.cpu()]


def cross_validate(features: torch.Tensor, y: torch.Tensor, kernel: str = "laplacian",
                   sigmas: Sequence[float] | None = None, lambdas: Sequence[float] | None = None,
                   folds: int = 5, groups: torch.Tensor | None = None, method: str = "auto", seed: int = 0,
                   device: str | torch.device = "cpu", progress: bool = False,
                   distances: torch.Tensor | None = None) -> CrossValidation:
    """Chooses sigma and lambda by k-fold cross-validation, minimising the validation MAE.

    Args:
        features: (n, F) float64 rows (augmented copies included).
        y: (n, T) targets of the rows, in their units (eV for energies).
        kernel: "laplacian" or "gaussian".
        sigmas, lambdas: the grids (default: :func:`default_sigmas`, :data:`DEFAULT_LAMBDAS`).
        folds: k; groups: (n,) molecule of each row (default: every row its own).
        method: "cholesky", "eigh" or "auto" (see the module docstring).
        seed: seed of the fold assignment.
        device: where the kernel matrices are built and factorised.
        distances: the (n, n) distances of the kernel's metric, if already computed.

    Returns:
        A :class:`CrossValidation`; ties (to 1e-6 relative) go to the larger lambda, then the larger sigma.
    """
    started = time.perf_counter()
    if method not in CV_METHODS:
        raise ValueError(f"cross-validation method must be one of {CV_METHODS}, got {method!r}")
    if int(folds) != folds or folds < 2:
        raise ValueError(f"cross-validation needs folds >= 2, got {folds!r}")
    if method == "auto":
        method = "eigh" if lambdas is not None and len(lambdas) > _EIGH_BREAK_EVEN else "cholesky"
    device = torch.device(device)
    y = torch.as_tensor(y, dtype=torch.float64)
    y = y[:, None] if y.dim() == 1 else y
    n = features.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"{n} feature rows but {y.shape[0]} target rows")
    groups = torch.arange(n) if groups is None else torch.as_tensor(groups).cpu()
    fold = fold_of(groups, int(folds), seed)
    if distances is None:
        distances = pairwise_distances(features.to(device), None, metric_of(kernel))
    sigmas = default_sigmas(distances, kernel) if sigmas is None else [check_sigma(s) for s in sigmas]
    lambdas = default_lambdas() if lambdas is None else [check_lambda(lam) for lam in lambdas]
    if not sigmas or not lambdas:
        raise ValueError("the sigma and lambda grids must not be empty")
    y = y.to(device)
    spread = y.std(dim=0, unbiased=False).clamp_min(1e-300)
    mae = torch.zeros(len(sigmas), len(lambdas), y.shape[1], dtype=torch.float64)
    failed = torch.zeros(len(sigmas), len(lambdas), dtype=torch.bool)
    splits = [(torch.nonzero(fold != k)[:, 0].to(device), torch.nonzero(fold == k)[:, 0].to(device))
              for k in range(int(folds))]
    bar = tqdm(total=len(sigmas) * int(folds), desc=f"cross-validation ({method})", unit="fold",
               disable=not progress, leave=False)
    for i, sigma in enumerate(sigmas):
        k_all = kernel_from_distances_(distances.clone(), kernel, sigma)
        for train, valid in splits:
            k_train = k_all.index_select(0, train).index_select(1, train)
            k_valid = k_all.index_select(0, valid).index_select(1, train)
            mean = y[train].mean(dim=0)
            errors = _fold_errors(k_train, k_valid, y[train] - mean, y[valid] - mean, lambdas, method)
            for j, err in enumerate(errors):
                if err is None:
                    failed[i, j] = True
                else:
                    mae[i, j] += err.cpu() * (valid.numel() / n)
            bar.update(1)
            del k_train, k_valid
        del k_all
    bar.close()
    score = (mae / spread.cpu()).mean(dim=2)
    score[failed] = math.inf
    if not bool(torch.isfinite(score).any()):
        raise NotPositiveDefinite(f"K + lambda I was not positive definite for any (sigma, lambda) of the grid "
                                  f"(lambdas {lambdas}): use larger lambdas")
    best = _best(score)
    mae[failed] = math.inf
    result = CrossValidation(list(sigmas), list(lambdas), int(folds), method, n, mae, score,
                             float(sigmas[best[0]]), float(lambdas[best[1]]), time.perf_counter() - started)
    for name, grid, at in (("sigma", sigmas, best[0]), ("lambda", lambdas, best[1])):
        if len(grid) > 1 and at in (0, len(grid) - 1) and not (name == "lambda" and at == 0 and grid[0] == 0):
            result.warnings.append(f"the chosen {name} {grid[at]:g} is at the {'low' if at == 0 else 'high'} end "
                                   f"of its grid {grid[0]:g}..{grid[-1]:g}: widen the grid")
    return result


# Scores this close (relative) count as equal: with a Laplacian kernel every small lambda gives the same
# error to many digits, and rounding should not pick the least regularised one.
_TIE_RTOL = 1e-6


def _best(score: torch.Tensor) -> tuple[int, int]:
    """Index of the smallest score; among equal ones (to 1e-6) the largest lambda, then the largest sigma."""
    s, lam = score.shape
    lowest = float(score.min())
    for j in reversed(range(lam)):
        for i in reversed(range(s)):
            if float(score[i, j]) <= lowest + _TIE_RTOL * abs(lowest):
                return i, j
    raise AssertionError("unreachable: the minimum is in the grid")


def _fold_errors(k_train, k_valid, y_train, y_valid, lambdas, method):
    """Validation MAE (T,) of each lambda on one fold (None where K + lambda I is not positive definite)."""
    out = []
    if method == "eigh":
        w, v = torch.linalg.eigh(k_train)
        projected = k_valid @ v
        coefficients = v.mT @ y_train
        # Below this an eigenvalue cannot be told from zero, and Cholesky would fail as well.
        floor = w.abs().max() * w.numel() * torch.finfo(torch.float64).eps
        for lam in lambdas:
            shifted = w + lam
            if float(shifted.min()) <= float(floor):
                out.append(None)
                continue
            out.append((projected @ (coefficients / shifted[:, None]) - y_valid).abs().mean(dim=0))
        return out
    for lam in lambdas:
        try:
            alpha = solve_in_place(k_train.clone(), y_train, lam)
        except NotPositiveDefinite:
            out.append(None)
            continue
        out.append((k_valid @ alpha - y_valid).abs().mean(dim=0))
    return out
