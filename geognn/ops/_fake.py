"""Fake (meta) implementations of the geognn ops, for torch.compile and FakeTensor.

Each returns empty tensors of the shapes the real kernels produce, derived from
input shapes and integer arguments only (never from index values), so tracing
needs no data.
"""

import torch

_ARG_REDUCTIONS = ("max", "min", "amax", "amin")


@torch.library.register_fake("geognn::csr")
def _csr(index, num_rows):
    return index.new_empty(index.shape), index.new_empty((num_rows + 1,))


@torch.library.register_fake("geognn::segment_reduce")
def _segment_reduce(src, perm, indptr, reduce):
    n, f = indptr.shape[0] - 1, src.shape[1]
    arg_shape = (n, f) if reduce in _ARG_REDUCTIONS else (0, 0)
    return src.new_empty((n, f)), indptr.new_empty(arg_shape)


@torch.library.register_fake("geognn::scatter_reduce")
def _scatter_reduce(src, index, num_rows, reduce):
    f = src.shape[1]
    arg_shape = (num_rows, f) if reduce in _ARG_REDUCTIONS else (0, 0)
    return src.new_empty((num_rows, f)), index.new_empty(arg_shape)


@torch.library.register_fake("geognn::segment_broadcast")
def _segment_broadcast(grad, perm, indptr, num_rows, mean):
    return grad.new_empty((num_rows, grad.shape[1]))


@torch.library.register_fake("geognn::arg_scatter")
def _arg_scatter(grad, arg, num_rows):
    return grad.new_empty((num_rows, grad.shape[1]))


@torch.library.register_fake("geognn::message_sum")
def _message_sum(x, w, src, dst, dst_perm, dst_ptr, src_perm, src_ptr):
    return x.new_empty((dst_ptr.shape[0] - 1, x.shape[1]))


@torch.library.register_fake("geognn::edge_product")
def _edge_product(a, b, ia, ib, ia_perm, ia_ptr, ib_perm, ib_ptr):
    return a.new_empty((ia.shape[0], a.shape[1]))


@torch.library.register_fake("geognn::check_indices")
def _check_indices(indices, lower, upper, names, units, value_errors, flags, required, recheck=True):
    # The values are only known when the op runs; a compiled graph does not branch on them.
    return [t.new_empty(t.shape, dtype=torch.long) for t in indices], [True] * len(flags)


# A check whose copies a compiled graph does not use must still run: without this, dead-code elimination would drop it.
torch.fx.node.has_side_effect(torch.ops.geognn.check_indices.default)


@torch.library.register_fake("geognn::coulomb_matrix")
def _coulomb_matrix(z, pos, ptr, diagonal, noise, n_atoms_max, permutation, sigma, tie_rtol, distance_scale, flatten,
                    dtype):
    b, n = ptr.shape[0] - 1, n_atoms_max
    shape = (b, n * (n + 1) // 2) if flatten else (b, n, n)
    return pos.new_empty(shape, dtype=dtype)
