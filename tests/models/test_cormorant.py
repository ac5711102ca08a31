"""Cormorant tested as physics: E(3) equivariance of every level, invariant energies, forces, MD."""

import copy

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from geognn.models import Cormorant, build_model
from geognn.testing import (
    check_batch_equals_individual,
    check_feature_equivariance,
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


def chiral_molecule():
    """C bonded to H, F, OH and NH2: four different substituents, so it has no mirror plane."""
    pos = torch.tensor([[0.0, 0, 0], [1.09, 0, 0], [-0.36, 1.03, 0], [-0.36, -0.51, 0.89],
                        [-0.36, -0.51, -0.89], [-0.1, -0.2, 1.85]], dtype=torch.float64)
    data = Data(z=torch.tensor([6, 1, 9, 8, 7, 1]), pos=pos)
    data.edge_index, _ = radius_graph(pos, CUTOFF)
    return data


def calibrate(model, dtype=torch.float64):
    """Batch-norm statistics of a few molecules, as training would leave them (else the features are tiny)."""
    data = [chiral_molecule()]
    data.append(Data(z=torch.tensor([8, 1, 1, 8, 1, 1]), pos=torch.tensor(
        [[0.0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0], [2.9, 0.1, 0.2], [3.4, 0.8, 0.3], [3.3, -0.7, 0.1]],
        dtype=torch.float64)))
    data[1].edge_index, _ = radius_graph(data[1].pos, CUTOFF)
    batch = Batch.from_data_list(data)
    batch.pos = batch.pos.to(dtype)
    norms = [m for m in model.modules() if hasattr(m, "running_var")]
    for norm in norms:
        norm.momentum = 1.0
    with torch.no_grad():
        model.train()(batch)
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def tiny_cormorant(dtype=torch.float64, seed=0, **kw):
    torch.manual_seed(seed)
    config = dict(max_l=2, max_sh=2, num_channels=4, num_levels=3, cutoff=CUTOFF, num_basis=4)
    config.update(kw)
    model = calibrate(Cormorant(**config).to(dtype), dtype)
    if not model.dipole:
        model.set_target_statistics(torch.tensor([-0.3] * model.num_targets), torch.tensor([2.0] * model.num_targets))
        atomref = torch.zeros(model.max_z + 1, model.num_targets)
        atomref[[1, 6, 7, 8, 9]] = torch.tensor([-13.6, -1029.0, -1484.0, -2041.0, -2713.0]).unsqueeze(1)
        model.set_atomref(atomref)
    return model.eval()


@pytest.fixture(scope="module")
def model():
    return tiny_cormorant()


def test_every_level_is_e3_equivariant_to_1e_9(model, qm9_molecules):
    data = Batch.from_data_list([with_graph(m, CUTOFF) for m in qm9_molecules[:2]])
    features = lambda d: model.features(d.z, d.pos, d.edge_index)  # noqa: E731
    check_feature_equivariance(features, data, model.level_irreps, tol=1e-9)
    assert [str(ir) for ir in model.level_irreps][-1] == "4x0e+4x0o+4x1o+4x1e+4x2e+4x2o"


def test_pseudo_tensors_change_sign_under_inversion_and_true_tensors_do_not(model):
    data = chiral_molecule()
    last = model.level_irreps[-1]
    before = model.features(data.z, data.pos, data.edge_index)[-1]
    after = model.features(data.z, -data.pos, data.edge_index)[-1]
    for (mul, ir), block in zip(last, last.slices()):
        sign = ir.p  # e3nn labels by the sign under inversion: 1o and 2o flip, 1e and 2e do not
        torch.testing.assert_close(after[:, block], sign * before[:, block])
        assert before[:, block].abs().max() > 1e-6, f"block {ir} is empty: the test would prove nothing"


def test_pseudo_scalars_vanish_for_a_planar_molecule(model):
    # A mirror plane maps the molecule onto itself, so every pseudo-scalar equals minus itself.
    planar = Data(z=torch.tensor([8, 1, 1, 6, 1, 1]), pos=torch.tensor(
        [[0.0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0], [2.9, 0.1, 0], [3.4, 0.8, 0], [3.3, -0.7, 0]],
        dtype=torch.float64))
    planar.edge_index, _ = radius_graph(planar.pos, CUTOFF)
    last = model.level_irreps[-1]
    pseudo_scalars = model.features(planar.z, planar.pos, planar.edge_index)[-1][:, last.slices()[1]]
    assert str(last[1].ir) == "0o" and pseudo_scalars.abs().max() < 1e-12
    chiral = chiral_molecule()
    assert model.features(chiral.z, chiral.pos, chiral.edge_index)[-1][:, last.slices()[1]].abs().max() > 1e-6


def test_energy_and_forces_are_invariant_under_rotation_reflection_translation(qm9_molecules, float_dtype):
    model = tiny_cormorant(float_dtype)
    data = with_graph(qm9_molecules[0], CUTOFF, float_dtype)
    check_rotation_invariance(model, data, forces=True)
    check_reflection_invariance(model, data, forces=True)
    check_translation_invariance(model, data, forces=True)


def test_a_chiral_molecule_and_its_mirror_image_get_the_same_energy(model):
    data = chiral_molecule()
    mirror = data.clone()
    mirror.pos = data.pos * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    torch.testing.assert_close(model(mirror)["y"], model(data)["y"], rtol=1e-12, atol=1e-12)


def test_atom_order_batching_and_forces(model, qm9_molecules):
    molecules = [with_graph(m, CUTOFF) for m in qm9_molecules[:3]]
    check_permutation_invariance(model, Batch.from_data_list(molecules), forces=True)
    check_batch_equals_individual(model, molecules, forces=True)
    check_forces_match_finite_differences(model, molecules[1], atoms=[0, 3])


def test_energy_is_smooth_when_an_atom_crosses_the_cutoff(model, qm9_molecules):
    check_smooth_at_cutoff(model, with_graph(qm9_molecules[0], CUTOFF), CUTOFF, graph_fn=radius_graph)


def test_isolated_atoms(model):
    for z in (1, 6, 8):
        check_isolated_atom(model, z=z)


def test_fused_cg_path_equals_e3nn_tensor_products(qm9_molecules):
    model = tiny_cormorant(max_l=3, max_sh=3, num_channels=3, num_levels=2)
    reference = copy.deepcopy(model).use_e3nn()
    data = Batch.from_data_list([with_graph(m, CUTOFF) for m in qm9_molecules[:3]])
    fast, slow = model(data, forces=False)["y"], reference(data)["y"]
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-10)
    single = with_graph(qm9_molecules[0], CUTOFF)
    torch.testing.assert_close(tiny_cormorant(max_l=3, max_sh=3, num_channels=3, num_levels=2)(single, forces=True)["forces"],
                               reference(single, forces=True)["forces"], rtol=1e-10, atol=1e-10)


