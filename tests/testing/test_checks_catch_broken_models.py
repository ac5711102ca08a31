"""The shipped checks must fail on models that break the property they check
(and pass on one that keeps it), otherwise they prove nothing."""

import pytest
import torch
from torch_geometric.data import Data

from geognn.testing import (
    check_batch_equals_individual,
    check_forces_match_finite_differences,
    check_isolated_atom,
    check_permutation_invariance,
    check_reflection_invariance,
    check_rotation_invariance,
    check_translation_invariance,
    permute_atoms,
    random_reflection,
    random_rotation,
)
from geognn.ops import scatter


class PairModel(torch.nn.Module):
    """E = sum over edges of f(|r_ij|), with an optional deliberate flaw."""

    def __init__(self, flaw=None):
        super().__init__()
        self.flaw = flaw
        self.readout = "sum"

    def energy(self, data, pos):
        batch = getattr(data, "batch", None)
        batch = torch.zeros_like(data.z) if batch is None else batch
        src, dst = data.edge_index
        vec = pos[dst] - pos[src]
        if self.flaw == "uses_x":
            pair = torch.exp(-vec[:, 0] ** 2)
        else:
            pair = torch.exp(-vec.norm(dim=-1))
        atom = data.z.to(pos.dtype)
        if self.flaw == "absolute":
            atom = atom + pos[:, 0]
        if self.flaw == "order":
            atom = atom * torch.arange(1, len(atom) + 1, dtype=pos.dtype)
        if self.flaw == "batch_leak":
            atom = atom + pos.shape[0]
        num_graphs = int(batch.max()) + 1
        e = scatter(atom, batch, num_graphs) + scatter(pair, batch[dst], num_graphs)
        if self.flaw == "chiral":
            # A triple product: invariant under rotations, odd under mirrors.
            e = e + 0.1 * torch.linalg.det(torch.stack([pos[1] - pos[0], pos[2] - pos[0], pos[3] - pos[0]]))
        return e.unsqueeze(-1)

    def forward(self, data, forces=False):
        pos = data.pos.detach().requires_grad_(True) if forces else data.pos
        with torch.enable_grad():
            y = self.energy(data, pos)
            if not forces:
                return {"y": y}
            (g,) = torch.autograd.grad(y.sum(), pos)
        sign = 1.0 if self.flaw == "force_sign" else -1.0
        return {"y": y, "forces": sign * g}


def molecule(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, dtype=torch.float64, generator=g)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = i != j
    return Data(z=torch.randint(1, 9, (n,), generator=g), pos=pos, edge_index=torch.stack([j[keep], i[keep]]))


def test_random_matrices_are_rotations_and_reflections():
    g = torch.Generator().manual_seed(0)
    r, m = random_rotation(generator=g), random_reflection(generator=g)
    torch.testing.assert_close(r @ r.T, torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(m @ m.T, torch.eye(3, dtype=torch.float64))
    assert torch.det(r).item() == pytest.approx(1.0) and torch.det(m).item() == pytest.approx(-1.0)


def test_permute_atoms_relabels_edges_consistently():
    data = molecule(4)
    perm = torch.tensor([2, 0, 3, 1])
    moved = permute_atoms(data, perm)
    old_pairs = {(int(s), int(d)) for s, d in data.edge_index.T}
    new_pairs = {(int(perm[s]), int(perm[d])) for s, d in moved.edge_index.T}
    assert old_pairs == new_pairs


def test_checks_pass_on_a_correct_model():
    model, data = PairModel(), molecule()
    check_rotation_invariance(model, data, forces=True)
    check_reflection_invariance(model, data, forces=True)
    check_translation_invariance(model, data, forces=True)
    check_permutation_invariance(model, data, forces=True)
    check_batch_equals_individual(model, [molecule(4, 1), molecule(6, 2)], forces=True)
    check_forces_match_finite_differences(model, data)
    check_isolated_atom(model, z=6)


@pytest.mark.parametrize("check, flaw", [
    (check_rotation_invariance, "uses_x"),
    (check_reflection_invariance, "chiral"),
    (check_translation_invariance, "absolute"),
    (check_permutation_invariance, "order"),
    (check_forces_match_finite_differences, "force_sign"),
])
def test_each_check_catches_its_flaw(check, flaw):
    with pytest.raises(AssertionError):
        check(PairModel(flaw), molecule())


def test_a_chiral_model_passes_rotations_but_not_reflections():
    check_rotation_invariance(PairModel("chiral"), molecule(), forces=True)
    with pytest.raises(AssertionError, match="reflection|inversion"):
        check_reflection_invariance(PairModel("chiral"), molecule())


def test_batch_check_catches_a_model_that_sees_the_batch():
    with pytest.raises(AssertionError, match="in a batch vs alone"):
        check_batch_equals_individual(PairModel("batch_leak"), [molecule(4, 1), molecule(6, 2)])
