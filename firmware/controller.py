"""The incline controller: drives the incline motor's up/down outputs from position
feedback, for the console's buttons and for the Pi's ramp-down requests.

Runs on the MCU (MicroPython) and on a host (CPython) alike: the hardware is behind the
small interface below (`hal.py` on the board, a simulated motor on the host), and time
is an integer of milliseconds passed in.

Position feedback: a potentiometer on the deck's lift arm, read through the ADC
(`position_raw()`, 0..65535) and turned into percent by a two-point calibration. Pulse
counting from the motor is not supported.

What keeps it safe, in this layer and not above it:
- soft end limits: it never drives below `min_pct` or above `max_pct`;
- an automatic ramp only ever drives down, never faster than `max_rate_pct_s`, and a
  request whose target is above the incline is refused;
- any console button press cancels an automatic ramp (the console wins);
- after `LINK_TIMEOUT_MS` without a valid frame from the Pi it finishes a ramp already
  under way and otherwise stops the motor;
- a motor driven for `stall_ms` without the position moving is switched off;
- the board's watchdog (main.py) resets a hung MCU, and at start the outputs are off.

Hardware interface (duck-typed):
    position_raw() -> int        the ADC reading of the position potentiometer
    drive(direction)             -1 down, 0 off, +1 up (both outputs never on together)
    buttons() -> list            presses since the last call: "up", "down", "stop" or a number (a preset %)
"""

try:  # on the host, the firmware is a package; on the board, its modules sit side by side
    from firmware.protocol import (FLAG_HIGH_LIMIT, FLAG_LINK_OK, FLAG_LOW_LIMIT, FLAG_STALL, LINK_TIMEOUT_MS,
                                   MODE_IDLE, MODE_MANUAL, MODE_RAMP, MOTION_DOWN, MOTION_STOPPED, MOTION_UP,
                                   RAMP_CANCELLED, RAMP_DONE, RAMP_FAULT, RAMP_NONE, RAMP_RUNNING, RAMP_STOPPED,
                                   RESULT_OK, RESULT_RATE_CAPPED, RESULT_REFUSED_ARGS, RESULT_REFUSED_BUSY,
                                   RESULT_REFUSED_RAISE)
except ImportError:
    from protocol import (FLAG_HIGH_LIMIT, FLAG_LINK_OK, FLAG_LOW_LIMIT, FLAG_STALL, LINK_TIMEOUT_MS, MODE_IDLE,
                          MODE_MANUAL, MODE_RAMP, MOTION_DOWN, MOTION_STOPPED, MOTION_UP, RAMP_CANCELLED, RAMP_DONE,
                          RAMP_FAULT, RAMP_NONE, RAMP_RUNNING, RAMP_STOPPED, RESULT_OK, RESULT_RATE_CAPPED,
                          RESULT_REFUSED_ARGS, RESULT_REFUSED_BUSY, RESULT_REFUSED_RAISE)


LINK_MARGIN_MS = 10


class Settings:
    """The controller's constants; a board's main.py may change them."""

    def __init__(self):
        self.raw_at_min = 6000  # ADC reading at min_pct
        self.raw_at_max = 58000  # ADC reading at max_pct
        self.min_pct = 0.0  # soft end limits
        self.max_pct = 15.0
        self.deadband_pct = 0.15  # close enough: stop driving
        self.step_pct = 0.5  # one press of "up" or "down"
        self.max_rate_pct_s = 1.0  # the fastest automatic ramp
        self.stall_ms = 3000  # driven this long without moving 0.1 %: switch off
        self.smoothing = 0.3  # weight of a new ADC reading in the position's running average


