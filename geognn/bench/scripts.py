"""The benchmark scripts of benchmarks/: where they are, and running one while reading its JSON lines.

The scripts live in the source tree, not in the installed package. Each prints
one JSON object per line per measurement; everything else it prints (warnings,
progress) is kept in a log, not parsed. A script runs in a fresh interpreter:
suites set the thread count and flush-to-zero before torch starts its thread
pool, which only works first thing in a process.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

BENCHMARKS_ENV = "GEOGNN_BENCHMARKS"
REPOSITORY_HINT = "a source checkout of geognn (git clone the repository, then `pip install -e .` in it)"


def package_root() -> Path:
    """The folder holding the imported ``geognn`` package (a checkout's root for an editable install)."""
    import geognn

    return Path(geognn.__file__).resolve().parent.parent


def candidate_dirs(explicit: Path | None = None) -> list[Path]:
    """Where the suites may be, in order of precedence."""
    if explicit is not None:
        return [explicit]
    found = []
    if os.environ.get(BENCHMARKS_ENV):
        found.append(Path(os.environ[BENCHMARKS_ENV]))
    found.append(Path.cwd() / "benchmarks")
    found.append(package_root() / "benchmarks")  # editable install / checkout
    return found


def find_benchmarks(explicit: Path | None = None) -> Path:
    """The benchmarks folder; raises FileNotFoundError saying where it looked and what to do."""
    dirs = candidate_dirs(explicit)
    for d in dirs:
        if d.is_dir() and scripts(d):
            return d
    looked = ", ".join(str(d) for d in dict.fromkeys(dirs))
    raise FileNotFoundError(
        f"no benchmark suites found (looked in: {looked}). The suites ship with {REPOSITORY_HINT}, not with "
        f"the installed package: run `geognn bench` from such a checkout, or point --benchmarks-dir or "
        f"${BENCHMARKS_ENV} at its benchmarks/ folder")


def scripts(directory: Path) -> dict[str, Path]:
    """Script name -> path, for every ``*.py`` of ``directory`` not starting with ``_``."""
    return {p.stem: p for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")}


def first_docstring_line(script: Path) -> str:
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def takes_option(script: Path, option: str) -> bool:
    """Whether the script's argument parser declares ``option`` (read from its source, nothing runs)."""
    return f'"{option}"' in script.read_text(encoding="utf-8")


def subprocess_env(quiet: bool = True) -> dict[str, str]:
    """The environment for a script: the geognn being run goes first on its import path.

    A peers' virtual environment (``.venv-bench``) holds no geognn install; the
    scripts import geognn from the checkout this process imported it from.
    ``quiet``: Python warnings off (the runner keeps each script's output in a log).
    """
    env = dict(os.environ)
    root = str(package_root())
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    if quiet:
        env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def run_script(script: Path, args: list[str], log_path: Path,
               on_line: Callable[[dict], None] | None = None) -> tuple[int, list[dict]]:
    """Runs ``python script args``; returns its exit status and the JSON objects it printed, in order.

    ``on_line`` is called with each JSON object as it arrives (progress). Its
    standard output and error go to ``log_path`` as well.
    """
    command = [sys.executable, str(script), *args]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[dict] = []
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=subprocess_env(), bufsize=1)
        # stderr is drained on a thread: a chatty script must never block on a full pipe.
        drain = threading.Thread(target=lambda: [log.write("stderr: " + line) for line in proc.stderr], daemon=True)
        drain.start()
        try:
            for line in proc.stdout:
                log.write(line)
                obj = _json_object(line)
                if obj is not None:
                    lines.append(obj)
                    if on_line is not None:
                        on_line(obj)
            status = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        drain.join()
    return status, lines


def _json_object(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def log_tail(log_path: Path, lines: int = 5) -> str:
    """The last lines of a script's log (for an error message)."""
    try:
        text = log_path.read_text(encoding="utf-8").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
