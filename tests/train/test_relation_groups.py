"""Relation-frequency buckets and Bordes 1-1/1-N/N-1/N-N categories: definitions and metrics by hand."""

import pytest
import torch

from geognn.data import KGDataset
from geognn.train import RankingMetrics, evaluate_link_prediction, rank_queries
from geognn.train.relation_groups import dataset_groupings, frequency_buckets, relation_categories

# Relations (ids are the sorted labels): a_one (1-1), b_tails (1-N), c_heads (N-1), d_both (N-N),
# e_edge (tails per head exactly 1.5: "N", since only an average below the threshold is "1").
TRAIN = """\
x1\ta_one\ty1
x2\ta_one\ty2
h\tb_tails\tt1
h\tb_tails\tt2
h\tb_tails\tt3
g\tb_tails\tt4
s1\tc_heads\to
s2\tc_heads\to
s3\tc_heads\to
p1\td_both\tq1
p1\td_both\tq2
p2\td_both\tq1
p2\td_both\tq2
u\te_edge\tv1
u\te_edge\tv2
w\te_edge\tv3
"""
VALID = "p2\tc_heads\to\nh\td_both\tq1\n"
TEST = "y1\ta_one\tx1\ng\tb_tails\tt1\ns1\tc_heads\ty1\np1\td_both\tt1\nu\te_edge\tv3\n"


@pytest.fixture
def graph(tmp_path):
    for name, text in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        (tmp_path / f"{name}.txt").write_text(text)
    return KGDataset(tmp_path)


def _relation(graph, label):
    return graph.relation_to_id[label]


def test_categories_follow_bordes_averages_over_every_split(graph):
    cats = relation_categories(torch.cat([graph.train, graph.valid, graph.test]), graph.num_relations,
                               relation_labels=graph.relations)
    category = {label: cats.labels[int(cats.group_of[_relation(graph, label)])] for label in graph.relations}
    # a_one: x1->y1, x2->y2, y1->x1: 3 pairs over 3 heads and 3 tails (1.0, 1.0) -> 1-1.
    # b_tails: h->t1,t2,t3, g->t4,t1: 5 pairs / 2 heads = 2.5 tails per head, 5 / 4 tails = 1.25 -> 1-N.
    # c_heads: s1,s2,s3,p2->o and s1->y1: 5 pairs / 4 heads = 1.25 tails per head; 5 / 2 tails = 2.5 -> N-1.
    # d_both: p1,p2->q1,q2, p1->t1, h->q1: 6 pairs / 3 heads = 2; 6 / 3 tails = 2 -> N-N.
    # e_edge: u->v1,v2,v3 and w->v3: 4 / 2 = 2 tails per head, 4 / 3 = 1.33 heads per tail -> 1-N.
    assert category == {"a_one": "1-1", "b_tails": "1-N", "c_heads": "N-1", "d_both": "N-N", "e_edge": "1-N"}
    details = {d["relation"]: d for d in cats.details["1-N"]["relations"]}
    assert details["b_tails"]["tails_per_head"] == 2.5 and details["b_tails"]["heads_per_tail"] == 1.25


def test_threshold_is_exclusive_an_average_of_one_and_a_half_is_many(graph):
    train_only = relation_categories(graph.train, graph.num_relations, relation_labels=graph.relations)
    # e_edge in train: u->v1, u->v2, w->v3: 3 pairs / 2 heads = 1.5 tails per head -> "N"; 3 tails -> "1".
    assert train_only.labels[int(train_only.group_of[_relation(graph, "e_edge")])] == "1-N"


