"""SchNet on the GPU: the CPU's energies, forces and gradients; one host synchronisation per step; compiled steps.

Molecules are generated here (random atoms at least 0.9 Å apart), so the suite
needs neither QM9 nor RDKit/ASE on the GPU machine. Skipped where there is no
CUDA device or CUDA build (``make test-gpu`` runs it).
"""

import copy
import warnings

import pytest
import torch

import geognn.ops as ops
from geognn.models import SchNet

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and ops.HAS_CUDA_KERNELS),
                                reason="needs a CUDA device and a CUDA build of geognn._C")

CUTOFF = 5.0


def random_molecule(generator, atoms):
    """(z, pos): atomic numbers of H, C, N, O, F and positions in Å, no two atoms closer than 0.9 Å."""
    pos = []
    while len(pos) < atoms:
        candidate = (torch.rand(3, generator=generator, dtype=torch.float64) - 0.5) * 2.2 * atoms ** (1 / 3)
        if all(torch.linalg.norm(candidate - p) > 0.9 for p in pos):
            pos.append(candidate)
    z = torch.tensor([1, 6, 7, 8, 9])[torch.randint(0, 5, (atoms,), generator=generator)]
    return z, torch.stack(pos)


def random_batch(molecules, seed=0, device="cpu", dtype=torch.float64):
    """z (N,), pos (N, 3) Å, batch (N,), edge_index (2, E) of every ordered pair within the cutoff, B."""
    g = torch.Generator().manual_seed(seed)
    zs, positions = zip(*(random_molecule(g, int(torch.randint(4, 24, (1,), generator=g))) for _ in range(molecules)))
    z, pos = torch.cat(zs), torch.cat(positions)
    batch = torch.repeat_interleave(torch.arange(molecules), torch.tensor([len(m) for m in zs]))
    close = (torch.cdist(pos, pos) < CUTOFF) & (batch[:, None] == batch[None, :])
    close.fill_diagonal_(False)
    dst, src = torch.nonzero(close, as_tuple=True)
    return (z.to(device), pos.to(device, dtype), batch.to(device), torch.stack([src, dst]).to(device), molecules)


def energies_forces_gradients(model, z, pos, batch, edge_index, num_graphs):
    pos = pos.clone().requires_grad_(True)
    energy = model.predict(z, pos, batch, edge_index, None, num_graphs)
    forces = -torch.autograd.grad(energy.sum(), pos, create_graph=True)[0]
    loss = energy.pow(2).sum() + forces.pow(2).sum()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return energy.detach().cpu(), forces.detach().cpu(), [g.cpu() for g in grads]


