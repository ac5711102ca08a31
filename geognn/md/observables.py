"""What the MD stability check measures: bond stretch, atom collapse, h(r), energy drift.

The criteria follow Fu et al., "Forces are not enough" (2022): a trajectory is
*unphysical* from the first frame where a bond of the molecule's graph is longer
than :data:`BOND_STRETCH_FACTOR` times its length in the reference (relaxed)
structure, or two atoms are closer than :data:`COLLAPSE_DISTANCE`; the
interatomic-distance distribution h(r) of a trajectory is compared with the
reference one by ``integral |h(r) - h_ref(r)| dr``.
"""

from __future__ import annotations

import numpy as np

#: A bond longer than this factor times its reference length is broken (C-H 1.09 Å -> 1.64 Å).
BOND_STRETCH_FACTOR = 1.5
#: Two atoms closer than this (Å) have collapsed onto each other (the shortest bond, H-H, is 0.74 Å).
COLLAPSE_DISTANCE = 0.5
#: Bins of h(r): 0 to 10 Å in 0.05 Å steps.
HR_BINS = np.linspace(0.0, 10.0, 201)


def bond_lengths(positions: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """(..., B) lengths (Å) of the bonds (B, 2) in positions (..., n, 3)."""
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    return np.linalg.norm(positions[..., bonds[:, 0], :] - positions[..., bonds[:, 1], :], axis=-1)


def pair_distances(positions: np.ndarray) -> np.ndarray:
    """(..., n (n - 1) / 2) distances (Å) of every atom pair of positions (..., n, 3)."""
    n = positions.shape[-2]
    i, j = np.triu_indices(n, k=1)
    return np.linalg.norm(positions[..., i, :] - positions[..., j, :], axis=-1)


def unphysical_reason(positions: np.ndarray, bonds: np.ndarray, reference_lengths: np.ndarray,
                      factor: float = BOND_STRETCH_FACTOR, collapse: float = COLLAPSE_DISTANCE) -> str | None:
    """Why one frame (n, 3) is unphysical, or None: a non-finite position, a bond stretched beyond
    ``factor`` times its reference length, or two atoms closer than ``collapse`` Å."""
    if not np.isfinite(positions).all():
        return "non-finite positions"
    if len(bonds):
        ratio = bond_lengths(positions, bonds) / reference_lengths
        worst = int(np.argmax(ratio))
        if ratio[worst] > factor:
            a, b = (int(x) for x in np.asarray(bonds)[worst])
            return f"bond {a}-{b} stretched to {ratio[worst]:.2f}x its reference length"
    d = pair_distances(positions)
    if len(d) and d.min() < collapse:
        return f"two atoms {d.min():.2f} Å apart"
    return None


def distance_histogram(frames: np.ndarray, bins: np.ndarray = HR_BINS) -> np.ndarray:
    """h(r) of frames (F, n, 3): the density of interatomic distances, (len(bins) - 1,) in 1/Å,
    normalised to integrate to 1 over ``bins``."""
    d = pair_distances(np.asarray(frames, dtype=np.float64)).ravel()
    hist, edges = np.histogram(d, bins=bins)
    total = hist.sum() * np.diff(edges)
    return hist / np.where(total > 0, total, 1.0)


def hr_error(h: np.ndarray, h_ref: np.ndarray, bins: np.ndarray = HR_BINS) -> float:
    """``integral |h(r) - h_ref(r)| dr`` (dimensionless, 0 to 2; Fu et al.'s h(r) MAE summed over r)."""
    return float(np.sum(np.abs(h - h_ref) * np.diff(bins)))


def energy_drift(time_ps: np.ndarray, total_energy: np.ndarray, num_atoms: int) -> float:
    """Slope of a least-squares line through the total energy (eV) against time (ps), in meV/atom/ps."""
    time_ps = np.asarray(time_ps, dtype=np.float64)
    if len(time_ps) < 2 or np.ptp(time_ps) == 0:
        return float("nan")
    slope = np.polyfit(time_ps, np.asarray(total_energy, dtype=np.float64), 1)[0]
    return float(1000.0 * slope / num_atoms)
