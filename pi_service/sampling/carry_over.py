"""The rules' state carried over a restart of the sampling process.

A sampler that dies (a driver's bug, an out-of-memory kill, `kill -9`) is restarted by the
daemon within a second or two. Starting afresh would split the workout in two and reset
every rule's timer and snooze: a sampler that crash-looped every few minutes would never
raise `steep_incline`, and a snoozed nudge would sound again. So the sampler keeps a copy
of what the rules know (the rule engine with its session, the session's summary, the
page's alerts, the nudges' snoozes and repeats) on a board the daemon holds (shared memory,
`sampling/board.py`: nothing written to the SD card): once a second, and at once after an
event or a person's command. A new sampler takes it up if it is younger than
`[rules] session_end_s`, the gap after which the session would have ended anyway; a whole
new daemon never does (it closes the sessions left open as interrupted: storage/history.py).

What is not carried over: the hardware's state (it is read again), the console link and the
ramp under way (the link is opened again; a steep interval still raised asks for the ramp
again, which only ever lowers the incline), and the loop's statistics.

The payload is a pickle: written and read only by this daemon's own processes, from the
same code, through memory no other user can reach.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass

from pi_service.actions.nudges import NudgePolicy
from pi_service.core.engine import RuleEngine
from pi_service.core.summary import SummaryBuilder
from pi_service.sampling.alerts import AlertBoard
from pi_service.sampling.board import SnapshotBoard

log = logging.getLogger(__name__)

CARRY_EVERY_S = 1.0  # at most this much of the rules' state is lost with a sampler (plus the restart)
# Two slots of 128 KiB. The state is about 20 KiB with the default rules at 100 Hz, most of
# it the speed-jump windows' samples, so it grows with the rate times `speed_jump.within_s`
# (128 KiB at 100 Hz and 30 s). A state too big for the board is not kept (a restarted
# sampler then starts afresh, as before there was any carrying over), and not pickled
# again for TOO_BIG_PAUSE_S: it costs the loop milliseconds each time.
SIZE = 256 * 1024
TOO_BIG_PAUSE_S = 60.0
NOTHING = b"nothing"  # on the board instead of a state too big for it: an older one must not be taken up


@dataclass
class RuleState:
    t: float  # the last sample's time (monotonic: the same clock in every process)
    engine: RuleEngine
    summary: SummaryBuilder
    alerts: AlertBoard
    nudges: NudgePolicy

    @property
    def session_started_t(self) -> float | None:
        current = self.engine.sessions.current
        return None if current is None else current.started_t


class CarryOver:
    def __init__(self, board: SnapshotBoard):
        self.board = board
        self._saved_t = float("-inf")
        self._too_big = False

    def due(self, t: float, changed: bool) -> bool:
        if self._too_big:
            return t - self._saved_t >= TOO_BIG_PAUSE_S
        return changed or t - self._saved_t >= CARRY_EVERY_S

    def save(self, state: RuleState) -> None:
        payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        self._saved_t = state.t
        try:
            self.board.publish_bytes(payload)
            self._too_big = False
        except ValueError as exc:
            if not self._too_big:
                log.warning("the rules' state is not kept for a restart of the sampler (%s): a long "
                            "[rules.speed_jump] within_s at this rate keeps many samples", exc)
            self._too_big = True
            self.board.publish_bytes(NOTHING)

    def take(self, now: float, max_age_s: float) -> RuleState | None:
        """The state a previous sampler left, if it is at most `max_age_s` old; else None."""
        payload = self.board.read_bytes(wait_s=0)
        if payload is None or payload == NOTHING:
            return None
        try:
            state = pickle.loads(payload)
        except Exception as exc:  # noqa: BLE001 - a payload from another version of the code: start afresh
            log.warning("the previous sampler's rule state is unreadable (%s): starting afresh", exc)
            return None
        if not isinstance(state, RuleState) or not 0 <= now - state.t <= max_age_s:
            return None
        return state
