import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from geognn.calculators import GeognnCalculator
from geognn.models import SchNet


def tiny_model(seed=0):
    torch.manual_seed(seed)
    model = SchNet(hidden_channels=16, num_filters=16, num_interactions=2, num_rbf=16, cutoff=4.0)
    atomref = torch.zeros(101, 1)
    atomref[[1, 6, 8]] = torch.tensor([[-13.6], [-1029.0], [-2041.0]])
    model.set_atomref(atomref)
    return model


def water_dimer():
    return Atoms("OH2OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0],
                                      [2.9, 0.1, 0.2], [3.4, 0.8, 0.3], [3.3, -0.7, 0.1]])


def test_calculator_energy_and_forces_match_the_model_and_finite_differences():
    atoms = water_dimer()
    atoms.calc = GeognnCalculator(tiny_model())
    forces = atoms.get_forces()
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (5, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        plus.calc = minus.calc = atoms.calc
        numeric = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * h)
        assert forces[atom, axis] == pytest.approx(numeric, abs=1e-6)


def test_short_nve_md_conserves_total_energy():
    # NVE velocity Verlet, 0.25 fs steps, 200 steps (50 fs) at 300 K: with exact
    # forces the total energy drifts only by O(dt^2) integration error.
    atoms = water_dimer()
    atoms.calc = GeognnCalculator(tiny_model())
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    totals, potentials = [], []

    def record():
        potentials.append(atoms.get_potential_energy())
        totals.append(potentials[-1] + atoms.get_kinetic_energy())

    dyn.attach(record, interval=10)
    dyn.run(200)
    totals, potentials = np.array(totals), np.array(potentials)
    kinetic_scale = 1.5 * len(atoms) * units.kB * 300
    drift = np.abs(totals - totals[0]).max()
    # Stated tolerance: 1% of the initial kinetic energy scale (about 0.23 meV here).
    assert drift < 0.01 * kinetic_scale, f"total energy drifted by {drift:.3e} eV"
    # Not conserved trivially: potential and kinetic energy exchange far more than the drift.
    assert np.ptp(potentials) > 20 * drift, (np.ptp(potentials), drift)


def test_geometry_optimisation_lowers_the_energy_and_the_forces():
    atoms = water_dimer()
    atoms.calc = GeognnCalculator(tiny_model())
    e0, f0 = atoms.get_potential_energy(), np.abs(atoms.get_forces()).max()
    BFGS(atoms, logfile=None).run(fmax=0.05, steps=100)
    assert atoms.get_potential_energy() < e0
    assert np.abs(atoms.get_forces()).max() < min(0.05, f0) + 1e-9


def test_periodic_cell_uses_image_neighbours():
    # One atom per 3 Å cubic box sees its own images (cutoff 4 Å): its energy
    # differs from the isolated atom, and the periodic net force is zero by symmetry.
    calc = GeognnCalculator(tiny_model())
    crystal = Atoms("C", positions=[[0.0, 0.0, 0.0]], cell=[3.0, 3.0, 3.0], pbc=True)
    crystal.calc = calc
    lone = Atoms("C", positions=[[0.0, 0.0, 0.0]])
    lone.calc = GeognnCalculator(tiny_model())
    assert crystal.get_potential_energy() != pytest.approx(lone.get_potential_energy())
    np.testing.assert_allclose(crystal.get_forces(), 0.0, atol=1e-9)


def test_calculator_refuses_multi_target_models():
    with pytest.raises(ValueError, match="single-target"):
        GeognnCalculator(SchNet(8, 8, 1, 4, 3.0, num_targets=2))


def test_calculator_refuses_a_model_that_is_not_an_energy_model():
    from geognn.models import ConvE

    with pytest.raises(ValueError, match="energy model of atoms.*ConvE is not one"):
        GeognnCalculator(ConvE(10, 3, embedding_dim=8))


def test_results_are_reused_until_positions_numbers_or_the_cell_change(monkeypatch):
    calc = GeognnCalculator(tiny_model())
    calls = []
    forward = calc.model.forward
    monkeypatch.setattr(calc.model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    atoms = water_dimer()
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    atoms.get_forces()
    assert len(calls) == 1  # both from one call
    atoms.set_initial_charges(np.ones(len(atoms)))  # not an input of the model
    assert atoms.get_potential_energy() == energy and len(calls) == 1
    atoms.positions[2, 1] += 1e-9
    assert atoms.get_potential_energy() != energy and len(calls) == 2
    atoms.numbers[5] = 8
    atoms.get_potential_energy()
    atoms.cell = [20.0, 20.0, 20.0]
    atoms.get_potential_energy()
    assert len(calls) == 4
    assert calc.check_state(atoms) == [] and "positions" in calc.check_state(water_dimer())
