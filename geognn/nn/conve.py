"""The ConvE interaction (Dettmers et al., AAAI 2018): a 2D convolution over a stacked (head, relation) image.

A head embedding and a relation embedding, each of size ``d``, are reshaped
into ``h × w`` images (``h * w = d``), stacked into one ``2h × w`` image,
convolved, and projected back to a ``d``-vector: the query that
:class:`geognn.models.ConvE` matches against every entity embedding.

Nothing here is hard-coded to the paper's ``d = 200`` (a 10 × 20 image): the
image shape is derived from ``d`` by :func:`image_shape`, and the size of the
projection's input is computed from the convolution's output shape.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def image_shape(embedding_dim: int, height: int | None = None) -> tuple[int, int]:
    """The ``(height, width)`` an embedding of size ``embedding_dim`` is reshaped into.

    Without ``height``, the height is the largest divisor of ``embedding_dim``
    not above its square root, so the image is as square as the size allows
    with ``height <= width``: 200 -> 10 × 20 (the paper's shape), 100 -> 10 × 10,
    96 -> 8 × 12, a prime p -> 1 × p.

    Raises:
        ValueError: ``embedding_dim < 1``, or a ``height`` that is not a
            positive divisor of ``embedding_dim``.
    """
    embedding_dim = int(embedding_dim)
    if embedding_dim < 1:
        raise ValueError(f"ConvE: embedding_dim must be >= 1, got {embedding_dim}")
    if height is None:
        height = max(k for k in range(1, math.isqrt(embedding_dim) + 1) if embedding_dim % k == 0)
    elif int(height) < 1 or embedding_dim % int(height):
        divisors = [k for k in range(1, embedding_dim + 1) if embedding_dim % k == 0]
        raise ValueError(f"ConvE: embedding_dim {embedding_dim} cannot be reshaped into an image of height "
                         f"{height}; the height must divide it: one of {divisors}")
    height = int(height)
    return height, embedding_dim // height


def conv_padding(size: int, kernel_size: int) -> int:
    """Zero padding per side that lets a ``kernel_size`` kernel fit an image side of ``size`` (0 if it fits)."""
    return max(0, math.ceil((kernel_size - size) / 2))


class ConvEInteraction(nn.Module):
    """Maps (head, relation) embedding pairs to query vectors by a 2D convolution.

    Batch norm of the stacked image, input dropout, ``num_filters`` convolution
    kernels of ``kernel_size × kernel_size`` (stride 1), batch norm, ReLU,
    feature-map dropout (whole channels), a linear projection back to
    ``embedding_dim``, hidden dropout, batch norm, ReLU; the order of the
    reference implementation.

    An image side shorter than the kernel (a prime ``embedding_dim`` gives a
    ``2 × p`` stacked image) is zero-padded just enough for the kernel to fit,
    so every ``embedding_dim`` works; the paper's 20 × 20 image is not padded.

    Args:
        embedding_dim: size ``d`` of the head and relation embeddings.
        image_height: height of each embedding's image (must divide ``d``);
            default from :func:`image_shape`.
        num_filters: convolution output channels (32 in the paper).
        kernel_size: side of the square kernel (3 in the paper).
        input_dropout, feature_map_dropout, hidden_dropout: dropout
            probabilities (0.2, 0.2, 0.3 in the reproduced recipe).

    Attributes:
        image: ``(h, w)`` of one embedding's image; the stacked input is ``2h × w``.
        feature_shape: ``(num_filters, H', W')`` of the convolution output.
        projection_in: ``num_filters * H' * W'``, the input size of the projection.
    """

    def __init__(self, embedding_dim: int, image_height: int | None = None, num_filters: int = 32,
                 kernel_size: int = 3, input_dropout: float = 0.2, feature_map_dropout: float = 0.2,
                 hidden_dropout: float = 0.3):
        super().__init__()
        for name, p in (("input_dropout", input_dropout), ("feature_map_dropout", feature_map_dropout),
                        ("hidden_dropout", hidden_dropout)):
            if not 0 <= p < 1:
                raise ValueError(f"ConvE: {name} must lie in [0, 1), got {p}")
        if int(num_filters) < 1 or int(kernel_size) < 1:
            raise ValueError(f"ConvE: num_filters and kernel_size must be >= 1, got {num_filters} and {kernel_size}")
        self.embedding_dim = int(embedding_dim)
        self.image = image_shape(embedding_dim, image_height)
        stacked = (2 * self.image[0], self.image[1])
        padding = tuple(conv_padding(side, kernel_size) for side in stacked)
        out_sides = tuple(side + 2 * pad - kernel_size + 1 for side, pad in zip(stacked, padding))
        self.feature_shape = (int(num_filters), *out_sides)
        self.projection_in = math.prod(self.feature_shape)

        self.input_norm = nn.BatchNorm2d(1)
        self.input_dropout = nn.Dropout(input_dropout)
        self.conv = nn.Conv2d(1, num_filters, kernel_size, padding=padding)
        self.feature_norm = nn.BatchNorm2d(num_filters)
        self.feature_map_dropout = nn.Dropout2d(feature_map_dropout)
        self.projection = nn.Linear(self.projection_in, self.embedding_dim)
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.hidden_norm = nn.BatchNorm1d(self.embedding_dim)

    def forward(self, head: torch.Tensor, relation: torch.Tensor) -> torch.Tensor:
        """Query vectors (B, d) from head and relation embeddings, both (B, d)."""
        h, w = self.image
        image = torch.cat([head.view(-1, 1, h, w), relation.view(-1, 1, h, w)], dim=2)  # (B, 1, 2h, w)
        x = self.input_dropout(self.input_norm(image))
        x = torch.relu(self.feature_norm(self.conv(x)))
        x = self.feature_map_dropout(x).flatten(1)  # (B, projection_in)
        x = self.hidden_dropout(self.projection(x))
        return torch.relu(self.hidden_norm(x))

    def extra_repr(self) -> str:
        return f"image={self.image[0]}x{self.image[1]}, feature_shape={self.feature_shape}"
