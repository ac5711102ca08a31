"""What geognn's ops trust without looking at it, and what they always check, on every device.

An op trusts only index tensors geognn made and validated itself (the copies
``check_indices`` returns, the CSR layouts it builds) until they are modified in
place; a caller's own tensors are checked at every call, whatever was done to
them in between (in place, through ``.data``, between two compiled calls), and
the explicit ``check_indices`` always reads. The decisions are the same host code
on both devices (``kernels/validate.cpp``), so the CPU run checks them too; it
counts the validations that read with ``geognn.validation_reads`` (on CUDA each
is a host synchronisation). The CUDA run skips where there is no GPU.
"""

import pytest
import torch

import geognn.ops as ops
from geognn.ops import CSRGraph, message_sum
from geognn.ops.checks import check_indices

DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(not ops.HAS_CPU_KERNELS, reason="native extension not built")),
    pytest.param("cuda", marks=pytest.mark.skipif(not (torch.cuda.is_available() and ops.HAS_CUDA_KERNELS),
                                                  reason="needs a CUDA device and a CUDA build of geognn._C")),
]
is_checked = torch.ops.geognn.is_checked if ops.HAS_NATIVE else None


def reads(fn):
    """How many validations that read from the device ``fn`` made."""
    before = torch.ops.geognn.validation_reads()
    fn()
    return torch.ops.geognn.validation_reads() - before


def graph_case(device, E=40, N=10, F=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, F, generator=g).to(device)
    w = torch.randn(E, F, generator=g).to(device)
    edge_index = torch.randint(0, N, (2, E), generator=g).to(device)
    return x, w, edge_index


def checked_row(edge_index):
    (row,), _ = check_indices([("edge_index[1]", edge_index[1], 10)])
    return row.sum()


def summed_messages(x, w, edge_index):
    return message_sum(x, w, edge_index, 10).sum()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"])
@pytest.mark.parametrize("step", ["check_indices", "message_sum"])
def test_an_index_modified_between_two_calls_is_an_index_error_every_time(device, backend, step):
    x, w, edge_index = graph_case(device)
    fn = checked_row if step == "check_indices" else summed_messages
    args = (edge_index,) if step == "check_indices" else (x, w, edge_index)
    if backend != "eager":
        fn = torch.compile(fn, backend=backend, fullgraph=True, dynamic=False)
    fn(*args)
    good = int(edge_index[1, 3])
    for route in ["in place", ".data", "in place", ".data"]:  # the same tensor, modified again and again
        target = edge_index if route == "in place" else edge_index.data
        target[1, 3] = 99
        with pytest.raises(IndexError, match="99"):
            fn(*args)
        target[1, 3] = good
        fn(*args)  # valid again: no error


@pytest.mark.parametrize("device", DEVICES)
def test_a_callers_tensors_are_never_trusted_geognns_copies_are_until_modified(device):
    index = torch.tensor([0, 3, 1, 2], device=device)
    (copy,), _ = check_indices([("index", index, 4)])
    assert copy.dtype == torch.int64 and copy.data_ptr() != index.data_ptr()
    assert not is_checked(index, 4)
    assert is_checked(copy, 4) and is_checked(copy[1:3], 4) and not is_checked(copy, 3)
    alias = copy.data  # a counter of its own, the same storage: reads through it are trusted
    assert is_checked(alias, 4)
    copy[1:][0] = 1  # an ordinary in-place write through a view bumps the copy's counter
    assert not is_checked(copy, 4) and not is_checked(alias, 4)
    b = index.data  # the case a review found: the .data alias of a checked caller's tensor
    assert not is_checked(b, 4)


@pytest.mark.parametrize("device", DEVICES)
def test_copies_made_under_inference_mode_are_remembered(device):
    with torch.inference_mode():
        (copy,), _ = check_indices([("index", torch.tensor([0, 1], device=device), 2)])
        assert copy.is_inference() and is_checked(copy, 2)


@pytest.mark.parametrize("device", DEVICES)
def test_the_explicit_check_always_reads_and_internal_uses_trust_copies(device):
    x, w, edge_index = graph_case(device)
    (copy,), _ = check_indices([("edge_index", edge_index, 10)])
    assert reads(lambda: check_indices([("edge_index", copy, 10)])) == 1  # recheck: read even a trusted copy
    assert reads(lambda: check_indices([("edge_index", copy, 10)], recheck=False)) == 0
    assert reads(lambda: CSRGraph.from_edge_index(copy, 10)) == 0
    assert reads(lambda: CSRGraph.from_edge_index(edge_index, 10)) == 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("index_dtype", [torch.int64, torch.int32], ids=str)
def test_a_callers_edges_cost_one_read_per_call_and_a_built_graph_none(device, index_dtype):
    x, w, edge_index = graph_case(device)
    x.requires_grad_(True)
    w.requires_grad_(True)
    edge_index = edge_index.to(index_dtype)
    for _ in range(2):  # every call checks the caller's tensor again
        assert reads(lambda: message_sum(x, w, edge_index)) == 1
    graph = CSRGraph.from_edge_index(edge_index, 10)

    def two_layers_forward_and_backward():
        out = message_sum(torch.tanh(message_sum(x, w, graph=graph)), w, graph=graph)
        out.pow(2).sum().backward()

    assert reads(two_layers_forward_and_backward) == 0


@pytest.mark.parametrize("device", DEVICES)
def test_message_sum_refuses_a_csr_layout_that_disagrees_with_dst(device):
    x, w, edge_index = graph_case(device)
    g = CSRGraph.from_edge_index(edge_index, 10)
    expected = message_sum(x, w, graph=g)

    def direct(dst_perm, dst_ptr):
        return torch.ops.geognn.message_sum(x, w, g.src, g.dst, dst_perm, dst_ptr, g.src_perm, g.src_ptr)

    # The caller's own layout, built right (a stable sort by destination), is checked and accepted.
    perm = torch.sort(g.dst, stable=True).indices
    ptr = torch.searchsorted(g.dst[perm], torch.arange(11, device=device))
    assert reads(lambda: torch.testing.assert_close(direct(perm, ptr), expected, rtol=0, atol=0)) == 1
    # A permutation of every edge that does not group them by destination.
    with pytest.raises(ValueError, match="not the CSR layout of dst"):
        direct(perm.flip(0), ptr)
    # Grouped by destination, but not in edge order within a destination (another summation order).
    row = int(torch.bincount(g.dst, minlength=10).argmax())
    start, end = int(ptr[row]), int(ptr[row + 1])
    shuffled = perm.clone()
    shuffled[start:end] = perm[start:end].flip(0)
    with pytest.raises(ValueError, match="not the CSR layout of dst"):
        direct(shuffled, ptr)
    # Offsets that disagree with the destinations.
    wrong_ptr = ptr.clone()
    wrong_ptr[row + 1] -= 1
    with pytest.raises(ValueError, match="not the CSR layout of dst"):
        direct(perm, wrong_ptr)


@pytest.mark.parametrize("device", DEVICES)
def test_a_layout_geognn_built_is_not_checked_again_until_dst_changes(device):
    x, w, edge_index = graph_case(device)
    g = CSRGraph.from_edge_index(edge_index, 10)
    direct = (x, w, g.src, g.dst, g.dst_perm, g.dst_ptr, g.src_perm, g.src_ptr)
    assert reads(lambda: torch.ops.geognn.message_sum(*direct)) == 0
    g.dst[0] = (g.dst[0] + 1) % 10  # still in range, but no longer what the layout was built from
    with pytest.raises(ValueError, match="not the CSR layout of dst"):
        torch.ops.geognn.message_sum(*direct)
