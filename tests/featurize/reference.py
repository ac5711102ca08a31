"""Brute-force oracles for the featurize tests: slow, obvious, independent of the library code."""

from __future__ import annotations

import itertools
import math

import numpy as np


def brute_force_pairs(pos, cutoff, cell=None, pbc=(False, False, False)):
    """Every (source, target, image) with |pos[t] - pos[s] + image @ cell| < cutoff, by enumeration.

    Images are enumerated explicitly along each periodic direction, far enough
    that no pair within the cutoff can be missed: the distance between lattice
    planes along direction k is 1 / |b_k| (b = rows of inv(cell).T), and atoms
    may sit outside the cell, so the spread of their fractional coordinates is
    added. Returns a set of (source, target, n0, n1, n2) tuples.
    """
    pos = np.asarray(pos, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    ranges = [range(1)] * 3
    if pbc.any():
        cell = np.asarray(cell, dtype=np.float64)
        full = cell.copy()
        # A non-periodic direction may have a zero vector; any independent vector
        # serves to compute fractional coordinates along the periodic ones.
        for k in np.nonzero(~pbc)[0]:
            if np.linalg.norm(full[k]) < 1e-12:
                full[k] = np.cross(full[(k + 1) % 3], full[(k + 2) % 3])
                if np.linalg.norm(full[k]) < 1e-12:
                    full[k] = np.eye(3)[k]
        recip = np.linalg.inv(full).T
        frac = pos @ np.linalg.inv(full)
        ranges = []
        for k in range(3):
            if not pbc[k]:
                ranges.append(range(0, 1))
                continue
            spread = np.ptp(frac[:, k]) if len(pos) else 0.0
            n = math.ceil(cutoff * np.linalg.norm(recip[k]) + spread) + 1
            ranges.append(range(-n, n + 1))
    pairs = set()
    for image in itertools.product(*ranges):
        shift = np.asarray(image, dtype=np.float64) @ cell if pbc.any() else np.zeros(3)
        vec = pos[None, :, :] - pos[:, None, :] + shift  # [source, target]
        dist = np.linalg.norm(vec, axis=2)
        for s, t in zip(*np.nonzero(dist < cutoff)):
            if s == t and image == (0, 0, 0):
                continue
            pairs.add((int(s), int(t), *image))
    return pairs


def pairs_from_graph(edge_index, edge_shift, cell=None):
    """The (source, target, n0, n1, n2) set of a radius graph, images recovered from the shifts."""
    shift = edge_shift.detach().double().numpy()
    if cell is None:
        assert np.abs(shift).max(initial=0.0) == 0.0
        images = np.zeros((len(shift), 3))
    else:
        cell = np.asarray(cell, dtype=np.float64)
        images = shift @ np.linalg.pinv(cell)
        assert np.allclose(images, np.round(images), atol=1e-6), "shifts are not lattice vectors"
    out = set()
    for (s, t), n in zip(edge_index.T.tolist(), np.round(images).astype(int).tolist()):
        out.add((s, t, *n))
    assert len(out) == edge_index.shape[1], "an edge appears twice"
    return out
