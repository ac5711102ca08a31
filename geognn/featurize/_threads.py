"""One intra-op thread for featurizers: their torch ops are many and small.

Splitting an op of a few 10,000 entries over threads gains little, and when
another process holds a core every such op waits for the descheduled thread
(fork/join): on this project's busy 2-core machine, 10,000 QM9 Coulomb matrices
took 0.1 s on one thread and 0.6-3.5 s on two, and a 3,500-edge ``torch.zeros``
right after a multi-threaded neighbour search took 8 ms instead of microseconds.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["one_thread_on_cpu"]


@contextlib.contextmanager
def one_thread_on_cpu(device):
    """Runs the block with one intra-op thread when ``device`` is the CPU, then restores the thread count."""
    threads = torch.get_num_threads()
    if torch.device(device).type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
