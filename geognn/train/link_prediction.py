"""The link-prediction task: 1-N training of knowledge-graph embeddings, selected on the highest validation MRR.

1-N (also called LCWA) training, as in ConvE: an example is a unique
(head, relation) pair of the training triples (inverse triples included), its
target the multi-hot vector of every tail seen with it. A batch of B pairs is
scored against all entities at once and the loss is the binary cross-entropy
over all B × num_entities scores, with label smoothing as in the ConvE
reference code: ``target = (1 - eps) * target + 1 / num_entities``.

Validation and test use filtered ranking in both directions
(:mod:`geognn.train.ranking`).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from geognn.data.kg_index import TailIndex
from geognn.train.config import TrainConfig
from geognn.train.ranking import RankingMetrics, rank_queries
from geognn.train.relation_groups import dataset_groupings
from geognn.train.task import Task, local_share

RANKING_PROTOCOL = ("filtered ranks of every triple in both directions (tail with r, head through the inverse "
                    "relation), leaving out all other true triples of train, valid and test; ties count as the "
                    "mean of the optimistic and pessimistic rank")


class OneToNExamples:
    """The unique (head, relation) pairs of training triples with all their tails: the 1-N examples.

    Args:
        triples: (n, 3) int64 training triples (with inverse triples for reciprocal training).
        num_entities, num_relation_ids: entity ids and relation ids (inverse ones included).
    """

    def __init__(self, triples: torch.Tensor, num_entities: int, num_relation_ids: int):
        self.index = TailIndex(triples, num_entities, num_relation_ids)

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heads (B,), relations (B,) and the (B, num_entities) bool targets of the pairs at ``positions``."""
        pairs = self.index.pairs[positions]
        heads, relations = pairs[:, 0], pairs[:, 1]
        return heads, relations, self.index.mask(heads, relations)


class IndexBatches:
    """Batches of sampler positions as int64 tensors, in the sampler's order.

    A last batch of a single example is merged into the one before: batch
    norm cannot train on one example.
    """

    def __init__(self, sampler: Iterable[int], batch_size: int):
        self.sampler, self.batch_size = sampler, int(batch_size)

    def positions(self) -> list[torch.Tensor]:
        """The batches of one pass over the sampler."""
        chunks = list(torch.split(torch.as_tensor(list(self.sampler), dtype=torch.int64), self.batch_size))
        if len(chunks) > 1 and chunks[-1].numel() == 1:
            chunks[-2:] = [torch.cat(chunks[-2:])]
        return chunks

    def __len__(self) -> int:
        n = len(self.sampler)
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)

    def __iter__(self):
        return iter(self.positions())


class OneToNBatches(IndexBatches):
    """Batches of 1-N examples: ``(heads, relations, targets)`` of (B,), (B,) and (B, num_entities) bool."""

    def __init__(self, examples: OneToNExamples, sampler: Iterable[int], batch_size: int):
        super().__init__(sampler, batch_size)
        self.examples = examples

    def __iter__(self):
        return (self.examples.batch(positions) for positions in self.positions())


