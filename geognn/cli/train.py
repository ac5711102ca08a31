"""``geognn train``: train a model on QM9, on your own molecules, or on a knowledge graph (ConvE)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from geognn.cli import train_kg, train_krr
from geognn.train.config import LINK_PREDICTION_DEFAULTS, TrainConfig

_EPILOG = """examples:
  geognn train --model schnet --dataset qm9 --target U0 --n-train 10000 --epochs 50 --out runs/u0
  geognn train --dataset qm9 --target U0,gap --n-train 2000 --n-val 500 --n-test 500 --epochs 10 --out runs/demo
  geognn train --data mols.csv --smiles-column smiles --target-column energy --out runs/mine
  geognn train --data frames.extxyz --target-column energy --force-weight 10 --out runs/md
  geognn train --dataset xtb-md17:aspirin --model schnet --out runs/aspirin   (force field: energies + forces,
      the force-field recipe's defaults; --n-train 50 for the low-data split)
  geognn train --model conve --dataset umls --out runs/umls          (knowledge-graph embeddings)
  geognn train --model conve --dataset path/to/triples --embedding-dim 96 --epochs 300 --out runs/mykg
  geognn train --model krr --dataset qm9 --target U0 --n-train 1000,2000,4000,8000,16000 --kernel laplacian \
      --permutation sorted_l2 --out runs/krr       (kernel ridge regression: one fit per size, learning curve)
  torchrun --nproc_per_node=2 -m geognn.cli.main train ...   (one DDP replica per process)

outputs in --out: best.pt (best validation loss, evaluation weights), last.pt (every epoch,
for --resume), metrics.csv, metrics.json, learning_curve.png, parity.png.
With --model conve: best.pt is the epoch of best validation MRR, metrics.json holds the filtered
test MRR, MR and Hits@1/3/10 (both directions and each), and there is no parity plot.
With --model krr: krr-n<N>.pt per size, best.pt the size of lowest validation MAE, metrics.csv one row
per size, and learning_curve.png is test MAE against N (log-log, with the fitted slope).
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model on QM9, xTB-MD17 force-field frames, a knowledge graph or a file of molecules",
        description="Train a geognn model. Energies are in eV, positions in Å, forces in eV/Å.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_options(p)
    run = p.add_argument_group("run")
    run.add_argument("--out", type=Path, required=True, metavar="DIR",
                     help="run directory for checkpoints, metrics and plots (e.g. runs/NAME)")
    run.add_argument("--resume", action="store_true",
                     help="continue from DIR/last.pt with the same options (same seed gives the same result)")
    p.set_defaults(func=run_train)


def add_train_options(p) -> None:
    """Every option of ``geognn train`` but ``--out`` and ``--resume``: data, model and training
    (``geognn tune`` takes the same ones)."""
    data = p.add_argument_group("data (give --dataset or --data)")
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="built-in dataset: qm9 (QM9 from the qm9pack package, energies "
                        "U0/U/H/G as atomization energies in eV); xtb-md17:NAME (NAME ethanol, malonaldehyde or "
                        "aspirin: GFN2-xTB MD frames at 500 K, energies in eV and forces in eV/Å, fixed splits of "
                        "1000/100/500 frames; trains with the force-field recipe's defaults, see "
                        "geognn.train.force_field); with --model conve a knowledge graph: umls, "
                        "kinships, nations (bundled) or a directory holding train.txt, valid.txt and test.txt "
                        "(head<TAB>relation<TAB>tail lines)")
    source.add_argument("--data", type=Path, metavar="FILE",
                        help="your own molecules, read by geognn.data.MoleculeDataset (processed once, cached "
                             "in $GEOGNN_CACHE): .csv (a SMILES column and target columns; seeded conformers from "
                             "RDKit ETKDG+MMFF), .sdf (3D records with properties), .xyz/.extxyz (energy on the "
                             "comment line or in a calculator block, optional per-atom forces in eV/Å). Molecules "
                             "that cannot be read or lack a target value are reported and skipped")
    data.add_argument("--target", default="U0", help="QM9 target(s), comma-separated, from: mu (D), alpha "
                      "(Bohr^3), homo, lumo, gap, zpve, U0, U, H, G (eV), r2 (Bohr^2), Cv (cal/(mol K)) "
                      "(default: U0)")
    data.add_argument("--target-column", help="with --data: column / property / comment key holding the "
                      "target, comma-separated for several (required with --data)")
    data.add_argument("--target-unit", default="eV", help="with --data: the unit of the target columns, "
                      "used in reports and plots (default: eV)")
    data.add_argument("--smiles-column", default="smiles", help="with a .csv: the SMILES column (default: smiles)")
    data.add_argument("--n-train", type=train_krr.parse_sizes, help="training molecules (default: QM9 110000; "
                      "files: 80%%); with --model krr a comma-separated list of sizes (default: 1000)")
    data.add_argument("--n-val", type=int, help="validation molecules (default: QM9 10000; files: 10%%)")
    data.add_argument("--n-test", type=int, help="test molecules (default: the rest of QM9; files: 10%%)")
    data.add_argument("--split-seed", type=int, default=0, help="seed of the random split (default: 0)")
    data.add_argument("--qm9-limit", type=int, help="use only the first N QM9 molecules (default: all 130831)")
    data.add_argument("--size-buckets", type=int, default=3, help="molecules: validation and test MAE are also "
                      "reported per molecule-size bucket, cut at quantiles of the training molecules' atom "
                      "counts (0: none; default: 3)")
    data.add_argument("--largest-fraction", type=float, default=0.1, help="molecules: MAE is also reported on "
                      "this fraction of the validation (test) molecules, the largest by atom count (0: not "
                      "reported; default: 0.1)")

    model = p.add_argument_group("model")
    model.add_argument("--model", default="schnet", choices=["schnet", "cormorant", *train_kg.KG_MODELS, *train_krr.KRR_MODELS],
                       help="model (default: schnet); cormorant is the E(3)-equivariant Clebsch-Gordan network; "
                            "conve trains knowledge-graph embeddings; krr is kernel ridge regression on Coulomb "
                            "matrices")
    model.add_argument("--hidden-channels", type=int, default=128, help="atom feature size (default: 128)")
    model.add_argument("--num-filters", type=int, default=128, help="continuous-filter width (default: 128)")
    model.add_argument("--num-interactions", type=int, default=6, help="interaction blocks (default: 6)")
    model.add_argument("--num-rbf", type=int, default=50, help="radial basis functions (default: 50)")
    model.add_argument("--cutoff", type=float, default=5.0, help="interaction cutoff in Å (default: 5.0)")
    model.add_argument("--radial-basis", choices=["gaussian", "bessel"], default="gaussian",
                       help="radial basis (default: gaussian, as in SchNet)")
    model.add_argument("--cutoff-fn", choices=["cosine", "polynomial"], default="cosine",
                       help="cutoff function (default: cosine)")
    model.add_argument("--readout", choices=["auto", "sum", "mean"], default="auto",
                       help="per-molecule reduction: sum (extensive: energies), mean (intensive: gap, HOMO, LUMO, "
                            "dipole); auto picks per target (default: auto)")

    cormorant = p.add_argument_group("Cormorant (with --model cormorant; also uses --cutoff and --readout)")
    cormorant.add_argument("--max-l", type=int, default=3, help="largest degree l of the hidden spherical tensors "
                           "(default: 3, as in the paper)")
    cormorant.add_argument("--max-sh", type=int, default=3, help="largest degree of the spherical harmonics of "
                           "pair directions (default: 3)")
    cormorant.add_argument("--num-channels", type=int, default=10, help="channels per (l, parity) block "
                           "(default: 10)")
    cormorant.add_argument("--num-levels", type=int, default=4, help="Clebsch-Gordan levels (default: 4)")
    cormorant.add_argument("--head", choices=["atomwise", "molecular"], default="atomwise",
                           help="atomwise: per-atom MLP, scaled and summed (size-extensive); molecular: the "
                                "paper's sum over atoms then MLP (default: atomwise)")
    cormorant.add_argument("--dipole", choices=["auto", "vector", "scalar"], default="auto",
                           help="for the target mu: vector predicts the dipole moment vector (D) from charges "
                                "and atomic dipoles and trains its norm; scalar treats mu like any scalar; auto "
                                "is vector when mu is the only target (default: auto)")

    train_kg.add_options(p)
    train_krr.add_options(p)

    training = p.add_argument_group("training")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kg_default = LINK_PREDICTION_DEFAULTS.get(f.name, f.default)
        help_text = f"{f.metadata['help']} (default: {f.default}" + (
            f"; with --model conve: {kg_default})" if kg_default != f.default else ")")
        if f.type in (bool, "bool"):
            training.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false",
                                  default=f.default, help=f"turn off: {help_text}")
        else:
            # No argparse default: the model's task decides it (see training_config).
            kind = {"int": int, "float": float, "str": str}.get(str(f.type), type(f.default))
            training.add_argument(flag, dest=f.name, type=kind, default=None, help=help_text,
                                  choices=f.metadata.get("choices"))


