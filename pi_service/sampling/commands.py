"""The person's commands from the page (snooze, acknowledge, stop the ramp, the sim
controls), taken off the web process's pipe once a tick: a poll, never a wait."""

from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger(__name__)

CarryOut = Callable[[str, str, float, float], None]  # (name, kind, seconds, now)


class CommandInbox:
    def __init__(self, pipe=None):
        self.pipe = pipe  # the receiving end of a pipe from the web process, or None

    def take(self, carry_out: CarryOut, now: float) -> None:
        """Hand every command waiting to `carry_out`; a bad one is logged and skipped, and a
        closed pipe (the web process gone) is let go."""
        while self.pipe is not None and self.pipe.poll():
            try:
                name, kind, seconds = self.pipe.recv()
                carry_out(name, kind, float(seconds), now)
            except (EOFError, OSError):
                self.pipe = None
            except (ValueError, TypeError) as exc:
                log.warning("ignored a bad command: %s", exc)
