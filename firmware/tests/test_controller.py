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
    assert out[1] == (p.ACK, p.pack_ack(pi.seq, p.RESULT_OK, crc_of(ramp)))
    assert b.c.mode == p.MODE_RAMP and b.c.link_ok
    # The ACK was lost; the Pi resends the same frame: ACKed again, not executed again.
    started = b.c.ramp_start_ms
    link.receive(ramp, 200)
    out = frames(link.poll(201))
    assert (p.ACK, p.pack_ack(pi.seq, p.RESULT_OK, crc_of(ramp))) in out
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


def conversation(position=12.0):
    """A controller, its link, and the Pi's sender after the Pi's HELLO."""
    b = Bench(position)
    link = PiLink(b.c, "x", now_ms=0)
    pi = p.Sender()
    link.receive(pi.frame(p.HELLO), 0)
    return b, link, pi


def acks_in(data):
    return [p.unpack_ack(payload) for kind, payload in frames(data) if kind == p.ACK]


def crc_of(frame):
    return (frame[-2] << 8) | frame[-1]


def test_a_retry_after_a_later_frame_is_dropped_unanswered_and_not_executed():
    b, link, pi = conversation()
    command = pi.command(p.STOP_RAMP, b"", 0)
    b.c.ramp(5.0, 0.5, 0)
    link.receive(command, 1)  # carried out, but say its ACK is lost on the way back
    assert b.c.ramp_state == p.RAMP_STOPPED
    link.poll(2)
    b.c.ramp(5.0, 0.5, 50)  # (a new ramp, so a second STOP would show)
    link.receive(pi.frame(p.HEARTBEAT), 100)  # a later frame: the command is no longer the last one
    link.receive(command, 150)  # the old frame again: not a retry any more
    assert acks_in(link.poll(151)) == []  # unanswered: the Pi reports it as not acknowledged
    assert b.c.mode == p.MODE_RAMP  # and not carried out a second time


def test_a_retry_of_the_last_command_is_answered_again_without_acting_twice():
    b, link, pi = conversation()
    command = pi.command(p.RAMP, p.pack_ramp(6.0, 0.5), 0)
    link.receive(command, 1)
    started = b.c.ramp_start_ms
    link.poll(2)  # its ACK lost
    link.receive(pi.due(p.ACK_TIMEOUT_MS), 150)
    assert acks_in(link.poll(151)) == [(pi.seq, p.RESULT_OK, crc_of(command))]
    assert b.c.ramp_start_ms == started and link.retries == 1


def test_a_retry_later_than_the_retry_window_is_dropped():
    b, link, pi = conversation()
    command = pi.command(p.RAMP, p.pack_ramp(6.0, 0.5), 0)
    link.receive(command, 1)
    link.poll(2)
    link.receive(command, 2 + p.RETRY_WINDOW_MS)
    assert acks_in(link.poll(3 + p.RETRY_WINDOW_MS)) == []


def test_the_same_seq_with_another_payload_is_not_a_retry():
    b = Bench(12.0)
    link = PiLink(b.c, "x", now_ms=0)
    link.receive(p.encode(40, p.HELLO), 0)
    link.receive(p.encode(41, p.RAMP, p.pack_ramp(9.0, 0.5)), 10)
    link.poll(11)
    link.receive(p.encode(41, p.RAMP, p.pack_ramp(6.0, 0.5)), 20)  # seq 41 again, other bytes
    assert acks_in(link.poll(21)) == [] and b.c.target == 9.0


def wrap_then(link, pi, frames_between, now):
    """The Pi's heartbeats move its sequence on by `frames_between` frames."""
    for _ in range(frames_between):
        now += 5
        link.receive(pi.frame(p.HEARTBEAT), now)
        link.poll(now)
    return now


def test_a_new_stop_carrying_the_seq_of_an_old_stop_after_a_wrap_is_carried_out():
    # The bug this pins down: a STOP whose number came round again was answered from a
    # cache of old results: ACKed "ok", and the deck kept ramping.
    b, link, pi = conversation()
    link.receive(pi.command(p.RAMP, p.pack_ramp(5.0, 0.5), 0), 0)
    pi.acked(pi.seq, crc_of(pi.pending[1]))
    first_stop = pi.command(p.STOP_RAMP, b"", 10)
    link.receive(first_stop, 10)
    pi.acked(pi.seq, crc_of(first_stop))
    link.poll(11)
    assert b.c.ramp_state == p.RAMP_STOPPED
    now = wrap_then(link, pi, 254, 20)
    link.receive(pi.command(p.RAMP, p.pack_ramp(5.0, 0.5), now), now)  # a new ramp, running
    pi.acked(pi.seq, crc_of(pi.pending[1]))
    assert b.c.mode == p.MODE_RAMP
    link.poll(now)
    second_stop = pi.command(p.STOP_RAMP, b"", now + 5)
    assert second_stop == first_stop  # the very same bytes: seq 3 again, no payload
    link.receive(second_stop, now + 5)
    assert acks_in(link.poll(now + 6)) == [(pi.seq, p.RESULT_OK, crc_of(second_stop))]
    assert b.c.ramp_state == p.RAMP_STOPPED and b.c.mode == p.MODE_IDLE  # carried out


def test_a_new_ramp_carrying_the_seq_of_an_old_ramp_after_a_wrap_is_carried_out():
    b, link, pi = conversation()
    link.receive(pi.command(p.RAMP, p.pack_ramp(11.0, 0.5), 0), 0)
    first_seq = pi.seq
    link.poll(1)
    now = wrap_then(link, pi, 255, 10)
    link.receive(pi.command(p.RAMP, p.pack_ramp(7.0, 0.25), now), now)
    assert pi.seq == first_seq
    (ack,) = acks_in(link.poll(now + 1))
    assert ack[:2] == (first_seq, p.RESULT_OK) and ack[2] == crc_of(pi.pending[1])
    assert b.c.target == 7.0 and b.c.ramp_rate == 0.25


def test_an_ack_must_name_the_waiting_command_by_its_crc():
    pi = p.Sender()
    frame = pi.command(p.RAMP, p.pack_ramp(5.0, 0.5), 0)
    assert pi.acked(pi.seq, crc_of(frame) ^ 1) is None and pi.pending is not None
    assert pi.acked(pi.seq, crc_of(frame)) == p.RAMP and pi.pending is None


def test_a_command_lost_on_the_way_gets_through_on_its_retry():
    b, link, pi = conversation()
    pi.command(p.RAMP, p.pack_ramp(6.0, 0.5), 0)  # lost on the wire
    # (While a command waits for its ACK the Pi sends no heartbeat: its resends stand in.)
    link.receive(pi.due(p.ACK_TIMEOUT_MS), 150)
    acks = [p.unpack_ack(payload) for kind, payload in frames(link.poll(151)) if kind == p.ACK]
    assert len(acks) == 1 and acks[0][1] == p.RESULT_OK and b.c.mode == p.MODE_RAMP
