"""Search spaces of ``geognn tune``: a documented default per model family, overridden by a YAML/JSON file.

A parameter is named after the ``geognn train`` option it sets (``lr``,
``embedding_dim``, ``cutoff``: the option's name without dashes), so every
trial is a ``geognn train`` command and the best one can be rerun as is.

A ``--space`` file maps names to:

* a range ``{low: 1e-4, high: 1e-2, log: true}`` (``step`` optional); given for a name the
  default space already ranges over, only the fields given change (``{high: 0.5}``);
* choices ``{choices: [3, 5, 7]}``;
* a fixed value ``200`` or ``{fixed: 200}`` (the parameter is no longer searched);
* ``null``: leave the parameter out (``geognn train``'s default, or the command line's value).

Names may be spelled as options (``--embedding-dim``, ``embedding-dim``). An option given on the
``geognn tune`` command line is fixed for every trial and leaves the space.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from geognn.train.config import TrainConfig

# Options of `geognn train` a family's model reads (the rest of the model options belong to another family).
MODEL_OPTIONS: dict[str, set[str]] = {
    "schnet": {"hidden_channels", "num_filters", "num_interactions", "num_rbf", "cutoff", "radial_basis",
               "cutoff_fn", "readout"},
    "cormorant": {"max_l", "max_sh", "num_channels", "num_levels", "head", "dipole", "cutoff", "readout"},
    "conve": {"embedding_dim", "image_height", "conv_filters", "kernel_size", "input_dropout",
              "feature_map_dropout", "hidden_dropout"},
}
# Training options that are not hyperparameters: what is run, not how it learns.
_NOT_HYPERPARAMETERS = {"seed", "device", "progress"}
_MOLECULE_ONLY = {"energy_weight", "force_weight", "fit_atomref"}
_SPEC_FIELDS = ("low", "high", "log", "step", "choices", "fixed")
# Options of geognn train that say what is trained on and how it is judged, not how the model learns.
DATA_OPTIONS = {"model", "dataset", "data", "target", "target_column", "target_unit", "smiles_column", "n_train",
                "n_val", "n_test", "split_seed", "qm9_limit", "size_buckets", "largest_fraction", "relation_buckets",
                "relation_bucket_edges"}


class SpaceError(ValueError):
    """A search space that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a search space.

    Attributes:
        name: the ``geognn train`` option's destination (``embedding_dim``).
        kind: ``"float"``, ``"int"``, ``"categorical"`` or ``"fixed"``.
        low, high, log, step: the range of a float or int parameter (``log``: sampled uniformly in log space).
        choices: the values of a categorical parameter.
        value: the value of a fixed parameter.
        note: why the default range is what it is (shown in ``--help``).
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()
    value: Any = None
    note: str = ""

    def suggest(self, trial) -> Any:
        """This parameter's value for an Optuna ``trial`` (a fixed value is returned as it is)."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        """``lr 3e-4..1e-2 (log)``, ``kernel_size {3, 5, 7}``, ``embedding_dim = 200``."""
        if self.kind == "fixed":
            return f"{self.name} = {self.value}"
        if self.kind == "categorical":
            return f"{self.name} {{{', '.join(str(c) for c in self.choices)}}}"
        text = f"{self.name} {_number(self.low)}..{_number(self.high)}"
        extras = [x for x in ("log" if self.log else "", f"step {_number(self.step)}" if self.step else "") if x]
        return text + (f" ({', '.join(extras)})" if extras else "")

    def to_spec(self) -> Any:
        """The file form of this parameter (what a ``--space`` file would say)."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "categorical":
            return {"choices": list(self.choices)}
        spec = {"low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step:
            spec["step"] = self.step
        return spec


def _number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _float(name, low, high, log=False, step=None, note=""):
    return Param(name, "float", float(low), float(high), log, step, note=note)


def _int(name, low, high, step=None, note=""):
    return Param(name, "int", int(low), int(high), False, step, note=note)


def _choice(name, *choices, note=""):
    return Param(name, "categorical", choices=tuple(choices), note=note)


DEFAULT_SPACES: dict[str, list[Param]] = {
    "conve": [
        _choice("embedding_dim", 100, 200, 300, note="10x10, 10x20 (the paper) and 15x20 images"),
        _choice("kernel_size", 3, 5, 7),
        _choice("conv_filters", 16, 32, 64),
        _float("input_dropout", 0.0, 0.5),
        _float("feature_map_dropout", 0.0, 0.5),
        _float("hidden_dropout", 0.0, 0.5),
        _float("label_smoothing", 0.0, 0.3),
        _float("lr", 3e-4, 1e-2, log=True),
        _choice("batch_size", 64, 128, 256),
    ],
    "schnet": [
        _choice("radial_basis", "gaussian", "bessel"),
        _int("num_rbf", 16, 64, step=8),
        _float("cutoff", 3.5, 6.0, step=0.5, note="Å"),
        _choice("cutoff_fn", "cosine", "polynomial"),
        _choice("hidden_channels", 64, 128, 256),
        _int("num_interactions", 2, 6),
        _choice("fit_atomref", True, False, note="per-element reference energies"),
        _choice("readout", "auto", "sum", "mean", note="sum: statistics per atom (extensive); mean: per molecule"),
        _float("lr", 1e-4, 3e-3, log=True),
    ],
    "cormorant": [
        _int("max_l", 0, 3, note="memory and time grow fast with the order"),
        _int("max_sh", 1, 3),
        _int("num_channels", 4, 16, step=2),
        _int("num_levels", 2, 5),
        _float("lr", 1e-4, 3e-3, log=True),
        _choice("head", "atomwise", "molecular"),
    ],
}


def describe_defaults() -> str:
    """The default spaces as text for ``--help`` and the README."""
    lines = []
    for family, params in DEFAULT_SPACES.items():
        lines.append(f"  {family}: " + "; ".join(p.describe() for p in params))
    return "\n".join(lines)


def tunable_options(model: str, actions: dict) -> set[str]:
    """The option destinations a ``--space`` may name for ``model``: its model options and the training ones."""
    training = {f.name for f in fields(TrainConfig)} - _NOT_HYPERPARAMETERS
    if model == "conve":
        training -= _MOLECULE_ONLY
    return (MODEL_OPTIONS[model] | training) & set(actions)


@dataclass
class SearchSpace:
    """The parameters one study searches (and fixes), in a stable order.

    Attributes:
        model: the family (``conve``, ``schnet``, ``cormorant``).
        params: name -> :class:`Param`.
        actions: ``geognn train``'s argparse actions by destination (types, choices, flags).
    """

    model: str
    params: dict[str, Param]
    actions: dict = field(repr=False, default_factory=dict)

    @property
    def searched(self) -> list[Param]:
        """The parameters Optuna samples (not the fixed ones)."""
        return [p for p in self.params.values() if p.kind != "fixed"]

    def suggest(self, trial) -> dict[str, Any]:
        """One value per parameter for ``trial`` (fixed ones included)."""
        return {name: p.suggest(trial) for name, p in self.params.items()}

    def argv(self, values: dict[str, Any]) -> list[str]:
        """``geognn train`` options setting ``values`` (``--lr 0.003``, ``--no-fit-atomref``)."""
        return [token for name, value in values.items() for token in option_tokens(self.actions[name], value)]

    def to_spec(self) -> dict[str, Any]:
        """The space as a ``--space`` file would give it (stored with the study)."""
        return {name: p.to_spec() for name, p in self.params.items()}

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.params.values())


