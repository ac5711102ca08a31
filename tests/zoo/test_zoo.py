"""The model zoo: shipped weights load, are verified, and do what their card says."""


import pytest
import torch
from torch_geometric.data import Batch

from geognn import zoo
from geognn.cli.main import main as cli_main

from .predict_checks import check_smiles_predictions, check_xyz_prediction_equals_the_model

NAME = "schnet-qm9-small"


def test_the_shipped_model_is_listed_with_a_complete_card():
    assert NAME in zoo.available()
    card = zoo.card(NAME)
    for key in ("description", "targets", "units", "metrics", "training", "sha256", "caveats"):
        assert card[key], key
    assert card["targets"] == ["U0", "gap"] and card["units"] == {"U0": "eV", "gap": "eV"}
    assert card["training"]["command"].startswith("geognn train")
    card["targets"].append("x")  # a copy: the registry is unchanged
    assert zoo.card(NAME)["targets"] == ["U0", "gap"]


def test_unknown_names_list_what_exists():
    with pytest.raises(zoo.ZooError, match=f"no zoo model named 'schnet-qm7'.*{NAME}"):
        zoo.load("schnet-qm7")


def test_damaged_weights_are_refused(zoo_copy):
    weights = zoo_copy / f"{NAME}.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match="damaged or was replaced; reinstall geognn"):
        zoo.load(NAME)


@pytest.fixture(scope="module")
def test_molecules():
    """The model's own held-out test molecules, rebuilt from its card (the same split as its training run)."""
    from geognn.cli.datasets import attach_graph
    from geognn.data import QM9, random_split

    data = zoo.card(NAME)["training"]["data"]
    dataset = QM9(zoo.card(NAME)["targets"], progress=False)
    assert len(dataset) == data["qm9_molecules"]
    split = random_split(len(dataset), (data["n_train"], data["n_val"], data["n_test"]), seed=data["split_seed"])
    return [attach_graph(dataset[int(i)], 5.0) for i in split.test]


def test_the_card_metrics_are_reproduced_on_the_test_split(test_molecules):
    model = zoo.load(NAME)
    card = zoo.card(NAME)
    errors = []
    with torch.no_grad():
        for start in range(0, len(test_molecules), 500):
            batch = Batch.from_data_list(test_molecules[start:start + 500])
            errors.append((model(batch)["y"] - batch.y.reshape(batch.num_graphs, -1)).abs())
    mae = torch.cat(errors).double().mean(0)
    assert len(test_molecules) == card["training"]["data"]["n_test"]
    for k, target in enumerate(card["targets"]):
        assert mae[k].item() == pytest.approx(card["metrics"][f"mae_{target}"], rel=1e-3)


def test_predict_cli_takes_zoo_names(tmp_path):
    check_smiles_predictions(NAME, tmp_path, gap_abs=1.0)


def test_predict_cli_equals_the_python_model_on_a_qm9_geometry(tmp_path, test_molecules):
    check_xyz_prediction_equals_the_model(NAME, tmp_path, test_molecules[0])


def test_predict_cli_reports_unknown_zoo_names(tmp_path, capsys):
    smi = tmp_path / "m.smi"
    smi.write_text("C methane\n")
    assert cli_main(["predict", "--checkpoint", "zoo:nope", "--input", str(smi)]) == 2
    assert "no zoo model named 'nope'" in capsys.readouterr().err


def test_the_calculator_explains_that_this_model_is_not_an_energy_only_model():
    from geognn.calculators import GeognnCalculator

    with pytest.raises(ValueError, match="single-target energy model"):
        GeognnCalculator(f"zoo:{NAME}")


def test_zoo_command_lists_models_and_prints_cards(capsys):
    assert cli_main(["zoo"]) == 0
    listing = capsys.readouterr().out
    assert NAME in listing and "test MAE" in listing and "U0" in listing
    assert cli_main(["zoo", NAME]) == 0
    assert '"sha256"' in capsys.readouterr().out
    assert cli_main(["zoo", "nope"]) == 2


def test_shipped_weights_load_with_torch_safe_loader_in_the_current_format():
    from geognn.train.checkpoint import VERSION

    raw = torch.load(zoo.checkpoint_path(NAME), weights_only=True)  # plain torch: nothing can run
    assert raw["version"] == VERSION and raw["model_name"] == "schnet"
