"""Which buzzer pattern to play, and when: pure policy, fed events and the time.

Each kind has its own rhythm, so a person on a moving belt can tell "let go of the
rails" from "speed jump" without looking. A nudge repeats at most once per
`nudge_repeat_s` per kind and, for `sensor_fault`, per channel (spec 7.1: one channel's
fault ending does not silence another's); an interval that stays raised is nudged again
at that pace, each time longer (the pattern played up to three times over) while it is
ignored. A kind can be snoozed until a time, or acknowledged until its interval ends
(every channel of it).

An alarm (`unattended_belt`: a moving belt with nobody on it) is not a nudge to be paced:
its siren plays back to back, each round as soon as the last has ended, for as long as the
interval lasts, and is silenced the moment it ends. It cannot be snoozed or acknowledged:
the belt is stopped with the safety key (or someone walks on it again), not silenced from a
phone that may be in someone else's hand. While it sounds, the buzzer is the alarm's: other
kinds' nudges wait (a raised interval is nudged once the alarm is over; an instant's moment
has passed by then and is not played).
"""

from __future__ import annotations

from dataclasses import dataclass

from pi_service.core.events import INTERVAL_KINDS, Event

Pattern = tuple[tuple[float, float], ...]

PATTERNS: dict[str, Pattern] = {
    "rail_lean": ((0.08, 0.08),) * 3,                      # three quick chirps: let go
    "rail_hold": ((0.08, 0.08), (0.08, 0.5)) * 2,          # two pairs
    "steep_incline": ((0.6, 0.3), (0.6, 0.0)),             # two long tones
    "speed_jump": ((0.04, 0.04),) * 6,                     # a rapid burst
    "no_warmup": ((0.3, 0.15), (0.08, 0.0)),               # long-short
    "abrupt_stop": ((0.08, 0.08), (0.08, 0.08), (0.6, 0.0)),  # short-short-long
    "sensor_fault": ((1.0, 0.0),),                         # one long tone
    "overstride": ((0.1, 0.25),) * 4,                      # four beats at 170 steps a minute: step to them
    # A siren, as loud as an on/off piezo gets: mostly sounding, long-short like a two-tone
    # horn, 1.5 s a round and played round after round (ALARMS).
    "unattended_belt": ((0.3, 0.05), (0.1, 0.05)) * 3,
}
ALARMS = frozenset({"unattended_belt"})  # sounding without pause while raised; never snoozed or acknowledged
SILENCE: Pattern = ()
ALARM_REFUSAL = ("the belt alarm cannot be snoozed or acknowledged from the phone: stop the belt with the "
                 "safety key (or the STOP button)")
ESCALATION_MAX = 3
REPEAT_GAP_S = 0.4


def duration_s(pattern: Pattern) -> float:
    return round(sum(on + off for on, off in pattern), 6)  # 1.5, not 1.5000000000000002


def escalated(pattern: Pattern, level: int) -> Pattern:
    """The pattern played `level` times over (1..3), with a short gap between rounds."""
    level = max(1, min(ESCALATION_MAX, level))
    rounds = []
    for index in range(level):
        body = list(pattern)
        if index < level - 1:
            on, off = body[-1]
            body[-1] = (on, off + REPEAT_GAP_S)
        rounds.extend(body)
    return tuple(rounds)


Key = tuple[str, str | None]  # (kind, channel): the channel only for sensor_fault


@dataclass
class _KindState:
    active: bool = False
    last_nudge_t: float | None = None
    repeats: int = 0
    acknowledged: bool = False


@dataclass(frozen=True)
class Nudge:
    """A pattern to play now. `level` 0 with an empty pattern: silence the buzzer (an alarm ended)."""

    t: float
    kind: str
    level: int
    pattern: Pattern


