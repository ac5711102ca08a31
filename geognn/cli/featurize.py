"""``geognn featurize``: Coulomb matrices or radius graphs of the molecules in a file, saved to .pt/.npz."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

OUTPUT_SUFFIXES = (".pt", ".npz")

_EPILOG = """examples:
  geognn featurize coulomb --input mols.sdf --output cm.npz --permutation sorted_l2 --n-atoms-max 29
  geognn featurize coulomb --input mols.smi --output spectra.pt --permutation eigenspectrum --distance-unit bohr
  geognn featurize radius-graph --input frames.extxyz --output graphs.npz --cutoff 5

Molecules that cannot be read or featurized are reported on stderr (where and why) and skipped;
the ids array says which molecules the rows are. Reading the output back:
  f = numpy.load("cm.npz");  X, ids = f["features"], f["ids"];  meta = json.loads(str(f["metadata"]))
  f = torch.load("cm.pt");   X, ids, meta = f["features"], f["ids"], f["metadata"]
"""

_COULOMB_DOC = """Coulomb matrices (Rupp et al. 2012): M_ii = 0.5 Z_i^2.4, M_ij = Z_i Z_j / |R_i - R_j| with the
distance in --distance-unit, zero-padded to --n-atoms-max atoms.

Saved arrays: features (B, n, n), or (B, n(n+1)/2) with --flatten, or (B, n) for eigenspectrum,
n = n_atoms_max; ids (B,) and smiles (B,) strings; num_atoms (B,); metadata (JSON: options, units,
skipped molecules, geognn version)."""

_GRAPH_DOC = """3D radius graphs: every directed pair of atoms closer than --cutoff Å, periodic images included
for periodic extxyz frames, packed like a PyG batch.

