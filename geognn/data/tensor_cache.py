"""A checksummed, versioned on-disk store for dictionaries of tensors.

File layout: one line of JSON (the header), then the payload written by
:func:`torch.save`. The header holds a format tag, the caller's metadata (a
version and the options the content depends on) and the SHA-256 of the
payload. :func:`load_tensors` returns ``None`` for a missing, truncated,
corrupted or stale file, so the caller rebuilds instead of loading bad data.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from geognn.data.atomic_io import atomic_write_bytes

_FORMAT = "geognn-tensor-cache/1"


def save_tensors(path: str | os.PathLike, tensors: dict[str, Any], metadata: dict[str, Any]) -> Path:
    """Atomically writes ``tensors`` (tensors, strings, numbers) with a checksummed header.

    ``metadata`` must be JSON-serialisable; :func:`load_tensors` only returns
    the payload when the stored metadata equals the metadata it is given.
    """
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    payload = buffer.getvalue()
    header = {
        "format": _FORMAT,
        "metadata": metadata,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload_bytes": len(payload),
    }
    line = json.dumps(header, sort_keys=True).encode("utf-8") + b"\n"
    return atomic_write_bytes(path, line + payload)


def load_tensors(path: str | os.PathLike, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The tensors stored at ``path``, or ``None`` when the file cannot be trusted.

    ``None`` (with a warning naming the file and the reason) when the header is
    unreadable, the metadata differs from ``metadata`` (a stale cache), the
    payload size or SHA-256 does not match (truncated or corrupted), or the
    payload does not unpickle as plain tensors. A missing file gives ``None``
    silently.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    reason = _check(raw, metadata)
    if reason is None:
        payload = memoryview(raw)[raw.index(b"\n") + 1 :]
        try:
            return torch.load(io.BytesIO(payload), weights_only=True)
        except Exception as err:  # a checksum collision is not expected, but never crash on a cache
            reason = f"payload does not load ({type(err).__name__}: {err})"
    warnings.warn(f"ignoring cache file {path}: {reason}; it will be rebuilt", stacklevel=3)
    return None


def _check(raw: bytes, metadata: dict[str, Any]) -> str | None:
    newline = raw.find(b"\n")
    if newline < 0:
        return "no header line"
    try:
        header = json.loads(raw[:newline])
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "unreadable header"
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        return "unknown format"
    # Round-trip through JSON so tuples and lists compare equal.
    if header.get("metadata") != json.loads(json.dumps(metadata, sort_keys=True)):
        return f"stale (stored {header.get('metadata')}, wanted {metadata})"
    payload = memoryview(raw)[newline + 1 :]
    if len(payload) != header.get("payload_bytes"):
        return f"truncated ({len(payload)} of {header.get('payload_bytes')} payload bytes)"
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        return "checksum mismatch (corrupted)"
    return None
