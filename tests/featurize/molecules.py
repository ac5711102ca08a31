"""QM9 rows as the (z, pos, batch) tensors a featurizer takes, shared by the featurize tests."""

import numpy as np
import torch


def batched(rows, dtype=torch.float64):
    """Concatenated atomic numbers (N,), positions (N, 3) Å in ``dtype``, and molecule index (N,) of ``rows``."""
    z = torch.from_numpy(np.concatenate([r.z for r in rows]))
    pos = torch.from_numpy(np.concatenate([r.pos for r in rows])).to(dtype)
    batch = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor([len(r.z) for r in rows]))
    return z, pos, batch
