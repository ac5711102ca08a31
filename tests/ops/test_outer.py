"""outer_message_sum (the neighbour sum of CG networks) against its reference, and take_unique."""

import pytest
import torch

from geognn.ops import CSRGraph, neighbor_slots, outer_message_sum
from geognn.ops.layout import contiguous_permute, take_unique
from geognn.ops.reference import outer_message_sum_reference


def _case(num_nodes, num_edges, seed=0, index_dtype=torch.int64):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g).to(index_dtype)
    w = torch.randn(num_edges, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(num_nodes, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    return edge_index, w, x


@pytest.mark.parametrize("index_dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize("num_nodes,num_edges", [(9, 40), (50, 7), (1, 5), (4, 0)])
def test_outer_message_sum_equals_the_reference(num_nodes, num_edges, index_dtype):
    edge_index, w, x = _case(num_nodes, num_edges, index_dtype=index_dtype)
    graph = CSRGraph.from_edge_index(edge_index, num_nodes)
    got = outer_message_sum(w, x, graph)
    expected = outer_message_sum_reference(w, x, edge_index.long(), num_nodes)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert got.shape == (num_nodes, 3, 4, 5)


def test_isolated_nodes_get_zeros_and_slots_can_be_reused():
    edge_index = torch.tensor([[0, 1, 1], [2, 2, 0]])
    _, w, x = _case(4, 3)
    graph = CSRGraph.from_edge_index(edge_index, 4)
    slots = neighbor_slots(graph)
    assert slots.shape == (4, 2) and (slots[[1, 3]] == 3).all()  # nodes 1 and 3 receive nothing: padding
    out = outer_message_sum(w, x, graph, slots)
    assert out[1].abs().max() == 0 and out[3].abs().max() == 0
    torch.testing.assert_close(out, outer_message_sum_reference(w, x, edge_index, 4))


def test_outer_message_sum_is_twice_differentiable():
    edge_index, w, x = _case(5, 12, seed=3)
    graph = CSRGraph.from_edge_index(edge_index, 5)
    fn = lambda w, x: outer_message_sum(w, x, graph)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (w, x))
    assert torch.autograd.gradgradcheck(fn, (w, x))


def test_outer_message_sum_rejects_mismatched_inputs():
    edge_index, w, x = _case(5, 12)
    graph = CSRGraph.from_edge_index(edge_index, 5)
    with pytest.raises(ValueError, match="same C"):
        outer_message_sum(w, x[:, :2], graph)
    with pytest.raises(ValueError, match="12 edges"):
        outer_message_sum(w[:4], x, graph)
    with pytest.raises(ValueError, match="cast one of them"):
        outer_message_sum(w.float(), x, graph)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_take_unique_gathers_and_differentiates_like_index_select(dim):
    x = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    index = torch.randperm(x.shape[dim])[: x.shape[dim] - 1]
    torch.testing.assert_close(take_unique(x, index, dim), x.index_select(dim, index))
    assert torch.autograd.gradcheck(lambda t: take_unique(t, index, dim), (x,))
    assert torch.autograd.gradgradcheck(lambda t: take_unique(t, index, dim), (x,))


def test_contiguous_permute_is_a_permutation_with_contiguous_gradients():
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    y = contiguous_permute(x, (2, 0, 1))
    assert torch.equal(y, x.permute(2, 0, 1)) and y.is_contiguous()
    seen = []
    x.register_hook(lambda g: seen.append(g.is_contiguous()))
    y.backward(torch.randn(5, 3, 4, dtype=torch.float64).transpose(1, 2).contiguous().transpose(1, 2))
    assert seen == [True]
    assert torch.autograd.gradgradcheck(lambda t: contiguous_permute(t, (1, 2, 0)), (x,))
