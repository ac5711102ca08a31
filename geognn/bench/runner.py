"""Runs the chosen suites one after the other and collects one results object.

Each suite's scripts run as child processes of this one, in this Python, on
the same inputs for geognn and its peers. The machine's load is taken before
and after; peers are checked before anything runs, and an absent one is
reported with its install command. A suite that fails is recorded (with the
tail of its log) and the run goes on to the next.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from geognn.bench import fmt, machine, peers
from geognn.bench.records import Record, attach_ratios
from geognn.bench.results import FORMAT
from geognn.bench.scripts import find_benchmarks, log_tail, package_root, run_script
from geognn.bench.suites import SUITES, Invocation, Options, Unsupported


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(options: Options, command: str, log: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Runs ``options.suites`` and returns the results object (see :mod:`geognn.bench.results`)."""
    scripts_dir = find_benchmarks(options.benchmarks_dir)
    started = time.time()
    results: dict[str, Any] = {
        "format": FORMAT, "source": "geognn bench", "command": command, "started": machine.utc_now(),
        "options": {"suites": options.suites, "quick": options.quick, "device": options.device,
                    "peers": sorted(options.peers), "threads": options.threads},
        "machine": machine.snapshot(), "versions": machine.versions(), "git": machine.git_state(package_root()),
        "peers": peers.status(options.peers, options.suites), "suites": [], "notes": [], "records": [],
    }
    usable = peers.usable(results["peers"])
    for key, entry in results["peers"].items():
        if entry["status"] == "absent":
            log(f"bench: peer {key} ({entry['suites']}) is not installed: {entry['install']}")
    records: list[Record] = []
    for number, name in enumerate(options.suites, 1):
        entry = _run_suite(name, f"[{number}/{len(options.suites)}]", options, usable, scripts_dir, records,
                           results["peers"], log)
        results["suites"].append(entry)
    attach_ratios(records)
    results["records"] = [r.to_dict() for r in records]
    results["machine"]["load_after"] = machine.load_average()
    results["finished"] = machine.utc_now()
    results["wall_s"] = round(time.time() - started, 1)
    return results


def _run_suite(name, counter, options, usable, scripts_dir, records, peer_status, log) -> dict[str, Any]:
    suite = SUITES[name]
    entry: dict[str, Any] = {"name": name, "status": "ok", "commands": []}
    try:
        invocations = suite.invocations(options, usable, scripts_dir)
    except Unsupported as err:
        log(f"bench {counter} {name}: not run: {err}")
        return {**entry, "status": "not run", "reason": str(err)}
    started = time.time()
    for k, invocation in enumerate(invocations, 1):
        log(f"bench {counter} {name} ({k}/{len(invocations)}): {invocation.label}")
        log_path = options.out / "logs" / f"{name}-{k}-{invocation.script}.log"
        entry["commands"].append(_display(invocation))
        status, lines = run_script(scripts_dir / f"{invocation.script}.py", invocation.args, log_path,
                                   on_line=lambda line, i=invocation: _progress(suite, line, i, options, usable, log))
        parsed = suite.parse(lines, invocation, options, usable)
        records.extend(parsed.records)
        for key, reason in parsed.failed_peers.items():
            peers.mark_failed(peer_status, key, reason)
        if status != 0:
            entry["status"] = "failed"
            entry.setdefault("reason", f"{_display(invocation)} exited with status {status}: "
                                       f"{log_tail(log_path, 3)}")
            log(f"bench {counter} {name}: FAILED (exit status {status}); log: {log_path}")
    entry["wall_s"] = round(time.time() - started, 1)
    return entry


def _display(invocation: Invocation) -> str:
    return " ".join(["python", f"benchmarks/{invocation.script}.py", *invocation.args])


def _progress(suite, line: dict, invocation: Invocation, options: Options, usable: set[str], log) -> None:
    """One line per measurement as it arrives (the records of this line alone: no ratios yet)."""
    for r in suite.parse([line], invocation, options, usable).records:
        spread = fmt.spread(r)
        log(f"  {r.what} | {r.impl}{'' if r.setting == 'default' else f' ({r.setting})'} | {fmt.size(r)}: "
            f"{fmt.value(r)}{f' ({spread})' if spread else ''}")
