"""The ops are registered with TORCH_LIBRARY: opcheck passes and torch.compile traces them."""

import pytest
import torch

import geognn.ops as ops
from geognn.ops import CSRGraph, message_sum, scatter, segment

pytestmark = pytest.mark.skipif(not ops.HAS_CPU_KERNELS, reason="native extension not built")


def _graph():
    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 6, (2, 20), generator=g)
    return CSRGraph.from_edge_index(edge_index, num_src=6)


def test_opcheck_every_op():
    g = _graph()
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(20, 3, dtype=torch.float64, requires_grad=True)
    src = torch.randn(20, 3, dtype=torch.float64, requires_grad=True)
    cases = [
        (torch.ops.geognn.csr.default, (g.dst, 6)),
        (torch.ops.geognn.message_sum.default, (x, w, g.src, g.dst, g.dst_perm, g.dst_ptr, g.src_perm, g.src_ptr)),
        (torch.ops.geognn.edge_product.default, (x, x, g.dst, g.src, g.dst_perm, g.dst_ptr, g.src_perm, g.src_ptr)),
        (torch.ops.geognn.segment_broadcast.default, (x.detach().clone().requires_grad_(), g.dst_perm, g.dst_ptr, 20, True)),
    ]
    for reduce in ("sum", "mean", "max", "min"):
        cases.append((torch.ops.geognn.segment_reduce.default, (src, g.dst_perm, g.dst_ptr, reduce)))
        cases.append((torch.ops.geognn.segment_reduce.default, (src, None, g.dst_ptr, reduce)))
        cases.append((torch.ops.geognn.scatter_reduce.default, (src, g.dst, 7, reduce)))
    _, arg = torch.ops.geognn.segment_reduce(src.detach(), g.dst_perm, g.dst_ptr, "max")
    cases.append((torch.ops.geognn.arg_scatter.default, (torch.randn(6, 3, dtype=torch.float64, requires_grad=True), arg, 20)))
    for op, args in cases:
        torch.library.opcheck(op, args)


class TinyConv(torch.nn.Module):
    """A small SchNet-like block that uses every public op."""

    def __init__(self):
        super().__init__()
        self.filter = torch.nn.Linear(4, 8)
        self.lin = torch.nn.Linear(8, 8)

    def forward(self, h, edge_attr, graph: CSRGraph, batch, indptr):
        w = self.filter(edge_attr)
        h = h + message_sum(self.lin(h), w, graph=graph)
        pooled = scatter(h, batch, 2, "sum") + scatter(h, batch, 2, "max")
        return pooled.sum() + segment(h, indptr, "mean").sum()


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_traces_every_op_forward_and_backward(backend):
    torch.manual_seed(0)
    model = TinyConv()
    g = _graph()
    h = torch.randn(6, 8, requires_grad=True)
    edge_attr = torch.randn(20, 4)
    batch = torch.tensor([0, 0, 0, 1, 1, 1])
    indptr = torch.tensor([0, 3, 6])
    eager = model(h, edge_attr, g, batch, indptr)
    (gh_eager,) = torch.autograd.grad(eager, h)
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    out = compiled(h, edge_attr, g, batch, indptr)
    (gh,) = torch.autograd.grad(out, h)
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gh, gh_eager, rtol=1e-5, atol=1e-5)
