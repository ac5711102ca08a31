"""Shared zoo fixtures."""

import shutil

import pytest

from geognn import zoo


@pytest.fixture
def zoo_copy(tmp_path, monkeypatch):
    """A copy of the shipped models that geognn.zoo reads instead, for tests that damage or edit them."""
    shutil.copytree(zoo.MODELS_DIR, tmp_path / "models")
    monkeypatch.setattr(zoo, "MODELS_DIR", tmp_path / "models")
    zoo._card.cache_clear()
    yield tmp_path / "models"
    zoo._card.cache_clear()
