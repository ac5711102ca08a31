"""The suites ``geognn bench`` runs, each an adapter around scripts of benchmarks/.

Every adapter module has ``NAME``, ``DESCRIPTION``, ``PEERS`` (peer keys it
compares with), ``invocations(options, usable_peers, scripts_dir)`` and
``parse(lines, invocation, options, usable_peers)``.
"""

from __future__ import annotations

from types import ModuleType

from geognn.bench.suites import accuracy, featurize, forcefield, kernels, kg, krr, models
from geognn.bench.suites.base import Invocation, Options, Parsed, Unsupported

SUITES: dict[str, ModuleType] = {m.NAME: m for m in (kernels, featurize, models, kg, krr, accuracy, forcefield)}
# accuracy and forcefield are long: asked for by name or "all"
DEFAULT_SUITES = ("kernels", "featurize", "models", "kg", "krr")

__all__ = ["DEFAULT_SUITES", "Invocation", "Options", "Parsed", "SUITES", "Unsupported", "parse_suites"]


def parse_suites(text: str | None) -> list[str]:
    """``--suite`` text -> suite names in run order: "all" is every suite; None the default ones."""
    if text is None:
        return list(DEFAULT_SUITES)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        raise ValueError(f"unknown suite(s) {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(SUITES)} or all")
    return [n for n in SUITES if n in names]