def option_tokens(action, value) -> list[str]:
    """The command-line tokens giving ``value`` to an argparse ``action`` of ``geognn train``."""
    flag = action.option_strings[0]
    if action.nargs == 0:  # --no-X (store_false) or a store_true flag
        return [flag] if bool(value) != bool(action.default) else []
    if isinstance(value, (list, tuple)):  # parsed from a comma-separated list (--n-train 1000,2000)
        return [flag, ",".join(repr(v) if isinstance(v, float) else str(v) for v in value)]
    if isinstance(value, float):
        return [flag, repr(value)]
    return [flag, str(value)]


def build_space(model: str, actions: dict, fixed_on_command_line: set[str] = frozenset(),
                space_file: str | Path | None = None) -> SearchSpace:
    """The default space of ``model``, overridden by ``space_file``, without what the command line fixes.

    Raises:
        SpaceError: the file cannot be read, or a key or value in it is unusable (the message names both).
    """
    if model not in DEFAULT_SPACES:
        raise SpaceError(f"no search space for model {model!r}; known: {sorted(DEFAULT_SPACES)}")
    params = {p.name: _check(p, actions[p.name], f"the default space: {p.name!r}")
              for p in DEFAULT_SPACES[model] if p.name in actions}
    allowed = tunable_options(model, actions)
    if space_file is not None:
        where = f"--space {space_file}"
        overrides = read_space_file(space_file)
        for key, spec in overrides.items():
            name = _option_name(key, model, actions, allowed, where)
            if name in fixed_on_command_line:
                raise SpaceError(f"{where}: {key!r} is also given on the command line; keep one of the two")
            if spec is None:
                params.pop(name, None)
                continue
            params[name] = _check(_merge(params.get(name), name, spec, f"{where}: {key!r}"), actions[name],
                                  f"{where}: {key!r}")
    for name in fixed_on_command_line:
        params.pop(name, None)
    return SearchSpace(model, params, actions)


