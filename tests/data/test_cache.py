"""The on-disk QM9 cache: atomic, keyed by version and options, never trusted when damaged."""

import json
import os
import warnings

import pytest
import torch

from geognn.data import QM9, atomic_write_text, default_cache_dir
from geognn.data.tensor_cache import load_tensors, save_tensors


def _corrupt_one_payload_byte(path):
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_second_load_reads_the_cache_instead_of_the_csv(tmp_path, monkeypatch):
    first = QM9("U0", root=tmp_path, limit=20)
    assert first.cache_path.is_file() and first.cache_path.parent == tmp_path / "qm9"

    def no_processing(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr("geognn.data.qm9.process_qm9", no_processing)
    second = QM9(["U0", "gap"], root=tmp_path, limit=20, atomization=False)
    assert torch.equal(second.pos, first.pos) and second.y.shape == (20, 2)


def test_corrupted_cache_is_detected_and_rebuilt(tmp_path):
    good = QM9("U0", root=tmp_path, limit=20)
    _corrupt_one_payload_byte(good.cache_path)
    with pytest.warns(UserWarning, match="checksum"):
        rebuilt = QM9("U0", root=tmp_path, limit=20)
    assert torch.equal(rebuilt.y, good.y) and torch.equal(rebuilt.pos, good.pos)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file is valid: no warning, no rebuild
        QM9("U0", root=tmp_path, limit=20)


def test_truncated_cache_is_detected_and_rebuilt(tmp_path):
    good = QM9("U0", root=tmp_path, limit=20)
    raw = good.cache_path.read_bytes()
    good.cache_path.write_bytes(raw[: len(raw) // 2])
    with pytest.warns(UserWarning, match="truncated"):
        rebuilt = QM9("U0", root=tmp_path, limit=20)
    assert torch.equal(rebuilt.y, good.y)


def test_stale_cache_from_another_version_is_rebuilt(tmp_path):
    good = QM9("U0", root=tmp_path, limit=20)
    raw = good.cache_path.read_bytes()
    newline = raw.index(b"\n")
    header = json.loads(raw[:newline])
    header["metadata"]["version"] = -1
    good.cache_path.write_bytes(json.dumps(header).encode() + raw[newline:])
    with pytest.warns(UserWarning, match="stale"):
        rebuilt = QM9("U0", root=tmp_path, limit=20)
    assert torch.equal(rebuilt.y, good.y)


def test_cache_with_garbage_header_is_rebuilt(tmp_path):
    good = QM9("U0", root=tmp_path, limit=5)
    good.cache_path.write_bytes(b"not a cache")
    with pytest.warns(UserWarning, match="ignoring cache file"):
        assert len(QM9("U0", root=tmp_path, limit=5)) == 5


def test_different_limits_use_different_cache_files(tmp_path):
    small, larger = QM9("U0", root=tmp_path, limit=5), QM9("U0", root=tmp_path, limit=8)
    assert small.cache_path != larger.cache_path
    assert (len(small), len(larger)) == (5, 8)
    assert torch.equal(larger.y[:5], small.y)


def test_writes_leave_no_temporary_files(tmp_path):
    QM9("U0", root=tmp_path, limit=5)
    atomic_write_text(tmp_path / "notes.txt", "hello\n")
    assert sorted(p.name for p in (tmp_path / "qm9").iterdir()) == ["qm9-v1-5.pt"]
    assert (tmp_path / "notes.txt").read_text() == "hello\n"
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "split.json"
    atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["split.json"]


def test_tensor_cache_requires_matching_metadata(tmp_path):
    path = tmp_path / "t.pt"
    save_tensors(path, {"x": torch.arange(4), "s": "a\nb"}, {"version": 1, "opts": [1, 2]})
    loaded = load_tensors(path, {"version": 1, "opts": (1, 2)})
    assert torch.equal(loaded["x"], torch.arange(4)) and loaded["s"] == "a\nb"
    with pytest.warns(UserWarning, match="stale"):
        assert load_tensors(path, {"version": 2, "opts": [1, 2]}) is None
    assert load_tensors(tmp_path / "missing.pt", {}) is None


def test_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOGNN_CACHE", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("GEOGNN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "geognn"
    monkeypatch.setenv("GEOGNN_CACHE", str(tmp_path / "env-root"))
    assert QM9("U0", limit=2).cache_path.parent == tmp_path / "env-root" / "qm9"


def test_unwritable_cache_directory_only_warns(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr("geognn.data.qm9.save_tensors", refuse)
    with pytest.warns(UserWarning, match="could not write the QM9 cache"):
        data = QM9("U0", root=tmp_path, limit=3)
    assert len(data) == 3
