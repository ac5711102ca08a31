"""geognn's CUDA kernels against its CPU kernels: every op, float and index dtype, odd shapes and E = 0.

Also: gradcheck and gradgradcheck on the GPU in float64, bitwise determinism over
repeated runs, the index checks costing one host read per tensor (none for a
validated graph), CUDA graph capture, and torch.compile of the ops on the GPU.
Skipped where there is no CUDA device or CUDA build (run them with ``make test-gpu``).
"""

import pytest
import torch

import geognn.ops as ops
from geognn.ops import CSRGraph, csr, message_sum, scatter, segment

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and ops.HAS_CUDA_KERNELS),
                                reason="needs a CUDA device and a CUDA build of geognn._C")

FLOATS = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
INDEXES = [torch.int32, torch.int64]
REDUCTIONS = ["sum", "mean", "max", "min"]
# (rows E, output rows N, features F): empty, single row, isolated outputs, narrow and odd widths,
# widths that take the vectorised path (multiples of 8 in half, 4 in float, 2 in double) and those that do not.
SHAPES = [(0, 5, 4), (1, 1, 1), (7, 12, 3), (200, 30, 1), (300, 40, 33), (500, 64, 128), (257, 17, 130)]


def tolerance(dtype):
    if dtype == torch.float64:
        return dict(rtol=1e-12, atol=1e-12)
    if dtype == torch.float32:
        return dict(rtol=1e-5, atol=1e-5)
    return dict(rtol=2e-2, atol=2e-2)


