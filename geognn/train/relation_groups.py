"""Groups of relations that link-prediction quality is reported by: frequency buckets and 1-1/1-N/N-1/N-N.

A model can score well overall while failing on rare relations or on
relations with many answers, and selecting hyperparameters on the overall
MRR hides that. Two groupings of the relations of a knowledge graph:

* **Frequency buckets**: relations ordered by their number of training
  triples and cut into buckets holding (nearly) the same number of relations
  (``freq1`` the rarest), or cut at training-triple counts the user gives.
* **Categories** (Bordes et al., "Translating Embeddings for Modeling
  Multi-relational Data", NeurIPS 2013): for each relation, the average
  number of tails per head (over the heads it occurs with) and of heads per
  tail (over the tails), computed on every triple of the dataset (train,
  valid and test, "appearing in the data set" as in the paper). A side with
  an average below ``threshold`` (1.5) is "1", else "N": categories ``1-1``,
  ``1-N`` (one head, many tails), ``N-1`` and ``N-N``.

:class:`geognn.train.RankingMetrics` accumulates ranks per relation and sums
them over a grouping's members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

CATEGORY_THRESHOLD = 1.5
CATEGORIES = ("1-1", "1-N", "N-1", "N-N")
DEFAULT_FREQUENCY_BUCKETS = 3


@dataclass
class RelationGrouping:
    """A partition of relation ids into named groups.

    Attributes:
        kind: ``"freq"`` (frequency buckets) or ``"cat"`` (categories); metric keys are
            ``{kind}_{label}_...`` for categories and ``{label}_...`` for buckets (``freq1_mrr``).
        labels: the group names, in report order.
        group_of: (num_relations,) int64, the position in ``labels`` of each relation's group.
        details: per label, what defines it (training-triple range, relation labels, averages).
    """

    kind: str
    labels: list[str]
    group_of: torch.Tensor
    details: dict[str, dict] = field(default_factory=dict)

    def key(self, label: str) -> str:
        """The metric-key stem of group ``label``: ``freq2`` or ``cat_1-N``."""
        return label if self.kind == "freq" else f"{self.kind}_{label}"

    @property
    def worst_key(self) -> str:
        """Key of the lowest MRR over this grouping's non-empty groups: ``worst_freq_mrr`` or ``worst_cat_mrr``."""
        return f"worst_{self.kind}_mrr"


def training_counts(triples: torch.Tensor, num_relations: int) -> torch.Tensor:
    """(num_relations,) int64 number of triples of each relation among ``triples`` (n, 3) (inverse ids ignored)."""
    relations = triples[:, 1].long()
    return torch.bincount(relations[relations < num_relations], minlength=num_relations)[:num_relations]


def frequency_buckets(train_triples: torch.Tensor, num_relations: int,
                      num_buckets: int = DEFAULT_FREQUENCY_BUCKETS, edges: Sequence[int] | None = None,
                      relation_labels: Sequence[str] | None = None) -> RelationGrouping:
    """Relations grouped by how many training triples they have.

    Args:
        train_triples: (n, 3) int64 training triples (original direction; inverse ids are ignored).
        num_relations: relations without inverses.
        num_buckets: with no ``edges``, relations sorted by count (ties by id) are cut into this
            many buckets of sizes differing by at most one (``freq1`` the rarest).
        edges: increasing training-triple counts: bucket k holds relations with
            ``edges[k-1] <= count < edges[k]`` (open at both ends), so E edges give E + 1 buckets.
        relation_labels: names for ``details`` (default: ids).

    Raises:
        ValueError: fewer than one bucket, more buckets than relations, or edges not increasing.
    """
    counts = training_counts(train_triples, num_relations)
    names = list(relation_labels) if relation_labels is not None else [str(r) for r in range(num_relations)]
    group_of = torch.empty(num_relations, dtype=torch.int64)
    if edges is not None:
        edges = [int(e) for e in edges]
        if not edges or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"relation bucket edges must be increasing training-triple counts, got {edges}")
        group_of = torch.bucketize(counts, torch.tensor(edges), right=True)
        num_buckets = len(edges) + 1
    else:
        if not 1 <= num_buckets <= num_relations:
            raise ValueError(f"relation buckets: need 1 to {num_relations} (the number of relations), "
                             f"got {num_buckets}")
        order = sorted(range(num_relations), key=lambda r: (int(counts[r]), r))
        for bucket, members in enumerate(torch.tensor(order).tensor_split(num_buckets)):
            group_of[members] = bucket
    labels, details = [], {}
    for bucket in range(num_buckets):
        members = (group_of == bucket).nonzero().flatten().tolist()
        label = f"freq{bucket + 1}"
        labels.append(label)
        member_counts = [int(counts[r]) for r in members]
        details[label] = {"train_triples": [min(member_counts), max(member_counts)] if members else None,
                          "num_relations": len(members), "relations": [names[r] for r in members]}
        if edges is not None:
            details[label]["edges"] = [edges[bucket - 1] if bucket else None,
                                       edges[bucket] if bucket < len(edges) else None]
    return RelationGrouping("freq", labels, group_of, details)


