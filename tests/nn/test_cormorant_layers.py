"""Cormorant's layers: the fast CG path equals e3nn's, the radial pieces have their closed forms."""

import math

import pytest
import torch
from e3nn import o3

from geognn.nn.cormorant import (
    ChannelwiseCG,
    EquivariantBatchNorm,
    SineRadialBasis,
    SoftCutoff,
    cg_paths,
    channel_major,
    channelwise_linear,
    feature_irreps,
    irreps_major,
    scalar_invariants,
    species_features,
)
from geognn.nn.cormorant.cg import component_offsets, linear_gather_index


def e3nn_in_float64(cls, *args):
    """An e3nn module built with float64 coefficients (e3nn computes them in the default dtype)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return cls(*args)
    finally:
        torch.set_default_dtype(default)


@pytest.mark.parametrize("max_l", [1, 2, 3])
def test_channelwise_cg_equals_e3nn_tensor_product(max_l):
    g = torch.Generator().manual_seed(max_l)
    channels = 3
    features = feature_irreps(channels, max_l)
    edge = o3.Irreps([(channels, ir) for _, ir in o3.Irreps.spherical_harmonics(max_l)])
    for irreps1, square in ((edge, False), (features, True)):
        irreps_out, paths = cg_paths(irreps1, features, max_l, square=square)
        x1 = torch.randn(7, irreps1.dim, generator=g, dtype=torch.float64)
        x2 = x1 if square else torch.randn(7, features.dim, generator=g, dtype=torch.float64)
        expected = e3nn_in_float64(o3.TensorProduct, irreps1, features, irreps_out, paths)(x1, x2)
        a, b = channel_major(x1, irreps1), channel_major(x2, features)
        outer = (a.unsqueeze(-1) * b.unsqueeze(-2)).reshape(7 * channels, a.shape[-1], b.shape[-1])
        got = ChannelwiseCG(irreps1, features, irreps_out, paths)(outer).reshape(7, channels, -1)
        torch.testing.assert_close(irreps_major(got, irreps_out), expected, rtol=1e-12, atol=1e-12)


def test_square_paths_left_out_are_zero_or_repeats():
    """x (x) x: odd-l paths of a block with itself vanish; b2 x b1 is +-(b1 x b2), so only b1 <= b2 is kept."""
    g = torch.Generator().manual_seed(0)
    irreps = feature_irreps(2, 2)
    x = torch.randn(5, irreps.dim, generator=g, dtype=torch.float64)
    full_out, full_paths = cg_paths(irreps, irreps, 2)
    full = e3nn_in_float64(o3.TensorProduct, irreps, irreps, full_out, full_paths)(x, x)
    kept_out, kept_paths = cg_paths(irreps, irreps, 2, square=True)
    kept = e3nn_in_float64(o3.TensorProduct, irreps, irreps, kept_out, kept_paths)(x, x)
    blocks = {}
    for (i1, i2, i_out, *_), block in zip(full_paths, full_out.slices()):
        blocks[(i1, i2, full_out[i_out].ir.l)] = full[:, block]
    kept_keys = {(i1, i2, kept_out[i_out].ir.l) for i1, i2, i_out, *_ in kept_paths}
    for (i1, i2, l), values in blocks.items():
        if (i1, i2, l) in kept_keys:
            continue
        if i1 == i2:
            assert values.abs().max() < 1e-12, f"block {i1} with itself, l={l}, should vanish"
        else:
            mirror = blocks[(i2, i1, l)]
            assert min((values - mirror).abs().max(), (values + mirror).abs().max()) < 1e-12
    assert len(kept_paths) < len(full_paths) / 2 + len(irreps)


def test_channelwise_linear_equals_e3nn_linear():
    g = torch.Generator().manual_seed(1)
    irreps_in = o3.Irreps("4x0e + 4x1o + 4x1o + 4x0e + 4x2e + 4x1e")
    irreps_out = o3.Irreps("4x0e + 4x1o + 4x1e + 4x2e + 4x2o")
    linear = e3nn_in_float64(o3.Linear, irreps_in, irreps_out)
    x = torch.randn(6, irreps_in.dim, generator=g, dtype=torch.float64)
    got = channelwise_linear(linear, channel_major(x, irreps_in), linear_gather_index(linear))
    torch.testing.assert_close(irreps_major(got, irreps_out), linear(x), rtol=1e-12, atol=1e-12)
    assert got[..., -5:].abs().max() == 0  # 2o has no input: zeros, as in e3nn


def test_layout_conversions_are_inverse():
    irreps = feature_irreps(3, 2)
    x = torch.randn(4, irreps.dim, dtype=torch.float64)
    assert torch.equal(irreps_major(channel_major(x, irreps), irreps), x)


def test_sine_radial_basis_closed_form():
    basis = SineRadialBasis(num_basis=2, cutoff=4.0, max_power=2).double()
    r = torch.tensor([0.9, 2.5], dtype=torch.float64)
    out = basis(r)
    assert out.shape == (2, 2 * 2 * 3)
    f = torch.tensor([math.pi / 4, math.pi / 2], dtype=torch.float64)
    waves = torch.cat([torch.sin(r[:, None] * f), torch.cos(r[:, None] * f)], dim=1)
    for p in range(3):
        torch.testing.assert_close(out[:, p::3], waves / r[:, None] ** p)


def test_soft_cutoff_is_a_sigmoid_with_positive_width_and_no_subnormals():
    cutoff = SoftCutoff(3, radius=(2.0, 4.0), width=0.5).double()
    r = torch.tensor([3.0, 100.0], dtype=torch.float64)
    out = cutoff(r)
    torch.testing.assert_close(out[0], torch.sigmoid((torch.tensor([2.0, 3.0, 4.0], dtype=torch.float64) - 3.0) / 0.5))
    assert (out[1] >= torch.sigmoid(torch.tensor(SoftCutoff.MIN_ARGUMENT, dtype=torch.float64))).all()
    with pytest.raises(ValueError, match="width > 0"):
        SoftCutoff(3, radius=2.0, width=0.0)


def test_equivariant_batch_norm_scales_blocks_to_unit_rms_and_stays_equivariant():
    irreps = o3.Irreps("2x0e + 2x1o + 2x2e")
    norm = EquivariantBatchNorm(irreps, soft_cap=False).double()
    x = channel_major(5.0 * torch.randn(200, irreps.dim, dtype=torch.float64) + 3.0, irreps)
    out = norm.train()(x)
    for block in component_offsets(irreps):
        rms = out[:, :, block].square().mean(dim=(0, 2)).sqrt()
        torch.testing.assert_close(rms, torch.ones_like(rms), rtol=1e-3, atol=1e-3)
    assert out[:, :, 0].mean(0).abs().max() < 1e-9  # scalars centred
    assert norm.running_var.min() > 1.0  # the running statistics moved towards the batch's
    transform = -o3.rand_matrix(dtype=torch.float64)  # a rotation times inversion
    wigner = e3nn_in_float64(irreps.D_from_matrix, transform)
    moved = channel_major(irreps_major(x, irreps) @ wigner.T, irreps)
    for mode in (norm.train(), norm.eval()):  # batch statistics and running statistics
        capped = EquivariantBatchNorm(irreps).double().train(mode.training)
        for module in (mode, capped):
            torch.testing.assert_close(irreps_major(module(moved), irreps), irreps_major(module(x), irreps) @ wigner.T)


def test_soft_cap_bounds_outliers_and_leaves_small_blocks_alone():
    irreps = o3.Irreps("3x0e + 3x1o")
    norm = EquivariantBatchNorm(irreps).double().eval()  # running statistics: mean 0, variance 1
    x = channel_major(torch.randn(4, irreps.dim, dtype=torch.float64), irreps)
    huge = norm(1e6 * x)
    assert (huge.square().mean(dim=1) @ norm.block_average).max() < 1 + 1e-9  # per atom and block
    torch.testing.assert_close(norm(1e-6 * x), 1e-6 * x, rtol=1e-5, atol=0)  # only eps = 1e-5 of the batch norm


def test_species_features_are_one_hot_times_charge_powers():
    index = torch.full((10,), -1, dtype=torch.long)
    index[torch.tensor([1, 6, 8])] = torch.arange(3)
    charges = torch.tensor([1, 6, 8], dtype=torch.float64) / 8
    out = species_features(index, charges, torch.tensor([6, 1]), charge_power=2)
    expected = torch.zeros(2, 9, dtype=torch.float64)
    expected[0, 3:6] = torch.tensor([1.0, 0.75, 0.5625])
    expected[1, 0:3] = torch.tensor([1.0, 0.125, 0.015625])
    torch.testing.assert_close(out, expected)


def test_cg_product_without_the_outer_tensor_equals_the_outer_route():
    g = torch.Generator().manual_seed(5)
    irreps = feature_irreps(3, 2)
    irreps_out, paths = cg_paths(irreps, irreps, 2, square=True)
    cg = ChannelwiseCG(irreps, irreps, irreps_out, paths)
    x = torch.randn(8, irreps.dim // 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(8, irreps.dim // 3, generator=g, dtype=torch.float64)
    outer = x.unsqueeze(-1) * y.unsqueeze(-2)
    torch.testing.assert_close(cg.product(x, y), cg(outer))
    torch.testing.assert_close(cg.product(x, x), cg(x.unsqueeze(-1) * x.unsqueeze(-2)))
    assert torch.autograd.gradgradcheck(lambda t: cg.product(t, t), (x,))
