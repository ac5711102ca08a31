"""ConvE knowledge-graph embeddings: geognn beside PyKEEN, and geognn's accuracy against the published figures.

    bash benchmarks/setup_peers.sh                             # once: .venv-bench with PyKEEN
    .venv-bench/bin/python benchmarks/kg.py speed              # epoch and evaluation time, UMLS and Kinships
    .venv-bench/bin/python benchmarks/kg.py accuracy           # geognn's defaults to early stopping, test metrics
    .venv-bench/bin/python benchmarks/kg.py speed --datasets nations --epochs 3 --rounds 1   # quick check

``speed``: every (dataset, library) trains in its own subprocess with the same
recipe: ConvE 200-d (10 × 20 images, 32 filters of 3 × 3, dropouts 0.2 / 0.2 /
0.3, batch norm, xavier-normal embeddings), inverse triples, 1-N (LCWA)
training on every unique (head, relation) pair, binary cross-entropy with
label smoothing 0.1, batches of 128, Adam at lr 0.003 decayed by 0.995 per
epoch (PyKEEN: its ``LCWATrainingLoop`` with ``BCEAfterSigmoidLoss`` and
``ExponentialLR``, i.e. its ``dettmers2018`` ConvE recipe with geognn's learning
rate and decay). The libraries alternate: geognn then PyKEEN, ``--rounds`` times.
Reported per (dataset, library): the median training time of an epoch (the
first epoch of each round apart: it includes set-up), where PyKEEN's is the time
between its end-of-epoch callbacks and geognn's the ``train_time_s`` its
Trainer records (training batches only; geognn's validation after every epoch
is reported apart, PyKEEN validates nothing here); the median time to rank the
whole test set in both directions with filtering (train + valid + test), after
a warm-up; the test metrics after ``--epochs`` epochs; and a profiled extra
epoch: wall time, the time inside torch operators (self CPU time on the main
thread) and the rest (Python and framework overhead), with the top operators;
and the peak resident memory of each worker process (data, model, training and
ranking; the largest over rounds).
Then one ratio line per dataset (PyKEEN / geognn; median of ratios of the same
round too). Never asserts on time.

``accuracy``: geognn's ``geognn train --model conve`` defaults (up to 500
epochs, early stopping after 50 epochs without a better validation MRR, the
best epoch's weights evaluated on test) per dataset, with the published ConvE
figures beside (ConvE README).

geognn is imported from this checkout (the repository goes first on sys.path);
a missing PyKEEN prints a "skipped" line and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ("geognn", "pykeen")
PUBLISHED = {  # ConvE README (Dettmers et al.), filtered test metrics
    "umls": {"mrr": 0.94, "hits@10": 0.99, "hits@1": 0.92},
    "kinships": {"mrr": 0.83, "hits@10": 0.98, "hits@1": 0.73},
}
RECIPE = dict(embedding_dim=200, height=10, width=20, filters=32, kernel=3, input_dropout=0.2,
              feature_map_dropout=0.2, hidden_dropout=0.3, batch_size=128, lr=0.003, lr_decay=0.995,
              label_smoothing=0.1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["speed", "accuracy"], help="what to measure")
    p.add_argument("--datasets", default="umls,kinships", help="comma-separated bundled graphs (default: umls,kinships)")
    p.add_argument("--epochs", type=int, default=20, help="speed: training epochs per round (default: 20)")
    p.add_argument("--rounds", type=int, default=2, help="speed: rounds of (geognn, PyKEEN) (default: 2)")
    p.add_argument("--eval-repeats", type=int, default=5, help="speed: timed test-set rankings (default: 5)")
    p.add_argument("--libraries", default=",".join(LIBRARIES), help="speed: subset of " + ",".join(LIBRARIES))
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling (default: 0)")
    p.add_argument("--out", default=None, help="accuracy: run folder root (default: a temporary folder)")
    p.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    p.add_argument("--dataset", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def median_or_none(values):
    return statistics.median(values) if values else None


# --- the profiled epoch (both libraries) -------------------------------------------------
def profile_summary(prof, wall_s: float, top: int = 6) -> dict:
    """Wall time of a profiled epoch, the time inside torch operators, the rest, and the top operators."""
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    in_ops = sum(e.self_cpu_time_total for e in ops) / 1e6
    ranked = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {"profiled_epoch_s": round(wall_s, 4), "in_torch_ops_s": round(in_ops, 4),
            "python_and_framework_s": round(max(wall_s - in_ops, 0.0), 4),
            "top_ops_s": {e.key: round(e.self_cpu_time_total / 1e6, 4) for e in ranked}}


# --- workers -------------------------------------------------------------------------------
def run_geognn(args) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile
    from tqdm import tqdm

    from geognn.data import KGDataset
    from geognn.models import ConvE
    from geognn.train import LinkPrediction, TrainConfig, Trainer, evaluate_link_prediction

    kg = KGDataset(args.dataset)
    config = TrainConfig.for_task("link_prediction", epochs=args.epochs, early_stopping_patience=0,
                                  progress=False, seed=args.seed)
    torch.manual_seed(args.seed)
    model = ConvE(kg.num_entities, kg.num_relations, embedding_dim=RECIPE["embedding_dim"])
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, kg.training, kg.valid, config, out, model_name="conve", test_set=kg.test,
                          task=LinkPrediction(kg, config))
        summary = trainer.fit()
        history = summary["history"]
        final = evaluate_link_prediction(model, kg, "test")  # the last epoch's weights; also the warm-up
        eval_times = []
        for _ in range(args.eval_repeats):
            t0 = time.perf_counter()
            evaluate_link_prediction(model, kg, "test")
            eval_times.append(time.perf_counter() - t0)
        # One more training epoch under the profiler, through the Trainer's own epoch function.
        examples = trainer.task.examples(kg.training)
        loader = trainer.task.batches(examples, torch.randperm(len(examples)).tolist(), config.batch_size)
        with tqdm(disable=True) as bar, profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            trainer._train_epoch(model, loader, bar)
            wall = time.perf_counter() - t0
    return {"epoch_times_s": [row["train_time_s"] for row in history],
            "validation_times_s": [row["epoch_time_s"] - row["train_time_s"] for row in history],
            "eval_times_s": eval_times, "metrics_after_epochs": _metric_subset(final), "trained_epochs": args.epochs,
            "batches_per_epoch": len(loader), "examples_per_epoch": len(examples),
            **profile_summary(prof, wall)}


def run_pykeen(args) -> dict:
    import torch
    from pykeen.datasets import Kinships, Nations, UMLS
    from pykeen.evaluation import RankBasedEvaluator
    from pykeen.losses import BCEAfterSigmoidLoss
    from pykeen.models import ConvE
    from pykeen.training import LCWATrainingLoop
    from pykeen.training.callbacks import TrainingCallback
    from torch.profiler import ProfilerActivity, profile

    dataset = {"umls": UMLS, "kinships": Kinships, "nations": Nations}[args.dataset](create_inverse_triples=True)
    # input_channels=None: PyKEEN 1.11.1 refuses channels, height and width all given ("Could not resolve
    # channels=1, height=10, width=20 = dim=200", so its own dettmers2018 JSON fails); it derives 1 from the rest.
    model = ConvE(triples_factory=dataset.training, embedding_dim=RECIPE["embedding_dim"], input_channels=None,
                  output_channels=RECIPE["filters"], embedding_height=RECIPE["height"],
                  embedding_width=RECIPE["width"], kernel_height=RECIPE["kernel"], kernel_width=RECIPE["kernel"],
                  input_dropout=RECIPE["input_dropout"], feature_map_dropout=RECIPE["feature_map_dropout"],
                  output_dropout=RECIPE["hidden_dropout"], apply_batch_normalization=True,
                  entity_initializer="xavier_normal", relation_initializer="xavier_normal",
                  loss=BCEAfterSigmoidLoss(), random_seed=args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=RECIPE["lr_decay"])
    loop = LCWATrainingLoop(model=model, triples_factory=dataset.training, optimizer=optimizer,
                            lr_scheduler=scheduler)
    stamps = []
    prof = profile(activities=[ProfilerActivity.CPU])

    class EpochClock(TrainingCallback):
        """Time stamps at the end of every epoch; the profiler runs over the last one."""

        def post_epoch(self, epoch, epoch_loss, **kwargs):
            stamps.append(time.perf_counter())
            if epoch == args.epochs:
                prof.start()

    stamps.append(time.perf_counter())
    loop.train(triples_factory=dataset.training, num_epochs=args.epochs + 1, batch_size=RECIPE["batch_size"],
               label_smoothing=RECIPE["label_smoothing"], use_tqdm=False, use_tqdm_batch=False,
               callbacks=[EpochClock()])
    prof.stop()
    epoch_times = [b - a for a, b in zip(stamps, stamps[1:])]
    profiled_wall = epoch_times.pop()

    evaluator = RankBasedEvaluator(filtered=True)
    filters = [dataset.training.mapped_triples, dataset.validation.mapped_triples]

    def evaluate():
        return evaluator.evaluate(model, dataset.testing.mapped_triples, batch_size=1024, use_tqdm=False,
                                  additional_filter_triples=filters)

    evaluate()  # warm-up
    eval_times = []
    for _ in range(args.eval_repeats):
        t0 = time.perf_counter()
        result = evaluate()
        eval_times.append(time.perf_counter() - t0)
    metrics = {"mrr": result.get_metric("both.realistic.inverse_harmonic_mean_rank"),
               "mr": result.get_metric("both.realistic.arithmetic_mean_rank"),
               **{f"hits@{k}": result.get_metric(f"both.realistic.hits_at_{k}") for k in (1, 3, 10)}}
    return {"epoch_times_s": epoch_times, "eval_times_s": eval_times, "metrics_after_epochs": metrics,
            "trained_epochs": args.epochs + 1,  # the profiled epoch included
            **profile_summary(prof, profiled_wall)}


def _metric_subset(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("mrr", "mr", "hits@1", "hits@3", "hits@10")}


def worker_main(args) -> None:
    import resource

    import torch

    torch.set_num_threads(args.threads)
    if args.worker == "geognn":
        sys.path.insert(0, REPO)
        result = run_geognn(args)
    else:
        result = run_pykeen(args)
    # The whole worker's resident high-water mark (Linux reports KiB): data, model, training and ranking.
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps(result), flush=True)


# --- driver --------------------------------------------------------------------------------------
def run_worker(library: str, dataset: str, args) -> dict | None:
    command = [sys.executable, os.path.abspath(__file__), "speed", "--worker", library, "--dataset", dataset,
               "--epochs", str(args.epochs), "--eval-repeats", str(args.eval_repeats),
               "--threads", str(args.threads), "--seed", str(args.seed)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        emit({"library": library, "dataset": dataset, "skipped": True, "reason": tail[0][:300]})
        return None
    return json.loads(lines[-1][len("RESULT "):])


def speed(args) -> None:
    libraries = [x for x in args.libraries.split(",") if x]
    for dataset in [d for d in args.datasets.split(",") if d]:
        rounds = {lib: [] for lib in libraries}
        for _ in range(args.rounds):
            for lib in libraries:
                result = run_worker(lib, dataset, args)
                if result is not None:
                    rounds[lib].append(result)
        for lib, results in rounds.items():
            if not results:
                continue
            steady = [t for r in results for t in r["epoch_times_s"][1:]]
            evals = [t for r in results for t in r["eval_times_s"]]
            record = {"suite": "kg", "measure": "speed", "dataset": dataset, "library": lib,
                      "threads": args.threads, "epochs_per_round": args.epochs, "rounds": len(results),
                      "epoch_s_median": median_or_none(steady), "epoch_s_min": min(steady, default=None),
                      "epoch_s_max": max(steady, default=None),
                      "first_epoch_s": [round(r["epoch_times_s"][0], 4) for r in results],
                      "eval_test_s_median": median_or_none(evals), "eval_test_s_min": min(evals, default=None),
                      "eval_test_s_max": max(evals, default=None), "eval_repeats": len(evals),
                      "peak_rss_bytes": max(r.get("peak_rss_bytes", 0) for r in results),
                      "metrics_after_epochs": results[-1]["metrics_after_epochs"],
                      "metrics_after_epochs_count": results[-1]["trained_epochs"],
                      "profiled_epoch": {k: results[-1][k] for k in ("profiled_epoch_s", "in_torch_ops_s",
                                                                    "python_and_framework_s", "top_ops_s")}}
            if "validation_times_s" in results[-1]:
                record["validation_s_median"] = median_or_none([t for r in results for t in r["validation_times_s"]])
                record["batches_per_epoch"] = results[-1]["batches_per_epoch"]
            emit(record)
        if all(rounds.get(lib) for lib in ("geognn", "pykeen")):
            paired = [statistics.median(p["epoch_times_s"][1:]) / statistics.median(g["epoch_times_s"][1:])
                      for g, p in zip(rounds["geognn"], rounds["pykeen"])]
            g_steady = [t for r in rounds["geognn"] for t in r["epoch_times_s"][1:]]
            p_steady = [t for r in rounds["pykeen"] for t in r["epoch_times_s"][1:]]
            g_eval = [t for r in rounds["geognn"] for t in r["eval_times_s"]]
            p_eval = [t for r in rounds["pykeen"] for t in r["eval_times_s"]]
            emit({"suite": "kg", "measure": "ratio", "dataset": dataset, "baseline": "pykeen",
                  "epoch_speedup": statistics.median(p_steady) / statistics.median(g_steady),
                  "epoch_speedup_per_round": paired,
                  "eval_speedup": statistics.median(p_eval) / statistics.median(g_eval)})


def accuracy(args) -> None:
    import torch

    sys.path.insert(0, REPO)
    from geognn.data import KGDataset
    from geognn.models import ConvE
    from geognn.train import LinkPrediction, TrainConfig, Trainer

    torch.set_num_threads(args.threads)
    root = args.out or tempfile.mkdtemp(prefix="geognn-kg-")
    for dataset in [d for d in args.datasets.split(",") if d]:
        kg = KGDataset(dataset)
        config = TrainConfig.for_task("link_prediction", progress=False, seed=args.seed)
        torch.manual_seed(args.seed)
        model = ConvE(kg.num_entities, kg.num_relations)
        t0 = time.perf_counter()
        summary = Trainer(model, kg.training, kg.valid, config, os.path.join(root, dataset), model_name="conve",
                          test_set=kg.test, task=LinkPrediction(kg, config)).fit()
        emit({"suite": "kg", "measure": "accuracy", "dataset": dataset, "library": "geognn",
              "threads": args.threads, "seed": args.seed, "epochs_run": summary["epochs_run"],
              "best_epoch": summary["best_epoch"], "stopped_early": summary["stopped_early"],
              "wall_s": round(time.perf_counter() - t0, 1), "best_val_mrr": summary["best_val_mrr"],
              "test": _metric_subset(summary["metrics"]),
              "test_tails": {k: summary["metrics"][f"tail_{k}"] for k in ("mrr", "hits@1", "hits@10")},
              "test_heads": {k: summary["metrics"][f"head_{k}"] for k in ("mrr", "hits@1", "hits@10")},
              "published": PUBLISHED.get(dataset), "run_dir": os.path.join(root, dataset)})


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
    elif args.mode == "speed":
        speed(args)
    else:
        accuracy(args)


if __name__ == "__main__":
    main()
