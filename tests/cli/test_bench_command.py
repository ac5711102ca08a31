import json
import sys
from pathlib import Path

import pytest

from geognn.cli.bench import find_benchmarks
from geognn.cli.main import main

ECHO_SUITE = '''"""Echo suite: prints its arguments as one JSON line."""
import json, sys
print(json.dumps({"argv": sys.argv[1:]}))
sys.exit(3 if "--fail" in sys.argv else 0)
'''


@pytest.fixture
def suites_dir(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "echo.py").write_text(ECHO_SUITE)
    (folder / "_helper.py").write_text("")  # not a suite
    return folder


def test_suite_options_after_the_double_dash_are_passed_through(suites_dir, capfd):
    status = main(["bench", "--benchmarks-dir", str(suites_dir), "echo", "--", "--edges", "100000", "--only", "x"])
    out = capfd.readouterr().out
    assert status == 0
    assert json.loads(out.strip().splitlines()[-1]) == {"argv": ["--edges", "100000", "--only", "x"]}


def test_the_suite_exit_status_is_the_command_exit_status(suites_dir, capfd):
    assert main(["bench", "--benchmarks-dir", str(suites_dir), "echo", "--", "--fail"]) == 3


def test_list_names_suites_with_their_first_docstring_line(suites_dir, capsys):
    assert main(["bench", "--benchmarks-dir", str(suites_dir), "--list"]) == 0
    out = capsys.readouterr().out
    assert "echo" in out and "Echo suite" in out and "_helper" not in out


def test_unknown_suite_lists_the_known_ones(suites_dir, capsys):
    assert main(["bench", "--benchmarks-dir", str(suites_dir), "kernal"]) == 2
    assert "choose one of echo" in capsys.readouterr().err


def test_missing_benchmarks_folder_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEOGNN_BENCHMARKS", str(tmp_path / "nowhere"))
    assert main(["bench", "--benchmarks-dir", str(tmp_path / "nowhere"), "kernels"]) == 2
    err = capsys.readouterr().err
    assert "no benchmark suites found" in err and "source checkout" in err and "--benchmarks-dir" in err


def test_a_source_checkout_finds_its_suites_from_any_directory(tmp_path, monkeypatch):
    import geognn

    checkout = Path(geognn.__file__).resolve().parent.parent / "benchmarks"
    if not (checkout / "kernels.py").is_file():
        pytest.skip("geognn is not imported from a source checkout")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEOGNN_BENCHMARKS", raising=False)
    found = find_benchmarks()
    assert {"kernels.py", "featurize.py", "models.py"} <= {p.name for p in found.glob("*.py")}


def test_suites_run_in_this_interpreter(suites_dir, capfd):
    main(["bench", "--benchmarks-dir", str(suites_dir), "echo"])
    assert sys.executable in capfd.readouterr().err


# --- the runner ------------------------------------------------------------------------------------
FAKE_KERNELS = '''"""Fake kernels suite: the JSON lines of benchmarks/kernels.py, instantly (argv picks the sizes)."""
import json, sys
if "--fail" in sys.argv:
    sys.exit("boom: the suite crashed")
edges = int(sys.argv[sys.argv.index("--edges") + 1])
scale = edges / 100000
for order in ("random", "sorted"):
    for name, ms in (("message_sum/fwd+bwd/geognn", 10), ("message_sum/fwd+bwd/unfused_index_add", 40),
                     ("message_sum/fwd+bwd/unfused_torch_scatter", 45), ("scatter_max/fwd+bwd/geognn", 20),
                     ("scatter_max/fwd+bwd/scatter_reduce", 10)):
        print(json.dumps({"kind": "time", "name": name, "order": order, "median_ms": ms * scale,
                          "min_ms": ms * scale * 0.9, "max_ms": ms * scale * 1.1, "GB_per_s": 1.0,
                          **({"peak_extra_MB": 50.0 if "geognn" in name else 200.0} if "message" in name else {})}))
    print(json.dumps({"kind": "ratio", "op": "message_sum", "mode": "fwd+bwd", "order": order,
                      "baseline": "unfused_index_add", "speedup": 4.0, "paired_speedup": 3.9}))
'''


@pytest.fixture
def fake_kernels(tmp_path):
    folder = tmp_path / "fake-benchmarks"
    folder.mkdir()
    (folder / "kernels.py").write_text(FAKE_KERNELS)
    return folder


def _run(fake_kernels, out, *extra):
    return main(["bench", "--suite", "kernels", "--quick", "--benchmarks-dir", str(fake_kernels),
                 "--out", str(out), *extra])


