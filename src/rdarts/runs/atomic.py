"""Atomic files: every run file is replaced so that readers and crashes see the old or the new
version, never a torn one (write to a temporary file in the same folder, fsync, rename, fsync
the folder); and the check that an --out can hold such files at all.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from rdarts.errors import RunDirError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers and crashes see the old or the new file.

    A write that fails (a full disk) leaves the old file; the OSError then names `path`,
    which the bare write and fsync errors do not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.filename is None:
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def check_out(path: str | Path, flag: str = "--out") -> None:
    """Refuse (RunDirError) an output directory that cannot be made or written: `path` is a
    file, lies under a file, or its nearest existing folder is read-only for us. Nothing is
    created, so a command can check its output before any slow work and leave no trace."""
    path = Path(path).expanduser()
    try:
        if path.exists() and not path.is_dir():
            raise RunDirError(f"{flag} {path} exists and is not a directory")
        existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    except OSError as error:  # a folder on the way that we may not look into
        raise RunDirError(f"{flag} {path} is not accessible: {error.strerror}") from None
    if not existing.is_dir():
        raise RunDirError(f"{flag} {path} lies under {existing}, which is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "it" if existing == path else f"its parent {existing}"
        raise RunDirError(f"{flag} {path} is not writable: {what} is read-only or belongs to "
                          "another user")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())
