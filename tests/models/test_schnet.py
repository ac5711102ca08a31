import pytest
import torch
from torch_geometric.data import Batch, Data

from geognn.models import SchNet, build_model, fit_atomref, fit_target_statistics
from geognn.nn import BesselRBF, PolynomialCutoff
from geognn.testing import (
    check_batch_equals_individual,
    check_forces_match_finite_differences,
    check_isolated_atom,
    check_permutation_invariance,
    check_reflection_invariance,
    check_rotation_invariance,
    check_smooth_at_cutoff,
    check_translation_invariance,
)

from model_helpers import radius_graph, with_graph

CUTOFF = 3.0


def tiny_schnet(dtype=torch.float64, **kw):
    torch.manual_seed(0)
    config = dict(hidden_channels=16, num_filters=16, num_interactions=2, num_rbf=12, cutoff=CUTOFF)
    config.update(kw)
    model = SchNet(**config).to(dtype)
    # Non-trivial output scale so that the checks cover it.
    model.set_target_statistics(torch.tensor([-0.3]), torch.tensor([2.0]))
    atomref = torch.zeros(101, 1)
    atomref[[1, 6, 7, 8, 9]] = torch.tensor([[-13.6], [-1029.0], [-1484.0], [-2041.0], [-2713.0]])
    model.set_atomref(atomref)
    return model.eval()


@pytest.fixture(params=["gaussian+cosine", "bessel+polynomial"])
def model(request):
    if request.param == "gaussian+cosine":
        return tiny_schnet()
    return tiny_schnet(radial_basis=BesselRBF(8, CUTOFF), cutoff_fn=PolynomialCutoff(CUTOFF))


def test_schnet_energy_is_invariant_under_rotation_reflection_translation(model, qm9_molecules, float_dtype):
    model = model.to(float_dtype)
    data = with_graph(qm9_molecules[0], CUTOFF, float_dtype)
    check_rotation_invariance(model, data, forces=True)
    check_reflection_invariance(model, data, forces=True)
    check_translation_invariance(model, data, forces=True)


def test_schnet_is_invariant_to_atom_order(model, qm9_molecules):
    check_permutation_invariance(model, with_graph(qm9_molecules[1], CUTOFF), forces=True)
    batch = Batch.from_data_list([with_graph(m, CUTOFF) for m in qm9_molecules[:3]])
    check_permutation_invariance(model, batch, forces=True)


def test_schnet_batch_equals_molecules_one_by_one(model, qm9_molecules):
    check_batch_equals_individual(model, [with_graph(m, CUTOFF) for m in qm9_molecules], forces=True)


def test_schnet_forces_equal_finite_difference_gradient(model, qm9_molecules):
    check_forces_match_finite_differences(model, with_graph(qm9_molecules[2], CUTOFF), atoms=[0, 3, 5])


def test_schnet_energy_is_smooth_when_an_atom_crosses_the_cutoff(model, qm9_molecules):
    check_smooth_at_cutoff(model, with_graph(qm9_molecules[0], CUTOFF), CUTOFF, graph_fn=radius_graph)


def test_smoothness_check_catches_a_hard_cutoff(qm9_molecules):
    class HardCutoff(torch.nn.Module):
        def forward(self, d):
            return (d < CUTOFF).to(d.dtype)

    hard = tiny_schnet(cutoff_fn=HardCutoff())
    with pytest.raises(AssertionError, match="jumps"):
        check_smooth_at_cutoff(hard, with_graph(qm9_molecules[0], CUTOFF), CUTOFF, graph_fn=radius_graph)


def test_schnet_isolated_atom_has_finite_energy_and_zero_force(model):
    for z in (1, 6, 8):
        check_isolated_atom(model, z=z)