class NudgePolicy:
    def __init__(self, repeat_s: float = 60.0):
        self.repeat_s = repeat_s
        self._keys: dict[Key, _KindState] = {}
        self._snoozed_until: dict[str, float] = {}

    @staticmethod
    def key(event: Event) -> Key:
        return event.kind, event.detail.get("channel")

    def _state(self, key: Key) -> _KindState:
        return self._keys.setdefault(key, _KindState())

    def _quiet(self, key: Key, state: _KindState, now: float) -> bool:
        return now < self._snoozed_until.get(key[0], float("-inf")) or state.acknowledged

    def alarm_sounding(self) -> bool:
        return any(state.active for (kind, _), state in self._keys.items() if kind in ALARMS)

    def on_event(self, event: Event, now: float) -> Nudge | None:
        """An event arrived; the nudge to play for it now, if any (a silence when an alarm ends)."""
        key = self.key(event)
        state = self._state(key)
        if event.phase == "end":
            was_active = state.active
            state.active = False
            state.acknowledged = False
            state.repeats = 0
            if event.kind in ALARMS and was_active and not self.alarm_sounding():
                return Nudge(now, event.kind, 0, SILENCE)
            return None
        if event.kind in INTERVAL_KINDS:
            state.active = True
        if event.kind in ALARMS:
            return self._nudge(key, state, now)
        if self.alarm_sounding() or self._quiet(key, state, now):
            return None
        if state.last_nudge_t is not None and now - state.last_nudge_t < self.repeat_s:
            return None
        return self._nudge(key, state, now)

    def tick(self, now: float) -> list[Nudge]:
        """The alarm's next round once its last has played; repeat nudges for intervals still
        raised and not snoozed or acknowledged, once no alarm sounds."""
        alarm = self.alarm_sounding()
        due = []
        for key, state in self._keys.items():
            if not state.active:
                continue
            if key[0] in ALARMS:
                if state.last_nudge_t is None or now - state.last_nudge_t >= duration_s(PATTERNS[key[0]]):
                    due.append(self._nudge(key, state, now))
            # (An interval raised during a snooze or the alarm is nudged as soon as it is over.)
            elif (not alarm and not self._quiet(key, state, now)
                    and (state.last_nudge_t is None or now - state.last_nudge_t >= self.repeat_s)):
                due.append(self._nudge(key, state, now))
        return due

    def _nudge(self, key: Key, state: _KindState, now: float) -> Nudge:
        state.last_nudge_t = now
        state.repeats += 1
        if key[0] in ALARMS:  # as loud as it gets from the first round: nothing to escalate
            return Nudge(now, key[0], 1, PATTERNS[key[0]])
        level = min(ESCALATION_MAX, state.repeats)
        return Nudge(now, key[0], level, escalated(PATTERNS[key[0]], level))

    def snooze(self, kind: str, until: float) -> None:
        """Silence the buzzer for a kind (every channel of it) until `until`. ValueError for an alarm."""
        if kind in ALARMS:
            raise ValueError(ALARM_REFUSAL)
        self._snoozed_until[kind] = until

    def acknowledge(self, kind: str) -> None:
        """Silence an interval kind until it ends (for steep_incline this also defers the ramp).
        ValueError for an alarm."""
        if kind in ALARMS:
            raise ValueError(ALARM_REFUSAL)
        for (k, _), state in self._keys.items():
            if k == kind and state.active:
                state.acknowledged = True

    def answer(self, kind: str) -> tuple[float, bool]:
        """(snoozed until, acknowledged) for a kind: what the person said about it."""
        acknowledged = any(state.acknowledged for (k, _), state in self._keys.items() if k == kind)
        return self._snoozed_until.get(kind, float("-inf")), acknowledged

    def status(self, now: float) -> dict[str, dict]:
        """Per kind, for the page: how long it is snoozed, whether acknowledged, its most repeats."""
        out: dict[str, dict] = {}
        for (kind, _), state in self._keys.items():
            snoozed_s = max(0.0, self._snoozed_until.get(kind, float("-inf")) - now)
            if not (state.active or snoozed_s > 0):
                continue
            entry = out.setdefault(kind, {"snoozed_s": round(snoozed_s, 1), "acknowledged": False, "repeats": 0})
            entry["acknowledged"] = entry["acknowledged"] or state.acknowledged
            entry["repeats"] = max(entry["repeats"], state.repeats)
        for kind, until in self._snoozed_until.items():
            if kind not in out and now < until:
                out[kind] = {"snoozed_s": round(until - now, 1), "acknowledged": False, "repeats": 0}
        return out
