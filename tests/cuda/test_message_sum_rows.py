"""message_sum over rows of every width and destinations of every in-degree, forward and backward.

On CUDA the rows kernel gives each destination a group of 8, 16 or 32 lanes that
walks its edges 8/16/32 at a time, with 16-byte vector loads where rows are
aligned: widths around multiples of the group (31-33, 63-65, 127-130, 255-260),
in-degrees around multiples of it (0, 1, 31-33, 64, 65, 1000) and misaligned
views are where such a kernel goes wrong. Each case is compared with the CPU
kernel (CUDA run, every lane width) or with the pure-PyTorch reference (CPU run).
"""

import pytest
import torch

import geognn.ops as ops
from geognn.ops import message_sum
from geognn.ops.reference import message_sum_reference

CUDA = torch.cuda.is_available() and ops.HAS_CUDA_KERNELS
DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(not ops.HAS_CPU_KERNELS, reason="native extension not built")),
    pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="needs a CUDA device and a CUDA build of geognn._C")),
]
FLOATS = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
WIDTHS = [31, 32, 33, 48, 63, 64, 65, 96, 100, 127, 128, 129, 130, 192, 255, 256, 260]
CPU_WIDTHS = [31, 64, 129, 260]  # the CPU kernel is one loop over features: a few widths cover it
IN_DEGREES = [0, 1, 31, 32, 33, 64, 65, 1000, 0, 7]  # one destination each, isolated ones included


def tolerance(dtype):
    # float32 sums of up to 1000 products (and CUDA's fused multiply-adds) round differently than float64's.
    return {torch.float64: dict(rtol=1e-12, atol=1e-12), torch.float32: dict(rtol=1e-4, atol=1e-4)}.get(
        dtype, dict(rtol=2e-2, atol=2e-2))


def degree_graph(seed=0):
    """(2, E) edges whose destinations have the in-degrees above, from random sources, in random order."""
    g = torch.Generator().manual_seed(seed)
    n = len(IN_DEGREES)
    dst = torch.repeat_interleave(torch.arange(n), torch.tensor(IN_DEGREES))
    src = torch.randint(0, n, (dst.numel(),), generator=g)
    order = torch.randperm(dst.numel(), generator=g)
    return torch.stack([src[order], dst[order]]), n


def values(rows, F, dtype, layout, generator):
    """(rows, F) values in ``dtype``: contiguous, a column slice of a wider tensor, or one element into its storage."""
    if layout == "contiguous":
        return torch.randn(rows, F, generator=generator, dtype=torch.float64).to(dtype)
    if layout == "sliced":
        return torch.randn(rows, F + 3, generator=generator, dtype=torch.float64).to(dtype)[:, 2:2 + F]
    flat = torch.randn(rows * F + 1, generator=generator, dtype=torch.float64).to(dtype)
    return flat[1:].view(rows, F)  # contiguous, but rows start off 16-byte boundaries


def forward_and_backward(x, w, edge_index, n, grad, fn=message_sum):
    x = x.detach().requires_grad_(True)
    w = w.detach().requires_grad_(True)
    out = fn(x, w, edge_index, n)
    out.backward(grad)
    return out.detach(), x.grad, w.grad


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", ["contiguous", "sliced", "offset"])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_every_width_and_in_degree_agrees_forward_and_backward(device, dtype, layout, monkeypatch):
    edge_index, n = degree_graph()
    g = torch.Generator().manual_seed(1)
    lanes = ["8", "16", "32", None] if device == "cuda" else [None]
    for F in WIDTHS if device == "cuda" else CPU_WIDTHS:
        x = values(n, F, dtype, layout, g)
        w = values(edge_index.shape[1], F, dtype, layout, g)
        grad = values(n, F, dtype, "contiguous", g)
        if device == "cpu":  # the C++ kernel against the pure-PyTorch reference, computed in float64
            expected = forward_and_backward(x.double(), w.double(), edge_index, n, grad.double(),
                                            fn=message_sum_reference)
        else:
            expected = forward_and_backward(x, w, edge_index, n, grad)
        for width in lanes:
            if width is None:
                monkeypatch.delenv("GEOGNN_MESSAGE_SUM_LANES", raising=False)
            else:
                monkeypatch.setenv("GEOGNN_MESSAGE_SUM_LANES", width)
            got = forward_and_backward(x.to(device), w.to(device), edge_index.to(device), n, grad.to(device))
            for name, a, b in zip(("out", "grad x", "grad w"), got, expected):
                torch.testing.assert_close(a.cpu().to(b.dtype), b, **tolerance(dtype),
                                           msg=lambda m: f"F={F}, lanes={width}, {name}: {m}")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device and a CUDA build of geognn._C")
def test_a_bad_lane_width_is_refused(monkeypatch):
    edge_index, n = degree_graph()
    monkeypatch.setenv("GEOGNN_MESSAGE_SUM_LANES", "12")
    with pytest.raises(ValueError, match="8, 16 or 32"):
        message_sum(torch.ones(n, 64, device="cuda"), torch.ones(edge_index.shape[1], 64, device="cuda"),
                    edge_index.cuda(), n)
