"""The accelerometer's FIFO stream for footstrikes (spec 7.2): both drivers against the strict chip
models on a fake clock, the FIFO's clock, and the sensor hub draining the FIFO into the incline
and the footstrike detector.

The chips feel accelerations written here (gravity on a tilted deck, a ramp that numbers the
samples, jolts at a cadence), not the virtual treadmill's walker, so these tests stand apart
from the world's model of a walker.
"""

import logging
import math
import random
import time

import pytest

from pi_service.config import Config
from pi_service.drivers.accelerometer import FOOTSTRIKE_RATE_HZ, footstrike_stream
from pi_service.drivers.adxl345 import ADXL345, SCALE_G_PER_LSB
from pi_service.drivers.fifo import FifoRead, FifoStream
from pi_service.drivers.i2c import I2CDevice
from pi_service.drivers.mpu6050 import FIFO_FRAMES_MAX, MPU6050
from pi_service.errors import HardwareError
from pi_service.sampling.fifo_clock import FifoClock
from pi_service.sampling.sensors import FIFO_EMPTY_FAULT_S, FifoFeed, Sensors
from pi_service.sim.adxl345_model import ADXL345Model, gravity_on_deck
from pi_service.sim.i2c_bus import SimI2CBus
from pi_service.sim.mpu6050_model import MPU6050Model
from pi_service.sim.register_file import RegisterFile
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from pi_service.units import STANDARD_GRAVITY as G
from tests.conftest import FakeClock, make_config
from tests.test_sensors import STEADY

PERIOD = 0.01  # the default loop: 100 Hz
CHIPS = ["adxl345", "mpu6050"]
ADDRESS = {"adxl345": 0x53, "mpu6050": 0x68}


def grade_pitch_deg(grade_pct: float) -> float:
    return math.degrees(math.atan(grade_pct / 100))


class Rig:
    """A driver on a chip model on a virtual bus, on a fake clock that the transfers move."""

    def __init__(self, chip: str, acceleration, rate_error: float = 0.0, bus_hz: float = 100_000):
        self.chip = chip
        self.clock = FakeClock()
        self.t0 = self.clock()
        if chip == "adxl345":
            self.model = ADXL345Model(lambda t: acceleration(t - self.t0), self.clock, rate_error=rate_error)
            driver = ADXL345
        else:
            self.model = MPU6050Model(lambda t: acceleration(t - self.t0), self.clock, clock_error=rate_error)
            driver = MPU6050
        self.bus = SimI2CBus(1, self.clock, self.clock.sleep, bus_hz=bus_hz)
        self.bus.attach(ADDRESS[chip], self.model)
        self.driver = driver(I2CDevice(self.bus, ADDRESS[chip], chip))

    def start(self) -> None:
        self.driver.start(FOOTSTRIKE_RATE_HZ)
        self.driver.start_fifo()

    def taken(self) -> int:
        """Samples the chip has taken since power-on."""
        return self.model.samples_taken if self.chip == "adxl345" else self.model.samples

    def in_fifo(self) -> int:
        return self.model.entries if self.chip == "adxl345" else len(self.model.fifo) // 6


def loop_lateness(rng: random.Random) -> float:
    """How late a tick of the real-time loop wakes: mostly a tenth of a millisecond, now and then
    a few (docs/sampling-loop.md: p99 under 1 ms, the worst 60 s run 5 ms)."""
    if rng.random() < 0.001:
        return rng.uniform(0.002, 0.005)
    return min(rng.expovariate(1 / 1e-4), 0.001)


# The drivers' FIFO streams

RAMP_G_PER_S = 6.0  # x sweeps -15 g .. +15 g every 5 s: each sample reads more than the last
RAMP_S = 5.0


def ramp(t: float) -> tuple[float, float, float]:
    return (-15 * G + (t % RAMP_S) * RAMP_G_PER_S * G, 0.0, G)


