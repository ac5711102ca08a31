"""Helpers of the model tests: a brute-force radius graph and graph attachment."""

import torch


def brute_force_radius_graph(pos, cutoff, batch=None):
    """All ordered pairs (j -> i) of the same molecule closer than ``cutoff`` Å; no PBC."""
    batch = torch.zeros(pos.shape[0], dtype=torch.long) if batch is None else batch
    dist = torch.cdist(pos.detach(), pos.detach())
    mask = (dist < cutoff) & (batch[:, None] == batch[None, :])
    mask.fill_diagonal_(False)
    dst, src = torch.nonzero(mask, as_tuple=True)
    return torch.stack([src, dst]), None


def radius_graph(pos, cutoff, batch=None):
    """The featurizer's radius graph once it exists, else the brute-force one above."""
    try:
        from geognn.featurize import radius_graph as real
    except ImportError:
        return brute_force_radius_graph(pos, cutoff, batch)
    return real(pos, cutoff, batch)


def with_graph(data, cutoff, dtype=torch.float64):
    data = data.clone()
    data.pos = data.pos.to(dtype)
    data.edge_index, _ = radius_graph(data.pos, cutoff)
    return data
