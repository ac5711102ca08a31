"""``geognn predict``: predictions of a trained model for molecules in a file, or answers of a
knowledge-graph model (ConvE) to (head, relation) queries (:mod:`geognn.cli.predict_kg`)."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

_EPILOG = """examples:
  geognn predict --checkpoint runs/u0/best.pt --input molecules.smi
  geognn predict --checkpoint zoo:schnet-qm9-small --input molecules.smi   # a model shipped with geognn
  geognn predict --checkpoint runs/u0/best.pt --input table.csv --smiles-column smiles --output predictions.csv
  geognn predict --checkpoint zoo:conve-umls --query "virus,causes" --top-k 5      # tails of (virus, causes, ?)
  geognn predict --checkpoint runs/umls/best.pt --query "?,causes,disease_or_syndrome" --filter-known
  geognn predict --checkpoint runs/umls/best.pt --queries queries.txt --output answers.csv

Identifiers: the name after a SMILES on a .smi line, --id-column (or a 'name' column) of a CSV,
the title of an SDF record, name= on an extxyz comment line; else file:line or file:#record.

Molecules that cannot be read or used (unparsable SMILES, no conformer, broken records, unknown
elements, NaN coordinates, atoms on top of each other, elements the model never saw) are
reported on stderr with where they are and why, and skipped; the others are predicted.
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="predict properties of molecules with a trained model",
        description="Predict with a checkpoint written by `geognn train`. Output: a CSV with one row per "
                    "molecule: id, smiles (when known), num_atoms, then one column per target named "
                    "'<target> (<unit>)', e.g. 'U0 (eV)'. For a knowledge-graph model (ConvE): a CSV with "
                    "the top-k answers of each query: query, predict (tail or head), rank, entity, score "
                    "(logit), probability (its sigmoid), in_training_graph.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, metavar="FILE|zoo:NAME",
                   help="checkpoint from `geognn train` (runs/NAME/best.pt), or zoo:NAME for a model shipped "
                        "with geognn (zoo:schnet-qm9-small: U0 and HOMO-LUMO gap of QM9-like molecules, eV; "
                        "see geognn.zoo)")
    p.add_argument("--input", type=Path, metavar="FILE",
                   help=".smi (one SMILES per line, optional name after it), .csv/.tsv (a SMILES column), "
                        ".sdf (3D records; 2D ones get a conformer), .xyz/.extxyz (one or more frames); "
                        "positions in Å. Read by geognn.featurize.io")
    p.add_argument("--output", type=Path, metavar="FILE", help="CSV to write (default: standard output)")
    p.add_argument("--smiles-column", default="smiles", help="with a .csv: the SMILES column (default: smiles)")
    p.add_argument("--id-column", help="with a .csv: the column of identifiers (default: a 'name' column if "
                        "there is one, else file:line)")
    p.add_argument("--seed", type=int, default=0, help="seed of the RDKit conformers made for SMILES (default: 0)")
    p.add_argument("--batch-size", type=int, default=100, help="molecules per batch (default: 100)")
    p.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'cuda:N' (default: cpu)")
    p.add_argument("--no-progress", action="store_true",
                   help="do not show the progress bar while conformers are made (default: shown)")
    kg = p.add_argument_group("knowledge-graph models (ConvE): ask with --query and/or --queries instead of --input")
    kg.add_argument("--query", action="append", metavar="QUERY",
                    help="'HEAD,RELATION' (or 'HEAD,RELATION,?') lists likely tails; '?,RELATION,TAIL' likely "
                         "heads (scored through the inverse relation); fields split on tabs if the query has one. "
                         "Repeatable")
    kg.add_argument("--queries", type=Path, metavar="FILE", help="a file of queries, one per line as for --query "
                    "(blank lines and # comments skipped)")
    kg.add_argument("--top-k", type=int, default=10, help="answers listed per query (default: 10)")
    kg.add_argument("--filter-known", action="store_true",
                    help="leave out answers that form a training triple (default: keep them, marked "
                         "in_training_graph=yes)")
    p.add_argument("--forces", action="store_true",
                   help="also write per-atom forces in eV/Å as a JSON list column (single-target energy models)")
    p.set_defaults(func=run_predict)


def predict_molecules(model, molecules, cutoff: float, batch_size: int = 100, device: str = "cpu",
                      forces: bool = False):
    """Predictions for read molecules: ``(y, forces, vectors)``.

    ``y`` is a (B, T) NumPy array; ``forces`` a list of (n, 3) eV/Å arrays if
    asked; ``vectors`` the (B, 3) vector outputs a model gives beside ``y``
    (a dipole model's ``"dipole"`` in D, in the input's coordinate frame).
    """
    import torch
    from torch_geometric.data import Batch

    from geognn.cli.datasets import attach_graph, molecule_to_data

    model = model.to(device).eval()
    outputs, force_list, vectors = [], [], []
    # A kernel model (KernelRidge) has no weights to take a dtype from, and needs no radius graph.
    weight = next(model.parameters(), None)
    dtype = weight.dtype if weight is not None else torch.float64
    needs_graph = getattr(model, "needs_graph", True)
    periodic = any(m.pbc is not None and bool(m.pbc.any()) for m in molecules)
    for start in range(0, len(molecules), batch_size):
        chunk = [molecule_to_data(m, dtype, periodic) for m in molecules[start:start + batch_size]]
        if needs_graph:
            chunk = [attach_graph(data, cutoff, periodic) for data in chunk]
        batch = Batch.from_data_list(chunk).to(device)
        with torch.set_grad_enabled(forces):
            out = model(batch, forces=forces)
        outputs.append(out["y"].detach().cpu().double())
        if "dipole" in out:
            vectors.append(out["dipole"].detach().cpu().double())
        if forces:
            f = out["forces"].detach().cpu().double()
            force_list += [f[batch.ptr[k]:batch.ptr[k + 1]].numpy() for k in range(batch.num_graphs)]
    y = torch.cat(outputs).numpy() if outputs else None
    return y, force_list, ({"dipole": torch.cat(vectors).numpy()} if vectors else {})