Saved arrays: z (N,), pos (N, 3) Å, atom_ptr (B+1,) (molecule b owns atoms atom_ptr[b]:atom_ptr[b+1]),
edge_index (2, E) (source, target; indices into z), edge_ptr (B+1,), edge_shift (E, 3) Å,
edge_length (E,) Å, cell (B, 3, 3) Å, pbc (B, 3); energy (B,) eV and forces (N, 3) eV/Å when every
molecule has them; ids, smiles, metadata as for coulomb."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "featurize", help="turn a molecule file into Coulomb matrices or radius graphs (.pt/.npz)",
        description="Featurize every molecule of a file and save the result atomically (temporary file, then "
                    "rename). Positions are in Å; energies eV; forces eV/Å. Run `geognn featurize KIND --help` "
                    "for the options of each kind.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True
    coulomb = kinds.add_parser("coulomb", help="Coulomb matrices or their eigenspectra", description=_COULOMB_DOC,
                               epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(coulomb)
    cm = coulomb.add_argument_group("Coulomb matrix")
    cm.add_argument("--permutation", choices=["none", "sorted_l2", "sorted_canonical", "eigenspectrum", "random"],
                    default="sorted_l2",
                    help="none: atoms in file order; sorted_l2: rows and columns sorted by row norm, largest first "
                         "(as DScribe; rows of equal norm keep the file order); sorted_canonical: the same, with "
                         "ties broken canonically, so every atom order of a geometry gives the same matrix; "
                         "eigenspectrum: eigenvalues sorted by |value|, largest first; random: row norms "
                         "perturbed by Gaussian noise of width --sigma before sorting (augmentation; drawn with "
                         "--seed) (default: sorted_l2)")
    cm.add_argument("--sigma", type=float, help="with --permutation random: noise width, in the unit of the "
                    "matrix entries (e²/Å, or e²/bohr = hartree with --distance-unit bohr); required with random, "
                    "no default")
    cm.add_argument("--n-atoms-max", type=int, help="output size n: molecules are zero-padded to n atoms; larger "
                    "ones are reported and skipped (default: the largest molecule of the input)")
    cm.add_argument("--distance-unit", choices=["angstrom", "bohr"], default="angstrom",
                    help="unit of |R_i - R_j| in M_ij: angstrom as DScribe, bohr as Rupp et al. (default: angstrom)")
    cm.add_argument("--flatten", action="store_true",
                    help="save the upper triangle (diagonal included) row by row, (B, n(n+1)/2), instead of "
                         "(B, n, n) matrices; ignored for eigenspectrum (default: off)")
    coulomb.set_defaults(func=run_featurize)

    graph = kinds.add_parser("radius-graph", help="3D radius graphs (edges, shifts, lengths)",
                             description=_GRAPH_DOC, epilog=_EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(graph)
    rg = graph.add_argument_group("radius graph")
    rg.add_argument("--cutoff", type=float, default=5.0, help="pair cutoff in Å; pairs strictly closer are edges "
                    "(default: 5.0)")
    rg.add_argument("--max-neighbors", type=int, help="keep at most this many nearest sources per atom; "
                    "truncation is reported (default: no limit)")
    graph.set_defaults(func=run_featurize)


def _add_common(p) -> None:
    io_ = p.add_argument_group("input and output")
    io_.add_argument("--input", type=Path, required=True, metavar="FILE",
                     help=".smi (SMILES per line, optional name), .csv/.tsv (a SMILES column), .sdf, .xyz/.extxyz; "
                          "positions in Å; SMILES and 2D records get seeded RDKit conformers (ETKDG + MMFF)")
    io_.add_argument("--output", type=Path, required=True, metavar="FILE",
                     help="where to save: .pt (torch.load) or .npz (numpy.load); written atomically")
    io_.add_argument("--smiles-column", default="smiles", help="with a .csv: the SMILES column (default: smiles)")
    io_.add_argument("--id-column", help="with a .csv: the column of identifiers (default: a 'name' column if "
                     "there is one, else file:line)")
    io_.add_argument("--seed", type=int, default=0,
                     help="seed of the RDKit conformers (and of the random permutation's noise) (default: 0)")
    io_.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                     help="floating-point type of the saved features and geometry (default: float32)")
    io_.add_argument("--batch-size", type=int, default=1000,
                     help="molecules featurized per step (the progress bar advances by it) (default: 1000)")
    io_.add_argument("--no-progress", action="store_true", help="hide the progress bars (default: shown)")


def run_featurize(args) -> int:
    import torch

    from geognn.cli.inputs import geometry_problem, read_inputs, report_skipped
    from geognn.featurize.io import SkippedRecord

    _check_options(args)
    started = time.perf_counter()
    molecules, skipped = read_inputs(args.input, smiles_column=args.smiles_column, id_column=args.id_column,
                                     seed=args.seed, progress=not args.no_progress)
    usable = []
    for m in molecules:
        problem = geometry_problem(m.pos)
        if problem is None and args.kind == "coulomb" and args.n_atoms_max and len(m.z) > args.n_atoms_max:
            problem = f"{len(m.z)} atoms, more than --n-atoms-max {args.n_atoms_max}"
        if problem:
            skipped.append(SkippedRecord(m.identifier, problem))
        else:
            usable.append(m)
    report_skipped(skipped, sys.stderr)
    if not usable:
        raise ValueError(f"{args.input}: no molecule could be featurized ({len(skipped)} skipped)")
    dtype = getattr(torch, args.dtype)
    make = _coulomb if args.kind == "coulomb" else _radius_graphs
    arrays, metadata, summary = make(usable, args, dtype)
    metadata.update({
        "source": str(args.input), "num_molecules": len(usable), "seed": args.seed, "dtype": args.dtype,
        "skipped": [[s.where, s.reason] for s in skipped], "geognn_version": _version(),
    })
    arrays["ids"] = [m.identifier for m in usable]
    arrays["smiles"] = [m.smiles or "" for m in usable]
    save_features(args.output, arrays, metadata)
    seconds = time.perf_counter() - started
    print(f"geognn: featurized {len(usable)} molecule(s) from {args.input} ({len(skipped)} skipped) in "
          f"{seconds:.1f} s: {summary}; saved to {args.output}", file=sys.stderr)
    return 0


def _check_options(args) -> None:
    if args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--output {args.output}: the file must end in .pt (for torch.load) or .npz (for numpy.load)")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.kind == "coulomb":
        if args.permutation == "random" and (args.sigma is None or args.sigma <= 0):
            raise ValueError("--permutation random needs a noise width: add --sigma VALUE (> 0), e.g. --sigma 1")
        if args.permutation != "random" and args.sigma is not None:
            raise ValueError(f"--sigma is only used with --permutation random, not {args.permutation}; drop it")
        if args.n_atoms_max is not None and args.n_atoms_max < 1:
            raise ValueError(f"--n-atoms-max must be at least 1, got {args.n_atoms_max}")
    else:
        if not args.cutoff > 0:
            raise ValueError(f"--cutoff must be a positive distance in Å, got {args.cutoff}")
        if args.max_neighbors is not None and args.max_neighbors < 1:
            raise ValueError(f"--max-neighbors must be at least 1, got {args.max_neighbors}")


def _chunks(molecules, args, desc):
    from tqdm.auto import tqdm

    with tqdm(total=len(molecules), desc=desc, unit="mol", disable=args.no_progress, leave=False) as bar:
        for first in range(0, len(molecules), args.batch_size):
            chunk = molecules[first:first + args.batch_size]
            yield chunk
            bar.update(len(chunk))


def _packed(chunk):
    """(z (N,), pos (N, 3) float64 Å, batch (N,)) of a list of molecules."""
    import numpy as np
    import torch

    z = torch.from_numpy(np.concatenate([m.z for m in chunk]).astype(np.int64))
    pos = torch.from_numpy(np.concatenate([m.pos for m in chunk]).astype(np.float64))
    batch = torch.repeat_interleave(torch.arange(len(chunk)), torch.tensor([len(m.z) for m in chunk]))
    return z, pos, batch


def _coulomb(molecules, args, dtype):
    import torch

    from geognn.featurize import CoulombMatrix

    n_atoms_max = args.n_atoms_max or max(len(m.z) for m in molecules)
    featurizer = CoulombMatrix(n_atoms_max, permutation=args.permutation, sigma=args.sigma, seed=args.seed,
                               flatten=args.flatten, distance_unit=args.distance_unit)
    # Computed in float64 (1/r of close atoms amplifies rounding), saved in --dtype.
    parts = [featurizer(*_packed(chunk)).to(dtype) for chunk in _chunks(molecules, args, "Coulomb matrices")]
    features = torch.cat(parts)
    entry_unit = "e^2/Å" if args.distance_unit == "angstrom" else "e^2/bohr (hartree)"
    layout = ("eigenspectrum" if args.permutation == "eigenspectrum"
              else "upper_triangle" if args.flatten else "matrix")
    metadata = {"kind": "coulomb_matrix", "permutation": args.permutation, "sigma": args.sigma,
                "n_atoms_max": n_atoms_max, "distance_unit": args.distance_unit, "layout": layout,
                "entry_unit": entry_unit, "diagonal": "0.5 Z^2.4"}
    arrays = {"features": features, "num_atoms": torch.tensor([len(m.z) for m in molecules])}
    summary = (f"features {tuple(features.shape)} {args.dtype} ({layout}, permutation {args.permutation}, "
               f"n_atoms_max {n_atoms_max}, distances in {args.distance_unit})")
    return arrays, metadata, summary


def _radius_graphs(molecules, args, dtype):
    import numpy as np
    import torch

    from geognn.featurize import radius_graph

    periodic = any(m.pbc is not None and bool(np.any(m.pbc)) for m in molecules)
    edge_index, edge_shift, edges_per_molecule, offset = [], [], [], 0
    for chunk in _chunks(molecules, args, "radius graphs"):
        z, pos, batch = _packed(chunk)
        cell = pbc = None
        if periodic:
            cell, pbc = _cells(chunk), _pbcs(chunk)
        index, shift = radius_graph(pos, args.cutoff, batch, cell=cell, pbc=pbc, max_neighbors=args.max_neighbors)
        edge_index.append(index + offset)
        edge_shift.append(shift)
        edges_per_molecule.append(torch.bincount(batch[index[1]], minlength=len(chunk)))
        offset += len(z)
    z, pos, _ = _packed(molecules)
    edge_index, edge_shift = torch.cat(edge_index, 1), torch.cat(edge_shift)
    edge_length = torch.linalg.vector_norm(pos[edge_index[1]] - pos[edge_index[0]] + edge_shift, dim=1)
    counts = torch.tensor([len(m.z) for m in molecules])
    arrays = {
        "z": z, "pos": pos.to(dtype), "atom_ptr": torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]),
        "edge_index": edge_index,
        "edge_ptr": torch.cat([torch.zeros(1, dtype=torch.long), torch.cat(edges_per_molecule).cumsum(0)]),
        "edge_shift": edge_shift.to(dtype), "edge_length": edge_length.to(dtype),
        "cell": _cells(molecules).to(dtype), "pbc": _pbcs(molecules),
    }
    if all("energy" in m.properties for m in molecules):
        arrays["energy"] = torch.tensor([float(m.properties["energy"]) for m in molecules], dtype=dtype)
    if all("forces" in m.atom_properties for m in molecules):
        arrays["forces"] = torch.from_numpy(np.concatenate([m.atom_properties["forces"] for m in molecules])).to(dtype)
    metadata = {"kind": "radius_graph", "cutoff_angstrom": args.cutoff, "max_neighbors": args.max_neighbors,
                "periodic": periodic, "units": {"pos": "Å", "edge_shift": "Å", "edge_length": "Å", "cell": "Å",
                                                "energy": "eV", "forces": "eV/Å"}}
    num_edges = edge_index.shape[1]
    summary = (f"{len(z)} atoms, {num_edges} edges within {args.cutoff} Å "
               f"({num_edges / max(len(z), 1):.1f} neighbours per atom on average)"
               + (", periodic images included" if periodic else ""))
    return arrays, metadata, summary


