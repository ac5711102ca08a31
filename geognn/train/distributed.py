"""Multi-process training under ``torchrun`` (PyTorch DDP).

``torchrun --nproc_per_node=N`` sets RANK, LOCAL_RANK and WORLD_SIZE; the
same code path then runs one replica per process. CPU runs use the gloo
backend, CUDA runs NCCL with one GPU per local rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size``, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> CUDA (this local rank's GPU) when available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def setup(device: str = "auto") -> DistributedContext:
    """Joins the process group when launched by torchrun; a no-op otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistributedContext(device=resolved)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, resolved)


def broadcast_buffers(module: torch.nn.Module, ctx: DistributedContext) -> None:
    """Copies rank 0's buffers to every process (no-op when not distributed).

    DDP sends rank 0's buffers at the start of every forward pass, but each
    replica then updates its own batch-norm running statistics, so after an
    epoch they differ; evaluation (sharded over processes) and checkpoints
    must all see rank 0's.
    """
    if ctx.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def barrier(ctx: DistributedContext) -> None:
    if ctx.enabled:
        dist.barrier()


def teardown(ctx: DistributedContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
