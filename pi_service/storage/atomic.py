"""Replacing a small file so that a crash, a kill or a full disk at any moment leaves the
old file or the new one whole, never a broken one; a failed write removes its temporary
file, and the next write removes any a kill -9 left (`remove_stale_temporaries`).

The one way every state file is written (calibration, pairing, and whatever comes next):
a temporary file in the same folder, written and fsynced, its mode set, renamed over the
old one, then the folder fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

SUFFIX = ".tmp"


def write_atomic(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` (text is written as UTF-8); `mode` sets its permissions
    before it becomes visible (otherwise 0600, as `mkstemp` makes every file). Raises
    OSError as the system does; the temporary file is gone whatever happened."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=_prefix(path), suffix=SUFFIX)
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
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise  # (a filesystem that cannot sync a folder has nothing more to do)
    finally:
        os.close(directory)


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files a writer of `path` killed mid-write left behind (a kill -9
    cannot run the clean-up above); never `path` itself."""
    path = Path(path)
    for stale in path.parent.glob(f"{_prefix(path)}*{SUFFIX}"):
        stale.unlink(missing_ok=True)


def _prefix(path: Path) -> str:
    return f".{path.name}."
