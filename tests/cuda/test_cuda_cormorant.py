"""Cormorant on the GPU: the CPU's energies, forces and weight gradients, on molecules made here.

Self-contained (no QM9, RDKit or ASE, none of which the borrowed GPU machine has):
random molecules of H, C, N, O, F from test_cuda_schnet.random_batch, in float64,
where CUDA and the CPU must agree to rounding. Skipped without a CUDA device.
"""

import copy
import sys
from pathlib import Path

import pytest
import torch

import geognn.ops as ops
from geognn.models import Cormorant

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cuda_schnet import random_batch  # noqa: E402

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and ops.HAS_CUDA_KERNELS),
                                reason="needs a CUDA device and a CUDA build of geognn._C")


@pytest.mark.parametrize("max_l", [1, 2])
def test_energies_forces_and_weight_gradients_on_cuda_equal_the_cpu(max_l):
    torch.manual_seed(0)
    model = Cormorant(max_l=max_l, max_sh=max_l, num_channels=4, num_levels=2, cutoff=5.0).double()
    results = []
    for device, m in (("cpu", model), ("cuda", copy.deepcopy(model).cuda())):
        z, pos, batch, edge_index, num_graphs = random_batch(6, seed=1, device=device)
        pos = pos.clone().requires_grad_(True)
        energy = m.predict(z, pos, batch, edge_index, None, num_graphs)
        forces = -torch.autograd.grad(energy.sum(), pos, create_graph=True)[0]
        loss = energy.pow(2).sum() + forces.pow(2).sum()
        grads = torch.autograd.grad(loss, [p for p in m.parameters() if p.requires_grad])
        results.append((energy.detach().cpu(), forces.detach().cpu(), [g.cpu() for g in grads]))
    (e_cpu, f_cpu, g_cpu), (e_gpu, f_gpu, g_gpu) = results
    torch.testing.assert_close(e_gpu, e_cpu, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(f_gpu, f_cpu, rtol=1e-9, atol=1e-9)
    for a, b in zip(g_gpu, g_cpu):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)


def test_float32_training_steps_on_cuda_follow_the_cpu():
    torch.manual_seed(0)
    model = Cormorant(max_l=2, max_sh=2, num_channels=6, num_levels=2, cutoff=5.0)
    runs = []
    for device, m in (("cpu", model), ("cuda", copy.deepcopy(model).cuda())):
        z, pos, batch, edge_index, num_graphs = random_batch(16, seed=2, device=device, dtype=torch.float32)
        target = torch.linspace(-1, 1, num_graphs, device=device)
        optimiser = torch.optim.Adam(m.parameters(), lr=1e-3)
        losses = []
        for _ in range(5):
            optimiser.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(m.predict(z, pos, batch, edge_index, None, num_graphs).reshape(-1),
                                                target)
            loss.backward()
            optimiser.step()
            losses.append(float(loss))
        runs.append(losses)
    assert runs[1] == pytest.approx(runs[0], rel=1e-3, abs=1e-4)
