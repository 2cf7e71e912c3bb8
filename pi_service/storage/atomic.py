"""Replacing a small file so that a crash, a kill or a full disk at any moment leaves the
old file or the new one whole, never a broken one, and never a stray temporary file.

The one way every state file is written (calibration, pairing, and whatever comes next):
a temporary file in the same folder, written and fsynced, its mode set, renamed over the
old one, then the folder fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` (text is written as UTF-8); `mode` sets its permissions
    before it becomes visible (otherwise the umask's). Raises OSError as the system does;
    the temporary file is gone whatever happened."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
            file.flush()
            if mode is not None:
                os.fchmod(file.fileno(), mode)
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass  # already renamed, or never made
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
