"""The virtual treadmill's walker and deck (sim/walker.py, sim/world.py): footstrikes at the
scenario's cadence, jolts that follow speed and weight, nobody stepping while the belt is
stopped or the walker is on the side rails, the belt drive's vibration at the roller's
frequency; and end to end through the ADXL345 model's 400 Hz FIFO, the incline unbiased by
walking and the footstrike detector hearing the walker's cadence."""

import math
from statistics import mean, median

import numpy as np
import pytest

from pi_service.config import Config
from pi_service.errors import ConfigError
from pi_service.signals.incline import InclineEstimate
from pi_service.signals.footstrikes import FootstrikeDetector
from pi_service.sim.scenario import load_scenario, parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from pi_service.sim.walker import JOLT_SPAN_S, JOLT_TAU_S, default_cadence_spm, jolt_peak_g, jolt_shape
from pi_service.sim.world import MOTOR_PULLEY_RATIO, World
from pi_service.units import STANDARD_GRAVITY as G
from tests.conftest import FakeClock, make_config

# The ADXL345's registers (data sheet Rev. G, Table 19), written out as the strict tests do.
ADDRESS, BW_RATE, POWER_CTL, DATA_FORMAT, DATAX0, FIFO_CTL, FIFO_STATUS = 0x53, 0x2C, 0x2D, 0x31, 0x32, 0x38, 0x39
RATE_400_HZ, MEASURE, FULL_RES_16G, STREAM, OVERRUN, INT_SOURCE = 0x0C, 0x08, 0x0B, 0x80, 0x01, 0x30
LSB_G = 0.0039


def steady(speed_kmh, cadence_spm=None, incline_pct=0.0, off_belt=False, mass_kg=75.0):
    cadence = "" if cadence_spm is None else f"cadence_spm = {cadence_spm}\n"
    return parse_scenario(f"walker_mass_kg = {mass_kg}\n[[step]]\nduration_s = 10000\nspeed_kmh = {speed_kmh}\n"
                          f"incline_pct = {incline_pct}\n{cadence}off_belt = {str(off_belt).lower()}\n", "s")


def settled_world(scenario, noise=True, seed=1, settle_s=30.0, **options):
    """A world already up to the scenario's speed (the console ramps the belt up gently)."""
    clock = FakeClock()
    world = World(scenario, clock, noise=noise, seed=seed, **options)
    world.state_at(clock() + settle_s)
    clock.advance(settle_s)
    return world, clock


def walk_for(world, clock, seconds, step_s=0.05):
    start = clock()
    while clock() < start + seconds:
        clock.advance(step_s)
        world.state_at()
    return world.footstrikes_between(start, clock())


# The cadence

def test_default_cadence_walks_near_110_runs_near_165_and_rises_smoothly_with_speed():
    assert all(105 <= default_cadence_spm(v) <= 120 for v in (3.5, 4.0, 4.5, 5.0))
    assert default_cadence_spm(10) == pytest.approx(165, abs=1)
    assert default_cadence_spm(7) < 135 < 150 < default_cadence_spm(8)  # the walk turns to a run at 7-8 km/h
    speeds = [k / 10 for k in range(301)]
    cadences = [default_cadence_spm(v) for v in speeds]
    assert all(b > a for a, b in zip(cadences, cadences[1:]))
    assert max(b - a for a, b in zip(cadences, cadences[1:])) < 3.5  # spm per 0.1 km/h: no jump
    assert 40 <= min(cadences) and max(cadences) <= 240


@pytest.mark.parametrize("cadence_spm", [90, 110, 140, 165, 190])
def test_the_walkers_footstrikes_come_at_its_cadence(cadence_spm):
    exact, clock = settled_world(steady(6, cadence_spm), noise=False)
    strikes = walk_for(exact, clock, 20)
    intervals = [b.t - a.t for a, b in zip(strikes, strikes[1:])]
    assert intervals and all(i == pytest.approx(60 / cadence_spm, rel=1e-9) for i in intervals)
    assert exact.cadence_spm() == cadence_spm

    natural, clock = settled_world(steady(6, cadence_spm), noise=True, seed=cadence_spm)
    strikes = walk_for(natural, clock, 60)
    intervals = [b.t - a.t for a, b in zip(strikes, strikes[1:])]
    assert len(strikes) == pytest.approx(cadence_spm, abs=2)
    assert 60 / mean(intervals) == pytest.approx(cadence_spm, rel=0.005)
    spread = [i * cadence_spm / 60 - 1 for i in intervals]
    assert max(spread) <= 0.0201 and min(spread) >= -0.0201 and max(spread) - min(spread) > 0.02  # +-2 %, and varied


