"""``geognn zoo``: the trained models shipped with geognn, and their cards."""

from __future__ import annotations

import argparse
import json

_EPILOG = """examples:
  geognn zoo                              list the models: what they predict, headline test metrics
  geognn zoo schnet-qm9-small             the full model card (JSON): data, split, command, caveats
  geognn predict --checkpoint zoo:schnet-qm9-small --input molecules.smi
  geognn predict --checkpoint zoo:conve-umls --query "virus,causes"
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "zoo", help="list the trained models shipped with geognn, or show one's card",
        description="Trained models that come inside the package (nothing is downloaded). Use one with "
                    "`geognn predict --checkpoint zoo:NAME` or `geognn.zoo.load(NAME)` in Python.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", help="a model name: print its card as JSON (default: list all models)")
    p.set_defaults(func=run_zoo)


def run_zoo(args) -> int:
    from geognn import zoo

    if args.name:
        print(json.dumps(zoo.card(args.name), indent=2, ensure_ascii=False))
        return 0
    for name in zoo.available():
        card = zoo.card(name)
        print(f"{name}: {card['description']}")
        if "headline" in card:
            print(f"    {card['headline']} ({card['metrics']['evaluated_on']})")
        else:  # cards written before headlines existed are molecule models
            maes = ", ".join(f"{t} {card['metrics'][f'mae_{t}']:.4g} {card['units'][t]}" for t in card["targets"])
            print(f"    test MAE ({card['metrics']['evaluated_on']}): {maes}")
    return 0