@pytest.mark.parametrize("chip", CHIPS)
def test_ten_minutes_of_100_hz_ticks_read_every_sample_of_the_400_hz_fifo_once_without_an_overrun(chip):
    rig = Rig(chip, ramp, rate_error=0.05)  # a fast chip: more samples per tick than nominal
    rig.start()
    before = rig.taken() - rig.in_fifo()  # samples taken before the stream began
    rng = random.Random(16)
    deadline = rig.clock()
    xs: list[float] = []
    overruns = watermarks = 0
    started = time.perf_counter()
    for _ in range(round(600 / PERIOD)):
        deadline += PERIOD
        rig.clock.t = max(rig.clock.t, deadline + loop_lateness(rng))  # the drain's transfers move the clock too
        read = rig.driver.read_fifo()
        overruns += read.overflowed
        watermarks += read.past_watermark
        xs += [x for x, _, _ in read.samples]
    wall_s = time.perf_counter() - started
    print(f"\n{chip}: 10 min of 100 Hz drains, {len(xs)} samples, in {wall_s:.1f} s")
    assert overruns == 0 and watermarks == 0
    assert len(xs) == rig.taken() - before - rig.in_fifo()  # every sample the chip took, read
    assert len(xs) / 600 == pytest.approx(rig.driver.fifo_stream(FOOTSTRIKE_RATE_HZ).data_rate_hz * 1.05, rel=1e-3)
    # ... each once, in order: the ramp rises by less than one sample interval's worth from one to
    # the next (the MPU-6050 repeats its 1 kHz accelerometer's samples: up to 2 ms), except where it wraps.
    step_max = RAMP_G_PER_S * G * (1.5 / (FOOTSTRIKE_RATE_HZ * 1.05) if chip == "adxl345" else 0.0025)
    steps = [b - a for a, b in zip(xs, xs[1:])]
    wraps = [step for step in steps if step < -20 * G]
    assert len(wraps) in (round(600 / RAMP_S) - 1, round(600 / RAMP_S))
    assert all(0 < step <= step_max for step in steps if step > -20 * G)


def test_the_adxl345_drain_reads_int_source_fifo_status_then_one_data_read_per_entry():
    rig = Rig("adxl345", ramp)
    rig.start()
    assert rig.model.registers[0x38] == 0b10_0_11000  # FIFO_CTL: stream mode, watermark 24 samples
    rig.clock.advance(0.01)
    reads = []
    transfer = rig.bus._transfer
    rig.bus._transfer = lambda address, messages: reads.append(messages) or transfer(address, messages)
    read = rig.driver.read_fifo()
    assert len(read.samples) == 4  # 10 ms at 400 Hz
    assert reads == [[b"\x30", 1], [b"\x39", 1]] + [[b"\x32", 6]] * 4
    assert rig.driver.fifo_reads(4) == (1, 1, 6, 6, 6, 6)


def test_the_fifo_stream_figures_of_both_chips():
    assert footstrike_stream("adxl345") == FifoStream(400, 33)  # 32 in the FIFO, 1 in the output stage
    assert footstrike_stream("mpu6050") == FifoStream(500.0, FIFO_FRAMES_MAX)  # the lowest Sample Rate >= 400 Hz
    assert FIFO_FRAMES_MAX == 170
    # A full FIFO lasts 75 ms (ADXL345) or 0.31 s (MPU-6050) on a 10 % fast oscillator; two
    # periods must fit, so the ADXL345's stream needs a loop of at least 27 Hz.
    assert footstrike_stream("adxl345").holds_s() == pytest.approx(0.075)
    assert math.ceil(footstrike_stream("adxl345").loop_rate_min_hz()) == 27
    assert footstrike_stream("mpu6050").loop_rate_min_hz() < 10