def test_the_runner_writes_one_record_per_measurement_with_ratios_machine_and_peers(fake_kernels, tmp_path, capsys):
    from geognn.bench import load_results

    assert _run(fake_kernels, tmp_path / "out") == 0
    results = load_results(tmp_path / "out" / "results.json")  # validates the file
    assert results["machine"]["cores"] >= 1 and len(results["machine"]["load_after"]) == 3
    assert results["versions"]["geognn"] and "commit" in results["git"]
    assert [s["status"] for s in results["suites"]] == ["ok"]
    ours = [r for r in results["records"] if r["impl"] == "geognn" and r["what"].startswith("message_sum")
            and r["size"] == 100_000 and r["what"].endswith("random index")]
    assert len(ours) == 1
    entry = next(e for e in ours[0]["ratios"] if e["peer"].startswith("unfused x[src]*w + index_add"))
    assert entry["ratio"] == pytest.approx(4.0) and entry["paired"] == 3.9 and entry["memory_ratio"] == 4.0
    assert ours[0]["peak_memory_bytes"] == 50 * 2**20 and ours[0]["min"] < ours[0]["median"] < ours[0]["max"]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## kernels" in md and "**4.00×**" in md and "0.50× ⚠ trails" in md and "## Scaling" in md
    for png in ("ratios_kernels.png", "scaling.png"):
        assert (tmp_path / "out" / png).read_bytes().startswith(b"\x89PNG")
    err = capsys.readouterr().err
    assert "message_sum fwd+bwd, random index | geognn | 100,000 edges: 10.0 ms" in err  # a line per measurement


def test_an_absent_peer_is_listed_with_its_install_command_never_silently_skipped(fake_kernels, tmp_path, monkeypatch,
                                                                                  capsys):
    from geognn.bench import peers

    absent = peers.Peer("torch_scatter", "torch-scatter", "geognn_no_such_module", "torch-scatter", ("kernels",),
                        "pip install torch-scatter")
    monkeypatch.setitem(peers.PEERS, "torch_scatter", absent)
    assert _run(fake_kernels, tmp_path / "out") == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["peers"]["torch_scatter"]["status"] == "absent"
    assert not any(r["library"] == "torch_scatter" for r in results["records"])
    assert "torch_scatter (kernels) is not installed: pip install torch-scatter" in capsys.readouterr().err
    assert "| torch-scatter | kernels | absent | `pip install torch-scatter` |" in \
        (tmp_path / "out" / "results.md").read_text()


def test_report_regenerates_the_same_markdown_from_the_results_file(fake_kernels, tmp_path):
    assert _run(fake_kernels, tmp_path / "out") == 0
    written = (tmp_path / "out" / "results.md").read_bytes()
    assert main(["bench", "--report", str(tmp_path / "out" / "results.json"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "results.md").read_bytes() == written
    assert (tmp_path / "again" / "scaling.png").read_bytes() == (tmp_path / "out" / "scaling.png").read_bytes()


def test_a_failing_suite_is_recorded_and_the_command_fails_after_writing_the_files(fake_kernels, tmp_path, capsys):
    (fake_kernels / "kernels.py").write_text(FAKE_KERNELS.replace('if "--fail" in sys.argv:', "if True:"))
    assert _run(fake_kernels, tmp_path / "out") == 1
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["suites"][0]["status"] == "failed" and "boom" in results["suites"][0]["reason"]
    assert "suite(s) failed: kernels" in capsys.readouterr().err


def test_quick_never_runs_accuracy_and_says_why(tmp_path):
    assert main(["bench", "--suite", "accuracy", "--quick", "--out", str(tmp_path)]) == 0
    entry = json.loads((tmp_path / "results.json").read_text())["suites"][0]
    assert entry == {**entry, "name": "accuracy", "status": "not run"} and "--quick" in entry["reason"]


def test_a_malformed_results_file_is_refused_with_what_is_wrong(tmp_path, capsys):
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({"format": "geognn-bench/1", "records": [{"suite": "kernels"}]}))
    assert main(["bench", "--report", str(bad)]) == 2
    assert "is not a geognn bench results file" in capsys.readouterr().err


def test_runner_options_and_a_script_name_do_not_mix(suites_dir, capsys):
    assert main(["bench", "--benchmarks-dir", str(suites_dir), "--quick", "echo"]) == 2
    assert "belong to the runner" in capsys.readouterr().err


def test_list_names_the_suites_their_peers_and_the_scripts(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for text in ("kernels", "featurize", "models", "kg", "accuracy", "torch-scatter", "PyKEEN", "scripts in"):
        assert text in out


def test_quick_featurize_run_writes_valid_json_markdown_and_png(tmp_path):
    """The real suite, small: checks the files, never the times."""
    from geognn.bench import load_results

    assert main(["bench", "--suite", "featurize", "--quick", "--out", str(tmp_path)]) == 0
    results = load_results(tmp_path / "results.json")
    libraries = {r["library"] for r in results["records"]}
    assert "geognn" in libraries and {"vesin", "matscipy", "ase"} <= libraries
    assert all(r["per_item"] and r["median"] > 0 for r in results["records"])
    md = (tmp_path / "results.md").read_text()
    assert "## featurize" in md and "radius graph, QM9 molecules, cutoff 5.0 Å" in md
    assert (tmp_path / "ratios_featurize.png").read_bytes().startswith(b"\x89PNG")
