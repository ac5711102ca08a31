"""KernelRidge on Coulomb matrices: fit, prediction by every route, invariances, checkpoints, errors."""

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from geognn.krr import KernelMemoryError
from geognn.models import KernelRidge
from geognn.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint


def _nuclear_repulsion(z, pos):
    """sum_{i<j} Z_i Z_j / r_ij (e^2/Å): a smooth, invariant target that KRR on Coulomb matrices can learn."""
    z = torch.as_tensor(z, dtype=torch.float64)
    d = torch.cdist(torch.as_tensor(pos), torch.as_tensor(pos))
    d.fill_diagonal_(math.inf)
    return float((z[:, None] * z[None, :] / d).sum() / 2)


@pytest.fixture(scope="module")
def molecules():
    """90 real QM9 molecules as (z, pos) and two targets: nuclear repulsion / 100 and the atom count.

    Positions rounded to float32, as geognn.data.QM9 serves them.
    """
    from geognn.data import iter_qm9_rows

    mols = [(row.z.astype(np.int64), row.pos.astype(np.float32).astype(np.float64)) for row in iter_qm9_rows(90)]
    y = torch.tensor([[_nuclear_repulsion(z, p) / 100, float(len(z))] for z, p in mols], dtype=torch.float64)
    return mols, y


def _random_rigid_motion(pos, generator):
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=generator))
    return pos @ q.T + torch.randn(3, dtype=torch.float64, generator=generator) * 5


def test_fit_interpolates_the_training_targets_with_a_tiny_lambda(molecules):
    mols, y = molecules
    model = KernelRidge(sigma=5000.0, regularization=1e-12, num_targets=2).fit(mols[:60], y[:60])
    assert model.cv_result is None and model.num_train_rows == 60
    # The features are recomputed from the stored geometries: they must be the ones fitted on.
    assert torch.allclose(model.predict_molecules(mols[:60]), y[:60], rtol=1e-6, atol=1e-6)


def test_cross_validation_chooses_sigma_and_lambda_and_reports_the_grid(molecules):
    mols, y = molecules
    model = KernelRidge(kernel="gaussian", num_targets=2).fit(mols[:60], y[:60], sigmas=[10.0, 300.0, 1e5],
                                                              lambdas=[1e-8, 1e-3], folds=3)
    cv = model.cv_result
    assert (model.sigma, model.regularization) == (cv.best_sigma, cv.best_lambda)
    assert model.sigma == 300.0  # 10 is far narrower than the distances, 1e5 far wider
    assert cv.mae.shape == (3, 2, 2) and len(cv.to_dict(["a", "b"])["grid"]) == 6
    test_error = (model.predict_molecules(mols[60:]) - y[60:]).abs().mean(0)
    assert torch.all(test_error < y[60:].std(0))  # it learned something


def test_blocked_prediction_equals_the_one_shot_kernel(molecules):
    mols, y = molecules
    model = KernelRidge(sigma=3000.0, regularization=1e-8, num_targets=2).fit(mols[:50], y[:50])
    x_test = model.featurize_molecules(mols[50:])[0]
    x_train = model.featurize_molecules(mols[:50])[0]
    one_shot = torch.exp(-torch.cdist(x_test, x_train, p=1) / 3000.0) @ model.alpha + model.target_offset
    blocked = KernelRidge(**{**model.config(), "block_bytes": 8 * 50 * 3})  # 3 test rows per block
    blocked.load_state_dict(model.state_dict())
    assert torch.allclose(blocked.predict_features(x_test), one_shot, rtol=1e-12, atol=1e-12)
    assert torch.allclose(model.predict_features(x_test), one_shot, rtol=1e-12, atol=1e-12)


def test_sorted_canonical_predictions_are_invariant_to_atom_order_and_rigid_motions(molecules):
    mols, y = molecules
    model = KernelRidge(permutation="sorted_canonical", sigma=3000.0, regularization=1e-8,
                        num_targets=2).fit(mols[:60], y[:60])
    g = torch.Generator().manual_seed(0)
    moved = []
    for z, pos in mols[60:]:
        perm = torch.randperm(len(z), generator=g).numpy()
        moved.append((z[perm], _random_rigid_motion(torch.from_numpy(pos[perm]), g).numpy()))
    assert torch.allclose(model.predict_molecules(moved), model.predict_molecules(mols[60:]), rtol=0, atol=1e-9)