@pytest.mark.parametrize("chip, stall_s", [
    ("adxl345", 0.15),  # 60 samples due, 33 kept
    ("mpu6050", 0.5),  # 250 frames due, 170 fit: its FIFO outlasts 150 ms
])
def test_a_stalled_tick_is_an_overrun_then_reading_resumes(chip, stall_s):
    rig = Rig(chip, ramp)
    rig.start()
    for _ in range(10):
        rig.clock.advance(PERIOD)
        assert not rig.driver.read_fifo().overflowed
    rig.clock.advance(stall_s)
    late = rig.driver.read_fifo()
    assert late.overflowed and late.past_watermark
    if chip == "adxl345":
        # Stream mode kept the newest 33, in order; the overrun flag is cleared by reading them.
        xs = [x for x, _, _ in late.samples]
        assert len(xs) == 33 and xs == sorted(xs)
    else:
        assert late.samples == []  # the frames no longer start at a sample: dropped, the FIFO restarted
    rig.clock.advance(PERIOD)
    after = rig.driver.read_fifo()
    assert not after.overflowed and len(after.samples) >= 4


def test_the_mpu6050_is_past_its_watermark_at_three_quarters_of_its_fifo():
    rig = Rig("mpu6050", ramp)
    rig.start()
    rig.clock.advance(0.2)  # 100 frames, 600 of 1024 bytes
    assert not rig.driver.read_fifo().past_watermark
    rig.clock.advance(0.26)  # 130 frames, 780 bytes
    read = rig.driver.read_fifo()
    assert read.past_watermark and not read.overflowed


def test_start_bypasses_a_fifo_left_streaming_so_one_read_is_the_newest_sample():
    rig = Rig("adxl345", ramp)
    rig.start()
    rig.clock.advance(0.2)  # the FIFO is full of samples up to 82 ms old
    rig.driver.start(200)  # footstrikes off now (or `calibrate` alone after the daemon)
    assert rig.model.fifo_mode == 0
    rig.clock.advance(0.01)
    x, _, _ = rig.driver.read_acceleration()
    assert x == pytest.approx(ramp(rig.model.sample_t - rig.t0)[0], abs=SCALE_G_PER_LSB * G)
    assert rig.clock() - rig.model.sample_t < 1 / 200


# The FIFO's clock

def drain_with_clock(chip: str, rate_error: float, seconds: float, count_after_s: float = 1e-3):
    """Drain a chip on 100 Hz ticks with the loop's lateness; returns [(tick t, [timestamps])]
    and the clock."""
    rig = Rig(chip, ramp, rate_error=rate_error)
    rig.start()
    fifo_clock = FifoClock(rig.driver.fifo_stream(FOOTSTRIKE_RATE_HZ).data_rate_hz, count_after_s)
    rng = random.Random(7)
    deadline = rig.clock()
    drains = []
    while rig.clock() - rig.t0 < seconds:
        deadline += PERIOD
        rig.clock.t = max(rig.clock.t, deadline + loop_lateness(rng))
        t = rig.clock()
        read = rig.driver.read_fifo()
        drains.append((t, fifo_clock.stamp(t, len(read.samples))))
    return drains, fifo_clock


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("rate_error", [-0.10, 0.10])
def test_the_fifo_clock_spaces_samples_within_half_a_percent_of_the_true_period_after_a_few_seconds(chip, rate_error):
    drains, fifo_clock = drain_with_clock(chip, rate_error, 12.0)
    true_hz = footstrike_stream(chip).data_rate_hz * (1 + rate_error)
    assert fifo_clock.rate_hz == pytest.approx(true_hz, rel=1e-3)
    stamps = [(t, stamp) for t, burst in drains for stamp in burst]
    assert all(b > a for (_, a), (_, b) in zip(stamps, stamps[1:]))  # strictly increasing, always
    settled = [stamp for t, stamp in stamps if t - drains[0][0] >= 4.0]
    spacing = [b - a for a, b in zip(settled, settled[1:])]
    assert max(abs(s * true_hz - 1) for s in spacing) < 0.005
    # The newest of each drain: at the tick, or taken while the drain read its count (1 ms here).
    for t, burst in drains:
        if burst and t - drains[0][0] >= 4.0:
            assert t - 1 / true_hz <= burst[-1] <= t + 1e-3 + 1e-4