def run_train(args) -> int:
    """``geognn train``: trains, then prints the test (or validation) metrics."""
    train_from_args(args)
    return 0


def train_from_args(args, on_epoch_end=None, evaluate_test: bool = True) -> dict:
    """Builds the data, model and :class:`geognn.train.Trainer` the options name and trains.

    ``on_epoch_end`` goes to the Trainer (``geognn tune`` prunes through it); without
    ``evaluate_test`` the test set is left alone and the summary holds the best epoch's
    validation metrics. Returns the summary written to metrics.json (empty on other processes).
    """
    import torch

    from geognn.cli.datasets import default_readouts, file_sets, qm9_sets
    from geognn.cli.inputs import report_skipped
    from geognn.models import build_model
    from geognn.train import MoleculeRegression, Trainer, seed_everything
    from geognn.train.distributed import setup

    config = training_config(args)
    config.validate()
    ctx = setup(config.device)
    if args.model in train_kg.KG_MODELS:
        return train_kg.train_kg(args, config, ctx, on_epoch_end, evaluate_test)
    if args.model in train_krr.KRR_MODELS:
        return train_krr.run_train_krr(args, config)
    if args.n_train is not None:
        if len(args.n_train) > 1:
            raise ValueError(f"--n-train {','.join(map(str, args.n_train))}: several sizes (a learning curve) "
                             f"are for --model krr; {args.model} trains on one")
        args.n_train = args.n_train[0]
    force_field = _is_force_field(args)
    if args.dataset not in (None, "qm9") and not force_field:
        raise ValueError(f"--dataset {args.dataset!r}: {args.model} trains on molecules: --dataset qm9, "
                         f"xtb-md17:NAME or --data FILE (knowledge graphs train with --model conve)")
    sizes = (args.n_train, args.n_val, args.n_test)
    if force_field:
        from geognn.cli.datasets import xtb_md17_sets

        train, val, test, info = xtb_md17_sets(args.dataset, args.cutoff, *sizes)
        targets, units = ["energy"], ["eV"]
    elif args.dataset == "qm9":
        targets = [t.strip() for t in args.target.split(",") if t.strip()]
        train, val, test, units, info = qm9_sets(targets, sizes, args.split_seed, args.cutoff, args.qm9_limit,
                                                 progress=config.progress and ctx.is_main)
    else:
        if not args.target_column:
            raise ValueError("--data needs --target-column: the column / SDF property / extxyz key holding the "
                             "target, e.g. --target-column energy")
        targets = [t.strip() for t in args.target_column.split(",") if t.strip()]
        train, val, test, skipped, info = file_sets(args.data, targets, args.smiles_column, sizes,
                                                    args.split_seed, args.cutoff, conformer_seed=config.seed)
        if ctx.is_main:
            report_skipped(skipped, sys.stderr)
        units = [args.target_unit] * len(targets)
        if (len(targets) == 1 and args.force_weight is None and args.energy_weight is None
                and all(getattr(d, "forces", None) is not None for d in train)):
            # Frames with forces and no loss weights given: train a force field with the recipe's defaults.
            force_field = True
            config = training_config(args, force_field=True)
            config.validate()
            if ctx.is_main:
                print("geognn: the training frames have forces: training a force field with the force-field "
                      "recipe's defaults (--force-weight 0 trains on energies only)", file=sys.stderr)
    readout = default_readouts(targets) if args.readout == "auto" else [args.readout] * len(targets)
    if args.model == "cormorant":
        model_config = cormorant_config(args, targets, readout, [train, val, test])
    else:
        model_config = dict(hidden_channels=args.hidden_channels, num_filters=args.num_filters,
                            num_interactions=args.num_interactions, num_rbf=args.num_rbf, cutoff=args.cutoff,
                            readout=readout, num_targets=len(targets), radial_basis=args.radial_basis,
                            cutoff_fn=args.cutoff_fn)
    if config.force_weight > 0 and not all(hasattr(d, "forces") for d in train):
        raise ValueError("--force-weight > 0 needs forces for every training molecule (extxyz with forces)")
    seed_everything(config.seed)
    model = build_model(args.model, **model_config)
    if ctx.is_main:
        print(f"geognn: training {args.model} on {info['n_train']} molecules (validation {info['n_val']}, "
              f"test {info['n_test']}), targets {', '.join(f'{t} ({u})' for t, u in zip(targets, units))}, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters, device {ctx.device}, "
              f"{ctx.world_size} process(es), {torch.get_num_threads()} thread(s)", file=sys.stderr)
    if args.size_buckets < 0 or not 0 <= args.largest_fraction < 1:
        raise ValueError(f"--size-buckets must be >= 0 and --largest-fraction lie in [0, 1), got "
                         f"{args.size_buckets} and {args.largest_fraction}")
    if force_field:
        # Frames with forces: the force-field task (force-RMS energy scale, meV metrics, force cosine).
        from geognn.train.force_field import ForceFieldRegression

        task = ForceFieldRegression(config, targets[0])
    else:
        task = MoleculeRegression(config, targets, units, size_buckets=args.size_buckets,
                                  largest_fraction=args.largest_fraction)
    trainer = Trainer(model, train, val, config, args.out, model_name=args.model, model_config=model_config,
                      test_set=(test or None) if evaluate_test else None, resume=args.resume, info=info, ctx=ctx,
                      task=task, on_epoch_end=on_epoch_end)
    summary = trainer.fit()
    if ctx.is_main and task.name == "force_field":
        from geognn.train.force_field import evaluate_splits, format_force_field_summary

        summary["splits"] = evaluate_splits(trainer, {"train": train, "val": val, "test": test if evaluate_test
                                                      else []})
        print(format_force_field_summary(summary))
    elif ctx.is_main:
        print(format_regression_summary(summary, targets, units))
        print(f"  outputs in {args.out}/ (best.pt, metrics.csv, metrics.json, learning_curve.png, parity.png)")
    from geognn.train.distributed import teardown

    teardown(ctx)
    return summary


