"""The rules start once every sensor has answered (sampling/start_up.py): a slow start is not a
sensor_fault (the Pi in a box once beeped one at every boot, which held back the next real
fault's nudge for a minute), and a sensor that never answers still is one."""

import logging
import time

from pi_service.core.sample import Sample
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.sampler import Sampler
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.start_up import START_UP_S, StartUp
from pi_service.sampling.stats import LoopStats
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.conftest import make_config

STANDING = "name = \"standing\"\n[[step]]\nduration_s = 1000\nspeed_kmh = 0\nincline_pct = 0\n"


def test_the_rules_begin_with_the_first_sample_in_which_every_channel_has_a_value():
    start = StartUp()
    assert not start.ready(Sample(10.0, None, None, None, None))
    assert not start.ready(Sample(10.3, None, 0.0, 0.0, None))
    assert start.ready(Sample(10.45, 0.0, 0.0, 0.0, 0.0))
    assert start.ready(Sample(10.46, None, None, None, None))  # and every sample after it
    assert start.began_t == 10.45 and start.missing == ()
    assert "answered 0.45 s after the first tick" in start.describe()


def test_a_channel_that_never_answers_lets_the_rules_begin_after_the_allowance():
    start = StartUp()
    t = 5.0
    while not start.ready(Sample(t, 0.0, 0.0, None, 0.0)):
        t += 0.01
    assert t - 5.0 >= START_UP_S and t - 5.0 < START_UP_S + 0.02
    assert start.missing == ("rail_left_n",) and "no reading from rail_left_n" in start.describe()


def run(sampler, seconds):
    end = time.monotonic() + seconds
    FixedRateLoop(100, sampler.tick, LoopStats()).run(lambda: time.monotonic() >= end)


def rig(vanished: int | None = None):
    config = make_config("[sampling]\nrate_hz = 100\n[console]\nenabled = false\n")
    treadmill = VirtualTreadmill(config, parse_scenario(STANDING, "standing"), noise=False)
    if vanished is not None:
        treadmill.buses[1].inject(vanished, "vanish", duration_s=60)
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    board = SnapshotBoard()
    return treadmill, sensors, board, Sampler(config, sensors, board, LoopStats(), treadmill=treadmill)


def faults(sampler):
    return sorted((e["detail"]["channel"], e["phase"]) for e in sampler.alerts.recent if e["kind"] == "sensor_fault")


def test_a_first_tick_then_a_pause_is_a_slow_start_not_a_sensor_fault(caplog):
    treadmill, sensors, board, sampler = rig()
    treadmill.start()
    try:
        with caplog.at_level(logging.INFO, logger="pi_service.sampling.sampler"):
            sampler.tick(time.monotonic())  # the first snapshot, everything still unknown ...
            assert board.read()["speed_mps"] is None
            time.sleep(0.8)  # ... then the daemon reports ready, slowly: longer than a fault takes
            run(sampler, 3.0)
    finally:
        treadmill.stop()
        sensors.close()
    assert faults(sampler) == []
    assert [a for a in board.read()["alerts"] if a["kind"] == "sensor_fault"] == []
    assert "rules started: every sensor answered" in caplog.text


def test_a_sensor_missing_from_the_start_is_a_sensor_fault_once_the_allowance_is_over(caplog):
    treadmill, sensors, board, sampler = rig(vanished=0x48)  # the rails' ADC
    treadmill.start()
    try:
        with caplog.at_level(logging.INFO, logger="pi_service.sampling.sampler"):
            first = time.monotonic()
            run(sampler, START_UP_S + 1.5)
    finally:
        treadmill.stop()
        sensors.close()
    raised = {e["detail"]["channel"]: e["t"] - first for e in sampler.alerts.recent
              if e["kind"] == "sensor_fault" and e["phase"] == "start"}
    assert set(raised) == {"rail_left", "rail_right"}, raised
    assert all(START_UP_S + 0.5 - 0.05 <= t <= START_UP_S + 0.5 + 0.1 for t in raised.values()), raised
    assert "no reading from rail_left_n, rail_right_n" in caplog.text