def test_the_fifo_clock_trusts_the_nominal_rate_until_it_has_counted_long_enough():
    fifo_clock = FifoClock(400)
    assert fifo_clock.stamp(10.0, 4) == pytest.approx([10.0 - 3 / 400, 10.0 - 2 / 400, 10.0 - 1 / 400, 10.0])
    fifo_clock.stamp(10.01, 5)  # 500 Hz, but only 10 ms of it
    assert fifo_clock.rate_hz == 400
    for k in range(2, 60):
        fifo_clock.stamp(10.0 + k * 0.01, 4 + (k % 2))
    assert fifo_clock.rate_hz == pytest.approx(450, rel=0.02)


def test_the_fifo_clock_holds_a_count_far_from_nominal_at_its_bound():
    fifo_clock = FifoClock(400)
    for k in range(100):
        fifo_clock.stamp(k * 0.01, 1)  # a register file that always says one entry: 100 Hz
    assert fifo_clock.rate_hz == pytest.approx(400 * 0.85)


def test_after_a_gap_the_timeline_restarts_at_the_tick_and_never_goes_back():
    fifo_clock = FifoClock(400)
    for k in range(1, 300):
        fifo_clock.stamp(k * 0.01, 4)
    measured = fifo_clock.rate_hz
    last = fifo_clock.stamp(3.0, 4)[-1]
    fifo_clock.gap()
    burst = fifo_clock.stamp(3.01, 33)  # the 33 newest after an overrun: 82 ms of samples in 10 ms
    assert burst[0] > last and burst[-1] == pytest.approx(3.01)
    assert fifo_clock.rate_hz == measured  # the rate stands; the count starts again
    fifo_clock.restart()
    assert fifo_clock.rate_hz == 400


# The sensor hub with the FIFO

def walking(grade_pct: float, cadence_spm: float, jolt_g: float = 0.5, up: float = 1.0):
    """A deck at `grade_pct` and a walker's footstrikes: a 40 ms half-sine jolt each step, and
    between them the deck settling back (a small steady pull the other way: over a step the deck
    does not move, so its acceleration averages 0); `up` -1 for a chip mounted upside down (its
    z points into the deck)."""
    x, y, z = gravity_on_deck(grade_pitch_deg(grade_pct))
    interval = 60.0 / cadence_spm
    settling = jolt_g * G * (2 / math.pi) * 0.04 / interval  # the jolt's mean over a step

    def acceleration(t: float) -> tuple[float, float, float]:
        phase = t % interval
        jolt = jolt_g * G * math.sin(math.pi * phase / 0.04) if phase < 0.04 else 0.0
        return x, y, up * (z + jolt - settling)
    return acceleration


def fifo_hub(config: Config, acceleration, rate_error: float = 0.0):
    clock = FakeClock()
    treadmill = VirtualTreadmill(config, parse_scenario(STEADY, "s"), speedup=1, noise=False, clock=clock)
    treadmill.world.state_at(clock() + 60)
    clock.advance(60)
    chip = treadmill.accelerometer
    chip.acceleration = acceleration
    if isinstance(chip, ADXL345Model):
        chip.rate_error = rate_error
    else:
        chip.clock_error = rate_error
    return Sensors(config, treadmill.open_bus, treadmill.pin_factory), treadmill, clock


def ride(sensors, clock, seconds: float, period: float = PERIOD, rng: random.Random | None = None):
    """Ticks on the loop's grid for `seconds`; the transfers move the clock. Returns the samples."""
    rng = rng or random.Random(3)
    samples = []
    deadline = clock()
    for _ in range(round(seconds / period)):
        deadline += period
        clock.t = max(clock.t, deadline + loop_lateness(rng))
        samples.append(sensors.read(clock()))
    return samples


