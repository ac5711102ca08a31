"""Mixed precision: SchNet trains under torch.autocast, message_sum casts its inputs like a matrix product.

On the GPU float16 and bfloat16, on the CPU bfloat16 (the dtype CPU autocast uses).
A step's energies stay within bfloat16/float16 precision of float32's and its
gradients are finite and point the same way.
"""

import sys
from pathlib import Path

import pytest
import torch

import geognn.ops as ops
from geognn.models import SchNet
from geognn.ops import message_sum

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cuda_schnet import random_batch  # noqa: E402  (molecules made here: no QM9 needed)

CUDA = torch.cuda.is_available() and ops.HAS_CUDA_KERNELS
CASES = [
    pytest.param("cpu", torch.bfloat16, marks=pytest.mark.skipif(not ops.HAS_CPU_KERNELS, reason="no native build")),
    pytest.param("cuda", torch.float16, marks=pytest.mark.skipif(not CUDA, reason="needs a CUDA device")),
    pytest.param("cuda", torch.bfloat16, marks=pytest.mark.skipif(not CUDA, reason="needs a CUDA device")),
]


@pytest.mark.parametrize("device, dtype", CASES)
def test_message_sum_casts_both_inputs_to_the_autocast_dtype(device, dtype):
    x = torch.randn(5, 16, device=device).to(dtype)  # as an autocast Linear returns it
    w = torch.randn(7, 16, device=device)            # float32: a product with float32 cutoff values
    edge_index = torch.randint(0, 5, (2, 7), device=device)
    g = ops.CSRGraph.from_edge_index(edge_index, 5)
    with torch.autocast(device, dtype=dtype):
        out = message_sum(x, w, edge_index)
        direct = torch.ops.geognn.message_sum(x, w, g.src, g.dst, g.dst_perm, g.dst_ptr, g.src_perm, g.src_ptr)
        product = torch.ops.geognn.edge_product(x, w[:5], g.dst, g.src, g.dst_perm, g.dst_ptr, g.src_perm,
                                                g.src_ptr)
    assert out.dtype == direct.dtype == product.dtype == dtype
    expected = message_sum(x.float(), w.to(dtype).float(), edge_index)
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(direct, out, rtol=0, atol=0)


@pytest.mark.parametrize("device, dtype", CASES)
def test_a_training_step_under_autocast_follows_float32(device, dtype):
    torch.manual_seed(0)
    model = SchNet(32, 32, 2, 20, cutoff=5.0).to(device)
    z, pos, batch, edge_index, num_graphs = random_batch(6, device=device, dtype=torch.float32)
    target = torch.randn(num_graphs, device=device)

    def step(autocast):
        model.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype, enabled=autocast):
            y = model.predict(z, pos, batch, edge_index, None, num_graphs).reshape(-1)
        loss = torch.nn.functional.mse_loss(y.float(), target)
        loss.backward()
        return loss.detach(), torch.cat([p.grad.reshape(-1) for p in model.parameters()])

    loss32, grad32 = step(False)
    loss_amp, grad_amp = step(True)
    assert torch.isfinite(grad_amp).all()
    torch.testing.assert_close(loss_amp, loss32, rtol=5e-2, atol=5e-2)
    cosine = torch.nn.functional.cosine_similarity(grad_amp, grad32, dim=0)
    assert cosine > 0.99, float(cosine)
