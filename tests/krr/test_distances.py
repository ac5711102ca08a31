import pytest
import torch

from geognn.krr import column_order, pack_rows, pairwise_distances, pairwise_distances_reference
from tests.krr.conftest import padded_rows


@pytest.mark.parametrize("metric", ["l1", "sqeuclidean"])
def test_cpu_distances_equal_broadcast_reference(metric):
    a, b = padded_rows(150, seed=1), padded_rows(97, seed=2)
    b[:, 3] = -b[:, 3]  # signed entries too (eigenspectra are signed)
    expected = pairwise_distances_reference(a, b, metric)
    assert torch.allclose(pairwise_distances(a, b, metric), expected, rtol=1e-13, atol=1e-10)


@pytest.mark.parametrize("metric", ["l1", "sqeuclidean"])
def test_symmetric_distances_equal_reference_and_have_a_zero_diagonal(metric):
    a = padded_rows(203, seed=3)  # not a multiple of the tile size
    d = pairwise_distances(a, None, metric)
    assert torch.allclose(d, pairwise_distances_reference(a, None, metric), rtol=1e-13, atol=1e-10)
    assert torch.equal(d, d.T)
    assert torch.all(d.diagonal() == 0)


def test_any_column_order_gives_the_same_distances():
    a, b = padded_rows(40, seed=4), padded_rows(30, seed=5)
    reversed_order = torch.arange(a.shape[1] - 1, -1, -1)
    shuffled = torch.randperm(a.shape[1], generator=torch.Generator().manual_seed(0))
    reference = pairwise_distances(a, b, "l1")
    for order in (reversed_order, shuffled, column_order(b)):
        assert torch.allclose(pairwise_distances(a, b, "l1", order=order), reference, rtol=1e-13)


def test_packed_rows_and_out_buffer_give_the_same_matrix():
    a = padded_rows(70, seed=6)
    order = column_order(a)
    packed = pack_rows(a, order, "sqeuclidean")
    out = torch.full((70, 70), -1.0, dtype=torch.float64)
    result = pairwise_distances(packed, None, "sqeuclidean", out=out)
    assert result.data_ptr() == out.data_ptr()
    assert torch.allclose(out, pairwise_distances_reference(a, None, "sqeuclidean"), rtol=1e-13, atol=1e-10)


def test_all_zero_rows_and_empty_inputs():
    a = torch.zeros(3, 10, dtype=torch.float64)
    b = padded_rows(4, width=10, seed=7)
    assert torch.allclose(pairwise_distances(a, b, "l1"), b.abs().sum(1).expand(3, 4))
    assert pairwise_distances(a[:0], b, "l1").shape == (0, 4)


def test_bad_inputs_are_named():
    a = padded_rows(5, seed=8)
    with pytest.raises(ValueError, match="metric"):
        pairwise_distances(a, a, "cosine")
    bad = a.clone()
    bad[2, 0] = float("nan")
    with pytest.raises(ValueError, match="row 2"):
        pairwise_distances(bad, a, "l1")
    with pytest.raises(ValueError, match="feature columns"):
        pairwise_distances(a, a[:, :-1], "l1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("metric", ["l1", "sqeuclidean"])
def test_cuda_distances_equal_cpu(metric):
    a, b = padded_rows(300, seed=9), padded_rows(200, seed=10)
    cpu = pairwise_distances(a, b, metric)
    cuda = pairwise_distances(a.cuda(), b.cuda(), metric)
    assert cuda.device.type == "cuda"
    assert torch.allclose(cuda.cpu(), cpu, rtol=1e-12, atol=1e-9)
