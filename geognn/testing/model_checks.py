"""Shipped checks of what a molecular energy model must do beyond symmetry:
batching, forces as the energy gradient, smoothness at the cutoff, isolated atoms.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch_geometric.data import Batch, Data

from geognn.testing._common import GraphFn, assert_close, default_tolerance, predict, with_graph


def check_batch_equals_individual(model, data_list: Sequence[Data], forces: bool = False,
                                  tol: float | None = None) -> None:
    """Predicting a batch gives each molecule's prediction alone (and its forces)."""
    if len(data_list) < 2:
        raise ValueError("give at least two molecules")
    tol = default_tolerance(data_list[0].pos.dtype) if tol is None else tol
    y_batch, f_batch = predict(model, Batch.from_data_list(list(data_list)), forces)
    start = 0
    for k, data in enumerate(data_list):
        y, f = predict(model, data, forces)
        assert_close(y_batch[k:k + 1], y.reshape(1, -1), tol, f"molecule {k} in a batch vs alone")
        n = data.pos.shape[0]
        if forces:
            assert_close(f_batch[start:start + n], f, tol, f"forces of molecule {k} in a batch vs alone")
        start += n


def check_forces_match_finite_differences(model, data: Data, step: float = 1e-4, tol: float | None = None,
                                          atoms: Sequence[int] | None = None) -> None:
    """Forces equal ``-(E(x + h) - E(x - h)) / 2h`` for each coordinate of ``atoms`` (all by default).

    ``step`` is h in Å. Use float64 data: in float32 the difference quotient
    itself has an error of about 1e-7 * |E| / h.
    """
    if data.pos.dtype != torch.float64:
        tol = 5e-2 if tol is None else tol
    tol = 1e-6 if tol is None else tol
    _, forces = predict(model, data, forces=True)
    atoms = range(data.pos.shape[0]) if atoms is None else atoms
    for atom in atoms:
        for axis in range(3):
            energies = []
            for sign in (1.0, -1.0):
                moved = data.clone()
                moved.pos = data.pos.clone()
                moved.pos[atom, axis] += sign * step
                energies.append(predict(model, moved)[0].sum())
            numeric = -(energies[0] - energies[1]) / (2 * step)
            assert_close(forces[atom, axis].reshape(1), numeric.reshape(1), tol,
                         f"force on atom {atom} along axis {axis} vs finite difference")


def check_smooth_at_cutoff(model, data: Data, cutoff: float, graph_fn: GraphFn | None = None,
                           atom: int | None = None, window: float = 1e-3, steps: int = 21,
                           tol: float | None = None) -> None:
    """Energy and forces are continuous when an atom crosses the cutoff of another.

    Moves ``atom`` (default: the last one) along the line from atom 0 so that
    their distance sweeps ``cutoff - window .. cutoff + window`` Å, rebuilding the
    graph at every position (with ``graph_fn``, else the model builds it). The
    largest jump between neighbouring samples must stay below
    ``tol`` (default: twice the largest jump expected from the force, plus
    rounding); a hard cutoff or a graph bug shows as a step.
    """
    atom = data.pos.shape[0] - 1 if atom is None else atom
    if atom == 0:
        raise ValueError("atom must differ from atom 0, which the distance is measured from")
    direction = data.pos[atom] - data.pos[0]
    if float(direction.norm()) == 0:
        direction = torch.tensor([1.0, 0.0, 0.0], dtype=data.pos.dtype)
    direction = direction / direction.norm()
    distances = torch.linspace(cutoff - window, cutoff + window, steps, dtype=torch.float64)
    energies, forces = [], []
    for d in distances:
        moved = data.clone()
        moved.pos = data.pos.clone()
        moved.pos[atom] = data.pos[0] + direction * float(d)
        y, f = predict(model, with_graph(moved, graph_fn, cutoff), forces=True)
        energies.append(float(y.sum()))
        forces.append(f)
    energies = torch.tensor(energies, dtype=torch.float64)
    jumps = energies.diff().abs()
    max_force = max(float(f.abs().max()) for f in forces)
    spacing = 2 * window / (steps - 1)
    eps = 1e-9 if data.pos.dtype == torch.float64 else 1e-4 * (1 + float(energies.abs().max()))
    bound = 2 * max_force * spacing + eps if tol is None else tol
    if float(jumps.max()) > bound:
        k = int(jumps.argmax())
        raise AssertionError(
            f"energy jumps by {float(jumps[k]):.3e} between distances {float(distances[k]):.6f} and "
            f"{float(distances[k + 1]):.6f} Å near the cutoff {cutoff} Å (allowed {bound:.3e})"
        )
    # Forces must also be continuous and, for a cutoff with zero slope, tend to
    # the same value from both sides; a jump larger than the window allows is a kink.
    force_jumps = max(float((a - b).abs().max()) for a, b in zip(forces[:-1], forces[1:]))
    if force_jumps > max(1e3 * spacing * (1 + max_force), eps * 10):
        raise AssertionError(f"forces jump by {force_jumps:.3e} eV/Å when an atom crosses the cutoff {cutoff} Å")


def check_isolated_atom(model, z: int = 6, dtype: torch.dtype = torch.float64, graph_fn: GraphFn | None = None,
                        cutoff: float | None = None, tol: float | None = None) -> None:
    """A lone atom (no edges) gives a finite prediction and zero force; an atom
    far beyond the cutoff adds exactly its lone-atom value to a sum readout
    (additivity), checked on a two-atom system.
    """
    tol = default_tolerance(dtype) if tol is None else tol
    lone = Data(z=torch.tensor([z]), pos=torch.zeros(1, 3, dtype=dtype))
    lone = with_graph(lone, graph_fn, cutoff) if graph_fn is not None else lone
    if graph_fn is None:
        lone.edge_index = torch.zeros(2, 0, dtype=torch.long)
    y, f = predict(model, lone, forces=True)
    if not bool(torch.isfinite(y).all()):
        raise AssertionError(f"prediction for an isolated atom Z={z} is not finite: {y}")
    assert_close(f, torch.zeros_like(f), tol, "force on an isolated atom")
    far = Data(z=torch.tensor([z, z]), pos=torch.tensor([[0.0, 0.0, 0.0], [1e3, 0.0, 0.0]], dtype=dtype))
    far = with_graph(far, graph_fn, cutoff) if graph_fn is not None else far
    if graph_fn is None:
        far.edge_index = torch.zeros(2, 0, dtype=torch.long)
    if getattr(model, "readout", "sum") == "sum":
        y_far, _ = predict(model, far)
        assert_close(y_far, 2 * y, tol, "two atoms 1000 Å apart vs twice a lone atom")
