"""The incline ramp-down: when a steep climb has gone unanswered too long, ask the console
to bring the deck down, and believe it only when the incline sensor agrees.

Pure: fed the time, the steep interval, the person's answers, the measured incline, the
faults and the console's state; returns the command to send, if any. The firmware holds
the real guarantees (it never raises the incline for the Pi, caps the rate, lets any
console key cancel); this layer decides when to ask and watches that it happens.

One ramp per steep interval: once a ramp has finished, been cancelled at the console,
been stopped, or been stopped for disagreeing with the sensor, the next one waits for
the next steep interval. A snooze of `steep_incline` defers the ramp until the snooze
ends; an acknowledgement defers it until the interval ends. Neither stops a ramp already
under way: that is the page's "stop the ramp" (`stop`) or any console key.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware import protocol as p
from pi_service.config import ActionsConfig

CONFIRM_S = 5.0  # by then the sensor must see the deck going down ...
CONFIRM_DROP_PCT = 0.3  # ... by at least this much
RISE_LIMIT_PCT = 0.5  # the sensor seeing the deck rise this much during a ramp stops it
RATE_SLACK_PCT = 1.0  # the sensor's drop may lead the set rate by this much (smoothing, noise)
ACK_WAIT_S = 1.5  # the console's answer to the command (its retries take about 0.6 s)


@dataclass(frozen=True)
class RampCommand:
    action: str  # "ramp" or "stop"
    target_pct: float = 0.0
    rate_pct_s: float = 0.0


class InclineRamp:
    def __init__(self, actions: ActionsConfig):
        self.after_s = actions.ramp_after_s
        self.target_pct = actions.ramp_to_pct
        self.rate_pct_s = min(actions.ramp_rate_pct_s, 1.0)  # the spec's cap, whatever the config says
        self.state = "idle"
        self.reason = ""
        self.since_t = 0.0
        self.interval: float | None = None  # start of the steep interval being handled
        self.ramp_t: float | None = None  # when the ramp was asked for
        self.start_incline: float | None = None
        self.lowest_incline: float | None = None
        self.acked_t: float | None = None

    def _set(self, state: str, reason: str, t: float) -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason, self.since_t = state, reason, t

    @property
    def ramping(self) -> bool:
        return self.state == "ramping"

    def status(self) -> dict:
        return {"state": self.state, "reason": self.reason, "since_t": round(self.since_t, 3),
                "target_pct": self.target_pct, "rate_pct_s": self.rate_pct_s,
                "due_t": None if self.interval is None else round(self.interval + self.after_s, 3)}

    def stop(self, t: float, why: str = "stopped from the page") -> RampCommand | None:
        """The person asks to stop a ramp under way."""
        if not self.ramping:
            return None
        self._set("stopped", why, t)
        return RampCommand("stop")

    def update(self, t: float, steep_since: float | None, snoozed_until: float, acknowledged: bool,
               incline_pct: float | None, incline_fault: bool, console) -> RampCommand | None:
        """`console` is the link's ConsoleState (None: no console wired)."""
        if self.ramping:
            return self._watch(t, incline_pct, incline_fault, console)
        if steep_since != self.interval:
            self.interval = steep_since
            self._set("idle" if steep_since is None else "waiting", "", t)
        if steep_since is None or self.state in ("done", "cancelled", "stopped", "unconfirmed", "failed"):
            return None
        if console is None:
            self._set("blocked", "no console link configured", t)
            return None
        if t < steep_since + self.after_s:
            self._set("waiting", "", t)
            return None
        if acknowledged:
            self._set("deferred", "acknowledged: no ramp until the climb ends", t)
            return None
        if t < snoozed_until:
            self._set("deferred", "snoozed", t)
            return None
        if incline_fault or incline_pct is None:
            self._set("blocked", "the incline sensor is faulty: cannot confirm a ramp", t)
            return None
        if not console.alive:
            self._set("blocked", "the console link is down", t)
            return None
        if incline_pct <= self.target_pct + 0.5:
            self._set("done", "already at the ramp's target", t)
            return None
        self._set("ramping", f"down to {self.target_pct:g} % at {self.rate_pct_s:g} %/s", t)
        self.ramp_t = t
        self.start_incline = self.lowest_incline = incline_pct
        self.acked_t = None
        return RampCommand("ramp", self.target_pct, self.rate_pct_s)

    def _watch(self, t: float, incline: float | None, incline_fault: bool, console) -> RampCommand | None:
        elapsed = t - self.ramp_t
        if self.acked_t is None:
            result = console.last_result
            if result is not None and result[0] == "ramp" and result[2] >= self.ramp_t:
                if result[1] in ("ok", "rate capped"):
                    self.acked_t = t
                elif result[1] == "no answer":
                    self._set("failed", "the console did not answer the ramp: asked it to stop", t)
                    return RampCommand("stop")
                else:
                    self._set("failed", f"the console answered: {result[1]}", t)
                    return None
            elif elapsed > ACK_WAIT_S and console.alive:
                # It may have started with only its ACK lost: make sure it stops.
                self._set("failed", "the console did not answer the ramp: asked it to stop", t)
                return RampCommand("stop")
        if not console.alive:
            # The firmware finishes a ramp under way by itself; we cannot watch it.
            self._set("failed", "the console link went down mid-ramp: the console finishes the ramp on its own", t)
            return None
        # (The console's STATUS follows its ACK; give it a moment before reading the ramp's state.)
        if self.acked_t is not None and console.ramp != p.RAMP_RUNNING and t - self.acked_t > 0.3:
            if console.ramp == p.RAMP_DONE:
                self._set("done", f"reached {self.target_pct:g} %", t)
            elif console.ramp == p.RAMP_CANCELLED:
                self._set("cancelled", "a console key was pressed: the console wins", t)
            elif console.ramp == p.RAMP_FAULT:
                self._set("failed", "the console stopped the motor (stall)", t)
            elif console.ramp == p.RAMP_STOPPED:
                self._set("stopped", "stopped", t)
            if not self.ramping:
                return None
        if incline_fault or incline is None:
            self._set("unconfirmed", "the incline sensor failed mid-ramp: ramp stopped", t)
            return RampCommand("stop")
        self.lowest_incline = min(self.lowest_incline, incline)
        drop = self.start_incline - incline
        if incline > self.lowest_incline + RISE_LIMIT_PCT or incline > self.start_incline + RISE_LIMIT_PCT:
            self._set("unconfirmed", "the incline sensor saw the deck go up: ramp stopped", t)
            return RampCommand("stop")
        if drop > self.rate_pct_s * elapsed + RATE_SLACK_PCT:
            self._set("unconfirmed", "the deck came down faster than the set rate: ramp stopped", t)
            return RampCommand("stop")
        near_target = incline <= self.target_pct + 0.5
        # A slow ramp needs longer before its drop shows (the firmware's deadband is 0.15 %).
        confirm_s = max(CONFIRM_S, 2 * (CONFIRM_DROP_PCT + 0.15) / self.rate_pct_s)
        if elapsed >= confirm_s and drop < CONFIRM_DROP_PCT and not near_target:
            self._set("unconfirmed", "the incline sensor did not see the deck come down: ramp stopped", t)
            return RampCommand("stop")
        return None
