"""``geognn zoo``: the trained models shipped with geognn, by model family, and their cards."""

from __future__ import annotations

import argparse
import json

_EPILOG = """examples:
  geognn zoo list                         every model family and its shipped models: what they predict, test metrics
  geognn zoo info schnet-qm9-small        the full model card (JSON): data, split, command, metrics, caveats
  geognn zoo                              the same as `geognn zoo list`
  geognn zoo schnet-qm9-small             the same as `geognn zoo info schnet-qm9-small`
  geognn predict --checkpoint zoo:schnet-qm9-small --input molecules.smi
  geognn predict --checkpoint zoo:conve-umls --query "virus,causes"

In Python: geognn.zoo.list(), geognn.zoo.card(NAME), geognn.zoo.load(NAME). Every load checks the
weights against the SHA-256 in the card and refuses a model made by a newer geognn than this one.
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "zoo", help="list the trained models shipped with geognn, or show one's card",
        description="Trained models that come inside the package (nothing is downloaded), for every model family "
                    "geognn trains. Use one with `geognn predict --checkpoint zoo:NAME` or `geognn.zoo.load(NAME)`.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", nargs="?", metavar="list | info | NAME",
                   help="list: the models by family (the default); info NAME or just NAME: that model's card as JSON")
    p.add_argument("name", nargs="?", metavar="NAME", help="the model whose card `info` prints")
    p.set_defaults(func=run_zoo)


def run_zoo(args) -> int:
    from geognn import zoo

    action, name = args.action, args.name
    if action in (None, "list"):
        if name:
            raise ValueError(f"`geognn zoo list` takes no model name (got {name!r}); use `geognn zoo info {name}`")
        print_listing(zoo)
        return 0
    if action == "info":
        if not name:
            raise ValueError(f"`geognn zoo info` needs a model name: one of {', '.join(zoo.list())}")
    elif name:
        raise ValueError(f"unknown zoo action {action!r}: use `geognn zoo list` or `geognn zoo info NAME`")
    else:
        name = action  # `geognn zoo NAME`, as before `info` existed
    print(json.dumps(zoo.card(name), indent=2, ensure_ascii=False))
    return 0


def print_listing(zoo) -> None:
    """Every family, its shipped models with description and headline metrics, or why none ships."""
    for family, names in zoo.families().items():
        info = zoo.FAMILIES.get(family, {"label": family, "class": "?", "task": "?"})
        print(f"{info['label']} ({info['class']}; {info['task']}):")
        if not names:
            print(f"  {info.get('none_shipped', 'no shipped model')}")
        for name in names:
            card = zoo.card(name)
            print(f"  {name}: {card['description']}")
            print(f"      {headline(card)}")


def headline(card: dict) -> str:
    """The card's headline metrics; cards written before headlines existed are molecule models."""
    if "headline" in card:
        return f"{card['headline']} ({card['metrics']['evaluated_on']})"
    maes = ", ".join(f"{t} {card['metrics'][f'mae_{t}']:.4g} {card['units'][t]}" for t in card["targets"])
    return f"test MAE ({card['metrics']['evaluated_on']}): {maes}"