def test_without_a_cadence_the_walker_steps_as_the_belt_speed_says():
    for speed_kmh in (3.5, 5, 10, 14):
        world, clock = settled_world(steady(speed_kmh), noise=False)
        strikes = walk_for(world, clock, 10)
        assert world.cadence_spm() == pytest.approx(default_cadence_spm(speed_kmh))
        assert 60 / (strikes[1].t - strikes[0].t) == pytest.approx(default_cadence_spm(speed_kmh))


def test_a_cadence_change_between_steps_is_smooth_no_double_step_and_no_gap():
    scenario = parse_scenario("[[step]]\nduration_s = 40\nspeed_kmh = 6\ncadence_spm = 110\n"
                              "[[step]]\nduration_s = 40\ncadence_spm = 165\n", "s")
    world, clock = settled_world(scenario, noise=False, settle_s=35)
    strikes = walk_for(world, clock, 10, step_s=0.0137)
    intervals = [b.t - a.t for a, b in zip(strikes, strikes[1:])]
    assert min(intervals) >= 60 / 165 - 1e-9 and max(intervals) <= 60 / 110 + 1e-9
    assert intervals[0] == pytest.approx(60 / 110) and intervals[-1] == pytest.approx(60 / 165)


# The jolts

def test_a_jolt_starts_at_zero_peaks_within_5_ms_swings_back_and_integrates_to_zero():
    ts = np.arange(0.0, JOLT_SPAN_S, 1e-5)
    shape = np.array([jolt_shape(t) for t in ts])
    assert jolt_shape(0.0) == 0.0 and jolt_shape(-0.001) == 0.0 and jolt_shape(JOLT_SPAN_S) == 0.0
    assert shape.max() == pytest.approx(1.0, abs=1e-6)
    assert ts[shape.argmax()] == pytest.approx(0.416 * JOLT_TAU_S, abs=2e-5)
    assert shape.min() == pytest.approx(-0.573, abs=0.002)  # the deck springs back
    # The shape starts and ends at 0, so a plain sum over the fine grid is its integral.
    assert abs(shape.sum()) < 1e-5 * np.abs(shape).sum()


def test_jolts_grow_with_the_belts_speed_and_the_walkers_mass():
    peaks = {}
    for speed_kmh in (4, 10):
        for mass_kg in (60, 90):
            world, clock = settled_world(steady(speed_kmh, mass_kg=mass_kg), noise=True, seed=7)
            strikes = walk_for(world, clock, 20)
            peaks[speed_kmh, mass_kg] = mean(s.peak_g for s in strikes)
            expected = mass_kg / 75 * (0.15 + 0.09 * speed_kmh)
            assert jolt_peak_g(speed_kmh, mass_kg) == pytest.approx(expected)
            assert all(0.9 * expected <= s.peak_g <= 1.1 * expected for s in strikes)
            assert peaks[speed_kmh, mass_kg] == pytest.approx(expected, rel=0.04)
    assert peaks[4, 60] < peaks[4, 90] < peaks[10, 90] and peaks[4, 60] < peaks[10, 60] < peaks[10, 90]
    # What the deck feels at a footstrike's top is the jolt, on top of the drive's small vibration.
    world, clock = settled_world(steady(10, mass_kg=90), noise=False)
    strike = walk_for(world, clock, 2)[-1]
    top = world.deck_vibration_mps2(strike.t + 0.416 * JOLT_TAU_S) / G
    assert top == pytest.approx(strike.peak_g, abs=0.1)


