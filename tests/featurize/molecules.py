"""QM9 rows as the (z, pos, batch) tensors a featurizer takes, and rigid motions, shared by the Coulomb tests."""

import numpy as np
import torch


def batched(rows, dtype=torch.float64):
    """Concatenated atomic numbers (N,), positions (N, 3) Å in ``dtype``, and molecule index (N,) of ``rows``."""
    z = torch.from_numpy(np.concatenate([r.z for r in rows]))
    pos = torch.from_numpy(np.concatenate([r.pos for r in rows])).to(dtype)
    batch = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor([len(r.z) for r in rows]))
    return z, pos, batch


def random_rigid_motion(pos, rng):
    """Positions (n, 3) float64 NumPy rotated (proper or improper) and translated by about 10 Å, drawn from ``rng``."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diagonal(r))
    return pos @ q.T + 10 * rng.standard_normal(3)
