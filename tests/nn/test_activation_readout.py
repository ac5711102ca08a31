import math

import pytest
import torch

from geognn.nn import Readout, ShiftedSoftplus, readout, shifted_softplus


def test_shifted_softplus_matches_closed_form(float_dtype):
    x = torch.tensor([-30.0, -1.0, 0.0, 0.5, 40.0], dtype=float_dtype)
    expected = torch.tensor([math.log1p(math.exp(v)) - math.log(2) for v in x.tolist()], dtype=torch.float64)
    torch.testing.assert_close(shifted_softplus(x).double(), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ShiftedSoftplus()(x), shifted_softplus(x))


def test_shifted_softplus_is_zero_with_slope_half_at_origin():
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    y = shifted_softplus(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert y.item() == 0.0 and g.item() == pytest.approx(0.5)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_readout_matches_per_molecule_reduction(reduce, float_dtype):
    values = torch.randn(7, 3, dtype=float_dtype, generator=torch.Generator().manual_seed(0))
    batch = torch.tensor([0, 0, 2, 2, 2, 3, 0])
    out = Readout(reduce)(values, batch, 5)
    assert out.shape == (5, 3)
    for b in range(5):
        rows = values[batch == b]
        if rows.numel() == 0:
            expected = torch.zeros(3, dtype=float_dtype)
        else:
            expected = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0).values,
                        "min": rows.min(0).values}[reduce]
        torch.testing.assert_close(out[b], expected)


def test_readout_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="readout must be one of"):
        readout(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long), 1, "median")
