"""Atomic file writes and the user cache directory.

Every file geognn writes (processed datasets, splits) goes through
:func:`atomic_write_bytes`: the bytes land in a temporary file in the target's
own directory and are then renamed over the target with :func:`os.replace`.
A reader therefore sees either the old file or the complete new one, never a
half-written file, even when a run is killed or two runs race.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

CACHE_ENV = "GEOGNN_CACHE"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically and returns the path.

    The temporary file is created next to ``path`` (same file system, so the
    rename is atomic) and flushed to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Also on KeyboardInterrupt: never leave temporary files behind.
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path


def _create_temporary(path: Path) -> tuple[int, str]:
    # Not tempfile.mkstemp: it forces mode 0600, and a split saved beside a
    # run should get the user's usual permissions (0666 minus the umask).
    for _ in range(100):
        name = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def default_cache_dir() -> Path:
    """The directory geognn caches processed datasets in.

    In order of precedence: the ``GEOGNN_CACHE`` environment variable,
    ``$XDG_CACHE_HOME/geognn``, then ``~/.cache/geognn``.
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "geognn"
