"""Filtered ranking for link prediction: ranks, MRR, MR and Hits@k, per direction and both.

The protocol (Bordes et al. 2013, "filtered"): for a test triple (h, r, t),
score every entity e as the tail of (h, r, ?), remove every e for which
(h, r, e) is a known true triple (in train, valid or test) other than t itself,
and rank t among what remains; head prediction ranks h for (?, r, t), done
here as tail prediction of the reciprocal query (t, r⁻¹, ?).

Ties: entities scored exactly like the answer share its position, and the
rank is the mean of the optimistic rank (answer first among its ties) and
the pessimistic one (answer last): ``rank = #greater + (#tied + 1) / 2`` with
``#tied`` counting the answer itself. A model that scores everything alike thus
gets the expected rank of a random guess, not rank 1.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

HITS_AT = (1, 3, 10)
DIRECTIONS = ("tail", "head")


def filtered_ranks(scores: torch.Tensor, answers: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
    """Filtered rank of each query's answer among all entities (1 = best).

    Args:
        scores: (B, num_entities) float, higher = more plausible.
        answers: (B,) int64 entity id of each query's true answer.
        known: (B, num_entities) bool, True for entities to leave out of the
            ranking (other true answers); the answer itself is never left out.
            None: raw (unfiltered) ranks.

    Returns:
        (B,) float64 ranks in ``[1, num_entities]``, ties counted as the mean
        of the optimistic and pessimistic rank (halves possible).

    Raises:
        ValueError: scores containing NaN (a diverged model would otherwise rank first).
    """
    if scores.dim() != 2 or answers.shape != scores.shape[:1]:
        raise ValueError(f"scores must be (B, num_entities) and answers (B,), got {tuple(scores.shape)} and "
                         f"{tuple(answers.shape)}")
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN: the model diverged or was given invalid ids")
    answer_score = scores.gather(1, answers.view(-1, 1))
    candidate = torch.ones_like(scores, dtype=torch.bool) if known is None else ~known
    candidate[torch.arange(scores.shape[0], device=scores.device), answers] = True
    greater = ((scores > answer_score) & candidate).sum(1)
    tied = ((scores == answer_score) & candidate).sum(1)
    return greater.double() + (tied.double() + 1) / 2


class RankingMetrics:
    """Running sums of rank statistics per direction (and per relation), mergeable across processes.

    ``add(ranks, direction, relations)`` takes (n,) ranks of tail (``"tail"``)
    or head (``"head"``) predictions and, when the metrics were made with
    ``num_relations``, the (n,) original relation id of each query (inverse
    ids folded back: a head prediction of r counts for r). :meth:`result`
    gives MRR, MR and Hits@1/3/10 for both directions together and for each
    (``tail_mrr``, ``head_hits@10``, ...), and per group of each
    :class:`geognn.train.relation_groups.RelationGrouping` it is given.

    Args:
        num_relations: keep the sums per relation (needed for groups); None: one row only.
    """

    def __init__(self, num_relations: int | None = None):
        self.num_relations = num_relations
        # Per relation and direction: [count, sum of 1/rank, sum of rank, hits@1, hits@3, hits@10].
        self.sums = torch.zeros(num_relations or 1, len(DIRECTIONS), 3 + len(HITS_AT), dtype=torch.float64)

    def add(self, ranks: torch.Tensor, direction: str, relations: torch.Tensor | None = None) -> None:
        ranks = ranks.detach().double().cpu()
        stats = torch.stack([torch.ones_like(ranks), ranks.reciprocal(), ranks,
                             *[(ranks <= at).double() for at in HITS_AT]], dim=1)
        if self.num_relations is None:
            rows = torch.zeros(ranks.numel(), dtype=torch.int64)
        else:
            if relations is None:
                raise ValueError("RankingMetrics(num_relations=...) needs the relation id of every rank")
            rows = relations.detach().long().cpu() % self.num_relations
        self.sums[:, DIRECTIONS.index(direction)].index_add_(0, rows, stats)

    def all_reduce(self) -> None:
        """Sums the accumulators of every process (no-op when not distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.sums)

    def result(self, groupings: Sequence = ()) -> dict[str, float]:
        """``{"mrr", "mr", "hits@1", "hits@3", "hits@10", "tail_mrr", ..., "head_hits@10", "num_ranked"}``.

        Per group of each grouping with ranked queries, the same statistics with the group's stem
        (``freq1_mrr``, ``tail_cat_1-N_hits@10``, ...) and ``{stem}_num_ranked``; per grouping, the
        lowest MRR of its groups (``worst_freq_mrr``, ``worst_cat_mrr``).
        """
        out = _by_direction(self.sums.sum(0), "")
        out["num_ranked"] = int(self.sums[..., 0].sum())
        for grouping in groupings:
            if self.num_relations is None:
                raise ValueError("group metrics need RankingMetrics(num_relations=...)")
            worst = None
            for k, label in enumerate(grouping.labels):
                rows = self.sums[grouping.group_of == k].sum(0)
                if rows[:, 0].sum() == 0:
                    continue  # no query of this group in the evaluated set
                stem = grouping.key(label)
                group = _by_direction(rows, f"{stem}_")
                out.update(group)
                out[f"{stem}_num_ranked"] = int(rows[:, 0].sum())
                worst = group[f"{stem}_mrr"] if worst is None else min(worst, group[f"{stem}_mrr"])
            if worst is not None:
                out[grouping.worst_key] = worst
        return out


