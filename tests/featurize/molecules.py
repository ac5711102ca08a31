"""QM9 rows as the (z, pos, batch) tensors a featurizer takes, rigid motions, and bad direct calls of the
Coulomb op with the errors they must raise: shared by the Coulomb tests."""

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


# (arguments that differ from a good call, the ValueError message): every backend must raise these, never crash.
BAD_COULOMB_CALLS = [
    (dict(ptr=torch.tensor([0, 2])), "ptr must run from 0 to N"),
    (dict(ptr=torch.tensor([0, 3, 2, 4])), "non-decreasing"),
    (dict(n_atoms_max=1), "molecule 0 has 2 atoms, more than n_atoms_max=1"),
    (dict(z=torch.tensor([6, 0, 1, 1])), "atomic number 0 at atom index 1"),
    (dict(z=torch.tensor([6, 8, 1, 119])), "atomic number 119 at atom index 3"),
    (dict(permutation="sorted"), "permutation must be"),
    (dict(noise=torch.zeros(4, dtype=torch.float64)), "noise is needed by, and only by"),
    (dict(pos=torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, float("nan"), 0], [0, 1, 1]], dtype=torch.float64)),
     "molecule 1: atom 0 has a non-finite position"),
    (dict(permutation="sorted_canonical", pos=torch.zeros(4, 3, dtype=torch.float64)),
     "molecule 0: atoms 0 and 1 are at the same position"),
]


def call_coulomb_op(device, **changes):
    """torch.ops.geognn.coulomb_matrix on a two-molecule call (C-O and H-H), with ``changes`` applied, on ``device``."""
    from geognn.featurize.coulomb import _half_z_to_2_4

    args = dict(z=torch.tensor([6, 8, 1, 1]), pos=torch.randn(4, 3, dtype=torch.float64), ptr=torch.tensor([0, 2, 4]),
                noise=None, n_atoms_max=3, permutation="sorted_l2")
    args.update(changes)
    z, pos, ptr = (args[k].to(device) for k in ("z", "pos", "ptr"))
    noise = None if args["noise"] is None else args["noise"].to(device)
    return torch.ops.geognn.coulomb_matrix(z, pos, ptr, _half_z_to_2_4(pos), noise, args["n_atoms_max"],
                                           args["permutation"], 0.0, 1e-10, 1.0, False, torch.float64)
