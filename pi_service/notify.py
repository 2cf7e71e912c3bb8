"""systemd's service notifications (sd_notify): READY, STATUS, STOPPING and the watchdog.

The protocol is one datagram of `KEY=value` lines to the socket named in NOTIFY_SOCKET
(an abstract socket when it begins with "@"); there is nothing to do when it is unset,
as outside systemd. It is a few lines, so it is written here rather than pulling in
libsystemd's bindings, which need a C build on the Pi.

`Watchdog` pings (WATCHDOG=1) at half of WATCHDOG_USEC, and only while `healthy()` says
the sampling loop is publishing fresh snapshots: if the loop stalls, the pings stop and
systemd restarts the service after WatchdogSec.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable

log = logging.getLogger(__name__)


def notify(*lines: str) -> bool:
    """Send the lines to systemd; False when not run by systemd (or the socket is gone)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
        return True
    except OSError as exc:
        log.debug("sd_notify to %s failed: %s", address, exc)
        return False


def watchdog_period_s() -> float | None:
    """Half the watchdog interval systemd asked for, or None without one."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None


class Watchdog:
    def __init__(self, healthy: Callable[[], tuple[bool, str]], period_s: float | None = None):
        self.healthy = healthy
        self.period_s = period_s if period_s is not None else watchdog_period_s()
        self.pings = 0
        self.missed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> None:
        if self.period_s:
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        last_reason = None
        while not self._stop.wait(self.period_s):
            ok, reason = self.healthy()
            if ok:
                notify("WATCHDOG=1", f"STATUS={reason}")
                self.pings += 1
                last_reason = None
            else:
                self.missed += 1
                if reason != last_reason:
                    log.warning("not pinging the watchdog: %s", reason)
                    notify(f"STATUS=unhealthy: {reason}")
                    last_reason = reason