def test_schnet_forces_are_trainable_through_create_graph(qm9_molecules):
    model = tiny_schnet().train()
    data = with_graph(qm9_molecules[0], CUTOFF)
    out = model(data, forces=True)
    out["forces"].square().sum().backward()
    grads = [p.grad for p in model.interactions[0].conv.filter_net.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_schnet_output_scale_applies_statistics_and_atomref():
    model = tiny_schnet()
    data = Data(z=torch.tensor([8]), pos=torch.zeros(1, 3, dtype=torch.float64),
                edge_index=torch.zeros(2, 0, dtype=torch.long))
    raw = model.head(model.embedding(data.z))
    expected = raw * 2.0 - 0.3 - 2041.0
    torch.testing.assert_close(model(data)["y"], expected)


def test_schnet_mean_readout_is_size_intensive():
    model = tiny_schnet(readout="mean")
    one = Data(z=torch.tensor([6]), pos=torch.zeros(1, 3, dtype=torch.float64),
               edge_index=torch.zeros(2, 0, dtype=torch.long))
    two = Data(z=torch.tensor([6, 6]), pos=torch.tensor([[0.0, 0, 0], [100.0, 0, 0]], dtype=torch.float64),
               edge_index=torch.zeros(2, 0, dtype=torch.long))
    torch.testing.assert_close(model(one)["y"], model(two)["y"])


def test_schnet_multi_target_output_shape_and_forces_refusal(qm9_molecules):
    model = SchNet(16, 16, 1, 8, CUTOFF, num_targets=3).double()
    data = with_graph(qm9_molecules[0], CUTOFF)
    assert model(data)["y"].shape == (1, 3)
    with pytest.raises(ValueError, match="single energy target"):
        model(data, forces=True)


def test_schnet_periodic_shift_moves_the_image_atom():
    # Two atoms 9 Å apart in a 10 Å box: the periodic image is 1 Å away.
    # edge_vec = pos[dst] - pos[src] + edge_shift: (0.5 - 9.5) + 10 = 1 Å for the edge 1 -> 0.
    model = tiny_schnet()
    pos = torch.tensor([[0.5, 0.0, 0.0], [9.5, 0.0, 0.0]], dtype=torch.float64)
    pbc = Data(z=torch.tensor([6, 6]), pos=pos, edge_index=torch.tensor([[1, 0], [0, 1]]),
               edge_shift=torch.tensor([[10.0, 0, 0], [-10.0, 0, 0]], dtype=torch.float64))
    plain = Data(z=torch.tensor([6, 6]), pos=torch.tensor([[0.5, 0, 0], [-0.5, 0, 0]], dtype=torch.float64),
                 edge_index=torch.tensor([[1, 0], [0, 1]]))
    out_pbc, out_plain = model(pbc, forces=True), model(plain, forces=True)
    torch.testing.assert_close(out_pbc["y"], out_plain["y"])
    torch.testing.assert_close(out_pbc["forces"], out_plain["forces"])


def test_schnet_rejects_bad_input():
    model = tiny_schnet()
    with pytest.raises(ValueError, match="atomic numbers"):
        model(Data(z=torch.tensor([0, 6]), pos=torch.zeros(2, 3, dtype=torch.float64),
                   edge_index=torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match="pos must have shape"):
        model(Data(z=torch.tensor([1, 6]), pos=torch.zeros(3, 3, dtype=torch.float64),
                   edge_index=torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match="z must be"):
        model(Data(z=torch.tensor([1.0, 6.0]), pos=torch.zeros(2, 3, dtype=torch.float64),
                   edge_index=torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match="readout"):
        SchNet(readout="median")
    with pytest.raises(ValueError, match="radial_basis"):
        SchNet(radial_basis="fourier")
    with pytest.raises(ValueError, match="unknown model"):
        build_model("painn")


def test_target_fits_recover_known_atomrefs_and_statistics():
    g = torch.Generator().manual_seed(0)
    zs = [torch.tensor([6] * int(a) + [1] * int(b)) for a, b in torch.randint(1, 6, (30, 2), generator=g)]
    true = {1: -13.6, 6: -1029.0}
    y = torch.tensor([[sum(true[int(z)] for z in mol)] for mol in zs], dtype=torch.float64)
    atomref = fit_atomref(zs, y, max_z=10)
    assert atomref[1, 0].item() == pytest.approx(-13.6) and atomref[6, 0].item() == pytest.approx(-1029.0)
    assert atomref[8, 0].item() == 0.0
    y_noisy = y + torch.arange(30, dtype=torch.float64).unsqueeze(1) * 0.01
    mean, std = fit_target_statistics(zs, y_noisy, "sum", atomref)
    residual = torch.tensor([0.01 * k / len(m) for k, m in enumerate(zs)], dtype=torch.float64)
    assert mean.item() == pytest.approx(residual.mean().item(), abs=1e-9)
    assert std.item() == pytest.approx(residual.std(unbiased=False).item(), abs=1e-9)


def test_schnet_mixed_readout_sums_one_target_and_averages_the_other():
    torch.manual_seed(0)
    model = SchNet(8, 8, 1, 6, CUTOFF, readout=["sum", "mean"], num_targets=2).double().eval()
    atoms = Data(z=torch.tensor([6, 6]), pos=torch.tensor([[0.0, 0, 0], [100.0, 0, 0]], dtype=torch.float64),
                 edge_index=torch.zeros(2, 0, dtype=torch.long))
    lone = Data(z=torch.tensor([6]), pos=torch.zeros(1, 3, dtype=torch.float64),
                edge_index=torch.zeros(2, 0, dtype=torch.long))
    y2, y1 = model(atoms)["y"], model(lone)["y"]
    torch.testing.assert_close(y2[0, 0], 2 * y1[0, 0])
    torch.testing.assert_close(y2[0, 1], y1[0, 1])


def test_pair_shared_filters_give_per_edge_energies_and_forces_on_qm9_molecules(qm9_molecules, float_dtype):
    """The default (one filter per unordered pair, both directions) against the edge-by-edge model."""
    torch.manual_seed(0)
    model = SchNet(hidden_channels=32, num_filters=32, num_interactions=3, num_rbf=20, cutoff=5.0).to(float_dtype)
    batch = Batch.from_data_list([with_graph(m, 5.0, float_dtype) for m in qm9_molecules])
    pos = batch.pos.clone().requires_grad_(True)
    out = {}
    for share in (True, False):
        y = model.predict(batch.z, pos, batch.batch, batch.edge_index, None, batch.num_graphs, share_pairs=share)
        (grad,) = torch.autograd.grad(y.sum(), pos)
        out[share] = (y.detach(), -grad)
    tol = dict(rtol=1e-5, atol=1e-5) if float_dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[True][0], out[False][0], **tol)
    torch.testing.assert_close(out[True][1], out[False][1], **tol)


def test_schnet_works_edge_by_edge_on_a_directed_graph(qm9_molecules):
    """A graph that is not symmetric cannot share filters; the model falls back to per-edge filters."""
    model = tiny_schnet()
    data = with_graph(qm9_molecules[0], CUTOFF)
    keep = data.edge_index[0] != 0  # drop the edges out of atom 0 only: no longer symmetric
    edge_index = data.edge_index[:, keep]
    args = (data.z, data.pos, torch.zeros_like(data.z), edge_index, None, 1)
    torch.testing.assert_close(model.predict(*args), model.predict(*args, share_pairs=False), rtol=0, atol=0)


def test_energy_training_gradients_equal_those_of_plain_autograd(qm9_molecules):
    """Parameter gradients of an energy loss: hand-written filter backward == autograd.

    With ``pos.requires_grad`` the basis needs a gradient, so the model takes
    the plain autograd path; without it, the hand-written one.
    """
    model = tiny_schnet().train()
    batch = Batch.from_data_list([with_graph(m, CUTOFF) for m in qm9_molecules])
    target = torch.linspace(-1.0, 1.0, batch.num_graphs, dtype=torch.float64)

    def grads(pos):
        y = model.predict(batch.z, pos, batch.batch, batch.edge_index, None, batch.num_graphs).reshape(-1)
        return torch.autograd.grad(torch.nn.functional.mse_loss(y, target), list(model.parameters()),
                                   allow_unused=True, materialize_grads=True)

    for fast, plain in zip(grads(batch.pos), grads(batch.pos.clone().requires_grad_(True))):
        torch.testing.assert_close(fast, plain, rtol=1e-10, atol=1e-12)
