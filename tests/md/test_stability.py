"""The MD stability check: its criteria, h(r), NVE energy conservation with a learned model, and a broken
model flagged as unstable."""

import json

import numpy as np
import pytest
import torch

from geognn.calculators import GeognnCalculator
from geognn.data import XTBMD17
from geognn.md import (bond_lengths, distance_histogram, energy_drift, hr_error, simulate, stability_check,
                       unphysical_reason, write_report)
from geognn.models import SchNet

ZOO_FORCE_FIELD = "schnet-xtb-ethanol"


@pytest.fixture(scope="module")
def ethanol():
    return XTBMD17("ethanol")


def reference_lengths(data):
    return bond_lengths(data.relaxed_positions.numpy(), data.bonds.numpy())


def test_a_stretched_bond_and_collapsed_atoms_are_unphysical(ethanol):
    pos = ethanol.relaxed_positions.numpy().copy()
    bonds, ref = ethanol.bonds.numpy(), reference_lengths(ethanol)
    assert unphysical_reason(pos, bonds, ref) is None
    a, b = bonds[0]
    stretched = pos.copy()
    stretched[b] = pos[a] + 1.6 * (pos[b] - pos[a])
    assert "stretched" in unphysical_reason(stretched, bonds, ref)
    collapsed = pos.copy()
    i, j = 3, 7
    collapsed[j] = collapsed[i] + 0.3 * np.array([1.0, 0, 0])
    assert unphysical_reason(collapsed, np.zeros((0, 2), int), np.zeros(0)) == "two atoms 0.30 Å apart"
    assert unphysical_reason(np.full_like(pos, np.nan), bonds, ref) == "non-finite positions"


def test_hr_error_is_zero_for_the_same_frames_and_two_for_disjoint_distances(ethanol):
    frames = ethanol.frame_positions().numpy()
    h = distance_histogram(frames)
    assert hr_error(h, h) == 0.0
    assert np.sum(h * 0.05) == pytest.approx(1.0)
    # Scaled 5x, every distance (0.9-3.9 Å in ethanol) moves past the largest original one: disjoint supports.
    assert hr_error(distance_histogram(frames * 5.0), h) == pytest.approx(2.0, abs=1e-9)
    # Two halves of the 500 K reference agree closely: the statistical floor of the measure.
    assert hr_error(distance_histogram(frames[::2]), distance_histogram(frames[1::2])) < 0.05


def test_energy_drift_is_the_slope_per_atom():
    t = np.linspace(0, 2, 50)
    assert energy_drift(t, -300.0 + 0.009 * t, 9) == pytest.approx(1.0)


def test_the_calculator_with_a_verlet_skin_equals_the_exact_radius_graph(ethanol):
    torch.manual_seed(0)
    model = SchNet(hidden_channels=16, num_filters=16, num_interactions=2, num_rbf=16, cutoff=3.0)
    skin, exact = GeognnCalculator(model, skin=1.0), GeognnCalculator(model, skin=0.0)
    atoms = ethanol.to_ase(5)
    for step in range(6):
        atoms.positions += 0.08 * np.random.default_rng(step).standard_normal(atoms.positions.shape)
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = skin, exact
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-10)
    assert skin.graph_builds < exact.graph_builds


def broken_model():
    """Random weights, scaled as a force field would be (1 eV per atom): forces with no bonds behind them."""
    torch.manual_seed(3)
    model = SchNet(hidden_channels=32, num_filters=32, num_interactions=2, num_rbf=20, cutoff=5.0)
    model.set_target_statistics(torch.zeros(1), torch.ones(1))
    return model


def test_stability_check_flags_a_random_model_and_passes_the_zoo_force_field(ethanol, tmp_path):
    settings = dict(runs=2, ensemble="langevin", time_ps=0.5, seed=1)
    report, runs = stability_check(GeognnCalculator(broken_model()), ethanol, **settings)
    assert report["stable_runs"] == 0 and all(r["reason"] for r in report["per_run"])
    assert report["mean_stable_ps"] < 0.5
    good, good_runs = stability_check(GeognnCalculator(f"zoo:{ZOO_FORCE_FIELD}"), ethanol, **settings)
    assert good["stable_runs"] == 2 and good["hr_error"] < report["hr_error"]
    write_report(tmp_path, good, good_runs, ethanol)
    assert json.loads((tmp_path / "stability.json").read_text())["stable_fraction"] == 1.0
    assert (tmp_path / "run0.extxyz").read_text().count("time_fs") == len(good_runs[0].time_ps)
    assert (tmp_path / "hr.png").stat().st_size > 0 and (tmp_path / "energy.png").stat().st_size > 0


def test_nve_with_the_learned_force_field_conserves_energy(ethanol):
    # 0.5 ps of velocity Verlet at 0.25 fs from a 500 K test frame, float64. Stated bound: drift below
    # 0.5 meV/atom/ps and no excursion of the total energy beyond 2 meV/atom (k_B T is 43 meV).
    atoms = ethanol.to_ase(int(ethanol.splits["test"][0]))
    run = simulate(atoms, GeognnCalculator(f"zoo:{ZOO_FORCE_FIELD}"), ensemble="nve", time_ps=0.5,
                   timestep_fs=0.25, bonds=ethanol.bonds.numpy(), reference_bond_lengths=reference_lengths(ethanol))
    assert run.stable
    total = run.total_energy
    assert abs(run.drift_meV_per_atom_ps()) < 0.5
    assert 1000 * np.abs(total - total[0]).max() / len(atoms) < 2.0


def test_geognn_md_command_writes_the_report_and_flags_a_broken_checkpoint(tmp_path, capsys):
    from geognn.cli.main import main
    from geognn.train.checkpoint import save_checkpoint

    model = broken_model()
    path = tmp_path / "broken.pt"
    save_checkpoint(path, {"model_name": "schnet", "model_config": model.config, "model_state": model.state_dict(),
                           "task": "force_field", "target_names": ["energy"], "target_units": ["eV"]})
    status = main(["md", "--model", str(path), "--dataset", "xtb-md17:ethanol", "--runs", "1", "--time-ps", "0.2",
                   "--out", str(tmp_path / "md")])
    assert status == 0
    assert "0/1 runs stayed physical" in capsys.readouterr().out
    report = json.loads((tmp_path / "md" / "stability.json").read_text())
    assert report["per_run"][0]["stable"] is False and report["criteria"]["bond_stretch_factor"] == 1.5