def random_case(E, N, F, dtype, index_dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(E, F, generator=g, dtype=torch.float64).to(dtype)
    index = torch.randint(0, N, (E,), generator=g).to(index_dtype)
    return values, index


def cpu_and_cuda(*tensors):
    return tensors, tuple(t.cuda() for t in tensors)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("index_dtype", INDEXES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_cuda_equals_cpu(reduce, dtype, index_dtype, shape):
    E, N, F = shape
    (src, index), (src_d, index_d) = cpu_and_cuda(*random_case(E, N, F, dtype, index_dtype))
    torch.testing.assert_close(scatter(src_d, index_d, N, reduce).cpu(), scatter(src, index, N, reduce),
                               **tolerance(dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_gradients_cuda_equal_cpu(reduce, dtype, shape):
    E, N, F = shape
    src, index = random_case(E, N, F, dtype, torch.int64)
    grad = torch.randn(N, F, dtype=dtype)
    results = []
    for device in ("cpu", "cuda"):
        s = src.to(device).requires_grad_(True)
        scatter(s, index.to(device), N, reduce).backward(grad.to(device))
        results.append(s.grad.cpu())
    torch.testing.assert_close(results[1], results[0], **tolerance(dtype))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_segment_cuda_equals_cpu(reduce, dtype):
    g = torch.Generator().manual_seed(1)
    src = torch.randn(90, 5, generator=g, dtype=torch.float64).to(dtype)
    indptr = torch.tensor([0, 0, 3, 3, 40, 41, 90])  # empty segments first, in the middle
    torch.testing.assert_close(segment(src.cuda(), indptr.cuda(), reduce).cpu(), segment(src, indptr, reduce),
                               **tolerance(dtype))


@pytest.mark.parametrize("index_dtype", INDEXES, ids=str)
@pytest.mark.parametrize("E, N", [(0, 0), (0, 4), (1, 1), (1000, 7), (5000, 3000)])
def test_csr_cuda_equals_cpu(E, N, index_dtype):
    index = torch.randint(0, max(N, 1), (E,)).to(index_dtype) if N else torch.zeros(0, dtype=index_dtype)
    perm, indptr = csr(index.cuda(), N)
    perm_cpu, indptr_cpu = csr(index, N)
    assert torch.equal(perm.cpu(), perm_cpu) and torch.equal(indptr.cpu(), indptr_cpu)


def message_case(E, N, F, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, F, generator=g, dtype=torch.float64).to(dtype)
    w = torch.randn(E, F, generator=g, dtype=torch.float64).to(dtype)
    edge_index = torch.randint(0, max(N, 1), (2, E), generator=g)
    return x, w, edge_index


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("index_dtype", INDEXES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_message_sum_forward_and_backward_cuda_equal_cpu(dtype, index_dtype, shape):
    E, N, F = shape
    x, w, edge_index = message_case(E, N, F, dtype)
    grad = torch.randn(N, F, dtype=torch.float64).to(dtype)
    results = {}
    for device in ("cpu", "cuda"):
        xd = x.to(device).requires_grad_(True)
        wd = w.to(device).requires_grad_(True)
        out = message_sum(xd, wd, edge_index.to(device, index_dtype), N)
        out.backward(grad.to(device))
        results[device] = (out.detach().cpu(), xd.grad.cpu(), wd.grad.cpu())
    for got, expected in zip(results["cuda"], results["cpu"]):
        torch.testing.assert_close(got, expected, **tolerance(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_message_sum_misaligned_rows_take_the_scalar_path_and_agree(dtype):
    """Views that start one element into their storage cannot be read as 16-byte vectors."""
    x, w, edge_index = message_case(300, 40, 65, dtype)
    xd, wd = x.cuda()[:, 1:], w.cuda()[:, 1:]  # F = 64 but rows start off 16-byte boundaries
    expected = message_sum(x[:, 1:].contiguous(), w[:, 1:].contiguous(), edge_index, 40)
    torch.testing.assert_close(message_sum(xd, wd, edge_index.cuda(), 40).cpu(), expected, **tolerance(dtype))
    offset = torch.randn(1 + 40 * 64, dtype=torch.float64).to(dtype).cuda()[1:].view(40, 64)  # misaligned storage
    offset.copy_(x[:, 1:].cuda())
    torch.testing.assert_close(message_sum(offset, wd.contiguous(), edge_index.cuda(), 40).cpu(), expected,
                               **tolerance(dtype))


def test_message_sum_isolated_nodes_and_bipartite_on_cuda():
    x = torch.randn(6, 40, dtype=torch.float64)
    w = torch.randn(3, 40, dtype=torch.float64)
    edge_index = torch.tensor([[0, 5, 5], [2, 2, 0]])  # targets 1 and 3 receive nothing
    out = message_sum(x.cuda(), w.cuda(), edge_index.cuda(), num_nodes=4).cpu()
    torch.testing.assert_close(out, message_sum(x, w, edge_index, num_nodes=4), rtol=0, atol=0)
    assert torch.all(out[[1, 3]] == 0)


def test_gradcheck_and_gradgradcheck_on_cuda():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(9, 5, generator=g, dtype=torch.float64).cuda().requires_grad_(True)
    w = torch.randn(40, 5, generator=g, dtype=torch.float64).cuda().requires_grad_(True)
    edge_index = torch.randint(0, 9, (2, 40), generator=g).cuda()
    assert torch.autograd.gradcheck(lambda a, b: message_sum(a, b, edge_index), (x, w))
    assert torch.autograd.gradgradcheck(lambda a, b: message_sum(a, b, edge_index), (x, w))
    for reduce in REDUCTIONS:
        src = torch.randn(30, 4, generator=g, dtype=torch.float64).cuda().requires_grad_(True)
        index = torch.randint(0, 8, (30,), generator=g).cuda()
        assert torch.autograd.gradcheck(lambda s: scatter(s, index, 8, reduce), (src,))
        assert torch.autograd.gradgradcheck(lambda s: scatter(s, index, 8, reduce), (src,))
    indptr = torch.tensor([0, 4, 4, 17, 30]).cuda()
    for reduce in REDUCTIONS:
        src = torch.randn(30, 3, generator=g, dtype=torch.float64).cuda().requires_grad_(True)
        assert torch.autograd.gradcheck(lambda s: segment(s, indptr, reduce), (src,))


def test_results_are_bitwise_deterministic_on_cuda():
    x, w, edge_index = message_case(20000, 500, 64, torch.float32)
    x, w, edge_index = x.cuda().requires_grad_(True), w.cuda().requires_grad_(True), edge_index.cuda()
    runs = []
    for _ in range(3):
        x.grad = w.grad = None
        out = message_sum(x, w, edge_index)
        out.pow(2).sum().backward()
        s = scatter(w.detach(), edge_index[1], 500, "sum")
        runs.append((out.detach().clone(), x.grad.clone(), w.grad.clone(), s))
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            assert torch.equal(a, b)


def test_a_validated_graph_is_not_read_back_again():
    """The graph's check is its one host read: every op of every layer trusts it afterwards."""
    x, w, edge_index = message_case(5000, 300, 32, torch.float32)
    x, w, edge_index = x.cuda().requires_grad_(True), w.cuda().requires_grad_(True), edge_index.cuda()
    graph = CSRGraph.from_edge_index(edge_index, num_src=300)
    assert torch.ops.geognn.is_checked(graph.src, 300) and torch.ops.geognn.is_checked(graph.dst_perm, 5000)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host synchronisation now raises
    try:
        out = message_sum(x, w, graph=graph)
        out = message_sum(out, w, graph=graph)  # a second layer
        out.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    # Modified in place, a tensor is checked again (and found bad).
    graph.src[0] = 999
    assert not torch.ops.geognn.is_checked(graph.src, 300)
    with pytest.raises(IndexError, match="999"):
        message_sum(x, w, graph=graph)


def test_ops_run_inside_a_captured_cuda_graph():
    x, w, edge_index = message_case(3000, 200, 64, torch.float32)
    x, w, edge_index = x.cuda(), w.cuda(), edge_index.cuda()
    graph = CSRGraph.from_edge_index(edge_index, num_src=200)
    expected = scatter(message_sum(x, w, graph=graph), torch.arange(200, device="cuda") % 7, 7, "max")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm-up on a side stream, as CUDA graph capture requires
        scatter(message_sum(x, w, graph=graph), torch.arange(200, device="cuda") % 7, 7, "max")
    torch.cuda.current_stream().wait_stream(stream)
    batch = torch.arange(200, device="cuda") % 7
    cuda_graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(cuda_graph):
        captured = scatter(message_sum(x, w, graph=graph), batch, 7, "max")
    cuda_graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(captured, expected, rtol=0, atol=0)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_ops_on_cuda_equal_eager(backend):
    x, w, edge_index = message_case(4000, 300, 64, torch.float32)
    x, w, edge_index = x.cuda().requires_grad_(True), w.cuda().requires_grad_(True), edge_index.cuda()
    batch = torch.arange(300, device="cuda") % 11

    def f(x, w, edge_index, batch):
        h = message_sum(x, w, edge_index, 300)
        return scatter(torch.tanh(h), batch, 11, "mean").sum()

    compiled = torch.compile(f, backend=backend, fullgraph=True, dynamic=True)
    got = compiled(x, w, edge_index, batch)
    grads = torch.autograd.grad(got, (x, w))
    expected = f(x, w, edge_index, batch)
    expected_grads = torch.autograd.grad(expected, (x, w))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, expected_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("shape", [(100_000, 1, 1), (5_000, 3, 1), (20_000, 2, 33), (4_096, 1, 128)], ids=str)
def test_few_long_segments_take_the_block_layout_and_agree_with_the_cpu(reduce, shape):
    """One big molecule's readout (F = 1) no longer runs on one thread: the block layout must give the CPU's
    values (sums to rounding, max/min exactly, the same winners for the gradient) and be deterministic."""
    rows, segments, F = shape
    g = torch.Generator().manual_seed(3)
    src = torch.randn(rows, F, generator=g, dtype=torch.float64).float()
    src[rows // 3] = src[rows // 7]  # ties: the earlier position must win, as on the CPU
    if F > 1:
        src[rows // 2, 0] = float("nan")  # a NaN wins a max or min, the first one
    index = torch.sort(torch.randint(0, segments, (rows,), generator=g)).values
    grad = torch.randn(segments, F, generator=g)
    results = {}
    for device in ("cpu", "cuda", "cuda"):
        s = src.to(device).requires_grad_(True)
        out = scatter(s, index.to(device), segments, reduce)
        out.backward(grad.to(device))
        results.setdefault(device, []).append((out.detach().cpu(), s.grad.cpu()))
    (cpu_out, cpu_grad), = results["cpu"]
    (first_out, first_grad), (again_out, again_grad) = results["cuda"]
    assert torch.equal(first_out, again_out) and torch.equal(first_grad, again_grad)  # deterministic
    exact = reduce in ("max", "min")
    torch.testing.assert_close(first_out, cpu_out, rtol=0 if exact else 1e-4, atol=0 if exact else 1e-3,
                               equal_nan=True)
    torch.testing.assert_close(first_grad, cpu_grad, rtol=0 if exact else 1e-6, atol=0 if exact else 1e-6)
    indptr = torch.searchsorted(index, torch.arange(segments + 1)).cuda()
    torch.testing.assert_close(segment(src.cuda(), indptr, reduce).cpu(), cpu_out, rtol=0 if exact else 1e-4,
                               atol=0 if exact else 1e-3, equal_nan=True)


def test_segment_backward_of_long_segments_equals_the_cpu():
    g = torch.Generator().manual_seed(4)
    src = torch.randn(50_000, 2, generator=g, dtype=torch.float64)
    indptr = torch.tensor([0, 1, 30_000, 30_000, 50_000])
    for reduce in ("sum", "mean"):
        grads = []
        for device in ("cpu", "cuda"):
            s = src.to(device).requires_grad_(True)
            segment(s, indptr.to(device), reduce).pow(2).sum().backward()
            grads.append(s.grad.cpu())
        torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.get_device_properties(0).total_memory < 60 * 2**30,
                    reason="needs a GPU with 60 GiB")
def test_a_csr_layout_beyond_int32_entries_is_a_clear_error():
    index = torch.zeros(2**31, dtype=torch.long, device="cuda")
    with pytest.raises(ValueError, match="at most 2\\^31 - 1"):
        csr(index, 4)
    del index
    torch.cuda.empty_cache()