def test_frequency_buckets_equal_size_rarest_first_and_user_edges(graph):
    # Training triples: a_one 2, b_tails 4, c_heads 3, d_both 4, e_edge 3.
    buckets = frequency_buckets(graph.train, graph.num_relations, 2, relation_labels=graph.relations)
    members = {label: buckets.details[label]["relations"] for label in buckets.labels}
    # Sorted by (count, id): a_one 2, c_heads 3, e_edge 3, b_tails 4, d_both 4; split 3 + 2.
    assert members == {"freq1": ["a_one", "c_heads", "e_edge"], "freq2": ["b_tails", "d_both"]}
    assert buckets.details["freq1"]["train_triples"] == [2, 3]
    edges = frequency_buckets(graph.train, graph.num_relations, edges=[3, 4], relation_labels=graph.relations)
    assert {label: edges.details[label]["relations"] for label in edges.labels} == {
        "freq1": ["a_one"], "freq2": ["c_heads", "e_edge"], "freq3": ["b_tails", "d_both"]}
    with pytest.raises(ValueError, match="increasing"):
        frequency_buckets(graph.train, graph.num_relations, edges=[4, 3])
    with pytest.raises(ValueError, match="need 1 to 5"):
        frequency_buckets(graph.train, graph.num_relations, 6)


class TableScorer(torch.nn.Module):
    """Scores from a fixed random table: ranks that a plain loop can recompute."""

    def __init__(self, num_entities, num_relation_ids, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.nn.Parameter(torch.randn(num_entities, num_relation_ids, num_entities,
                                                    generator=generator), requires_grad=False)

    def score(self, heads, relations):
        return self.table[heads, relations]


def test_group_metrics_equal_a_hand_computation_in_both_directions(graph):
    model = TableScorer(graph.num_entities, 2 * graph.num_relations)
    queries = graph.queries("test")
    ranks = rank_queries(model.score, queries, graph.num_relations, graph.filter_mask)
    metrics = evaluate_link_prediction(model, graph, "test", relation_buckets=2)
    groupings = dataset_groupings(graph, 2)
    n = len(graph.test)
    for grouping in groupings:
        worst = None
        for k, label in enumerate(grouping.labels):
            stem = grouping.key(label)
            # Query i < n is the tail prediction of test triple i, query n + i its head prediction.
            picked = {"tail": [], "head": []}
            for i, (h, r, t) in enumerate(graph.test.tolist()):
                if int(grouping.group_of[r]) == k:
                    picked["tail"].append(float(ranks[i]))
                    picked["head"].append(float(ranks[n + i]))
            both = picked["tail"] + picked["head"]
            if not both:
                assert f"{stem}_mrr" not in metrics
                continue
            mrr = sum(1 / x for x in both) / len(both)
            assert metrics[f"{stem}_mrr"] == pytest.approx(mrr)
            assert metrics[f"{stem}_hits@1"] == pytest.approx(sum(x <= 1 for x in both) / len(both))
            assert metrics[f"{stem}_mr"] == pytest.approx(sum(both) / len(both))
            assert metrics[f"{stem}_num_ranked"] == len(both)
            for direction in ("tail", "head"):
                values = picked[direction]
                assert metrics[f"{direction}_{stem}_mrr"] == pytest.approx(sum(1 / x for x in values) / len(values))
                assert metrics[f"{direction}_{stem}_hits@3"] == pytest.approx(sum(x <= 3 for x in values) / len(values))
            worst = mrr if worst is None else min(worst, mrr)
        assert metrics[grouping.worst_key] == pytest.approx(worst)
    # Every test triple lies in one bucket and one category: the groups' counts add up.
    assert sum(metrics[f"{b}_num_ranked"] for b in ("freq1", "freq2")) == 2 * n
    assert sum(metrics.get(f"cat_{c}_num_ranked", 0) for c in ("1-1", "1-N", "N-1", "N-N")) == 2 * n


def test_per_relation_metrics_need_relation_ids():
    metrics = RankingMetrics(num_relations=3)
    with pytest.raises(ValueError, match="relation id"):
        metrics.add(torch.tensor([1.0]), "tail")
    metrics.add(torch.tensor([1.0, 4.0]), "tail", torch.tensor([0, 5]))  # inverse id 5 folds back to 2
    assert metrics.result()["mrr"] == pytest.approx((1 + 0.25) / 2)
    assert metrics.sums[2, 0, 0] == 1
