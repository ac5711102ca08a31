"""Shared zoo fixtures."""

import csv
import io
import shutil
from contextlib import redirect_stdout

import pytest

from geognn import zoo
from geognn.cli.main import main as cli_main


def _predict_rows(checkpoint, input_path):
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["predict", "--checkpoint", checkpoint, "--input", str(input_path), "--no-progress"]) == 0
    return list(csv.DictReader(io.StringIO(out.getvalue())))


@pytest.fixture
def predict_rows():
    """``geognn predict --checkpoint CHECKPOINT --input FILE --no-progress``: its CSV rows, as dicts."""
    return _predict_rows


@pytest.fixture
def zoo_copy(tmp_path, monkeypatch):
    """A copy of the shipped models that geognn.zoo reads instead, for tests that damage or edit them."""
    shutil.copytree(zoo.MODELS_DIR, tmp_path / "models")
    monkeypatch.setattr(zoo, "MODELS_DIR", tmp_path / "models")
    zoo._card.cache_clear()
    yield tmp_path / "models"
    zoo._card.cache_clear()
