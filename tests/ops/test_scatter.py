"""geognn.ops.scatter / segment agree with the pure-PyTorch reference on every route."""

import pytest
import torch

from geognn.ops import scatter, segment
from geognn.ops.reference import scatter_reference, segment_reference

REDUCTIONS = ["sum", "mean", "max", "min"]


def _random_case(num_rows, num_out, trailing=(7,), dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(num_rows, *trailing, generator=g, dtype=torch.float64).to(dtype)
    index = torch.randint(0, max(num_out, 1), (num_rows,), generator=g)
    return src, index


@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_scatter_matches_reference(reduce, index_dtype, float_dtype):
    src, index = _random_case(300, 40, trailing=(5, 3), dtype=float_dtype)
    out = scatter(src, index.to(index_dtype), 45, reduce)  # rows 40..44 are empty
    assert out.shape == (45, 5, 3)
    torch.testing.assert_close(out, scatter_reference(src, index, 45, reduce))
    assert torch.all(out[40:] == 0), "empty groups must give 0 for every reduction"


@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_scatter_half_precision_accumulates_in_float(reduce, dtype):
    src, index = _random_case(2000, 10, trailing=(4,), dtype=dtype)
    expected = scatter_reference(src.float(), index, 10, reduce)
    out = scatter(src, index, 10, reduce)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), expected, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_one_dimensional_src(reduce):
    src, index = _random_case(50, 6, trailing=())
    torch.testing.assert_close(scatter(src, index, 6, reduce), scatter_reference(src, index, 6, reduce))


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_non_contiguous_inputs(reduce):
    src, index = _random_case(64, 9, trailing=(12,))
    src_t = src.t().contiguous().t()  # same values, column-major
    index_strided = torch.stack([index, index], 1)[:, 0]
    assert not src_t.is_contiguous() and not index_strided.is_contiguous()
    torch.testing.assert_close(scatter(src_t, index_strided, 9, reduce), scatter_reference(src, index, 9, reduce))


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_of_no_entries_gives_zeros(reduce):
    src = torch.zeros(0, 4)
    index = torch.zeros(0, dtype=torch.long)
    assert scatter(src, index, 3, reduce).tolist() == [[0.0] * 4] * 3
    assert scatter(src, index, reduce=reduce).shape == (0, 4)


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_single_entry_and_isolated_rows(reduce):
    src = torch.tensor([[2.0, -3.0]])
    out = scatter(src, torch.tensor([2]), 4, reduce)
    assert out.tolist() == [[0, 0], [0, 0], [2.0, -3.0], [0, 0]]


def test_scatter_dim_size_defaults_to_max_index_plus_one():
    src, index = _random_case(20, 5)
    assert scatter(src, index).shape[0] == int(index.max()) + 1


def test_max_and_min_propagate_nan_and_handle_infinities():
    src = torch.tensor([[1.0], [float("nan")], [3.0], [-float("inf")], [-float("inf")]])
    index = torch.tensor([0, 0, 0, 1, 1])
    assert torch.isnan(scatter(src, index, 2, "max")[0]).all()
    assert scatter(src, index, 2, "max")[1].item() == -float("inf")
    x = torch.full((2, 1), -float("inf"), requires_grad=True)
    scatter(x, torch.tensor([0, 0]), 1, "max").sum().backward()
    assert x.grad.sum().item() == 1.0, "an all -inf group still routes its gradient to one entry"


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_gradcheck_float64(reduce):
    src, index = _random_case(40, 8, trailing=(3,), dtype=torch.float64)
    src.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: scatter(s, index, 10, reduce), (src,))


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_gradgradcheck_float64(reduce):
    src, index = _random_case(30, 6, trailing=(2,), dtype=torch.float64)
    src.requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda s: scatter(s, index, 7, reduce), (src,))


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_gradient_matches_reference(reduce):
    src, index = _random_case(200, 25, trailing=(6,), dtype=torch.float64)
    a = src.clone().requires_grad_(True)
    b = src.clone().requires_grad_(True)
    weight = torch.randn(30, 6, dtype=torch.float64)
    (scatter(a, index, 30, reduce) * weight).sum().backward()
    (scatter_reference(b, index, 30, reduce) * weight).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_segment_matches_reference(reduce, float_dtype):
    g = torch.Generator().manual_seed(1)
    counts = torch.tensor([3, 0, 1, 5, 0, 0, 2])
    indptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    src = torch.randn(int(counts.sum()), 4, generator=g, dtype=float_dtype)
    out = segment(src, indptr.int(), reduce)
    torch.testing.assert_close(out, segment_reference(src, indptr, reduce))
    assert torch.all(out[counts == 0] == 0)


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_segment_gradcheck_float64(reduce):
    indptr = torch.tensor([0, 2, 2, 7, 8])
    src = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: segment(s, indptr, reduce), (src,))
    assert torch.autograd.gradgradcheck(lambda s: segment(s, indptr, reduce), (src,))


def test_segment_of_empty_input():
    out = segment(torch.zeros(0, 2), torch.zeros(4, dtype=torch.long), "mean")
    assert out.shape == (3, 2) and torch.all(out == 0)


def test_scatter_is_deterministic_across_thread_counts():
    src, index = _random_case(20_000, 300, trailing=(16,))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = scatter(src, index, 300, "sum")
        torch.set_num_threads(2)
        two = scatter(src, index, 300, "sum")
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two), "CPU scatter must be bitwise reproducible"
    assert torch.equal(two, scatter(src, index, 300, "sum"))