def relation_categories(triples: torch.Tensor, num_relations: int, threshold: float = CATEGORY_THRESHOLD,
                        relation_labels: Sequence[str] | None = None) -> RelationGrouping:
    """Relations grouped into 1-1, 1-N, N-1 and N-N by the rule of Bordes et al. (2013).

    Args:
        triples: (n, 3) int64 triples the averages are taken over (every split, original direction).
        num_relations: relations without inverses.
        threshold: a side whose average number of entities per fixed other side is below this is "1".
        relation_labels: names for ``details`` (default: ids).

    ``details[label]["relations"]`` lists each member with its average tails per head and heads per tail.
    A relation without triples counts as 1-1.
    """
    names = list(relation_labels) if relation_labels is not None else [str(r) for r in range(num_relations)]
    triples = triples[triples[:, 1] < num_relations].long()
    size = int(triples.max()) + 1 if triples.numel() else 1
    # Distinct triples through one integer code each (torch.unique(dim=0) is ~50x slower).
    code = torch.unique((triples[:, 0] * size + triples[:, 1]) * size + triples[:, 2])
    heads, relations, tails = code // (size * size), (code // size) % size, code % size
    pairs = torch.bincount(relations, minlength=num_relations).double()  # distinct (head, tail) per relation
    # Distinct heads (tails) per relation: distinct (relation, entity) codes, counted by relation.
    distinct_heads = torch.bincount(torch.unique(relations * size + heads) // size, minlength=num_relations)
    distinct_tails = torch.bincount(torch.unique(relations * size + tails) // size, minlength=num_relations)
    # A relation without triples counts as 1-1 (averages of 1).
    tails_per_head = torch.where(pairs > 0, pairs / distinct_heads.clamp(min=1), torch.ones_like(pairs))
    heads_per_tail = torch.where(pairs > 0, pairs / distinct_tails.clamp(min=1), torch.ones_like(pairs))
    many_heads = (heads_per_tail >= threshold).long()
    many_tails = (tails_per_head >= threshold).long()
    group_of = 2 * many_heads + many_tails  # the order of CATEGORIES: 1-1, 1-N, N-1, N-N
    averages = {r: (float(tails_per_head[r]), float(heads_per_tail[r])) for r in range(num_relations)}
    details = {}
    for k, label in enumerate(CATEGORIES):
        members = (group_of == k).nonzero().flatten().tolist()
        details[label] = {"num_relations": len(members), "threshold": threshold,
                          "relations": [{"relation": names[r], "tails_per_head": round(averages[r][0], 4),
                                         "heads_per_tail": round(averages[r][1], 4)} for r in members]}
    return RelationGrouping("cat", list(CATEGORIES), group_of, details)


def dataset_groupings(dataset, num_buckets: int | None = None,
                      edges: Sequence[int] | None = None) -> list[RelationGrouping]:
    """Frequency buckets (from ``dataset.train``) and categories (from every split) of a
    :class:`geognn.data.KGDataset`, computed once per dataset and settings.

    ``num_buckets`` None: :data:`DEFAULT_FREQUENCY_BUCKETS`, or one per relation on a graph with fewer
    relations; a number given is checked (at most one bucket per relation).
    """
    if num_buckets is None:
        num_buckets = min(DEFAULT_FREQUENCY_BUCKETS, dataset.num_relations)
    key = (num_buckets, tuple(edges) if edges is not None else None)
    cache = dataset.__dict__.setdefault("_relation_groupings", {})
    if key not in cache:
        everything = torch.cat([dataset.train, dataset.valid, dataset.test])
        cache[key] = [frequency_buckets(dataset.train, dataset.num_relations, num_buckets, edges, dataset.relations),
                      relation_categories(everything, dataset.num_relations, relation_labels=dataset.relations)]
    return cache[key]