def chip_config(chip: str, extra: str = "") -> Config:
    return make_config(f'[incline]\nchip = "{chip}"\nsmoothing_s = 0.5\n' + extra)


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("rate_error", [-0.10, 0.10])
def test_the_hub_reads_cadence_and_footstrikes_from_the_fifo_with_the_incline_unchanged(chip, rate_error):
    sensors, treadmill, clock = fifo_hub(chip_config(chip), walking(8.0, 110.0), rate_error)
    updates = []  # every FIFO sample goes through the incline's low-pass, at its own time
    update = sensors._incline.update
    sensors._incline.update = lambda t, acceleration, incline: updates.append(t) or update(t, acceleration, incline)
    samples = ride(sensors, clock, 20.0)
    last = samples[-1]
    assert last.cadence_spm == pytest.approx(110.0, rel=0.02)
    assert last.footstrike_g == pytest.approx(0.5, abs=0.1)
    assert last.incline_pct is not None  # (how the jolts move it: test_the_fifo_incline_is_the_one_read_incline)
    assert sensors.faults() == []
    figures = sensors.footstrike_figures()
    true_hz = footstrike_stream(chip).data_rate_hz * (1 + rate_error)
    assert figures["measured_rate_hz"] == pytest.approx(true_hz, rel=2e-3)
    assert figures["overruns"] == 0 and figures["past_watermark"] == 0 and figures["off"] is None
    assert figures["footstrikes"] == pytest.approx(20 * 110 / 60, abs=3)
    assert figures["samples"] == pytest.approx(20 * true_hz, rel=0.01) and figures["samples"] == len(updates)
    assert all(b > a for a, b in zip(updates, updates[1:]))
    assert sensors.fresh_acceleration is not None


def test_a_chip_mounted_upside_down_reads_its_footstrikes_on_minus_z():
    config = chip_config("adxl345", '[footstrikes]\nvertical_axis = "-z"\n')
    sensors, _, clock = fifo_hub(config, walking(5.0, 150.0, up=-1.0))
    last = ride(sensors, clock, 15.0)[-1]
    assert last.cadence_spm == pytest.approx(150.0, rel=0.02) and last.incline_pct == pytest.approx(5.0, abs=0.2)
    wrong, _, clock = fifo_hub(chip_config("adxl345"), walking(5.0, 150.0, up=-1.0))
    assert ride(wrong, clock, 15.0)[-1].cadence_spm != pytest.approx(150.0, rel=0.02)  # the axis matters


def square_jolts(grade_pct: float, jolt_g: float = 2.5, cadence_spm: float = 100.0):
    """As tests/test_sensors.py's footstrikes, 20 ms at `jolt_g` above 1 g with no edges, and
    settling back between them."""
    x, y, z = gravity_on_deck(grade_pitch_deg(grade_pct))
    interval = 60.0 / cadence_spm
    settling = jolt_g * G * 0.02 / interval
    return lambda t: (x, y, z + jolt_g * G - settling) if t % interval < 0.02 else (x, y, z - settling)


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("deck", ["steady", "square jolts", "half-sine jolts"])
def test_the_fifo_incline_is_the_one_read_incline(chip, deck):
    """The incline with every FIFO sample through the low-pass comes out as with one reading per
    tick: a steady 8 % deck reads 8 %, and footstrikes' jolts (square and beyond 1.5 g, or
    half-sine) move both alike (how much is signals/incline.py's business)."""
    acceleration = {"steady": walking(8.0, 120.0, jolt_g=0.0), "square jolts": square_jolts(8.0),
                    "half-sine jolts": walking(8.0, 120.0, jolt_g=0.5)}[deck]
    inclines = {}
    for enabled in ("true", "false"):
        sensors, _, clock = fifo_hub(chip_config(chip, f"[footstrikes]\nenabled = {enabled}\n"), acceleration)
        inclines[enabled] = [s.incline_pct for s in ride(sensors, clock, 5.0)][-300:]
        assert sensors.faults() == []
    fifo, one_read = (sum(values) / len(values) for values in (inclines["true"], inclines["false"]))
    assert fifo == pytest.approx(one_read, abs=0.05)
    if deck == "steady":
        assert all(value == pytest.approx(8.0, abs=0.2) for value in inclines["true"])


