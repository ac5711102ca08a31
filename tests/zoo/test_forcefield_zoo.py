"""The zoo's force field: its card, the errors it states, and MD with it through the ASE calculator."""

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from geognn import zoo
from geognn.calculators import GeognnCalculator
from geognn.cli.datasets import xtb_md17_sets
from geognn.data import XTBMD17

NAME = "schnet-xtb-ethanol"


def test_the_force_field_card_states_its_data_errors_and_stability():
    card = zoo.card(NAME)
    for key in ("description", "targets", "units", "metrics", "training", "sha256", "caveats"):
        assert card[key], key
    assert card["units"] == {"energy": "eV", "forces": "eV/Å"} and "force MAE" in card["headline"]
    assert set(card["metrics_by_split"]) == {"train", "val", "test"}
    assert card["training"]["command"].startswith("geognn train --dataset xtb-md17:ethanol")
    langevin = [md for md in card["md_stability"] if md["ensemble"] == "langevin"][0]
    assert langevin["runs"] == 10 and langevin["time_ps"] == 10 and langevin["stable_runs"] == 10


def test_the_card_errors_are_reproduced_on_test_frames():
    model = zoo.load(NAME)
    card = zoo.card(NAME)
    _, _, test, _ = xtb_md17_sets("xtb-md17:ethanol", model.cutoff, None)
    frames = test[:100]
    energy, forces = [], []
    for batch in DataLoader(frames, batch_size=50):
        out = model(batch, forces=True)
        energy.append((out["y"].detach().reshape(-1) - batch.y.reshape(-1)).abs())
        forces.append((out["forces"].detach() - batch.forces).abs().flatten())
    force_mae = 1000 * torch.cat(forces).mean().item()
    energy_mae = 1000 * torch.cat(energy).mean().item()
    # 100 of the 500 test frames: within 25% of the card's figures over all 500.
    assert force_mae == pytest.approx(card["metrics"]["force_mae_meV"], rel=0.25)
    assert energy_mae == pytest.approx(card["metrics"]["energy_mae_meV"], rel=0.5)


def test_the_calculator_takes_the_zoo_name_and_forces_match_xtb():
    data = XTBMD17("ethanol")
    frame = int(data.splits["test"][3])
    atoms = data.to_ase(frame)
    atoms.calc = GeognnCalculator(f"zoo:{NAME}")
    forces = atoms.get_forces()
    reference = data.frame_forces([frame])[0].numpy()
    assert np.abs(forces - reference).mean() < 0.06  # eV/Å; the card's test MAE is ~15 meV/Å
    assert abs(atoms.get_potential_energy() - float(data.energy[frame])) < 0.05  # eV
