"""The incline controller and its link to the Pi; run under CPython and MicroPython (see run.py)."""

try:
    from firmware import protocol as p
    from firmware.controller import InclineController
    from firmware.link import PiLink
    from firmware.sim_motor import SimMotor
except ImportError:
    import protocol as p
    from controller import InclineController
    from link import PiLink
    from sim_motor import SimMotor

STEP_MS = 10


class Bench:
    """A controller on a simulated motor, with the Pi's heartbeat while `pi_alive`."""

    def __init__(self, position=12.0, motor_rate=0.6):
        self.now = 0
        self.motor = SimMotor(position_pct=position, rate_pct_s=motor_rate)
        self.c = InclineController(self.motor, now_ms=0)
        for _ in range(20):  # let the position's running average settle
            self.c.tick(0)
        self.pi_alive = True
        self.positions = []

    def run(self, ms):
        end = self.now + ms
        while self.now < end:
            self.now += STEP_MS
            self.motor.advance(self.now)
            if self.pi_alive and self.now % 100 == 0:
                self.c.heard(self.now)
            self.c.tick(self.now)
            self.positions.append((self.now, self.motor.position))


def test_ramp_down_reaches_the_target_no_faster_than_the_rate():
    b = Bench(12.0, motor_rate=2.0)  # a motor four times faster than the ramp
    b.c.heard(0)
    assert b.c.ramp(5.0, 0.5, 0) == p.RESULT_OK
    b.run(20_000)
    assert b.c.ramp_state == p.RAMP_DONE and b.c.mode == p.MODE_IDLE
    assert 4.6 <= b.motor.position <= 5.3, b.motor.position
    # Over any 2 s window the deck fell by no more than the rate allows (plus the deadband).
    for (t0, x0) in b.positions[::50]:
        for (t1, x1) in b.positions:
            if t1 - t0 == 2000:
                assert x0 - x1 <= 0.5 * 2 + 0.3, (t0, x0, x1)
    assert all(x1 <= x0 + 1e-9 for (_, x0), (_, x1) in zip(b.positions, b.positions[1:]))  # never up


def test_a_ramp_that_would_raise_is_refused_and_the_rate_is_capped():
    b = Bench(4.0)
    assert b.c.ramp(6.0, 0.5, 0) == p.RESULT_REFUSED_RAISE
    assert b.c.mode == p.MODE_IDLE
    assert b.c.ramp(2.0, 5.0, 0) == p.RESULT_RATE_CAPPED and b.c.ramp_rate == 1.0
    assert b.c.ramp(2.0, 0.0, 0) == p.RESULT_REFUSED_ARGS
    assert b.c.ramp(-30.0, 0.5, 0) == p.RESULT_REFUSED_ARGS


def test_a_console_button_cancels_the_ramp_and_does_what_it_says():
    b = Bench(12.0)
    b.c.ramp(5.0, 0.5, 0)
    b.run(3000)
    during = b.motor.position
    assert during < 11.5
    b.motor.press("up")
    b.run(3000)
    assert b.c.ramp_state == p.RAMP_CANCELLED
    assert abs(b.motor.position - (during + 0.5)) < 0.4  # one step up, the person's choice
    assert b.c.presses == 1


def test_without_the_pi_a_ramp_under_way_is_finished():
    b = Bench(10.0)
    b.c.ramp(6.0, 0.5, 0)
    b.run(2000)
    b.pi_alive = False
    b.run(15_000)
    assert not b.c.link_ok
    assert b.c.ramp_state == p.RAMP_DONE and abs(b.motor.position - 6.0) < 0.4


def test_without_the_pi_anything_else_stops():
    b = Bench(2.0)
    b.motor.press(10)  # a preset key: a long move up
    b.run(1000)
    assert b.motor.direction == p.MOTION_UP
    b.pi_alive = False
    b.run(400)
    assert b.motor.direction == p.MOTION_UP  # still within the 500 ms
    b.run(300)
    assert b.motor.direction == p.MOTION_STOPPED and b.c.mode == p.MODE_IDLE


def test_soft_limits_hold_whatever_is_asked():
    b = Bench(14.5)
    b.motor.press(40)
    b.run(5000)
    assert b.motor.position <= 15.2
    b.motor.press("down")
    for _ in range(40):
        b.motor.press("down")
    b.run(40_000)
    assert b.motor.position >= -0.2


