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
    group.add_argument("--relation-buckets", type=int, default=None,
                       help="validation and test metrics are also reported per relation-frequency bucket: "
                            "relations ordered by their number of training triples, cut into this many buckets "
                            "of equal size, freq1 the rarest (default: 3, or one per relation on a graph with "
                            "fewer); per 1-1/1-N/N-1/N-N category (Bordes et al. 2013) always")
    group.add_argument("--relation-bucket-edges", default=None, metavar="N1,N2,...",
                       help="instead of --relation-buckets: increasing training-triple counts the buckets are cut "
                            "at (10,100: fewer than 10, 10 to 99, 100 or more)")


def bucket_edges(text: str | None) -> list[int] | None:
    """The counts of ``--relation-bucket-edges`` (``"10,100"`` -> [10, 100]); None when not given."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--relation-bucket-edges: expected comma-separated training-triple counts such as "
                         f"10,100, got {text!r}") from None


def train_kg(args, config, ctx, on_epoch_end=None, evaluate_test: bool = True) -> dict:
    """Trains ConvE with :class:`geognn.train.LinkPrediction`; prints and writes the test metrics.

    ``on_epoch_end`` and ``evaluate_test`` as in :func:`geognn.cli.train.train_from_args`; returns the summary.
    """
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
    edges = bucket_edges(args.relation_bucket_edges)
    if edges is not None and args.relation_buckets is not None:
        raise ValueError("give --relation-buckets or --relation-bucket-edges, not both")
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
    task = LinkPrediction(kg, config, relation_buckets=args.relation_buckets, bucket_edges=edges)
    trainer = Trainer(model, kg.training, kg.valid, config, args.out, model_name=args.model,
                      model_config=model_config, test_set=kg.test if evaluate_test else None, resume=args.resume,
                      info=info, ctx=ctx, task=task, on_epoch_end=on_epoch_end)
    summary = trainer.fit()
    if ctx.is_main:
        print(format_ranking_summary(summary))
        print(f"  outputs in {args.out}/ (best.pt, metrics.csv, metrics.json, learning_curve.png)")
    teardown(ctx)
    return summary


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
    groups = [(g, d) for g, d in summary.get("relation_groups", {}).items() if f"{g}_mrr" in m]
    if groups:
        lines.append("  by relation group (freq: buckets of training-triple counts, rarest first; cat: Bordes "
                     "et al. 2013 categories):")
        lines.append(f"  {'group':10}{'rel.':>5}{'triples':>12}{'queries':>8}{'MRR':>8}{'tails':>8}{'heads':>8}"
                     f"{'Hits@1':>8}{'Hits@10':>8}{'t H@10':>8}{'h H@10':>8}")
        for g, d in groups:
            span = d.get("train_triples")
            triples = f"{span[0]}-{span[1]}" if span else ""
            lines.append(f"  {g:10}{d['num_relations']:5d}{triples:>12}{m[f'{g}_num_ranked']:8d}"
                         + "".join(f"{m.get(f'{k}', float('nan')):8.4f}" for k in (
                             f"{g}_mrr", f"tail_{g}_mrr", f"head_{g}_mrr", f"{g}_hits@1", f"{g}_hits@10",
                             f"tail_{g}_hits@10", f"head_{g}_hits@10")))
        for worst in ("worst_freq_mrr", "worst_cat_mrr"):
            if worst in m:
                lines.append(f"  {worst}: {m[worst]:.4f}")
    return "\n".join(lines)