def test_nobody_steps_on_a_stopped_belt_or_from_the_side_rails_and_off_belt_lasts_one_step():
    scenario = parse_scenario("""
[[step]]
duration_s = 10
note = "standing on the belt, stopped"
[[step]]
duration_s = 30
speed_kmh = 8
off_belt = true
note = "on the side rails, the belt running"
[[step]]
duration_s = 20
note = "back on the belt"
""", "s")
    clock = FakeClock()
    world = World(scenario, clock, noise=True, seed=2)
    assert walk_for(world, clock, 10) == [] and world.cadence_spm() == 0
    off = walk_for(world, clock, 29.5)
    assert world.state_at().speed_mps == pytest.approx(8 / 3.6) and off == [] and world.cadence_spm() == 0
    # With nobody walking, the deck feels only the drive and the noise: below the smallest footstrike.
    shaking = [abs(world.deck_vibration_mps2(clock() - k * 0.0025)) / G for k in range(400)]
    assert 0.03 < max(shaking) < Config().footstrikes.min_peak_g
    clock.advance(0.5)
    back = walk_for(world, clock, 10)
    assert len(back) == pytest.approx(10 * default_cadence_spm(8) / 60, abs=2)
    assert back[0].t - (clock() - 10) < 60 / default_cadence_spm(8) * 1.02 + 0.02  # the first step an interval on


def test_a_jolt_asked_for_after_the_world_moved_on_is_what_it_was():
    # The chip's FIFO samples are up to 33 periods old when read: the world answers for them as
    # it would have then. Two identical worlds, one asked in time order, one 0.5 s after.
    prompt, clock_a = settled_world(steady(9), noise=True, seed=4)
    late, clock_b = settled_world(steady(9), noise=True, seed=4)
    t0 = clock_a()
    values_a, values_b = [], []
    for k in range(1, 1201):
        t = t0 + k / 400
        clock_a.t = t
        values_a.append(prompt.deck_vibration_mps2(t))
        clock_b.t = t + 0.5
        late.state_at()
        values_b.append(late.deck_vibration_mps2(t))
    assert max(abs(v) for v in values_a) > 0.5 * G  # footstrikes among them
    assert values_b == pytest.approx(values_a, abs=1e-6)


# The belt drive

def spectrum(world, clock, seconds=4.0, rate_hz=2000.0):
    start = clock()
    signal = []
    for k in range(int(seconds * rate_hz)):
        clock.t = start + k / rate_hz
        signal.append(world.deck_vibration_mps2(clock.t) / G)
    signal = np.array(signal)
    power = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return np.fft.rfftfreq(len(signal), 1 / rate_hz), power, math.sqrt(float(np.mean(signal ** 2)))


@pytest.mark.parametrize("speed_kmh, roller_m", [(5, 0.05), (12, 0.05), (12, 0.07)])
def test_the_drive_shakes_the_deck_at_the_rollers_turning_rate_and_the_motors(speed_kmh, roller_m):
    world, clock = settled_world(steady(speed_kmh, off_belt=True), noise=False, roller_diameter_m=roller_m)
    freqs, power, rms_g = spectrum(world, clock)
    roller_hz = speed_kmh / 3.6 / (math.pi * roller_m)
    strongest = freqs[np.argsort(power)[::-1]]
    assert strongest[0] == pytest.approx(roller_hz, abs=0.5)
    second = next(f for f in strongest if abs(f - roller_hz) > 1.0)
    assert second == pytest.approx(MOTOR_PULLEY_RATIO * roller_hz, abs=0.5)
    amplitude_g = 0.02 + 0.01 * speed_kmh / 3.6
    assert rms_g == pytest.approx(amplitude_g * math.sqrt((1 + 0.5 ** 2) / 2), rel=0.05)


def test_the_drive_vibration_is_there_without_a_walker_and_stops_with_the_belt():
    moving, clock = settled_world(steady(10, off_belt=True), noise=False)
    _, _, moving_rms = spectrum(moving, clock, seconds=1)
    stopped, clock = settled_world(steady(0), noise=False)
    _, _, stopped_rms = spectrum(stopped, clock, seconds=1)
    slower, clock = settled_world(steady(4, off_belt=True), noise=False)
    _, _, slower_rms = spectrum(slower, clock, seconds=1)
    assert stopped_rms == 0.0 and 0 < slower_rms < moving_rms


# End to end: the walker through the ADXL345 model's FIFO at 400 Hz