@pytest.mark.parametrize("readout", ["sum", "mean", "max"])
def test_energies_forces_and_weight_gradients_on_cuda_equal_the_cpu(readout):
    torch.manual_seed(0)
    model = SchNet(32, 32, 3, 20, cutoff=CUTOFF, readout=readout).double()
    cpu = energies_forces_gradients(model, *random_batch(12))
    gpu = energies_forces_gradients(copy.deepcopy(model).cuda(), *random_batch(12, device="cuda"))
    torch.testing.assert_close(gpu[0], cpu[0], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gpu[1], cpu[1], rtol=1e-10, atol=1e-10)
    for a, b in zip(gpu[2], cpu[2]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def count_synchronisations(fn):
    """Runs fn with CUDA's sync debug mode on "warn" and returns its result and the synchronisations it made."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            result = fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return result, [w for w in caught if "synchroniz" in str(w.message)]


@pytest.mark.parametrize("readout", ["sum", "mean", "max"])
def test_a_training_step_synchronises_with_the_host_once(readout):
    torch.manual_seed(0)
    model = SchNet(64, 64, 3, 25, cutoff=CUTOFF, readout=readout).cuda()
    z, pos, batch, edge_index, num_graphs = random_batch(20, device="cuda", dtype=torch.float32)
    target = torch.randn(num_graphs, device="cuda")
    model.predict(z, pos, batch, edge_index, None, num_graphs)  # warm-up: lazy initialisation is not the step

    def step():
        y = model.predict(z, pos, batch, edge_index, None, num_graphs).reshape(-1)
        torch.nn.functional.mse_loss(y, target).backward()

    _, syncs = count_synchronisations(step)
    # The one read of interaction_graph: every index checked and the pairs' symmetry learnt together.
    assert len(syncs) == 1, [str(w.message) for w in syncs]


@pytest.mark.parametrize("how", ["model(batch)", "model(batch, forces)", "inference_mode", "int32 indices"])
def test_every_way_in_synchronises_once(how):
    """The trainer and the ASE calculator call model(batch), predict runs under inference_mode, int32 indices
    are converted in the one read: each is one host synchronisation."""
    from torch_geometric.data import Data

    torch.manual_seed(0)
    model = SchNet(32, 32, 2, 20, cutoff=CUTOFF).cuda().eval()
    z, pos, batch, edge_index, num_graphs = random_batch(6, device="cuda", dtype=torch.float32)
    if how == "int32 indices":
        z, batch, edge_index = z.int(), batch.int(), edge_index.int()
    data = Data(z=z, pos=pos, batch=batch, edge_index=edge_index)
    data.num_graphs = num_graphs  # as a PyG Batch knows it
    model.predict(z, pos, batch, edge_index, None, num_graphs)  # lazy initialisation is not what is counted

    def call():
        if how == "inference_mode":
            with torch.inference_mode():
                return model.predict(z, pos, batch, edge_index, None, num_graphs)
        if how == "int32 indices":
            return model.predict(z, pos, batch, edge_index, None, num_graphs)
        return model(data, forces=how.endswith("forces)"))

    _, syncs = count_synchronisations(call)
    assert len(syncs) == 1, [str(w.message) for w in syncs]


def test_compiled_step_on_cuda_equals_eager_and_does_not_recompile_across_batch_sizes():
    from torch._dynamo.testing import CompileCounterWithBackend

    torch.manual_seed(0)
    model = SchNet(32, 32, 2, 20, cutoff=CUTOFF).cuda()
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(model.predict, backend=counter, fullgraph=True, dynamic=True)
    first = None
    for seed, molecules in enumerate((5, 8, 13)):
        inputs = random_batch(molecules, seed=seed, device="cuda", dtype=torch.float32)
        torch.testing.assert_close(compiled(*inputs[:4], None, inputs[4]), model.predict(*inputs[:4], None, inputs[4]),
                                   rtol=1e-4, atol=1e-4)
        first = first or counter.frame_count
    assert counter.frame_count == first


def test_reduce_overhead_really_replays_cuda_graphs_with_new_values():
    """No cudagraph skips: the compiled step is recorded once and replayed for same-shape batches whose values
    differ, each time equal to eager."""
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    model = SchNet(32, 32, 2, 20, cutoff=CUTOFF).cuda().eval()
    counters.clear()
    compiled = torch.compile(model.predict, mode="reduce-overhead", fullgraph=True)
    z, pos, batch, edge_index, num_graphs = random_batch(8, device="cuda", dtype=torch.float32)
    for k in range(5):  # the same graph, atoms moved and relabelled: new values in the same shapes
        moved = pos + 0.01 * k * torch.randn_like(pos)
        species = z[torch.randperm(z.numel(), device="cuda")]
        with torch.no_grad():
            got = compiled(species, moved, batch, edge_index, None, num_graphs).clone()
            torch.testing.assert_close(got, model.predict(species, moved, batch, edge_index, None, num_graphs),
                                       rtol=1e-4, atol=1e-4)
    assert counters["inductor"]["cudagraph_skips"] == 0


def test_reduce_overhead_training_step_equals_eager():
    """torch.compile(mode="reduce-overhead") replays CUDA graphs: the index checks cannot read there, the ops'
    own bounds checks keep it memory-safe, and the numbers are eager's."""
    torch.manual_seed(0)
    eager = SchNet(32, 32, 2, 20, cutoff=CUTOFF).cuda()
    graphed = copy.deepcopy(eager)
    compiled = torch.compile(graphed.predict, mode="reduce-overhead", fullgraph=True)
    optimisers = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in (eager, graphed)]
    z, pos, batch, edge_index, num_graphs = random_batch(10, device="cuda", dtype=torch.float32)
    target = torch.randn(num_graphs, device="cuda")
    for _ in range(4):  # warm-up, recording, then replays
        losses = []
        for predict, optimiser in zip((eager.predict, compiled), optimisers):
            optimiser.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(predict(z, pos, batch, edge_index, None, num_graphs).reshape(-1),
                                                target)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-4, abs=1e-5)
    for a, b in zip(eager.parameters(), graphed.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
