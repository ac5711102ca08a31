"""``geognn train --model conve``: knowledge-graph embeddings on a bundled graph or a directory of triples."""

from __future__ import annotations

import sys

KG_MODELS = ("conve",)


def add_options(parser) -> None:
    """The ConvE options of ``geognn train`` (their own group in ``--help``)."""
    group = parser.add_argument_group("ConvE (with --model conve; --dataset umls, kinships, nations or a directory "
                                      "of train.txt/valid.txt/test.txt triples)")
    group.add_argument("--embedding-dim", type=int, default=200,
                       help="size of entity and relation embeddings (default: 200)")
    group.add_argument("--image-height", type=int, default=None,
                       help="height of the image an embedding is reshaped into; must divide --embedding-dim "
                            "(default: the largest divisor not above its square root: 10 for 200, a 10x20 image)")
    group.add_argument("--conv-filters", type=int, default=32, help="convolution output channels (default: 32)")
    group.add_argument("--kernel-size", type=int, default=3, help="side of the square convolution kernel (default: 3)")
    group.add_argument("--input-dropout", type=float, default=0.2,
                       help="dropout of the stacked input image (default: 0.2)")
    group.add_argument("--feature-map-dropout", type=float, default=0.2,
                       help="dropout of whole convolution channels (default: 0.2)")
    group.add_argument("--hidden-dropout", type=float, default=0.3,
                       help="dropout after the projection (default: 0.3)")


def run_train_kg(args, config, ctx) -> int:
    """Trains ConvE with :class:`geognn.train.LinkPrediction`; prints and writes the test metrics."""
    import torch

    from geognn.data import KGDataset
    from geognn.models import build_model
    from geognn.train import LinkPrediction, Trainer, seed_everything
    from geognn.train.distributed import teardown

    if args.data is not None:
        raise ValueError("--model conve trains on a knowledge graph: give --dataset umls|kinships|nations or "
                         "--dataset DIR (a directory of train.txt, valid.txt, test.txt triples), not --data")
    if args.dataset.lower() == "qm9":
        raise ValueError("--model conve trains on a knowledge graph, not on qm9: give --dataset "
                         "umls|kinships|nations or a directory of train.txt, valid.txt, test.txt triples")
    kg = KGDataset(args.dataset)
    model_config = dict(num_entities=kg.num_entities, num_relations=kg.num_relations,
                        embedding_dim=args.embedding_dim, image_height=args.image_height,
                        num_filters=args.conv_filters, kernel_size=args.kernel_size,
                        input_dropout=args.input_dropout, feature_map_dropout=args.feature_map_dropout,
                        hidden_dropout=args.hidden_dropout)
    seed_everything(config.seed)
    model = build_model(args.model, **model_config)
    info = {"dataset": kg.name, "directory": str(kg.directory), **kg.summary(), "unseen_dropped": kg.unseen}
    if ctx.is_main:
        image = model.interaction.image
        print(f"geognn: training {args.model} on {kg.name} ({kg.num_entities} entities, {kg.num_relations} "
              f"relations + inverses; {len(kg.train)} training triples, {len(kg.valid)} validation, "
              f"{len(kg.test)} test), embedding {args.embedding_dim} as a {image[0]}x{image[1]} image, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters, device {ctx.device}, "
              f"{ctx.world_size} process(es), {torch.get_num_threads()} thread(s)", file=sys.stderr)
    trainer = Trainer(model, kg.training, kg.valid, config, args.out, model_name=args.model,
                      model_config=model_config, test_set=kg.test, resume=args.resume, info=info, ctx=ctx,
                      task=LinkPrediction(kg, config))
    summary = trainer.fit()
    if ctx.is_main:
        print(format_ranking_summary(summary))
        print(f"  outputs in {args.out}/ (best.pt, metrics.csv, metrics.json, learning_curve.png)")
    teardown(ctx)
    return 0


def format_ranking_summary(summary: dict) -> str:
    """The test (or validation) ranking metrics of a finished run as a small table."""
    m = summary["metrics"]
    lines = [f"geognn: best epoch {summary['best_epoch']} of {summary['epochs_run']} (validation MRR "
             f"{summary['best_val_mrr']:.4f}); {summary['evaluated_on']} set, filtered ranks of "
             f"{m['num_ranked']} queries (ties: mean of optimistic and pessimistic rank):",
             f"  {'':6}{'MRR':>8}{'MR':>8}{'Hits@1':>8}{'Hits@3':>8}{'Hits@10':>8}"]
    for label, prefix in (("both", ""), ("tails", "tail_"), ("heads", "head_")):
        if f"{prefix}mrr" in m:
            lines.append(f"  {label:6}{m[prefix + 'mrr']:8.4f}{m[prefix + 'mr']:8.2f}"
                         + "".join(f"{m[f'{prefix}hits@{k}']:8.4f}" for k in (1, 3, 10)))
    return "\n".join(lines)
