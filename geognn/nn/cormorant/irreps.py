"""The irreps Cormorant's features live in, and the Clebsch–Gordan paths between them.

Every hidden feature of an atom is a list of blocks, one per irreducible
representation (l, p) of O(3): ``C`` channels of a (2l + 1)-component
spherical tensor of degree l and parity p. Both parities are kept for every
l: "natural" tensors, p = (-1)^l (scalars ``0e``, vectors ``1o``, ``2e``,
``3o``, ...: what spherical harmonics of a direction are), and "pseudo"
tensors of the opposite parity (``0o``, ``1e`` such as the cross product of
two vectors, ``2o``, ...). Blocks are ordered by l, natural before pseudo:

    C x 0e + C x 0o + C x 1o + C x 1e + ... + C x Lp + C x Lp'      (L = max_l)

so a feature vector has ``2 C (L + 1)^2`` numbers. Tracking parity is what
makes the network E(3)- rather than only SO(3)-equivariant: a CG product of
two vectors (1o x 1o -> 1e) lands in a pseudo-vector block and is never
mixed with true vectors, so scalar outputs cannot tell a molecule from its
mirror image.

The CG coefficients themselves are e3nn's (:class:`e3nn.o3.TensorProduct`);
this module only lists which products to take.
"""

from __future__ import annotations

from e3nn import o3

__all__ = ["cg_paths", "feature_irreps", "present_irreps"]


def feature_irreps(num_channels: int, max_l: int) -> o3.Irreps:
    """``C x 0e + C x 0o + C x 1o + C x 1e + ...`` up to degree ``max_l`` (see the module docstring)."""
    if num_channels < 1 or max_l < 0:
        raise ValueError(f"need num_channels >= 1 and max_l >= 0, got {num_channels} and {max_l}")
    blocks = []
    for l in range(max_l + 1):
        natural = (-1) ** l
        blocks += [(num_channels, (l, natural)), (num_channels, (l, -natural))]
    return o3.Irreps(blocks)


def cg_paths(irreps1: o3.Irreps, irreps2: o3.Irreps, max_l: int,
             square: bool = False) -> tuple[o3.Irreps, list[tuple]]:
    """Channel-wise ("uuu") CG products of every block of ``irreps1`` with every block of ``irreps2``.

    Each (l1, p1) x (l2, p2) -> (l, p1 p2) path with l <= ``max_l`` gets its
    own output block, so a later linear layer can weigh the paths freely.

    With ``square=True`` (``irreps1 == irreps2``, the product of a feature
    with itself) the redundant half is left out: for blocks b1 != b2 the
    product b2 x b1 equals +-(b1 x b2), so only b1 < b2 is kept, and for
    b1 == b2 the paths with odd l are antisymmetric in the two factors and
    vanish identically (like v x v = 0), so they are skipped.

    Returns:
        ``(irreps_out, instructions)`` for ``o3.TensorProduct(irreps1, irreps2,
        irreps_out, instructions)``; every block must have the same
        multiplicity (channel count).
    """
    muls = {mul for mul, _ in irreps1} | {mul for mul, _ in irreps2}
    if len(muls) > 1:
        raise ValueError(f"channel-wise CG products need one channel count for every block, got {sorted(muls)}")
    out, instructions = [], []
    for i1, (mul, ir1) in enumerate(irreps1):
        for i2, (_, ir2) in enumerate(irreps2):
            if square and i2 < i1:
                continue
            for ir in ir1 * ir2:
                if ir.l > max_l or (square and i1 == i2 and ir.l % 2 == 1):
                    continue
                instructions.append((i1, i2, len(out), "uuu", False))
                out.append((mul, ir))
    return o3.Irreps(out), instructions


def present_irreps(target: o3.Irreps, available: o3.Irreps) -> o3.Irreps:
    """The blocks of ``target`` whose (l, p) occurs somewhere in ``available`` (the rest would stay zero)."""
    kinds = {ir for _, ir in available}
    return o3.Irreps([(mul, ir) for mul, ir in target if ir in kinds])
