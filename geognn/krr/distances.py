"""Pairwise L1 and squared-L2 distances between feature vectors, in float64, built block by block.

The kernels of :mod:`geognn.krr.kernels` are functions of these distances
(Laplacian: L1; Gaussian: squared L2). Features are rows of an (n, F) matrix,
such as flattened Coulomb matrices. Three routes give the same numbers to
rounding:

- CPU: the numba kernels of :mod:`geognn.krr._numba_distances`, which skip
  the zero padding of each row (a Coulomb matrix of a small molecule is mostly
  padding) once its columns are put in :func:`column_order`;
- CUDA (and any other torch device): ``torch.cdist`` on blocks of rows;
- :func:`pairwise_distances_reference`: plain broadcasting, the oracle of the tests.

Distances are exact differences, never ``|a|^2 + |b|^2 - 2 a.b``, whose
cancellation would lose the digits that close pairs need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["METRICS", "PackedRows", "column_order", "pack_rows", "pairwise_distances",
           "pairwise_distances_reference"]

METRICS = ("l1", "sqeuclidean")
# Rows per side of one tile of the CPU kernel: two tiles of 64 QM9 Coulomb matrices (~90 kB) stay in L2.
_TILE = 64
# Bytes of output a CUDA cdist call writes at once (its temporaries scale with it).
_CUDA_BLOCK_BYTES = 1 << 30


def _check_features(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (rows, features) tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must hold floating-point features, got {x.dtype}")
    x = x.to(torch.float64)
    if x.numel() and not bool(torch.isfinite(x).all()):
        row = int((~torch.isfinite(x)).any(dim=1).nonzero()[0])
        raise ValueError(f"{name} row {row} holds a non-finite feature")
    return x


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def column_order(x: torch.Tensor) -> torch.Tensor:
    """(F,) int64 order of the columns of ``x`` (n, F), most often nonzero first (ties: original order).

    Distances do not depend on the order of the columns; in this order the
    zero padding of Coulomb matrices gathers at the end of each row, which
    the CPU kernel then skips.
    """
    x = torch.as_tensor(x)
    if x.device.type == "cpu":  # NumPy: see pack_rows
        nonzero = np.count_nonzero(x.detach().numpy(), axis=0)
        return torch.from_numpy(np.argsort(-nonzero, kind="stable"))
    nonzero = (x != 0).sum(dim=0)
    return torch.argsort(-nonzero, stable=True)


@dataclass
class PackedRows:
    """Rows prepared for the CPU kernel: columns reordered, each row's support and its tail sums.

    ``features`` (n, F) float64, C-contiguous, in column order; ``length`` (n,)
    int64: one past the last nonzero column of each row; ``tails`` (n, F + 1)
    float64: ``tails[i, m]`` the sum over the columns ``k >= m`` of ``|x_ik|``
    (metric "l1") or ``x_ik ** 2`` ("sqeuclidean").
    """

    features: np.ndarray
    length: np.ndarray
    tails: np.ndarray
    metric: str

    def __len__(self) -> int:
        return self.features.shape[0]


def pack_rows(x: torch.Tensor, order: torch.Tensor, metric: str) -> PackedRows:
    """Packs (n, F) features for :func:`pairwise_distances` on the CPU (``order`` from :func:`column_order`)."""
    _check_metric(metric)
    # Everything here is NumPy, single-threaded: small torch ops on a thread pool slowed packing 1,000 rows
    # from ~2 ms to over 100 ms whenever another thread pool (qmllib's OpenMP, another process) held the cores.
    x = torch.as_tensor(x)
    if x.dim() != 2 or not x.is_floating_point():
        _check_features(x, "features")
    arr = x.detach().cpu().numpy().astype(np.float64, copy=False)
    if not np.isfinite(arr.sum()) and not np.isfinite(arr).all():
        row = int(np.nonzero(~np.isfinite(arr).all(axis=1))[0][0])
        raise ValueError(f"features row {row} holds a non-finite feature")
    if order.shape != (arr.shape[1],):
        raise ValueError(f"column order has {order.numel()} entries for {arr.shape[1]} feature columns")
    rows = np.take(arr, order.cpu().numpy(), axis=1)
    n, f = rows.shape
    nonzero = rows != 0
    # One past the last nonzero column; 0 for an all-zero row.
    length = np.where(nonzero.any(axis=1), f - np.argmax(nonzero[:, ::-1], axis=1), 0).astype(np.int64)
    terms = np.abs(rows) if metric == "l1" else rows * rows
    tails = np.empty((n, f + 1))
    tails[:, f] = 0.0
    tails[:, :f] = np.cumsum(terms[:, ::-1], axis=1)[:, ::-1]
    return PackedRows(rows, length, tails, metric)


def pairwise_distances(a: torch.Tensor | PackedRows, b: torch.Tensor | PackedRows | None = None,
                       metric: str = "l1", order: torch.Tensor | None = None,
                       out: torch.Tensor | None = None) -> torch.Tensor:
    """Distances between the rows of ``a`` (na, F) and ``b`` (nb, F): (na, nb) float64, on a's device.

    Args:
        a, b: features (float tensors, cast to float64), or rows packed by
            :func:`pack_rows` with ``metric`` (CPU only). ``b=None``: ``a``
            against itself (the symmetric matrix; half the work on the CPU).
        metric: "l1" (sum of absolute differences) or "sqeuclidean" (sum of
            squared differences), in the features' unit (squared).
        order: the column order of the CPU kernel (default: :func:`column_order` of b,
            or of a when b is None); any order gives the same distances to rounding.
        out: optional (na, nb) float64 tensor written in place (e.g. the
            training kernel matrix, so that no second N x N buffer exists).
    """
    _check_metric(metric)
    packed = isinstance(a, PackedRows) or isinstance(b, PackedRows)
    device = torch.device("cpu") if packed else torch.as_tensor(a).device
    symmetric = b is None
    if device.type != "cpu":
        a = _check_features(a, "a")
        b = a if symmetric else _check_features(b, "b").to(device)
        _check_widths(a, b)
        return _cdist_blocks(a, b, metric, out)
    if not isinstance(a, PackedRows) or not (symmetric or isinstance(b, PackedRows)):
        if order is None:
            order = column_order(a if symmetric or isinstance(b, PackedRows) else b)
        a = a if isinstance(a, PackedRows) else pack_rows(a, order, metric)
        b = a if symmetric else b if isinstance(b, PackedRows) else pack_rows(b, order, metric)
    b = a if symmetric else b
    if a.metric != metric or b.metric != metric:
        raise ValueError(f"rows packed for {a.metric!r}/{b.metric!r} cannot give {metric!r} distances")
    if a.features.shape[1] != b.features.shape[1]:
        raise ValueError(f"a has {a.features.shape[1]} feature columns, b has {b.features.shape[1]}")
    out = _output(out, len(a), len(b))
    if len(a) and len(b):
        from geognn.krr import _numba_distances as kernels

        with _numba_threads():
            kernels.pairwise(a.features, a.length, a.tails, b.features, b.length, b.tails, out.numpy(),
                             kernels.L1 if metric == "l1" else kernels.SQEUCLIDEAN, symmetric, _TILE)
    return out


def pairwise_distances_reference(a: torch.Tensor, b: torch.Tensor | None = None, metric: str = "l1") -> torch.Tensor:
    """The same distances by plain broadcasting, (na, nb) float64; the tests' oracle (memory na*nb*F)."""
    _check_metric(metric)
    a = _check_features(a, "a")
    b = a if b is None else _check_features(b, "b")
    diff = a[:, None, :] - b[None, :, :]
    return diff.abs().sum(-1) if metric == "l1" else diff.square().sum(-1)


