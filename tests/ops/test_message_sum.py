"""geognn.ops.message_sum: the fused SchNet filter product agrees with the unfused reference."""

import pytest
import torch

from geognn.ops import CSRGraph, message_sum
from geognn.ops.reference import message_sum_reference


def _graph_case(num_nodes=30, num_edges=200, features=(8,), dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, *features, generator=g, dtype=torch.float64).to(dtype)
    w = torch.randn(num_edges, *features, generator=g, dtype=torch.float64).to(dtype)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    return x, w, edge_index


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_message_sum_matches_reference(index_dtype, float_dtype):
    x, w, edge_index = _graph_case(dtype=float_dtype)
    out = message_sum(x, w, edge_index.to(index_dtype))
    torch.testing.assert_close(out, message_sum_reference(x, w, edge_index, x.shape[0]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_message_sum_half_precision(dtype):
    x, w, edge_index = _graph_case(dtype=dtype)
    expected = message_sum_reference(x.float(), w.float(), edge_index, x.shape[0])
    torch.testing.assert_close(message_sum(x, w, edge_index).float(), expected, rtol=2e-2, atol=5e-2)


def test_message_sum_bipartite_and_trailing_shape():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 2, 3, generator=g)
    w = torch.randn(10, 2, 3, generator=g)
    edge_index = torch.stack([torch.randint(0, 6, (10,), generator=g), torch.randint(0, 4, (10,), generator=g)])
    out = message_sum(x, w, edge_index, num_nodes=4)
    assert out.shape == (4, 2, 3)
    torch.testing.assert_close(out, message_sum_reference(x, w, edge_index, 4))


def test_message_sum_without_edges_and_with_isolated_nodes():
    x = torch.randn(5, 4)
    assert torch.all(message_sum(x, torch.zeros(0, 4), torch.zeros(2, 0, dtype=torch.long)) == 0)
    edge_index = torch.tensor([[0, 1], [1, 1]])  # nodes 0, 2, 3, 4 receive nothing
    out = message_sum(x, torch.ones(2, 4), edge_index)
    torch.testing.assert_close(out[1], x[0] + x[1])
    assert torch.all(out[[0, 2, 3, 4]] == 0)


def test_message_sum_single_node_self_loop():
    x = torch.tensor([[2.0, 3.0]])
    out = message_sum(x, torch.tensor([[0.5, -1.0]]), torch.tensor([[0], [0]]))
    assert out.tolist() == [[1.0, -3.0]]


def test_message_sum_non_contiguous_inputs():
    x, w, edge_index = _graph_case(features=(10,), dtype=torch.float32)
    xt, wt = x.t().contiguous().t(), w.t().contiguous().t()
    ei = torch.cat([edge_index, edge_index], 1)[:, ::2]
    ref = message_sum_reference(x, w, edge_index, x.shape[0])
    torch.testing.assert_close(message_sum(xt, wt, edge_index), ref)
    torch.testing.assert_close(message_sum(x, w[: ei.shape[1]], ei), message_sum_reference(x, w[: ei.shape[1]], ei, 30))


def test_message_sum_gradcheck_float64():
    x, w, edge_index = _graph_case(num_nodes=9, num_edges=40, features=(3,))
    x.requires_grad_(True)
    w.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: message_sum(a, b, edge_index), (x, w))


def test_message_sum_is_twice_differentiable_for_force_training():
    x, w, edge_index = _graph_case(num_nodes=7, num_edges=25, features=(2,))
    x.requires_grad_(True)
    w.requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda a, b: message_sum(a, b, edge_index), (x, w))


def test_message_sum_gradients_match_reference():
    x, w, edge_index = _graph_case(num_nodes=50, num_edges=400, features=(16,))
    weight = torch.randn(50, 16, dtype=torch.float64)
    grads = []
    for fn in (lambda a, b: message_sum(a, b, edge_index), lambda a, b: message_sum_reference(a, b, edge_index, 50)):
        a, b = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        (fn(a, b) * weight).sum().backward()
        grads.append((a.grad, b.grad))
    torch.testing.assert_close(grads[0], grads[1])


def test_prebuilt_graph_gives_the_same_result_and_is_reusable():
    x, w, edge_index = _graph_case()
    graph = CSRGraph.from_edge_index(edge_index, num_src=30)
    first = message_sum(x, w, graph=graph)
    torch.testing.assert_close(first, message_sum(x, w, edge_index))
    torch.testing.assert_close(message_sum(2 * x, w, graph=graph), 2 * first)


def test_message_sum_is_invariant_to_edge_order():
    x, w, edge_index = _graph_case(dtype=torch.float64)
    perm = torch.randperm(edge_index.shape[1], generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(message_sum(x, w[perm], edge_index[:, perm]), message_sum(x, w, edge_index))


def test_message_sum_is_deterministic_across_thread_counts():
    x, w, edge_index = _graph_case(num_nodes=500, num_edges=20_000, features=(32,), dtype=torch.float32)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = message_sum(x, w, edge_index)
        torch.set_num_threads(2)
        two = message_sum(x, w, edge_index)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)
