"""The shipped kernel ridge regression (krr-qm9-u0): verified on load, reproduces its card, invariant, used by predict."""

import json

import numpy as np
import pytest
import torch

from geognn import __version__, zoo

from .predict_checks import predict_rows

NAME = "krr-qm9-u0"
# U0 test MAE (eV) over the first 500 molecules of the card's test split, computed by this test's route when
# the model was made: an exact check of the coefficients, the stored molecules and the features.
FIRST_500_MAE = 0.260084


@pytest.fixture(scope="module")
def model():
    return zoo.load(NAME)


@pytest.fixture(scope="module")
def test_molecules():
    from geognn.data import QM9, random_split

    qm9 = QM9("U0", progress=False)
    test = random_split(len(qm9), (10_000, 1_000, None), seed=0).train[:500]  # test molecules come first
    mols = [(qm9[int(i)].z.numpy(), qm9[int(i)].pos.double().numpy()) for i in test]
    return mols, torch.stack([qm9[int(i)].y[0] for i in test]).double()


def test_the_shipped_krr_has_a_complete_card_and_is_a_few_megabytes():
    assert NAME in zoo.list() and zoo.families()["krr"] == [NAME]
    card = zoo.card(NAME)
    for key in ("description", "targets", "units", "metrics", "headline", "training", "sha256", "caveats"):
        assert card[key], key
    assert card["model"] == "krr" and card["targets"] == ["U0"] and card["units"] == {"U0": "eV"}
    assert card["model_config"]["permutation"] == "sorted_canonical" and card["model_config"]["kernel"] == "laplacian"
    assert card["training"]["command"].startswith("geognn train --model krr --dataset qm9 --target U0")
    assert card["parameters"] == 12_000 and card["training"]["train_time_s"] > 0
    assert zoo.checkpoint_path(NAME).stat().st_size < 4_000_000


def test_shipped_coefficients_load_with_torch_safe_loader(model):
    from geognn.models import KernelRidge

    raw = torch.load(zoo.checkpoint_path(NAME), weights_only=True)  # plain torch: nothing can run
    assert raw["model_name"] == "krr" and raw["model_state"]["alpha"].shape == (12_000, 1)
    assert isinstance(model, KernelRidge) and model.num_train_rows == 12_000


def test_the_first_test_molecules_give_the_recorded_mae(model, test_molecules):
    mols, y = test_molecules
    mae = float((model.predict_molecules(mols) - y).abs().mean())
    assert mae == pytest.approx(FIRST_500_MAE, abs=1e-6)
    assert mae == pytest.approx(zoo.card(NAME)["metrics"]["mae_U0"], abs=0.03)  # 500 of the card's 10,000


def test_predictions_are_invariant_under_permutations_and_rigid_motions(model, test_molecules):
    mols, _ = test_molecules
    g = np.random.default_rng(0)
    moved = []
    for z, pos in mols[:20]:
        perm = g.permutation(len(z))
        q, _ = np.linalg.qr(g.normal(size=(3, 3)))  # a rotation or a reflection
        moved.append((z[perm], pos[perm] @ q.T + g.normal(size=3) * 3))
    assert torch.allclose(model.predict_molecules(moved), model.predict_molecules(mols[:20]), rtol=0, atol=1e-8)


def test_damaged_or_newer_models_are_refused(zoo_copy):
    weights = zoo_copy / f"{NAME}.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match="damaged or was replaced"):
        zoo.load(NAME)
    card = zoo_copy / f"{NAME}.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "geognn_version": "99.0.0"}))
    zoo._card.cache_clear()
    with pytest.raises(zoo.ZooError, match=f"made by geognn 99.0.0, and this is geognn {__version__}"):
        zoo.load(NAME)


def test_predict_cli_takes_the_zoo_name_on_smiles_and_xyz(model, tmp_path):
    import ase.io

    from geognn.featurize.io import read_molecules

    from geognn.cli.inputs import read_inputs

    smi = tmp_path / "m.smi"
    smi.write_text("CCO ethanol\nCC(C)=O acetone\n")
    rows = predict_rows(f"zoo:{NAME}", smi)
    conformers, _ = read_inputs(smi, seed=0)  # the conformers predict makes (seed 0)
    expected = model.predict_molecules(conformers)[:, 0]
    assert [r["id"] for r in rows] == ["ethanol", "acetone"]
    for row, value in zip(rows, expected):
        assert float(row["U0 (eV)"]) == pytest.approx(float(value), abs=2e-6)
    # Acetone is QM9-sized and lands near its QM9 label (-40.32 eV); ethanol is pulled toward the mean (card).
    assert float(rows[1]["U0 (eV)"]) == pytest.approx(-40.322, abs=1.0)
    from geognn.data import QM9

    data = QM9(["U0"], limit=30, progress=False)[25]
    ase.io.write(tmp_path / "m.xyz", ase.Atoms(numbers=data.z.numpy(), positions=data.pos.double().numpy()))
    read, _ = read_molecules(tmp_path / "m.xyz")
    row = predict_rows(f"zoo:{NAME}", tmp_path / "m.xyz")[0]
    assert float(row["U0 (eV)"]) == pytest.approx(float(model.predict_molecules(read)[0, 0]), abs=2e-6)
