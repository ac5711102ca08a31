import pytest
import torch

from geognn.krr import KernelMemoryError, check_fits, cross_validate, largest_fitting_rows
from geognn.krr.cross_validation import fold_of


def _smooth_problem(n=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4
    y = torch.sin(x[:, :1]) * torch.cos(x[:, 1:]) + 0.3 * x[:, :1]
    return x, y


@pytest.mark.parametrize("method", ["cholesky", "eigh"])
def test_cross_validation_picks_the_known_best_width_and_regulariser(method):
    # A smooth noise-free function: a width 100x too narrow cannot generalise, one 100x too wide cannot
    # bend, and a large lambda underfits; the right scale with a small lambda is the known best.
    x, y = _smooth_problem()
    result = cross_validate(x, y, "gaussian", sigmas=[0.01, 1.0, 100.0], lambdas=[1e-8, 1.0], folds=5,
                            method=method)
    assert (result.best_sigma, result.best_lambda) == (1.0, 1e-8)
    assert result.mae.shape == (3, 2, 1)
    assert result.score[1, 0] == result.score.min()
    summary = result.to_dict(["f"])
    assert summary["sigma"] == 1.0 and len(summary["grid"]) == 6 and "mae_f" in summary["grid"][0]


def test_eigendecomposition_and_cholesky_give_the_same_errors():
    x, y = _smooth_problem(seed=1)
    kwargs = dict(sigmas=[0.5, 2.0], lambdas=[1e-6, 1e-3], folds=4)
    chol = cross_validate(x, y, "laplacian", method="cholesky", **kwargs)
    eigh = cross_validate(x, y, "laplacian", method="eigh", **kwargs)
    assert torch.allclose(chol.mae, eigh.mae, rtol=1e-6)


def test_folds_keep_the_copies_of_a_molecule_together():
    groups = torch.arange(20).repeat(3)  # 3 augmented rows of each of 20 molecules
    fold = fold_of(groups, 5, seed=0)
    for g in range(20):
        assert fold[groups == g].unique().numel() == 1
    assert sorted(torch.bincount(fold).tolist()) == [12] * 5
    with pytest.raises(ValueError, match="at least 5 molecules"):
        fold_of(torch.arange(3), 5, seed=0)


def test_a_choice_at_the_end_of_the_grid_is_reported():
    x, y = _smooth_problem(seed=2)
    result = cross_validate(x, y, "gaussian", sigmas=[1e-3, 1e-2], lambdas=[1e-8], folds=3)
    assert any("high end" in w and "sigma" in w for w in result.warnings)


def test_memory_error_names_the_largest_n_that_fits():
    assert largest_fitting_rows(8 * 1000**2) == 1000
    check_fits(1000, memory_limit=8 * 1000**2)
    with pytest.raises(KernelMemoryError, match=r"largest that fits is 1,000 rows \(250 molecules"):
        check_fits(1001, memory_limit=8 * 1000**2, rows_per_molecule=4)
    with pytest.raises(KernelMemoryError, match="--n-train"):
        check_fits(10**7)  # 800 TB: never available
