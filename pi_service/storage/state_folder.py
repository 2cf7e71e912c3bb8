"""The state folder: where a daemon keeps its history, calibration and pairing tokens, and
how one daemon owns it.

The virtual treadmill has a folder of its own, `sim/` inside the real one, so nothing run
with `--sim` (or a demo config) ever writes the real machine's calibration or history.

While a daemon runs it holds an exclusive lock on `daemon.pid` in its folder (released by
the kernel whatever way the process ends, so a `kill -9` leaves no stale lock), and its
sampling process answers the maintenance commands on `daemon.sock` beside it
(`sampling/service_port.py`): `calibrate` and `doctor` find the running daemon there and
ask it, instead of opening the bus under it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from pathlib import Path

from pi_service.config import Config
from pi_service.errors import CompanionError

log = logging.getLogger(__name__)

SIM_FOLDER = "sim"
LOCK_FILE = "daemon.pid"
SOCKET_FILE = "daemon.sock"


def state_dir(config: Config, sim: bool = False) -> Path:
    """The config's state_dir, systemd's STATE_DIRECTORY, or XDG's state home; its `sim/`
    folder for the virtual treadmill (`sim`) or a demo config."""
    if config.state_dir:
        folder = Path(config.state_dir).expanduser()
    elif os.environ.get("STATE_DIRECTORY"):
        folder = Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    else:
        base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        folder = Path(base) / "treadmill-companion"
    return folder / SIM_FOLDER if sim or config.demo else folder


def socket_path(folder: Path) -> Path:
    return folder / SOCKET_FILE


def running_daemon(folder: Path) -> int | None:
    """The PID of the daemon that owns `folder`, or None when none runs."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            return _pid_in(fd) or -1  # locked: a daemon runs (-1: it has not written its PID yet)
        return None
    finally:
        os.close(fd)


def _pid_in(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except ValueError:
        return None


# A folder the daemon cannot write (a failing SD card remounted read-only, a full disk) must
# not stop it: the rules, nudges and page go on, the history shows its fault; only the lock
# and the service port, which need the folder, are missing, and the log says so.
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)


class StateFolderLock:
    """Held by the daemon for its whole run: a second daemon on the same folder is refused.

    `held` is False when the folder cannot be written at all (see UNWRITABLE)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.held = False
        self._fd = None
        path = folder / LOCK_FILE
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno not in UNWRITABLE:
                raise CompanionError(f"cannot lock {path}: {exc.strerror}") from None
            log.warning("cannot lock the state folder %s (%s): no check for a second daemon, and calibrate and "
                        "doctor cannot reach this one", folder, exc.strerror)
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _pid_in(self._fd)
            os.close(self._fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                who = f"PID {pid}" if pid else "a daemon that is starting"
                raise CompanionError(f"state folder {folder} is in use by another daemon ({who}): stop it, "
                                     f"or give this one its own state_dir") from None
            raise CompanionError(f"cannot lock {path}: {exc.strerror}") from None
        self.held = True
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # a full disk: the lock holds; `running_daemon` reports -1 for the PID
            log.warning("cannot write the PID to %s: %s", path, exc.strerror)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)  # no PID: nobody runs (the lock itself is what counts)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
