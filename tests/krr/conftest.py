"""Small synthetic features shaped like Coulomb matrices: nonnegative rows whose tails are zero padding."""

import pytest
import torch


def padded_rows(n: int, width: int = 45, seed: int = 0) -> torch.Tensor:
    """(n, width) float64 rows with a random number of leading nonzero entries, the rest zero."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, width, generator=g, dtype=torch.float64) * 50
    lengths = torch.randint(0, width + 1, (n,), generator=g)
    x[torch.arange(width)[None, :] >= lengths[:, None]] = 0.0
    return x


@pytest.fixture
def rows():
    return padded_rows
