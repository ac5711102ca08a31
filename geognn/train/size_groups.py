"""Molecule-size groups that regression errors are also reported by.

An error averaged over a validation set is dominated by its typical
molecules; a radial cutoff or basis that generalises badly to larger
molecules (longer-range interactions, more neighbours per atom) only shows
on the large ones. Two groupings by number of atoms:

* **buckets** cut at quantiles of the training set's atom counts (``size1`` the smallest; the
  last bucket is open above, so molecules larger than any training molecule land there);
* **largest**: the largest molecules of the evaluated set, those with at least as many atoms
  as its ``1 - fraction`` quantile (10% by default, at least one molecule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

DEFAULT_SIZE_BUCKETS = 3
DEFAULT_LARGEST_FRACTION = 0.1


@dataclass
class SizeBuckets:
    """Atom-count buckets.

    Attributes:
        upper: inclusive upper atom counts of every bucket but the last (increasing).
    """

    upper: list[int]

    @property
    def labels(self) -> list[str]:
        """``size1`` ... ``sizeK``, smallest first."""
        return [f"size{k + 1}" for k in range(len(self.upper) + 1)]

    def assign(self, num_atoms: torch.Tensor) -> torch.Tensor:
        """(B,) int64 bucket position of molecules with (B,) ``num_atoms``."""
        return torch.bucketize(num_atoms.long().cpu(), torch.tensor(self.upper, dtype=torch.int64), right=False)

    def details(self) -> dict[str, dict]:
        """What each bucket holds, for metrics.json: ``{"size1": {"atoms": [1, 12]}, ..., "sizeK": {"atoms": [20, None]}}``."""
        lows = [1] + [u + 1 for u in self.upper]
        highs = list(self.upper) + [None]
        return {label: {"atoms": [lo, hi]} for label, lo, hi in zip(self.labels, lows, highs)}


def fit_size_buckets(num_atoms: Sequence[int], num_buckets: int = DEFAULT_SIZE_BUCKETS) -> SizeBuckets:
    """Buckets at the ``k / num_buckets`` quantiles of the training molecules' atom counts.

    Args:
        num_atoms: atom counts of the training molecules.
        num_buckets: buckets wanted; equal quantiles collapse (a set of one size gives one bucket).

    Raises:
        ValueError: no molecules or ``num_buckets < 1``.
    """
    counts = np.asarray(list(num_atoms), dtype=np.int64)
    if counts.size == 0:
        raise ValueError("size buckets need at least one training molecule")
    if num_buckets < 1:
        raise ValueError(f"size buckets: need at least 1, got {num_buckets}")
    # "lower": an edge is an atom count that occurs in the training set.
    edges = np.quantile(counts, [k / num_buckets for k in range(1, num_buckets)], method="lower")
    return SizeBuckets(sorted({int(e) for e in edges if e < counts.max()}))


def largest_from(num_atoms: Sequence[int], fraction: float = DEFAULT_LARGEST_FRACTION) -> int:
    """The atom count from which molecules of a set are its ``largest`` (the top ``fraction`` by size).

    The ``1 - fraction`` quantile ("higher": a size that occurs), so at least one molecule is
    in the group and molecules of equal size are never split.

    Raises:
        ValueError: an empty set or ``fraction`` outside (0, 1).
    """
    counts = np.asarray(list(num_atoms), dtype=np.int64)
    if counts.size == 0:
        raise ValueError("the largest molecules of an empty set are not defined")
    if not 0 < fraction < 1:
        raise ValueError(f"the fraction of largest molecules must lie in (0, 1), got {fraction}")
    return int(np.quantile(counts, 1.0 - fraction, method="higher"))