def _by_direction(rows: torch.Tensor, stem: str) -> dict[str, float]:
    """Statistics of (2, 6) per-direction sums: both directions under ``stem``, each under ``tail_``/``head_``."""
    out = _statistics(rows.sum(0), stem)
    for k, direction in enumerate(DIRECTIONS):
        if rows[k, 0] > 0:
            out.update(_statistics(rows[k], f"{direction}_{stem}"))
    return out


def _statistics(row: torch.Tensor, prefix: str) -> dict[str, float]:
    n = max(float(row[0]), 1.0)
    out = {f"{prefix}mrr": float(row[1]) / n, f"{prefix}mr": float(row[2]) / n}
    out.update({f"{prefix}hits@{at}": float(row[3 + k]) / n for k, at in enumerate(HITS_AT)})
    return out


@torch.no_grad()
def rank_queries(score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], queries: torch.Tensor,
                 num_relations: int, known_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                 batch_size: int = 1024, metrics: RankingMetrics | None = None) -> torch.Tensor:
    """Filtered ranks of rank queries, accumulated into ``metrics`` by direction.

    Args:
        score_fn: ``(heads, relations) -> (B, num_entities)`` scores, e.g. ``model.score``.
        queries: (n, 3) int64 rows ``(h, r, t)``; ``t`` is ranked for ``(h, r, ?)``.
            Rows with ``r >= num_relations`` are reciprocal queries, counted as
            head predictions (:meth:`geognn.data.KGDataset.queries` builds both).
        num_relations: relations without inverses.
        known_fn: ``(heads, relations) -> (B, num_entities)`` bool filter
            (e.g. :meth:`geognn.data.KGDataset.filter_mask`); None for raw ranks.
        batch_size: queries scored at once.
        metrics: a :class:`RankingMetrics` to add the ranks to (optional).

    Returns:
        (n,) float64 ranks on the CPU.
    """
    ranks = []
    for start in range(0, queries.shape[0], batch_size):
        chunk = queries[start:start + batch_size]
        heads, relations, answers = chunk[:, 0], chunk[:, 1], chunk[:, 2]
        scores = score_fn(heads, relations)
        known = known_fn(heads.cpu(), relations.cpu()).to(scores.device) if known_fn is not None else None
        chunk_ranks = filtered_ranks(scores, answers.to(scores.device), known).cpu()
        if metrics is not None:
            inverse = (relations >= num_relations).cpu()
            relations = relations.cpu()
            metrics.add(chunk_ranks[~inverse], "tail", relations[~inverse])
            metrics.add(chunk_ranks[inverse], "head", relations[inverse] - num_relations)
        ranks.append(chunk_ranks)
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.float64)


def evaluate_link_prediction(model, dataset, split: str = "test", batch_size: int = 1024,
                             relation_buckets: int | None = None,
                             bucket_edges: Sequence[int] | None = None) -> dict[str, float]:
    """Filtered MRR, MR and Hits@1/3/10 of ``model`` on a split of ``dataset``, both directions,
    overall and per relation-frequency bucket and per 1-1/1-N/N-1/N-N category.

    Args:
        model: scores (heads, relations) -> (B, num_entities), e.g. :class:`geognn.models.ConvE`
            (put in eval mode here; its device is used).
        dataset: a :class:`geognn.data.KGDataset`; the filter holds its train, valid and test triples.
        split: "train", "valid" or "test".
        relation_buckets, bucket_edges: how relations are bucketed by training-triple count
            (:func:`geognn.train.relation_groups.dataset_groupings`; default 3 equal-size buckets).

    Returns:
        The keys of :meth:`RankingMetrics.result`: ``mrr``, ``tail_hits@10``, ``freq1_mrr``,
        ``head_cat_N-1_mrr``, ``worst_freq_mrr``, ...
    """
    from geognn.train.relation_groups import dataset_groupings

    groupings = dataset_groupings(dataset, relation_buckets, bucket_edges)
    model.eval()
    device = next(model.parameters()).device
    metrics = RankingMetrics(dataset.num_relations)
    rank_queries(model.score if hasattr(model, "score") else model, dataset.queries(split).to(device),
                 dataset.num_relations, dataset.filter_mask, batch_size, metrics)
    return metrics.result(groupings)