def format_regression_summary(summary: dict, targets, units) -> str:
    """The test (or validation) errors of a finished molecule run, overall and per molecule-size group."""
    metrics = summary["metrics"]
    lines = [f"geognn: best epoch {summary['best_epoch']} of {summary['epochs_run']}; {summary['evaluated_on']} set:"]
    for t, u in zip(targets, units):
        lines.append(f"  {t}: MAE {metrics[f'mae_{t}']:.5g} {u}, RMSE {metrics[f'rmse_{t}']:.5g} {u}")
    if "force_mae" in metrics:
        lines.append(f"  forces: MAE {metrics['force_mae']:.5g} eV/Å, RMSE {metrics['force_rmse']:.5g} eV/Å")
    groups = summary.get("size_groups", {})
    shown = [g for g in groups if f"mae_{targets[0]}_{g}" in metrics]
    if shown:
        lines.append("  MAE by molecule size:")
        for g in shown:
            atoms = groups[g].get("atoms")
            span = (f"{atoms[0]}-{atoms[1]} atoms" if atoms[1] is not None else f"{atoms[0]}+ atoms") if atoms else (
                f"largest {groups[g]['fraction_of_evaluated_set']:.0%}")
            lines.append(f"    {g:8} {span:>12}: " + ", ".join(
                f"{t} {metrics[f'mae_{t}_{g}']:.5g} {u}" for t, u in zip(targets, units)))
    return "\n".join(lines)


