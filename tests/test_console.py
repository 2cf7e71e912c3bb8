"""The console link end to end on the virtual treadmill: the firmware's logic on a simulated
motor behind a pseudo-terminal, the Pi's link over pyserial, the ramp-down in the sampler."""

import threading
import time

import pytest

from firmware import protocol as p
from firmware.link import FIRMWARE
from pi_service.console.link import BACKOFF_FIRST_S, ConsoleLink
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.sampler import Sampler
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.sim.console import SimConsole
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.conftest import make_config

CONFIG = """
[sampling]
rate_hz = 50  # the rate the ride ticks at: the bus budget and the bus thread's deadline follow it
[rules.steep_incline]
hold_s = 2
very_steep_hold_s = 2
[actions]
ramp_after_s = 1.5
ramp_to_pct = 8
ramp_rate_pct_s = 0.5
"""

CLIMB = """
name = "climb"
[[step]]
duration_s = 600
speed_kmh = 4
incline_pct = 10.8
"""


def wait_for(predicate, timeout, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def console():
    sim = SimConsole(12.0)
    sim.start()
    link = ConsoleLink(sim.path, loop_deadline_s=None)  # no sampling loop here: speak regardless
    link.start()
    yield sim, link
    link.close()
    sim.stop()


def test_the_link_finds_the_firmware_and_its_commands_are_acknowledged(console):
    sim, link = console
    wait_for(lambda: link.state.alive and link.state.firmware == FIRMWARE, 2)
    assert link.state.protocol == p.VERSION and link.state.console_hears_pi
    link.ramp_down(11.0, 0.5)
    wait_for(lambda: link.state.last_result is not None, 1)
    assert link.state.last_result[:2] == ("ramp", "ok")
    wait_for(lambda: link.state.ramp == p.RAMP_DONE, 5)
    assert abs(sim.position_pct() - 11.0) < 0.3
    link.ramp_down(13.0, 0.5)  # above the deck: the firmware refuses
    wait_for(lambda: link.state.last_result[1] != "ok", 1)
    assert link.state.last_result[1] == p.RESULT_NAMES[p.RESULT_REFUSED_RAISE]


def test_unplugged_is_noticed_within_a_second_and_replugged_reconnects(console):
    sim, link = console
    wait_for(lambda: link.state.alive, 2)
    pulled = time.monotonic()
    sim.unplug()
    noticed = wait_for(lambda: not link.state.alive, 1.0)
    assert noticed - pulled < 1.0 and link.state.error
    time.sleep(1.0)
    sim.plug()
    wait_for(lambda: link.state.alive, 5)
    assert link.state.reconnects >= 2


def test_garbage_on_the_wire_does_not_break_the_link(console):
    sim, link = console
    wait_for(lambda: link.state.alive, 2)
    for i in range(50):
        sim.send_raw(bytes((p.SYNC, 5, i, 0x81)) + bytes(range(i % 7)) + b"\xff\x00garbage")
        time.sleep(0.01)
        assert link.state.alive
    link.ramp_down(11.5, 0.5)
    wait_for(lambda: link.state.last_result is not None and link.state.last_result[1] == "ok", 1)


def test_a_stuck_console_is_noticed_and_the_port_retried_with_back_off(console):
    sim, link = console
    wait_for(lambda: link.state.alive, 2)
    stuck = time.monotonic()
    sim.silent = True
    noticed = wait_for(lambda: not link.state.alive, 1.0)
    assert noticed - stuck < 1.0
    reconnects = link.state.reconnects
    time.sleep(2.0)  # retries at 0.25 + 0.5 s, then 1 s: a few, not a storm
    assert 1 <= link.state.reconnects - reconnects <= 4
    sim.silent = False
    wait_for(lambda: link.state.alive, 5)


def test_a_port_that_is_not_there_is_retried_with_a_doubling_back_off():
    attempts = []

    def open_port(*args, **kwargs):
        attempts.append(time.monotonic())
        raise OSError(2, "No such file or directory")

    link = ConsoleLink("/dev/ttyNOPE", open_port=open_port)
    link.start()
    time.sleep(2.0)
    link.close()
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert len(attempts) in (3, 4), attempts
    assert gaps[0] >= BACKOFF_FIRST_S * 0.9 and gaps[1] >= 2 * BACKOFF_FIRST_S * 0.9
    assert "/dev/ttyNOPE" in link.state.error and not link.state.connected


class Ride:
    """The sampler on a virtual treadmill with its console, ticking at 50 Hz in this thread."""

    def __init__(self, config=CONFIG):
        self.config = make_config(config)
        self.treadmill = VirtualTreadmill(self.config, parse_scenario(CLIMB, "climb"), noise=True, seed=5)
        self.link = ConsoleLink(self.treadmill.console_port)
        sensors = Sensors(self.config, self.treadmill.open_bus, self.treadmill.pin_factory)
        self.sampler = Sampler(self.config, sensors, SnapshotBoard(), LoopStats(), treadmill=self.treadmill,
                               console=self.link)
        self.inclines: list[tuple[float, float]] = []
        self.treadmill.start()
        self.link.start()

    def run_until(self, predicate, timeout, then=None):
        end = time.monotonic() + timeout
        met = []

        def tick(t):
            self.sampler.tick(t)
            incline = self.sampler.last_sample.incline_pct
            if incline is not None:
                self.inclines.append((t, incline))
            if predicate():
                met.append(t)

        FixedRateLoop(50, tick, LoopStats()).run(lambda: bool(met) or time.monotonic() >= end)
        assert met, f"not within {timeout} s: ramp {self.sampler.responses.console_watch.ramp.status()}"
        return met[0]

    def kinds(self):
        return [(e["kind"], e["phase"], e.get("detail", {}).get("channel")) for e in self.sampler.alerts.recent]

    def close(self):
        self.link.close()
        self.treadmill.stop()


@pytest.fixture
def ride(request):
    ride = Ride(getattr(request, "param", CONFIG))
    yield ride
    ride.close()


def test_a_long_climb_is_nudged_then_ramped_down_at_the_set_rate_and_confirmed(ride):
    ramp = ride.sampler.responses.console_watch.ramp
    ride.run_until(lambda: ramp.state == "ramping", 15)
    assert ("steep_incline", "start", None) in ride.kinds()
    assert ride.sampler.responses.nudges.status(time.monotonic())["steep_incline"]["repeats"] >= 1
    started = len(ride.inclines)
    ride.run_until(lambda: ramp.state != "ramping", 20)
    assert ramp.state == "done", ramp.status()
    during = ride.inclines[started:]
    assert during[-1][1] < 8.6
    # No faster than 0.5 %/s over any 2 s, as the incline sensor measured it.
    for t0, x0 in during:
        for t1, x1 in during:
            if 2.0 <= t1 - t0 <= 2.05:
                assert x0 - x1 <= 0.5 * 2 + 0.35, (t0, x0, t1, x1)
    ride.run_until(lambda: ("steep_incline", "end", None) in ride.kinds(), 5)


def test_a_console_key_mid_ramp_cancels_it(ride):
    ramp = ride.sampler.responses.console_watch.ramp
    ride.run_until(lambda: ramp.state == "ramping" and ride.link.state.position_pct < 10.2, 20)
    ride.treadmill.console.press("stop")
    ride.run_until(lambda: ramp.state != "ramping", 2)
    assert ramp.state == "cancelled"
    held = ride.treadmill.console.position_pct()
    until = time.monotonic() + 1.5
    ride.run_until(lambda: time.monotonic() >= until, 3)
    assert abs(ride.treadmill.console.position_pct() - held) < 0.1  # it stopped where it was


def test_the_link_pulled_mid_ramp_the_console_finishes_and_the_sensor_confirms_it_then_recovers(ride):
    ramp = ride.sampler.responses.console_watch.ramp
    ride.run_until(lambda: ramp.state == "ramping" and ride.link.state.position_pct < 10.2, 20)
    pulled = time.monotonic()
    ride.treadmill.console.unplug()
    noticed = ride.run_until(lambda: ("sensor_fault", "start", "console") in ride.kinds(), 2)
    assert noticed - pulled < 1.0
    assert ramp.state == "ramping" and "finishes the ramp on its own" in ramp.reason
    # The firmware finishes the ramp by itself; the Pi's own incline sensor says it did.
    ride.run_until(lambda: ramp.state != "ramping", 15)
    assert ramp.state == "done" and "while the link was down" in ramp.reason, ramp.status()
    assert ride.treadmill.console.controller.ramp_state == p.RAMP_DONE
    assert abs(ride.treadmill.console.position_pct() - 8.0) < 0.3
    ride.treadmill.console.plug()
    ride.run_until(lambda: ("sensor_fault", "end", "console") in ride.kinds(), 8)
    assert ride.link.state.alive and ride.link.state.reconnects >= 2
    snapshot = ride.sampler.snapshot(ride.sampler.last_sample)
    assert snapshot["console"]["alive"] and not [f for f in snapshot["faults"] if f["channel"] == "console"]
    assert [e["detail"]["result"] for e in ride.sampler.alerts.recent if e["kind"] == "incline_ramp" and
            e["phase"] == "end"] == ["done"]


def test_a_console_that_stops_hearing_the_pi_gets_a_new_hello(console):
    sim, link = console
    wait_for(lambda: link.state.alive and link.state.flags & p.FLAG_LINK_OK, 2)
    # As if the Pi's HELLO had been lost: the console's idea of the sequence is far off,
    # so every frame from the Pi looks old to it.
    sim.link.seqs.last = (sim.link.seqs.last + 128) & 0xFF
    wait_for(lambda: not link.state.flags & p.FLAG_LINK_OK, 2)
    lost = time.monotonic()
    recovered = wait_for(lambda: link.state.flags & p.FLAG_LINK_OK, 3)
    assert recovered - lost < 2.0
    link.ramp_down(11.0, 0.5)
    wait_for(lambda: link.state.last_result is not None and link.state.last_result[1] == "ok", 2)


def test_a_command_queued_while_the_link_is_down_is_dropped_not_sent_on_reconnection(console):
    sim, link = console
    wait_for(lambda: link.state.alive, 2)
    sim.unplug()
    wait_for(lambda: not link.state.alive, 1.0)
    link.ramp_down(11.0, 0.5)
    wait_for(lambda: link.state.last_result is not None and link.state.last_result.command == "ramp", 5)
    assert link.state.last_result.result.startswith("not sent") and not link.state.last_result.acknowledged
    sim.plug()
    wait_for(lambda: link.state.alive, 6)
    time.sleep(1.0)
    # Never replayed late: the firmware did not start a ramp minutes after it was asked.
    assert sim.controller.ramp_state == p.RAMP_NONE and sim.controller.mode == p.MODE_IDLE


def test_a_stuck_sampling_loop_silences_the_link_and_the_firmware_stops_the_motor():
    sim = SimConsole(2.0)
    switched_off = []
    drive = sim.motor.drive

    def logged_drive(direction):
        if direction == 0 and sim.motor.direction != 0:
            switched_off.append(sim.motor.now_ms)
        drive(direction)

    sim.motor.drive = logged_drive
    sim.start()
    link = ConsoleLink(sim.path)  # speaks only while the loop ticks (0.2 s deadline)
    stuck = threading.Event()

    def loop():
        while not stuck.is_set():
            link.loop_ticked()
            time.sleep(0.01)

    ticker = threading.Thread(target=loop, daemon=True)
    ticker.start()
    link.start()
    try:
        wait_for(lambda: link.state.alive, 3)
        sim.press(12.0)  # a console key: a long move up
        wait_for(lambda: sim.motor.direction == p.MOTION_UP, 2)
        stuck.set()  # the loop hangs in a driver call
        stalled = time.monotonic()
        wait_for(lambda: not sim.controller.link_ok, 3)
        wait_for(lambda: sim.motor.direction == 0, 2)
        # The firmware's own clock: off within 500 ms of the last frame it heard from the Pi.
        assert switched_off and switched_off[-1] - sim.controller.last_heard_ms <= p.LINK_TIMEOUT_MS
        # ...and the Pi said nothing more while its loop was stuck.
        sent = link.frames_sent
        time.sleep(0.5)
        assert link.frames_sent == sent
        assert sim._t0 + sim.controller.last_heard_ms / 1000 - stalled < 1.0
        assert not link.state.alive and "does not hear the Pi" in link.state.error
        # The loop comes back: so does the link.
        stuck.clear()
        ticker = threading.Thread(target=loop, daemon=True)
        ticker.start()
        wait_for(lambda: link.state.alive and sim.controller.link_ok, 3)
    finally:
        stuck.set()
        link.close()
        sim.stop()


def test_a_console_that_does_not_hear_the_pi_is_a_link_fault(ride):
    ride.run_until(lambda: ride.link.state.alive, 5)
    ride.treadmill.console.deaf = True  # the wire from the Pi's TX broken: the console still talks
    ride.run_until(lambda: ("sensor_fault", "start", "console") in ride.kinds(), 3)
    state = ride.link.state
    assert state.receiving and not state.console_hears_pi and not state.alive
    (fault,) = [f for f in ride.sampler.snapshot(ride.sampler.last_sample)["faults"] if f["channel"] == "console"]
    assert "does not hear the Pi" in fault["reason"]
    ride.treadmill.console.deaf = False
    ride.run_until(lambda: ("sensor_fault", "end", "console") in ride.kinds(), 6)


SLOW_RAMP = CONFIG.replace("ramp_after_s = 1.5", "ramp_after_s = 60")


@pytest.mark.parametrize("ride", [SLOW_RAMP], indirect=True)
def test_the_console_and_the_incline_sensor_disagreeing_is_a_fault_that_blocks_the_ramp(ride):
    ride.run_until(lambda: ride.link.state.alive and (ride.sampler.last_sample.incline_pct or 0.0) > 10.5, 25)
    tilted = time.monotonic()
    ride.treadmill.deck_zero_deg = 1.8  # the accelerometer knocked askew: it reads about 3 % high
    noticed = ride.run_until(lambda: ("sensor_fault", "start", "incline_check") in ride.kinds(), 10)
    assert noticed - tilted >= 5.0  # disagreeing for 5 s first
    ramp = ride.sampler.responses.console_watch.ramp
    assert ("sensor_fault", "incline_check") in ride.sampler.alerts.active
    ride.treadmill.deck_zero_deg = 0.0
    ride.run_until(lambda: ("sensor_fault", "end", "incline_check") in ride.kinds(), 6)
    assert ramp.state in ("waiting", "announced")


@pytest.mark.parametrize("ride", [SLOW_RAMP.replace("ramp_after_s = 60", "ramp_after_s = 12")], indirect=True)
def test_a_faulty_incline_check_blocks_the_ramp_and_says_so(ride):
    ride.treadmill.deck_zero_deg = 1.8
    ramp = ride.sampler.responses.console_watch.ramp
    ride.run_until(lambda: ("sensor_fault", "start", "incline_check") in ride.kinds(), 20)
    ride.run_until(lambda: ramp.state == "blocked", 5)
    assert "disagree" in ramp.reason


def test_a_snooze_silences_the_buzzer_only_the_ramp_still_comes(ride):
    ramp = ride.sampler.responses.console_watch.ramp
    ride.sampler.command("snooze", "steep_incline", 600, time.monotonic())
    ride.run_until(lambda: ramp.state == "ramping", 15)


def test_a_lost_info_is_asked_for_again():
    """Found in the Pi in a box: the console heard the Pi's HELLO and answered INFO, the INFO
    was lost on the wire, and the link waited for it forever, since the console's STATUS
    said it heard the Pi and only a console that does not hear us got a new HELLO."""
    sim = SimConsole(3.0)
    real_frame, lost = sim.link.sender.frame, []

    def frame(kind, payload=b""):
        encoded = real_frame(kind, payload)
        if kind == p.INFO and not lost:
            lost.append(encoded)
            return b""  # on the wire and never arrived
        return encoded
    sim.link.sender.frame = frame
    sim.start()
    link = ConsoleLink(sim.path, loop_deadline_s=None)
    link.start()
    try:
        wait_for(lambda: link.state.alive, 5)
        assert lost and link.state.firmware == FIRMWARE and link.state.console_hears_pi
    finally:
        link.close()
        sim.stop()
