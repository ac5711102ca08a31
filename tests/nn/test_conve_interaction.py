"""The ConvE interaction: image shapes derived from the embedding size, projection size from the shapes."""

import pytest
import torch

from geognn.nn import ConvEInteraction, image_shape


@pytest.mark.parametrize("dim, shape", [(200, (10, 20)), (100, (10, 10)), (96, (8, 12)), (64, (8, 8)),
                                        (7, (1, 7)), (1, (1, 1))])
def test_image_shape_is_the_squarest_divisor_pair(dim, shape):
    assert image_shape(dim) == shape


def test_paper_shape_gives_the_paper_projection_size():
    block = ConvEInteraction(200)
    assert block.image == (10, 20)
    assert block.feature_shape == (32, 18, 18)  # 20 x 20 stacked image, 3 x 3 kernel, no padding
    assert block.projection.in_features == block.projection_in == 32 * 18 * 18 == 10368


# (dim, image height, stacked 2h x w image after a 3 x 3 convolution): a side shorter than 3 is padded.
@pytest.mark.parametrize("dim, height, conv_out", [(200, None, (18, 18)), (200, 5, (8, 38)), (96, None, (14, 10)),
                                                   (50, 2, (2, 23)), (36, 3, (4, 10)), (7, None, (2, 5)),
                                                   (2, None, (2, 2))])
def test_any_embedding_size_maps_queries_to_that_size(dim, height, conv_out):
    torch.manual_seed(0)
    block = ConvEInteraction(dim, image_height=height, num_filters=4)
    assert block.feature_shape == (4, *conv_out)
    assert block.projection_in == 4 * conv_out[0] * conv_out[1] == block.projection.in_features
    out = block(torch.randn(5, dim), torch.randn(5, dim))
    assert out.shape == (5, dim) and bool((out >= 0).all())  # ends in a ReLU


def test_a_height_that_does_not_divide_the_size_is_refused_with_the_divisors():
    with pytest.raises(ValueError, match=r"200 cannot be reshaped into an image of height 7.*\[1, 2, 4, 5, 8, 10"):
        ConvEInteraction(200, image_height=7)
    with pytest.raises(ValueError, match="embedding_dim must be >= 1"):
        image_shape(0)
    with pytest.raises(ValueError, match="hidden_dropout must lie in"):
        ConvEInteraction(16, hidden_dropout=1.0)


def test_kernel_larger_than_the_image_is_padded_not_refused():
    block = ConvEInteraction(9, kernel_size=5)  # 3 x 3 image, 6 x 3 stacked
    assert block.feature_shape[1:] == (2, 1)
    assert block(torch.randn(2, 9), torch.randn(2, 9)).shape == (2, 9)