def _cells(molecules):
    """(B, 3, 3) float64 cells in Å; zeros for molecules without one."""
    import numpy as np
    import torch

    return torch.tensor(np.stack([m.cell if m.cell is not None else np.zeros((3, 3)) for m in molecules]))


def _pbcs(molecules):
    """(B, 3) bool periodic directions; all False for molecules without a cell."""
    import numpy as np
    import torch

    return torch.tensor(np.stack([m.pbc if m.pbc is not None else np.zeros(3, bool) for m in molecules]))


def save_features(path: Path, arrays: dict, metadata: dict) -> None:
    """Saves tensors and string lists with a JSON-able ``metadata`` dict, atomically, as .pt or .npz.

    A .pt file holds a dict of tensors, lists of str and the metadata dict
    (loadable with ``torch.load(path, weights_only=True)``); a .npz file holds
    NumPy arrays, strings as unicode arrays and the metadata as a JSON string,
    so ``numpy.load`` needs no pickle.
    """
    import numpy as np
    import torch

    from geognn.train.checkpoint import atomic_write_bytes

    if path.suffix.lower() == ".pt":
        state = {**arrays, "metadata": metadata}
        atomic_write_bytes(path, lambda f: torch.save(state, f))
        return
    flat = {}
    for key, value in arrays.items():
        flat[key] = value.numpy() if torch.is_tensor(value) else np.asarray(value, dtype=str)
    flat["metadata"] = np.asarray(json.dumps(metadata))
    atomic_write_bytes(path, lambda f: np.savez(f, **flat))


def _version() -> str:
    from geognn import __version__

    return __version__
