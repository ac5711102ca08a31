"""Molecule-size buckets that regression errors are also reported by, fitted on the training set.

An error averaged over a validation set is dominated by its typical
molecules; a radial cutoff or basis that generalises badly to larger
molecules (longer-range interactions, more neighbours per atom) only shows
on the large ones. Molecules are bucketed by their number of atoms at
quantiles of the training set (``size1`` the smallest, the last bucket open
above, so molecules larger than any training molecule land there), and the
``largest`` group holds the molecules with more atoms than ``largest_quantile``
(90%) of the training molecules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_SIZE_BUCKETS = 3
DEFAULT_LARGEST_QUANTILE = 0.9


@dataclass
class SizeBuckets:
    """Atom-count buckets.

    Attributes:
        upper: inclusive upper atom counts of every bucket but the last (increasing).
        largest_above: molecules with more atoms than this form the ``largest`` group.
    """

    upper: list[int]
    largest_above: int

    @property
    def labels(self) -> list[str]:
        """``size1`` ... ``sizeK``, smallest first."""
        return [f"size{k + 1}" for k in range(len(self.upper) + 1)]

    def assign(self, num_atoms: torch.Tensor) -> torch.Tensor:
        """(B,) int64 bucket position of molecules with (B,) ``num_atoms``."""
        return torch.bucketize(num_atoms.long().cpu(), torch.tensor(self.upper, dtype=torch.int64), right=False)

    def largest(self, num_atoms: torch.Tensor) -> torch.Tensor:
        """(B,) bool: molecules of the ``largest`` group."""
        return num_atoms.long().cpu() > self.largest_above

    def details(self) -> dict[str, dict]:
        """What each group holds, for metrics.json: ``{"size1": {"atoms": [1, 12]}, ..., "largest": {...}}``."""
        lows = [1] + [u + 1 for u in self.upper]
        highs = list(self.upper) + [None]
        out = {label: {"atoms": [lo, hi]} for label, lo, hi in zip(self.labels, lows, highs)}
        out["largest"] = {"atoms_more_than": self.largest_above}
        return out


def fit_size_buckets(num_atoms, num_buckets: int = DEFAULT_SIZE_BUCKETS,
                     largest_quantile: float = DEFAULT_LARGEST_QUANTILE) -> SizeBuckets:
    """Buckets at the ``k / num_buckets`` quantiles of the training molecules' atom counts.

    Args:
        num_atoms: atom counts of the training molecules (any sequence of ints).
        num_buckets: buckets wanted; equal quantiles collapse (a set of one size gives one bucket).
        largest_quantile: the ``largest`` group is above this quantile of the training sizes.

    Raises:
        ValueError: no molecules, ``num_buckets < 1`` or ``largest_quantile`` outside (0, 1).
    """
    counts = np.asarray(list(num_atoms), dtype=np.int64)
    if counts.size == 0:
        raise ValueError("size buckets need at least one training molecule")
    if num_buckets < 1:
        raise ValueError(f"size buckets: need at least 1, got {num_buckets}")
    if not 0 < largest_quantile < 1:
        raise ValueError(f"largest_quantile must lie in (0, 1), got {largest_quantile}")
    # "lower": an edge is an atom count that occurs in the training set.
    edges = np.quantile(counts, [k / num_buckets for k in range(1, num_buckets)], method="lower")
    upper = sorted({int(e) for e in edges if e < counts.max()})
    largest_above = int(np.quantile(counts, largest_quantile, method="lower"))
    return SizeBuckets(upper, largest_above)
