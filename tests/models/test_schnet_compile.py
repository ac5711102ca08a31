"""SchNet under torch.compile: same energies and forces as eager mode.

The "aot_eager" backend runs Dynamo tracing and AOTAutograd (fake tensors
through the geognn custom ops, their registered autograd, double backward for
forces) without generating C++, so the test stays fast on a 2-core machine.
"""

import torch
from model_helpers import with_graph
from torch_geometric.data import Batch

from geognn.models import SchNet


def test_schnet_predict_compiles_and_matches_eager(qm9_molecules):
    torch.manual_seed(0)
    model = SchNet(16, 16, 2, 12, cutoff=3.0).eval()
    batch = Batch.from_data_list([with_graph(m, 3.0, torch.float32) for m in qm9_molecules[:3]])
    compiled = torch.compile(model.predict, backend="aot_eager", fullgraph=True)
    args = (batch.z, batch.pos, batch.batch, batch.edge_index, None, batch.num_graphs)
    torch.testing.assert_close(compiled(*args), model.predict(*args))


def test_compiled_schnet_gives_eager_forces(qm9_molecules):
    torch.manual_seed(0)
    model = SchNet(16, 16, 2, 12, cutoff=3.0).eval()
    data = with_graph(qm9_molecules[0], 3.0, torch.float32)
    compiled = torch.compile(model.predict, backend="aot_eager")

    def forces(fn):
        pos = data.pos.clone().requires_grad_(True)
        y = fn(data.z, pos, torch.zeros_like(data.z), data.edge_index, None, 1)
        return -torch.autograd.grad(y.sum(), pos)[0]

    torch.testing.assert_close(forces(compiled), forces(model.predict), rtol=1e-5, atol=1e-6)


def test_compiled_schnet_with_pair_index_matches_eager(qm9_molecules):
    from geognn.nn import symmetric_pairs

    torch.manual_seed(0)
    model = SchNet(16, 16, 2, 12, cutoff=3.0).eval()
    batch = Batch.from_data_list([with_graph(m, 3.0, torch.float32) for m in qm9_molecules[:3]])
    pairs = symmetric_pairs(batch.edge_index, batch.num_nodes)
    compiled = torch.compile(model.predict, backend="aot_eager", fullgraph=True)
    args = (batch.z, batch.pos, batch.batch, None, None, batch.num_graphs)
    torch.testing.assert_close(compiled(*args, pair_index=pairs),
                               model.predict(batch.z, batch.pos, batch.batch, batch.edge_index, None,
                                             batch.num_graphs, share_pairs=False))
