"""The sensor hub over the virtual treadmill: real drivers, simulated registers and pins."""

import pytest

from pi_service.config import Config
from pi_service.sampling.sensors import Sensors
from pi_service.signals.incline import LowPass
from pi_service.sim.adxl345_model import gravity_on_deck
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.conftest import make_config

STEADY = """
[[step]]
duration_s = 1000
speed_kmh = 6
incline_pct = 8
rail_left_n = 40
rail_right_n = 25
"""


def hub(clock, config: Config | None = None, scenario: str = STEADY):
    config = config or make_config("[incline]\nsmoothing_s = 0\n")
    treadmill = VirtualTreadmill(config, parse_scenario(scenario, "s"), speedup=1, noise=False, clock=clock)
    # The chip feels gravity on the tilted deck alone: with smoothing_s = 0 every sample is the
    # incline, and the world's belt-drive vibration and footstrikes (sim/world.py) would move it.
    world, axis = treadmill.world, config.incline.forward_axis
    treadmill.accelerometer.acceleration = lambda t: gravity_on_deck(world.deck_pitch_deg(t), axis)
    # The world starts where the scenario starts: settle it before reading.
    treadmill.world.state_at(clock() + 60)
    clock.advance(60)
    return Sensors(config, treadmill.open_bus, treadmill.pin_factory), treadmill


def tick(sensors, clock, n=1, period=0.01):
    sample = None
    for _ in range(n):
        clock.advance(period)
        sample = sensors.read(clock())
    return sample


def test_rails_and_incline_read_true_in_si_units(clock):
    sensors, _ = hub(clock)
    sample = tick(sensors, clock, 4)
    assert sample.rail_left_n == pytest.approx(40, abs=0.1)
    assert sample.rail_right_n == pytest.approx(25, abs=0.1)
    assert sample.incline_pct == pytest.approx(8, abs=0.2)
    assert sensors.faults() == []


def test_rails_are_pipelined_one_conversion_per_tick_without_waiting(clock):
    sensors, treadmill = hub(clock)
    tick(sensors, clock, 10)
    writes = treadmill.rails_adc.config_writes
    assert not writes[0] & 0x8000  # first, whatever the chip was doing is stopped (MODE=1, no start)
    starts = writes[1:]
    channels = [(w >> 12) & 0b11 for w in starts]
    assert channels[:6] == [0, 1, 0, 1, 0, 1] and all(w & 0x8000 for w in starts)
    assert len(starts) == 10  # then one start per tick: an idle chip is started in the same first tick


def test_a_chip_left_converting_continuously_on_the_other_channel_is_stopped_before_the_first_start(clock):
    sensors, treadmill = hub(clock)
    adc = treadmill.rails_adc
    # As another program (or a run before a crash) leaves it: continuous conversions of AIN1 at 8 SPS.
    adc.on_write(bytes([0x01, 0b0_101_001_0, 0b000_00011]))
    clock.advance(0.2)
    rails = [tick(sensors, clock) for _ in range(40)]
    lefts = [s.rail_left_n for s in rails if s.rail_left_n is not None]
    assert lefts and all(left == pytest.approx(40, abs=0.1) for left in lefts)  # never AIN1's 25 N as the left
    assert rails[-1].rail_right_n == pytest.approx(25, abs=0.1) and sensors.faults() == []


def test_nack_burst_raises_fault_and_device_recovers_by_itself(clock):
    sensors, treadmill = hub(clock)
    tick(sensors, clock, 4)
    treadmill.buses[1].inject(0x48, "nack", duration_s=0.3)
    sample = tick(sensors, clock)
    assert sample.rail_left_n is None and sample.rail_right_n is None
    faults = {f.channel: f for f in sensors.faults()}
    assert set(faults) == {"rail_left", "rail_right"}
    assert "NACK" in faults["rail_left"].reason
    assert sample.incline_pct is not None  # the other device on the bus carries on
    sample = tick(sensors, clock, 80)  # 0.8 s later, after back-off
    assert sensors.faults() == []
    assert sample.rail_left_n == pytest.approx(40, abs=0.1)
    assert sensors.device_errors()["ADS1115"] >= 1


def test_hung_bus_costs_one_timeout_per_try_and_is_not_tried_every_tick(clock):
    sensors, treadmill = hub(clock)
    tick(sensors, clock, 2)
    bus = treadmill.buses[1]
    bus.inject(0x48, "timeout")
    bus.inject(0x53, "timeout")
    before = bus.transfers
    worst = 0.0
    for _ in range(100):  # 1 s at 100 Hz
        start = clock()
        tick(sensors, clock)
        worst = max(worst, clock() - start - 0.01)
    # One 10 ms timeout per try (the other device on the hung bus is skipped that tick),
    # tries backing off 50 ms -> 1 s: at most six in a second.
    assert worst <= 0.0101
    assert bus.transfers - before <= 6
    assert {f.channel for f in sensors.faults()} == {"rail_left", "rail_right", "incline"}