def read_space_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON space file (JSON by a ``.json`` suffix, else YAML)."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"--space {path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            content = json.loads(text)
        else:
            import yaml

            content = yaml.safe_load(text)
    except Exception as err:  # the parsers' own errors name line and column
        raise SpaceError(f"--space {path}: cannot be read: {err}") from None
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise SpaceError(f"--space {path}: expected a mapping of parameter names to ranges, choices or values, "
                         f"got {type(content).__name__}")
    return content


def _option_name(key: Any, model: str, actions: dict, allowed: set[str], where: str) -> str:
    name = str(key).lstrip("-").replace("-", "_")
    if name in allowed:
        return name
    if name not in actions:
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; tunable for {model}: {', '.join(sorted(allowed))}"
        raise SpaceError(f"{where}: {key!r} is not an option of geognn train{hint}")
    for family, options in MODEL_OPTIONS.items():
        if name in options and family != model:
            raise SpaceError(f"{where}: {key!r} is a {family} option; --model {model} does not use it")
    if name in _MOLECULE_ONLY:
        raise SpaceError(f"{where}: {key!r} applies to molecules; --model {model} does not use it")
    if name in DATA_OPTIONS or name in _NOT_HYPERPARAMETERS:
        raise SpaceError(f"{where}: {key!r} sets the data or the run, not a hyperparameter; give it on the "
                         f"command line")
    group = getattr(actions[name], "group_title", "another model's options")
    raise SpaceError(f"{where}: {key!r} is not an option of --model {model} (geognn train --help lists it under "
                     f"{group.split(' (')[0]!r})")


def _merge(default: Param | None, name: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict):
        return Param(name, "fixed", value=spec)
    unknown = sorted(set(spec) - set(_SPEC_FIELDS))
    if unknown:
        raise SpaceError(f"{where}: unknown field(s) {unknown}; a parameter takes {', '.join(_SPEC_FIELDS)}")
    if "fixed" in spec:
        if len(spec) > 1:
            raise SpaceError(f"{where}: 'fixed' cannot be combined with {sorted(set(spec) - {'fixed'})}")
        return Param(name, "fixed", value=spec["fixed"])
    if "choices" in spec:
        if len(spec) > 1:
            raise SpaceError(f"{where}: 'choices' cannot be combined with {sorted(set(spec) - {'choices'})}")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{where}: 'choices' must be a non-empty list, got {choices!r}")
        return Param(name, "categorical", choices=tuple(choices))
    base = default if default is not None and default.kind in ("float", "int") else None
    if base is None and not {"low", "high"} <= set(spec):
        raise SpaceError(f"{where}: a range needs 'low' and 'high' (there is no default range to change)")
    base = base or Param(name, "float")
    return replace(base, low=spec.get("low", base.low), high=spec.get("high", base.high),
                   log=spec.get("log", base.log), step=spec.get("step", base.step), note="")


def _yaml_number(value):
    """A number PyYAML left as a string (``1e-3``: YAML 1.1 wants a signed exponent), else ``value``."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _check(param: Param, action, where: str) -> Param:
    """Converts values to the option's type and checks them against its choices and the range rules."""
    flag = action.nargs == 0
    kind = bool if flag else (action.type or str)

    def convert(value, what):
        if flag:
            if not isinstance(value, bool):
                raise SpaceError(f"{where}: {what} must be true or false, got {value!r}")
            return value
        if kind in (int, float) and isinstance(value, str):
            # PyYAML reads 1e-3 and 1.0e30 (no sign in the exponent) as strings.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or (kind in (int, float) and not isinstance(value, (int, float))):
            raise SpaceError(f"{where}: {what} must be a number ({kind.__name__}), got {value!r}")
        if kind is int and float(value) != int(value):
            raise SpaceError(f"{where}: {what} must be an integer, got {value!r}")
        converted = kind(value) if kind in (int, float, str) else value
        if action.choices is not None and converted not in action.choices:
            raise SpaceError(f"{where}: {what} {value!r} is not one of {list(action.choices)}")
        return converted

    if param.kind == "fixed":
        return replace(param, value=convert(param.value, "the value"))
    if param.kind == "categorical":
        return replace(param, choices=tuple(convert(c, "a choice") for c in param.choices))
    if flag or kind not in (int, float):
        raise SpaceError(f"{where}: {action.option_strings[0]} takes {'true/false' if flag else 'names'}, "
                         f"not a range: give 'choices'")
    for bound in ("low", "high"):
        value = _yaml_number(getattr(param, bound))
        param = replace(param, **{bound: value})
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpaceError(f"{where}: '{bound}' must be a finite number, got {value!r}")
    if not isinstance(param.log, bool):
        raise SpaceError(f"{where}: 'log' must be true or false, got {param.log!r}")
    low, high = convert(param.low, "'low'"), convert(param.high, "'high'")
    if not low < high:
        raise SpaceError(f"{where}: 'low' ({low}) must be below 'high' ({high}); for one value use 'fixed'")
    if param.log and low <= 0:
        raise SpaceError(f"{where}: a log range needs 'low' > 0, got {low}")
    step = _yaml_number(param.step)
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
            raise SpaceError(f"{where}: 'step' must be a positive number, got {step!r}")
        if param.log:
            raise SpaceError(f"{where}: 'step' and 'log' cannot be combined")
        step = convert(step, "'step'")
    return replace(param, kind="int" if kind is int else "float", low=low, high=high, step=step)