@pytest.mark.parametrize("chip, stall_s", [("adxl345", 0.15), ("mpu6050", 0.5)])
def test_a_stalled_tick_is_counted_logged_and_told_to_the_detector_and_reading_resumes(chip, stall_s, caplog):
    sensors, _, clock = fifo_hub(chip_config(chip), walking(8.0, 110.0))
    ride(sensors, clock, 10.0)
    gaps = []
    detector_gap = sensors.fifo.detector.gap
    sensors.fifo.detector.gap = lambda t: gaps.append(t) or detector_gap(t)
    clock.advance(stall_s)
    with caplog.at_level(logging.WARNING, logger="pi_service.sampling.sensors"):
        stalled = sensors.read(clock())
    assert gaps == [stalled.t]
    assert sensors.footstrike_figures()["overruns"] == 1 and sensors.footstrike_figures()["past_watermark"] == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "FIFO overran" in warning.getMessage() and "samples were lost" in warning.getMessage()
    after = ride(sensors, clock, 10.0)
    assert sensors.footstrike_figures()["overruns"] == 1 and sensors.faults() == []
    assert after[-1].cadence_spm == pytest.approx(110.0, rel=0.02) and after[-1].incline_pct is not None


def test_overruns_are_logged_at_once_then_summed_up_once_a_minute(caplog):
    sensors, _, clock = fifo_hub(chip_config("adxl345"), walking(8.0, 110.0))
    ride(sensors, clock, 1.0)
    with caplog.at_level(logging.WARNING, logger="pi_service.sampling.sensors"):
        for _ in range(5):  # five overruns in a few seconds: one line now ...
            clock.advance(0.15)
            ride(sensors, clock, 0.5)
        assert len(caplog.records) == 1
        ride(sensors, clock, 60.0)  # ... and the other four within the minute, none untold
    assert len(caplog.records) == 2 and "overran 4 time(s)" in caplog.records[1].getMessage()
    assert sensors.footstrike_figures()["overruns"] == 5


def test_one_empty_drain_is_the_ticks_phase_but_half_a_second_empty_is_a_fault():
    feed = FifoFeed("adxl345", footstrike_stream("adxl345"), Config().footstrikes, 0.0)
    feed.restart(0.0)
    sample = (0.0, 0.0, G)
    assert len(feed.stamped(0.01, FifoRead([sample] * 4, False, False))) == 4
    assert feed.stamped(0.012, FifoRead([], False, False)) == []  # two ticks close together
    assert len(feed.stamped(0.02, FifoRead([sample] * 3, False, False))) == 3
    t = 0.02
    with pytest.raises(HardwareError, match="FIFO empty for 0.5 s"):
        while t < 0.02 + FIFO_EMPTY_FAULT_S + 0.05:
            t += PERIOD
            feed.stamped(t, FifoRead([], False, False))
    assert t - 0.02 == pytest.approx(FIFO_EMPTY_FAULT_S + PERIOD, abs=PERIOD)


def test_with_footstrikes_off_the_tick_is_the_one_read_as_before():
    config = chip_config("adxl345", "[footstrikes]\nenabled = false\n")
    sensors, treadmill, clock = fifo_hub(config, walking(8.0, 110.0))
    ride(sensors, clock, 0.1)
    reads = []
    transfer = treadmill.buses[1]._transfer
    treadmill.buses[1]._transfer = lambda address, messages: (
        reads.append(messages) if address == 0x53 else None) or transfer(address, messages)
    samples = ride(sensors, clock, 1.0)
    assert reads == [[b"\x32", 6]] * len(samples)  # DATAX0..DATAZ1, once a tick
    assert treadmill.accelerometer.fifo_mode == 0  # bypass
    assert treadmill.accelerometer.output_data_rate_hz == 200  # twice the loop rate, as before
    assert all(s.cadence_spm is None and s.footstrike_g is None for s in samples)
    assert sensors.footstrike_figures() is None and sensors.fifo is None


