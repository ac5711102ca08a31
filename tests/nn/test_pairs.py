import torch

from geognn.nn import CFConv, CosineCutoff, GaussianRBF, PairGraph, symmetric_pairs
from geognn.ops import CSRGraph


def _symmetric_graph(n=7, cutoff=2.5, seed=3):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, dtype=torch.float64, generator=g) * 1.5
    dist = torch.cdist(pos, pos)
    mask = dist < cutoff
    mask.fill_diagonal_(False)
    dst, src = torch.nonzero(mask, as_tuple=True)
    perm = torch.randperm(src.numel(), generator=g)  # edge order must not matter
    return pos, torch.stack([src, dst])[:, perm]


def test_symmetric_pairs_lists_each_unordered_pair_once():
    pos, edge_index = _symmetric_graph()
    pairs = symmetric_pairs(edge_index, pos.shape[0])
    assert pairs is not None and pairs.shape == (2, edge_index.shape[1] // 2)
    assert bool((pairs[0] < pairs[1]).all())
    as_set = {tuple(e) for e in edge_index.t().tolist()}
    assert {tuple(p) for p in pairs.t().tolist()} | {tuple(p) for p in pairs.flip(0).t().tolist()} == as_set


def test_symmetric_pairs_refuses_directed_graphs_and_self_loops():
    assert symmetric_pairs(torch.tensor([[0, 1], [1, 2]]), 3) is None  # 0->1, 1->2 without reverses
    assert symmetric_pairs(torch.tensor([[0, 1, 1], [1, 0, 1]]), 2) is None  # self-loop 1->1
    # as many forward as reverse edges, but not the same pairs
    assert symmetric_pairs(torch.tensor([[0, 2, 1, 2], [1, 3, 0, 0]]), 4) is None
    # a duplicated pair needs a duplicated reverse
    assert symmetric_pairs(torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]]), 2).shape == (2, 2)
    assert symmetric_pairs(torch.tensor([[0, 0, 1, 2], [1, 1, 0, 0]]), 3) is None


def test_symmetric_pairs_of_an_empty_graph_is_empty():
    assert symmetric_pairs(torch.zeros(2, 0, dtype=torch.long), 1).shape == (2, 0)


def test_pair_shared_cfconv_equals_the_per_edge_cfconv_values_and_gradients():
    torch.manual_seed(0)
    pos, edge_index = _symmetric_graph()
    pos.requires_grad_(True)
    conv = CFConv(5, 4, num_filters=6, num_rbf=8).double()
    rbf_fn, cut = GaussianRBF(8, 0.0, 2.5).double(), CosineCutoff(2.5)
    x = torch.randn(pos.shape[0], 5, dtype=torch.float64)

    def run(index, graph):
        d = (pos[index[1]] - pos[index[0]]).norm(dim=-1)
        out = conv(x, rbf_fn(d), cut(d), graph)
        return out, torch.autograd.grad(out.square().sum(), [pos, *conv.parameters()])

    pairs = symmetric_pairs(edge_index, pos.shape[0])
    out_e, grads_e = run(edge_index, CSRGraph.from_edge_index(edge_index, num_src=pos.shape[0]))
    out_p, grads_p = run(pairs, PairGraph.from_pairs(pairs, pos.shape[0]))
    torch.testing.assert_close(out_p, out_e, rtol=1e-12, atol=1e-12)
    for gp, ge in zip(grads_p, grads_e):
        torch.testing.assert_close(gp, ge, rtol=1e-10, atol=1e-12)


def test_folded_softplus_shift_gives_the_textbook_filter_network():
    torch.manual_seed(0)
    conv = CFConv(4, 4, num_filters=6, num_rbf=10).double()
    d = torch.rand(30, dtype=torch.float64) * 3
    rbf, c = GaussianRBF(10, 0.0, 3.0).double()(d), CosineCutoff(3.0)(d)
    # the - ln 2 of the shifted softplus folded into the second layer's bias
    torch.testing.assert_close(conv.filters(rbf, c), conv.filter_net(rbf) * c[:, None], rtol=1e-12, atol=1e-12)
