"""Bad input raises a clear ValueError/IndexError before any kernel runs, never a crash."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from geognn.ops import CSRGraph, csr, message_sum, scatter, segment


def test_scatter_index_out_of_range_names_value_and_position():
    with pytest.raises(IndexError, match=r"index.*\b7\b.*position 2|index\[2\] = 7"):
        scatter(torch.ones(4, 2), torch.tensor([0, 1, 7, 1]), dim_size=3)


def test_scatter_negative_index_is_rejected():
    with pytest.raises(IndexError, match="-1"):
        scatter(torch.ones(3), torch.tensor([0, -1, 1]), dim_size=2)


def test_scatter_length_mismatch():
    with pytest.raises(ValueError, match="3 entries but src has 4 rows"):
        scatter(torch.ones(4, 2), torch.tensor([0, 1, 1]), dim_size=2)


@pytest.mark.parametrize("bad", [torch.tensor([0.0, 1.0]), torch.tensor([True, False]), torch.tensor([0, 1], dtype=torch.int16)])
def test_scatter_index_dtype(bad):
    with pytest.raises(ValueError, match="int32 or int64"):
        scatter(torch.ones(2, 2), bad, dim_size=2)


def test_scatter_integer_src_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match=r"float\(\)"):
        scatter(torch.ones(2, 2, dtype=torch.long), torch.tensor([0, 1]))


def test_scatter_unknown_reduction():
    with pytest.raises(ValueError, match="reduce must be one of"):
        scatter(torch.ones(2), torch.tensor([0, 1]), reduce="prod")


def test_scatter_two_dimensional_index_is_rejected():
    with pytest.raises(ValueError, match="1-D"):
        scatter(torch.ones(2, 2), torch.zeros(2, 2, dtype=torch.long))


def test_segment_bad_indptr():
    src = torch.ones(5, 2)
    with pytest.raises(IndexError, match="must equal the number of rows"):
        segment(src, torch.tensor([0, 2, 4]))
    with pytest.raises(IndexError, match="non-decreasing"):
        segment(src, torch.tensor([0, 3, 2, 5]))
    with pytest.raises(IndexError, match=r"indptr\[0\] must be 0"):
        segment(src, torch.tensor([1, 3, 5]))


def test_message_sum_source_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        message_sum(torch.ones(3, 2), torch.ones(2, 2), torch.tensor([[0, 3], [1, 1]]))


def test_message_sum_shape_and_dtype_mismatches():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="edge_index has 2 edges but w has 3 rows"):
        message_sum(torch.ones(2, 4), torch.ones(3, 4), ei)
    with pytest.raises(ValueError, match="feature shape"):
        message_sum(torch.ones(2, 4), torch.ones(2, 5), ei)
    with pytest.raises(ValueError, match="float64"):
        message_sum(torch.ones(2, 4), torch.ones(2, 4, dtype=torch.float64), ei)
    with pytest.raises(ValueError, match=r"shape \(2, E\)"):
        message_sum(torch.ones(2, 4), torch.ones(2, 4), torch.tensor([0, 1]))


def test_message_sum_graph_built_for_other_nodes():
    graph = CSRGraph.from_edge_index(torch.tensor([[0, 1], [1, 0]]), num_src=2)
    with pytest.raises(ValueError, match="2 source nodes but x has 3 rows"):
        message_sum(torch.ones(3, 4), torch.ones(2, 4), graph=graph)


def test_native_kernel_checks_direct_calls_too():
    """Calling torch.ops.geognn directly (bypassing the Python checks) still cannot crash."""
    with pytest.raises(IndexError, match="out of range"):
        torch.ops.geognn.csr(torch.tensor([0, 5]), 3)
    perm, indptr = torch.ops.geognn.csr(torch.tensor([0, 1]), 2)
    bad_perm = torch.tensor([0, 99])
    with pytest.raises(IndexError):
        torch.ops.geognn.segment_reduce(torch.ones(2, 3), bad_perm, indptr, "sum")
    with pytest.raises(ValueError, match="reduce must be one of"):
        torch.ops.geognn.segment_reduce(torch.ones(2, 3), perm, indptr, "median")
    with pytest.raises(IndexError, match="value 9 at position 1"):
        torch.ops.geognn.scatter_reduce(torch.ones(2, 3), torch.tensor([0, 9]), 4, "sum")
    with pytest.raises(IndexError, match="out of range"):
        torch.ops.geognn.scatter_reduce(torch.ones(1, 3), torch.tensor([0]), 0, "max")


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(min_value=-5, max_value=12), min_size=0, max_size=30),
    dim_size=st.integers(min_value=0, max_value=8),
    reduce=st.sampled_from(["sum", "mean", "max", "min"]),
)
def test_scatter_never_crashes_on_arbitrary_indices(values, dim_size, reduce):
    index = torch.tensor(values, dtype=torch.long)
    src = torch.arange(len(values), dtype=torch.float32)
    if all(0 <= v < dim_size for v in values):
        assert scatter(src, index, dim_size, reduce).shape == (dim_size,)
    else:
        with pytest.raises(IndexError, match="out of range"):
            scatter(src, index, dim_size, reduce)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(min_value=-3, max_value=9), min_size=0, max_size=25),
       num_rows=st.integers(min_value=0, max_value=6))
def test_csr_is_a_stable_grouping_or_a_clear_error(values, num_rows):
    index = torch.tensor(values, dtype=torch.long)
    if all(0 <= v < num_rows for v in values):
        perm, indptr = csr(index, num_rows)
        expected = sorted(range(len(values)), key=lambda e: values[e])  # Python's sort is stable
        assert perm.tolist() == expected
        assert indptr.tolist() == [sum(v < r for v in values) for r in range(num_rows + 1)]
    else:
        with pytest.raises(IndexError):
            csr(index, num_rows)


def test_inputs_on_different_devices_are_rejected():
    src = torch.ones(3, 2, device="meta")
    with pytest.raises(ValueError, match="one device"):
        scatter(src, torch.tensor([0, 1, 1]), dim_size=2)
    with pytest.raises(ValueError, match="one device"):
        message_sum(torch.ones(2, 4), torch.ones(2, 4, device="meta"), torch.tensor([[0, 1], [1, 0]]))
