"""The shipped xTB-MD17 frames: units, shapes, fixed and disjoint splits, loading by name."""

import numpy as np
import pytest
import torch

from geognn.data import XTB_MD17_MOLECULES, XTBMD17
from geognn.data.xtb_md17 import load_generator

FORMULAS = {"ethanol": {1: 6, 6: 2, 8: 1}, "malonaldehyde": {1: 4, 6: 3, 8: 2}, "aspirin": {1: 8, 6: 9, 8: 4}}


@pytest.mark.parametrize("name", XTB_MD17_MOLECULES)
def test_shipped_frames_load_by_name_with_energies_in_eV_and_forces_in_eV_per_angstrom(name):
    data = XTBMD17(name)
    counts = {int(z): int(c) for z, c in zip(*np.unique(data[0].z.numpy(), return_counts=True))}
    assert counts == FORMULAS[name]
    n = sum(FORMULAS[name].values())
    assert len(data) == 1600 and data.frame_positions().shape == (1600, n, 3)
    frame = data[7]
    assert frame.y.shape == (1, 1) and frame.forces.shape == (n, 3) and frame.pos.dtype == torch.float32
    assert frame.y.item() == pytest.approx(float(data.energy[7]), abs=2e-3)
    # GFN2-xTB total energies are -30 to -60 eV per heavy-atom-weighted atom here; in kcal/mol they would
    # be 23x larger, in Hartree 27x smaller.
    per_atom = data.energy.mean().item() / n
    assert -60.0 < per_atom < -25.0
    # Forces at 500 K: RMS about 1 eV/Å (kcal/mol/Å would be 23x, Hartree/Bohr 50x smaller).
    rms = data.frame_forces().double().square().mean().sqrt().item()
    assert 0.4 < rms < 2.5
    # The energy fluctuates by about k_B T per degree of freedom: std ~ sqrt(3n/2) k_B T = 0.1-0.3 eV.
    kT = 8.617e-5 * 500
    assert 0.3 * np.sqrt(1.5 * n) * kT < data.energy.std().item() < 3 * np.sqrt(1.5 * n) * kT
    assert data.card["tblite_version"] == data.tblite_version and data.card["method"] == "GFN2-xTB"


@pytest.mark.parametrize("name", XTB_MD17_MOLECULES)
def test_splits_are_disjoint_have_the_stated_sizes_and_are_the_seeded_ones(name):
    data = XTBMD17(name)
    s = {k: set(v.tolist()) for k, v in data.splits.items()}
    assert {k: len(v) for k, v in s.items()} == {"train": 1000, "val": 100, "test": 500, "train_50": 50}
    assert not (s["train"] & s["val"]) and not (s["train"] & s["test"]) and not (s["val"] & s["test"])
    assert s["train_50"] <= s["train"]
    make = load_generator()
    again = make.make_splits(len(data), make.Settings(), make.MOLECULES[name].seed)
    for key, value in again.items():
        assert data.splits[key].tolist() == value.tolist(), key
    assert len(data.split("train_50")) == 50 and data.split("test")[0].idx.item() == data.splits["test"][0].item()


@pytest.mark.parametrize("name", XTB_MD17_MOLECULES)
def test_shipped_forces_are_a_gradient_of_an_invariant_energy(name):
    """-dE/dx of an energy invariant to translations and rotations has zero net force and zero net torque in
    every frame. (Forces of a constrained MD, such as ASE's FixCom-adjusted ones, have neither: no model could
    fit them.)"""
    data = XTBMD17(name)
    forces, positions = data.frame_forces().double(), data.frame_positions().double()
    assert forces.sum(1).abs().max().item() < 1e-3  # eV/Å; float32 rounding of ~1 eV/Å components is ~1e-7
    centred = positions - positions.mean(1, keepdim=True)
    torque = torch.linalg.cross(centred, forces, dim=-1).sum(1)
    assert torque.abs().max().item() < 1e-3  # eV


def test_velocities_and_frames_are_consistent_with_the_card():
    data = XTBMD17("ethanol")
    card = data.card
    spacing = card["settings"]["spacing_fs"]
    assert np.allclose(np.diff(data.time_fs.numpy()), spacing)
    # 500 K: mean kinetic energy (3n/2) k_B T within 15% (1,600 frames, FixCom removes 3 of 3n dof).
    from ase.data import atomic_masses

    masses = torch.tensor(atomic_masses[data[0].z.numpy()]).reshape(1, -1, 1)
    # v in Å/fs; (amu Å²/fs²) -> eV: 1 amu Å²/fs² = 103.6427 eV.
    kinetic = 0.5 * (masses * data.velocities.double() ** 2).sum((1, 2)) * 103.6427
    n = data.num_atoms_per_frame
    assert kinetic.mean().item() == pytest.approx(1.5 * (n - 1) * 8.617e-5 * 500, rel=0.15)
    assert card["autocorrelation"]["at_spacing"] < 0.2


def test_an_unknown_molecule_is_a_clear_error():
    with pytest.raises(ValueError, match="ethanol, malonaldehyde, aspirin"):
        XTBMD17("benzene")
    with pytest.raises(ValueError, match="no split"):
        XTBMD17("ethanol").split("holdout")
