import math

import numpy as np
import pytest
import torch

from geognn.nn import BesselRBF, GaussianRBF, gaussian_rbf


def test_gaussian_rbf_matches_closed_form(float_dtype):
    rbf = GaussianRBF(num_rbf=7, start=0.5, stop=3.5).to(float_dtype)
    d = torch.tensor([0.0, 0.7, 1.9, 3.5, 4.2], dtype=float_dtype)
    centers = np.linspace(0.5, 3.5, 7)
    gamma = 0.5 / 0.5**2
    expected = np.exp(-gamma * (d.double().numpy()[:, None] - centers[None, :]) ** 2)
    got = rbf(d)
    assert got.shape == (5, 7) and got.dtype == float_dtype
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-6, atol=1e-7)


def test_gaussian_rbf_default_width_matches_schnet():
    # 50 centres over 0-5 Å: spacing 5/49 Å, gamma = 0.5 / spacing^2 = 48.02 Å^-2.
    assert float(GaussianRBF(50, 0.0, 5.0).gamma) == pytest.approx(0.5 / (5 / 49) ** 2)


def test_gaussian_rbf_never_emits_float32_subnormals():
    d = torch.linspace(0.0, 5.0, 20001)
    values = GaussianRBF(50, 0.0, 5.0)(d)
    tiny = torch.finfo(torch.float32).tiny
    assert not ((values != 0) & (values.abs() < tiny)).any()
    # The naive formula does produce them at these distances, so the test means something.
    naive = torch.exp(-48.02 * (d.unsqueeze(-1) - torch.linspace(0, 5, 50)) ** 2)
    assert ((naive != 0) & (naive < tiny)).float().mean() > 0.01


def test_gaussian_rbf_cut_tail_is_below_floor_and_has_zero_gradient():
    d = torch.tensor([0.0, 4.9], requires_grad=True)
    centers = torch.tensor([0.0, 5.0])
    values = gaussian_rbf(d, centers, 48.0)
    assert values[0, 1] == 0.0 and values[1, 0] == 0.0
    values.sum().backward()
    assert torch.isfinite(d.grad).all()


def test_bessel_rbf_matches_closed_form(float_dtype):
    c = 4.0
    rbf = BesselRBF(num_rbf=5, cutoff=c).to(float_dtype)
    d = torch.tensor([0.3, 1.0, 2.5, 3.99], dtype=float_dtype)
    n = np.arange(1, 6)
    dd = d.double().numpy()[:, None]
    expected = math.sqrt(2 / c) * np.sin(n * np.pi * dd / c) / dd
    np.testing.assert_allclose(rbf(d).double().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_bessel_rbf_is_finite_at_zero_distance_with_its_limit():
    c = 5.0
    d = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    values = BesselRBF(num_rbf=3, cutoff=c).double()(d)
    expected = math.sqrt(2 / c) * np.arange(1, 4) * np.pi / c
    np.testing.assert_allclose(values[0].detach().numpy(), expected)
    values.sum().backward()
    assert torch.isfinite(d.grad).all()


def test_bessel_rbf_vanishes_at_cutoff():
    values = BesselRBF(num_rbf=8, cutoff=5.0).double()(torch.tensor([5.0], dtype=torch.float64))
    assert values.abs().max() < 1e-14


@pytest.mark.parametrize("make", [lambda: GaussianRBF(0), lambda: GaussianRBF(5, 3.0, 1.0),
                                  lambda: BesselRBF(0), lambda: BesselRBF(4, cutoff=-1.0)])
def test_radial_bases_reject_bad_parameters(make):
    with pytest.raises(ValueError):
        make()
