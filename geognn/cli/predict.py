"""``geognn predict``: predictions of a trained model for molecules in a file."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

_EPILOG = """examples:
  geognn predict --checkpoint runs/u0/best.pt --input molecules.smi
  geognn predict --checkpoint runs/u0/best.pt --input table.csv --smiles-column smiles --output predictions.csv

Molecules that cannot be read (unparsable SMILES, no conformer, broken records, unknown
elements, NaN coordinates) are reported on stderr and skipped; the others are predicted.
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="predict properties of molecules with a trained model",
        description="Predict with a checkpoint written by `geognn train`. Output: a CSV with one row per "
                    "molecule: id, smiles (when known), num_atoms, then one column per target named "
                    "'<target> (<unit>)', e.g. 'U0 (eV)'.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, metavar="FILE",
                   help="checkpoint from `geognn train` (runs/NAME/best.pt)")
    p.add_argument("--input", type=Path, required=True, metavar="FILE",
                   help=".smi (one SMILES per line, optional name after it), .csv (a SMILES column), "
                        ".sdf (3D records), .xyz/.extxyz (one or more frames); positions in Å")
    p.add_argument("--output", type=Path, metavar="FILE", help="CSV to write (default: standard output)")
    p.add_argument("--smiles-column", default="smiles", help="with a .csv: the SMILES column (default: smiles)")
    p.add_argument("--id-column", help="with a .csv: a column of identifiers (default: file:line)")
    p.add_argument("--seed", type=int, default=0, help="seed of the RDKit conformers made for SMILES (default: 0)")
    p.add_argument("--batch-size", type=int, default=100, help="molecules per batch (default: 100)")
    p.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'cuda:N' (default: cpu)")
    p.add_argument("--forces", action="store_true",
                   help="also write per-atom forces in eV/Å as a JSON list column (single-target energy models)")
    p.set_defaults(func=run_predict)


def predict_records(model, records, cutoff: float, batch_size: int = 100, device: str = "cpu",
                    forces: bool = False):
    """Predictions (B, T) NumPy array for read molecules, and forces per molecule if asked."""
    import torch
    from torch_geometric.data import Batch

    from geognn.cli.datasets import attach_graph, record_to_data

    model = model.to(device).eval()
    outputs, force_list = [], []
    dtype = next(model.parameters()).dtype
    for start in range(0, len(records), batch_size):
        chunk = [attach_graph(record_to_data(r, dtype=dtype), cutoff) for r in records[start:start + batch_size]]
        for d in chunk:
            del d.identifier
        batch = Batch.from_data_list(chunk).to(device)
        with torch.no_grad():
            out = model(batch, forces=forces)
        outputs.append(out["y"].detach().cpu().double())
        if forces:
            f = out["forces"].detach().cpu().double()
            force_list += [f[batch.ptr[k]:batch.ptr[k + 1]].numpy() for k in range(batch.num_graphs)]
    y = torch.cat(outputs).numpy() if outputs else None
    return y, force_list


def run_predict(args) -> int:
    import json

    from geognn.cli.datasets import report_skipped
    from geognn.cli.inputs import read_molecules
    from geognn.train.checkpoint import load_checkpoint, model_from_checkpoint

    state = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(state)
    names, units = state.get("target_names", ["y"]), state.get("target_units", [""] * model.num_targets)
    records, skipped = read_molecules(args.input, smiles_column=args.smiles_column, id_column=args.id_column,
                                      seed=args.seed)
    report_skipped(skipped, sys.stderr)
    known = set(range(1, model.max_z + 1))
    usable = []
    for r in records:
        unknown = sorted(set(int(z) for z in r.z) - known)
        if unknown:
            report_skipped([_skip(r.identifier, f"atomic numbers {unknown} beyond the model's max_z")], sys.stderr)
            continue
        usable.append(r)
    y, forces = predict_records(model, usable, model.cutoff, args.batch_size, args.device, args.forces)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["id", "smiles", "num_atoms"] + [f"{n} ({u})" for n, u in zip(names, units)]
    writer.writerow(header + (["forces (eV/Å)"] if args.forces else []))
    for k, r in enumerate(usable):
        row = [r.identifier, r.smiles, len(r.z)] + [f"{v:.6f}" for v in y[k]]
        if args.forces:
            row.append(json.dumps(forces[k].round(6).tolist()))
        writer.writerow(row)
    text = buffer.getvalue()
    if args.output:
        from geognn.train.checkpoint import atomic_write_text

        atomic_write_text(args.output, text)
        print(f"geognn: wrote {len(usable)} prediction(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if not usable:
        print("geognn: no molecule could be predicted", file=sys.stderr)
        return 1
    return 0


def _skip(identifier: str, reason: str):
    from geognn.cli.inputs import Skipped

    return Skipped(identifier, reason)
