"""Coulomb matrices (Rupp et al. 2012) for batches of molecules.

``M_ii = 0.5 Z_i^2.4`` and ``M_ij = Z_i Z_j / |R_i - R_j|``, zero-padded to
``n_atoms_max`` atoms. Distances are in Å by default, as DScribe computes them;
``distance_unit="bohr"`` divides them by the Bohr radius, as in Rupp et al.

Three routes give the same numbers: the native CPU kernel
(kernels/cpu/coulomb.cpp), the CUDA kernel (kernels/cuda/coulomb.cu), which
share their per-molecule arithmetic, and the vectorised torch path here (the
reference, and the route of gradients and eigenspectra).
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch

from geognn.featurize._threads import one_thread_on_cpu
from geognn.featurize.canonical_order import canonical_order
from geognn.ops import _native

__all__ = ["BOHR_IN_ANGSTROM", "CoulombMatrix", "PERMUTATIONS"]

BOHR_IN_ANGSTROM = 0.529177210903  # CODATA 2018
PERMUTATIONS = ("none", "sorted_l2", "sorted_canonical", "eigenspectrum", "random")
_UNITS = {"angstrom": 1.0, "bohr": BOHR_IN_ANGSTROM}
# A chunk of molecules of one size holds about this many matrix entries, so
# that its temporaries stay in a core's L2 cache.
_CHUNK_ELEMENTS = 1 << 17
# Row norms closer than this (relative) are treated as equal by sorted_l2: in
# float64 the rounding of a norm is far below it; lower precisions use 100
# machine epsilons instead (see _tie_rtol).
_TIE_RTOL = 1e-10
_NATIVE_DTYPES = (torch.float32, torch.float64)


def _zeros(shape, dtype, device):
    """Zero output of that dtype on that device.

    On CPU it is allocated by NumPy, whose zeroed pages come from the kernel on
    first touch and, for large arrays, as transparent huge pages: filling a
    (10,000, 29, 29) float64 output then costs about a third of what torch's
    allocator pays in 4 KiB page faults plus an explicit zero fill.
    """
    if device.type == "cpu" and dtype in (torch.float32, torch.float64):
        return torch.from_numpy(np.zeros(shape, dtype=np.float32 if dtype == torch.float32 else np.float64))
    return torch.zeros(shape, dtype=dtype, device=device)


class CoulombMatrix(torch.nn.Module):
    """Zero-padded Coulomb matrix of each molecule of a batch.

    Args:
        n_atoms_max: size n of the output; a molecule with more atoms is an error.
        permutation: ``"none"`` keeps the input atom order; ``"sorted_l2"`` orders
            rows and columns by row norm, largest first (norms equal to 1e-10
            relative, or 100 machine epsilons of pos's dtype if larger, count
            as ties and keep the input order, as in DScribe);
            ``"sorted_canonical"`` orders as ``"sorted_l2"`` and breaks its ties
            so that the matrix does not depend on the input atom order (see
            below); ``"eigenspectrum"`` returns the eigenvalues sorted by absolute value,
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
        dtype: dtype of the output. The entries and their order are computed
            in pos's dtype (float64 in :meth:`create`) and rounded once when
            stored, so a float32 output of float64 positions holds DScribe's
            numbers rounded to float32, in DScribe's order, and costs half the
            memory traffic. None: pos's dtype in :meth:`forward`, float64 in
            :meth:`create` (as DScribe).

    Call with ``z`` (N,) int64 atomic numbers, ``pos`` (N, 3) float positions in
    Å and ``batch`` (N,) int64 molecule of each atom (or None for one
    molecule); the output is on pos's device. :meth:`create` takes a list of
    molecules instead (ASE ``Atoms``, ``Molecule`` records or ``(z, pos)`` pairs).

    ``"sorted_canonical"``: rows with tied norms (symmetry-equivalent atoms,
    such as the hydrogens of a methyl group) are ordered by their sorted
    entries, then by colour refinement, then by a search over the atoms that
    refinement cannot tell apart that keeps the largest matrix
    (:mod:`geognn.featurize.canonical_order` defines it). Guaranteed: the same
    geometry listed in any atom order, rotated or translated, gives the same
    matrix to rounding, whatever its symmetry: where refinement leaves atoms
    interchangeable, the search keeps the largest of the matrices their orders
    give, so no choice is left to the input order (for symmetric atoms every
    such order gives the same matrix; the tests check this on every molecule
    of ASE's g2 collection). Where no norms tie, the output is exactly
    ``"sorted_l2"``'s. Left open, as with any tolerance: values that differ by
    about the tie tolerance (a symmetry broken by ~1e-10 relative in float64,
    ~1e-5 in float32) may compare as equal in one atom order and as different
    in another, and the order can then change.
    """

    def __init__(self, n_atoms_max: int, permutation: str = "sorted_l2", sigma: float | None = None,
                 seed: int | None = None, flatten: bool = False, distance_unit: str = "angstrom",
                 dtype: torch.dtype | None = None):
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
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
        self.distance_unit = distance_unit
        self.dtype = dtype
        self._generator = None
        # False forces the pure-PyTorch path (the reference the native kernel is tested against).
        self.use_native = True

    @property
    def num_features(self) -> int:
        """Length of one molecule's output when flattened (or the eigenspectrum)."""
        n = self.n_atoms_max
        if self.permutation == "eigenspectrum":
            return n
        return n * (n + 1) // 2 if self.flatten else n * n

    def forward(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Coulomb matrices (B, n, n), flattened (B, n(n+1)/2) or eigenspectra (B, n); n = n_atoms_max."""
        return self._run(z, pos, batch, None, self.dtype or pos.dtype)

    def _run(self, z, pos, batch, counts, dtype):
        """Validates, then takes the native CPU kernel where it applies, else the torch path."""
        counts = self._check(z, pos, batch, counts)
        # One thread on the CPU for both paths (see geognn/featurize/_threads.py): with two threads the
        # kernel gained 1.2x on an idle machine and lost 3x when anything else held a core.
        with one_thread_on_cpu(pos.device):
            if self._native_applies(pos, dtype):
                return self._forward_native(z, pos, batch, counts, dtype)
            return self._forward(z, pos, batch, dtype, counts)

    def _native_applies(self, pos, dtype):
        # The kernels have no autograd and no eigensolver; everything else is the same numbers.
        return (self.use_native and _has_kernel(pos.device.type)
                and self.permutation != "eigenspectrum" and pos.dtype in _NATIVE_DTYPES and dtype in _NATIVE_DTYPES
                and not (pos.requires_grad and torch.is_grad_enabled()))

    def _forward_native(self, z, pos, batch, counts, dtype):
        """The C++ or CUDA kernel (kernels/{cpu,cuda}/coulomb.*), on pos's device, atoms grouped by molecule."""
        noise = None
        if self.permutation == "random":
            # The same draws, in the same (input) order, as the torch path, on every device.
            noise = torch.randn(z.shape, generator=self._rng(), dtype=pos.dtype).to(pos.device)
        order = _molecule_order(batch)
        if order is not None:
            z, pos = z.index_select(0, order), pos.index_select(0, order)
            noise = None if noise is None else noise.index_select(0, order)
        ptr = torch.zeros(counts.numel() + 1, dtype=torch.int64, device=counts.device)
        torch.cumsum(counts, 0, out=ptr[1:])
        return torch.ops.geognn.coulomb_matrix(
            z.to(torch.int64), pos, ptr, _half_z_to_2_4(pos), noise, self.n_atoms_max, self.permutation,
            float(self.sigma or 0.0), _tie_rtol(pos.dtype), _UNITS[self.distance_unit], bool(self.flatten), dtype)

    def _forward(self, z, pos, batch, dtype, counts):
        """The pure-PyTorch path: any device, every permutation; the reference for the native kernel."""
        counts_of_size = torch.bincount(counts, minlength=self.n_atoms_max + 1).tolist()
        num_graphs, n = counts.shape[0], self.n_atoms_max
        eigen = self.permutation == "eigenspectrum"
        flatten = self.flatten and not eigen
        shape = (num_graphs, n) if eigen else (num_graphs, n * (n + 1) // 2) if flatten else (num_graphs, n, n)
        out = _zeros(shape, dtype, pos.device)
        if num_graphs == 0:
            return out
        noise = None
        if self.permutation == "random":
            # One draw per atom of the input, so the result does not depend on the bucketing.
            noise = torch.randn(z.shape, generator=self._rng(), dtype=pos.dtype).to(pos.device)
        # Molecules are processed in buckets of one size, so no padding atom
        # enters the arithmetic. One gather lays out the atoms of all molecules,
        # smallest molecules first; each chunk of a bucket is then a view, and
        # its (b, m, m) temporaries stay in the CPU's cache.
        by_size = torch.argsort(counts, stable=True)
        atoms = _atoms_of(by_size, counts, batch)
        z, pos = z.index_select(0, atoms), pos.index_select(0, atoms)
        charge, diagonal = z.to(pos.dtype), _half_z_to_2_4(pos).index_select(0, z)
        noise = None if noise is None else noise.index_select(0, atoms)
        # Row i of a molecule goes to row rank_i of its output: the sort is
        # applied by one scatter into the output instead of gathers of the matrix.
        width = out[0].numel()
        molecule, atom = 0, 0
        for m, count in enumerate(counts_of_size):
            # On the CPU a chunk stays in cache; a GPU takes each size in one call (one batched eigvalsh).
            step = max(1, _CHUNK_ELEMENTS // max(m * m, 1)) if pos.device.type == "cpu" else max(count, 1)
            for first in range(0, count if m else 0, step):
                b = min(step, count - first)
                ids = by_size[molecule + first:molecule + first + b]
                span = slice(atom + first * m, atom + (first + b) * m)
                block, rank = self._features(charge[span].view(b, m), diagonal[span].view(b, m),
                                             pos[span].view(b, m, 3),
                                             None if noise is None else noise[span].view(b, m), ids)
                block = block.to(dtype)
                if eigen:
                    out[ids, :m] = block
                    continue
                if rank is None:
                    rank = torch.arange(m, device=pos.device).expand(b, m)
                first_entry = (ids * width)[:, None]
                if flatten:
                    # The matrix is exactly symmetric, so (i, j) and (j, i) write the same value to one place.
                    row = torch.minimum(rank[:, :, None], rank[:, None, :])
                    col = torch.maximum(rank[:, :, None], rank[:, None, :])
                    where = first_entry[:, :, None] + row * n - row * (row - 1) // 2 + (col - row)
                else:
                    where = (first_entry + rank * n)[:, :, None] + rank[:, None, :]
                out.view(-1).scatter_(0, where.view(-1), block.reshape(-1))
            molecule += count
            atom += count * m
        return out

    def create(self, molecules: Sequence) -> torch.Tensor:
        """Featurises a list of ASE ``Atoms``, ``Molecule`` records or ``(z, pos)`` pairs (pos in Å).

        Computed in float64; the output dtype is ``dtype``, or float64 when that is None.
        """
        molecules = list(molecules)
        if all(hasattr(kind, "get_atomic_numbers") for kind in set(map(type, molecules))):
            # All ASE Atoms: their own arrays, read without the copies their getters make.
            arrays = [mol.arrays for mol in molecules]
            zs = [a["numbers"] for a in arrays]
            positions = [a["positions"] for a in arrays]
        else:
            zs, positions = [], []
            for k, mol in enumerate(molecules):
                if hasattr(mol, "get_atomic_numbers"):
                    z, pos = mol.arrays["numbers"], mol.arrays["positions"]
                elif hasattr(mol, "z") and hasattr(mol, "pos"):
                    if mol.pos is None:
                        raise ValueError(f"molecule {k} ({getattr(mol, 'identifier', '?')}) has no 3D positions")
                    z, pos = mol.z, mol.pos
                else:
                    z, pos = mol
                zs.append(np.asarray(z))
                positions.append(np.asarray(pos))
        dtype = self.dtype or torch.float64
        if not zs:
            return self._run(torch.zeros(0, dtype=torch.int64), torch.zeros(0, 3, dtype=torch.float64),
                             torch.zeros(0, dtype=torch.int64), None, dtype)
        counts = np.fromiter(map(len, zs), dtype=np.int64, count=len(zs))
        mismatch = np.nonzero(counts != np.fromiter(map(len, positions), dtype=np.int64, count=len(zs)))[0]
        if len(mismatch):
            k = int(mismatch[0])
            raise ValueError(f"molecule {k}: {counts[k]} atomic numbers but positions of shape {positions[k].shape}")
        z = np.concatenate(zs).astype(np.int64, copy=False)
        pos = np.concatenate(positions).astype(np.float64, copy=False)
        if z.shape != (len(pos),) or pos.ndim != 2 or pos.shape[1] != 3:
            raise ValueError(f"z must be (n,) and pos (n, 3) for every molecule; together {z.shape} and {pos.shape}")
        # Atoms arrive grouped by molecule, so the counts say everything a batch vector would.
        return self._run(torch.from_numpy(z), torch.from_numpy(pos), None, torch.from_numpy(counts), dtype)

    def _rng(self):
        if self._generator is None:
            self._generator = torch.Generator()
            if self.seed is None:
                self._generator.seed()
            else:
                self._generator.manual_seed(int(self.seed))
        return self._generator

    def _check(self, z, pos, batch, counts=None):
        """Validates the input; returns the atom count (B,) of each molecule.

        ``counts`` (B,), when given, says the atoms come grouped by molecule
        with these sizes (``batch`` is then None).
        """
        if pos.dim() != 2 or pos.shape[1] != 3 or z.shape != (pos.shape[0],):
            raise ValueError(f"z must be (N,) and pos (N, 3); got {tuple(z.shape)} and {tuple(pos.shape)}")
        if not pos.is_floating_point():
            raise TypeError(f"pos must be a floating-point tensor in Å, got {pos.dtype}")
        if batch is not None and batch.shape != z.shape:
            raise ValueError(f"batch must be (N,) = {tuple(z.shape)}, got {tuple(batch.shape)}")
        # A sum of finite numbers can overflow, so a non-finite sum is only a reason to look closer.
        if not bool(torch.isfinite(pos.sum())) and not bool(torch.isfinite(pos).all()):
            i = int((~torch.isfinite(pos).all(dim=1)).nonzero()[0])
            if counts is not None:
                where = f"molecule {int(torch.searchsorted(torch.cumsum(counts, 0), i, right=True))}, "
            else:
                where = f"molecule {int(batch[i])}, " if batch is not None else ""
            raise ValueError(f"non-finite position ({where}atom index {i} of the input): {pos[i].tolist()}")
        if z.numel() and (int(z.min()) < 1 or int(z.max()) > 118):
            i = int(((z < 1) | (z > 118)).nonzero()[0])
            raise ValueError(f"atomic number {int(z[i])} at atom index {i} is not in 1..118")
        one_molecule = batch is None and counts is None
        if one_molecule:
            counts = torch.full((1,) if z.numel() else (0,), z.numel(), dtype=torch.int64, device=z.device)
        elif counts is None:
            counts = torch.bincount(batch)
        if counts.numel() and int(counts.max()) > self.n_atoms_max:
            if one_molecule:
                raise ValueError(f"the molecule has {z.numel()} atoms, more than n_atoms_max={self.n_atoms_max}")
            b = int(torch.argmax(counts))
            raise ValueError(f"molecule {b} has {int(counts[b])} atoms, more than n_atoms_max={self.n_atoms_max}")
        return counts

    def _features(self, charge, diagonal, pos, noise, mol_ids):
        """Matrices (b, m, m) and the rank of each row in the sorted order (b, m), or eigenvalues (b, m).

        Of b molecules of m atoms each: charge (b, m) atomic numbers and
        diagonal (b, m) the entries 0.5 Z^2.4, both in pos's dtype, pos
        (b, m, 3) Å, noise (b, m) for "random" (else None); ``mol_ids`` (b,)
        names the molecules in error messages. The rank is None for "none" and
        "eigenspectrum".
        """
        # Direct differences: cdist's matrix-product shortcut loses digits that
        # the 1/r of close atoms would then amplify.
        dist = torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")
        if self.distance_unit != "angstrom":
            dist.div_(_UNITS[self.distance_unit])
        matrix = (charge[:, :, None] * charge[:, None, :]).div_(dist)  # Z_i^2 / 0 on the diagonal, replaced next
        matrix.diagonal(dim1=1, dim2=2).copy_(diagonal)
        # Every entry is positive, so the row norms sum to a finite number
        # exactly when every entry is finite: one check finds clashing atoms.
        norms = torch.linalg.vector_norm(matrix, dim=2)
        if not bool(torch.isfinite(norms.sum())):
            _raise_clash(dist, mol_ids)
        if self.permutation == "eigenspectrum":
            eig = torch.linalg.eigvalsh(matrix)
            order = torch.argsort(eig.abs(), dim=1, descending=True, stable=True)
            return torch.gather(eig, 1, order), None
        if self.permutation == "none":
            return matrix, None
        if noise is not None:
            norms = norms + self.sigma * noise
        order, tied = _descending_order(norms, tied=self.permutation != "random")
        if self.permutation == "sorted_canonical" and tied.numel():
            order[tied] = _canonical_orders(matrix[tied], norms[tied]).to(order.device)
        positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
        return matrix, torch.empty_like(order).scatter_(1, order, positions)


@functools.lru_cache(maxsize=None)
def _half_z_to_2_4_cached(dtype, device):
    z = torch.arange(119, dtype=torch.float64)
    return (0.5 * z.pow(2.4)).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=None)
def _has_kernel(device_type):
    """Whether the native build has a coulomb_matrix kernel for this device type ("cpu", "cuda")."""
    key = {"cpu": "CPU", "cuda": "CUDA"}.get(device_type)
    return bool(key and _native.HAS_NATIVE
                and torch._C._dispatch_has_kernel_for_dispatch_key("geognn::coulomb_matrix", key))


def _canonical_orders(matrices, norms):
    """Canonical atom orders (k, m) of k molecules' matrices (k, m, m) with row norms (k, m).

    Computed one molecule at a time on the CPU by the reference search of
    geognn/featurize/canonical_order.py; only molecules with tied norms need it.
    """
    rtol = _tie_rtol(norms.dtype)
    matrices, norms = matrices.detach().cpu().numpy(), norms.detach().cpu().numpy()
    return torch.from_numpy(np.stack([canonical_order(mat, nrm, rtol) for mat, nrm in zip(matrices, norms)]))


def _half_z_to_2_4(like):
    """(119,) table of the diagonal entries 0.5 Z^2.4, computed in float64, in like's dtype and device."""
    return _half_z_to_2_4_cached(like.dtype, like.device)


def _molecule_order(batch):
    """Permutation grouping the atoms by molecule (each in input order), or None if they already are."""
    if batch is not None and batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        return torch.argsort(batch, stable=True)
    return None


def _atoms_of(by_size, counts, batch):
    """Indices of the atoms of molecules ``by_size[0]``, ``by_size[1]``, ... in turn, each in input order."""
    in_molecule_order = _molecule_order(batch)
    first_atom = torch.cumsum(counts, 0) - counts
    sizes = counts[by_size]
    start_of_each = torch.repeat_interleave(first_atom[by_size] - (torch.cumsum(sizes, 0) - sizes), sizes)
    atoms = start_of_each + torch.arange(start_of_each.numel(), device=counts.device)
    return atoms if in_molecule_order is None else in_molecule_order[atoms]


def _raise_clash(dist, mol_ids):
    dist = dist.clone()
    dist.diagonal(dim1=1, dim2=2).fill_(torch.inf)
    b, i, j = (int(v) for v in (dist == dist.amin()).nonzero()[0])
    r = float(dist[b, i, j])
    if r == 0.0:
        raise ValueError(f"molecule {int(mol_ids[b])}: atoms {i} and {j} are at the same position; "
                         "the Coulomb matrix entry Z_i Z_j / r would be infinite")
    raise ValueError(f"molecule {int(mol_ids[b])}: atoms {i} and {j} are {r:g} apart; "
                     "the Coulomb matrix entry Z_i Z_j / r overflows")


def _tie_rtol(dtype):
    """Relative gap below which sorted_l2 calls two row norms equal, for norms computed in ``dtype``."""
    return max(_TIE_RTOL, 100 * torch.finfo(dtype).eps)


def _descending_order(norms, tied):
    """Atom order (b, m) by descending row norm, and the molecules (k,) with tied norms.

    With ``tied``, near-equal norms keep input order. Symmetric molecules have
    rows whose norms agree exactly in exact arithmetic; in floating point they
    differ by rounding that depends on the padding, so a plain sort would order
    them differently in a batch and alone. Such rows are rare, so only they pay
    for the second sort. Without ``tied`` no molecule is reported.
    """
    values, order = torch.sort(norms, dim=1, descending=True, stable=True)
    none = torch.zeros(0, dtype=torch.int64, device=norms.device)
    if not tied or norms.shape[1] < 2:
        return order, none
    gap = (values[:, :-1] - values[:, 1:]) > _tie_rtol(norms.dtype) * values[:, :-1].abs()
    tied_rows = (~gap).any(dim=1).nonzero()[:, 0]
    if tied_rows.numel() == 0:
        return order, none
    gap, order_tied = gap[tied_rows], order[tied_rows]
    group = torch.cat([torch.zeros_like(gap[:, :1]), gap], dim=1).cumsum(dim=1)
    rank = torch.empty_like(group).scatter_(1, order_tied, group)
    m = norms.shape[1]
    order[tied_rows] = torch.argsort(rank * m + torch.arange(m, device=norms.device), dim=1)
    return order, tied_rows
