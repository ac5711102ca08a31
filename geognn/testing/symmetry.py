"""Shipped checks: a molecular model's outputs are invariant (energies) or
equivariant (forces) under rotations, reflections, translations and atom
permutations.

Each check transforms the input, runs the model on both, and raises
``AssertionError`` with the worst error when they disagree. Run them in
float64 where you can: float32 rounding alone is about 1e-6 relative.
"""

from __future__ import annotations

import torch

from geognn.testing._common import assert_close, default_tolerance, predict


def random_rotation(dtype: torch.dtype = torch.float64, generator: torch.Generator | None = None) -> torch.Tensor:
    """A (3, 3) rotation matrix (det +1) drawn uniformly (QR of a Gaussian matrix)."""
    a = torch.randn(3, 3, dtype=torch.float64, generator=generator)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def random_reflection(dtype: torch.dtype = torch.float64, generator: torch.Generator | None = None) -> torch.Tensor:
    """A (3, 3) improper orthogonal matrix (det -1): a mirror through a random plane."""
    n = torch.randn(3, dtype=torch.float64, generator=generator)
    n = n / n.norm()
    return (torch.eye(3, dtype=torch.float64) - 2 * torch.outer(n, n)).to(dtype)


def _transformed(data, matrix: torch.Tensor | None = None, shift: torch.Tensor | None = None):
    """Copy of ``data`` with ``pos -> pos @ matrix^T + shift`` (PBC shifts and cell rotated too)."""
    out = data.clone()
    if matrix is not None:
        matrix = matrix.to(data.pos)
        out.pos = data.pos @ matrix.T
        for key in ("edge_shift", "edge_vec"):
            if key in data:
                out[key] = data[key] @ matrix.T
        if "cell" in data:
            out.cell = data.cell @ matrix.T  # cell vectors are rows
    if shift is not None:
        out.pos = out.pos + shift.to(data.pos)
    return out


def check_orthogonal_invariance(model, data, matrix: torch.Tensor, forces: bool = False,
                                tol: float | None = None, what: str = "orthogonal transform") -> None:
    """y(pos R^T) == y(pos) and, with ``forces``, F(pos R^T) == F(pos) R^T."""
    tol = default_tolerance(data.pos.dtype) if tol is None else tol
    y, f = predict(model, data, forces)
    y_t, f_t = predict(model, _transformed(data, matrix), forces)
    assert_close(y_t, y, tol, f"prediction after a {what}")
    if forces:
        assert_close(f_t, f @ matrix.to(f).T, tol, f"forces after a {what} (should rotate with the molecule)")


def check_rotation_invariance(model, data, forces: bool = False, tol: float | None = None, trials: int = 3,
                              seed: int = 0) -> None:
    """Energies invariant, forces equivariant, under ``trials`` random rotations."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(trials):
        check_orthogonal_invariance(model, data, random_rotation(data.pos.dtype, g), forces, tol, "rotation")


def check_reflection_invariance(model, data, forces: bool = False, tol: float | None = None, seed: int = 0) -> None:
    """Energies invariant, forces equivariant, under a mirror reflection and under inversion."""
    g = torch.Generator().manual_seed(seed)
    check_orthogonal_invariance(model, data, random_reflection(data.pos.dtype, g), forces, tol, "reflection")
    check_orthogonal_invariance(model, data, -torch.eye(3, dtype=data.pos.dtype), forces, tol, "inversion")


def check_translation_invariance(model, data, forces: bool = False, tol: float | None = None,
                                 shift: tuple[float, float, float] = (3.7, -12.1, 25.3)) -> None:
    """Energies and forces unchanged when every atom moves by ``shift`` (Å)."""
    tol = default_tolerance(data.pos.dtype) if tol is None else tol
    y, f = predict(model, data, forces)
    y_t, f_t = predict(model, _transformed(data, shift=torch.tensor(shift)), forces)
    assert_close(y_t, y, tol, "prediction after a translation")
    if forces:
        assert_close(f_t, f, tol, "forces after a translation")


def permute_atoms(data, perm: torch.Tensor):
    """Copy of ``data`` with atom ``k`` of the copy being atom ``perm[k]`` of the original.

    Per-atom fields (``z``, ``pos``, ``batch``, ``forces``) are reordered and
    ``edge_index`` relabelled; edge order is reversed as well, to catch models
    that depend on it.
    """
    n = data.pos.shape[0]
    if sorted(perm.tolist()) != list(range(n)):
        raise ValueError("perm must be a permutation of range(num_atoms)")
    out = data.clone()
    for key in ("z", "pos", "batch", "forces"):
        if key in data and data[key] is not None:
            out[key] = data[key][perm]
    if "edge_index" in data:
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(n, device=perm.device)
        out.edge_index = inverse[data.edge_index].flip(1)
        for key in ("edge_shift", "edge_vec", "edge_length"):
            if key in data:
                out[key] = data[key].flip(0)
    return out


def check_permutation_invariance(model, data, forces: bool = False, tol: float | None = None, seed: int = 0) -> None:
    """y unchanged and forces permuted along when atoms are relabelled (within each molecule).

    For a batch, atoms are permuted within each molecule so ``batch`` stays sorted.
    """
    tol = default_tolerance(data.pos.dtype) if tol is None else tol
    g = torch.Generator().manual_seed(seed)
    batch = getattr(data, "batch", None)
    n = data.pos.shape[0]
    if batch is None:
        perm = torch.randperm(n, generator=g)
    else:
        perm = torch.cat([idx[torch.randperm(idx.numel(), generator=g)]
                          for idx in (torch.nonzero(batch.cpu() == b).flatten() for b in batch.unique().cpu())])
    perm = perm.to(data.pos.device)
    y, f = predict(model, data, forces)
    y_p, f_p = predict(model, permute_atoms(data, perm), forces)
    assert_close(y_p, y, tol, "prediction after permuting atoms")
    if forces:
        assert_close(f_p, f[perm], tol, "forces after permuting atoms (should follow the atoms)")
