import math

import numpy as np
import pytest
import torch

from geognn.nn import CosineCutoff, PolynomialCutoff


def test_cosine_cutoff_matches_closed_form(float_dtype):
    c = 5.0
    d = torch.tensor([0.0, 1.0, 2.5, 4.9, 5.0, 6.0], dtype=float_dtype)
    expected = np.where(d.double().numpy() < c, 0.5 * (np.cos(np.pi * d.double().numpy() / c) + 1), 0.0)
    np.testing.assert_allclose(CosineCutoff(c)(d).double().numpy(), expected, atol=1e-7)


@pytest.mark.parametrize("p", [3, 6, 9])
def test_polynomial_cutoff_matches_closed_form(p):
    c = 4.0
    x = np.array([0.0, 0.25, 0.5, 0.9, 1.0, 1.3])
    d = torch.tensor(x * c, dtype=torch.float64)
    expected = 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
    expected = np.where(x < 1, expected, 0.0)
    np.testing.assert_allclose(PolynomialCutoff(c, p)(d).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("cutoff_fn", [CosineCutoff(3.0), PolynomialCutoff(3.0, p=6)])
def test_cutoff_value_and_slope_vanish_at_the_cutoff(cutoff_fn):
    d = torch.tensor([3.0 - 1e-6, 3.0 + 1e-6], dtype=torch.float64, requires_grad=True)
    value = cutoff_fn(d)
    (grad,) = torch.autograd.grad(value.sum(), d)
    assert value.abs().max() < 1e-9
    assert grad.abs().max() < 1e-5


@pytest.mark.parametrize("cutoff_fn", [CosineCutoff(3.0), PolynomialCutoff(3.0)])
def test_cutoff_is_one_at_zero_and_monotone(cutoff_fn):
    d = torch.linspace(0, 3.0, 301, dtype=torch.float64)
    value = cutoff_fn(d)
    assert value[0] == pytest.approx(1.0)
    assert (value[1:] <= value[:-1] + 1e-15).all()


def test_cutoffs_reject_bad_parameters():
    with pytest.raises(ValueError, match="cutoff"):
        CosineCutoff(0.0)
    with pytest.raises(ValueError, match="p >= 1"):
        PolynomialCutoff(5.0, p=0)
    assert math.isclose(CosineCutoff(2.0).cutoff, 2.0)
