"""Bad-index calls through every entry point of geognn's ops, run in a child process.

    python tests/cuda/cuda_cases.py DEVICE      # cpu or cuda

Each case makes one call with an index that is out of range (or offsets that
are not offsets) and must end in a Python ``IndexError``/``ValueError`` whose
message names the bad value, never a crash, an out-of-bounds read or a
device-side assert. After each case the child checks that the device still
works (a poisoned CUDA context fails every later call) and prints one JSON
line. A case that kills the process leaves its line missing: the parent
(test_cuda_bad_indices.py) names it from the last line it got.
"""

from __future__ import annotations

import json
import sys
import traceback

import torch

import geognn.ops as ops
from geognn.models import SchNet

Case = tuple[str, object, str, bool]  # name, call(device), text the message must contain, may pass on the CPU


def _long(values, device):
    return torch.tensor(values, dtype=torch.long, device=device)


def _graph(device):
    """A valid 3-edge graph over 4 nodes (0 -> 1 -> 2 -> 3)."""
    return ops.CSRGraph.from_edge_index(_long([[0, 1, 2], [1, 2, 3]], device), num_src=4)


def _message_args(device, **bad):
    g = _graph(device)
    args = dict(x=torch.ones(4, 8, device=device), w=torch.ones(3, 8, device=device), src=g.src, dst=g.dst,
                dst_perm=g.dst_perm, dst_ptr=g.dst_ptr, src_perm=g.src_perm, src_ptr=g.src_ptr)
    args.update({k: _long(v, device) for k, v in bad.items()})
    return args


def _message_backward(device, **bad):
    args = _message_args(device, **bad)
    args["x"].requires_grad_(True)
    args["w"].requires_grad_(True)
    torch.ops.geognn.message_sum(*args.values()).sum().backward()


def _schnet_inputs(device, edge_index=None, batch=None, z=None):
    """A 4-atom molecule (z, pos in Å, batch, edge_index, edge_shift, num_graphs) and a small SchNet."""
    torch.manual_seed(0)
    model = SchNet(8, 8, 1, 6, cutoff=5.0).to(device)
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.1, 0.0], [0.0, 0.0, 1.2]], device=device)
    z = _long([6, 1, 1, 8] if z is None else z, device)
    full = _long([[0, 1, 0, 2, 0, 3, 1, 2], [1, 0, 2, 0, 3, 0, 2, 1]], device)
    edge_index = full if edge_index is None else _long(edge_index, device)
    batch = _long([0, 0, 0, 0], device) if batch is None else _long(batch, device)
    return model, (z, pos, batch, edge_index, None, 1)


def _schnet(device, edge_index=None, batch=None, z=None):
    model, inputs = _schnet_inputs(device, edge_index, batch, z)
    return model.predict(*inputs)


def _compiled_schnet(device, edge_index):
    model, inputs = _schnet_inputs(device, edge_index)
    return _compiled(model.predict)(*inputs)


def _compiled(fn):
    return torch.compile(fn, backend="aot_eager", fullgraph=True, dynamic=True)


