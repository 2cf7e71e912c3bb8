import math

import pytest

from pi_service.drivers.adxl345 import ADXL345, grade_pct, output_rate_hz, pitch_deg
from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import WiringError
from pi_service.sim.adxl345_model import ADXL345Model, gravity_on_deck
from pi_service.sim.i2c_bus import SimI2CBus
from tests.conftest import FakeClock

FIRST_SAMPLE_S = 0.02  # turn-on (1.1 ms) and one period at 100 Hz, with room


def make_chip(pitch_deg_: float = 0.0, axis: str = "x", devid: int = 0xE5):
    state = {"pitch": pitch_deg_}
    clock = FakeClock()
    model = ADXL345Model(lambda t: gravity_on_deck(state["pitch"], axis), clock, devid=devid)
    bus = SimI2CBus(1, clock, clock.sleep)
    bus.attach(0x53, model)
    return ADXL345(I2CDevice(bus, 0x53, "ADXL345")), model, clock


def grade_to_pitch(grade: float) -> float:
    return math.degrees(math.atan(grade / 100))


@pytest.mark.parametrize("grade", [0.0, 2.0, 5.0, 10.0, 15.0, -3.0])
def test_tilt_reads_as_percent_grade(grade):
    chip, _, clock = make_chip(grade_to_pitch(grade))
    chip.start(200)
    clock.advance(FIRST_SAMPLE_S)
    # One LSB is 3.9 mg, about 0.39 % grade: a single reading is within half of it.
    assert grade_pct(pitch_deg(chip.read_acceleration())) == pytest.approx(grade, abs=0.2)


@pytest.mark.parametrize("axis", ["-x", "y", "-y"])
def test_mounting_axis_from_config(axis):
    chip, _, clock = make_chip(grade_to_pitch(8.0), axis)
    chip.start(100)
    clock.advance(FIRST_SAMPLE_S)
    assert grade_pct(pitch_deg(chip.read_acceleration(), axis)) == pytest.approx(8.0, abs=0.2)


def test_zero_and_span_calibration():
    mount_error = 1.5  # degrees the sensor sits nose-up on a flat deck
    assert grade_pct(mount_error, zero_deg=mount_error) == 0.0
    assert grade_pct(grade_to_pitch(10) + mount_error, zero_deg=mount_error, span=1.02) == pytest.approx(10.2)


def test_start_configures_full_resolution_rate_and_measure():
    chip, model, _ = make_chip()
    chip.start(200)
    assert model.registers[0x2C] == 0x0B  # 200 Hz
    assert model.registers[0x31] == 0b1011  # FULL_RES, +-16 g
    assert model.registers[0x2D] == 0b1000  # Measure


def test_reads_zero_until_measure_is_set():
    chip, _, clock = make_chip()
    clock.advance(FIRST_SAMPLE_S)
    assert chip.read_acceleration() == (0.0, 0.0, 0.0)


def test_wrong_chip_id_fails_with_a_wiring_hint():
    chip, _, _ = make_chip(devid=0x68)
    with pytest.raises(WiringError, match=r"device ID 0x68, not the ADXL345's 0xE5: check that SDA/SCL"):
        chip.start()


def test_output_rate_is_at_least_twice_the_loop_rate():
    assert output_rate_hz(100) == 200
    assert output_rate_hz(200) == 400
    assert output_rate_hz(10) == 25
