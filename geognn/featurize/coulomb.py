"""Coulomb matrices (Rupp et al. 2012) for batches of molecules, vectorised in torch.

``M_ii = 0.5 Z_i^2.4`` and ``M_ij = Z_i Z_j / |R_i - R_j|``, zero-padded to
``n_atoms_max`` atoms. Distances are in Å by default, as DScribe computes them;
``distance_unit="bohr"`` divides them by the Bohr radius, as in Rupp et al.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["BOHR_IN_ANGSTROM", "CoulombMatrix", "PERMUTATIONS"]

BOHR_IN_ANGSTROM = 0.529177210903  # CODATA 2018
PERMUTATIONS = ("none", "sorted_l2", "eigenspectrum", "random")
_UNITS = {"angstrom": 1.0, "bohr": BOHR_IN_ANGSTROM}
_CHUNK = 256
# Row norms closer than this (relative) are treated as equal by sorted_l2.
_TIE_RTOL = 1e-10


def _pack(z, pos, batch):
    """(N,) z, (N, 3) pos, (N,) batch → padded z (B, m), pos (B, m, 3), counts (B,); m = largest molecule."""
    if batch is None:
        batch = torch.zeros(z.shape[0], dtype=torch.int64, device=z.device)
    num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    counts = torch.bincount(batch, minlength=num_graphs)
    m = int(counts.max()) if num_graphs else 0
    order = torch.argsort(batch, stable=True)
    owner = batch[order]
    # Flat destination of each atom: one index_copy_ instead of a 2-index put.
    slot = owner * m + torch.arange(len(order), device=z.device) - (torch.cumsum(counts, 0) - counts)[owner]
    z_pad = z.new_zeros(num_graphs * m).index_copy_(0, slot, z[order]).view(num_graphs, m)
    pos_pad = pos.new_zeros(num_graphs * m, 3).index_copy_(0, slot, pos[order]).view(num_graphs, m, 3)
    return z_pad, pos_pad, counts


class CoulombMatrix(torch.nn.Module):
    """Zero-padded Coulomb matrix of each molecule of a batch.

    Args:
        n_atoms_max: size n of the output; a molecule with more atoms is an error.
        permutation: ``"none"`` keeps the input atom order; ``"sorted_l2"`` orders
            rows and columns by row norm, largest first (norms equal to 1e-10
            relative count as ties and keep the input order);
            ``"eigenspectrum"`` returns the eigenvalues sorted by absolute value,
            largest first; ``"random"`` sorts by row norms perturbed with
            Gaussian noise of width ``sigma`` (augmentation, Montavon et al. 2012).
        sigma: noise width for ``"random"`` (same unit as the matrix entries);
            only allowed with ``"random"``.
        seed: seed of the noise generator; each call draws fresh noise, and the
            sequence of draws is the same for the same seed.
        flatten: return the upper triangle (diagonal included) row by row,
            (B, n (n + 1) / 2), instead of the (B, n, n) matrix. Ignored for
            ``"eigenspectrum"``, whose output is always (B, n).
        distance_unit: ``"angstrom"`` (as DScribe) or ``"bohr"`` (as Rupp et al.).

    Call with ``z`` (N,) int64 atomic numbers, ``pos`` (N, 3) float positions in
    Å and ``batch`` (N,) int64 molecule of each atom (or None for one
    molecule); the output has pos's dtype and device. :meth:`create` takes a
    list of molecules instead (ASE ``Atoms``, ``Molecule`` records or
    ``(z, pos)`` pairs).
    """

    def __init__(self, n_atoms_max: int, permutation: str = "sorted_l2", sigma: float | None = None,
                 seed: int | None = None, flatten: bool = False, distance_unit: str = "angstrom"):
        super().__init__()
        if int(n_atoms_max) != n_atoms_max or n_atoms_max < 1:
            raise ValueError(f"n_atoms_max must be a positive integer, got {n_atoms_max!r}")
        if permutation not in PERMUTATIONS:
            raise ValueError(f"permutation must be one of {PERMUTATIONS}, got {permutation!r}")
        if permutation == "random":
            if sigma is None or not np.isfinite(sigma) or sigma <= 0:
                raise ValueError(f'permutation="random" needs a positive sigma, got {sigma!r}')
        elif sigma is not None:
            raise ValueError(f'sigma is only used with permutation="random", not {permutation!r}')
        if distance_unit not in _UNITS:
            raise ValueError(f"distance_unit must be one of {tuple(_UNITS)}, got {distance_unit!r}")
        self.n_atoms_max = int(n_atoms_max)
        self.permutation = permutation
        self.sigma = sigma
        self.seed = seed
        self.flatten = flatten
        self.distance_unit = distance_unit
        self._generator = None

    @property
    def num_features(self) -> int:
        """Length of one molecule's output when flattened (or the eigenspectrum)."""
        n = self.n_atoms_max
        if self.permutation == "eigenspectrum":
            return n
        return n * (n + 1) // 2 if self.flatten else n * n

    def forward(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Coulomb matrices (B, n, n), flattened (B, n(n+1)/2) or eigenspectra (B, n); n = n_atoms_max."""
        z, pos, batch = self._check(z, pos, batch)
        z_pad, pos_pad, counts = _pack(z, pos, batch)
        z_pad = z_pad.to(pos.dtype)
        num_graphs, n = counts.shape[0], self.n_atoms_max
        noise = None
        if self.permutation == "random":
            # Drawn for the whole call at once, so the result does not depend on the chunking.
            noise = torch.randn(z_pad.shape, generator=self._rng(), dtype=pos.dtype).to(pos.device)
        eigen = self.permutation == "eigenspectrum"
        out = pos.new_zeros((num_graphs, n) if eigen else (num_graphs, n, n))
        # Molecules are processed in chunks of similar size: each chunk is padded
        # only to its own largest molecule (QM9 averages 18 atoms, padding to 29
        # would more than double the work), and is small enough for its
        # (chunk, m, m) temporaries to stay in cache.
        by_size = torch.argsort(counts, stable=True)
        for first in range(0, num_graphs, _CHUNK):
            ids = by_size[first:first + _CHUNK]
            m = int(counts[ids[-1]])
            if m == 0:
                continue
            matrix = self._matrices(z_pad[ids, :m], pos_pad[ids, :m], ids)
            if eigen:
                eig = torch.linalg.eigvalsh(matrix)
                order = torch.argsort(eig.abs(), dim=1, descending=True, stable=True)
                out[ids, :m] = torch.gather(eig, 1, order)
                continue
            if self.permutation != "none":
                norms = torch.linalg.vector_norm(matrix, dim=2)
                if noise is not None:
                    # Padding rows must stay last, even when noise pushes a real norm below zero.
                    valid = torch.arange(m, device=pos.device) < counts[ids, None]
                    norms = torch.where(valid, norms + self.sigma * noise[ids, :m], -torch.inf)
                order = _descending_order(norms, tied=self.permutation == "sorted_l2")
                # Stride-0 expanded indices: no (chunk, m, m) index tensor is built.
                matrix = torch.gather(matrix, 1, order[:, :, None].expand(-1, m, m))
                matrix = torch.gather(matrix, 2, order[:, None, :].expand(-1, m, m))
            out[ids, :m, :m] = matrix
        if self.flatten and not eigen:
            rows, cols = torch.triu_indices(n, n, device=out.device)
            return out[:, rows, cols]
        return out

    def create(self, molecules: Sequence) -> torch.Tensor:
        """Featurises a list of ASE ``Atoms``, ``Molecule`` records or ``(z, pos)`` pairs (pos in Å), float64."""
        zs, positions = [], []
        for k, mol in enumerate(molecules):
            if hasattr(mol, "get_atomic_numbers"):
                z, pos = mol.get_atomic_numbers(), mol.get_positions()
            elif hasattr(mol, "z") and hasattr(mol, "pos"):
                z, pos = mol.z, mol.pos
                if pos is None:
                    raise ValueError(f"molecule {k} ({getattr(mol, 'identifier', '?')}) has no 3D positions")
            else:
                z, pos = mol
            zs.append(torch.as_tensor(np.asarray(z), dtype=torch.int64))
            positions.append(torch.as_tensor(np.asarray(pos, dtype=np.float64)))
        if not zs:
            return self.forward(torch.zeros(0, dtype=torch.int64), torch.zeros(0, 3, dtype=torch.float64),
                                torch.zeros(0, dtype=torch.int64))
        batch = torch.repeat_interleave(torch.arange(len(zs)), torch.tensor([len(z) for z in zs]))
        return self.forward(torch.cat(zs), torch.cat(positions), batch)

    def _rng(self):
        if self._generator is None:
            self._generator = torch.Generator()
            if self.seed is None:
                self._generator.seed()
            else:
                self._generator.manual_seed(int(self.seed))
        return self._generator

    def _check(self, z, pos, batch):
        if pos.dim() != 2 or pos.shape[1] != 3 or z.shape != (pos.shape[0],):
            raise ValueError(f"z must be (N,) and pos (N, 3); got {tuple(z.shape)} and {tuple(pos.shape)}")
        if not pos.is_floating_point():
            raise TypeError(f"pos must be a floating-point tensor in Å, got {pos.dtype}")
        if batch is not None and batch.shape != z.shape:
            raise ValueError(f"batch must be (N,) = {tuple(z.shape)}, got {tuple(batch.shape)}")
        bad = (~torch.isfinite(pos).all(dim=1)).nonzero()
        if len(bad):
            i = int(bad[0])
            where = f"molecule {int(batch[i])}, " if batch is not None else ""
            raise ValueError(f"non-finite position ({where}atom index {i} of the input): {pos[i].tolist()}")
        if z.numel() and (int(z.min()) < 1 or int(z.max()) > 118):
            i = int(((z < 1) | (z > 118)).nonzero()[0])
            raise ValueError(f"atomic number {int(z[i])} at atom index {i} is not in 1..118")
        if batch is not None and batch.numel():
            counts = torch.bincount(batch)
            if int(counts.max()) > self.n_atoms_max:
                b = int(torch.argmax(counts))
                raise ValueError(f"molecule {b} has {int(counts[b])} atoms, more than n_atoms_max={self.n_atoms_max}")
        elif z.numel() > self.n_atoms_max:
            raise ValueError(f"the molecule has {z.numel()} atoms, more than n_atoms_max={self.n_atoms_max}")
        return z, pos, batch

    def _matrices(self, z, pos, mol_ids):
        """Unsorted (b, m, m) Coulomb matrices of padded z (b, m) and pos (b, m, 3) Å.

        Padding atoms have z = 0 and are moved far apart from everything, so
        their rows and columns come out exactly zero with no mask, and the only
        zero distances left off the diagonal are real clashes: one reduction
        finds them. ``mol_ids`` (b,) names the molecules in error messages.
        """
        m = pos.shape[1]
        padding = z == 0
        far = 1e6 * torch.arange(1, m + 1, dtype=pos.dtype, device=pos.device)[:, None].expand(m, 3)
        pos = torch.where(padding[:, :, None], far, pos)
        # Direct differences: cdist's matrix-product shortcut loses digits that
        # the 1/r of close atoms would then amplify.
        dist = torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")
        if self.distance_unit != "angstrom":
            dist.div_(_UNITS[self.distance_unit])
        dist.diagonal(dim1=1, dim2=2).fill_(torch.inf)
        if m > 1 and float(dist.amin()) == 0.0:
            b, i, j = (int(v) for v in (dist == 0).nonzero()[0])
            raise ValueError(f"molecule {int(mol_ids[b])}: atoms {i} and {j} are at the same position; "
                             "the Coulomb matrix entry Z_i Z_j / r would be infinite")
        matrix = (z[:, :, None] * z[:, None, :]).div_(dist)
        matrix.diagonal(dim1=1, dim2=2).copy_(0.5 * z.pow(2.4))
        return matrix


def _descending_order(norms, tied):
    """Atom order by descending row norm; with ``tied``, near-equal norms keep input order.

    Symmetric molecules have rows whose norms agree exactly in exact arithmetic;
    in floating point they differ by rounding that depends on the padding, so
    a plain sort would order them differently in a batch and alone.
    """
    values, order = torch.sort(norms, dim=1, descending=True, stable=True)
    if not tied or norms.shape[1] < 2:
        return order
    gap = (values[:, :-1] - values[:, 1:]) > _TIE_RTOL * values[:, :-1].abs()
    group = torch.cat([torch.zeros_like(gap[:, :1]), gap], dim=1).cumsum(dim=1)
    rank = torch.empty_like(group).scatter_(1, order, group)
    m = norms.shape[1]
    return torch.argsort(rank * m + torch.arange(m, device=norms.device), dim=1)
