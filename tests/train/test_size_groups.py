"""Molecule-size buckets: quantile edges of the training set, and MAE per bucket equal to a hand computation."""

import pytest
import torch
from torch_geometric.data import Data

from geognn.train import MoleculeRegression, TrainConfig
from geognn.train.distributed import DistributedContext
from geognn.train.size_groups import fit_size_buckets, largest_from


def test_buckets_cut_at_training_quantiles_and_the_last_is_open():
    buckets = fit_size_buckets([3, 3, 4, 5, 6, 7, 8, 9, 10], num_buckets=3)
    # 1/3 and 2/3 quantiles ("lower") of the nine sizes: the 3rd and 6th smallest, 4 and 7.
    assert buckets.upper == [4, 7]
    assert buckets.assign(torch.tensor([1, 4, 5, 7, 8, 29])).tolist() == [0, 0, 1, 1, 2, 2]
    assert buckets.details() == {"size1": {"atoms": [1, 4]}, "size2": {"atoms": [5, 7]},
                                 "size3": {"atoms": [8, None]}}


def test_the_largest_molecules_are_the_top_fraction_of_a_set_never_splitting_a_size():
    assert largest_from([3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 0.1) == 12  # the 0.9 quantile, "higher"
    assert largest_from([3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 0.25) == 10
    assert largest_from([5, 9, 9, 9], 0.1) == 9  # ties at the top all count
    with pytest.raises(ValueError, match="empty"):
        largest_from([], 0.1)


def test_one_size_gives_one_bucket_and_bad_arguments_are_errors():
    assert fit_size_buckets([5, 5, 5], 3).upper == []
    with pytest.raises(ValueError, match="at least one"):
        fit_size_buckets([], 3)
    with pytest.raises(ValueError, match="largest_fraction"):
        MoleculeRegression(TrainConfig(), ["E"], ["eV"], largest_fraction=1.0)


class AtomCountModel(torch.nn.Module):
    """Predicts 0.5 * number of atoms: errors a plain loop can recompute."""

    def forward(self, batch):
        counts = torch.bincount(batch.batch, minlength=batch.num_graphs).double()
        return {"y": (0.5 * counts).reshape(-1, 1).float()}


def _molecule(n, y):
    return Data(z=torch.ones(n, dtype=torch.long), pos=torch.randn(n, 3), y=torch.tensor([[y]]))


def test_mae_per_size_bucket_and_on_the_largest_equals_a_hand_computation():
    train = [_molecule(n, 0.0) for n in (2, 3, 4, 5, 6, 7)]
    val = [_molecule(n, y) for n, y in ((2, 0.0), (3, 2.0), (5, 1.0), (6, 6.0), (9, 1.0))]
    task = MoleculeRegression(TrainConfig(batch_size=2, progress=False), ["E"], ["eV"], size_buckets=2,
                              largest_fraction=0.4)
    task.fit_groups(train)
    assert task.sizes.upper == [4]  # the median of six training sizes ("lower": the 3rd smallest)
    metrics, _ = task.evaluate(AtomCountModel(), val, DistributedContext(), shard=False, collect=False)
    errors = {n: abs(0.5 * n - y) for n, y in ((2, 0.0), (3, 2.0), (5, 1.0), (6, 6.0), (9, 1.0))}
    assert metrics["mae_E"] == pytest.approx(sum(errors.values()) / 5)
    assert metrics["mae_E_size1"] == pytest.approx((errors[2] + errors[3]) / 2)
    assert metrics["mae_E_size2"] == pytest.approx((errors[5] + errors[6] + errors[9]) / 3)
    # Largest 40% of the five validation molecules: from the 0.6 quantile ("higher"), sizes 6 and 9.
    assert metrics["mae_E_largest"] == pytest.approx((errors[6] + errors[9]) / 2)
    assert task.summary_extras()["size_groups"] == {"size1": {"atoms": [1, 4]}, "size2": {"atoms": [5, None]},
                                                    "largest": {"fraction_of_evaluated_set": 0.4}}


def test_a_group_without_molecules_in_the_evaluated_set_is_left_out():
    task = MoleculeRegression(TrainConfig(progress=False), ["E"], ["eV"], size_buckets=2)
    task.fit_groups([_molecule(n, 0.0) for n in (2, 3, 8, 9)])
    metrics, _ = task.evaluate(AtomCountModel(), [_molecule(2, 1.0)], DistributedContext(), shard=False,
                               collect=False)
    assert "mae_E_size1" in metrics and "mae_E_size2" not in metrics
    assert metrics["mae_E_largest"] == metrics["mae_E"] == pytest.approx(0.0)  # one molecule: it is the largest
