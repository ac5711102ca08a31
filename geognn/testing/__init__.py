"""Checks users run on their own molecular models (shipped, not only tests).

Equivariant features: :func:`check_feature_equivariance` (any function returning
e3nn irreps, e.g. a model's hidden spherical tensors).
Symmetry: :func:`check_rotation_invariance`, :func:`check_reflection_invariance`,
:func:`check_translation_invariance`, :func:`check_permutation_invariance`.
Behaviour: :func:`check_batch_equals_individual`,
:func:`check_forces_match_finite_differences`, :func:`check_smooth_at_cutoff`,
:func:`check_isolated_atom`. :func:`check_energy_model` runs them all.

A model is anything called as ``model(data)`` / ``model(data, forces=True)`` on
a PyG ``Data``/``Batch`` (``z`` int64, ``pos`` in Å) returning a dict with
``"y"`` (B, T) and ``"forces"`` (N, 3) in eV/Å, or a (B, T) tensor.

:func:`morse_clusters` is a toy dataset with exact energies and forces.
"""

from geognn.testing.equivariance import check_feature_equivariance
from geognn.testing.model_checks import (
    check_batch_equals_individual,
    check_forces_match_finite_differences,
    check_isolated_atom,
    check_smooth_at_cutoff,
)
from geognn.testing.suite import check_energy_model
from geognn.testing.toy_data import morse_clusters, morse_energy
from geognn.testing.symmetry import (
    check_orthogonal_invariance,
    check_permutation_invariance,
    check_reflection_invariance,
    check_rotation_invariance,
    check_translation_invariance,
    permute_atoms,
    random_reflection,
    random_rotation,
)

__all__ = [
    "check_batch_equals_individual",
    "check_energy_model",
    "check_feature_equivariance",
    "check_forces_match_finite_differences",
    "check_isolated_atom",
    "check_orthogonal_invariance",
    "check_permutation_invariance",
    "check_reflection_invariance",
    "check_rotation_invariance",
    "check_smooth_at_cutoff",
    "check_translation_invariance",
    "morse_clusters",
    "morse_energy",
    "permute_atoms",
    "random_reflection",
    "random_rotation",
]
