"""Hyperparameter search on Optuna (``geognn tune``): search spaces, objectives, the study loop, reports.

Every trial is a ``geognn train`` run (:func:`geognn.cli.train.train_from_args`) pruned through the
Trainer's per-epoch hook; see :mod:`geognn.tune.runner` for the whole flow.
"""

from geognn.tune.objectives import Objective, ObjectiveError, parse_objectives
from geognn.tune.spaces import DEFAULT_SPACES, Param, SearchSpace, SpaceError, build_space, describe_defaults

__all__ = [
    "DEFAULT_SPACES",
    "Objective",
    "ObjectiveError",
    "Param",
    "SearchSpace",
    "SpaceError",
    "build_space",
    "describe_defaults",
    "parse_objectives",
]