def cases() -> list[Case]:
    ones = torch.ones
    return [
        # ---- the Python API ------------------------------------------------------------------------
        ("ops.scatter", lambda d: ops.scatter(ones(4, 2, device=d), _long([0, 1, 99, 1], d), 10), "99", False),
        ("ops.scatter int32", lambda d: ops.scatter(ones(4, 2, device=d), _long([0, 99, 1, 1], d).int(), 10, "max"),
         "99", False),
        ("ops.scatter negative", lambda d: ops.scatter(ones(3, device=d), _long([0, -4, 1], d), 2, "mean"), "-4",
         False),
        ("ops.segment", lambda d: ops.segment(ones(5, 2, device=d), _long([0, 2, 7], d)), "must equal", False),
        ("ops.csr", lambda d: ops.csr(_long([0, 99], d), 10), "99", False),
        ("ops.message_sum", lambda d: ops.message_sum(ones(5, 2, device=d), ones(2, 2, device=d),
                                                      _long([[0, 70], [1, 1]], d)), "70", False),
        ("CSRGraph.from_edge_index", lambda d: ops.CSRGraph.from_edge_index(_long([[0, 1], [1, 55]], d), num_src=4),
         "55", False),
        ("SchNet.predict edge_index", lambda d: _schnet(d, edge_index=[[0, 1], [1, 44]]), "44", False),
        ("SchNet.predict batch", lambda d: _schnet(d, batch=[0, 0, 3, 0]), "3", False),
        ("SchNet.predict z", lambda d: _schnet(d, z=[6, 1, 250, 8]), "250", False),
        # ---- direct calls of the registered ops --------------------------------------------------------
        ("geognn.csr", lambda d: torch.ops.geognn.csr(_long([0, 99], d), 10), "99", False),
        ("geognn.scatter_reduce sum", lambda d: torch.ops.geognn.scatter_reduce(
            ones(2, 3, device=d), _long([0, 99], d), 10, "sum"), "99", False),
        ("geognn.scatter_reduce max", lambda d: torch.ops.geognn.scatter_reduce(
            ones(2, 3, device=d), _long([-5, 0], d), 10, "max"), "-5", False),
        ("geognn.segment_reduce perm", lambda d: torch.ops.geognn.segment_reduce(
            ones(4, 3, device=d), _long([0, 1, 2, 40], d), _long([0, 2, 4], d), "sum"), "40", False),
        ("geognn.segment_reduce indptr end", lambda d: torch.ops.geognn.segment_reduce(
            ones(4, 3, device=d), None, _long([0, 2, 9], d), "max"), "9", False),
        ("geognn.segment_reduce indptr order", lambda d: torch.ops.geognn.segment_reduce(
            ones(4, 3, device=d), None, _long([0, 3, 1, 4], d), "sum"), "non-decreasing", False),
        ("geognn.segment_reduce indptr start", lambda d: torch.ops.geognn.segment_reduce(
            ones(4, 3, device=d), None, _long([2, 3, 4], d), "min"), "must be 0", False),
        ("geognn.segment_broadcast", lambda d: torch.ops.geognn.segment_broadcast(
            ones(2, 3, device=d), _long([0, 1, 2, 30], d), _long([0, 2, 4], d), 4, False), "30", False),
        ("geognn.arg_scatter", lambda d: torch.ops.geognn.arg_scatter(
            ones(2, 3, device=d), _long([[0, 1, 50], [1, 0, 1]], d), 4), "50", False),
        ("geognn.message_sum src", lambda d: torch.ops.geognn.message_sum(
            *_message_args(d, src=[0, 1, 70]).values()), "70", False),
        ("geognn.message_sum dst", lambda d: torch.ops.geognn.message_sum(
            *_message_args(d, dst=[1, 2, 66]).values()), "66", False),
        # The CPU kernel walks the edge list itself: it never reads dst_perm/dst_ptr (nor src_perm/src_ptr in
        # the backward), so there a bad one is ignored, not followed.
        ("geognn.message_sum dst_perm", lambda d: torch.ops.geognn.message_sum(
            *_message_args(d, dst_perm=[0, 1, 33]).values()), "33", True),
        ("geognn.message_sum dst_ptr", lambda d: torch.ops.geognn.message_sum(
            *_message_args(d, dst_ptr=[0, 0, 1, 2, 77]).values()), "77", True),
        ("geognn.message_sum backward src_perm", lambda d: _message_backward(d, src_perm=[0, 88, 2]), "88", True),
        ("geognn.edge_product", lambda d: torch.ops.geognn.edge_product(
            ones(4, 8, device=d), ones(4, 8, device=d), *_edge_product_args(d)), "12", False),
        # ---- compiled graphs (the Python checks are not traced; the ops check at run time) -----------------
        ("compiled scatter", lambda d: _compiled(lambda s, i: ops.scatter(s, i, 10, "sum"))(
            ones(4, 2, device=d), _long([0, 1, 99, 1], d)), "99", False),
        ("compiled message_sum", lambda d: _compiled(lambda x, w, e: ops.message_sum(x, w, e, 5))(
            ones(5, 4, device=d), ones(2, 4, device=d), _long([[0, 70], [1, 1]], d)), "70", False),
        ("compiled SchNet.predict", lambda d: _compiled_schnet(d, [[0, 1, 1, 0], [1, 0, 0, 44]]), "44", False),
    ]


def _edge_product_args(device):
    """edge_product(a, b, ia, ib, ...) with ia[2] = 12 for a of 4 rows: the graph of ia -> ib, ia bad."""
    g = _graph(device)
    ia = _long([1, 2, 12], device)
    return ia, g.src, g.dst_perm, g.dst_ptr, g.src_perm, g.src_ptr


def alive(device: str) -> str | None:
    """None when the device still computes correctly, else what went wrong."""
    try:
        out = ops.scatter(torch.ones(6, 2, device=device), _long([0, 1, 1, 2, 2, 2], device), 3)
        if device == "cuda":
            torch.cuda.synchronize()
        if out[:, 0].tolist() != [1.0, 2.0, 3.0]:
            return f"wrong result after the case: {out[:, 0].tolist()}"
    except Exception as err:  # noqa: BLE001 - any failure here is the finding
        return f"{type(err).__name__}: {err}"
    return None


def main(device: str) -> int:
    torch.set_num_threads(1)
    for name, call, expected, may_pass_on_cpu in cases():
        record = {"case": name, "expected": expected, "may_pass_on_cpu": may_pass_on_cpu}
        try:
            call(device)
            if device == "cuda":
                torch.cuda.synchronize()  # an asynchronous fault would surface here
            record["error"] = None
        except Exception as err:  # noqa: BLE001 - the type and message are what the parent checks
            record["error"] = type(err).__name__
            record["message"] = str(err).splitlines()[0] if str(err) else ""
            record["is_index_or_value_error"] = isinstance(err, (IndexError, ValueError))
            if not record["is_index_or_value_error"]:
                record["traceback"] = traceback.format_exc()[-2000:]
        record["alive"] = alive(device)
        print(json.dumps(record), flush=True)
    print(json.dumps({"done": True}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
