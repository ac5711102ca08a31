"""Training engine: one loop for every task (molecules, knowledge graphs), schedules, EMA, metrics,
filtered ranking, checkpoints, plots, DDP."""

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
from geognn.train.link_prediction import LinkPrediction, one_to_n_loss
from geognn.train.metrics import ErrorAccumulator
from geognn.train.molecules import MoleculeRegression
from geognn.train.ranking import RankingMetrics, evaluate_link_prediction, filtered_ranks, rank_queries
from geognn.train.rng import seed_everything
from geognn.train.schedule import ExponentialDecay, WarmupPlateau
from geognn.train.task import Task
from geognn.train.trainer import Trainer, TrainingDiverged

__all__ = [
    "EMA",
    "CheckpointError",
    "ErrorAccumulator",
    "ExponentialDecay",
    "LinkPrediction",
    "MoleculeRegression",
    "RankingMetrics",
    "Task",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "WarmupPlateau",
    "atomic_write_bytes",
    "atomic_write_text",
    "evaluate_link_prediction",
    "filtered_ranks",
    "load_checkpoint",
    "model_from_checkpoint",
    "one_to_n_loss",
    "rank_queries",
    "save_checkpoint",
    "seed_everything",
]
