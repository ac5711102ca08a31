"""Training engine: loop, schedule, EMA, metrics, checkpoints, plots, DDP."""

from geognn.train.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    atomic_write_text,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from geognn.train.config import TrainConfig
from geognn.train.ema import EMA
from geognn.train.metrics import ErrorAccumulator
from geognn.train.schedule import WarmupPlateau
from geognn.train.trainer import Trainer, seed_everything

__all__ = [
    "EMA",
    "CheckpointError",
    "ErrorAccumulator",
    "TrainConfig",
    "Trainer",
    "WarmupPlateau",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_checkpoint",
    "model_from_checkpoint",
    "save_checkpoint",
    "seed_everything",
]