class DeckChip:
    """The virtual treadmill's ADXL345 at 400 Hz, full resolution +-16 g, its FIFO streaming,
    read in one burst per 10 ms tick as the sampler does; sample times count the chip's periods."""

    def __init__(self, scenario, seed=1, noise=True, settle_s=30.0):
        self.clock = FakeClock()
        config = make_config("[console]\nenabled = false\n")
        self.treadmill = VirtualTreadmill(config, scenario, speedup=1, noise=noise, clock=self.clock, seed=seed)
        self.treadmill.world.state_at(self.clock() + settle_s)
        self.clock.advance(settle_s)
        self.bus = self.treadmill.open_bus(config.incline.i2c_bus)
        for register, value in ((BW_RATE, RATE_400_HZ), (DATA_FORMAT, FULL_RES_16G), (FIFO_CTL, STREAM),
                                (POWER_CTL, MEASURE)):
            self.bus.write_byte_data(ADDRESS, register, value)
        self.t = self.clock()
        self.overruns = 0

    def tick(self):
        """Advance 10 ms and read what the FIFO holds: [(t, (x, y, z) m/s^2)]."""
        self.clock.advance(0.01)
        if self.bus.read_byte_data(ADDRESS, INT_SOURCE) & OVERRUN:
            self.overruns += 1
        entries = self.bus.read_byte_data(ADDRESS, FIFO_STATUS) & 0x3F
        samples = []
        for _ in range(entries):
            data = bytes(self.bus.read_i2c_block_data(ADDRESS, DATAX0, 6))
            self.t += 1 / 400
            counts = [int.from_bytes(data[i:i + 2], "little", signed=True) for i in (0, 2, 4)]
            samples.append((self.t, tuple(c * LSB_G * G for c in counts)))
        return samples


@pytest.mark.parametrize("speed_kmh", [4, 10, 16])
def test_walking_does_not_tilt_the_incline_read_from_the_low_passed_gravity_vector(speed_kmh):
    chip = DeckChip(steady(speed_kmh, incline_pct=10), seed=speed_kmh)
    estimate = InclineEstimate(Config().incline.smoothing_s)
    grades = []
    for k in range(1500):
        for t, acceleration in chip.tick():
            grade = estimate.update(t, acceleration, Config().incline)
            if k >= 300:
                grades.append(grade)
    assert chip.overruns == 0
    assert chip.treadmill.world.footstrikes_between(chip.clock() - 12, chip.clock())  # walking all along
    assert mean(grades) == pytest.approx(10.0, abs=0.1)


def cadence_through_the_chip(scenario, seed, seconds=15.0, warm_up_s=5.0):
    chip = DeckChip(scenario, seed=seed)
    detector = FootstrikeDetector(Config().footstrikes.min_peak_g, Config().footstrikes.refractory_s)
    readings = []
    for k in range(int(seconds * 100)):
        for t, (_, _, z) in chip.tick():
            detector.feed(t, z)
        if k >= warm_up_s * 100 and k % 50 == 0:
            readings.append(detector.reading(chip.clock()))
    assert chip.overruns == 0
    return readings, detector, chip


@pytest.mark.parametrize("cadence_spm", [90, 110, 140, 165, 190])
@pytest.mark.parametrize("gait, speed_kmh", [("walking", 4), ("running", 10)])
def test_the_detector_hears_the_walkers_cadence_through_the_chip(cadence_spm, gait, speed_kmh):
    readings, detector, chip = cadence_through_the_chip(steady(speed_kmh, cadence_spm), seed=cadence_spm)
    assert all(c == pytest.approx(cadence_spm, rel=0.02) for c, _ in readings), readings
    strikes = chip.treadmill.world.footstrikes_between(chip.clock() - 10, chip.clock())
    assert median(g for _, g in readings) == pytest.approx(median(s.peak_g for s in strikes), rel=0.15)


@pytest.mark.parametrize("speed_kmh", [3, 10, 16, 20])
def test_a_running_belt_with_nobody_on_it_makes_no_footstrikes_through_the_chip(speed_kmh):
    readings, detector, chip = cadence_through_the_chip(steady(speed_kmh, off_belt=True), seed=1, seconds=20)
    assert chip.treadmill.world.state_at().speed_mps == pytest.approx(speed_kmh / 3.6)
    assert detector.footstrikes == 0 and set(readings) == {(0.0, 0.0)}


