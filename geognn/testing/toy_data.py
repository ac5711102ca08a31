"""A toy molecular dataset with exact energies and forces: Morse clusters.

Each molecule is a random cluster of atoms bound by a Morse pair potential
``V(r) = D (1 - exp(-a (r - r0)))^2 - D`` (D in eV, a in Å^-1, r0 in Å, the same
for every pair) plus a constant energy per element. Forces are the exact
negative gradient. Use it to check that a model and the training loop can
learn a known potential, without any download.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

ELEMENT_ENERGY = {1: -0.5, 6: -37.8, 8: -75.0}  # eV, arbitrary constants per element


def morse_energy(pos: torch.Tensor, depth: float = 1.0, a: float = 1.5, r0: float = 1.3,
                 cutoff: float | None = None) -> torch.Tensor:
    """Total Morse energy (eV) of one cluster; pos (N, 3) in Å. Pairs beyond ``cutoff`` Å are skipped."""
    n = pos.shape[0]
    i, j = torch.triu_indices(n, n, offset=1)
    r = (pos[i] - pos[j]).norm(dim=-1)
    v = depth * (1 - torch.exp(-a * (r - r0))) ** 2 - depth
    if cutoff is not None:
        v = torch.where(r < cutoff, v, torch.zeros_like(v))
    return v.sum()


def _random_cluster(n: int, g: torch.Generator, min_dist: float = 0.95) -> torch.Tensor:
    pos = torch.zeros(1, 3, dtype=torch.float64)
    while pos.shape[0] < n:
        anchor = pos[int(torch.randint(pos.shape[0], (1,), generator=g))]
        direction = torch.randn(3, dtype=torch.float64, generator=g)
        candidate = anchor + direction / direction.norm() * (1.0 + 0.8 * torch.rand(1, dtype=torch.float64, generator=g))
        if (pos - candidate).norm(dim=-1).min() >= min_dist:
            pos = torch.cat([pos, candidate.unsqueeze(0)])
    return pos


def morse_clusters(num: int, min_atoms: int = 3, max_atoms: int = 7, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> list[Data]:
    """``num`` Morse clusters as PyG ``Data``: ``z`` (N,) in {1, 6, 8}, ``pos`` (N, 3) Å,
    ``y`` (1, 1) total energy in eV (Morse + element constants), ``forces`` (N, 3) eV/Å.
    """
    g = torch.Generator().manual_seed(seed)
    elements = torch.tensor(sorted(ELEMENT_ENERGY))
    out = []
    for k in range(num):
        n = int(torch.randint(min_atoms, max_atoms + 1, (1,), generator=g))
        z = elements[torch.randint(len(elements), (n,), generator=g)]
        pos = _random_cluster(n, g).requires_grad_(True)
        energy = morse_energy(pos) + sum(ELEMENT_ENERGY[int(e)] for e in z)
        (grad,) = torch.autograd.grad(energy, pos)
        out.append(Data(z=z, pos=pos.detach().to(dtype), y=energy.detach().reshape(1, 1).to(dtype),
                        forces=(-grad).to(dtype), idx=torch.tensor([k])))
    return out
