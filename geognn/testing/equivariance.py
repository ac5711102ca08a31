"""Shipped checks for equivariant *features*, not only invariant outputs.

A function of a molecule returns per-atom (or per-molecule) features laid out
as e3nn irreps, e.g. a model's hidden spherical tensors. Under an orthogonal
transform R of the positions (a rotation, or with det R = -1 a reflection),
an equivariant function must give ``f(R x) = f(x) D(R)^T``, with ``D(R)`` the
block-diagonal Wigner matrices of its irreps (parity included: an ``o`` block
changes sign under inversion, an ``e`` block does not). Translations must
leave it unchanged, and relabelling the atoms must relabel its rows.

    >>> from geognn.testing import check_feature_equivariance
    >>> check_feature_equivariance(lambda d: model.features(d.z, d.pos, d.edge_index, None),
    ...                            data, model.level_irreps)

Run it in float64: the default tolerance is then 1e-9 (relative to 1 + |value|).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from e3nn import o3

from geognn.testing._common import assert_close, default_tolerance
from geognn.testing.symmetry import _transformed, permute_atoms, random_reflection, random_rotation

FeatureFn = Callable[[object], "torch.Tensor | Sequence[torch.Tensor]"]

__all__ = ["check_feature_equivariance", "wigner_matrix"]


def _as_list(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value.detach()]
    return [v.detach() for v in value]


def _as_irreps(irreps, count: int) -> list[o3.Irreps]:
    if isinstance(irreps, (str, o3.Irreps)):
        irreps = [irreps]
    irreps = [o3.Irreps(i) for i in irreps]
    if len(irreps) != count:
        raise ValueError(f"the function returned {count} feature tensors but {len(irreps)} irreps were given")
    return irreps


def wigner_matrix(irreps: o3.Irreps, matrix: torch.Tensor) -> torch.Tensor:
    """``D(R)`` of ``irreps`` in float64, whatever torch's default dtype.

    e3nn builds it from generators made in the default dtype, so under a
    float32 default it is only accurate to about 3e-7.
    """
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return o3.Irreps(irreps).D_from_matrix(matrix.detach().cpu().to(torch.float64))
    finally:
        torch.set_default_dtype(default)


def check_feature_equivariance(fn: FeatureFn, data, irreps, tol: float | None = None, trials: int = 2,
                               seed: int = 0, per_atom: bool = True) -> None:
    """Asserts that ``fn`` is E(3)-equivariant with output ``irreps`` (and permutation-equivariant per atom).

    Args:
        fn: ``fn(data)`` -> a tensor (rows, dim irreps) or a list of them.
        data: one molecule or a batch; ``pos`` in Å.
        irreps: the output irreps (one per returned tensor for a list).
        tol: tolerance relative to 1 + |value|; default 1e-9 in float64, 2e-4 in float32.
        trials: random rotations and reflections each (inversion and one translation always).
        per_atom: rows are atoms, so permuting the atoms must permute the rows.

    Raises:
        AssertionError naming the transform, the output and the worst error.
    """
    tol = default_tolerance(data.pos.dtype) if tol is None else tol
    generator = torch.Generator().manual_seed(seed)
    dtype = data.pos.dtype
    reference = _as_list(fn(data))
    irreps = _as_irreps(irreps, len(reference))
    for k, (before, ir) in enumerate(zip(reference, irreps)):
        if before.shape[-1] != ir.dim:
            raise ValueError(f"output {k} has {before.shape[-1]} columns but its irreps {ir} have dimension {ir.dim}")
    transforms = [("rotation", random_rotation(dtype, generator)) for _ in range(trials)]
    transforms += [("reflection", random_reflection(dtype, generator)) for _ in range(trials)]
    transforms.append(("inversion", -torch.eye(3, dtype=dtype)))
    for kind, matrix in transforms:
        moved = _as_list(fn(_transformed(data, matrix)))
        for k, (before, after, ir) in enumerate(zip(reference, moved, irreps)):
            wigner = wigner_matrix(ir, matrix).to(before)
            assert_close(after, before @ wigner.T, tol, f"output {k} ({ir}) after a {kind}")
    shifted = _as_list(fn(_transformed(data, shift=torch.tensor([2.1, -4.3, 7.7], dtype=dtype))))
    for k, (before, after) in enumerate(zip(reference, shifted)):
        assert_close(after, before, tol, f"output {k} after a translation")
    if per_atom:
        perm = torch.randperm(data.pos.shape[0], generator=generator).to(data.pos.device)
        batch = getattr(data, "batch", None)
        if batch is not None:  # permute within molecules so the batch vector stays sorted
            perm = torch.cat([idx[torch.randperm(idx.numel(), generator=generator)]
                              for idx in (torch.nonzero(batch.cpu() == b).flatten() for b in batch.unique().cpu())])
        permuted = _as_list(fn(permute_atoms(data, perm)))
        for k, (before, after) in enumerate(zip(reference, permuted)):
            assert_close(after, before[perm], tol, f"output {k} after permuting atoms (rows should follow)")
