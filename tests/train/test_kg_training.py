"""ConvE through the shared training loop: learning, selection on validation MRR, exact resume, schedules."""

import json

import pytest
import torch

from geognn.data import KGDataset
from geognn.models import ConvE
from geognn.train import CheckpointError, ExponentialDecay, LinkPrediction, TrainConfig, Trainer, load_checkpoint
from geognn.train.link_prediction import IndexBatches, one_to_n_loss


def kg_run(out_dir, name="nations", epochs=2, resume=False, dim=32, **options):
    kg = KGDataset(name)
    config = TrainConfig.for_task("link_prediction", epochs=epochs, progress=False, **options)
    torch.manual_seed(config.seed)
    model = ConvE(kg.num_entities, kg.num_relations, embedding_dim=dim)
    trainer = Trainer(model, kg.training, kg.valid, config, out_dir, model_name="conve", test_set=kg.test,
                      resume=resume, task=LinkPrediction(kg, config))
    return trainer.fit(), model


@pytest.fixture(scope="module")
def nations_runs(tmp_path_factory):
    """Three epochs straight, and two epochs then resumed to three, of a small ConvE on Nations."""
    root = tmp_path_factory.mktemp("nations")
    straight = kg_run(root / "straight", epochs=3)
    kg_run(root / "interrupted", epochs=2)
    resumed = kg_run(root / "interrupted", epochs=3, resume=True)
    return root, straight, resumed


def test_a_short_umls_run_ranks_far_better_than_a_random_model(tmp_path):
    summary, _ = kg_run(tmp_path / "umls", "umls", epochs=4, dim=96)
    history = summary["history"]
    # An untrained ConvE scores MRR ~0.06 on UMLS; four epochs with 96-d embeddings reach ~0.35.
    assert history[0]["val_mrr"] < 0.2 and summary["best_val_mrr"] > 0.25
    assert summary["evaluated_on"] == "test" and summary["metrics"]["num_ranked"] == 2 * 661
    assert summary["metrics"]["mrr"] > 0.25 and summary["metrics"]["hits@10"] > summary["metrics"]["hits@1"]
    assert {"tail_mrr", "head_mrr", "mr", "hits@3"} <= set(summary["metrics"])
    stored = json.loads((tmp_path / "umls" / "metrics.json").read_text())
    assert stored["task"] == "link_prediction" and "mean of the optimistic and pessimistic" in stored["ranking"]
    assert (tmp_path / "umls" / "learning_curve.png").stat().st_size > 0
    assert not (tmp_path / "umls" / "parity.png").exists()
    best = load_checkpoint(tmp_path / "umls" / "best.pt")
    assert best["epoch"] + 1 == summary["best_epoch"] and best["best_val_mrr"] == summary["best_val_mrr"]
    assert best["entities"][0] == "acquired_abnormality" and len(best["relations"]) == 46
    assert best["known_triples"].shape == (5216, 3)


def test_the_kg_recipe_is_adam_with_exponential_decay(nations_runs):
    _, (summary, _), _ = nations_runs
    assert [round(row["lr"], 10) for row in summary["history"]] == [0.003, round(0.003 * 0.995, 10),
                                                                       round(0.003 * 0.995 ** 2, 10)]
    assert summary["train_config"]["optimizer"] == "adam" and summary["train_config"]["batch_size"] == 128


def test_kg_resume_reaches_the_same_weights_as_an_uninterrupted_run(nations_runs):
    root, (_, straight), (summary, resumed) = nations_runs
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    straight_history = json.loads((root / "straight" / "metrics.json").read_text())["history"]
    assert [r["val_mrr"] for r in summary["history"]] == [r["val_mrr"] for r in straight_history]


def test_early_stopping_watches_the_validation_mrr(tmp_path):
    # At lr 1e-12 only batch-norm statistics move: the MRR stalls within a few epochs.
    summary, _ = kg_run(tmp_path / "stall", epochs=20, lr=1e-12, early_stopping_patience=1, dim=8)
    assert summary["stopped_early"] and summary["epochs_run"] == summary["best_epoch"] + 1 < 20
    best = max(row["val_mrr"] for row in summary["history"])
    assert summary["best_val_mrr"] == summary["history"][summary["best_epoch"] - 1]["val_mrr"] >= best * (1 - 1e-4)


def test_a_checkpoint_selected_on_another_metric_cannot_resume_a_kg_run(nations_runs, tmp_path):
    root, _, _ = nations_runs
    state = load_checkpoint(root / "interrupted" / "last.pt")
    state["best_val_loss"] = state.pop("best_val_mrr")  # what a molecule run stores
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="selected on"):
        kg_run(tmp_path, epochs=4, resume=True)


def test_a_lone_last_example_joins_the_batch_before():
    batches = list(IndexBatches(range(9), 4))
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7, 8]]
    assert len(IndexBatches(range(9), 4)) == 2 and len(IndexBatches(range(10), 4)) == 3
    assert len(IndexBatches(range(1), 4)) == 1


def test_label_smoothing_follows_the_conve_rule():
    logits = torch.zeros(1, 4)
    targets = torch.tensor([[True, False, False, False]])
    soft = torch.tensor([[0.9 + 0.25, 0.25, 0.25, 0.25]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, soft)
    torch.testing.assert_close(one_to_n_loss(logits, targets, 0.1), expected)
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets.float())
    torch.testing.assert_close(one_to_n_loss(logits, targets, 0.0), plain)


def test_exponential_decay_warms_up_then_decays_per_epoch():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = ExponentialDecay(opt, lr=1.0, decay=0.5, warmup_steps=2)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    sched.step_batch()
    sched.step_batch()
    assert opt.param_groups[0]["lr"] == 1.0
    sched.step_epoch()
    sched.step_epoch(0.3)
    assert opt.param_groups[0]["lr"] == 0.25
    again = ExponentialDecay(opt, lr=1.0, decay=0.5)
    again.load_state_dict(sched.state_dict())
    assert again.lr == 0.25
