"""``geognn checkpoint``: inspect a checkpoint safely, or upgrade an older one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_EPILOG = """examples:
  geognn checkpoint info runs/u0/best.pt           what the file holds; never runs code from it
  geognn checkpoint upgrade old.pt new.pt          a geognn 0.1 checkpoint (format 1) -> format 2
  geognn checkpoint upgrade foreign.pt new.pt --trust
                                                   a file naming other Python objects: ONLY if you trust it

geognn loads every checkpoint with torch's safe loader (torch.load(weights_only=True)), which rebuilds
tensors, numbers and strings and never imports or calls anything named in the file. Files from geognn 0.1
stored NumPy arrays and are refused by that loader; `upgrade` converts them without running anything.
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "checkpoint", help="inspect a checkpoint, or upgrade one from an earlier geognn",
        description="Inspect or convert geognn checkpoints. Nothing in a checkpoint is ever run, except by "
                    "`upgrade --trust` on a file you vouch for.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    info = actions.add_parser("info", help="print what a checkpoint holds (model, targets, epoch, format)",
                              description="Read a checkpoint with the safe loader and summarise it; for a file "
                                          "the safe loader refuses, list the Python objects it names.")
    info.add_argument("path", type=Path, metavar="FILE|zoo:NAME", help="a checkpoint, or zoo:NAME")
    info.set_defaults(func=run_info)

    upgrade = actions.add_parser(
        "upgrade", help="convert an older checkpoint to the current, safely loadable format",
        description="Rewrite OLD as NEW in the current checkpoint format (written atomically, then read back "
                    "with the safe loader). A geognn 0.1 file (format 1) needs no --trust: its NumPy arrays are "
                    "read by NumPy's data constructors alone, which run no code.")
    upgrade.add_argument("old", type=Path, metavar="OLD", help="the checkpoint to convert")
    upgrade.add_argument("new", type=Path, metavar="NEW", help="where to write the converted checkpoint "
                         "(may equal OLD to convert in place)")
    upgrade.add_argument("--trust", action="store_true",
                         help="read OLD with the full unpickler if it names other Python functions or classes. "
                              "That RUNS CODE from the file: use it only for a file whose origin you trust")
    upgrade.set_defaults(func=run_upgrade)


def run_info(args) -> int:
    from geognn.train.checkpoint import load_checkpoint
    from geognn.zoo import resolve

    state = load_checkpoint(resolve(args.path))
    n_params = sum(v.numel() for v in state["model_state"].values() if hasattr(v, "numel"))
    lines = [
        f"file: {args.path}",
        f"format: {state['format']} version {state['version']} (read with the safe loader)",
        f"model: {state['model_name']} ({n_params:,} numbers in its state)",
        f"config: {state['model_config']}",
    ]
    if "target_names" in state:
        units = state.get("target_units", [""] * len(state["target_names"]))
        lines.append("targets: " + ", ".join(f"{n} ({u})" for n, u in zip(state["target_names"], units)))
    if "epoch" in state:
        lines.append(f"epochs completed: {state['epoch'] + 1}")
    if "entities" in state:
        lines.append(f"knowledge graph: {len(state['entities'])} entities, {len(state['relations'])} relations")
    for key in ("best_epoch", "best_val_loss", "best_val_mrr", "weights"):
        if key in state:
            lines.append(f"{key.replace('_', ' ')}: {state[key]}")
    print("\n".join(lines))
    return 0


def run_upgrade(args) -> int:
    from geognn.train.checkpoint_upgrade import upgrade_checkpoint

    if args.trust:
        print(f"geognn: --trust: reading {args.old} with the full unpickler if needed; this runs code from the "
              "file", file=sys.stderr)
    result = upgrade_checkpoint(args.old, args.new, trust=args.trust)
    print(f"geognn: {args.old} (format {result['from_version']}, read with the {result['read_with']}) -> "
          f"{args.new} (format {result['to_version']}); it loads with the safe loader", file=sys.stderr)
    return 0
