import torch

from geognn.nn import CFConv, CosineCutoff, GaussianRBF
from geognn.ops import CSRGraph


def _explicit_cfconv(conv, x, rbf, weight, edge_index):
    """The textbook formula with the E x F message tensor materialised."""
    w = conv.filter_net(rbf) * weight[:, None]
    messages = conv.lin_in(x)[edge_index[0]] * w
    out = torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype)
    for e in range(edge_index.shape[1]):
        out[edge_index[1, e]] += messages[e]
    return conv.lin_out(out)


def _toy_graph(dtype):
    g = torch.Generator().manual_seed(1)
    pos = torch.randn(6, 3, dtype=dtype, generator=g) * 1.5
    i, j = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    keep = i != j
    edge_index = torch.stack([j[keep], i[keep]])
    d = (pos[edge_index[1]] - pos[edge_index[0]]).norm(dim=-1)
    return pos, edge_index, d


def test_cfconv_matches_explicit_message_sum(float_dtype):
    torch.manual_seed(0)
    conv = CFConv(4, 5, num_filters=8, num_rbf=10).to(float_dtype)
    pos, edge_index, d = _toy_graph(float_dtype)
    rbf = GaussianRBF(10, 0.0, 3.0).to(float_dtype)(d)
    weight = CosineCutoff(3.0)(d)
    x = torch.randn(6, 4, dtype=float_dtype)
    graph = CSRGraph.from_edge_index(edge_index, num_src=6)
    out = conv(x, rbf, weight, graph)
    expected = _explicit_cfconv(conv, x, rbf, weight, edge_index)
    tol = 1e-5 if float_dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out, expected, rtol=tol, atol=tol)


def test_cfconv_gradients_match_explicit_formula():
    torch.manual_seed(0)
    conv = CFConv(3, 3, num_filters=4, num_rbf=6).double()
    pos, edge_index, d = _toy_graph(torch.float64)
    pos.requires_grad_(True)
    graph = CSRGraph.from_edge_index(edge_index, num_src=6)
    rbf_fn, cut = GaussianRBF(6, 0.0, 3.0).double(), CosineCutoff(3.0)
    x = torch.randn(6, 3, dtype=torch.float64)

    def dist():
        return (pos[edge_index[1]] - pos[edge_index[0]]).norm(dim=-1)

    (g1,) = torch.autograd.grad(conv(x, rbf_fn(dist()), cut(dist()), graph).square().sum(), pos)
    (g2,) = torch.autograd.grad(_explicit_cfconv(conv, x, rbf_fn(dist()), cut(dist()), edge_index).square().sum(), pos)
    torch.testing.assert_close(g1, g2)


def test_cfconv_edges_beyond_the_cutoff_contribute_nothing():
    torch.manual_seed(0)
    conv = CFConv(2, 2, num_filters=3, num_rbf=4)
    x = torch.randn(3, 2)
    edge_index = torch.tensor([[0, 1], [2, 2]])
    d = torch.tensor([1.0, 7.0])
    rbf = GaussianRBF(4, 0.0, 5.0)(d)
    weight = CosineCutoff(5.0)(d)
    full = conv(x, rbf, weight, CSRGraph.from_edge_index(edge_index, num_src=3))
    only_near = conv(x, rbf[:1], weight[:1], CSRGraph.from_edge_index(edge_index[:, :1], num_src=3))
    torch.testing.assert_close(full, only_near)


def test_cfconv_filters_hand_written_backward_matches_autograd_of_the_textbook_network():
    from geognn.nn import cfconv_filters

    torch.manual_seed(0)
    convs = [CFConv(4, 4, num_filters=f, num_rbf=10).double() for f in (6, 3, 6)]
    d = torch.rand(40, dtype=torch.float64) * 3
    rbf, weight = GaussianRBF(10, 0.0, 3.0).double()(d), CosineCutoff(3.0)(d)
    params = [p for conv in convs for p in conv.filter_net.parameters()]
    upstream = [torch.randn(40, conv.filter_net[2].out_features, dtype=torch.float64) for conv in convs]

    def grads(filters):
        loss = sum((w * g).sum() for w, g in zip(filters, upstream[:len(filters)]))
        return torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)

    fast = cfconv_filters(convs, rbf, weight)
    textbook = [conv.filter_net(rbf) * weight[:, None] for conv in convs]
    for w_fast, w_ref in zip(fast, textbook):
        torch.testing.assert_close(w_fast, w_ref, rtol=1e-12, atol=1e-12)
    for g_fast, g_ref in zip(grads(fast), grads(textbook)):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-12, atol=1e-12)
    # a filter left unused gets zero gradients
    textbook = [conv.filter_net(rbf) * weight[:, None] for conv in convs[:2]]
    for g_fast, g_ref in zip(grads(cfconv_filters(convs, rbf, weight)[:2]), grads(textbook)):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-12, atol=1e-12)