def test_forward_on_a_batch_equals_predict_molecules(molecules):
    mols, y = molecules
    model = KernelRidge(sigma=3000.0, regularization=1e-8, num_targets=2).fit(mols[:40], y[:40])
    batch = Batch.from_data_list([Data(z=torch.from_numpy(z), pos=torch.from_numpy(p)) for z, p in mols[40:50]])
    assert torch.allclose(model(batch)["y"], model.predict_molecules(mols[40:50]), rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="not forces"):
        model(batch, forces=True)


@pytest.mark.parametrize("options", [dict(permutation="sorted_l2"), dict(permutation="eigenspectrum"),
                                     dict(permutation="random", augment=3, kernel="gaussian")])
def test_checkpoint_round_trip_through_the_safe_loader(molecules, tmp_path, options):
    mols, y = molecules
    model = KernelRidge(sigma=2000.0, regularization=1e-8, num_targets=2, **options).fit(mols[:40], y[:40])
    save_checkpoint(tmp_path / "krr.pt", {"model_name": "krr", "model_config": model.config(),
                                          "model_state": model.state_dict()})
    state = load_checkpoint(tmp_path / "krr.pt")  # torch.load(weights_only=True)
    assert state["model_state"]["train_pos"].dtype == torch.float32  # float32-exact positions are kept so
    loaded = model_from_checkpoint(state)
    assert isinstance(loaded, KernelRidge) and loaded.num_train_rows == 40 * options.get("augment", 1)
    assert torch.equal(loaded.predict_molecules(mols[40:]), model.predict_molecules(mols[40:]))


def test_random_augmentation_adds_rows_and_predicts_reproducibly(molecules):
    mols, y = molecules
    model = KernelRidge(permutation="random", augment=4, predict_samples=2, sigma=3000.0, regularization=1e-6,
                        num_targets=2).fit(mols[:30], y[:30])
    assert model.num_train_rows == 120
    first = model.predict_molecules(mols[30:40])
    assert torch.equal(first, model.predict_molecules(mols[30:40]))
    with pytest.raises(ValueError, match="needs permutation='random'"):
        KernelRidge(permutation="sorted_l2", augment=2)


def test_fit_on_precomputed_features_keeps_them(molecules):
    mols, y = molecules
    reference = KernelRidge(sigma=3000.0, regularization=1e-8, num_targets=2).fit(mols[:40], y[:40])
    features = reference.featurize_molecules(mols[:40])[0]
    model = KernelRidge(sigma=3000.0, regularization=1e-8, num_targets=2).fit_features(features, y[:40])
    assert model.train_features.shape == features.shape and model.train_z.numel() == 0
    assert torch.allclose(model.predict_molecules(mols[40:]), reference.predict_molecules(mols[40:]), rtol=1e-12)


def test_bad_input_is_named(molecules):
    mols, y = molecules
    with pytest.raises(ValueError, match=r"y must be \(10, 2\)"):
        KernelRidge(sigma=1.0, regularization=0.0, num_targets=2).fit(mols[:10], y[:10, :1])
    bad = y[:10].clone()
    bad[7, 1] = float("nan")
    with pytest.raises(ValueError, match="training molecule 7"):
        KernelRidge(sigma=1.0, regularization=0.0, num_targets=2).fit(mols[:10], bad)
    with pytest.raises(RuntimeError, match="not fitted"):
        KernelRidge().predict_molecules(mols[:2])
    with pytest.raises(KernelMemoryError, match="largest that fits is 20 rows"):
        KernelRidge(sigma=1.0, regularization=0.0, num_targets=2).fit(mols[:30], y[:30], memory_limit=8 * 20 * 20)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_and_prediction_equal_cpu(molecules):
    mols, y = molecules
    cpu = KernelRidge(sigma=3000.0, regularization=1e-8, num_targets=2).fit(mols[:60], y[:60])
    cuda = KernelRidge(sigma=3000.0, regularization=1e-8, num_targets=2).fit(mols[:60], y[:60], device="cuda")
    assert torch.allclose(cuda.alpha, cpu.alpha, rtol=1e-7, atol=1e-9)
    on_gpu = cuda.to("cuda")
    assert torch.allclose(on_gpu.predict_molecules(mols[60:]), cpu.predict_molecules(mols[60:]), rtol=1e-9, atol=1e-9)
