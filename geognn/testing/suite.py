"""All shipped checks in one call."""

from __future__ import annotations

from typing import Sequence

from torch_geometric.data import Data

from geognn.testing._common import GraphFn
from geognn.testing.model_checks import (
    check_batch_equals_individual,
    check_forces_match_finite_differences,
    check_isolated_atom,
    check_smooth_at_cutoff,
)
from geognn.testing.symmetry import (
    check_permutation_invariance,
    check_reflection_invariance,
    check_rotation_invariance,
    check_translation_invariance,
)


def check_energy_model(model, molecules: Sequence[Data], cutoff: float, forces: bool = True,
                       graph_fn: GraphFn | None = None) -> None:
    """Runs every shipped check on ``model`` with ``molecules`` (at least two, with graphs).

    Best in float64 (``model.double()`` and float64 ``pos``). ``cutoff`` is the
    model's cutoff in Å; ``graph_fn`` builds graphs for moved atoms (default:
    the model builds its own). Raises AssertionError at the first failure.
    """
    first = molecules[0]
    check_rotation_invariance(model, first, forces)
    check_reflection_invariance(model, first, forces)
    check_translation_invariance(model, first, forces)
    check_permutation_invariance(model, first, forces)
    check_batch_equals_individual(model, molecules, forces)
    if forces:
        check_forces_match_finite_differences(model, first, atoms=range(min(3, first.pos.shape[0])))
        check_smooth_at_cutoff(model, first, cutoff, graph_fn)
    check_isolated_atom(model, int(first.z[0]), first.pos.dtype, graph_fn, cutoff)