def test_a_stalled_motor_is_switched_off_and_the_ramp_reported():
    b = Bench(12.0)
    b.motor.jammed = True
    b.c.ramp(5.0, 0.5, 0)
    b.run(5000)
    assert b.c.stalled and b.motor.direction == 0 and b.c.ramp_state == p.RAMP_FAULT
    assert b.c.flags() & p.FLAG_STALL


def test_a_manual_move_refuses_a_ramp_until_it_is_over():
    b = Bench(2.0)
    b.motor.press(4)
    b.run(200)
    assert b.c.ramp(1.0, 0.5, b.now) == p.RESULT_REFUSED_BUSY


def frames(data):
    return [(kind, payload) for _, kind, payload in p.Parser().feed(data)]


def test_the_link_answers_hello_acks_commands_once_and_sends_status():
    b = Bench(12.0)
    link = PiLink(b.c, "incline-test", now_ms=0)
    pi = p.Sender()
    out = frames(link.poll(0))
    assert [k for k, _ in out] == [p.HELLO, p.STATUS]
    link.receive(pi.frame(p.HELLO), 0)
    ramp = pi.command(p.RAMP, p.pack_ramp(5.0, 0.5), 0)
    link.receive(ramp, 1)
    out = frames(link.poll(2))
    assert out[0] == (p.INFO, p.pack_info("incline-test"))
    assert out[1] == (p.ACK, p.pack_ack(pi.seq, p.RESULT_OK))
    assert b.c.mode == p.MODE_RAMP and b.c.link_ok
    # The ACK was lost; the Pi resends the same frame: ACKed again, not executed again.
    started = b.c.ramp_start_ms
    link.receive(ramp, 200)
    out = frames(link.poll(201))
    assert (p.ACK, p.pack_ack(pi.seq, p.RESULT_OK)) in out
    assert b.c.ramp_start_ms == started
    # A heartbeat of STATUS at least every 100 ms.
    sent = []
    for now in range(300, 1000, 10):
        b.c.tick(now)
        sent += [(now, kind) for kind, _ in frames(link.poll(now))]
    times = [now for now, kind in sent if kind == p.STATUS]
    assert times and max(b2 - a2 for a2, b2 in zip([300] + times, times + [1000])) <= 110


def test_old_frames_are_dropped_by_the_link():
    b = Bench(12.0)
    link = PiLink(b.c, "x", now_ms=0)
    link.receive(p.encode(10, p.HELLO), 0)
    link.receive(p.encode(11, p.HEARTBEAT), 0)
    link.receive(p.encode(9, p.RAMP, p.pack_ramp(5.0, 0.5)), 0)  # from before: ignored
    assert b.c.mode == p.MODE_IDLE and link.dropped == 1


def test_a_retry_after_the_heartbeats_moved_on_is_acknowledged_and_not_executed_twice():
    b = Bench(12.0)
    link = PiLink(b.c, "x", now_ms=0)
    pi = p.Sender()
    link.receive(pi.frame(p.HELLO), 0)
    command = pi.command(p.STOP_RAMP, b"", 0)
    b.c.ramp(5.0, 0.5, 0)
    link.receive(command, 1)  # carried out, but say its ACK is lost on the way back
    assert b.c.ramp_state == p.RAMP_STOPPED
    link.poll(2)
    b.c.ramp(5.0, 0.5, 50)  # (a new ramp, so a second STOP would show)
    link.receive(pi.frame(p.HEARTBEAT), 100)  # the Pi's heartbeat moves the sequence on
    link.receive(pi.due(p.ACK_TIMEOUT_MS), 150)  # the retry, with the command's older seq
    acks = [payload for kind, payload in frames(link.poll(151)) if kind == p.ACK]
    assert acks == [p.pack_ack(pi.seq - 1, p.RESULT_OK)]
    assert b.c.mode == p.MODE_RAMP  # not stopped a second time


def test_a_command_lost_on_the_way_gets_through_on_its_retry():
    b = Bench(12.0)
    link = PiLink(b.c, "x", now_ms=0)
    pi = p.Sender()
    link.receive(pi.frame(p.HELLO), 0)
    pi.command(p.RAMP, p.pack_ramp(6.0, 0.5), 0)  # lost on the wire
    # (While a command waits for its ACK the Pi sends no heartbeat: its resends stand in.)
    link.receive(pi.due(p.ACK_TIMEOUT_MS), 150)
    acks = [p.unpack_ack(payload) for kind, payload in frames(link.poll(151)) if kind == p.ACK]
    assert len(acks) == 1 and acks[0][1] == p.RESULT_OK and b.c.mode == p.MODE_RAMP