def cormorant_config(args, targets, readout, sets) -> dict:
    """Cormorant's hyperparameters from the command line.

    Its elements (the one-hot input) are QM9's H, C, N, O, F for QM9, else
    every element found in the training, validation and test molecules; its
    ``neighbor_norm`` is the mean number of neighbours in the training set.
    """
    from geognn.models.cormorant import QM9_SPECIES

    found = {int(z) for molecules in sets for d in molecules for z in d.z.tolist()}
    species = sorted(found | set(QM9_SPECIES)) if args.dataset == "qm9" else sorted(found)
    dipole = args.dipole == "vector" or (args.dipole == "auto" and targets == ["mu"])
    if dipole and targets != ["mu"]:
        raise ValueError(f"--dipole vector predicts the dipole moment: train it alone with --target mu, "
                         f"not {','.join(targets)}")
    # The mean number of neighbours within the cutoff scales the neighbour sums (15.2 for QM9 at 5 Å).
    train = sets[0]
    neighbors = sum(d.edge_index.shape[1] for d in train) / max(sum(d.z.numel() for d in train), 1)
    return dict(max_l=args.max_l, max_sh=args.max_sh, num_channels=args.num_channels, num_levels=args.num_levels,
                cutoff=args.cutoff, readout=readout, num_targets=len(targets), species=species, head=args.head,
                dipole=dipole, neighbor_norm=round(max(neighbors, 1.0), 3))


def _is_force_field(args) -> bool:
    """``--dataset xtb-md17:NAME``: frames with energies and forces (the force-field recipe's defaults)."""
    return args.model not in train_kg.KG_MODELS and str(args.dataset or "").lower().startswith("xtb-md17")


def training_config(args, force_field: bool | None = None) -> TrainConfig:
    """The options given on the command line over the defaults of the model's task (the force-field recipe,
    :data:`geognn.train.config.FORCE_FIELD_DEFAULTS`, for data sets of MD frames with forces)."""
    task = "link_prediction" if args.model in train_kg.KG_MODELS else (
        "force_field" if (_is_force_field(args) if force_field is None else force_field) else "molecule_regression")
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    return TrainConfig.for_task(task, **given)
