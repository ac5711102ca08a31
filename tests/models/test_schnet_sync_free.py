"""SchNet's training step asks the device one question, and compiles once for every batch size.

On CUDA every host read (``.item()``, ``int(tensor)``, ``bool(tensor)``,
``torch.equal``, a boolean mask) waits for the GPU. These tests run on the CPU,
where the Python path of the step is the same: they count the operations that
would read from the device, and check that ``torch.compile(fullgraph=True,
dynamic=True)`` traces the whole step (pair finding and sharing included)
without a graph break and without a recompilation when the batch size changes.
"""

import pytest
import torch
from model_helpers import with_graph
from torch._dynamo.testing import CompileCounterWithBackend
from torch.utils._python_dispatch import TorchDispatchMode
from torch_geometric.data import Batch

import geognn.ops as ops
from geognn.models import SchNet

pytestmark = pytest.mark.skipif(not ops.HAS_CPU_KERNELS, reason="native extension not built")

aten = torch.ops.aten
# Operations whose result (a value or a shape) has to come back from the device.
HOST_READS = {aten._local_scalar_dense.default, aten.equal.default, aten.nonzero.default,
              aten.masked_select.default, aten.bincount.default, aten.unique_consecutive.default,
              aten._unique2.default}


class HostReads(TorchDispatchMode):
    """Records every operation of a step that reads from the device: torch's own reads, and each
    validation of geognn's that read index statistics back (geognn.validation_reads counts them)."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def __enter__(self):
        self._validations = torch.ops.geognn.validation_reads()
        return super().__enter__()

    def __exit__(self, *exc):
        self.reads += ["geognn validation"] * (torch.ops.geognn.validation_reads() - self._validations)
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        bool_mask = func is aten.index.Tensor and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] or []))
        if func in HOST_READS or bool_mask:
            self.reads.append(str(func))
        return func(*args, **kwargs)


def batch_of(molecules, cutoff=3.0):
    return Batch.from_data_list([with_graph(m, cutoff, torch.float32) for m in molecules])


def step(predict, b, target):
    y = predict(b.z, b.pos, b.batch, b.edge_index, None, b.num_graphs).reshape(-1)
    loss = torch.nn.functional.mse_loss(y, target)
    loss.backward()
    return loss.detach()


@pytest.mark.parametrize("readout", ["sum", "mean", "max"])
def test_training_step_reads_from_the_device_once(qm9_molecules, readout):
    torch.manual_seed(0)
    model = SchNet(16, 16, 2, 12, cutoff=3.0, readout=readout)
    b = batch_of(qm9_molecules[:3])
    with HostReads() as mode:
        step(model.predict, b, torch.zeros(3))
    assert mode.reads == ["geognn validation"]


@pytest.mark.parametrize("how", ["model(batch)", "inference_mode", "int32 indices", "forces"])
def test_every_way_in_reads_from_the_device_once(qm9_molecules, how):
    """The trainer and the ASE calculator call model(batch) (forces too), predict runs under inference_mode,
    and int32 indices are converted once, in the one read, not by every op."""
    torch.manual_seed(0)
    model = SchNet(16, 16, 2, 12, cutoff=3.0).eval()
    b = batch_of(qm9_molecules[:3])
    if how == "int32 indices":
        b.z, b.batch, b.edge_index = b.z.int(), b.batch.int(), b.edge_index.int()
    with HostReads() as mode:
        if how == "inference_mode":
            with torch.inference_mode():
                model.predict(b.z, b.pos, b.batch, b.edge_index, None, b.num_graphs)
        else:
            model(b, forces=how == "forces")
    assert mode.reads == ["geognn validation"]


def test_directed_graph_still_reads_once_and_works_edge_by_edge(qm9_molecules):
    torch.manual_seed(0)
    model = SchNet(16, 16, 2, 12, cutoff=3.0).eval()
    b = batch_of(qm9_molecules[:2])
    directed = b.edge_index[:, b.edge_index[0] < b.edge_index[1]]
    with HostReads() as mode:
        out = model.predict(b.z, b.pos, b.batch, directed, None, b.num_graphs)
    assert mode.reads == ["geognn validation"]
    torch.testing.assert_close(out, model.predict(b.z, b.pos, b.batch, directed, None, b.num_graphs,
                                                  share_pairs=False), rtol=0, atol=0)


def test_compiled_training_step_shares_pairs_and_does_not_recompile_across_batch_sizes(qm9_molecules):
    torch.manual_seed(0)
    model = SchNet(16, 16, 2, 12, cutoff=3.0)
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model.predict, backend=counter, fullgraph=True, dynamic=True)
    compiles_after_first = None
    for size in (2, 3, 5):  # batches of different numbers of molecules, atoms and edges
        b = batch_of(qm9_molecules[:size])
        target = torch.linspace(-1.0, 1.0, size)
        loss = step(compiled, b, target)
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        torch.testing.assert_close(loss, step(model.predict, b, target), rtol=1e-5, atol=1e-6)
        for g, p in zip(grads, model.parameters()):
            torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)
        model.zero_grad()
        compiles_after_first = compiles_after_first or counter.frame_count
    # The first call may reach the backend twice (dynamo restarts its analysis once to specialise a float
    # constant); the batches after it must reuse that graph.
    assert compiles_after_first <= 2 and counter.frame_count == compiles_after_first


def test_compiled_step_checks_indices_and_symmetry_at_run_time(qm9_molecules):
    model = SchNet(16, 16, 1, 12, cutoff=3.0).eval()
    compiled = torch.compile(model.predict, backend="aot_eager", fullgraph=True, dynamic=True)
    b = batch_of(qm9_molecules[:2])
    args = (b.z, b.pos, b.batch, b.edge_index, None, b.num_graphs)
    compiled(*args)
    bad = b.edge_index.clone()
    bad[1, 4] = b.num_nodes + 7
    with pytest.raises(IndexError, match=rf"edge_index value {b.num_nodes + 7} at position \(1, 4\)"):
        compiled(b.z, b.pos, b.batch, bad, None, b.num_graphs)
    directed = b.edge_index[:, b.edge_index[0] < b.edge_index[1]]
    with pytest.raises(ValueError, match="not symmetric.*share_pairs=False"):
        compiled(b.z, b.pos, b.batch, directed, None, b.num_graphs)
    torch.testing.assert_close(
        torch.compile(model.predict, backend="aot_eager", fullgraph=True)(
            b.z, b.pos, b.batch, directed, None, b.num_graphs, share_pairs=False),
        model.predict(b.z, b.pos, b.batch, directed, None, b.num_graphs, share_pairs=False))


@pytest.mark.parametrize("directed", [False, True])
def test_a_prepared_graph_gives_the_same_energies_and_forces_and_reads_nothing(qm9_molecules, directed):
    """An MD calculator prepares the graph once per neighbour list (prepare_graph) and reuses it while only the
    positions change: the same results as a plain call, with no validation read per call."""
    torch.manual_seed(0)
    model = SchNet(16, 16, 2, 12, cutoff=3.0).double().eval()
    b = batch_of(qm9_molecules[:3])
    b.pos = b.pos.double()
    if directed:  # edge by edge (a directed list has no pairs to share)
        b.edge_index = b.edge_index[:, b.edge_index[0] < b.edge_index[1]]
    with HostReads() as mode:
        prepared = model.prepare_graph(b)
    assert mode.reads == ["geognn validation"]
    for move in range(3):
        b.pos = b.pos + 0.01 * torch.randn_like(b.pos)
        plain = model(b, forces=True)
        with HostReads() as mode:
            reused = model(b, forces=True, graph=prepared)
        assert mode.reads == []
        torch.testing.assert_close(reused["y"], plain["y"], rtol=0, atol=0)
        torch.testing.assert_close(reused["forces"], plain["forces"], rtol=0, atol=0)


def test_prepare_graph_checks_atomic_numbers_and_needs_edges(qm9_molecules):
    model = SchNet(16, 16, 1, 12, cutoff=3.0, max_z=10)
    b = batch_of(qm9_molecules[:2])
    bad = b.clone()
    bad.z = b.z.clone()
    bad.z[3] = 11
    with pytest.raises(ValueError, match="11"):
        model.prepare_graph(bad)
    del bad.edge_index
    with pytest.raises(ValueError, match="edge_index"):
        model.prepare_graph(bad)
    with pytest.raises(ValueError, match="graph= needs the edge_index"):
        model(bad, graph=model.prepare_graph(b))
