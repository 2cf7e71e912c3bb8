"""Adafruit's CircuitPython ADXL34x driver as an oracle for the ADXL345 model: written to
Analog Devices' data sheet by other people, it must read back the accelerations the
simulation sets, through the same I2C messages it would send to a chip on a Pi.

Its `range` setter always sets FULL_RES, so every range reads at 3.9 mg/LSB; it converts
with 4 mg/LSB (`_ADXL345_MG2G_MULTIPLIER`), so its readings run 2.56 % high by design: the
tests hold it to its own arithmetic exactly and to the truth within that.

Not run: `enable_motion_detection`, `enable_freefall_detection`, `enable_tap_detection` and
`events`: the model does not implement the activity, free-fall and tap detectors, so their
INT_SOURCE bits never set and those features would test nothing.
"""

import itertools

import adafruit_adxl34x
import pytest

from pi_service.sim.adxl345_model import ADXL345Model
from pi_service.sim.i2c_bus import SimI2CBus
from pi_service.units import STANDARD_GRAVITY as G
from tests.busio_adapter import BusioI2C
from tests.conftest import FakeClock

CHIP_LSB_G = 0.0039  # full resolution, data sheet Table 1
ADAFRUIT_LSB_G = 0.004
RANGES_G = {adafruit_adxl34x.Range.RANGE_2_G: 2, adafruit_adxl34x.Range.RANGE_4_G: 4,
            adafruit_adxl34x.Range.RANGE_8_G: 8, adafruit_adxl34x.Range.RANGE_16_G: 16}
RATES_HZ = {adafruit_adxl34x.DataRate.RATE_25_HZ: 25, adafruit_adxl34x.DataRate.RATE_100_HZ: 100,
            adafruit_adxl34x.DataRate.RATE_400_HZ: 400, adafruit_adxl34x.DataRate.RATE_800_HZ: 800,
            adafruit_adxl34x.DataRate.RATE_3200_HZ: 3200}
FRACTIONS = (0.05, 0.45, 0.9)  # of the range, each sign, each axis


def make_sensor():
    clock = FakeClock()
    state = {"a": (0.0, 0.0, G)}
    model = ADXL345Model(lambda t: state["a"], clock)
    bus = SimI2CBus(1, clock, clock.sleep)
    bus.attach(0x53, model)
    return adafruit_adxl34x.ADXL345(BusioI2C(bus)), state, clock


def expected_counts(a_mps2, span_g, rate_hz):
    bits = {2: 10, 4: 11, 8: 12, 16: 13}[span_g]
    counts = max(-(1 << (bits - 1)), min((1 << (bits - 1)) - 1, round(a_mps2 / G / CHIP_LSB_G)))
    return counts & ~1 if rate_hz >= 1600 else counts  # Rev. G, "Data formatting of upper data rates"


def test_adafruit_reads_back_every_range_rate_axis_and_sign():
    sensor, state, clock = make_sensor()
    readings, worst = 0, 0.0
    for (range_code, span_g), (rate_code, rate_hz) in itertools.product(RANGES_G.items(), RATES_HZ.items()):
        sensor.range = range_code
        sensor.data_rate = rate_code
        assert (sensor.range, sensor.data_rate) == (range_code, rate_code)
        for axis, fraction, sign in itertools.product(range(3), FRACTIONS, (1, -1)):
            a = [0.0, 0.0, 0.0]
            a[axis] = sign * fraction * span_g * G
            state["a"] = tuple(a)
            clock.advance(2 / rate_hz)  # a new sample, taken after the change
            read = sensor.acceleration
            readings += 1
            for i in range(3):
                assert read[i] == pytest.approx(expected_counts(a[i], span_g, rate_hz) * ADAFRUIT_LSB_G * G, abs=1e-9)
                error = abs(read[i] - a[i])
                # 2.56 % of scale error, one step of rounding (two at 1600 Hz and above)
                assert error <= (ADAFRUIT_LSB_G / CHIP_LSB_G - 1) * abs(a[i]) + 2 * ADAFRUIT_LSB_G * G
                worst = max(worst, error / (span_g * G))
    assert readings == len(RANGES_G) * len(RATES_HZ) * 3 * len(FRACTIONS) * 2
    print(f"{readings} readings, worst error {100 * worst:.3f} % of full scale")


def test_adafruit_clipped_at_the_range_does_not_roll_over():
    sensor, state, clock = make_sensor()
    sensor.range = adafruit_adxl34x.Range.RANGE_2_G
    state["a"] = (5 * G, -5 * G, 0.0)
    clock.advance(0.05)
    x, y, _ = sensor.acceleration
    assert x == pytest.approx(511 * ADAFRUIT_LSB_G * G)
    assert y == pytest.approx(-512 * ADAFRUIT_LSB_G * G)


def test_adafruit_offsets_round_trip_and_move_the_output_by_15_6_mg_per_lsb():
    sensor, state, clock = make_sensor()
    sensor.range = adafruit_adxl34x.Range.RANGE_16_G
    state["a"] = (0.0, 0.0, G)
    clock.advance(0.05)
    before = sensor.acceleration
    sensor.offset = (10, -20, 5)
    assert sensor.offset == (10, -20, 5)
    clock.advance(0.05)
    after = sensor.acceleration
    for axis, ofs in enumerate((10, -20, 5)):
        shift_counts = round((after[axis] - before[axis]) / (ADAFRUIT_LSB_G * G))
        assert shift_counts == pytest.approx(ofs * 4, abs=1)  # 15.6 mg is four 3.9 mg steps
