"""The Optuna pieces of a ``geognn tune`` study: storage (with heartbeats), sampler and pruner.

Storage:

* default: SQLite in ``DIR/study.db`` with heartbeats, so a trial whose process died is failed
  after the grace period and queued again with the same parameters;
* any SQLAlchemy URL (``postgresql://...``, ``mysql+pymysql://...``, ``sqlite:////shared/study.db``):
  the same, shared by every worker that names it;
* ``journal:PATH``: Optuna's journal file (for a shared disk where SQLite locking is unreliable,
  such as NFS). Optuna 5 has no heartbeat for it: a killed trial stays RUNNING until a worker is
  started with ``--reclaim-running``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna

DEFAULT_STORAGE_FILE = "study.db"
MAX_RETRIES = 2  # a trial killed this many times (e.g. by the out-of-memory killer) is not tried again
PRUNERS = ("median", "halving", "hyperband", "none")
SAMPLERS = ("auto", "tpe", "random", "nsga2")


def quiet_optuna() -> None:
    """Optuna's own log lines and experimental-feature warnings off: geognn tune prints one line per trial."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def default_storage_url(out_dir: Path) -> str:
    """The SQLite file of a study kept in ``out_dir``."""
    return f"sqlite:///{(Path(out_dir) / DEFAULT_STORAGE_FILE).resolve()}"


def _retry_callback():
    # The class was renamed in Optuna 4.9; both take max_retry.
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(max_retry=MAX_RETRIES)


def make_storage(url: str, heartbeat_s: int):
    """An Optuna storage for ``url`` (see the module docstring), with heartbeats where Optuna has them."""
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:"):]).expanduser()
        if not str(path):
            raise ValueError("--storage journal:PATH needs a file path, e.g. journal:/shared/tune/study.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise ValueError(f"--storage {url!r}: give a database URL (sqlite:///path/study.db, "
                         f"postgresql://user@host/db) or journal:PATH")
    engine_kwargs = {}
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
        # Several local workers write to one file: wait for the lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    kwargs = dict(engine_kwargs=engine_kwargs, heartbeat_interval=int(heartbeat_s), grace_period=2 * int(heartbeat_s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are "experimental"
        callback = _retry_callback()
        try:
            return optuna.storages.RDBStorage(url, heartbeat_stale_trial_callback=callback, **kwargs)
        except TypeError:  # Optuna before 4.9 named the callback failed_trial_callback
            return optuna.storages.RDBStorage(url, failed_trial_callback=callback, **kwargs)


def has_heartbeat(storage) -> bool:
    """Whether dead trials of ``storage`` (as :func:`make_storage` returns it) are detected by Optuna's heartbeat."""
    return getattr(storage, "heartbeat_interval", None) is not None


def redacted(url: str) -> str:
    """``url`` without its password, for reports."""
    if url.startswith("journal:"):
        return url
    try:
        import sqlalchemy

        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def resolve_sampler(name: str, multi_objective: bool) -> str:
    """``auto`` -> ``tpe`` for one objective, ``nsga2`` for several; other names as they are."""
    if name == "auto":
        return "nsga2" if multi_objective else "tpe"
    return name


def make_sampler(name: str, seed: int, multi_objective: bool):
    """The sampler: TPE for one objective, NSGA-II for several (``auto``), or the one named; seeded."""
    name = resolve_sampler(name, multi_objective)
    if name == "tpe":
        # constant_liar: workers sampling while others' trials run avoid proposing the same point.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ValueError(f"--sampler must be one of {SAMPLERS}, got {name!r}")


def make_pruner(name: str, warmup_epochs: int, startup_trials: int, max_epochs: int):
    """The pruner: median (stop a trial whose value is worse than the median of earlier trials at the same
    epoch), successive halving, Hyperband, or none."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(warmup_epochs, 1), reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(warmup_epochs, 1), max_resource=max_epochs,
                                              reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner must be one of {PRUNERS}, got {name!r}")
