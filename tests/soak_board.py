"""The console's firmware logic as a board for the link soak (tests/console_soak.py): the
firmware's own controller and link on a simulated motor, stepped with bytes and time, and
a log of everything it did that an acknowledgement could claim.

Runs unchanged under CPython and MicroPython (Node.js steps it there), so it keeps to the
subset both run. Log entries are text, one per thing done, ";"-separated in `take_log`:
    x,<ms>,<seq>,<kind>,<payload hex>,<result>,<mode before>,<mode after>,<ramp state after>,<position>
    r,<ms>,<seq>                       a retry answered again without acting
    m,<ms>,<direction>,<position>      the motor's outputs changed
    k,<ms>,<key>                       a console key, as the controller took it
"""

import binascii

try:
    from firmware.controller import InclineController
    from firmware.link import FIRMWARE, PiLink
    from firmware.sim_motor import SimMotor
except ImportError:
    from controller import InclineController
    from link import FIRMWARE, PiLink
    from sim_motor import SimMotor


def hexlify(data):
    return binascii.hexlify(data).decode()


class LoggedLink(PiLink):
    def __init__(self, controller, log):
        PiLink.__init__(self, controller, FIRMWARE, now_ms=0)
        self.log = log
        self.seq = 0

    def receive(self, data, now_ms):
        retries = self.retries
        PiLink.receive(self, data, now_ms)
        if self.retries != retries:
            self.log.append("r,%d,%d" % (now_ms, self.seqs.last))

    def _execute(self, kind, payload, now_ms):
        c = self.controller
        before = c.mode
        result = PiLink._execute(self, kind, payload, now_ms)
        self.log.append("x,%d,%d,%d,%s,%d,%d,%d,%d,%.3f" % (now_ms, self.seqs.last, kind, hexlify(payload), result,
                                                             before, c.mode, c.ramp_state, c.position))
        return result


class Board:
    def __init__(self, position_pct):
        self.log = []
        self.now = 0
        self.keys = []
        # A motor faster than any ramp (the firmware's rate limit is what the deck follows),
        # so taking the deck back up for the next ramp takes seconds.
        self.motor = SimMotor(position_pct=position_pct, rate_pct_s=2.0, now_ms=0)
        self.controller = InclineController(self, now_ms=0)
        self.link = LoggedLink(self.controller, self.log)
        self.booted = False

    # the hardware interface of controller.py
    def position_raw(self):
        return self.motor.position_raw()

    def drive(self, direction):
        if direction != self.motor.direction:
            self.log.append("m,%d,%d,%.3f" % (self.now, direction, self.motor.position))
        self.motor.drive(direction)

    def buttons(self):
        keys = self.keys
        self.keys = []
        for key in keys:  # logged when the controller takes it, in the tick after the link's bytes
            self.log.append("k,%d,%s" % (self.now, key))
        return keys

    def press(self, key):
        if key not in ("up", "down", "stop"):
            key = float(key)
        self.keys.append(key)

    def step(self, now_ms, data):
        """One pass of the board's main loop: bytes from the Pi in, bytes to the Pi out."""
        self.now = now_ms
        if not self.booted:  # at power-on (a reboot too) the outputs are off
            self.log.append("m,%d,0,%.3f" % (now_ms, self.motor.position))
            self.booted = True
        self.motor.advance(now_ms)
        if data:
            self.link.receive(data, now_ms)
        self.controller.tick(now_ms)
        return self.link.poll(now_ms)

    def take_log(self):
        text = ";".join(self.log)
        del self.log[:]
        return text


board = None


def start(position_pct):
    """Power on (again: a reboot keeps only the deck where it is)."""
    global board
    board = Board(position_pct)


def step_hex(now_ms, data_hex, keys):
    """For Node.js: hex in, "<hex out>|<log>" back; `keys` comma-separated."""
    if keys:
        for key in keys.split(","):
            board.press(key)
    out = board.step(now_ms, binascii.unhexlify(data_hex) if data_hex else b"")
    return hexlify(out) + "|" + board.take_log()