def usable_molecules(molecules, max_z: int, species=None, max_atoms: int | None = None):
    """The molecules a model can predict, and why the others cannot.

    A model knows atomic numbers 1..max_z, or only ``species`` when it has
    such a list (Cormorant's one-hot input, the elements a kernel model was
    fitted on); ``max_atoms`` bounds the size (a Coulomb matrix's n_atoms_max).
    """
    from geognn.cli.inputs import geometry_problem
    from geognn.featurize.io import SkippedRecord

    known = set(species) if species is not None else set(range(1, max_z + 1))
    usable, skipped = [], []
    for m in molecules:
        unknown = sorted(set(int(z) for z in m.z) - known)
        problem = geometry_problem(m.pos)
        if unknown and species is not None:
            skipped.append(SkippedRecord(m.identifier, f"atomic numbers {unknown} are not among the model's "
                                                       f"elements {sorted(known)}"))
        elif unknown:
            skipped.append(SkippedRecord(m.identifier, f"atomic numbers {unknown} beyond the model's max_z {max_z}"))
        elif problem:
            skipped.append(SkippedRecord(m.identifier, problem))
        elif max_atoms is not None and len(m.z) > max_atoms:
            skipped.append(SkippedRecord(m.identifier, f"{len(m.z)} atoms, more than the {max_atoms} of the "
                                                       f"model's Coulomb matrices"))
        else:
            usable.append(m)
    return usable, skipped


def run_predict(args) -> int:
    import json

    from geognn.cli.inputs import read_inputs, report_skipped
    from geognn.train.checkpoint import atomic_write_text, load_checkpoint, model_from_checkpoint

    from geognn.zoo import resolve

    state = load_checkpoint(resolve(args.checkpoint))
    if state.get("task") == "link_prediction":
        from geognn.cli.predict_kg import run_predict_kg

        return run_predict_kg(args, state)
    if args.input is None or args.query or args.queries:
        raise ValueError(f"{args.checkpoint} is a molecule model: give --input FILE (--query and --queries are for "
                         f"knowledge-graph models)")
    model = model_from_checkpoint(state)
    names, units = state.get("target_names", ["y"]), state.get("target_units", [""] * model.num_targets)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    molecules, skipped = read_inputs(args.input, smiles_column=args.smiles_column, id_column=args.id_column,
                                     seed=args.seed, progress=not args.no_progress)
    usable, unusable = usable_molecules(molecules, model.max_z, getattr(model, "species", None),
                                        getattr(model, "n_atoms_max", None))
    report_skipped(skipped + unusable, sys.stderr)
    _note_missing_hydrogens(usable, sys.stderr)
    y, forces, vectors = predict_molecules(model, usable, model.cutoff, args.batch_size, args.device, args.forces)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["id", "smiles", "num_atoms"] + [f"{n} ({u})" for n, u in zip(names, units)]
    header += [f"{name}_{axis} ({units[0]})" for name in vectors for axis in "xyz"]
    writer.writerow(header + (["forces (eV/Å)"] if args.forces else []))
    for k, m in enumerate(usable):
        row = [m.identifier, m.smiles or "", len(m.z)] + [f"{v:.6f}" for v in y[k]]
        row += [f"{v:.6f}" for array in vectors.values() for v in array[k]]
        if args.forces:
            row.append(json.dumps(forces[k].round(6).tolist()))
        writer.writerow(row)
    text = buffer.getvalue()
    if args.output:
        atomic_write_text(args.output, text)
        print(f"geognn: wrote {len(usable)} prediction(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if not usable:
        print("geognn: no molecule could be predicted", file=sys.stderr)
        return 1
    return 0


def _note_missing_hydrogens(molecules, stream) -> None:
    """Warns about organic molecules without any hydrogen: likely an SDF that leaves them implicit."""
    bare = [m.identifier for m in molecules if 6 in m.z and 1 not in m.z]
    if bare:
        print(f"geognn: note: {len(bare)} molecule(s) contain carbon but no hydrogen atom (first: {bare[0]}). "
              "If the file leaves hydrogens implicit, add them with 3D coordinates (e.g. RDKit "
              "Chem.AddHs(mol, addCoords=True)); a model trained with hydrogens (QM9) predicts nonsense "
              "without them.", file=stream)
