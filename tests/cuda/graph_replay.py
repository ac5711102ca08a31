"""A captured CUDA graph replayed with new and with bad data copied into its static inputs.

    python tests/cuda/graph_replay.py                                   # what tests/cuda runs, in a child process
    compute-sanitizer --tool memcheck python tests/cuda/graph_replay.py # scripts/gpu_checks.sh, also racecheck

The captured step builds the CSR layouts inside the capture (so no index check
can read anything), then runs message_sum, a scatter-sum readout per molecule and
a scatter-max over all atoms (the long-segment layout), forward and backward. A
replay cannot validate: with bad edges and bad molecule indices in the static
inputs the kernels' own bounds checks (and the scatter backward's clamped gather)
must skip them, so the result must equal the CPU's on the edges and atoms that
remain, with no device-side assert, no fault, and zero gradient for the filters
of the dropped edges. One JSON line per replay; exit status 1 when one
disagrees.
"""

from __future__ import annotations

import json
import sys

import torch

from geognn.ops import CSRGraph, message_sum, scatter

N, E, F, B = 200, 3000, 64, 7


def inputs(seed: int, bad: bool):
    """x (N, F), w (E, F), edge_index (2, E) and the molecule of each atom (N,); with ``bad``, some entries out of range."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, F, generator=g)
    w = torch.randn(E, F, generator=g)
    edge_index = torch.randint(0, N, (2, E), generator=g)
    batch = torch.arange(N) * B // N
    if bad:  # negative, just past the end, far past the end, in both rows and in the readout's index
        for row, col, value in [(0, 5, -3), (1, 17, N), (0, 400, 10**12), (1, 401, -(10**12)), (1, 2999, N + 5)]:
            edge_index[row, col] = value
        batch[[3, 150, N - 1]] = torch.tensor([-1, B, 10**9])
    return x, w, edge_index, batch


def step(x, w, edge_index, batch, everyone, atoms=None):
    """Readouts (B, F) and (1, F) and the gradients of their weighted sum with respect to x and w.

    ``atoms`` (CPU reference only) keeps just the atoms whose molecule index is valid in the per-molecule readout.
    """
    graph = CSRGraph.from_edge_index(edge_index, N)
    h = message_sum(x, w, graph=graph)
    per_molecule = scatter(h if atoms is None else h[atoms], batch if atoms is None else batch[atoms], B, "sum")
    peak = scatter(torch.tanh(h), everyone, 1, "max")
    loss = (per_molecule * torch.linspace(-1, 1, F, device=h.device)).sum() + peak.sum()
    grad_x, grad_w = torch.autograd.grad(loss, (x, w))
    return per_molecule, peak, grad_x, grad_w


def expected(x, w, edge_index, batch, everyone):
    """The CPU's answer on the edges and atoms whose indices are valid (the others contribute nothing)."""
    keep = ((edge_index >= 0) & (edge_index < N)).all(0)
    atoms = (batch >= 0) & (batch < B)
    x = x.clone().requires_grad_(True)
    w_kept = w[keep].clone().requires_grad_(True)
    per_molecule, peak, grad_x, grad_kept = step(x, w_kept, edge_index[:, keep], batch, everyone, atoms)
    grad_w = torch.zeros_like(w)
    grad_w[keep] = grad_kept
    return per_molecule, peak, grad_x, grad_w


def main() -> int:
    device = torch.device("cuda")
    x0, w0, e0, b0 = inputs(0, bad=False)
    x = x0.to(device).requires_grad_(True)
    w = w0.to(device).requires_grad_(True)
    edge_index, batch = e0.to(device), b0.to(device)
    everyone = torch.zeros(N, dtype=torch.long, device=device)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
        for _ in range(3):
            step(x, w, edge_index, batch, everyone)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = step(x, w, edge_index, batch, everyone)

    failed = False
    for name, seed, bad in [("recorded data", 0, False), ("new data", 1, False), ("bad edges", 2, True),
                            ("new data after bad", 3, False)]:
        xs, ws, es, bs = inputs(seed, bad)
        with torch.no_grad():
            x.copy_(xs)
            w.copy_(ws)
            edge_index.copy_(es)
            batch.copy_(bs)
        graph.replay()
        torch.cuda.synchronize()  # an asynchronous fault or device-side assert would surface here
        want = expected(xs, ws, es, bs, everyone.cpu())
        errors = {label: float((got.detach().cpu() - ref).abs().max())
                  for label, got, ref in zip(("per_molecule", "peak", "grad_x", "grad_w"), outputs, want)}
        ok = all(e <= 1e-3 for e in errors.values())
        failed |= not ok
        print(json.dumps({"replay": name, "ok": ok, "max_abs_error": errors}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