def test_a_loop_too_slow_for_the_adxl345s_fifo_turns_footstrikes_off_and_says_so(caplog):
    # The config refuses it (tests/test_bus_budget.py); one built past the validation (model_copy
    # does not validate) still cannot make the hub lose samples silently.
    config = chip_config("adxl345")
    config = config.model_copy(update={"sampling": config.sampling.model_copy(update={"rate_hz": 20.0})})
    with caplog.at_level(logging.WARNING, logger="pi_service.sampling.sensors"):
        sensors, treadmill, clock = fifo_hub(config, walking(8.0, 110.0, jolt_g=0.0))
    assert "below the 27 Hz the ADXL345's 33-sample FIFO needs" in caplog.text
    samples = ride(sensors, clock, 2.0, period=0.05)
    assert samples[-1].incline_pct == pytest.approx(8.0, abs=0.2) and samples[-1].cadence_spm is None
    assert treadmill.accelerometer.fifo_mode == 0
    figures = sensors.footstrike_figures()
    assert figures["off"].startswith("sampling.rate_hz 20 is below the 27 Hz") and figures["samples"] == 0
    # The MPU-6050's FIFO holds 0.31 s: it streams at the slowest loop the config allows.
    mpu, _, clock = fifo_hub(chip_config("mpu6050", "[sampling]\nrate_hz = 10\n"), walking(8.0, 110.0))
    assert ride(mpu, clock, 20.0, period=0.1)[-1].cadence_spm == pytest.approx(110.0, rel=0.02)
    assert mpu.footstrike_figures()["overruns"] == 0


def test_a_faulted_accelerometer_gives_no_cadence():
    sensors, treadmill, clock = fifo_hub(chip_config("adxl345"), walking(8.0, 110.0))
    assert ride(sensors, clock, 5.0)[-1].cadence_spm == pytest.approx(110.0, rel=0.02)
    treadmill.buses[1].inject(0x53, "nack", duration_s=0.3)
    clock.advance(PERIOD)
    sample = sensors.read(clock())
    assert sample.incline_pct is None and sample.cadence_spm is None and sample.footstrike_g is None
    assert ride(sensors, clock, 5.0)[-1].cadence_spm == pytest.approx(110.0, rel=0.02)  # set up again


class RegisterStub(RegisterFile):
    """Linux's i2c-stub, as Pi-in-a-box (tests/pibox/) runs the daemon against: 256 plain registers
    that read what was written; reading the data registers pops nothing."""

    def __init__(self, preset: dict[int, int]):
        super().__init__()
        self.registers = bytearray(256)
        for register, value in preset.items():
            self.registers[register] = value

    def read_register(self, register: int) -> int:
        return self.registers[register]

    def write_register(self, register: int, value: int) -> None:
        self.registers[register] = value


def test_the_daemon_reads_an_incline_from_i2c_stub_with_fifo_status_preloaded_as_pibox_does():
    # tests/pibox/guest_checks.py: DEVID, FIFO_STATUS 4 entries, DATAX0..DATAZ1 = (26, 0, 255) counts.
    data = b"".join(value.to_bytes(2, "little", signed=True) for value in (26, 0, 255))
    stub = RegisterStub({0x00: 0xE5, 0x39: 4, **{0x32 + i: byte for i, byte in enumerate(data)}})
    config = make_config("[incline]\nsmoothing_s = 0\n")
    clock = FakeClock()
    treadmill = VirtualTreadmill(config, parse_scenario(STEADY, "s"), speedup=1, noise=False, clock=clock)
    treadmill.buses[1].attach(0x53, stub)
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    samples = ride(sensors, clock, 2.0)
    assert samples[-1].incline_pct == pytest.approx(100 * 26 / 255, abs=0.01)
    assert sensors.faults() == [] and samples[-1].cadence_spm == 0.0
    assert sensors.footstrike_figures()["samples"] == 4 * len(samples)
