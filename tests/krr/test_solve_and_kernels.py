import math

import pytest
import torch

from geognn.krr import NotPositiveDefinite, kernel_matrix, solve_in_place
from geognn.krr.kernels import kernel_from_distances_
from tests.krr.conftest import padded_rows


def test_kernels_follow_their_definitions():
    a, b = padded_rows(6, width=8, seed=1), padded_rows(5, width=8, seed=2)
    diff = a[:, None, :] - b[None, :, :]
    assert torch.allclose(kernel_matrix(a, b, "laplacian", 30.0), torch.exp(-diff.abs().sum(-1) / 30.0), rtol=1e-14)
    assert torch.allclose(kernel_matrix(a, b, "gaussian", 40.0),
                          torch.exp(-diff.square().sum(-1) / (2 * 40.0**2)), rtol=1e-14)
    with pytest.raises(ValueError, match="sigma"):
        kernel_matrix(a, b, "laplacian", 0.0)
    with pytest.raises(ValueError, match="kernel"):
        kernel_from_distances_(torch.ones(2, 2, dtype=torch.float64), "polynomial", 1.0)


def test_krr_interpolates_a_known_function_as_lambda_goes_to_zero():
    x = torch.linspace(0, 3, 40, dtype=torch.float64)[:, None]
    y = torch.sin(2 * x) + 0.5 * x
    k = kernel_matrix(x, None, "laplacian", 1.0)
    alpha = solve_in_place(k.clone(), y, 1e-13)
    assert torch.allclose(k @ alpha, y, atol=1e-9)
    # Between the nodes a Laplacian kernel interpolates piecewise (exponential splines): close to the function.
    x_mid = (x[1:] + x[:-1]) / 2
    pred = kernel_matrix(x_mid, x, "laplacian", 1.0) @ alpha
    assert (pred - (torch.sin(2 * x_mid) + 0.5 * x_mid)).abs().max() < 1e-2


def test_several_targets_in_one_solve_equal_separate_solves():
    x = torch.rand(60, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 50
    y = torch.randn(60, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    k = kernel_matrix(x, None, "laplacian", 100.0)
    together = solve_in_place(k.clone(), y, 1e-6)
    for t in range(3):
        assert torch.allclose(solve_in_place(k.clone(), y[:, t], 1e-6), together[:, t], rtol=1e-10, atol=1e-12)


def test_solve_agrees_with_scikit_learn_on_a_precomputed_kernel():
    sklearn = pytest.importorskip("sklearn.kernel_ridge")
    x, x_test = padded_rows(120, width=20, seed=4), padded_rows(30, width=20, seed=5)
    y = torch.randn(120, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for kernel, sigma, lam in (("laplacian", 200.0, 1e-6), ("gaussian", 80.0, 1e-4)):
        k, k_test = kernel_matrix(x, None, kernel, sigma), kernel_matrix(x_test, x, kernel, sigma)
        alpha = solve_in_place(k.clone(), y, lam)
        theirs = sklearn.KernelRidge(alpha=lam, kernel="precomputed").fit(k.numpy(), y.numpy())
        assert torch.allclose(alpha, torch.from_numpy(theirs.dual_coef_), rtol=1e-8, atol=1e-8)
        assert torch.allclose(k_test @ alpha, torch.from_numpy(theirs.predict(k_test.numpy())), rtol=1e-8, atol=1e-8)


def test_a_singular_system_says_to_raise_lambda():
    x = torch.ones(5, 3, dtype=torch.float64)  # five identical rows: K is all ones, rank 1
    with pytest.raises(NotPositiveDefinite, match="raise lambda"):
        solve_in_place(kernel_matrix(x, None, "laplacian", 1.0), torch.ones(5, dtype=torch.float64), 0.0)
    with pytest.raises(ValueError, match="lambda"):
        solve_in_place(torch.eye(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), -1.0)
    assert math.isfinite(float(solve_in_place(kernel_matrix(x, None, "laplacian", 1.0),
                                              torch.ones(5, dtype=torch.float64), 1e-3).sum()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_solve_equals_cpu():
    x = padded_rows(200, width=30, seed=6)
    y = torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    cpu = solve_in_place(kernel_matrix(x, None, "laplacian", 300.0), y, 1e-8)
    cuda = solve_in_place(kernel_matrix(x.cuda(), None, "laplacian", 300.0), y.cuda(), 1e-8)
    assert torch.allclose(cuda.cpu(), cpu, rtol=1e-8, atol=1e-8)