def _check_widths(a, b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a has {a.shape[1]} feature columns, b has {b.shape[1]}")


def _output(out, na, nb):
    if out is None:
        return torch.from_numpy(np.empty((na, nb)))
    if out.shape != (na, nb) or out.dtype != torch.float64 or out.device.type != "cpu" or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous ({na}, {nb}) float64 CPU tensor, got {tuple(out.shape)} "
                         f"{out.dtype} on {out.device}")
    return out


def _cdist_blocks(a, b, metric, out):
    """cdist on row blocks (exact differences, no matrix-product shortcut), into ``out`` when given."""
    out = torch.empty(a.shape[0], b.shape[0], dtype=torch.float64, device=a.device) if out is None else out
    if out.shape != (a.shape[0], b.shape[0]):
        raise ValueError(f"out must have shape {(a.shape[0], b.shape[0])}, got {tuple(out.shape)}")
    step = max(1, _CUDA_BLOCK_BYTES // (8 * max(b.shape[0], 1)))
    for first in range(0, a.shape[0], step):
        block = torch.cdist(a[first:first + step], b, p=1.0 if metric == "l1" else 2.0,
                            compute_mode="donot_use_mm_for_euclid_dist")
        out[first:first + step] = block if metric == "l1" else block.square_()
    return out


class _numba_threads:
    """Runs numba's parallel loops on as many threads as torch uses (``torch.set_num_threads``)."""

    def __enter__(self):
        import numba

        self.before = numba.get_num_threads()
        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.before)
        return False