def test_molecular_head_and_multi_target_readouts(qm9_molecules):
    data = with_graph(qm9_molecules[0], CUTOFF)
    for model in (tiny_cormorant(head="molecular"), tiny_cormorant(num_targets=2, readout=["sum", "mean"])):
        check_rotation_invariance(model, data)
        check_reflection_invariance(model, data)
        assert model(data)["y"].shape == (1, model.num_targets)


def test_dipole_head_gives_an_equivariant_origin_free_vector(qm9_molecules):
    model = tiny_cormorant(dipole=True)
    with torch.no_grad():
        model.vector_weight.normal_()
    data = with_graph(qm9_molecules[1], CUTOFF)
    check_feature_equivariance(lambda d: model(d)["dipole"], data, "1o", per_atom=False)
    out = model(data)
    torch.testing.assert_close(out["y"], out["dipole"].norm(dim=-1, keepdim=True), rtol=1e-9, atol=1e-9)
    assert model.readouts == ["mean"] and out["y"].shape == (1, 1)
    periodic = data.clone()
    periodic.edge_shift = torch.zeros(data.edge_index.shape[1], 3, dtype=torch.float64)
    periodic.edge_shift[0, 0] = 5.0
    with pytest.raises(ValueError, match="periodic structure has none"):
        model(periodic)


def test_output_scale_statistics_and_atomref_apply_per_atom():
    model = tiny_cormorant()
    lone = Data(z=torch.tensor([8]), pos=torch.zeros(1, 3, dtype=torch.float64),
                edge_index=torch.zeros(2, 0, dtype=torch.long))
    raw = tiny_cormorant()
    raw.set_target_statistics(torch.zeros(1), torch.ones(1))
    raw.set_atomref(torch.zeros(10, 1))
    torch.testing.assert_close(model(lone)["y"], raw(lone)["y"] * 2.0 - 0.3 - 2041.0)


def test_bad_input_and_options_are_clear_errors(model):
    with pytest.raises(ValueError, match=r"atomic numbers \[2\] are not among this Cormorant's species"):
        model(Data(z=torch.tensor([6, 2]), pos=torch.tensor([[0.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64)))
    with pytest.raises(ValueError, match="head must be one of"):
        Cormorant(head="pooled")
    with pytest.raises(ValueError, match="dipole=True.*num_targets=2"):
        Cormorant(dipole=True, num_targets=2)
    with pytest.raises(ValueError, match="num_channels >= 1"):
        Cormorant(num_channels=0)


def test_config_rebuilds_the_same_model_through_the_registry(model, qm9_molecules):
    rebuilt = build_model("cormorant", **model.config).double()
    rebuilt.load_state_dict(model.state_dict())
    data = with_graph(qm9_molecules[0], CUTOFF)
    torch.testing.assert_close(rebuilt.eval()(data)["y"], model(data)["y"])
    assert not any("cg" in key or "reference" in key for key in model.state_dict())  # constants stay out


def test_short_nve_md_with_the_ase_calculator_conserves_energy():
    from ase import Atoms, units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from geognn.calculators import GeognnCalculator

    atoms = Atoms("OH2OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0],
                                       [2.9, 0.1, 0.2], [3.4, 0.8, 0.3], [3.3, -0.7, 0.1]])
    atoms.calc = GeognnCalculator(tiny_cormorant(cutoff=4.0))
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    totals = []
    dyn.attach(lambda: totals.append(atoms.get_potential_energy() + atoms.get_kinetic_energy()), interval=10)
    dyn.run(100)
    drift = np.abs(np.array(totals) - totals[0]).max()
    # Stated tolerance: 1% of the initial kinetic energy scale (about 0.23 meV here), as for SchNet.
    assert drift < 0.01 * 1.5 * len(atoms) * units.kB * 300, f"total energy drifted by {drift:.3e} eV"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_cuda_energies_and_forces_equal_the_cpu_ones(qm9_molecules):
    model = tiny_cormorant()
    data = Batch.from_data_list([with_graph(m, CUTOFF) for m in qm9_molecules[:3]])
    cpu = model(data, forces=False)["y"]
    gpu_model = copy.deepcopy(model).cuda()
    gpu = gpu_model(data.cuda())["y"].cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-10, atol=1e-10)
    single = with_graph(qm9_molecules[0], CUTOFF)
    torch.testing.assert_close(gpu_model(single.cuda(), forces=True)["forces"].cpu(),
                               model(single, forces=True)["forces"], rtol=1e-9, atol=1e-9)