def test_accelerometer_that_vanishes_is_reinitialised_when_it_returns(clock):
    sensors, treadmill = hub(clock)
    tick(sensors, clock, 2)
    treadmill.buses[1].inject(0x53, "vanish", duration_s=0.2)
    assert tick(sensors, clock).incline_pct is None
    sample = tick(sensors, clock, 150)
    # It came back from power-on (not measuring); the hub set it up again.
    assert sample.incline_pct == pytest.approx(8, abs=0.2)
    assert sensors.faults() == []


@pytest.mark.parametrize("footstrikes, reason", [
    ("false", "not about 1 g"),  # one reading per tick: the data registers read 0 g
    ("true", "FIFO empty for 0.5 s"),  # the FIFO: a reset chip bypasses it, and it stays empty
])
def test_accelerometer_reading_no_gravity_for_half_a_second_is_a_fault_not_zero_grade(clock, footstrikes, reason):
    config = make_config(f"[incline]\nsmoothing_s = 0\n[footstrikes]\nenabled = {footstrikes}\n")
    sensors, treadmill = hub(clock, config)
    tick(sensors, clock, 2)
    # A brown-out is a power-on reset: standby, data registers 0x00. (Clearing Measure alone would
    # not do: in standby the chip keeps its last sample, which reads as a steady deck.)
    treadmill.accelerometer.reset()
    assert tick(sensors, clock, 40).incline_pct == pytest.approx(8, abs=0.2)  # held while in doubt
    # Each tick also holds the bus for its transfers, so count ticks up to the fault, not a fixed number.
    for _ in range(30):
        if tick(sensors, clock).incline_pct is None:
            break
    else:
        pytest.fail("no fault after 0.7 s of readings far from 1 g")
    assert reason in sensors.faults()[0].reason
    assert tick(sensors, clock, 150).incline_pct == pytest.approx(8, abs=0.2)  # re-initialised, back


def test_footstrike_jolts_beyond_1_5_g_are_not_faults(clock):
    sensors, treadmill = hub(clock, make_config("[incline]\nsmoothing_s = 0.5\n"))
    steady = treadmill.accelerometer.acceleration

    def with_footstrikes(t):
        # A 3.5 g jolt of 10 ms per stride and the deck's rebound after it: the deck comes back
        # where it was, so the jolt averages out (a one-signed push would send the deck away).
        x, y, z = steady(t)
        phase = t % 0.6
        return (x, y, z + 25.0) if phase < 0.01 else (x, y, z - 5.0) if phase < 0.06 else (x, y, z)

    treadmill.accelerometer.acceleration = with_footstrikes
    tick(sensors, clock)  # starts the chip: its first sample comes 1.1 ms + 1/ODR later
    tick(sensors, clock, 100)  # the low-pass settles
    readings = [tick(sensors, clock).incline_pct for _ in range(600)]
    # Each jolt ripples the low-passed vector a little (its area over the time constant). That
    # a walker's jolts leave the mean where it was: tests/test_walker.py, through InclineEstimate.
    assert all(reading == pytest.approx(8, abs=0.6) for reading in readings)
    assert sensors.faults() == []


def test_low_pass_follows_a_step_with_its_time_constant():
    lp = LowPass(0.5)
    lp.update(0.0, 0.0)
    value = None
    for k in range(1, 51):
        value = lp.update(k * 0.01, 10.0)
    assert value == pytest.approx(10 * (1 - 2.718281828 ** -1), rel=1e-3)


def test_belt_speed_through_the_simulated_roller(clock):
    import time

    config = make_config("[incline]\nsmoothing_s = 0\n")
    treadmill = VirtualTreadmill(config, parse_scenario(STEADY.replace("speed_kmh = 6", "speed_kmh = 9"), "s"),
                                 noise=False)
    treadmill.world.state_at(time.monotonic() + 30)  # already up to speed
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    treadmill.start()
    try:
        time.sleep(0.6)
        assert sensors.read(time.monotonic()).speed_mps == pytest.approx(9 / 3.6, rel=0.01)
    finally:
        treadmill.stop()


def test_rail_conversion_that_never_completes_becomes_a_fault(clock):
    sensors, treadmill = hub(clock)
    tick(sensors, clock, 4)
    treadmill.rails_adc.stalled = True
    tick(sensors, clock, 3)
    assert {f.channel for f in sensors.faults()} == {"rail_left", "rail_right"}
    assert "not ready within two sample periods" in sensors.faults()[0].reason
    treadmill.rails_adc.stalled = False
    assert tick(sensors, clock, 120).rail_left_n == pytest.approx(40, abs=0.1)
