"""The shipped Cormorant (cormorant-qm9-small): verified on load, reproduces its card, invariant, used by predict."""

import json

import pytest
import torch
from torch_geometric.data import Batch

from geognn import __version__, zoo
from geognn.cli.main import main as cli_main
from geognn.testing import (check_permutation_invariance, check_reflection_invariance, check_rotation_invariance,
                            check_translation_invariance)

from .predict_checks import check_smiles_predictions, check_xyz_prediction_equals_the_model

NAME = "cormorant-qm9-small"
# Test MAE (eV) of U0 and gap over the first 500 molecules of the card's test split, computed by this test's
# own route when the model was made: a fast exact check of the weights, the split and the evaluation.
FIRST_500_MAE = (0.080925, 0.437948)


def test_the_shipped_cormorant_has_a_complete_card_and_small_weights():
    assert NAME in zoo.list() and zoo.families()["cormorant"] == [NAME]
    card = zoo.card(NAME)
    for key in ("description", "targets", "units", "metrics", "headline", "training", "sha256", "caveats"):
        assert card[key], key
    assert card["model"] == "cormorant" and card["targets"] == ["U0", "gap"]
    assert card["units"] == {"U0": "eV", "gap": "eV"}
    training = card["training"]
    assert training["command"].startswith("OMP_NUM_THREADS=1 geognn train --model cormorant --dataset qm9")
    assert training["data"]["split_seed"] == 0 and training["data"]["n_test"] == 10_000
    assert training["epochs_run"] and training["train_time_s"] > 0
    assert any("SchNet" in caveat for caveat in card["caveats"])
    assert zoo.checkpoint_path(NAME).stat().st_size < 2_000_000


def test_damaged_weights_are_refused(zoo_copy):
    weights = zoo_copy / f"{NAME}.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match="damaged or was replaced; reinstall geognn"):
        zoo.load(NAME)


def test_a_cormorant_made_by_a_newer_geognn_is_refused(zoo_copy):
    path = zoo_copy / f"{NAME}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "geognn_version": "99.0.0"}))
    with pytest.raises(zoo.ZooError, match=f"made by geognn 99.0.0, and this is geognn {__version__}: upgrade"):
        zoo.load(NAME)


def test_shipped_weights_load_with_torch_safe_loader_as_a_cormorant():
    from geognn.models import Cormorant

    raw = torch.load(zoo.checkpoint_path(NAME), weights_only=True)  # plain torch: nothing can run
    assert raw["model_name"] == "cormorant" and "optimizer_state" not in raw
    model = zoo.load(NAME)
    assert isinstance(model, Cormorant) and model.training is False
    assert sum(p.numel() for p in model.parameters()) == zoo.card(NAME)["parameters"]


@pytest.fixture(scope="module")
def first_test_molecules():
    """The first 500 of the model's held-out test molecules, rebuilt from its card (its training run's split)."""
    from geognn.cli.datasets import attach_graph
    from geognn.data import QM9, random_split

    card = zoo.card(NAME)
    data = card["training"]["data"]
    dataset = QM9(card["targets"], progress=False)
    assert len(dataset) == data["qm9_molecules"]
    split = random_split(len(dataset), (data["n_train"], data["n_val"], data["n_test"]), seed=data["split_seed"])
    assert len(split.test) == data["n_test"]
    return [attach_graph(dataset[int(i)], card["model_config"]["cutoff"]) for i in split.test[:500]]


def test_the_first_test_molecules_give_the_recorded_mae_close_to_the_card(first_test_molecules):
    model = zoo.load(NAME)
    card = zoo.card(NAME)
    with torch.no_grad():
        batch = Batch.from_data_list(first_test_molecules)
        mae = (model(batch)["y"] - batch.y.reshape(batch.num_graphs, -1)).abs().double().mean(0)
    for k, target in enumerate(card["targets"]):
        assert mae[k].item() == pytest.approx(FIRST_500_MAE[k], rel=1e-3)
        # 500 of the 10,000 test molecules: their MAE is the card's within sampling noise (a few per cent).
        assert mae[k].item() == pytest.approx(card["metrics"][f"mae_{target}"], rel=0.15)


def test_predictions_are_invariant_under_rotations_reflections_translations_and_permutations(first_test_molecules):
    model = zoo.load(NAME).double()
    molecule = first_test_molecules[0].clone()
    molecule.pos = molecule.pos.double()
    with torch.no_grad():
        check_rotation_invariance(model, molecule)
        check_reflection_invariance(model, molecule)
        check_translation_invariance(model, molecule)
        check_permutation_invariance(model, molecule)


def test_predict_cli_takes_the_zoo_name_and_smiles(tmp_path):
    # The gap is this model's weak target (see its card) and is checked more loosely than SchNet's.
    check_smiles_predictions(NAME, tmp_path, gap_abs=2.0)


def test_predict_cli_equals_the_python_model_on_a_qm9_geometry(tmp_path, first_test_molecules):
    check_xyz_prediction_equals_the_model(NAME, tmp_path, first_test_molecules[0])


def test_zoo_info_prints_the_cormorant_card(capsys):
    assert cli_main(["zoo", "info", NAME]) == 0
    assert json.loads(capsys.readouterr().out) == zoo.card(NAME)