class LinkPrediction(Task):
    """Trains a model scoring (head, relation) queries against all entities, e.g. :class:`geognn.models.ConvE`.

    The model is called as ``model(heads, relations)`` with (B,) int64 ids
    and returns (B, num_entities) logits. Train, validation and test sets are
    (n, 3) int64 triples; training triples should include the inverse ones
    (``dataset.training`` of a ``KGDataset(add_inverse=True)``), evaluation
    sets hold only the original ones (``dataset.valid``, ``dataset.test``).

    Args:
        dataset: the :class:`geognn.data.KGDataset` (entity and relation
            labels, the filter of true triples).
        config: the run's :class:`TrainConfig` (its ``label_smoothing`` is the eps of the targets).
        eval_batch_size: queries ranked at once.
        relation_buckets, bucket_edges: the relation-frequency buckets metrics are also reported by
            (:func:`geognn.train.relation_groups.dataset_groupings`: default 3 buckets of equal size).

    Metrics: filtered MRR, MR and Hits@1/3/10 for both directions together
    and per direction (``tail_mrr``, ``head_hits@10``, ...), and the same per
    relation-frequency bucket (``freq1_mrr``, ``tail_freq1_mrr``, ...) and per
    Bordes category (``cat_1-N_mrr``, ``head_cat_N-1_hits@10``, ...), with the
    worst bucket's and category's MRR (``worst_freq_mrr``, ``worst_cat_mrr``).
    """

    name = "link_prediction"
    selection_metric = "mrr"
    higher_is_better = True
    curve_metric = "mrr"
    curve_label = "MRR (filtered, both directions)"
    curve_log_scale = False
    loss_label = "loss (binary cross-entropy, label-smoothed)"

    def __init__(self, dataset, config: TrainConfig, eval_batch_size: int = 1024,
                 relation_buckets: int | None = None, bucket_edges: Sequence[int] | None = None):
        config.validate()
        self.dataset = dataset
        self.label_smoothing = float(config.label_smoothing)
        self.eval_batch_size = int(eval_batch_size)
        self.groupings = dataset_groupings(dataset, relation_buckets, bucket_edges)

    def check(self, train_set: Sequence, val_set: Sequence) -> None:
        super().check(train_set, val_set)
        limits = (self.dataset.num_entities, 2 * self.dataset.num_relations, self.dataset.num_entities)
        for name, triples in (("training", train_set), ("validation", val_set)):
            if not isinstance(triples, torch.Tensor) or triples.dim() != 2 or triples.shape[1] != 3:
                raise ValueError(f"link prediction: the {name} set must be an (n, 3) int64 tensor of triples")
            for column, (what, limit) in enumerate(zip(("head", "relation", "tail"), limits)):
                ids = triples[:, column]
                if int(ids.min()) < 0 or int(ids.max()) >= limit:
                    raise ValueError(f"link prediction: {name} {what} ids must lie in [0, {limit}), "
                                     f"found {int(ids.min())}..{int(ids.max())}")

    # --- training -------------------------------------------------------------------------
    def examples(self, train_set: torch.Tensor) -> OneToNExamples:
        return OneToNExamples(train_set, self.dataset.num_entities, 2 * self.dataset.num_relations)

    def batches(self, examples: OneToNExamples, sampler, batch_size: int) -> OneToNBatches:
        return OneToNBatches(examples, sampler, batch_size)

    def train_loss(self, module: nn.Module, batch, device: torch.device) -> tuple[torch.Tensor, int]:
        heads, relations, targets = batch
        logits = module(heads.to(device), relations.to(device))
        return one_to_n_loss(logits, targets.to(device), self.label_smoothing), int(heads.numel())

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, dataset: torch.Tensor, ctx, shard: bool, collect: bool):
        """Filtered ranking metrics of the triples in ``dataset``; collected: the (2n,) ranks of this process."""
        r = self.dataset.num_relations
        queries = torch.cat([dataset, torch.stack([dataset[:, 2], dataset[:, 1] + r, dataset[:, 0]], dim=1)])
        metrics = RankingMetrics(r)
        ranks = rank_queries(model, local_share(queries, ctx, shard).to(ctx.device), r,
                             self.dataset.filter_mask, self.eval_batch_size, metrics)
        if shard:
            metrics.all_reduce()
        return metrics.result(self.groupings), (ranks if collect else None)

    def progress(self, metrics: dict) -> dict[str, str]:
        return {"val_mrr": f"{metrics['mrr']:.4f}", "val_hits@10": f"{metrics['hits@10']:.3f}"}

    # --- outputs ----------------------------------------------------------------------------
    def checkpoint_extras(self) -> dict[str, Any]:
        """Labels (id -> label lists of str) and the training triples, so predictions need no data files."""
        return {"entities": list(self.dataset.entities), "relations": list(self.dataset.relations),
                "known_triples": self.dataset.train.to(torch.int32)}

    def summary_extras(self) -> dict[str, Any]:
        """The ranking protocol and what each relation group holds (``relation_groups``)."""
        return {"ranking": RANKING_PROTOCOL,
                "relation_groups": {g.key(label): g.details[label] for g in self.groupings for label in g.labels}}


def one_to_n_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean binary cross-entropy of (B, num_entities) logits against multi-hot targets, label-smoothed.

    Smoothed targets are ``(1 - eps) * target + 1 / num_entities`` for ``eps > 0``
    (the ConvE reference code's rule), plain targets for ``eps = 0``.
    """
    soft = targets.to(logits.dtype)
    if label_smoothing > 0:
        soft = soft * (1.0 - label_smoothing) + 1.0 / logits.shape[1]
    return F.binary_cross_entropy_with_logits(logits, soft)
