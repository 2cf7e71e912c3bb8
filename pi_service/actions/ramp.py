"""The incline ramp-down: when a steep climb has gone unanswered too long, ask the console
to bring the deck down, and believe it only when the incline sensor agrees.

Pure: fed the time, the steep interval, the person's answer, the measured incline, what
makes the sensor untrustworthy and the console's state; returns the command to send, if
any, and keeps the `incline_ramp` events it raised for `take_events()`. The firmware
holds the real guarantees (it never raises the incline for the Pi, caps the rate, lets
any console key cancel); this layer decides when to ask and watches that it happens.

- Announced `announce_s` (30 s) before it is due, with the time it is due, so the page
  can count down; only acknowledging `steep_incline` ("I know, leave it") defers it,
  until the climb ends. A snooze silences the buzzer only.
- Asked for: an `incline_ramp` start event. It ends with `detail.result`:
  `done` (the console finished and the incline sensor reads within 0.5 % of the target),
  `cancelled` (a console key: the console wins), `stopped` (from the page), `deferred`
  (acknowledged while it ran: stopped where it was) or `failed` (refused, unanswered, or
  the deck did not move as asked: no drop, a rise, faster than asked, stopping short;
  a ramp still running is then told to stop).
- The incline it decides on is the median of the last 0.4 s of valid readings, so no
  reading shorter than the noise time (and none out of range) can cancel or fail a ramp;
  a short unknown stretch fails nothing (the incline's `sensor_fault` does, at 0.5 s).
- The console's word on the ramp counts only from a STATUS heard after its ACK (the
  firmware sends them in that order), so an earlier ramp's "done" is never taken for
  this one's.
- The link lost mid-ramp: the firmware finishes the ramp by itself, and the incline
  sensor, which is the Pi's own, still says whether it did.
- Stopping (from the page, on deferral, or because it failed) is reported only once the
  console has acknowledged the STOP; a STOP it does not acknowledge makes the ramp
  `failed`, with what to do about it (press a console key).
- One ramp per steep interval. Its result stays on show for a minute after the climb
  ends (the climb usually ends during the ramp), or until the next climb begins.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median

from firmware import protocol as p
from pi_service.config import ActionsConfig, RulesConfig
from pi_service.core.events import Event

KIND = "incline_ramp"
TOLERANCE_PCT = 0.5  # "done" is the incline sensor within this of the target
ACK_WAIT_S = 1.5  # the console's answer to the command (its retries take about 0.6 s)
SETTLE_S = 3.0  # after the console says done, the sensor (low-passed) has this long to agree
PROGRESS_PCT = 0.3  # the sensor must see the deck this much lower ...
PROGRESS_MIN_S = 6.0  # ... at least this often (longer for a slow ramp) until the target
RISE_LIMIT_PCT = 0.5  # the sensor seeing the deck rise this much during a ramp stops it ...
# ... over a stride's median: walking slowly (1-2 km/h, ~100 steps a minute) each footstrike
# rocks the low-passed incline by up to +-0.3 %, which a 0.4 s median follows; two steps'
# worth does not (the sim's walker made a 0.4 s median "rise" 0.42 % on a deck coming down).
RISE_WINDOW_S = 1.2
RATE_SLACK_PCT = 1.0  # the sensor's drop may lead the set rate by this much (smoothing, noise)
FIRMWARE_DEADBAND_PCT = 0.15
RESULT_SHOWN_S = 60.0  # a ramp's result stays in the snapshot this long after the climb has ended
RESULTS = ("done", "cancelled", "stopped", "deferred", "failed")
FINISHED = RESULTS + ("not_needed",)


class SteadyIncline:
    """The incline the ramp decides on: the median of the valid readings of the last
    `2 x noise` seconds, so a reading that lasts less than the noise time (a glitch, a
    jolt) cannot move it, and a value out of the channel's range never enters it. None
    once no valid reading has come for that long."""

    def __init__(self, noise_s: float, low: float, high: float, window_s: float | None = None):
        self.window_s = 2 * noise_s if window_s is None else window_s
        self.low, self.high = low, high
        self.readings: deque[tuple[float, float]] = deque()

    def update(self, t: float, incline_pct: float | None) -> float | None:
        readings = self.readings
        if incline_pct is not None and self.low <= incline_pct <= self.high:
            readings.append((t, incline_pct))
        while readings and readings[0][0] < t - self.window_s:
            readings.popleft()
        return median(value for _, value in readings) if readings else None


@dataclass(frozen=True)
class RampCommand:
    action: str  # "ramp" or "stop"
    target_pct: float = 0.0
    rate_pct_s: float = 0.0


class InclineRamp:
    def __init__(self, actions: ActionsConfig, rules: RulesConfig | None = None):
        rules = rules or RulesConfig()
        self.steady = SteadyIncline(rules.min_duration_s, rules.sensor_fault.incline_pct_min,
                                    rules.sensor_fault.incline_pct_max)
        self.stride = SteadyIncline(rules.min_duration_s, rules.sensor_fault.incline_pct_min,
                                    rules.sensor_fault.incline_pct_max, max(RISE_WINDOW_S, 2 * rules.min_duration_s))
        self.stride_pct: float | None = None  # the incline the rise is judged on
        self.after_s = actions.ramp_after_s
        self.announce_s = min(actions.ramp_announce_s, actions.ramp_after_s)
        self.target_pct = actions.ramp_to_pct
        self.rate_pct_s = min(actions.ramp_rate_pct_s, 1.0)  # the spec's cap, whatever the config says
        self.payload = p.pack_ramp(self.target_pct, self.rate_pct_s)  # what the console will be sent
        self.progress_s = max(PROGRESS_MIN_S, 2 * (PROGRESS_PCT + FIRMWARE_DEADBAND_PCT) / self.rate_pct_s)
        self.state = "idle"
        self.reason = ""
        self.since_t = 0.0
        self.interval: float | None = None  # start of the steep interval being handled
        self.ramp_t: float | None = None  # when the ramp was asked for
        self.start_incline = 0.0
        self.lowest_incline = 0.0
        self.progress_t = 0.0  # when the sensor last saw the deck PROGRESS_PCT lower
        self.progress_mark = 0.0
        self.acked_t: float | None = None  # the ACK's time, on the link's clock
        self.console_done_t: float | None = None
        self.in_band_t: float | None = None  # since when the sensor has read within the tolerance
        self.announced_t: float | None = None  # since when the ramp has been announced without a break
        self.stopping: tuple[str, str, float] | None = None  # (result, reason, when the STOP was asked)
        self.events: list[Event] = []

    # -- what the sampler reads ---------------------------------------------------------

    @property
    def ramping(self) -> bool:
        """Asked for and not yet ended (stopping included)."""
        return self.state in ("ramping", "stopping")

    @property
    def due_t(self) -> float | None:
        if self.interval is None:
            return None
        due = self.interval + self.after_s
        return due if self.announced_t is None else max(due, self.announced_t + self.announce_s)

    def status(self) -> dict:
        due = self.due_t
        return {"state": self.state, "reason": self.reason, "since_t": round(self.since_t, 3),
                "target_pct": self.target_pct, "rate_pct_s": self.rate_pct_s,
                "due_t": None if due is None else round(due, 3), "announce_s": self.announce_s}

    def take_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    # -- the person ---------------------------------------------------------------------

    def stop(self, t: float, console) -> RampCommand | None:
        """The page's "stop the ramp": stopped where it is, once the console acknowledges."""
        if self.state != "ramping":
            return None
        if console is None or not console.alive:
            return None  # the reason already says so, and that a console key stops it
        return self._stop(t, "stopped", "stopped from the page")

    # -- each tick ------------------------------------------------------------------------

    def update(self, t: float, steep_since: float | None, acknowledged: bool, incline_pct: float | None,
               sensor_problem: str | None, console) -> RampCommand | None:
        """`sensor_problem`: why the incline sensor cannot be trusted now (a `sensor_fault`
        of the incline or of the console/sensor comparison), or None. `console` is the
        link's ConsoleState (None: no console wired)."""
        self.stride_pct = self.stride.update(t, incline_pct)
        incline_pct = self.steady.update(t, incline_pct)
        if self.state != "announced":
            self.announced_t = None
        if self.state == "stopping":
            return self._await_stop(t, incline_pct, console)
        if self.ramping:
            return self._watch(t, acknowledged, incline_pct, sensor_problem, console)
        if steep_since != self.interval:
            # A new climb starts afresh; the end of this one leaves a result on show (below).
            self.interval = steep_since
            if steep_since is not None or self.state not in FINISHED:
                self._set("idle" if steep_since is None else "waiting", "", t)
        if steep_since is None:
            if self.state in FINISHED and t - self.since_t >= RESULT_SHOWN_S:
                self._set("idle", "", t)
            return None
        if self.state in FINISHED:
            return None
        due = steep_since + self.after_s
        if acknowledged:
            self._set("deferred", "acknowledged: no ramp-down until this climb ends", t)
            return None
        if t < due - self.announce_s:
            self._set("waiting", "", t)
            return None
        blocked = self._blocked(incline_pct, sensor_problem, console)
        if blocked is not None:
            self._set("blocked", blocked, t)  # no countdown to a ramp that cannot happen
            return None
        if self.announced_t is None:
            self.announced_t = t
        # Never without its warning: announced for the whole announcement time, even when
        # a block kept it back past its due time.
        if t < max(due, self.announced_t + self.announce_s):
            self._set("announced", f"the incline comes down to {self.target_pct:g} % at {self.rate_pct_s:g} %/s "
                                   f"unless you say to leave it", t)
            return None
        if incline_pct <= self.target_pct + TOLERANCE_PCT:
            self._set("not_needed", f"already at {incline_pct:.1f} %: nothing to ramp down", t)
            return None
        self._set("ramping", f"on its way to {self.target_pct:g} % at {self.rate_pct_s:g} %/s", t)
        self.ramp_t = self.progress_t = t
        self.start_incline = self.lowest_incline = self.progress_mark = incline_pct
        self.acked_t = self.console_done_t = self.in_band_t = None
        self.events.append(Event(t, KIND, "start", f"Bringing the incline down from {incline_pct:.1f} % to "
                                 f"{self.target_pct:g} % at {self.rate_pct_s:g} %/s: the steep climb has gone on "
                                 f"long enough", "info",
                                 {"from_pct": round(incline_pct, 2), "target_pct": self.target_pct,
                                  "rate_pct_s": self.rate_pct_s}))
        return RampCommand("ramp", self.target_pct, self.rate_pct_s)

    @staticmethod
    def _blocked(incline_pct: float | None, sensor_problem: str | None, console) -> str | None:
        if console is None:
            return "no console link configured"
        if sensor_problem is not None or incline_pct is None:
            return f"cannot confirm a ramp: {sensor_problem or 'no incline reading'}"
        if not console.alive:
            return f"the console link is down: {console.error or 'no answer'}"
        return None

    def _watch(self, t: float, acknowledged: bool, incline: float | None, sensor_problem: str | None,
               console) -> RampCommand | None:
        if acknowledged and console.alive:
            return self._stop(t, "deferred", "acknowledged: left where it is")
        if self.acked_t is None:
            command = self._await_ack(t, incline, console)
            if not self.ramping or self.acked_t is None:
                return command
        if sensor_problem is not None:
            return self._fail(t, f"the incline sensor cannot confirm it ({sensor_problem})", incline, console)
        if incline is None:
            return None  # a short gap: the incline's sensor_fault decides, after 0.5 s
        if console.alive:
            self._set("ramping", f"on its way to {self.target_pct:g} % at {self.rate_pct_s:g} %/s", t)
        if console.alive and console.heard_t is not None and console.heard_t > self.acked_t:
            ended = self._console_says(t, incline, console)
            if ended is not None or not self.ramping:
                return ended
        elif not console.alive:
            self._set("ramping", "the console link is down: the console finishes the ramp on its own (any "
                                 "console key stops it); watching the incline sensor", t)
        return self._check_motion(t, incline, console)

    def _await_ack(self, t: float, incline: float | None, console) -> RampCommand | None:
        result = console.last_result
        if result is not None and result.command == "ramp" and result.payload == self.payload \
                and result.t >= self.ramp_t:
            if result.result in (p.RESULT_NAMES[p.RESULT_OK], p.RESULT_NAMES[p.RESULT_RATE_CAPPED]):
                self.acked_t = result.t
                self.progress_t = t
                return None
            if result.result.startswith("no answer"):
                # It may have started with only its ACKs lost: make sure it stops.
                return self._fail(t, "the console did not answer the ramp", incline, console)
            # Refused, or never sent: nothing was started.
            why = result.result if result.result.startswith("not sent") else f"the console answered: {result.result}"
            self._end(t, "failed", why, incline)
            return None
        if t - self.ramp_t > ACK_WAIT_S:
            return self._fail(t, "the console did not answer the ramp", incline, console)
        return None

    def _console_says(self, t: float, incline: float, console) -> RampCommand | None:
        state = console.ramp
        if state == p.RAMP_RUNNING:
            return None
        if state == p.RAMP_CANCELLED:
            self._end(t, "cancelled", "a console key was pressed: the console wins", incline)
        elif state == p.RAMP_FAULT:
            self._end(t, "failed", "the console stopped the motor: it stalled", incline)
        elif state == p.RAMP_STOPPED:
            self._end(t, "stopped", "stopped at the console's end", incline)
        elif state == p.RAMP_DONE:
            if self.console_done_t is None:
                self.console_done_t = t
            if abs(incline - self.target_pct) <= TOLERANCE_PCT:
                self._end(t, "done", f"reached {self.target_pct:g} %: the incline sensor reads {incline:.1f} %",
                          incline)
            elif t - self.console_done_t > SETTLE_S:
                self._end(t, "failed", f"stopped short: the console says it reached {self.target_pct:g} % but "
                                       f"the incline sensor reads {incline:.1f} %", incline)
        return None

    def _check_motion(self, t: float, incline: float, console) -> RampCommand | None:
        """Does the deck move as asked, as the incline sensor sees it?"""
        elapsed = t - self.ramp_t
        stride = incline if self.stride_pct is None else self.stride_pct
        self.lowest_incline = min(self.lowest_incline, stride)
        if incline <= self.progress_mark - PROGRESS_PCT:
            self.progress_mark, self.progress_t = incline, t
        drop = self.start_incline - incline
        if stride > self.lowest_incline + RISE_LIMIT_PCT or stride > self.start_incline + RISE_LIMIT_PCT:
            return self._fail(t, f"the incline sensor saw the deck go up (to {stride:.1f} %)", incline, console)
        if drop > self.rate_pct_s * elapsed + RATE_SLACK_PCT:
            return self._fail(t, "the deck came down faster than asked", incline, console)
        if incline < self.target_pct - TOLERANCE_PCT:
            return self._fail(t, f"the deck went below {self.target_pct:g} % (to {incline:.1f} %)", incline, console)
        in_band = abs(incline - self.target_pct) <= TOLERANCE_PCT
        self.in_band_t = (self.in_band_t if self.in_band_t is not None else t) if in_band else None
        if not console.alive and in_band and t - self.in_band_t >= SETTLE_S:
            # Without the console's word, done is the sensor settled at the target.
            self._end(t, "done", f"reached {self.target_pct:g} % (finished by the console on its own while the "
                                 f"link was down): the incline sensor reads {incline:.1f} %", incline)
            return None
        if t - self.progress_t > self.progress_s and incline > self.target_pct + TOLERANCE_PCT:
            return self._fail(t, f"the deck is not coming down (the incline sensor reads {incline:.1f} %)",
                              incline, console)
        return None

    # -- endings ------------------------------------------------------------------------

    def _fail(self, t: float, why: str, incline: float | None, console) -> RampCommand | None:
        """Failed; a ramp the console may still be running is told to stop."""
        if console is not None and console.alive:
            return self._stop(t, "failed", why)
        self._end(t, "failed", why + " (the link is down, so the console could not be told to stop: the firmware "
                                     "finishes a ramp on its own, and any console key stops it)", incline)
        return None

    def _stop(self, t: float, result: str, reason: str) -> RampCommand:
        self.stopping = (result, reason, t)
        self._set("stopping", reason, t)
        return RampCommand("stop")

    def _await_stop(self, t: float, incline: float | None, console) -> None:
        result, reason, asked_t = self.stopping
        answer = None if console is None else console.last_result
        if answer is not None and answer.command == "stop_ramp" and answer.t >= asked_t:
            if answer.acknowledged:
                self._end(t, result, reason + ("" if result != "failed" else ": ramp stopped"), incline)
                return None
            self._end(t, "failed", f"{reason}; the console did not confirm the stop ({answer.result}): press any "
                                   f"key on the console", incline)
            return None
        if t - asked_t > ACK_WAIT_S:
            self._end(t, "failed", f"{reason}; the console did not confirm the stop: press any key on the console",
                      incline)
        return None

    def _end(self, t: float, result: str, reason: str, incline: float | None) -> None:
        self._set(result, reason, t)
        level = "info" if result in ("done", "cancelled", "stopped", "deferred") else "warning"
        self.events.append(Event(t, KIND, "end", f"Incline ramp-down {result}: {reason}", level,
                                 {"result": result, "reason": reason,
                                  "incline_pct": None if incline is None else round(incline, 2),
                                  "target_pct": self.target_pct}))

    def _set(self, state: str, reason: str, t: float) -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason, self.since_t = state, reason, t