# Scenario files

def test_a_scenario_sets_cadence_off_belt_and_the_walkers_mass():
    scenario = parse_scenario("""
walker_mass_kg = 92.5
[[step]]
duration_s = 10
speed_kmh = 9
cadence_spm = 140
[[step]]
duration_s = 10
off_belt = true
[[step]]
duration_s = 10
speed_kmh = 4
""", "s.toml")
    assert scenario.walker_mass_kg == 92.5
    first, second, third = scenario.steps
    assert (first.cadence_spm, first.off_belt) == (140, False)
    assert (second.cadence_spm, second.off_belt) == (140, True)  # the number carries over ...
    assert (third.cadence_spm, third.off_belt) == (140, False)  # ... standing on the rails does not
    assert parse_scenario("[[step]]\nduration_s = 1\n", "s").walker_mass_kg == 75
    assert parse_scenario("[[step]]\nduration_s = 1\n", "s").steps[0].cadence_spm is None


@pytest.mark.parametrize("text, message", [
    ("[[step]]\nduration_s = 1\ncadence_spm = 30\n",
     r"^s.toml:3: step.cadence_spm: Input should be greater than or equal to 40 \(got 30\)$"),
    ("[[step]]\nduration_s = 1\n[[step]]\nduration_s = 1\ncadence_spm = 250\n",
     r"^s.toml:5: step.cadence_spm: Input should be less than or equal to 240 \(got 250\)$"),
    ("[[step]]\nduration_s = 1\noff_belt = \"yes\"\n", r"^s.toml:3: step.off_belt: Input should be a valid boolean"),
    ("[[step]]\nduration_s = 1\noff_belt = 1\n", r"^s.toml:3: step.off_belt: Input should be a valid boolean"),
    ("walker_mass_kg = 500\n[[step]]\nduration_s = 1\n",
     r"^s.toml:1: walker_mass_kg: Input should be less than or equal to 250 \(got 500\)$"),
    ("walker_mass_kg = \"75\"\n[[step]]\nduration_s = 1\n",
     r"^s.toml:1: walker_mass_kg: Input should be a valid number"),
    ("[[step]]\nduration_s = 1\ncadence = 100\n", r"^s.toml:3: step.cadence: unknown key"),
])
def test_a_bad_walker_value_is_a_one_line_error_naming_its_key(text, message):
    with pytest.raises(ConfigError, match=message) as raised:
        parse_scenario(text, "s.toml")
    assert "\n" not in str(raised.value)


def test_the_default_scenario_steps_onto_the_side_rails_long_enough_to_raise_unattended_belt():
    scenario = load_scenario("default")
    notes = [step.note for step in scenario.steps]
    off = next(step for step in scenario.steps if step.off_belt and step.speed_kmh > 0)
    index = scenario.steps.index(off)
    assert "side rails" in off.note and "speed jump" in notes[index - 1]
    assert not scenario.steps[index + 1].off_belt and scenario.steps[index + 1].speed_kmh >= 6
    assert scenario.steps[index + 2].speed_kmh == 0  # abrupt_stop still follows
    # The walker through the whole loop: the only time the belt runs with nobody stepping on it
    # for longer than the cadence's 3 s is the side-rails moment, long enough for the cadence to
    # read 0 (3 s) and then for unattended_belt's 20 s, with time to spare.
    clock = FakeClock()
    world = World(scenario, clock, noise=False)
    quiet_from, quiet_stretches = clock(), []
    while world.state_at().scenario_t < scenario.duration_s:
        clock.advance(0.05)
        state = world.state_at()
        if world.footstrikes_between(clock() - 0.05, clock()) or state.speed_mps < 0.5 / 3.6:
            if clock() - quiet_from > 3.0:
                quiet_stretches.append((clock() - quiet_from, state.step.note))
            quiet_from = clock()
    (quiet_s, ended_by), = quiet_stretches
    assert quiet_s >= 3 + 20 + 5 and ended_by == "back on the belt"