class InclineController:
    def __init__(self, hardware, settings=None, now_ms=0):
        self.hw = hardware
        self.s = settings or Settings()
        self.hw.drive(0)
        self.position = self._read()
        self.motion = MOTION_STOPPED
        self.mode = MODE_IDLE
        self.target = self.position
        self.ramp_state = RAMP_NONE
        self.ramp_rate = 0.0
        self.ramp_from = self.position
        self.ramp_start_ms = now_ms
        self.presses = 0
        self.stalled = False
        self.last_heard_ms = now_ms - LINK_TIMEOUT_MS - 1  # nothing heard yet
        self.link_ok = False
        self.moved_ms = now_ms  # when the position last moved 0.1 % while driven
        self.moved_from = self.position

    # -- inputs -----------------------------------------------------------------

    def heard(self, now_ms):
        """A valid frame arrived from the Pi."""
        self.last_heard_ms = now_ms
        self.link_ok = True

    def ramp(self, target_pct, rate_pct_s, now_ms):
        """The Pi asks: ramp down to `target_pct` at `rate_pct_s`. Returns an ACK result."""
        s = self.s
        if not (rate_pct_s > 0) or not (s.min_pct - 1 <= target_pct <= s.max_pct + 1):
            return RESULT_REFUSED_ARGS
        if target_pct > self.position + s.deadband_pct:
            return RESULT_REFUSED_RAISE
        if self.mode == MODE_MANUAL:
            return RESULT_REFUSED_BUSY
        result = RESULT_OK
        if rate_pct_s > s.max_rate_pct_s:
            rate_pct_s = s.max_rate_pct_s
            result = RESULT_RATE_CAPPED
        self.mode = MODE_RAMP
        self.target = max(target_pct, s.min_pct)
        self.ramp_rate = rate_pct_s
        self.ramp_from = self.position
        self.ramp_start_ms = now_ms
        self.ramp_state = RAMP_RUNNING
        return result

    def stop_ramp(self):
        """The Pi asks: stop an automatic ramp where it is."""
        if self.mode == MODE_RAMP:
            self._end_ramp(RAMP_STOPPED)
        return RESULT_OK

    # -- the control step ---------------------------------------------------------

    def tick(self, now_ms):
        """Read the inputs, decide, drive the outputs; call every few milliseconds."""
        s = self.s
        self.position = self._read()
        for press in self.hw.buttons():
            self._press(press)
        # (Two 5 ms ticks early, so the motor is off by the time 500 ms have passed.)
        if self.link_ok and now_ms - self.last_heard_ms >= LINK_TIMEOUT_MS - LINK_MARGIN_MS:
            self.link_ok = False
            if self.mode != MODE_RAMP:  # finish a ramp under way; anything else stops
                self._idle()
        direction = MOTION_STOPPED
        if self.mode == MODE_RAMP:
            elapsed_s = (now_ms - self.ramp_start_ms) / 1000
            setpoint = max(self.target, self.ramp_from - self.ramp_rate * elapsed_s)
            if self.position <= self.target + s.deadband_pct:
                self._end_ramp(RAMP_DONE)
            elif self.position > setpoint + s.deadband_pct or (self.motion == MOTION_DOWN and self.position > setpoint):
                direction = MOTION_DOWN
        elif self.mode == MODE_MANUAL:
            if self.position < self.target - s.deadband_pct:
                direction = MOTION_UP
            elif self.position > self.target + s.deadband_pct:
                direction = MOTION_DOWN
            else:
                self.mode = MODE_IDLE
        self._drive(direction, now_ms)

    def _press(self, press):
        s = self.s
        self.presses += 1
        if self.mode == MODE_RAMP:
            self._end_ramp(RAMP_CANCELLED)  # the console wins, and this press does what it says
        if press == "stop":
            self._idle()
            return
        base = self.target if self.mode == MODE_MANUAL else self.position
        if press == "up":
            target = base + s.step_pct
        elif press == "down":
            target = base - s.step_pct
        else:
            target = float(press)
        self.target = min(s.max_pct, max(s.min_pct, target))
        self.mode = MODE_MANUAL

    def _drive(self, direction, now_ms):
        s = self.s
        # The lowest layer's guarantees: limits, and a ramp never goes up.
        if direction == MOTION_UP and (self.position >= s.max_pct or self.mode == MODE_RAMP):
            direction = MOTION_STOPPED
        if direction == MOTION_DOWN and self.position <= s.min_pct:
            direction = MOTION_STOPPED
        if direction == MOTION_STOPPED or direction != self.motion:
            self.moved_ms, self.moved_from = now_ms, self.position
        elif abs(self.position - self.moved_from) >= 0.1:
            self.moved_ms, self.moved_from = now_ms, self.position
            self.stalled = False
        elif now_ms - self.moved_ms > s.stall_ms:
            self.stalled = True
            direction = MOTION_STOPPED
            if self.mode == MODE_RAMP:
                self._end_ramp(RAMP_FAULT)
            else:
                self._idle()
        self.motion = direction
        self.hw.drive(direction)

    def _end_ramp(self, state):
        self.ramp_state = state
        self._idle()

    def _idle(self):
        self.mode = MODE_IDLE
        self.target = self.position

    def _read(self):
        s = self.s
        raw = self.hw.position_raw()
        pct = s.min_pct + (raw - s.raw_at_min) * (s.max_pct - s.min_pct) / (s.raw_at_max - s.raw_at_min)
        previous = getattr(self, "position", None)
        return pct if previous is None else previous + s.smoothing * (pct - previous)

    def flags(self):
        s = self.s
        flags = FLAG_LINK_OK if self.link_ok else 0
        if self.stalled:
            flags |= FLAG_STALL
        if self.position <= s.min_pct + s.deadband_pct:
            flags |= FLAG_LOW_LIMIT
        if self.position >= s.max_pct - s.deadband_pct:
            flags |= FLAG_HIGH_LIMIT
        return flags
