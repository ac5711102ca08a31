"""Shared helpers of the shipped model checks: calling a model, comparing outputs."""

from __future__ import annotations

from typing import Callable

import torch

GraphFn = Callable[[torch.Tensor, float, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


def predict(model, data, forces: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Runs ``model(data, forces=...)`` and returns ``(y (B, T), forces (N, 3) or None)``.

    A model may return a dict with ``"y"`` (or ``"energy"``) and ``"forces"``, or a tensor.
    """
    out = model(data, forces=True) if forces else model(data)
    if isinstance(out, dict):
        y = out.get("y", out.get("energy"))
        if y is None:
            raise KeyError("the model returned a dict without 'y' or 'energy'")
        f = out.get("forces")
        if forces and f is None:
            raise KeyError("forces=True but the model returned no 'forces'")
        return y.detach(), (f.detach() if f is not None else None)
    if forces:
        raise TypeError("forces=True needs a model returning a dict with 'forces'")
    return out.detach(), None


def default_tolerance(dtype: torch.dtype) -> float:
    """Absolute/relative tolerance for comparing two routes to the same quantity."""
    return 1e-9 if dtype == torch.float64 else 2e-4


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float, what: str) -> None:
    """``|a - e| <= tol * (1 + |e|)`` elementwise, else AssertionError naming ``what`` and the worst error."""
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}")
    err = (actual - expected).abs()
    bound = tol * (1 + expected.abs())
    if not bool((err <= bound).all()):
        worst = int((err - bound).argmax())
        raise AssertionError(
            f"{what}: max abs error {float(err.max()):.3e} exceeds tolerance {tol:.1e} (relative to 1 + |value|); "
            f"worst entry {worst}: {float(actual.flatten()[worst]):.10g} vs {float(expected.flatten()[worst]):.10g}"
        )


def with_graph(data, graph_fn: GraphFn | None, cutoff: float | None):
    """A copy of ``data`` whose graph is rebuilt for its current positions.

    With ``graph_fn`` (``(pos, cutoff, batch) -> (edge_index, edge_shift)``) the
    graph is built here; without it, ``edge_index``/``edge_shift`` are removed so
    the model builds its own.
    """
    data = data.clone()
    for key in ("edge_index", "edge_shift", "edge_vec", "edge_length"):
        if key in data:
            del data[key]
    if graph_fn is not None:
        if cutoff is None:
            raise ValueError("a graph_fn needs the cutoff (Å)")
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(data.pos.shape[0], dtype=torch.long, device=data.pos.device)
        edge_index, edge_shift = graph_fn(data.pos, cutoff, batch)
        data.edge_index = edge_index
        if edge_shift is not None:
            data.edge_shift = edge_shift
    return data
