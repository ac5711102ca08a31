"""Scatter and segment reductions along dim 0: sum, mean, max, min."""

from __future__ import annotations

import math

import torch

from geognn.ops import _native
from geognn.ops.checks import (
    as_index,
    as_size,
    check_index_range,
    check_indptr,
    check_reduce,
    check_same_device,
    check_values,
)
from geognn.ops.reference import scatter_reference, segment_reference


def as_rows(src: torch.Tensor) -> torch.Tensor:
    """(E, *F) -> (E, prod(F)): the 2-D layout the kernels take (E = 0 and F = () included)."""
    return src.reshape(src.shape[0], math.prod(src.shape[1:]))


def scatter(src: torch.Tensor, index: torch.Tensor, dim_size: int | None = None, reduce: str = "sum") -> torch.Tensor:
    """Reduces the rows of ``src`` that share an ``index``: ``out[i] = reduce_{e: index[e] = i} src[e]``.

    Args:
        src: (E, *F) float16/bfloat16/float32/float64 values, any trailing shape.
        index: (E,) int32/int64 target row of each entry of ``src``.
        dim_size: number of output rows N; defaults to ``index.max() + 1``
            (pass it explicitly under torch.compile, where that would need data).
        reduce: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``. Max/min of an
            empty group is 0, and their gradient goes to the first winning row.

    Returns:
        (N, *F) tensor, differentiable with respect to ``src``.

    Deterministic without atomics: on the CPU each thread owns a block of
    output rows and reduces its entries in input order; on the GPU entries are
    grouped by a stable sort first.
    """
    check_values(src, "src")
    index = as_index(index, "index")
    check_reduce(reduce)
    check_same_device(src=src, index=index)
    if index.shape[0] != src.shape[0]:
        raise ValueError(f"geognn: index has {index.shape[0]} entries but src has {src.shape[0]} rows")
    if dim_size is None:  # a host read: pass dim_size on the GPU and under torch.compile
        dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
    dim_size = as_size(dim_size, "dim_size")
    if dim_size < 0:
        raise ValueError(f"geognn: dim_size must be >= 0, got {dim_size}")
    if not _native.use_native(src):
        check_index_range(index, dim_size, "index")
        return scatter_reference(src, index, dim_size, reduce)
    # The op checks the range: the CPU kernel in its own pass, the CUDA op once per index tensor.
    out, _ = torch.ops.geognn.scatter_reduce(as_rows(src), index, dim_size, reduce)
    return out.view(dim_size, *src.shape[1:])


def segment(src: torch.Tensor, indptr: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """Reduces CSR-sorted rows: segment i is ``src[indptr[i]:indptr[i + 1]]``.

    Args:
        src: (E, *F) float values, rows already grouped by segment.
        indptr: (N + 1,) int32/int64 offsets, ``indptr[0] == 0``, non-decreasing,
            ``indptr[-1] == E``.
        reduce: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"`` (empty segments give 0).

    Returns:
        (N, *F) tensor, differentiable with respect to ``src``.
    """
    check_values(src, "src")
    indptr = as_index(indptr, "indptr")
    check_reduce(reduce)
    check_same_device(src=src, indptr=indptr)
    num_segments = indptr.shape[0] - 1
    if not _native.use_native(src):
        check_indptr(indptr, src.shape[0])
        return segment_reference(src, indptr, reduce)
    if not src.is_cuda:  # the CUDA op checks indptr itself, once per tensor, without these host reads
        check_indptr(indptr, src.shape[0])
    out, _ = torch.ops.geognn.segment_reduce(as_rows(src), None, indptr, reduce)
    return out.view(num_segments, *src.shape[1:])
