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
