"""What a ``geognn tune`` study optimises: validation metrics of the best epoch, and the cost of a trial.

``--objective`` takes one name or several, comma-separated (several make a
multi-objective study). Names:

* ConvE: ``mrr`` (filtered validation MRR, both directions), ``worst_bucket_mrr`` (the lowest MRR
  over the relation-frequency buckets: robust selection), ``worst_category_mrr`` (over 1-1/1-N/N-1/N-N),
  or any validation metric key (``hits@10``, ``freq1_mrr``, ``tail_cat_N-1_mrr``);
* molecules: ``mae`` (the mean over targets of their MAE, each in its unit), ``mae_largest`` (the same
  on the largest molecules), ``mae_<target>`` or any validation metric key (``mae_U0_size3``, ``loss``);
* cost: ``step_time`` (median seconds per training step over the trial's epochs) and ``memory``
  (peak memory of the trial in MiB: resident memory on a CPU, allocated memory on a GPU).

Ranking metrics (MRR, Hits@k) are maximised; errors, losses, MR and costs minimised.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Sequence

COST_OBJECTIVES = {"step_time": "s", "memory": "MiB"}
KG_ALIASES = {"mrr": "mrr", "worst_bucket_mrr": "worst_freq_mrr", "worst_category_mrr": "worst_cat_mrr"}
_RANKING_KEY = re.compile(r"^(tail_|head_)?((freq\d+|cat_[1N]-[1N])_)?(mrr|mr|hits@\d+)$|^worst_(freq|cat)_mrr$")


class ObjectiveError(ValueError):
    """An objective the study cannot compute; stops the study (every trial would fail the same way)."""


@dataclass(frozen=True)
class Objective:
    """One value a study optimises.

    Attributes:
        name: as given to ``--objective``.
        metrics: the validation metric keys it is computed from (their mean); empty for a cost.
        direction: ``"maximize"`` or ``"minimize"``.
        unit: of the value (``""`` for MRR, the target's unit for an MAE, ``s``, ``MiB``).
    """

    name: str
    metrics: tuple[str, ...]
    direction: str
    unit: str = ""

    @property
    def is_cost(self) -> bool:
        return not self.metrics

    def from_row(self, row: dict) -> float:
        """The value in one epoch's history row (``val_<metric>`` entries).

        Raises:
            ObjectiveError: the row lacks a metric, naming the ones it has.
        """
        missing = [m for m in self.metrics if f"val_{m}" not in row]
        if missing:
            known = sorted(k[4:] for k in row if k.startswith("val_"))
            raise ObjectiveError(f"--objective {self.name}: no validation metric {missing[0]!r} in this run; "
                                 f"it reports: {', '.join(known)}")
        return float(statistics.fmean(float(row[f"val_{m}"]) for m in self.metrics))

    def from_trial(self, best_row: dict, history: Sequence[dict], peak_memory_mib: float | None) -> float:
        """The trial's value: the best epoch's metric, or the trial's cost."""
        if self.name == "step_time":
            return float(statistics.median(r["step_time_s"] for r in history))
        if self.name == "memory":
            if peak_memory_mib is None:
                raise ObjectiveError("--objective memory: peak memory cannot be measured here")
            return float(peak_memory_mib)
        return self.from_row(best_row)

    def label(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name


def parse_objectives(text: str | None, model: str, targets: Sequence[str] = (),
                     units: Sequence[str] = ()) -> list[Objective]:
    """The objectives of ``--objective`` for ``model`` (default: ``mrr`` for ConvE, ``mae`` for molecules).

    Raises:
        ObjectiveError: an unknown name, a repeated one, or costs without an accuracy objective.
    """
    kg = model == "conve"
    names = [n.strip() for n in (text or ("mrr" if kg else "mae")).split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise ObjectiveError(f"--objective {text}: a name is repeated")
    unit_of = dict(zip(targets, units))
    out = []
    for name in names:
        if name in COST_OBJECTIVES:
            out.append(Objective(name, (), "minimize", COST_OBJECTIVES[name]))
        elif kg:
            metric = KG_ALIASES.get(name, name)
            if not _RANKING_KEY.match(metric):
                raise ObjectiveError(f"--objective {name}: not a link-prediction metric; use mrr, worst_bucket_mrr, "
                                     f"worst_category_mrr, step_time, memory or a validation metric key such as "
                                     f"hits@10, freq1_mrr, tail_cat_1-N_mrr")
            direction = "minimize" if metric.endswith("_mr") or metric == "mr" else "maximize"
            out.append(Objective(name, (metric,), direction))
        else:
            out.append(_molecule_objective(name, list(targets), unit_of))
    if all(o.is_cost for o in out):
        raise ObjectiveError(f"--objective {text}: add an accuracy objective ({'mrr' if kg else 'mae'}) to the costs")
    return out


def _molecule_objective(name: str, targets: list[str], unit_of: dict[str, str]) -> Objective:
    def common_unit(names):
        found = {unit_of.get(t, "") for t in names}
        return found.pop() if len(found) == 1 else "mixed units"

    if name == "mae":
        return Objective(name, tuple(f"mae_{t}" for t in targets), "minimize", common_unit(targets))
    if name == "mae_largest":
        return Objective(name, tuple(f"mae_{t}_largest" for t in targets), "minimize", common_unit(targets))
    if name in ("loss", "force_mae", "force_rmse"):
        return Objective(name, (name,), "minimize", "eV/Å" if name.startswith("force") else "")
    match = re.match(r"^(mae|rmse)_(.+?)(_size\d+|_largest)?$", name)
    if match and match.group(2) in targets:
        return Objective(name, (name,), "minimize", unit_of.get(match.group(2), ""))
    raise ObjectiveError(f"--objective {name}: not a molecule metric; use mae, mae_largest, "
                         + ", ".join(f"mae_{t}" for t in targets)
                         + ", loss, step_time, memory or a key such as mae_<target>_size1")
