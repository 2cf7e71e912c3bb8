"""A simulated incline motor with its position potentiometer: the hardware interface of
controller.py, for running the firmware's logic on a host (its tests, and the virtual
treadmill). The deck moves at `rate_pct_s` while driven; time is passed in.
"""


class SimMotor:
    def __init__(self, position_pct=0.0, rate_pct_s=0.6, raw_at_0=6000, raw_per_pct=(58000 - 6000) / 15.0,
                 now_ms=0):
        self.position = position_pct
        self.rate = rate_pct_s
        self.raw_at_0 = raw_at_0
        self.raw_per_pct = raw_per_pct
        self.direction = 0
        self.now_ms = now_ms
        self.presses = []
        self.jammed = False  # driven but not moving (a stall)
        self.drives = 0  # how many times the outputs changed

    def advance(self, now_ms):
        """Move the deck for the time since the last call."""
        dt = (now_ms - self.now_ms) / 1000
        self.now_ms = now_ms
        if not self.jammed and dt > 0:
            self.position += self.direction * self.rate * dt
            self.position = min(20.0, max(-2.0, self.position))  # the mechanism's hard stops

    def position_raw(self):
        raw = int(self.raw_at_0 + self.position * self.raw_per_pct)
        return min(65535, max(0, raw))

    def drive(self, direction):
        if direction != self.direction:
            self.drives += 1
        self.direction = direction

    def buttons(self):
        presses = self.presses
        self.presses = []
        return presses

    def press(self, button):
        self.presses.append(button)
