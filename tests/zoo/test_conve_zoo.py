"""The shipped ConvE (conve-umls): listed, verified, reproduces its card, answers queries offline."""

import csv
import io

import pytest

from geognn import zoo
from geognn.cli.main import main as cli_main
from geognn.data import KGDataset
from geognn.train import evaluate_link_prediction, load_checkpoint

NAME = "conve-umls"


def test_the_shipped_kg_model_has_a_complete_card():
    assert NAME in zoo.available()
    card = zoo.card(NAME)
    for key in ("description", "graph", "inputs", "metrics", "headline", "training", "sha256", "caveats"):
        assert card[key], key
    assert card["graph"] == {"dataset": "umls", "entities": 135, "relations": 46, "training_triples": 5216}
    assert card["training"]["command"].startswith("OMP_NUM_THREADS=1 geognn train --model conve --dataset umls")
    assert "mean of the optimistic and pessimistic rank" in card["metrics"]["ranking"]


def test_the_card_metrics_are_reproduced_on_the_umls_test_split():
    model = zoo.load(NAME)
    metrics = evaluate_link_prediction(model, KGDataset("umls"), "test")
    card = zoo.card(NAME)["metrics"]
    for key in ("mrr", "hits@1", "hits@10", "tail_mrr", "head_mrr", "mr"):
        assert metrics[key] == pytest.approx(card[key], rel=1e-4, abs=1e-6), key
    assert card["mrr"] >= 0.94 and card["hits@10"] >= 0.99  # the published ConvE figures on UMLS
    state = load_checkpoint(zoo.checkpoint_path(NAME))
    assert state["entities"] == KGDataset("umls").entities and "optimizer_state" not in state


def test_predict_answers_queries_with_the_zoo_model(capsys):
    status = cli_main(["predict", "--checkpoint", f"zoo:{NAME}", "--query", "virus,causes", "--top-k", "5"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert status == 0 and len(rows) == 5
    # UMLS's training graph says viruses cause disease_or_syndrome among others: the model ranks it in the top 5.
    assert "disease_or_syndrome" in {r["entity"] for r in rows}
    assert cli_main(["zoo"]) == 0 and zoo.card(NAME)["headline"] in capsys.readouterr().out
